/**
 * The chain port: what the PoSter and the miner need from a Lotus/Venus full node, in domain types.
 *
 * Implementations: the Lotus/Venus JSON-RPC client (`Filecoin.*` at /rpc/v1) and the embedded devnet.
 * Both speak Lotus's JSON encodings on the wire; this interface hides them. Addresses are strings in
 * f/t form, CIDs are strings, token amounts are bigint attoFIL, bitfields are BitField.
 *
 * Every call takes an optional AbortSignal. Errors are SmErrors with codes prefixed CHAIN_.
 */
import type { BitField } from "./bitfield.js";

/** Lotus TipSetKey: the CIDs of the tipset's blocks. The empty key means "the current head". */
export type TipSetKey = readonly string[];
export const HEAD: TipSetKey = [];

export interface TipSet {
  key: TipSetKey;
  height: number;
  /** Unix seconds of the tipset's blocks (Timestamp of the first block). */
  timestamp: number;
  /**
   * The parent tipset's key (every block of a tipset has the same Parents); absent when the source
   * did not say. Polling the head (client.ts) uses it to tell an extension from a reorg.
   */
  parents?: TipSetKey;
  /** The base fee its messages pay, in attoFIL (Blocks[0].ParentBaseFee), when the source said. */
  parentBaseFee?: bigint;
}

export type HeadChangeType = "current" | "apply" | "revert";

export interface HeadChange {
  type: HeadChangeType;
  tipset: TipSet;
}

/** go-state-types dline.Info: one deadline of a miner's proving period, relative to an epoch. */
export interface DeadlineInfo {
  currentEpoch: number;
  periodStart: number;
  /** 0..wPoStPeriodDeadlines-1 */
  index: number;
  /** First epoch a proof may be submitted. */
  open: number;
  /** First epoch a proof may no longer be submitted. */
  close: number;
  /** Epoch whose randomness challenges this deadline (open − lookback). */
  challenge: number;
  /** First epoch at which a fault or recovery declaration for this deadline is rejected. */
  faultCutoff: number;
  wPoStPeriodDeadlines: number;
  wPoStProvingPeriod: number;
  wPoStChallengeWindow: number;
  wPoStChallengeLookback: number;
  faultDeclarationCutoff: number;
}

export interface Partition {
  allSectors: BitField;
  faultySectors: BitField;
  recoveringSectors: BitField;
  liveSectors: BitField;
  activeSectors: BitField;
}

/** Lotus api.Deadline: what StateMinerDeadlines says of each deadline of the current proving period. */
export interface DeadlineState {
  /** Partitions already proven in this deadline's current window (the actor's PartitionsPoSted). */
  postSubmissions: BitField;
  disputableProofCount: number;
}

export interface SectorOnChainInfo {
  sectorNumber: number;
  /** RegisteredSealProof id. */
  sealProof: number;
  /** CID of comm_r (`bagboea4b5abc…`). */
  sealedCid: string;
  activation: number;
  expiration: number;
  /** Set for snap-upgraded sectors: their files live in update/ and update-cache/. */
  sectorKeyCid: string | null;
}

export interface MinerInfo {
  owner: string;
  worker: string;
  controlAddresses: string[];
  /** RegisteredPoStProof id of WindowPoSt. */
  windowPoStProofType: number;
  sectorSize: number;
  windowPoStPartitionSectors: number;
}

export interface Actor {
  code: string;
  nonce: number;
  /** attoFIL */
  balance: bigint;
}

/** An unsigned message to push; the node (or venus-messager) fills nonce and gas and signs. */
export interface OutgoingMessage {
  from: string;
  to: string;
  method: number;
  params: Uint8Array;
  /** attoFIL */
  value: bigint;
  /** attoFIL per gas unit; 0 = let the node estimate. */
  maxFeeCap: bigint;
  /**
   * [Miners.PoSt] GasOverEstimation: gas limit = estimated gas used × this. 0 or absent = the
   * node's (or messager's) own setting.
   */
  gasOverEstimation?: number;
  /** [Miners.PoSt] GasOverPremium: gas premium = estimated premium × this. 0 or absent = as estimated. */
  gasOverPremium?: number;
}

export interface PushedMessage {
  /**
   * What to wait for: the signed message's CID as the node reports it (MpoolPushMessage), or the
   * message id when a venus-messager is configured (it signs and may replace the message later).
   */
  cid: string;
}

export interface MessageReceipt {
  exitCode: number;
  return: Uint8Array;
  gasUsed: number;
  /** Height of the tipset that executed it. */
  height: number;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface PushOptions extends CallOptions {
  /**
   * Called synchronously at the last moment before the message leaves for the chain node or the
   * messager, after any gas estimation; throwing stops the push. The cluster checks there, on the
   * local clock, that it still holds the lease of what it sends: a node resumed after a freeze
   * (SIGSTOP, a partition) must not send what another node has taken over.
   */
  beforeSend?: () => void;
  /**
   * An idempotency key: a venus-messager given the same id twice keeps one message
   * (PushMessageWithId), so two nodes sending the same group send one message. Ignored by
   * MpoolPushMessage, which has no such key.
   */
  id?: string;
}

export interface ChainPort {
  /** Network name ("mainnet", "calibrationnet", "vsm-devnet", ...); decides whether vanilla proofs may be sent. */
  networkName(opts?: CallOptions): Promise<string>;
  chainHead(opts?: CallOptions): Promise<TipSet>;
  /**
   * Head changes. The first batch is a single "current" entry with the head. Ends when the signal
   * aborts; a dropped connection is resubscribed with backoff (a fresh "current" batch follows).
   */
  chainNotify(opts?: CallOptions): AsyncIterable<HeadChange[]>;
  stateNetworkVersion(tsk: TipSetKey, opts?: CallOptions): Promise<number>;
  stateMinerInfo(miner: string, tsk: TipSetKey, opts?: CallOptions): Promise<MinerInfo>;
  stateMinerProvingDeadline(miner: string, tsk: TipSetKey, opts?: CallOptions): Promise<DeadlineInfo>;
  stateMinerPartitions(
    miner: string,
    deadline: number,
    tsk: TipSetKey,
    opts?: CallOptions,
  ): Promise<Partition[]>;
  /** Every deadline of the miner, in index order; PostSubmissions tells which partitions are proven. */
  stateMinerDeadlines(miner: string, tsk: TipSetKey, opts?: CallOptions): Promise<DeadlineState[]>;
  /** On-chain infos of the sectors in `sectors` (all of the miner's when null). */
  stateMinerSectors(
    miner: string,
    sectors: BitField | null,
    tsk: TipSetKey,
    opts?: CallOptions,
  ): Promise<SectorOnChainInfo[]>;
  stateSectorGetInfo(
    miner: string,
    sector: number,
    tsk: TipSetKey,
    opts?: CallOptions,
  ): Promise<SectorOnChainInfo | null>;
  /**
   * Drand-derived randomness. WindowPoSt challenge: tag WindowedPoStChallengeSeed, epoch = the deadline's
   * challenge epoch, entropy = the CBOR encoding of the miner's address (lotus `addr.MarshalCBOR`).
   */
  stateGetRandomnessFromBeacon(
    tag: number,
    epoch: number,
    entropy: Uint8Array,
    tsk: TipSetKey,
    opts?: CallOptions,
  ): Promise<Uint8Array>;
  /** Ticket-derived randomness (PoSt chain commit: tag PoStChainCommit). */
  stateGetRandomnessFromTickets(
    tag: number,
    epoch: number,
    entropy: Uint8Array,
    tsk: TipSetKey,
    opts?: CallOptions,
  ): Promise<Uint8Array>;
  stateGetActor(address: string, tsk: TipSetKey, opts?: CallOptions): Promise<Actor>;
  /** The ID address (f0…) of any address. */
  stateLookupID(address: string, tsk: TipSetKey, opts?: CallOptions): Promise<string>;
  pushMessage(msg: OutgoingMessage, opts?: PushOptions): Promise<PushedMessage>;
  /** Wait until the message is executed with `confidence` epochs on top. */
  waitMessage(cid: string, confidence: number, opts?: CallOptions): Promise<MessageReceipt>;
}

/**
 * Domain separation tags (go-state-types crypto.DomainSeparationTag: `1 + iota` in this order; the
 * same list appears in lotus' sources, e.g. storage/wdpost and itests).
 */
export const RANDOMNESS_TAG = {
  TicketProduction: 1,
  ElectionProofProduction: 2,
  WinningPoStChallengeSeed: 3,
  WindowedPoStChallengeSeed: 4,
  SealRandomness: 5,
  InteractiveSealChallengeSeed: 6,
  WindowedPoStDeadlineAssignment: 7,
  MarketDealCronSeed: 8,
  PoStChainCommit: 9,
  EvmPrevRandao: 10,
} as const;
