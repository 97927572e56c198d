/** Where the devnet commands find the devnet's home, and a client of the devnet running there. */
import type { Command } from "commander";
import { SmError } from "../../util/errors.js";
import { expandHome } from "../../util/paths.js";
import { globals } from "../context.js";
import { requireDaemon } from "../daemonClient.js";

/** Where every devnet command looks for the devnet's home, for help texts. */
export const DEVNET_HOME_HELP = "the devnet's home is --home (env VSM_DEVNET_PATH; default ~/.vsm-devnet)";

/**
 * The devnet's own home: the global --home when given, else VSM_DEVNET_PATH, else ~/.vsm-devnet.
 * `alias` is the value of `devnet seal --devnet-home`, the flag's old name, kept hidden for scripts:
 * it is the same setting, so giving both with different values is refused.
 */
export function devnetHome(cmd: Command, alias?: unknown): string {
  const global = globals(cmd).home;
  const old = typeof alias === "string" && alias !== "" ? alias : undefined;
  if (old !== undefined && global !== undefined && expandHome(old) !== expandHome(global))
    throw new SmError(
      "FLAG_INVALID",
      `--devnet-home ${JSON.stringify(old)} and --home ${JSON.stringify(global)} disagree; --devnet-home is the old name of --home for devnet commands: give only --home`,
    );
  return expandHome(old ?? global ?? process.env.VSM_DEVNET_PATH ?? "~/.vsm-devnet");
}

export const requireDevnet = (home: string) => requireDaemon(home, "devnet", `vsm --home ${home} devnet run`);
