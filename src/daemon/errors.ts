/** Error codes of the daemon: its home, its flags, the demo. */

export const DAEMON_ERROR_CODES = [
  /** A home file (secret, token) with content this program did not write. */
  "HOME_CORRUPT",
  /** The home is held by another running process. */
  "HOME_LOCKED",
  /** The home has not been set up by `daemon init`. */
  "HOME_NOT_INITIALIZED",
  /** A home file that cannot be read. */
  "HOME_UNREADABLE",
  /** The home (or a file in it) cannot be created or written. */
  "HOME_UNWRITABLE",
  /** A command-line flag with a value that cannot be used. */
  "FLAG_INVALID",
  /** A step of `vsm demo` failed. */
  "DEMO_FAILED",
  /** `vsm demo --cluster` found no PostgreSQL server binaries (initdb, pg_ctl) to run its database. */
  "DEMO_PG_MISSING",
] as const;
export type DaemonErrorCode = (typeof DAEMON_ERROR_CODES)[number];

declare module "../util/errors.js" {
  interface ErrorCodes extends Record<DaemonErrorCode, "daemon"> {}
}
