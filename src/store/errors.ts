/** Error codes of the metadata store (LMDB) and its layout version. */

export const STORE_ERROR_CODES = [
  /** Store files or values that are damaged; the message says how to repair. */
  "STORE_CORRUPT",
  /** A write failed because the disk is full; nothing of the request was stored. */
  "STORE_DISK_FULL",
  /** The store directory cannot be opened or created. */
  "STORE_OPEN_FAILED",
  /** A read from the store failed. */
  "STORE_READ_FAILED",
  /** A write to the store failed for another reason than a full disk. */
  "STORE_WRITE_FAILED",
  /** The store's version marker cannot be read: not a store of this program. */
  "STORE_VERSION_INVALID",
  /** The store has a layout version newer than this build. */
  "STORE_VERSION_MISMATCH",
] as const;
export type StoreErrorCode = (typeof STORE_ERROR_CODES)[number];

declare module "../util/errors.js" {
  interface ErrorCodes extends Record<StoreErrorCode, "store"> {}
}
