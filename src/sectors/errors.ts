/** Error codes of the sector index: the local and proxy indexers, persist stores, attach. */

export const SECTORS_ERROR_CODES = [
  /** A write (attach, index) reached a proxy node, whose index is the source node's. */
  "SECTORS_READ_ONLY",
  /** The proxy's source node does not answer or is stopping: may pass, so retried. */
  "SECTORS_SOURCE_UNAVAILABLE",
  /** A record to index that cannot be stored (an empty instance name). */
  "SECTORS_INVALID_RECORD",
  /** A sector indexed in a storage instance this node's config does not list. */
  "SECTORS_INSTANCE_UNKNOWN",
  /** The source node answered a lookup with an error of its own. */
  "SECTORS_SOURCE_ERROR",
  /** The source node refuses the proxy's token. */
  "SECTORS_SOURCE_REFUSED",
  /** Something answers at --proxy, but not as a sector-manager node would. */
  "SECTORS_BAD_RESPONSE",
  /** Attaching a directory would move sectors already indexed in another instance. */
  "ATTACH_WOULD_MOVE",
  /** The path given to `storage attach` is not a usable directory. */
  "ATTACH_BAD_PATH",
] as const;
export type SectorsErrorCode = (typeof SECTORS_ERROR_CODES)[number];

declare module "../util/errors.js" {
  interface ErrorCodes extends Record<SectorsErrorCode, "sectors"> {}
}
