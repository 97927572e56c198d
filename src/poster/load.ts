/**
 * Stage 1 of a deadline run: everything read before anything is checked or proven. Partitions,
 * miner info and challenge randomness come from the start tipset the tracker froze (a reorg above
 * the challenge epoch must not change what is proven); what is already proven on chain comes from
 * the head (a message that landed after that tipset still counts). Proofs finished before a restart
 * come from the proof store.
 */
import { Address } from "../chain/address.js";
import { BitField } from "../chain/bitfield.js";
import {
  type ChainPort,
  type DeadlineInfo,
  HEAD,
  type MinerInfo,
  type Partition,
  RANDOMNESS_TAG,
  type SectorOnChainInfo,
  type TipSetKey,
} from "../chain/interface.js";
import { cborAddressBytes } from "../chain/lotus/shapes.js";
import type { Logger } from "../log/logger.js";
import { apiPoStProofName, type ParsedPoStProofType, parseChainPoStProof } from "../proofs/proofTypes.js";
import { errorMessage } from "../util/errors.js";
import type { DeadlineKey, ProofStore, SavedProof } from "./proofStore.js";
import { isChainReadRetryable, retryTransient } from "./retry.js";

/** Retries one chain read (`what` names it in the log) until it succeeds or the run stops. */
export type ReadRetry = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

/** Tries of each chain read in a dry run (0.5 + 1 + 2 s of waits): a real deadline retries them until Close. */
const DRY_RUN_CHAIN_ATTEMPTS = 4;

/**
 * Chain reads are retried whatever the failure (retry.ts isChainReadRetryable): until the signal
 * stops the run, or a few times in a dry run where nothing is at stake.
 */
export function chainReadRetry(signal: AbortSignal, log: Logger, dryRun: boolean): ReadRetry {
  return (what, fn) =>
    retryTransient(
      what,
      fn,
      signal,
      log,
      isChainReadRetryable,
      dryRun ? DRY_RUN_CHAIN_ATTEMPTS : Number.POSITIVE_INFINITY,
    );
}

/** Where a deadline's chain reads go: one miner, one deadline, the frozen start tipset. */
export interface DeadlineReads {
  chain: Pick<
    ChainPort,
    | "stateMinerPartitions"
    | "stateMinerInfo"
    | "stateGetRandomnessFromBeacon"
    | "stateMinerDeadlines"
    | "stateMinerSectors"
  >;
  /** f0 address of the miner. */
  miner: string;
  di: DeadlineInfo;
  /** The start tipset. */
  tsk: TipSetKey;
  signal: AbortSignal;
  retry: ReadRetry;
  /** `proving compute`: what the chain already has is ignored (nothing counts as posted). */
  dryRun: boolean;
}

/** The deadline as the chain describes it at the start tipset, plus what it has already proven. */
export interface LoadedDeadline {
  partitions: readonly Partition[];
  info: MinerInfo;
  /** The miner's WindowPoSt proof type (sector shape, API version). */
  proofType: ParsedPoStProofType;
  /** API proof type name the prover is asked for (…V1_2 for the chain's V1_1). */
  apiProofType: string;
  /** The masked 32-byte challenge seed. */
  seed: Uint8Array;
  /** Partitions proven on chain at the head when the run began (empty in a dry run). */
  posted: BitField;
}

export function readPartitions(r: DeadlineReads): Promise<Partition[]> {
  return r.retry("reading partitions", () =>
    r.chain.stateMinerPartitions(r.miner, r.di.index, r.tsk, { signal: r.signal }),
  );
}

/**
 * The rest of the deadline once its partitions are known (read first by the runner: once they are,
 * what was due is known, whatever fails after).
 */
export async function loadDeadline(
  r: DeadlineReads,
  partitions: readonly Partition[],
): Promise<LoadedDeadline> {
  const { chain, miner, tsk, signal } = r;
  const info = await r.retry("reading miner info", () => chain.stateMinerInfo(miner, tsk, { signal }));
  const entropy = cborAddressBytes(Address.fromString(miner).toBytes());
  const seed = await r.retry("reading randomness", () =>
    chain.stateGetRandomnessFromBeacon(
      RANDOMNESS_TAG.WindowedPoStChallengeSeed,
      r.di.challenge,
      entropy,
      tsk,
      {
        signal,
      },
    ),
  );
  return {
    partitions,
    info,
    proofType: parseChainPoStProof(info.windowPoStProofType),
    apiProofType: apiPoStProofName(info.windowPoStProofType),
    seed: maskSeed(seed),
    posted: await readPosted(r),
  };
}

/**
 * The challenge seed as the proofs use it: its top two bits cleared so that it is a valid field
 * element (lotus and damocles mask the last byte with 0x3f the same way).
 */
export function maskSeed(seed: Uint8Array): Uint8Array {
  seed[31] = (seed[31] ?? 0) & 0x3f;
  return seed;
}

/** Partitions of this deadline proven on chain at the head now (none in a dry run). */
export async function readPosted(r: DeadlineReads): Promise<BitField> {
  if (r.dryRun) return BitField.empty();
  const deadlines = await r.retry("reading deadline state", () =>
    r.chain.stateMinerDeadlines(r.miner, HEAD, { signal: r.signal }),
  );
  return deadlines[r.di.index]?.postSubmissions ?? BitField.empty();
}

/** On-chain infos (comm_r, upgrade state) of the sectors still to prove, at the start tipset. */
export async function readSectorInfos(
  r: DeadlineReads,
  wanted: BitField,
): Promise<Map<number, SectorOnChainInfo>> {
  if (wanted.isEmpty()) return new Map();
  const infos = await r.retry("reading sectors", () =>
    r.chain.stateMinerSectors(r.miner, wanted, r.tsk, { signal: r.signal }),
  );
  return new Map(infos.map((s) => [s.sectorNumber, s]));
}

/**
 * Proofs of this deadline finished before a restart (same challenge checked later, plan.ts). Records
 * of deadlines that have closed are pruned first: the deadline before this one may still be open, so
 * only those opened before it go. A store that fails is logged and treated as empty: proving again
 * costs time, not the deadline.
 */
export async function loadStoredProofs(
  store: ProofStore | undefined,
  dl: DeadlineKey,
  pruneBefore: number,
  log: Logger,
): Promise<Map<number, SavedProof>> {
  if (!store) return new Map();
  await store
    .prune(dl.actor, pruneBefore)
    .catch((e) => log.warn("cannot prune stored proofs", { err: errorMessage(e) }));
  return store.load(dl).catch((e) => {
    log.warn("cannot read stored proofs; proving every partition", { err: errorMessage(e) });
    return new Map<number, SavedProof>();
  });
}
