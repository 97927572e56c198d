/**
 * One deadline of one miner, proven and submitted (what damocles' runner and Curio's compute +
 * submit tasks do), on the start tipset the tracker froze:
 *
 *   partitions and sectors at the start tipset → per partition, in index order: its sectors checked
 *   (strict per StrictCheck), its plan (skipped = bad sectors), and its proof started at once while
 *   the next partition is checked → each partition proven on its own (no batch barrier), earliest
 *   Close first across miners through the prover's priority → sectors the prover reports as faults are
 *   added to Skipped and the partition is proven again → finished partitions grouped into messages of
 *   min(3, MaxPartitionsPerPoStMessage) → each message sent once submission is allowed.
 *
 * The signal aborts everything when the deadline closes or a reorg reverts below its challenge epoch.
 */

import { performance } from "node:perf_hooks";
import { Address } from "../chain/address.js";
import { BitField } from "../chain/bitfield.js";
import {
  type ChainPort,
  type DeadlineInfo,
  HEAD,
  type Partition,
  RANDOMNESS_TAG,
  type SectorOnChainInfo,
  type TipSetKey,
} from "../chain/interface.js";
import { cborAddressBytes } from "../chain/lotus/shapes.js";
import type { MinerConfig, SectorManagerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/metrics.js";
import { cidToCommitment } from "../proofs/commCid.js";
import { apiPoStProofName, parseChainPoStProof } from "../proofs/proofTypes.js";
import type { SectorShape } from "../proofs/sectorShapes.js";
import type { PoStOutput, PoStTask } from "../prover/protocol.js";
import { type CheckOutcome, type CheckTarget, checkSectors, type StrictProbe } from "../sectors/check.js";
import type { SectorIndexer } from "../sectors/interface.js";
import type { PersistStores } from "../sectors/stores.js";
import { errorMessage, SmError } from "../util/errors.js";
import {
  MessageGrouper,
  type PartitionPlan,
  type ProofFormat,
  type ProvenPartition,
  planPartition,
  postPartitionsPerMessage,
} from "./batch.js";
import { type ProofStore, reusable, type SavedProof } from "./proofStore.js";
import { isChainReadRetryable, isRetryableProverFailure, retryTransient } from "./retry.js";
import { Submitter } from "./submit.js";

/** Runs one prover task; `priority` is the deadline's Close epoch (earliest first). */
export type ProveFn = (
  task: PoStTask,
  opts: { priority: number; signal: AbortSignal },
) => Promise<PoStOutput>;

export interface RunnerDeps {
  chain: ChainPort;
  indexer: SectorIndexer;
  stores: PersistStores;
  proving: SectorManagerConfig["Common"]["Proving"];
  prove: ProveFn;
  strictProbe?: StrictProbe;
  format: ProofFormat;
  /** Partitions per message the network allows (3 since nv21; the devnet's policy may say less). */
  networkMaxPartitions: number;
  /** Where finished partition proofs are kept until Close (absent: nothing survives a restart). */
  proofs?: ProofStore;
  /** Prometheus metrics of the node (the Poster records each finished deadline run). */
  metrics?: Metrics;
  logger: Logger;
}

/** What became of one partition in a run. */
export interface PartitionOutcome {
  index: number;
  /**
   * proved now; reused from the proof store; already proven on chain (nothing to do); nothing
   * provable; failed (its check or its prover failed in a way not worth retrying, or, in a dry run,
   * a few times in a row).
   */
  source: "proved" | "stored" | "on-chain" | "none" | "failed";
  sectors: number;
  skipped: number;
  /** Time spent proving it (prover calls), 0 for stored / on-chain. */
  ms: number;
  /** Why it failed (source "failed"). */
  error?: string;
}

export interface RunResult {
  /**
   * What the chain says was due: the deadline's partitions with sectors to prove at the start tipset
   * (live − faulty + recovering not empty). null until that was read: the run cannot tell then
   * whether anything was lost.
   */
  due: number[] | null;
  /** Partitions sent in messages that executed with exit code 0, and partitions already proven on chain. */
  proven: number[];
  /** Partitions of messages pushed to the chain node, landed or not. */
  sent: number[];
  partitions: PartitionOutcome[];
  /**
   * Dry run: the messages that would have been sent (partitions, params size in bytes), or why one
   * could not be built (error set, paramsBytes 0).
   */
  dryRun?: { partitions: number[]; paramsBytes: number; error?: string }[];
  /** Every message pushed, with its partitions: the ones not in `messages` had no receipt yet. */
  pushed: { partitions: number[]; cid: string }[];
  /** Messages sent, with their exit codes and the height that executed them. */
  messages: { partitions: number[]; cid: string; exitCode: number; height: number }[];
  /** Sectors skipped, with why. */
  skipped: { sector: number; reason: string }[];
}

const MAX_FAULT_ROUNDS = 5;
/**
 * Prover tries per partition in a dry run (`proving compute`): nothing is at stake, so a prover that
 * keeps failing is reported after a few tries instead of being retried until the call times out.
 */
const DRY_RUN_PROVER_ATTEMPTS = 3;
/** Tries of each chain read in a dry run (0.5 + 1 + 2 s of waits): a real deadline retries them until Close. */
const DRY_RUN_CHAIN_ATTEMPTS = 4;

/**
 * What became of a deadline, judged from what the chain said was due against what is known proven,
 * never from what the run happened to get done:
 * - proven: every partition due was proven on chain (by this run's messages, or already before it);
 * - empty: nothing was due (no partition, or every sector faulty and none recovering): nothing to prove;
 * - partial: some partitions due were proven, others not (left out, failed to prove, message failed);
 * - missed: none of the partitions due was proven;
 * - unknown: what was due could not be read, or the run stopped while messages it pushed for the
 *   partitions not known proven had not been confirmed (they may still have landed).
 */
export type DeadlineOutcome = "proven" | "partial" | "missed" | "unknown" | "empty";

export function deadlineOutcome(r: RunResult): DeadlineOutcome {
  if (r.due === null) return "unknown";
  if (r.due.length === 0) return "empty";
  const proven = new Set(r.proven);
  const notProven = r.due.filter((i) => !proven.has(i));
  if (notProven.length === 0) return "proven";
  const failed = new Set(r.messages.filter((m) => m.exitCode !== 0).flatMap((m) => m.partitions));
  const sent = new Set(r.sent);
  if (notProven.some((i) => sent.has(i) && !failed.has(i))) return "unknown";
  return notProven.length === r.due.length ? "missed" : "partial";
}

/** An empty result, to be filled by runDeadline (the caller may hand it in to read it after a failure). */
export function emptyRunResult(): RunResult {
  return { due: null, proven: [], sent: [], pushed: [], partitions: [], messages: [], skipped: [] };
}

/** What the sector check needs of each on-chain sector: where to look (normal or upgrade index), size, comm_r. */
export function sectorCheckTargets(
  actor: number,
  sectors: Iterable<SectorOnChainInfo>,
  shape: SectorShape,
): CheckTarget[] {
  return [...sectors].map((s) => ({
    miner: actor,
    number: s.sectorNumber,
    upgrade: s.sectorKeyCid !== null,
    shape,
    commR: cidToCommitment(s.sealedCid).commitment,
  }));
}

export async function runDeadline(
  minerCfg: MinerConfig,
  di: DeadlineInfo,
  tsk: TipSetKey,
  deps: RunnerDeps,
  opts: {
    signal: AbortSignal;
    submitAllowed: () => Promise<void>;
    /** Called once every message of the deadline has been pushed (only confirmations remain). */
    onAllPushed?: () => void;
    /**
     * `proving compute`: check and prove every partition and build the messages, but send nothing,
     * store nothing and ignore what the chain already has.
     */
    dryRun?: boolean;
    /**
     * Filled as the run goes (from emptyRunResult()): what was due, proven, sent. The caller reads it
     * when the run fails or is aborted, so a deadline given up is still judged against what was due.
     */
    result?: RunResult;
  },
): Promise<RunResult> {
  const { chain, signal } = { chain: deps.chain, signal: opts.signal };
  const miner = `f0${minerCfg.Actor}`;
  const log = deps.logger.with({ miner, deadline: di.index, open: di.open, close: di.close });
  const result = opts.result ?? emptyRunResult();
  if (opts.dryRun) result.dryRun = [];
  // Chain reads are retried whatever the failure (retry.ts isChainReadRetryable); sector checks only
  // through failures that may pass (the proxy's source restarting).
  const retry = <T>(what: string, fn: () => Promise<T>) =>
    retryTransient(
      what,
      fn,
      signal,
      log,
      isChainReadRetryable,
      opts.dryRun ? DRY_RUN_CHAIN_ATTEMPTS : Number.POSITIVE_INFINITY,
    );
  const retryCheck = <T>(what: string, fn: () => Promise<T>) => retryTransient(what, fn, signal, log);
  // The partitions first: once they are read, what was due is known, whatever fails after.
  const partitions = await retry("reading partitions", () =>
    chain.stateMinerPartitions(miner, di.index, tsk, { signal }),
  );
  result.due = partitions.flatMap((p, index) =>
    p.liveSectors.subtract(p.faultySectors).union(p.recoveringSectors).isEmpty() ? [] : [index],
  );
  if (partitions.length === 0) return result;
  const info = await retry("reading miner info", () => chain.stateMinerInfo(miner, tsk, { signal }));
  const proofType = parseChainPoStProof(info.windowPoStProofType);

  const entropy = cborAddressBytes(Address.fromString(miner).toBytes());
  const seed = await retry("reading randomness", () =>
    chain.stateGetRandomnessFromBeacon(RANDOMNESS_TAG.WindowedPoStChallengeSeed, di.challenge, entropy, tsk, {
      signal,
    }),
  );
  seed[31] = (seed[31] ?? 0) & 0x3f;
  const apiName = apiPoStProofName(info.windowPoStProofType);
  const dlKey = { actor: minerCfg.Actor, open: di.open };
  const store = opts.dryRun ? undefined : deps.proofs;

  // What is already done: partitions proven on chain (a restart after a message landed) and proofs
  // finished before a restart (same challenge, same sectors).
  const postedNow = async (): Promise<BitField> =>
    opts.dryRun
      ? BitField.empty()
      : ((await retry("reading deadline state", () => chain.stateMinerDeadlines(miner, HEAD, { signal })))[
          di.index
        ]?.postSubmissions ?? BitField.empty());
  const posted = await postedNow();
  // Records of deadlines that have closed are of no use any more (the one before this may still be open).
  await store
    ?.prune(minerCfg.Actor, di.open - di.wPoStChallengeWindow)
    .catch((e) => log.warn("cannot prune stored proofs", { err: errorMessage(e) }));
  const saved = store
    ? await store.load(dlKey).catch((e) => {
        log.warn("cannot read stored proofs; proving every partition", { err: errorMessage(e) });
        return new Map<number, SavedProof>();
      })
    : new Map<number, SavedProof>();
  const reused: ProvenPartition[] = [];
  const todo = new Set<number>();
  partitions.forEach((p, index) => {
    const toProve = p.liveSectors.subtract(p.faultySectors).union(p.recoveringSectors);
    if (posted.has(index)) {
      result.proven.push(index);
      result.partitions.push({ index, source: "on-chain", sectors: toProve.count(), skipped: 0, ms: 0 });
      return;
    }
    const s = saved.get(index);
    if (s && reusable(s, { seed, proofType: apiName, format: deps.format, toProve })) {
      reused.push(s.partition);
      result.partitions.push({
        index,
        source: "stored",
        sectors: s.partition.proven.count(),
        skipped: s.partition.skipped.count(),
        ms: 0,
      });
      return;
    }
    todo.add(index);
  });
  if (posted.count() > 0) log.info("partitions already proven on chain", { partitions: posted.toNumbers() });
  if (reused.length > 0)
    log.info("reusing partition proofs finished before a restart", {
      partitions: reused.map((p) => p.index),
    });

  // Sectors to check: everything the partitions still to prove expect proven.
  let wanted = BitField.empty();
  partitions.forEach((p, index) => {
    if (todo.has(index))
      wanted = wanted.union(p.liveSectors.subtract(p.faultySectors).union(p.recoveringSectors));
  });
  const infos = new Map(
    (wanted.isEmpty()
      ? []
      : await retry("reading sectors", () => chain.stateMinerSectors(miner, wanted, tsk, { signal }))
    ).map((s) => [s.sectorNumber, s]),
  );
  const checkDeps = {
    indexer: deps.indexer,
    stores: deps.stores,
    proving: deps.proving,
    strictProbe: deps.strictProbe,
  };
  const good = new Map<number, CheckOutcome>();
  /** Check the sectors of one partition and plan its proof (skipped = the bad ones). */
  const checkPartition = async (index: number): Promise<PartitionPlan> => {
    const p = partitions[index] as Partition;
    const toProve = p.liveSectors.subtract(p.faultySectors).union(p.recoveringSectors);
    const onChain = toProve.toNumbers().flatMap((n) => infos.get(n) ?? []);
    const targets = sectorCheckTargets(minerCfg.Actor, onChain, proofType.shape);
    const checks =
      targets.length === 0
        ? []
        : await retryCheck("checking sectors", () =>
            checkSectors(targets, checkDeps, { strict: minerCfg.PoSt.StrictCheck, signal }),
          );
    for (const c of checks) {
      if (c.ok) {
        good.set(c.number, c);
        continue;
      }
      const reason = c.reason ?? "check failed";
      result.skipped.push({ sector: c.number, reason });
      log.warn("sector skipped", { partition: index, sector: c.number, reason });
    }
    return planPartition(p, index, (n) => good.has(n));
  };
  const grouper = new MessageGrouper<ProvenPartition>(
    postPartitionsPerMessage(minerCfg.PoSt.MaxPartitionsPerPoStMessage, deps.networkMaxPartitions),
  );
  const submitter = new Submitter({
    retry,
    chain,
    miner,
    minerCfg,
    info,
    di,
    format: deps.format,
    signal,
    log,
    result,
    saved,
    store,
    dlKey,
    postedNow,
    submitAllowed: opts.submitAllowed,
    dryRun: opts.dryRun === true,
  });
  const send = (group: readonly ProvenPartition[]) => submitter.send(group);

  const finished = (partition: ProvenPartition) => {
    const group = grouper.add(partition);
    if (group) send(group);
  };
  for (const p of reused) finished(p);

  const provePartition = async (p: PartitionPlan) => {
    let skipped = p.skipped;
    let proven = p.proven;
    const started = performance.now();
    for (let round = 0; round < MAX_FAULT_ROUNDS && !proven.isEmpty(); round++) {
      const numbers = proven.toNumbers();
      const replicas = numbers.map((n) => {
        const c = good.get(n);
        const s = infos.get(n);
        if (!c?.sealedFile || !c.cacheDir || !s)
          throw new SmError("POSTER_INTERNAL", `sector ${n} has no checked location`);
        return {
          sectorId: n,
          commR: cidToCommitment(s.sealedCid).commitment,
          cacheDir: c.cacheDir,
          sealedFile: c.sealedFile,
        };
      });
      // A failed call (a child killed with this partition in flight) is tried again, on whichever
      // prover is free first, until the deadline's signal aborts: leaving the partition out would make
      // all its sectors faulty.
      const out = await retryTransient(
        "proving the partition",
        () =>
          deps.prove(
            { minerId: minerCfg.Actor, proofType: apiName, replicas, seed },
            { priority: di.close, signal },
          ),
        signal,
        log.with({ partition: p.index }),
        isRetryableProverFailure,
        opts.dryRun ? DRY_RUN_PROVER_ATTEMPTS : Number.POSITIVE_INFINITY,
      );
      if (out.faults.length > 0) {
        // The prover could not prove these: skip them and prove the rest (one more pass).
        const faults = BitField.fromNumbers(out.faults);
        for (const f of out.faults)
          result.skipped.push({ sector: f, reason: "the prover reported it faulty" });
        log.warn("prover reported faulty sectors; proving the partition again without them", {
          partition: p.index,
          faults: out.faults,
        });
        skipped = skipped.union(faults.intersect(proven));
        proven = proven.subtract(faults);
        continue;
      }
      const partition: ProvenPartition =
        deps.format === "snark"
          ? { index: p.index, skipped, proven, snarkProof: out.proofs[0] }
          : {
              index: p.index,
              skipped,
              proven,
              sectorProofs: new Map(numbers.map((n, i) => [n, out.proofs[i] ?? new Uint8Array()])),
            };
      const ms = Math.round(performance.now() - started);
      result.partitions.push({
        index: p.index,
        source: "proved",
        sectors: proven.count(),
        skipped: skipped.count(),
        ms,
      });
      await store
        ?.save(dlKey, { seed, proofType: apiName, format: deps.format, partition, provenAt: di.currentEpoch })
        .catch((e) =>
          log.warn("cannot store the partition proof; a restart would prove it again", {
            partition: p.index,
            err: errorMessage(e),
          }),
        );
      // After the store: from this line on, a restart reuses the proof instead of proving again.
      log.info("partition proven", {
        partition: p.index,
        sectors: proven.count(),
        skipped: skipped.count(),
        ms,
      });
      finished(partition);
      return;
    }
    result.partitions.push({ index: p.index, source: "none", sectors: 0, skipped: skipped.count(), ms: 0 });
    log.warn("partition has nothing provable; left out (its sectors become faulty at Close)", {
      partition: p.index,
    });
  };

  // Each partition goes to the prover as soon as its own sectors are checked, so proving starts after
  // one partition's check, not after every sector of the deadline (a strict check is a vanilla proof
  // per sector: minutes for a deadline of full 32 GiB partitions). Partitions are checked in index
  // order, several at once while their sectors fit in ParallelCheckLimit (small partitions), else one
  // at a time; each check has its own PartitionCheckTimeout, as the name says and as Lotus bounds it.
  const limit = deps.proving.ParallelCheckLimit ?? Number.POSITIVE_INFINITY;
  const failedPartition = (index: number, skipped: number, e: unknown) =>
    result.partitions.push({ index, source: "failed", sectors: 0, skipped, ms: 0, error: errorMessage(e) });
  const checking = new Set<Promise<void>>();
  let checkingSectors = 0;
  const proofs: Promise<void>[] = [];
  // [Miners.PoSt] Parallel = false: one partition at a time goes to the provers, in the order their
  // sector checks finish (index order when checks run one at a time), the next once the previous is
  // proven or given up; true: each as soon as it is checked.
  let previous: Promise<unknown> = Promise.resolve();
  const prove = (plan: PartitionPlan): Promise<void> => {
    if (minerCfg.PoSt.Parallel) return provePartition(plan);
    const mine = previous.then(() => provePartition(plan));
    previous = mine.catch(() => {});
    return mine;
  };
  for (const index of [...todo].sort((x, y) => x - y)) {
    const p = partitions[index] as Partition;
    const size = p.liveSectors.subtract(p.faultySectors).union(p.recoveringSectors).count();
    while (checking.size > 0 && checkingSectors + size > limit) await Promise.race(checking);
    if (signal.aborted) break;
    checkingSectors += size;
    const check: Promise<void> = checkPartition(index)
      .then(
        (plan) => {
          if (plan.proven.isEmpty())
            result.partitions.push({
              index,
              source: "none",
              sectors: 0,
              skipped: plan.skipped.count(),
              ms: 0,
            });
          // The handler is attached now, not when all checks are done: a partition that fails early
          // must not surface as an unhandled rejection while others are still being checked.
          else
            proofs.push(
              prove(plan).catch((e) => {
                if (signal.aborted) return;
                log.error("partition proving failed", { partition: index, err: errorMessage(e) });
                failedPartition(index, plan.skipped.count(), e);
              }),
            );
        },
        (e) => {
          if (signal.aborted) return;
          log.error("checking the partition's sectors failed; partition left out", {
            partition: index,
            err: errorMessage(e),
          });
          failedPartition(index, 0, e);
        },
      )
      .finally(() => {
        checkingSectors -= size;
        checking.delete(check);
      });
    checking.add(check);
  }
  await Promise.all(checking);
  await Promise.all(proofs);
  const rest = grouper.finish();
  if (rest) send(rest);
  await Promise.all(submitter.pushes);
  opts.onAllPushed?.();
  const sent = await Promise.allSettled(submitter.sends);
  for (const r of sent)
    if (r.status === "rejected" && !signal.aborted)
      log.error(opts.dryRun ? "building the message failed" : "window post submission failed", {
        err: errorMessage(r.reason),
      });
  result.partitions.sort((a, b) => a.index - b.index);
  return result;
}
