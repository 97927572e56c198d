/** Error codes of the config files (sector-manager.cfg, ext-prover.cfg). */

export const CONFIG_ERROR_CODES = [
  /** --conf-dir (or the home) does not exist. */
  "CONFIG_DIR_MISSING",
  /** sector-manager.cfg is an empty file. */
  "CONFIG_EMPTY",
  /** A config file that does not parse or fails validation; `fields.problems` lists every problem. */
  "CONFIG_INVALID",
  /** sector-manager.cfg does not exist. */
  "CONFIG_MISSING",
  /** A config file that cannot be read (permissions, a directory). */
  "CONFIG_UNREADABLE",
] as const;
export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[number];

declare module "../util/errors.js" {
  interface ErrorCodes extends Record<ConfigErrorCode, "config"> {}
}
