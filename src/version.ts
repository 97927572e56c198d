import fs from "node:fs";

/** Package version, read once from package.json (one level above both src/ and dist/). */
export const VERSION: string = (() => {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
})();

/** API version of `/rpc/v0` (bumped on incompatible changes). */
export const API_VERSION = "0.1.0";
