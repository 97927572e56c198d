/**
 * Error codes of the PostgreSQL-compatible database the cluster shares (PostgreSQL, YugabyteDB,
 * CockroachDB). A database newer than this build is STORE_VERSION_MISMATCH, as for the embedded store.
 */

export const PG_ERROR_CODES = [
  /**
   * The database cannot be reached or dropped the connection: refused, reset, timed out, shutting down,
   * too many connections, or the host reached is a read-only standby (a failover in progress). May pass
   * by itself; the client reconnects on the next call.
   */
  "STORE_DB_UNREACHABLE",
  /** A transaction kept failing on serialization conflicts or deadlocks (SQLSTATE 40001, 40P01) past its retries. */
  "STORE_DB_CONFLICT",
  /** Any other error the database answered (the SQLSTATE is in `fields.sqlstate`). */
  "STORE_DB_ERROR",
  /** The DSN cannot be used (not a postgres:// URL, an option the client does not support). */
  "STORE_DB_DSN_INVALID",
] as const;
export type PgErrorCode = (typeof PG_ERROR_CODES)[number];

declare module "../../util/errors.js" {
  interface ErrorCodes extends Record<PgErrorCode, "store"> {}
}
