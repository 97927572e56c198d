/**
 * A deadline of one miner, run by the cluster instead of by this node alone: the function the Poster
 * calls in place of runDeadline (poster/runner.ts) when the node is a cluster member. Every member
 * whose config has the miner runs it for each of the miner's deadlines; the database makes their work
 * one:
 *
 *  1. load the deadline from the start tipset as runDeadline does (load.ts), and plan it (plan.ts):
 *     what is on chain already needs nothing;
 *  2. create one task per partition to prove, with its job (taskJob.ts): the first member to get
 *     here creates them, the others find them (idempotent). Any member then claims and proves them,
 *     earliest Close first across every miner (member.ts);
 *  3. once submission is allowed, form message groups from the proofs recorded (any member's), claim
 *     one by compare-and-set and send it (send.ts), until every partition due is proven on chain or
 *     every task has ended and every group has landed or failed;
 *  4. the RunResult is filled from the database as it goes, so the Poster judges the deadline from
 *     what the whole cluster did, whoever did it.
 */
import { performance } from "node:perf_hooks";
import { BitField } from "../chain/bitfield.js";
import type { DeadlineInfo, TipSetKey } from "../chain/interface.js";
import type { MinerConfig } from "../config/types.js";
import { postPartitionsPerMessage } from "../poster/batch.js";
import {
  chainReadRetry,
  type DeadlineReads,
  loadDeadline,
  readPartitions,
  readPosted,
  readSectorInfos,
} from "../poster/load.js";
import { duePartitions, faultyCount, planDeadline, type TodoPartition } from "../poster/plan.js";
import { retryTransient } from "../poster/retry.js";
import type { RunOptions } from "../poster/runner.js";
import { type MessageInput, recordSenderBalance } from "../poster/submit.js";
import { emptyRunResult, type RunnerDeps, type RunResult } from "../poster/types.js";
import type { Pg } from "../store/pg/db.js";
import { errorMessage } from "../util/errors.js";
import { untilAborted } from "../util/time.js";
import { claimGroup, formGroups, type GroupInfo, listGroups } from "./groups.js";
import type { ClusterMember } from "./member.js";
import { num } from "./options.js";
import { type GroupSendInput, sendGroup } from "./send.js";
import { encodeTaskJob } from "./taskJob.js";
import { createDeadlineTasks, resetForNewSeed, type TaskState } from "./tasks.js";

export interface ClusterRunnerInput {
  pg: Pg;
  member: ClusterMember;
  leaseMs: number;
  /** How often the deadline's state is read while waiting for proofs and messages, ms (default 1000). */
  pollMs?: number;
}

/** A Poster deadline runner backed by the cluster (same contract as runDeadline). */
export type DeadlineRunner = (
  minerCfg: MinerConfig,
  di: DeadlineInfo,
  tsk: TipSetKey,
  deps: RunnerDeps,
  opts: RunOptions,
) => Promise<RunResult>;

export function clusterDeadlineRunner(c: ClusterRunnerInput): DeadlineRunner {
  return (minerCfg, di, tsk, deps, opts) => runClusterDeadline(c, minerCfg, di, tsk, deps, opts);
}

interface TaskRow {
  partition: number;
  state: TaskState;
  holder: string | null;
  error: string | null;
  skipped: number[] | null;
  faults: number[] | null;
}

async function runClusterDeadline(
  c: ClusterRunnerInput,
  minerCfg: MinerConfig,
  di: DeadlineInfo,
  tsk: TipSetKey,
  deps: RunnerDeps,
  opts: RunOptions,
): Promise<RunResult> {
  const { signal } = opts;
  const result = opts.result ?? emptyRunResult();
  const actor = minerCfg.Actor;
  const miner = `f0${actor}`;
  const log = deps.logger.with({ miner, deadline: di.index, open: di.open, close: di.close });
  const retry = chainReadRetry(signal, log, false);
  const reads: DeadlineReads = { chain: deps.chain, miner, di, tsk, signal, retry, dryRun: false };
  const db = <T>(what: string, fn: () => Promise<T>) => retryTransient(what, fn, signal, log);

  const partitions = await readPartitions(reads);
  result.due = duePartitions(partitions);
  result.faulty = faultyCount(partitions);
  if (partitions.length === 0) return result;
  const loaded = await loadDeadline(reads, partitions);
  const challenge = { seed: loaded.seed, proofType: loaded.apiProofType, format: deps.format };
  const plan = planDeadline(partitions, loaded.posted, new Map(), challenge);
  const onChain = new Map(plan.onChain.map((p) => [p.index, p.sectors]));
  if (onChain.size > 0) log.info("partitions already proven on chain", { partitions: [...onChain.keys()] });
  const todo = plan.todo.filter((t) => !t.toProve.isEmpty());
  const sizes = new Map(plan.todo.map((t) => [t.index, t.toProve.count()]));
  if (todo.length > 0) {
    const seed = Buffer.from(loaded.seed).toString("hex");
    if (
      await db("checking the deadline's challenge", () =>
        resetForNewSeed(c.pg, { miner: actor, open: di.open, seed }),
      )
    )
      log.warn(
        "the deadline's challenge seed changed (a reorg below its Challenge): its tasks and proofs start afresh",
      );
    // Only the first member to get here writes the jobs: the others skip reading every sector's
    // on-chain info (23 000 of them for a full mainnet deadline) and sending it for nothing.
    const existing = new Set(
      (await db("reading the deadline's tasks", () => deadlineTasks(c.pg, actor, di.open))).map(
        (t) => t.partition,
      ),
    );
    const missing = todo.filter((t) => !existing.has(t.index));
    const wanted = BitField.unionAll(missing.map((t) => t.toProve));
    const infos = missing.length === 0 ? new Map() : await readSectorInfos(reads, wanted);
    const job = (t: TodoPartition) =>
      encodeTaskJob({
        actor,
        deadline: di.index,
        open: di.open,
        close: di.close,
        partition: t.index,
        proofType: loaded.apiProofType,
        postProof: loaded.info.windowPoStProofType,
        seed: loaded.seed,
        format: deps.format,
        strict: minerCfg.PoSt.StrictCheck,
        toProve: t.toProve,
        infos: new Map(
          t.toProve.toNumbers().flatMap((n) => {
            const i = infos.get(n);
            return i ? [[n, i] as const] : [];
          }),
        ),
      });
    const created =
      missing.length === 0
        ? 0
        : await db("creating the deadline's partition tasks", () =>
            createDeadlineTasks(c.pg, {
              miner: actor,
              deadline: di.index,
              open: di.open,
              close: di.close,
              partitions: missing.map((t) => ({ partition: t.index, job: job(t) })),
            }),
          );
    log.info(
      created > 0
        ? "partition tasks created for the cluster"
        : "partition tasks found, created by another node",
      {
        partitions: todo.map((t) => t.index),
        created,
      },
    );
    c.member.wake();
  }
  const fill = (tasks: readonly TaskRow[], groups: readonly GroupInfo[]) =>
    fillResult(
      result,
      { onChain, sizes, empty: plan.todo.filter((t) => t.toProve.isEmpty()).map((t) => t.index) },
      tasks,
      groups,
    );
  fill([], []);
  if (todo.length === 0) return result;

  await untilAborted(opts.submitAllowed(), signal, "deadline run stopped before submission was allowed");
  const perMessage = postPartitionsPerMessage(
    minerCfg.PoSt.MaxPartitionsPerPoStMessage,
    deps.networkMaxPartitions,
  );
  const message: MessageInput = {
    chain: deps.chain,
    message: { miner, info: loaded.info, deadline: di, format: deps.format, post: minerCfg.PoSt },
    retry,
    signal,
    senderBalance: recordSenderBalance(deps.metrics, miner),
  };
  const landed: RunResult["messages"] = [];
  // Groups this member is sending, by index: each is sent in the background while the loop goes on
  // forming and claiming, as the single-node submitter pushes every message at once.
  const sending = new Map<number, Promise<void>>();
  const send: Omit<GroupSendInput, "report"> = {
    pg: c.pg,
    member: c.member,
    reads,
    message,
    seed: loaded.seed,
    confidence: minerCfg.PoSt.Confidence,
    log,
  };
  let allPushed = false;
  try {
    for (;;) {
      let [tasks, groups] = await readState();
      const grouped = () => new Set(groups.flatMap((g) => g.partitions));
      const allEnded = tasks.every((t) => t.state === "done" || t.state === "failed");
      if (tasks.some((t) => t.state === "done" && !grouped().has(t.partition))) {
        // Proofs not in a group yet: form what is due (the remainder once every task has ended).
        await db("forming message groups", () =>
          formGroups(c.pg, { miner: actor, open: di.open, perMessage }),
        );
        [tasks, groups] = await readState();
      }
      fill(tasks, groups);
      for (const m of landed) if (!result.messages.some((x) => x.cid === m.cid)) result.messages.push(m);
      const proofsLeft = tasks.some((t) => t.state === "done" && !grouped().has(t.partition));
      const settled = (g: GroupInfo) => g.state === "landed" || g.state === "failed";
      if (!allPushed && allEnded && !proofsLeft && groups.every((g) => settled(g) || g.msgCid !== null)) {
        allPushed = true;
        opts.onAllPushed?.();
      }
      if (allEnded && !proofsLeft && groups.every(settled) && sending.size === 0) break;
      for (const g of groups) {
        if (settled(g) || !g.claimable || sending.has(g.group)) continue;
        // The lease counts from the try that got the group, not from the first of the retries (a
        // database failing over answers the first tries with errors): taken from the first, it would
        // already be over, and the group dropped as soon as claimed.
        let claimedAt = performance.now();
        const claimed = await db("claiming a message group", () => {
          claimedAt = performance.now();
          return claimGroup(c.pg, c.member.id, g, { leaseMs: c.leaseMs });
        });
        if (!claimed) continue;
        const p = sendGroup(claimed, claimedAt, {
          ...send,
          report: { pushed: () => {}, landed: (m) => landed.push(m) },
        })
          .catch((e) => {
            if (!signal.aborted)
              log.error("sending a message group failed", { group: g.group, err: errorMessage(e) });
          })
          .finally(() => sending.delete(g.group));
        sending.set(g.group, p);
      }
      await Promise.race([c.member.nextChange(c.pollMs ?? 1000, signal), ...sending.values()]);
    }
  } finally {
    await Promise.allSettled(sending.values());
  }
  // A group that failed on chain may still have its partitions proven by another message.
  const posted = await readPosted(reads);
  const proven = new Set(result.proven);
  for (const i of result.due ?? []) if (posted.has(i) && !proven.has(i)) result.proven.push(i);
  result.proven.sort((x, y) => x - y);
  log.info("cluster deadline settled", {
    groups: result.pushed.length,
    proven: result.proven.length,
  });
  return result;

  function readState() {
    return db("reading the deadline's state", () =>
      Promise.all([deadlineTasks(c.pg, actor, di.open), listGroups(c.pg, actor, di.open)]),
    );
  }
}

/** The deadline's tasks, by partition. */
async function deadlineTasks(pg: Pg, miner: number, open: number): Promise<TaskRow[]> {
  const rows = await pg.query<{
    partition_index: number;
    state: TaskState;
    holder: string | null;
    error: string | null;
    skipped: number[] | null;
    faults: number[] | null;
  }>(
    `SELECT partition_index, state, holder, error, skipped, faults FROM partition_tasks
     WHERE miner = $1 AND open_epoch = $2 ORDER BY partition_index`,
    [miner, open],
  );
  return rows.map((r) => ({
    partition: num(r.partition_index),
    state: r.state,
    holder: r.holder,
    error: r.error,
    skipped: r.skipped,
    faults: r.faults,
  }));
}

/**
 * The run's result from the cluster's state: partitions on chain before the run, tasks done or failed
 * (by any node), messages sent and landed (by any node). Rebuilt on every read, so a run stopped at
 * Close still reports what the cluster got done.
 */
function fillResult(
  r: RunResult,
  known: {
    onChain: ReadonlyMap<number, number>;
    sizes: ReadonlyMap<number, number>;
    empty: readonly number[];
  },
  tasks: readonly TaskRow[],
  groups: readonly GroupInfo[],
): void {
  const proven = new Set(known.onChain.keys());
  r.partitions = [...known.onChain].map(([index, sectors]) => ({
    index,
    source: "on-chain",
    sectors,
    skipped: 0,
    ms: 0,
  }));
  for (const index of known.empty)
    r.partitions.push({ index, source: "none", sectors: 0, skipped: 0, ms: 0 });
  r.skipped = [];
  for (const t of tasks) {
    const skipped = [...new Set([...(t.skipped ?? []), ...(t.faults ?? [])])];
    for (const sector of skipped)
      r.skipped.push({ sector, reason: `skipped by ${t.holder ?? "a cluster node"}` });
    if (t.state === "done")
      r.partitions.push({
        index: t.partition,
        source: "proved",
        sectors: (known.sizes.get(t.partition) ?? 0) - skipped.length,
        skipped: skipped.length,
        ms: 0,
      });
    else if (t.state === "failed")
      r.partitions.push({
        index: t.partition,
        source: "failed",
        sectors: 0,
        skipped: skipped.length,
        ms: 0,
        error: t.error ?? "failed",
      });
  }
  r.pushed = [];
  r.sent = [];
  const landed: RunResult["messages"] = [];
  for (const g of groups) {
    if (g.msgCid !== null) {
      r.pushed.push({ partitions: g.partitions, cid: g.msgCid });
      r.sent.push(...g.partitions);
    }
    const receipt = (g.receipt ?? {}) as { exitCode?: number; height?: number; onChain?: boolean };
    if (g.state === "landed") {
      for (const p of g.partitions) proven.add(p);
      if (g.msgCid !== null)
        landed.push({
          partitions: g.partitions,
          cid: g.msgCid,
          exitCode: receipt.exitCode ?? 0,
          height: receipt.height ?? 0,
        });
    } else if (g.state === "failed" && g.msgCid !== null && typeof receipt.exitCode === "number")
      landed.push({
        partitions: g.partitions,
        cid: g.msgCid,
        exitCode: receipt.exitCode,
        height: receipt.height ?? 0,
      });
  }
  r.messages = landed;
  r.proven = [...proven].sort((a, b) => a - b);
  r.partitions.sort((a, b) => a.index - b.index);
}
