/**
 * The cluster part of the dashboard, read from the database: the nodes, the task counts of the last
 * proving period, what each node runs now, each recent task's holder (for the current deadline's partitions), and the task
 * takeovers of the whole cluster over the last day.
 */
import { countTakeovers, listNodes, listTasks } from "../cluster/index.js";
import type { Pg } from "../store/pg/db.js";
import type { TaskMark } from "./minerView.js";
import type { ClusterView, TaskCounts } from "./types.js";

/** The window of ClusterView.takeovers. */
export const TAKEOVER_WINDOW_MS = 86_400_000;

export function emptyCounts(): TaskCounts {
  return { waiting: 0, running: 0, done: 0, failed: 0 };
}

/** `since`: tasks whose Close is older say nothing about now (null: count them all). */
export async function readCluster(
  pg: Pg,
  since: number | null,
): Promise<{ view: ClusterView; tasks: Map<string, TaskMark> }> {
  const nodes = await listNodes(pg);
  const list = await listTasks(pg, { limit: 1000 });
  const counts = emptyCounts();
  const tasks = new Map<string, TaskMark>();
  const holds = new Map<string, string[]>();
  for (const t of list) {
    if (since !== null && t.close < since) continue;
    counts[t.state]++;
    if (t.state === "running" && t.node !== null)
      holds.set(t.node, [
        ...(holds.get(t.node) ?? []),
        `f0${t.miner} deadline ${t.deadline} partition ${t.partition}`,
      ]);
    tasks.set(`f0${t.miner}@${t.open}#${t.partition}`, {
      state: t.state,
      node: t.node,
      skipped: t.skipped?.length ?? 0,
    });
  }
  const takeovers = await countTakeovers(pg, TAKEOVER_WINDOW_MS);
  return {
    tasks,
    view: {
      nodes: nodes.map((n) => ({
        name: n.name,
        alive: n.alive,
        capacity: n.capacity,
        inFlight: n.tasksInFlight,
        cordoned: n.cordoned,
        lastHeartbeat: n.lastHeartbeat.toISOString(),
        holds: holds.get(n.name) ?? [],
      })),
      takeovers,
      tasks: counts,
    },
  };
}
