/** Error codes of WinningPoSt (--miner): the answers of Venus.ComputeProof and of gateway proof events. */

export const MINER_ERROR_CODES = [
  /** ComputeProof for a miner with no [[Miners]] block. */
  "MINER_UNKNOWN",
  /** ComputeProof for a miner whose [Miners.Proof] Enabled is false. */
  "MINER_PROOF_DISABLED",
  /** A challenged sector that is in no sector index. */
  "WINNING_POST_SECTOR_NOT_FOUND",
  /** A challenged sector whose files cannot be proven. */
  "WINNING_POST_SECTOR_UNPROVABLE",
  /** The prover (built-in or [[WinPost]]) failed. */
  "WINNING_POST_PROVER_FAILED",
  /** A sophon-gateway proof event this node cannot act on: unknown method, malformed payload. */
  "GATEWAY_EVENT_INVALID",
] as const;
export type MinerErrorCode = (typeof MINER_ERROR_CODES)[number];

declare module "../util/errors.js" {
  interface ErrorCodes extends Record<MinerErrorCode, "miner"> {}
}
