/**
 * The dashboard's cluster view on a real PostgreSQL server: the nodes as the database lists them,
 * the task counts, the cluster's task takeovers (from the task history), and the dead-node alert.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { claimTasks, createDeadlineTasks } from "../../../src/cluster/index.js";
import { nullLogger } from "../../../src/log/logger.js";
import { DashboardModel } from "../../../src/ui/state.js";
import { clusterDbFixture } from "../../helpers/clusterDb.js";

describe("dashboard cluster view", { timeout: 55_000 }, () => {
  const { freshDb, node } = clusterDbFixture("uicluster");

  test("nodes, tasks by state, takeovers; a node past its heartbeats raises cluster-node-dead", async () => {
    const { pg } = await freshDb();
    const a = await node(pg, "a", 2);
    const b = await node(pg, "b", 1);
    await node(pg, "c", 1);
    await createDeadlineTasks(pg, {
      miner: 1000,
      deadline: 3,
      open: 100,
      close: 160,
      partitions: [0, 1, 2].map((p) => ({ partition: p, job: { actor: 1000, partition: p } })),
    });
    const claimed = await claimTasks(pg, a, { height: 110, max: 1 });
    assert.equal(claimed.tasks.length, 1);
    // a's lease runs out and b takes the task over: a takeover of the cluster, counted by every node.
    await pg.query(
      `UPDATE partition_tasks SET lease_expires_at = now() - INTERVAL '1 second' WHERE holder = 'a'`,
    );
    const taken = await claimTasks(pg, b, { height: 111, max: 1 });
    assert.equal(taken.takeovers, 1);
    // A takeover older than the window is not counted.
    await pg.query(
      `INSERT INTO task_history (id, miner, open_epoch, partition_index, deadline_index, node, state, attempt, finished_at)
       VALUES (gen_random_uuid(), 1000, 40, 0, 2, 'b', 'lost', 1, now() - INTERVAL '25 hours')`,
    );
    // b stopped beating an hour ago; c too, but it was cordoned (taken out on purpose).
    await pg.query(
      `UPDATE cluster_nodes SET last_heartbeat = now() - INTERVAL '1 hour' WHERE name IN ('b', 'c')`,
    );
    await pg.query(`UPDATE cluster_nodes SET cordoned = true WHERE name = 'c'`);
    const m = new DashboardModel({
      name: () => "a",
      version: "v",
      modules: ["poster"],
      miners: [],
      cluster: { pg },
      logger: nullLogger,
    });
    await m.refresh();
    const s = m.snapshot();
    assert.ok(s.cluster);
    assert.deepEqual(
      s.cluster.nodes.map((n) => [n.name, n.alive, n.capacity, n.inFlight, n.cordoned]),
      [
        ["a", true, 2, 0, false],
        ["b", false, 1, 1, false],
        ["c", false, 1, 0, true],
      ],
    );
    assert.ok(s.cluster.nodes.every((n) => !Number.isNaN(Date.parse(n.lastHeartbeat))));
    assert.deepEqual(
      s.cluster.nodes.map((n) => [n.name, n.holds]),
      [
        ["a", []],
        ["b", ["f01000 deadline 3 partition 0"]],
        ["c", []],
      ],
    );
    assert.deepEqual(s.cluster.tasks, { waiting: 2, running: 1, done: 0, failed: 0 });
    assert.equal(s.cluster.takeovers, 1);
    assert.deepEqual(
      s.alerts.map((x) => x.id),
      ["cluster-node-dead:b"],
    );
    await m.close();
  });
});
