import os from "node:os";
import path from "node:path";

/** Expand a leading `~` (as the seed's `--conf-dir="~/.venus-sector-manager"` needs) and make absolute. */
export function expandHome(p: string): string {
  let out = p.trim();
  if (out === "~") out = os.homedir();
  else if (out.startsWith("~/")) out = path.join(os.homedir(), out.slice(2));
  return path.resolve(out);
}
