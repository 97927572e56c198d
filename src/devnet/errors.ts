/** Error codes of the embedded devnet chain. */

export const DEVNET_ERROR_CODES = [
  /** A devnet call or state change with an argument out of range. */
  "DEVNET_BAD_INPUT",
  /** A devnet policy (deadline timing, sizes) that is inconsistent. */
  "DEVNET_BAD_POLICY",
  /** A devnet snapshot file that cannot be decoded. */
  "DEVNET_BAD_SNAPSHOT",
  /** Randomness asked for an epoch after the head. */
  "DEVNET_FUTURE_EPOCH",
  /** An actor that is not a miner of this devnet. */
  "DEVNET_UNKNOWN_ACTOR",
  /** A message CID this devnet has not seen. */
  "DEVNET_UNKNOWN_MESSAGE",
  /** A miner address that is not valid or not on this devnet. */
  "DEVNET_UNKNOWN_MINER",
  /** A tipset key outside the devnet's lookback. */
  "DEVNET_UNKNOWN_TIPSET",
  /** A devnet home file that cannot be read. */
  "DEVNET_UNREADABLE",
] as const;
export type DevnetErrorCode = (typeof DEVNET_ERROR_CODES)[number];

declare module "../util/errors.js" {
  interface ErrorCodes extends Record<DevnetErrorCode, "devnet"> {}
}
