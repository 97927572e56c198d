/**
 * One claimed partition task run to its end on this node (member.ts starts it): the job read back,
 * checked and proven (proveTask.ts), and the result recorded under the task's lease, fenced. A
 * failure is handed back for any node while fewer than TASK_ATTEMPTS attempts have failed (a sector
 * store mounted on other machines only, a prover failing here), then failed for good. Work whose
 * lease is lost, locally or in the database, records nothing.
 */
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/metrics.js";
import { isTransient } from "../poster/retry.js";
import type { Pg } from "../store/pg/db.js";
import { errorMessage, SmError } from "../util/errors.js";
import { sleep } from "../util/time.js";
import type { LocalLease } from "./localLease.js";
import { proveTask, type TaskProveDeps } from "./proveTask.js";
import { parseTaskJob } from "./taskJob.js";
import { type ClaimedTask, completeTask, failTask } from "./tasks.js";
import { taskFailures } from "./taskViews.js";
import type { NodeIdentity, TaskLease } from "./types.js";

/** A failed check or proof is handed back for another node until this many attempts have failed. */
export const TASK_ATTEMPTS = 3;

export type TaskEnd = "done" | "failed" | "retry" | "lost";

export interface TaskRunContext {
  pg: Pg;
  id: NodeIdentity;
  deps: TaskProveDeps;
  metrics?: Metrics | undefined;
  log: Logger;
  /** Chain height when the task started (recorded with the proof). */
  height: number;
  /** How the attempt ended (not called when the node is shutting down: it hands the task back). */
  ended: (outcome: TaskEnd) => void;
}

export async function runClaimedTask(
  c: TaskRunContext,
  t: ClaimedTask,
  lease: TaskLease,
  local: LocalLease,
  signal: AbortSignal,
): Promise<void> {
  const { log } = c;
  const end = (outcome: TaskEnd) => {
    c.metrics?.clusterTaskResults.inc({ outcome });
    c.ended(outcome);
  };
  let outcome: Awaited<ReturnType<typeof proveTask>>;
  try {
    const job = parseTaskJob(t.job);
    outcome = await proveTask(job, c.deps, { height: c.height, signal, log });
    // A check stopped by the signal reports its sectors skipped ("check aborted"), which is no
    // outcome: recorded, it would fail the partition for good ("nothing provable").
    signal.throwIfAborted();
  } catch (e) {
    if (local.signal.aborted) {
      end("lost");
      log.warn("partition task dropped: this node no longer holds it", {
        why: errorMessage(local.signal.reason),
      });
      return;
    }
    if (signal.aborted) return; // shutdown: the member hands it back
    const retry =
      !(e instanceof SmError && e.code === "CLUSTER_BAD_JOB") &&
      (isTransient(e) || (await failuresBefore(c, lease)) + 1 < TASK_ATTEMPTS);
    log.error(
      retry ? "partition task failed; handed back for another try" : "partition task failed for good",
      { err: errorMessage(e) },
    );
    await record(c, "fail", local, () => failTask(c.pg, c.id, lease, { error: errorMessage(e), retry }));
    end(retry ? "retry" : "failed");
    return;
  }
  if (outcome.kind === "none") {
    // A store mounted on other machines only leaves nothing provable here: another node may do better.
    const retry = (await failuresBefore(c, lease)) + 1 < TASK_ATTEMPTS;
    const error = `nothing provable on ${c.id.name}: ${outcome.skipped.length} sector(s) failed their check or were reported faulty`;
    log.warn(
      retry
        ? "partition has nothing provable on this node; handed back for another node"
        : "partition has nothing provable; left out (its sectors become faulty at Close)",
      { skipped: outcome.skipped.length, reasons: outcome.failed.slice(0, 5) },
    );
    await record(c, "fail", local, () => failTask(c.pg, c.id, lease, { error, retry }));
    end(retry ? "retry" : "failed");
    return;
  }
  const proven = outcome;
  const ok = await record(c, "complete", local, () =>
    completeTask(c.pg, c.id, lease, { proof: proven.proof, skipped: proven.skipped, faults: proven.faults }),
  );
  if (!ok) return end("lost");
  end("done");
  log.info("partition proven", { sectors: proven.sectors, skipped: proven.skipped.length, ms: proven.ms });
}

/** Failed attempts recorded for the task so far (claims lost to takeovers or restarts do not count). */
async function failuresBefore(c: TaskRunContext, lease: TaskLease): Promise<number> {
  try {
    return await taskFailures(c.pg, lease);
  } catch {
    return 0;
  }
}

/**
 * Records a task's end, retrying through an unreachable database while the lease is still valid
 * locally (every call is safe to repeat); false when the lease was lost (nothing recorded).
 */
async function record(
  c: TaskRunContext,
  op: "complete" | "fail",
  local: LocalLease,
  write: () => Promise<unknown>,
): Promise<boolean> {
  for (let delay = 200; ; delay = Math.min(delay * 2, 2000)) {
    if (local.left() <= 0) {
      c.log.warn("result not recorded: the lease ran out before the database answered", { task: local.what });
      return false;
    }
    try {
      await write();
      return true;
    } catch (e) {
      c.metrics?.clusterDbErrors.inc({ op });
      if (e instanceof SmError && e.code === "CLUSTER_LEASE_LOST") {
        c.log.warn("result refused: another node holds the task now", { err: e.message });
        return false;
      }
      if (!isTransient(e)) throw e;
      await sleep(Math.min(delay, local.left()));
    }
  }
}
