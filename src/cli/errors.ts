/** Error codes raised by CLI commands themselves. */

export const CLI_ERROR_CODES = [
  /** A command that needs the chain found no [Common.API] Chain in the config. */
  "CHAIN_NOT_CONFIGURED",
  /** The home is held by a daemon that has not written its API address yet. */
  "DAEMON_NOT_READY",
  /** No daemon (or devnet) is running for the home. */
  "DAEMON_NOT_RUNNING",
  /** `devnet seal` would overwrite a sector file. */
  "SECTOR_EXISTS",
  /** `util db migrate`: the database holds some sectors at other locations than the embedded index (without --force). */
  "MIGRATE_DIFFERS",
  /**
   * `util cluster ...`: the configured database has no cluster schema; no node has started on it yet
   * (or the DSN names another database than the nodes use). Read-only commands do not create it.
   */
  "CLUSTER_DB_EMPTY",
] as const;
export type CliErrorCode = (typeof CLI_ERROR_CODES)[number];

declare module "../util/errors.js" {
  interface ErrorCodes extends Record<CliErrorCode, "cli"> {}
}
