/**
 * `--poster` on the cluster database (`[Common.DB] Driver = "postgres"`): the node joins the PoSter
 * cluster (src/cluster) and its Poster runs each deadline through it, so that every member shares
 * every miner's partitions and messages. The member's prover capacity is what this node can prove at
 * once: the sum of its ext-prover WdPost children's `Concurrent`, or its worker threads.
 */
import { clusterDeadlineRunner } from "../cluster/deadline.js";
import { ClusterMember } from "../cluster/member.js";
import type { ClusterTimings } from "../cluster/options.js";
import type { TaskProveDeps } from "../cluster/proveTask.js";
import { clusterRecoveries } from "../cluster/recover.js";
import type { SectorManagerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/metrics.js";
import type { PosterHooks } from "../poster/poster.js";
import { errorMessage } from "../util/errors.js";
import { sleep } from "../util/time.js";
import type { ClusterDb } from "./clusterDb.js";

export interface ClusterPoster {
  hooks: PosterHooks;
  /** Settles once the member has stopped and handed back its tasks (after `shutdown`). */
  done: Promise<void>;
}

/** The cluster timings of `[Common.DB.Postgres]`. */
export function clusterTimings(config: SectorManagerConfig): ClusterTimings {
  const p = config.Common.DB.Postgres;
  return {
    leaseMs: p.LeaseTimeoutMs,
    renewEveryMs: p.LeaseRenewIntervalMs,
    heartbeatEveryMs: p.HeartbeatIntervalMs,
    missedHeartbeats: Math.max(1, Math.round(p.NodeDeadAfterMs / p.HeartbeatIntervalMs)),
  };
}

/**
 * Joins the cluster once the schema is in place (waiting out an unreachable database), or returns
 * undefined when `shutdown` comes first.
 */
export async function joinCluster(
  config: SectorManagerConfig,
  deps: {
    db: ClusterDb;
    name: string;
    address: string;
    capacity: () => number;
    prove: TaskProveDeps;
    metrics: Metrics;
    logger: Logger;
    shutdown: AbortSignal;
  },
): Promise<ClusterPoster | undefined> {
  const log = deps.logger.named("cluster");
  for (let delay = 1000; !deps.db.gate.ready; delay = Math.min(delay * 2, 10_000)) {
    try {
      await deps.db.gate.ensure();
    } catch (e) {
      if (deps.shutdown.aborted) return undefined;
      log.warn("cluster database not ready; the PoSter joins once it is", {
        err: errorMessage(e),
        retry_ms: delay,
      });
      await sleep(delay, deps.shutdown).catch(() => {});
      if (deps.shutdown.aborted) return undefined;
    }
  }
  const timings = clusterTimings(config);
  let member: ClusterMember;
  try {
    member = await ClusterMember.join(
      deps.db.pg,
      {
        name: deps.name,
        address: deps.address,
        capacity: deps.capacity,
        timings,
        deps: deps.prove,
        metrics: deps.metrics,
        logger: log,
      },
      deps.shutdown,
    );
  } catch (e) {
    if (deps.shutdown.aborted) return undefined;
    throw e;
  }
  const done = member
    .run(deps.shutdown)
    .catch((e) => log.error("cluster member stopped", { err: errorMessage(e) }));
  const c = { pg: deps.db.pg, member, leaseMs: timings.leaseMs };
  return {
    hooks: {
      runDeadline: clusterDeadlineRunner(c),
      declareRecoveries: clusterRecoveries(c),
      onHead: (h) => member.onHead(h),
    },
    done,
  };
}
