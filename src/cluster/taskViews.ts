/**
 * Read-only views of the partition tasks, for `vsm util cluster tasks`, for whoever submits a
 * deadline's proofs, and for tests.
 */
import type { Pg } from "../store/pg/db.js";
import { msInterval, num } from "./options.js";
import type { ClaimedTask, TaskState } from "./tasks.js";
import type { NodeIdentity, TaskKey } from "./types.js";

export interface TaskInfo extends TaskKey {
  deadline: number;
  close: number;
  state: TaskState;
  /** The node that holds or last held it. */
  node: string | null;
  attempts: number;
  error: string | null;
  skipped: number[] | null;
  faults: number[] | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  leaseExpiresAt: Date | null;
  /**
   * Running under a lease that has expired on the database's clock: its holder stopped renewing (dead,
   * hung or cut off), and the next claim by any node takes it over.
   */
  leaseExpired: boolean;
}

export interface StoredProof {
  partition: number;
  proof: Buffer;
  skipped: number[] | null;
  provenBy: string;
}

// JSONB parameters are sent as text and cast on the server (`$n::TEXT::JSONB`): cast straight to JSONB,
// the client would learn the parameter is JSON and encode our already-encoded string a second time.
/** Tasks for display (`vsm util cluster tasks`), newest deadline first. */
export async function listTasks(
  pg: Pg,
  filter: { miner?: number; deadline?: number; limit?: number } = {},
): Promise<TaskInfo[]> {
  const rows = await pg.query<{
    miner: string;
    open_epoch: string;
    partition_index: number;
    deadline_index: number;
    close_epoch: string;
    state: TaskState;
    holder: string | null;
    attempts: number;
    error: string | null;
    skipped: number[] | null;
    faults: number[] | null;
    created_at: Date;
    updated_at: Date;
    started_at: Date | null;
    finished_at: Date | null;
    lease_expires_at: Date | null;
    lease_expired: boolean;
  }>(
    `SELECT miner, open_epoch, partition_index, deadline_index, close_epoch, state, holder, attempts, error,
       skipped, faults, created_at, updated_at, started_at, finished_at, lease_expires_at,
       (state = 'running' AND lease_expires_at <= now()) AS lease_expired
     FROM partition_tasks
     WHERE ($1::BIGINT IS NULL OR miner = $1::BIGINT) AND ($2::INT IS NULL OR deadline_index = $2::INT)
     ORDER BY open_epoch DESC, miner, partition_index
     LIMIT $3`,
    [filter.miner ?? null, filter.deadline ?? null, filter.limit ?? 1000],
  );
  return rows.map((r) => ({
    miner: num(r.miner),
    open: num(r.open_epoch),
    partition: r.partition_index,
    deadline: r.deadline_index,
    close: num(r.close_epoch),
    state: r.state,
    node: r.holder,
    attempts: r.attempts,
    error: r.error,
    skipped: r.skipped,
    faults: r.faults,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    leaseExpiresAt: r.lease_expires_at,
    leaseExpired: r.lease_expired === true,
  }));
}

/** The stored proofs of a deadline occurrence, by partition index (reused until Close by whoever submits). */
export async function deadlineProofs(pg: Pg, miner: number, open: number): Promise<StoredProof[]> {
  const rows = await pg.query<{
    partition_index: number;
    proof: Buffer;
    skipped: number[] | null;
    proven_by: string;
  }>(
    `SELECT partition_index, proof, skipped, proven_by FROM partition_proofs
     WHERE miner = $1 AND open_epoch = $2 ORDER BY partition_index`,
    [miner, open],
  );
  return rows.map((r) => ({
    partition: r.partition_index,
    proof: r.proof,
    skipped: r.skipped,
    provenBy: r.proven_by,
  }));
}

/** Attempts of one task, newest first (for display and tests). */
export async function taskHistory(
  pg: Pg,
  key: TaskKey,
): Promise<
  {
    node: string;
    state: "done" | "failed" | "lost";
    attempt: number;
    error: string | null;
    finishedAt: Date;
  }[]
> {
  const rows = await pg.query<{
    node: string;
    state: "done" | "failed" | "lost";
    attempt: number;
    error: string | null;
    finished_at: Date;
  }>(
    `SELECT node, state, attempt, error, finished_at FROM task_history
     WHERE miner = $1 AND open_epoch = $2 AND partition_index = $3 ORDER BY finished_at DESC, attempt DESC`,
    [key.miner, key.open, key.partition],
  );
  return rows.map((r) => ({
    node: r.node,
    state: r.state,
    attempt: r.attempt,
    error: r.error,
    finishedAt: r.finished_at,
  }));
}

/**
 * The tasks `node` holds under a live lease, as claims. After a claim whose answer was lost
 * (STORE_DB_UNREACHABLE: it may have been applied), the node reads what it holds here and either
 * proves those tasks or lets their leases run out, instead of leaving them idle for a lease.
 */
export async function heldTasks(pg: Pg, node: NodeIdentity): Promise<ClaimedTask[]> {
  const rows = await pg.query<{
    miner: string;
    open_epoch: string;
    partition_index: number;
    deadline_index: number;
    close_epoch: string;
    job: unknown;
    attempts: number;
  }>(
    `SELECT miner, open_epoch, partition_index, deadline_index, close_epoch, job, attempts FROM partition_tasks
     WHERE state = 'running' AND holder = $1 AND holder_session = $2 AND lease_expires_at > now()
     ORDER BY close_epoch, miner, open_epoch, partition_index`,
    [node.name, node.session],
  );
  return rows.map((r) => ({
    miner: num(r.miner),
    open: num(r.open_epoch),
    partition: r.partition_index,
    attempt: r.attempts,
    deadline: r.deadline_index,
    close: num(r.close_epoch),
    job: r.job,
    takeover: false,
    previousHolder: null,
  }));
}

/** Failed attempts recorded for one task (takeovers and restarts are `lost`, not failures). */
export async function taskFailures(pg: Pg, key: TaskKey): Promise<number> {
  const [r] = await pg.query<{ n: string }>(
    `SELECT count(*) AS n FROM task_history
     WHERE miner = $1 AND open_epoch = $2 AND partition_index = $3 AND state = 'failed'`,
    [key.miner, key.open, key.partition],
  );
  return Number(r?.n ?? 0);
}

/**
 * Whether a task not done, or a group not sent, has its Close at or below `height`: one cheap
 * statement a node runs on each head before the Close expiry, whose answer is nearly always no.
 */
export async function unfinishedPastClose(pg: Pg, height: number): Promise<boolean> {
  const [r] = await pg.query<{ any: boolean }>(
    `SELECT (EXISTS (SELECT 1 FROM partition_tasks WHERE state IN ('waiting', 'running') AND close_epoch <= $1)
       OR EXISTS (SELECT 1 FROM message_groups WHERE state IN ('waiting', 'claimed') AND close_epoch <= $1)) AS any`,
    [height],
  );
  return r?.any === true;
}

/**
 * Task takeovers in the whole cluster over the last `sinceMs`: claims that replaced an expired lease,
 * recorded as `lost` attempts in the task history (pruned by age and count, so a long window may come
 * out short). Message groups and recoveries taken over are not counted here.
 */
export async function countTakeovers(pg: Pg, sinceMs: number): Promise<number> {
  const [r] = await pg.query<{ n: string }>(
    `SELECT count(*) AS n FROM task_history
      WHERE state = 'lost' AND finished_at > now() - ${msInterval(1)}`,
    [Math.round(sinceMs)],
  );
  return Number(r?.n ?? 0);
}
