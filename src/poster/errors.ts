/** Error codes of the WindowPoSt PoSter: planning, messages, the proving API. */

export const POSTER_ERROR_CODES = [
  /** A message size limit (partitions per message) that is not a positive integer. */
  "POSTER_BAD_BATCH_SIZE",
  /** Recovery planning given inconsistent input. */
  "POSTER_BAD_RECOVERY_INPUT",
  /** Message grouping given inconsistent input. */
  "POSTER_BAD_SUBMIT_INPUT",
  /** The same partition twice in one deadline's proofs. */
  "POSTER_DUPLICATE_PARTITION",
  /** A bug on our side (a state the runner should never reach); never retried. */
  "POSTER_INTERNAL",
  /** A partition proving job read back (from a store or another node) that is not a valid PartitionJob. */
  "POSTER_BAD_JOB",
  /** `proving` asked about a miner with no [[Miners]] block. */
  "POSTER_MINER_NOT_CONFIGURED",
  /** A sector to prove without its vanilla proof. */
  "POSTER_MISSING_SECTOR_PROOF",
  /** `proving compute` for a deadline whose challenge epoch is still ahead. */
  "POSTER_NOT_CHALLENGED_YET",
  /** A PoSt command with no chain node configured. */
  "POSTER_NO_CHAIN",
  /** None of [Miners.PoSt] Senders may send for the miner. */
  "POSTER_NO_SENDER",
  /** A vanilla proof for a sector that was not to be proven. */
  "POSTER_UNEXPECTED_SECTOR_PROOF",
] as const;
export type PosterErrorCode = (typeof POSTER_ERROR_CODES)[number];

declare module "../util/errors.js" {
  interface ErrorCodes extends Record<PosterErrorCode, "poster"> {}
}
