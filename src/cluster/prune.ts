/**
 * Keeps the work tables bounded: rows of deadlines closed long ago are deleted. The task history has
 * its own bound, by age and count.
 */
import type { Pg } from "../store/pg/db.js";
import { CLUSTER_DEFAULTS, checkCount, checkMs, KEEP_CLOSED_EPOCHS_DEFAULT, msInterval } from "./options.js";

export interface PruneResult {
  tasks: number;
  proofs: number;
  groups: number;
  recoveries: number;
}

/**
 * Deletes the tasks, proofs and message groups of every deadline whose Close is at least
 * `keepEpochs` below `height`, and the recoveries of deadlines that opened that long ago. Running
 * tasks and groups awaiting a receipt are that far past their Close only when every node is gone, so
 * nothing live is deleted. Idempotent; any node may run it.
 */
export async function pruneClosedDeadlines(
  pg: Pg,
  opts: { height: number; keepEpochs?: number },
): Promise<PruneResult> {
  const keep = checkCount(opts.keepEpochs ?? KEEP_CLOSED_EPOCHS_DEFAULT, "keepEpochs");
  const before = opts.height - keep;
  return pg.tx(async (q) => {
    const del = async (sql: string) => (await q.query(sql, [before])).length;
    return {
      tasks: await del("DELETE FROM partition_tasks WHERE close_epoch <= $1 RETURNING miner"),
      proofs: await del("DELETE FROM partition_proofs WHERE close_epoch <= $1 RETURNING miner"),
      groups: await del("DELETE FROM message_groups WHERE close_epoch <= $1 RETURNING miner"),
      recoveries: await del("DELETE FROM recoveries WHERE open_epoch <= $1 RETURNING miner"),
    };
  });
}

/**
 * Keeps the task history bounded: deletes rows older than `maxAgeMs`, then all but the newest
 * `maxRows`. Returns how many rows it deleted. Any node may run it; running it twice is harmless.
 */
export async function pruneTaskHistory(
  pg: Pg,
  limits: { maxAgeMs?: number; maxRows?: number } = {},
): Promise<number> {
  const maxAgeMs = checkMs(limits.maxAgeMs ?? CLUSTER_DEFAULTS.history.maxAgeMs, "history maxAgeMs");
  const maxRows = checkCount(limits.maxRows ?? CLUSTER_DEFAULTS.history.maxRows, "history maxRows");
  return pg.tx(async (q) => {
    const old = await q.query(
      `DELETE FROM task_history WHERE finished_at < now() - ${msInterval(1)} RETURNING id`,
      [maxAgeMs],
    );
    const extra = await q.query(
      `DELETE FROM task_history WHERE id IN
         (SELECT id FROM task_history ORDER BY finished_at DESC, id OFFSET $1)
       RETURNING id`,
      [maxRows],
    );
    return old.length + extra.length;
  });
}
