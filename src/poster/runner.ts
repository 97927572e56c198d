/**
 * One deadline of one miner, proven and submitted (what damocles' runner and Curio's compute +
 * submit tasks do), on the start tipset the tracker froze. The stages, each a file that hands plain
 * values to the next:
 *
 *   load.ts    partitions, miner info, challenge seed, what is on chain, stored proofs → LoadedDeadline
 *   plan.ts    per partition: on chain already, stored proof reused, or to do         → DeadlinePlan
 *   check.ts   the sectors of one partition checked (strict per StrictCheck)          → CheckedPartition
 *   job.ts     the partition's proving job, a JSON-safe value                         → PartitionJob
 *   prove.ts   the job proven; faulty sectors skipped and the rest proven again       → PartitionProofResult
 *   batch.ts   finished partitions grouped into messages of min(3, MaxPartitionsPerPoStMessage)
 *   submit.ts  each message sent once submission is allowed, and waited for
 *
 * This file wires them: partitions are checked in index order and each is proven as soon as it is
 * checked while the next is checked (no batch barrier), earliest Close first across miners through
 * the prover's priority. The signal aborts everything when the deadline closes or a reorg reverts
 * below its challenge epoch.
 */

import { performance } from "node:perf_hooks";
import type { BitField } from "../chain/bitfield.js";
import type { DeadlineInfo, TipSetKey } from "../chain/interface.js";
import type { MinerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import { errorMessage } from "../util/errors.js";
import { MessageGrouper, type ProvenPartition, postPartitionsPerMessage } from "./batch.js";
import { prepareBundlePart } from "./bundleParts.js";
import { type CheckedPartition, type CheckInput, checkPartition } from "./check.js";
import { partitionJob } from "./job.js";
import {
  chainReadRetry,
  type DeadlineReads,
  type LoadedDeadline,
  loadDeadline,
  loadStoredProofs,
  readPartitions,
  readPosted,
  readSectorInfos,
} from "./load.js";
import {
  type Challenge,
  type DeadlinePlan,
  duePartitions,
  faultyCount,
  planDeadline,
  type TodoPartition,
} from "./plan.js";
import type { DeadlineKey, ProofStore, SavedProof } from "./proofStore.js";
import { DRY_RUN_PROVER_ATTEMPTS, provePartition } from "./prove.js";
import { addStage, timed, timedIndexer } from "./stageTimes.js";
import { recordSenderBalance, type SentRecords, Submitter, type SubmitterInput } from "./submit.js";
import { emptyRunResult, type PartitionOutcome, type RunnerDeps, type RunResult } from "./types.js";

export interface RunOptions {
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
}

export async function runDeadline(
  minerCfg: MinerConfig,
  di: DeadlineInfo,
  tsk: TipSetKey,
  deps: RunnerDeps,
  opts: RunOptions,
): Promise<RunResult> {
  const run = newRun(minerCfg, di, tsk, deps, opts);
  const { result, log } = run;
  result.stageMs ??= {};
  const times = result.stageMs;
  // The partitions first: once they are read, what was due is known, whatever fails after.
  const partitions = await timed(times, "chain", () => readPartitions(run.reads));
  result.due = duePartitions(partitions);
  result.faulty = faultyCount(partitions);
  if (partitions.length === 0) return result;
  const loaded = await timed(times, "chain", () => loadDeadline(run.reads, partitions));
  // Records of deadlines that have closed are of no use any more (the one before this may still be open).
  const saved = await loadStoredProofs(run.store, run.dlKey, di.open - di.wPoStChallengeWindow, log);
  const challenge = { seed: loaded.seed, proofType: loaded.apiProofType, format: deps.format };
  const plan = planDeadline(partitions, loaded.posted, saved, challenge);
  recordPlan(result, plan, loaded.posted, log);
  const infos = await timed(times, "chain", () => readSectorInfos(run.reads, plan.wanted));

  const submitter = new Submitter(submitterInput(run, loaded, saved));
  const grouper = new MessageGrouper<ProvenPartition>(
    postPartitionsPerMessage(minerCfg.PoSt.MaxPartitionsPerPoStMessage, deps.networkMaxPartitions),
  );
  const finished = (partition: ProvenPartition) => {
    const t0 = performance.now();
    const group = grouper.add(partition);
    addStage(times, "group", performance.now() - t0);
    if (group) submitter.send(group);
  };
  for (const p of plan.stored) finished(p);
  const check: CheckInput = {
    actor: minerCfg.Actor,
    shape: loaded.proofType.shape,
    infos,
    strict: minerCfg.PoSt.StrictCheck,
    deps: {
      indexer: timedIndexer(deps.indexer, times),
      stores: deps.stores,
      proving: deps.proving,
      strictProbe: deps.strictProbe,
    },
    signal: run.signal,
    log,
  };
  // The checks' own time is what they took less the index lookups they made (counted apart).
  let checking = 0;
  try {
    await checkAndProve(plan.todo, {
      limit: deps.proving.ParallelCheckLimit ?? Number.POSITIVE_INFINITY,
      parallel: minerCfg.PoSt.Parallel,
      signal: run.signal,
      log,
      result,
      check: async (todo) => {
        const end = deps.metrics?.wdpostCheckDuration.startTimer({
          miner: run.reads.miner,
          deadline: String(di.index),
        });
        const t0 = performance.now();
        try {
          const checked = await checkPartition(todo, check);
          result.skipped.push(...checked.failed);
          return checked;
        } finally {
          end?.();
          checking += performance.now() - t0;
          times.check = Math.max(0, checking - (times.lookup ?? 0));
        }
      },
      prove: (checked) => proveChecked(run, challenge, checked, finished),
    });
    const t0 = performance.now();
    const rest = grouper.finish();
    addStage(times, "group", performance.now() - t0);
    if (rest) submitter.send(rest);
    await submitted(run, submitter);
  } finally {
    // Proofs still being stored when the run ends (aborted, or nothing left to push) are stored first.
    await Promise.all(run.storing.values());
  }
  result.partitions.sort((a, b) => a.index - b.index);
  return result;
}

/** One run's fixed inputs, for the wiring below; each stage is handed only the part it uses. */
interface Run {
  minerCfg: MinerConfig;
  di: DeadlineInfo;
  deps: RunnerDeps;
  opts: RunOptions;
  dryRun: boolean;
  signal: AbortSignal;
  log: Logger;
  result: RunResult;
  reads: DeadlineReads;
  /** Where finished proofs are kept (never in a dry run). */
  store: ProofStore | undefined;
  dlKey: DeadlineKey;
  /** Partition index → its proof's store write, settled once stored (or failed) and logged. */
  storing: Map<number, Promise<void>>;
}

function newRun(
  minerCfg: MinerConfig,
  di: DeadlineInfo,
  tsk: TipSetKey,
  deps: RunnerDeps,
  opts: RunOptions,
): Run {
  const { signal } = opts;
  const dryRun = opts.dryRun === true;
  const miner = `f0${minerCfg.Actor}`;
  const log = deps.logger.with({ miner, deadline: di.index, open: di.open, close: di.close });
  const result = opts.result ?? emptyRunResult();
  if (dryRun) result.dryRun = [];
  const retry = chainReadRetry(signal, log, dryRun);
  return {
    minerCfg,
    di,
    deps,
    opts,
    dryRun,
    signal,
    log,
    result,
    reads: { chain: deps.chain, miner, di, tsk, signal, retry, dryRun },
    store: dryRun ? undefined : deps.proofs,
    dlKey: { actor: minerCfg.Actor, open: di.open },
    storing: new Map(),
  };
}

/** What the plan found already done: partitions proven on chain and proofs reused from the store. */
function recordPlan(result: RunResult, plan: DeadlinePlan, posted: BitField, log: Logger): void {
  const done: PartitionOutcome[] = [
    ...plan.onChain.map(({ index, sectors }) => ({
      index,
      source: "on-chain" as const,
      sectors,
      skipped: 0,
      ms: 0,
    })),
    ...plan.stored.map((p) => ({
      index: p.index,
      source: "stored" as const,
      sectors: p.proven.count(),
      skipped: p.skipped.count(),
      ms: 0,
    })),
  ];
  result.proven.push(...plan.onChain.map((p) => p.index));
  result.partitions.push(...done.sort((a, b) => a.index - b.index));
  if (posted.count() > 0) log.info("partitions already proven on chain", { partitions: posted.toNumbers() });
  if (plan.stored.length > 0)
    log.info("reusing partition proofs finished before a restart", {
      partitions: plan.stored.map((p) => p.index),
    });
}

/** The submitter's inputs: what it sends and where, and how what happens lands in the run's result. */
function submitterInput(
  run: Run,
  loaded: LoadedDeadline,
  saved: ReadonlyMap<number, SavedProof>,
): SubmitterInput {
  const { minerCfg, di, deps, result, store, dlKey } = run;
  const records: SentRecords | undefined = store && {
    sentCid: (partition) => saved.get(partition)?.sentCid,
    markSent: (partitions, cid) => store.markSent(dlKey, partitions, cid),
  };
  return {
    chain: deps.chain,
    message: {
      miner: run.reads.miner,
      info: loaded.info,
      deadline: di,
      format: deps.format,
      post: minerCfg.PoSt,
    },
    provenOnChain: () => readPosted(run.reads),
    retry: run.reads.retry,
    records,
    stored: (partition) => run.storing.get(partition),
    submitAllowed: run.opts.submitAllowed,
    dryRun: run.dryRun,
    signal: run.signal,
    log: run.log,
    senderBalance: recordSenderBalance(deps.metrics, run.reads.miner),
    report: {
      proven: (partitions) => result.proven.push(...partitions),
      pushed: (partitions, cid) => {
        result.sent.push(...partitions);
        result.pushed.push({ partitions, cid });
      },
      landed: (message) => result.messages.push(message),
      built: (message) => result.dryRun?.push(message),
      stage: (stage, ms) => {
        result.stageMs ??= {};
        addStage(result.stageMs, stage, ms);
      },
      waitedForProofs: (ms) => {
        result.proofWaitMs = (result.proofWaitMs ?? 0) + ms;
      },
    },
  };
}

/** Every message pushed (then onAllPushed), then every one settled: landed, failed or given up. */
async function submitted(run: Run, submitter: Submitter): Promise<void> {
  await Promise.all(submitter.pushes);
  run.opts.onAllPushed?.();
  const sent = await Promise.allSettled(submitter.sends);
  for (const r of sent)
    if (r.status === "rejected" && !run.signal.aborted)
      run.log.error(run.dryRun ? "building the message failed" : "window post submission failed", {
        err: errorMessage(r.reason),
      });
}

/**
 * Prove one checked partition through its job and record what became of it. A finished proof is
 * grouped at once and stored meanwhile; its message is pushed only once it is stored (the submitter
 * waits for `run.storing`), so a restart after a push always finds the proof and reuses it.
 */
async function proveChecked(
  run: Run,
  challenge: Challenge,
  checked: CheckedPartition,
  finished: (p: ProvenPartition) => void,
): Promise<void> {
  const { minerCfg, di, result, log } = run;
  const job = partitionJob(
    { actor: minerCfg.Actor, deadline: di.index, open: di.open, close: di.close, ...challenge },
    checked.plan,
    checked.located,
  );
  const r = await provePartition(job, run.deps.prove, {
    signal: run.signal,
    log,
    attempts: run.dryRun ? DRY_RUN_PROVER_ATTEMPTS : Number.POSITIVE_INFINITY,
    onFaults: (sectors) =>
      result.skipped.push(...sectors.map((sector) => ({ sector, reason: "the prover reported it faulty" }))),
    onStart: (by) => {
      result.provers ??= {};
      result.provers[checked.plan.index] = by;
    },
  });
  const { index } = checked.plan;
  if (!r.proof) {
    result.partitions.push({ index, source: "none", sectors: 0, skipped: r.skipped.count(), ms: 0 });
    log.warn("partition has nothing provable; left out (its sectors become faulty at Close)", {
      partition: index,
    });
    return;
  }
  const { proof, ms } = r;
  // The devnet's vanilla proofs start compressing now, beside the other partitions' proving.
  prepareBundlePart(proof, di.index);
  const counts = { sectors: proof.proven.count(), skipped: proof.skipped.count() };
  result.partitions.push({ index, source: "proved", ...counts, ms });
  const t0 = performance.now();
  const stored = run.store
    ?.save(run.dlKey, { ...challenge, partition: proof, provenAt: di.currentEpoch })
    .catch((e) =>
      log.warn("cannot store the partition proof; a restart would prove it again", {
        partition: index,
        err: errorMessage(e),
      }),
    );
  // Logged once stored; its message, grouped and built meanwhile (a full partition's vanilla proofs
  // take ~0.3 s to write and sync), waits for that before its push.
  const proven = (stored ?? Promise.resolve()).then(() => {
    const storeMs = Math.round(performance.now() - t0);
    log.info("partition proven", {
      partition: index,
      ...counts,
      ms,
      ...(stored ? { store_ms: storeMs } : {}),
    });
  });
  run.storing.set(index, proven);
  finished(proof);
}

interface CheckAndProve {
  /** [Common.Proving] ParallelCheckLimit: sectors checked at once. */
  limit: number;
  /** [Miners.PoSt] Parallel. */
  parallel: boolean;
  signal: AbortSignal;
  log: Logger;
  result: RunResult;
  check: (todo: TodoPartition) => Promise<CheckedPartition>;
  prove: (checked: CheckedPartition) => Promise<void>;
}

/**
 * Each partition goes to the prover as soon as its own sectors are checked, so proving starts after
 * one partition's check, not after every sector of the deadline (a strict check is a vanilla proof
 * per sector: minutes for a deadline of full 32 GiB partitions). Partitions are checked in index
 * order, several at once while their sectors fit in ParallelCheckLimit (small partitions), else one
 * at a time; each check has its own PartitionCheckTimeout, as the name says and as Lotus bounds it.
 * A partition whose check or proof fails is recorded as failed; the others go on.
 */
async function checkAndProve(todo: readonly TodoPartition[], c: CheckAndProve): Promise<void> {
  const { signal, log, result } = c;
  const failed = (index: number, skipped: number, e: unknown) =>
    result.partitions.push({ index, source: "failed", sectors: 0, skipped, ms: 0, error: errorMessage(e) });
  const prove = provingOrder(c.parallel, c.prove);
  const checking = new Set<Promise<void>>();
  let checkingSectors = 0;
  const proofs: Promise<void>[] = [];
  for (const t of todo) {
    const { index } = t;
    const size = t.toProve.count();
    while (checking.size > 0 && checkingSectors + size > c.limit) await Promise.race(checking);
    if (signal.aborted) break;
    checkingSectors += size;
    const check: Promise<void> = c
      .check(t)
      .then(
        (checked) => {
          const { plan } = checked;
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
              prove(checked).catch((e) => {
                if (signal.aborted) return;
                log.error("partition proving failed", { partition: index, err: errorMessage(e) });
                failed(index, plan.skipped.count(), e);
              }),
            );
        },
        (e) => {
          if (signal.aborted) return;
          log.error("checking the partition's sectors failed; partition left out", {
            partition: index,
            err: errorMessage(e),
          });
          failed(index, 0, e);
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
}

/**
 * [Miners.PoSt] Parallel = false: one partition at a time goes to the provers, in the order their
 * sector checks finish (index order when checks run one at a time), the next once the previous is
 * proven or given up; true: each as soon as it is checked.
 */
function provingOrder<T>(parallel: boolean, prove: (x: T) => Promise<void>): (x: T) => Promise<void> {
  if (parallel) return prove;
  let previous: Promise<unknown> = Promise.resolve();
  return (x) => {
    const mine = previous.then(() => prove(x));
    previous = mine.catch(() => {});
    return mine;
  };
}
