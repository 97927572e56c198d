/** The embedded devnet's miner-actor state machine (pure; no server, no I/O except proof verification). */

export { decodeVanillaBundle, encodeVanillaBundle, MAX_BUNDLE_BYTES } from "../proofs/vanillaBundle.js";
export { assignDeadlines, fillPartitions } from "./assignment.js";
export type { DeadlineRecord, DevnetDeadline, DevnetMiner, DevnetPartition, DevnetSector } from "./miner.js";
export {
  currentDeadlineIndex,
  currentProvingPeriodStart,
  type DevnetPolicy,
  deadlineInfo,
  MAINNET_POLICY,
  nextNotElapsed,
  provingDeadlineAt,
  provingPeriod,
  validatePolicy,
} from "./policy.js";
export { defaultVerify, type VerifyFn } from "./post.js";
export { beaconRandomness, minerEntropy, ticketRandomness } from "./randomness.js";
export { type ChainStateJSON, SNAPSHOT_VERSION, stateFromJSON, stateToJSON } from "./snapshot.js";
export {
  ChainState,
  type DeclareResult,
  type NewMinerParams,
  type OnboardSector,
  type SectorLocation,
  type SubmitResult,
} from "./state.js";
