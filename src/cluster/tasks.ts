/**
 * Partition proving tasks: creation, claims under a lease, renewal, fenced results, expiry at Close,
 * and the bounded task history.
 *
 * States: waiting → running (claimed under a lease) → done | failed, and running → waiting again when
 * the holder fails it with `retry`, or its node restarts under the same name. A running task whose
 * lease expired is claimable like a waiting one (a takeover, recorded as a `lost` attempt). At Close
 * every task not done becomes failed, whatever its state.
 *
 * Each operation is one short transaction. Results are fenced (types.ts): complete, fail and renew
 * name the lease they hold, and change nothing once it is not the task's current unexpired lease.
 */
import { randomUUID } from "node:crypto";
import type { Pg, PgQuery } from "../store/pg/db.js";
import { SmError } from "../util/errors.js";
import "./errors.js";
import { sessionError } from "./nodes.js";
import {
  CLUSTER_DEFAULTS,
  checkCount,
  checkMs,
  checkNode,
  msInterval,
  num,
  sessionCurrent,
} from "./options.js";
import type { NodeIdentity, TaskKey, TaskLease } from "./types.js";

export type TaskState = "waiting" | "running" | "done" | "failed";

export interface DeadlineTasksInput {
  miner: number;
  deadline: number;
  open: number;
  close: number;
  /** One entry per partition to prove; `job` is the poster's serialisable PartitionJob. */
  partitions: readonly { partition: number; job: unknown }[];
}

export interface ClaimedTask extends TaskLease {
  deadline: number;
  close: number;
  job: unknown;
  /** The task was running under another node's (or session's) lease, which had expired or whose session was replaced. */
  takeover: boolean;
  /** Who held it before a takeover. */
  previousHolder: string | null;
}

export interface ClaimResult {
  tasks: ClaimedTask[];
  /** How many of `tasks` were taken over from an expired lease (a metric). */
  takeovers: number;
  /** Tasks the node may still take after this claim (capacity minus what it holds). */
  free: number;
}

const HISTORY_INSERT = `INSERT INTO task_history
  (id, miner, open_epoch, partition_index, deadline_index, node, state, attempt, error, started_at, finished_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())`;

async function history(
  q: PgQuery,
  t: { miner: unknown; open_epoch: unknown; partition_index: unknown; deadline_index: unknown },
  node: string,
  state: "done" | "failed" | "lost",
  attempt: number,
  error: string | null,
  startedAt: Date | null,
): Promise<void> {
  await q.query(HISTORY_INSERT, [
    randomUUID(),
    t.miner,
    t.open_epoch,
    t.partition_index,
    t.deadline_index,
    node,
    state,
    attempt,
    error,
    startedAt,
  ]);
}

/**
 * Creates a deadline's partition tasks; tasks that exist already are left alone, so every node that
 * sees the deadline may call it (and retry it) safely. Returns how many this call created.
 */
export async function createDeadlineTasks(pg: Pg, input: DeadlineTasksInput): Promise<number> {
  if (input.partitions.length === 0) return 0;
  if (!(input.close > input.open)) {
    throw new SmError(
      "CLUSTER_BAD_INPUT",
      `a deadline closes after it opens (open ${input.open}, close ${input.close})`,
    );
  }
  const params: unknown[] = [input.miner, input.open, input.deadline, input.close];
  const values = input.partitions.map((p) => {
    checkCount(p.partition, "partition index");
    params.push(p.partition, JSON.stringify(p.job));
    const n = params.length;
    return `($1, $2, $${n - 1}, $3, $4, 'waiting', $${n}::TEXT::JSONB, now(), now())`;
  });
  const rows = await pg.tx((q) =>
    q.query(
      `INSERT INTO partition_tasks (miner, open_epoch, partition_index, deadline_index, close_epoch, state, job, created_at, updated_at)
       VALUES ${values.join(", ")}
       ON CONFLICT (miner, open_epoch, partition_index) DO NOTHING
       RETURNING partition_index`,
      params,
    ),
  );
  return rows.length;
}

interface CandidateRow {
  miner: string;
  open_epoch: string;
  partition_index: number;
  deadline_index: number;
  close_epoch: string;
  state: TaskState;
  job: unknown;
  holder: string | null;
  holder_session: string | null;
  attempts: number;
  started_at: Date | null;
}

/**
 * A task another node may claim: waiting, or running under a lease that expired or whose session was
 * replaced. The last case is what registerNode releases; it is also tested here because a claim of the
 * old session that commits after the re-registration's snapshot escapes that release.
 */
const CLAIMABLE_TASK = `(state = 'waiting' OR (state = 'running'
  AND (lease_expires_at <= now() OR NOT ${sessionCurrent("holder", "holder_session")})))`;

/**
 * Claims up to `max` tasks (default: all the node's free capacity) for `node`, earliest Close first
 * across every miner: waiting tasks, and running ones whose lease expired or whose holder's session
 * was replaced (takeovers, unless the lease was this session's own). Never a task
 * whose Close is at or below `height`, never for a cordoned node (it gets none), and never for a
 * session that is not current (CLUSTER_SESSION_STALE). Concurrent claimers never take the same task:
 * rows are locked FOR UPDATE SKIP LOCKED, so each claimer passes over what another is taking.
 *
 * If the answer is lost (STORE_DB_UNREACHABLE) the claim may have been applied: the tasks it took are
 * then held by nobody who knows it: `heldTasks` finds them, or they come back when their lease expires.
 */
export async function claimTasks(
  pg: Pg,
  node: NodeIdentity,
  opts: { height: number; max?: number; leaseMs?: number },
): Promise<ClaimResult> {
  checkNode(node);
  const leaseMs = checkMs(opts.leaseMs ?? CLUSTER_DEFAULTS.leaseMs, "leaseMs");
  if (opts.max !== undefined) checkCount(opts.max, "max");
  // READ COMMITTED: each statement sees what other claimers committed, and FOR UPDATE re-checks a
  // row that changed while it waited, so claimers skip each other instead of failing serialization
  // (under SERIALIZABLE, PostgreSQL answers most concurrent claims with 40001). Where the database
  // gives a stronger level instead (CockroachDB, YugabyteDB by default), conflicts are retried by tx.
  return pg.tx(
    async (q) => {
      const [me] = await q.query<{ capacity: number; cordoned: boolean; held: string }>(
        `SELECT n.capacity, n.cordoned,
           (SELECT count(*) FROM partition_tasks t WHERE t.state = 'running' AND t.holder = n.name
              AND t.holder_session = n.session AND t.lease_expires_at > now()) AS held
         FROM cluster_nodes n WHERE n.name = $1 AND n.session = $2`,
        [node.name, node.session],
      );
      if (me === undefined) throw await sessionError(q, node);
      const free = Math.max(0, me.capacity - num(me.held));
      const limit = Math.min(free, opts.max ?? free);
      if (me.cordoned || limit === 0) return { tasks: [], takeovers: 0, free };

      const picked = await q.query<CandidateRow>(
        `SELECT miner, open_epoch, partition_index, deadline_index, close_epoch, state, job, holder, holder_session,
           attempts, started_at
         FROM partition_tasks
         WHERE close_epoch > $1 AND ${CLAIMABLE_TASK}
         ORDER BY close_epoch, miner, open_epoch, partition_index
         LIMIT $2
         FOR UPDATE SKIP LOCKED`,
        [opts.height, limit],
      );
      const tasks: ClaimedTask[] = [];
      let takeovers = 0;
      for (const t of picked) {
        // The claimable condition, the Close and the session are checked again here: PostgreSQL
        // re-checks a row locked FOR UPDATE, but not every database in the subset promises to, and a
        // session replaced since the first statement must not take anything.
        const [u] = await q.query<{ attempts: number }>(
          `UPDATE partition_tasks SET state = 'running', holder = $4, holder_session = $5,
             lease_expires_at = now() + ${msInterval(6)}, attempts = attempts + 1, error = NULL,
             started_at = now(), updated_at = now()
           WHERE miner = $1 AND open_epoch = $2 AND partition_index = $3 AND close_epoch > $7
             AND ${CLAIMABLE_TASK} AND ${sessionCurrent("$4", "$5")}
           RETURNING attempts`,
          [t.miner, t.open_epoch, t.partition_index, node.name, node.session, leaseMs, opts.height],
        );
        if (u === undefined) continue;
        const expired = t.state === "running";
        if (expired) {
          const why = t.holder === node.name ? "lease expired or session replaced" : "lease expired";
          await history(q, t, t.holder ?? "", "lost", t.attempts, why, t.started_at);
        }
        // Taking back one's own expired lease moves no work between nodes: not a takeover.
        const takeover = expired && !(t.holder === node.name && t.holder_session === node.session);
        if (takeover) takeovers++;
        tasks.push({
          miner: num(t.miner),
          open: num(t.open_epoch),
          partition: t.partition_index,
          attempt: u.attempts,
          deadline: t.deadline_index,
          close: num(t.close_epoch),
          job: t.job,
          takeover,
          previousHolder: t.holder,
        });
      }
      return { tasks, takeovers, free: free - tasks.length };
    },
    { isolation: "read committed" },
  );
}

/** Placeholders `(($o+1, $o+2, $o+3, $o+4), ...)` for task leases, and their parameters. */
function leaseTuples(leases: readonly TaskLease[], offset: number): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const tuples = leases.map((l, i) => {
    params.push(l.miner, l.open, l.partition, l.attempt);
    const b = offset + i * 4;
    return `($${b + 1}::BIGINT, $${b + 2}::BIGINT, $${b + 3}::INT, $${b + 4}::INT)`;
  });
  return { sql: tuples.join(", "), params };
}

const keyOf = (k: TaskKey): string => `${k.miner}/${k.open}/${k.partition}`;

/**
 * Extends the leases `node` holds by `leaseMs` from now (database clock). A lease that expired, was
 * taken over or whose task ended is not renewed and comes back in `lost`: the node must stop that
 * work and record nothing for it.
 */
export async function renewTaskLeases(
  pg: Pg,
  node: NodeIdentity,
  leases: readonly TaskLease[],
  opts: { leaseMs?: number; timeoutMs?: number } = {},
): Promise<{ renewed: TaskLease[]; lost: TaskLease[] }> {
  checkNode(node);
  const leaseMs = checkMs(opts.leaseMs ?? CLUSTER_DEFAULTS.leaseMs, "leaseMs");
  if (leases.length === 0) return { renewed: [], lost: [] };
  const t = leaseTuples(leases, 3);
  const rows = await pg.tx(
    (q) =>
      q.query<{ miner: string; open_epoch: string; partition_index: number }>(
        `UPDATE partition_tasks SET lease_expires_at = now() + ${msInterval(3)}, updated_at = now()
       WHERE state = 'running' AND holder = $1 AND holder_session = $2 AND lease_expires_at > now()
         AND ${sessionCurrent("$1", "$2")}
         AND (miner, open_epoch, partition_index, attempts) IN (${t.sql})
       RETURNING miner, open_epoch, partition_index`,
        [node.name, node.session, leaseMs, ...t.params],
      ),
    // A renewal that cannot finish within its interval is of no use: the next one is due.
    { timeoutMs: opts.timeoutMs },
  );
  const ok = new Set(
    rows.map((r) => keyOf({ miner: num(r.miner), open: num(r.open_epoch), partition: r.partition_index })),
  );
  return {
    renewed: leases.filter((l) => ok.has(keyOf(l))),
    lost: leases.filter((l) => !ok.has(keyOf(l))),
  };
}

interface LockedTask {
  miner: string;
  open_epoch: string;
  partition_index: number;
  deadline_index: number;
  close_epoch: string;
  state: TaskState;
  holder: string | null;
  holder_session: string | null;
  attempts: number;
  live: boolean;
  started_at: Date | null;
}

interface FencedTask extends LockedTask {
  error: string | null;
  current: boolean;
}

/**
 * Locks the task and decides whether `node` may record a result under `lease`: "ok" when it holds the
 * current unexpired lease, "already" when this very result was recorded before (a retry after a lost
 * answer), else CLUSTER_LEASE_LOST.
 */
async function fence(
  q: PgQuery,
  node: NodeIdentity,
  lease: TaskLease,
  outcome: TaskState,
  what: string,
): Promise<{ verdict: "ok" | "already"; task: FencedTask }> {
  const [task] = await q.query<FencedTask>(
    `SELECT miner, open_epoch, partition_index, deadline_index, close_epoch, state, holder, holder_session,
       attempts, started_at, error, (lease_expires_at IS NOT NULL AND lease_expires_at > now()) AS live,
       ${sessionCurrent("holder", "holder_session")} AS current
     FROM partition_tasks WHERE miner = $1 AND open_epoch = $2 AND partition_index = $3 FOR UPDATE`,
    [lease.miner, lease.open, lease.partition],
  );
  const mine =
    task !== undefined &&
    task.holder === node.name &&
    task.holder_session === node.session &&
    task.attempts === lease.attempt;
  if (mine && task.state === "running" && task.live && task.current) return { verdict: "ok", task };
  if (mine && task.state === outcome) return { verdict: "already", task };
  throw new SmError(
    "CLUSTER_LEASE_LOST",
    `${what} of partition ${lease.partition} of miner ${lease.miner}, deadline open ${lease.open}, refused: ${
      task === undefined
        ? "no such task"
        : mine
          ? task.state === "running"
            ? task.current
              ? "the lease expired"
              : `session ${node.session} of node ${node.name} was replaced by a newer registration`
            : `the task is ${task.state}${task.error === null ? "" : ` (${task.error})`}`
          : `attempt ${lease.attempt} of node ${node.name} is not the task's current lease (${task.state}, attempt ${task.attempts} by ${task.holder ?? "nobody"})`
    }; nothing was recorded`,
    { ...lease, node: node.name, state: task?.state, holder: task?.holder },
  );
}

/**
 * Records a proven partition: the task becomes done with its skipped sectors and faults, and the proof
 * is stored in `partition_proofs`, in the same transaction. Fenced (CLUSTER_LEASE_LOST). Repeating the
 * same call after a lost answer succeeds without writing again (`already: true`).
 */
export async function completeTask(
  pg: Pg,
  node: NodeIdentity,
  lease: TaskLease,
  result: { proof: Uint8Array; skipped?: readonly number[]; faults?: readonly number[] },
): Promise<{ already: boolean }> {
  checkNode(node);
  return pg.tx(async (q) => {
    const { verdict, task } = await fence(q, node, lease, "done", "the proof");
    if (verdict === "already") return { already: true };
    const skipped = JSON.stringify(result.skipped ?? []);
    await q.query(
      `UPDATE partition_tasks SET state = 'done', lease_expires_at = NULL, error = NULL,
         skipped = $4::TEXT::JSONB, faults = $5::TEXT::JSONB, finished_at = now(), updated_at = now()
       WHERE miner = $1 AND open_epoch = $2 AND partition_index = $3`,
      [lease.miner, lease.open, lease.partition, skipped, JSON.stringify(result.faults ?? [])],
    );
    await q.query(
      `INSERT INTO partition_proofs (miner, open_epoch, partition_index, deadline_index, close_epoch, proof, skipped, proven_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7::TEXT::JSONB, $8, now())
       ON CONFLICT (miner, open_epoch, partition_index) DO NOTHING`,
      [
        lease.miner,
        lease.open,
        lease.partition,
        task.deadline_index,
        task.close_epoch,
        Buffer.from(result.proof),
        skipped,
        node.name,
      ],
    );
    await history(q, task, node.name, "done", lease.attempt, null, task.started_at);
    return { already: false };
  });
}

/**
 * Records a failed attempt. With `retry` the task goes back to waiting, for any node (this one
 * included) to claim again before Close; without it the task is failed for good. Fenced like
 * completeTask, and idempotent the same way.
 */
export async function failTask(
  pg: Pg,
  node: NodeIdentity,
  lease: TaskLease,
  failure: { error: string; retry?: boolean },
): Promise<{ already: boolean }> {
  checkNode(node);
  const next: TaskState = failure.retry === true ? "waiting" : "failed";
  return pg.tx(async (q) => {
    const { verdict, task } = await fence(q, node, lease, next, "the failure");
    if (verdict === "already") return { already: true };
    await q.query(
      `UPDATE partition_tasks SET state = $4, lease_expires_at = NULL, error = $5,
         finished_at = CASE WHEN $4 = 'failed' THEN now() ELSE NULL END, updated_at = now()
       WHERE miner = $1 AND open_epoch = $2 AND partition_index = $3`,
      [lease.miner, lease.open, lease.partition, next, failure.error],
    );
    await history(q, task, node.name, "failed", lease.attempt, failure.error, task.started_at);
    return { already: false };
  });
}

/**
 * Every task not done whose Close is at or below `height` becomes failed, with the reason; a holder's
 * later result is then refused by fencing. Returns the tasks it failed. Idempotent.
 */
export async function expireTasksAtClose(pg: Pg, height: number): Promise<TaskKey[]> {
  return pg.tx(async (q) => {
    const rows = await q.query<LockedTask>(
      `SELECT miner, open_epoch, partition_index, deadline_index, close_epoch, state, holder, holder_session,
         attempts, started_at, FALSE AS live
       FROM partition_tasks WHERE state IN ('waiting', 'running') AND close_epoch <= $1
       ORDER BY miner, open_epoch, partition_index FOR UPDATE`,
      [height],
    );
    for (const r of rows) {
      // The holder's session is cleared: fencing must not take this failure for one the holder
      // recorded itself, which a repeated failTask would otherwise answer with `already`.
      const error = `the deadline closed at epoch ${r.close_epoch} (chain height ${height}) before the partition was proven`;
      await q.query(
        `UPDATE partition_tasks SET state = 'failed', lease_expires_at = NULL, error = $4,
           holder_session = NULL, finished_at = now(), updated_at = now()
         WHERE miner = $1 AND open_epoch = $2 AND partition_index = $3`,
        [r.miner, r.open_epoch, r.partition_index, error],
      );
      if (r.state === "running" && r.holder !== null) {
        await history(q, r, r.holder, "failed", r.attempts, error, r.started_at);
      }
    }
    return rows.map((r) => ({ miner: num(r.miner), open: num(r.open_epoch), partition: r.partition_index }));
  });
}

/**
 * A reorg below a deadline's Challenge can change its challenge seed: the tasks made for the old seed,
 * their proofs and the groups not landed are then worthless (a proof answers one seed). Deletes them
 * when the deadline's tasks were made for another seed than `seed` (hex), so they are made afresh;
 * returns whether it did. Idempotent; every member may call it at each start of the deadline.
 */
export async function resetForNewSeed(
  pg: Pg,
  d: { miner: number; open: number; seed: string },
): Promise<boolean> {
  return pg.tx(async (q) => {
    const [t] = await q.query<{ seed: string | null }>(
      "SELECT job->>'seed' AS seed FROM partition_tasks WHERE miner = $1 AND open_epoch = $2 LIMIT 1",
      [d.miner, d.open],
    );
    if (t === undefined || t.seed === null || t.seed === d.seed) return false;
    for (const table of ["partition_tasks", "partition_proofs"])
      await q.query(`DELETE FROM ${table} WHERE miner = $1 AND open_epoch = $2`, [d.miner, d.open]);
    await q.query("DELETE FROM message_groups WHERE miner = $1 AND open_epoch = $2 AND state <> 'landed'", [
      d.miner,
      d.open,
    ]);
    return true;
  });
}
