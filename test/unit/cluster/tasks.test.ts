/**
 * The cluster's partition tasks on a real PostgreSQL server: concurrent claims, earliest Close first,
 * capacity, lease expiry and takeover, fencing of stale holders, renewals, cordon, restarts under the
 * same name, idempotent creation, expiry at Close and the bounded history.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  claimTasks,
  completeTask,
  createDeadlineTasks,
  deadlineProofs,
  expireTasksAtClose,
  failTask,
  heartbeat,
  heldTasks,
  listNodes,
  listTasks,
  pruneClosedDeadlines,
  pruneTaskHistory,
  renewTaskLeases,
  setCapacity,
  setCordoned,
  taskHistory,
} from "../../../src/cluster/index.js";
import type { Pg } from "../../../src/store/pg/db.js";
import { SmError } from "../../../src/util/errors.js";
import { clusterDbFixture, rejectsWith } from "../../helpers/clusterDb.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function partitions(n: number, miner = 1000) {
  return Array.from({ length: n }, (_, i) => ({ partition: i, job: { actor: miner, partition: i } }));
}

/** Creates `n` partition tasks of one deadline of `miner` (1000 unless given). */
function deadlineTasks(
  pg: Pg,
  d: { deadline: number; open: number; close: number; n: number; miner?: number },
): ReturnType<typeof createDeadlineTasks> {
  const miner = d.miner ?? 1000;
  const { deadline, open, close } = d;
  return createDeadlineTasks(pg, { miner, deadline, open, close, partitions: partitions(d.n, miner) });
}

/** Ends a task's lease now, on the database's clock, instead of sleeping past it. */
async function expireTask(pg: Pg, k: { miner: number; open: number; partition: number }): Promise<void> {
  await pg.query(
    `UPDATE partition_tasks SET lease_expires_at = now() - INTERVAL '1 millisecond'
     WHERE miner = $1 AND open_epoch = $2 AND partition_index = $3`,
    [k.miner, k.open, k.partition],
  );
}

describe("cluster tasks", { timeout: 55_000 }, () => {
  const { open, freshDb, node } = clusterDbFixture("tasks");

  test("creating a deadline's tasks twice creates them once", async () => {
    const { pg } = await freshDb();
    const input = { miner: 1000, deadline: 3, open: 100, close: 160, partitions: partitions(4) };
    assert.equal(await createDeadlineTasks(pg, input), 4);
    assert.equal(await createDeadlineTasks(pg, input), 0);
    const tasks = await listTasks(pg);
    assert.equal(tasks.length, 4);
    assert.ok(tasks.every((t) => t.state === "waiting" && t.deadline === 3 && t.close === 160));
  });

  test("concurrent claimers on separate connections never take the same task", async () => {
    const { dsn, pg } = await freshDb();
    const claimers = await Promise.all(
      [0, 1, 2, 3, 4].map(async (i) => {
        const c = open(dsn);
        return { pg: c, id: await node(c, `n${i}`, 3) };
      }),
    );
    for (let round = 0; round < 8; round++) {
      const open_ = 1000 + round * 100;
      await createDeadlineTasks(pg, {
        miner: 1000,
        deadline: 0,
        open: open_,
        close: open_ + 60,
        partitions: partitions(12),
      });
      const results = await Promise.all(
        claimers.map((c) => claimTasks(c.pg, c.id, { height: open_ - 10, max: 3 })),
      );
      const keys = results.flatMap((r) => r.tasks.map((t) => `${t.open}/${t.partition}`));
      assert.equal(new Set(keys).size, keys.length, `round ${round}: a task was claimed twice: ${keys}`);
      assert.equal(keys.length, 12, `round ${round}: 5 claimers × 3 cover the 12 tasks`);
      // Finish them so each round starts with free capacity.
      await Promise.all(
        claimers.flatMap(
          (c, i) =>
            results[i]?.tasks.map((t) => completeTask(c.pg, c.id, t, { proof: new Uint8Array([round]) })) ??
            [],
        ),
      );
    }
  });

  test("under racing claims, expiring leases and late results, each task accepts exactly one result", async () => {
    const { dsn, pg } = await freshDb();
    const N = 24;
    await deadlineTasks(pg, { deadline: 0, open: 100, close: 160, n: N });
    const workers = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(async (i) => {
        const c = open(dsn);
        return { pg: c, id: await node(c, `w${i}`, 2) };
      }),
    );
    const accepted = new Map<number, string[]>();
    let refused = 0;
    // Each worker claims and "proves" for a moment; about half of its leases are ended meanwhile (as
    // a worker that stopped renewing would lose them), so those results must be refused and their
    // tasks taken over by the racing claimers. Ending leases explicitly keeps the race independent
    // of how fast a loaded machine runs.
    let rng = 7;
    const random = () => {
      rng = (rng * 1103515245 + 12345) % 2 ** 31;
      return rng / 2 ** 31;
    };
    const deadlineAt = Date.now() + 20_000;
    await Promise.all(
      workers.map(async (w) => {
        while (Date.now() < deadlineAt) {
          const { tasks } = await claimTasks(w.pg, w.id, { height: 90, leaseMs: 60_000 });
          if (tasks.length === 0) {
            const left = (await listTasks(pg)).filter((t) => t.state !== "done").length;
            if (left === 0) return;
            await sleep(30);
            continue;
          }
          await Promise.all(
            tasks.map(async (t) => {
              if (random() < 0.5) await expireTask(pg, t);
              await sleep(random() * 50);
              try {
                await completeTask(w.pg, w.id, t, { proof: new Uint8Array([t.attempt]) });
                accepted.set(t.partition, [...(accepted.get(t.partition) ?? []), w.id.name]);
              } catch (e) {
                assert.ok(e instanceof SmError && e.code === "CLUSTER_LEASE_LOST", String(e));
                refused++;
              }
            }),
          );
        }
      }),
    );
    assert.equal(accepted.size, N, "every task finished");
    for (const [p, by] of accepted) assert.equal(by.length, 1, `partition ${p} accepted ${by.join(", ")}`);
    assert.ok(refused > 0, "some results came after their lease and were refused");
    const proofs = await deadlineProofs(pg, 1000, 100);
    assert.equal(proofs.length, N);
    const byPartition = new Map((await listTasks(pg)).map((t) => [t.partition, t]));
    for (const p of proofs) {
      // The stored proof is the accepted attempt's: the proof bytes carry the attempt number.
      assert.equal(p.proof[0], byPartition.get(p.partition)?.attempts, `partition ${p.partition}`);
      assert.equal(p.provenBy, accepted.get(p.partition)?.[0]);
    }
  });

  test("claims go earliest Close first across miners, within capacity", async () => {
    const { pg } = await freshDb();
    await deadlineTasks(pg, { deadline: 5, open: 300, close: 360, n: 3, miner: 2000 });
    await deadlineTasks(pg, { deadline: 4, open: 270, close: 330, n: 3 });
    const a = await node(pg, "a", 4);
    const first = await claimTasks(pg, a, { height: 280 });
    assert.deepEqual(
      first.tasks.map((t) => [t.miner, t.partition]),
      [
        [1000, 0],
        [1000, 1],
        [1000, 2],
        [2000, 0],
      ],
    );
    assert.equal(first.free, 0);
    assert.deepEqual(first.tasks[0]?.job, { actor: 1000, partition: 0 }, "the job comes back as it went in");
    const second = await claimTasks(pg, a, { height: 280 });
    assert.equal(second.tasks.length, 0, "capacity 4 is full");
    const t0 = first.tasks[0];
    assert.ok(t0);
    await completeTask(pg, a, t0, { proof: new Uint8Array([1]), skipped: [7], faults: [9] });
    const third = await claimTasks(pg, a, { height: 280 });
    assert.deepEqual(
      third.tasks.map((t) => [t.miner, t.partition]),
      [[2000, 1]],
    );
    const done = (await listTasks(pg, { miner: 1000 })).find((t) => t.partition === 0);
    assert.deepEqual([done?.state, done?.skipped, done?.faults, done?.node], ["done", [7], [9], "a"]);
    const proofs = await deadlineProofs(pg, 1000, 270);
    assert.deepEqual(
      proofs.map((p) => [p.partition, [...p.proof], p.provenBy]),
      [[0, [1], "a"]],
    );
  });

  test("a task is never claimed at or past its Close", async () => {
    const { pg } = await freshDb();
    await deadlineTasks(pg, { deadline: 1, open: 100, close: 160, n: 2 });
    const a = await node(pg, "a");
    assert.equal((await claimTasks(pg, a, { height: 160 })).tasks.length, 0);
    assert.equal((await claimTasks(pg, a, { height: 159 })).tasks.length, 2);
  });

  test("a lease not renewed expires and the task is taken over; the stale holder's results are refused", async () => {
    const { dsn, pg } = await freshDb();
    await deadlineTasks(pg, { deadline: 1, open: 100, close: 160, n: 1 });
    const a = await node(pg, "a");
    const pgB = open(dsn);
    const b = await node(pgB, "b");
    // The one test on the wall clock: leases of 3 s, checked live at most ~1 s after their renewal,
    // so a stall of up to 2 s on a loaded machine does not fail it; the expiry checks sleep past the
    // lease after the renewal answered, which holds however slow the machine is.
    const [held] = (await claimTasks(pg, a, { height: 90, leaseMs: 3000 })).tasks;
    assert.ok(held);
    assert.equal(
      (await claimTasks(pgB, b, { height: 90, leaseMs: 3000 })).tasks.length,
      0,
      "the lease is live",
    );
    // Renewed once in time: still held.
    await sleep(500);
    assert.equal((await renewTaskLeases(pg, a, [held], { leaseMs: 3000 })).renewed.length, 1);
    await sleep(1000);
    assert.equal(
      (await claimTasks(pgB, b, { height: 90, leaseMs: 3000 })).tasks.length,
      0,
      "renewed lease is live",
    );
    await sleep(2200);
    const taken = await claimTasks(pgB, b, { height: 90, leaseMs: 5000 });
    assert.equal(taken.takeovers, 1);
    const [t] = taken.tasks;
    assert.ok(t);
    assert.deepEqual([t.takeover, t.previousHolder, t.attempt], [true, "a", 2]);
    // The stale holder: refused everywhere, nothing changes.
    await rejectsWith(completeTask(pg, a, held, { proof: new Uint8Array([1]) }), "CLUSTER_LEASE_LOST");
    await rejectsWith(failTask(pg, a, held, { error: "x" }), "CLUSTER_LEASE_LOST");
    const renew = await renewTaskLeases(pg, a, [held]);
    assert.deepEqual([renew.renewed.length, renew.lost.length], [0, 1]);
    assert.equal((await deadlineProofs(pg, 1000, 100)).length, 0);
    const [row] = await listTasks(pg);
    assert.deepEqual([row?.state, row?.node, row?.attempts], ["running", "b", 2]);
    // The new holder records; a repeat of its call (lost answer) succeeds without writing twice.
    assert.deepEqual(await completeTask(pgB, b, t, { proof: new Uint8Array([2]) }), { already: false });
    assert.deepEqual(await completeTask(pgB, b, t, { proof: new Uint8Array([2]) }), { already: true });
    const hist = await taskHistory(pg, t);
    assert.deepEqual(
      hist.map((h) => [h.node, h.state, h.attempt]),
      [
        ["b", "done", 2],
        ["a", "lost", 1],
      ],
    );
  });

  test("an expired lease refuses a result even before anyone takes the task over", async () => {
    const { pg } = await freshDb();
    await deadlineTasks(pg, { deadline: 1, open: 100, close: 160, n: 1 });
    const a = await node(pg, "a");
    const [held] = (await claimTasks(pg, a, { height: 90, leaseMs: 200 })).tasks;
    assert.ok(held);
    await sleep(300);
    await rejectsWith(completeTask(pg, a, held, { proof: new Uint8Array([1]) }), "CLUSTER_LEASE_LOST");
    assert.equal((await renewTaskLeases(pg, a, [held])).lost.length, 1);
  });

  test("renew tells which leases were lost", async () => {
    const { dsn, pg } = await freshDb();
    await deadlineTasks(pg, { deadline: 1, open: 100, close: 160, n: 3 });
    const a = await node(pg, "a");
    const pgB = open(dsn);
    const b = await node(pgB, "b", 1);
    const held = (await claimTasks(pg, a, { height: 90, leaseMs: 60_000 })).tasks;
    assert.equal(held.length, 3);
    const [h0, h1, h2] = held;
    assert.ok(h0 && h1 && h2);
    await expireTask(pg, h1);
    const [taken] = (await claimTasks(pgB, b, { height: 90 })).tasks;
    assert.equal(taken?.partition, 1);
    const r = await renewTaskLeases(pg, a, held, { leaseMs: 60_000 });
    assert.deepEqual(
      r.renewed.map((l) => l.partition),
      [0, 2],
    );
    assert.deepEqual(
      r.lost.map((l) => l.partition),
      [1],
    );
  });

  test("a cordoned node claims nothing, finishes what it holds, and claims again once uncordoned", async () => {
    const { pg } = await freshDb();
    await deadlineTasks(pg, { deadline: 1, open: 100, close: 160, n: 3 });
    const a = await node(pg, "a");
    const [held] = (await claimTasks(pg, a, { height: 90, max: 1 })).tasks;
    assert.ok(held);
    await setCordoned(pg, "a", true);
    assert.equal((await claimTasks(pg, a, { height: 90 })).tasks.length, 0);
    assert.equal((await renewTaskLeases(pg, a, [held])).renewed.length, 1);
    await completeTask(pg, a, held, { proof: new Uint8Array([1]) });
    const [info] = await listNodes(pg);
    assert.equal(info?.cordoned, true);
    await setCordoned(pg, "a", false);
    assert.equal((await claimTasks(pg, a, { height: 90 })).tasks.length, 2);
    await rejectsWith(setCordoned(pg, "nobody", true), "CLUSTER_NODE_UNKNOWN");
  });

  test("a node re-registered under the same name cannot finish its old tasks, which are free again", async () => {
    const { pg } = await freshDb();
    await deadlineTasks(pg, { deadline: 1, open: 100, close: 160, n: 2 });
    const old = await node(pg, "a");
    const held = (await claimTasks(pg, old, { height: 90 })).tasks;
    assert.equal(held.length, 2);
    const fresh = await node(pg, "a");
    assert.notEqual(fresh.session, old.session);
    const [h0] = held;
    assert.ok(h0);
    await rejectsWith(completeTask(pg, old, h0, { proof: new Uint8Array([1]) }), "CLUSTER_LEASE_LOST");
    await rejectsWith(claimTasks(pg, old, { height: 90 }), "CLUSTER_SESSION_STALE");
    await rejectsWith(heartbeat(pg, old), "CLUSTER_SESSION_STALE");
    assert.deepEqual(
      (await listTasks(pg)).map((t) => t.state),
      ["waiting", "waiting"],
    );
    const again = (await claimTasks(pg, fresh, { height: 90 })).tasks;
    assert.deepEqual(
      again.map((t) => t.attempt),
      [2, 2],
    );
    await rejectsWith(
      completeTask(pg, old, { ...h0, attempt: 2 }, { proof: new Uint8Array([1]) }),
      "CLUSTER_LEASE_LOST",
    );
  });

  test("fail with retry puts the task back; without it the task is failed", async () => {
    const { pg } = await freshDb();
    await deadlineTasks(pg, { deadline: 1, open: 100, close: 160, n: 1 });
    const a = await node(pg, "a");
    const [t1] = (await claimTasks(pg, a, { height: 90 })).tasks;
    assert.ok(t1);
    await failTask(pg, a, t1, { error: "sector read timed out", retry: true });
    assert.deepEqual(await failTask(pg, a, t1, { error: "sector read timed out", retry: true }), {
      already: true,
    });
    const [t2] = (await claimTasks(pg, a, { height: 90 })).tasks;
    assert.equal(t2?.attempt, 2);
    assert.ok(t2);
    await failTask(pg, a, t2, { error: "bad job" });
    const [row] = await listTasks(pg);
    assert.deepEqual([row?.state, row?.error], ["failed", "bad job"]);
    assert.equal((await claimTasks(pg, a, { height: 90 })).tasks.length, 0);
  });

  test("tasks past Close become failed with the reason, and their holder is refused", async () => {
    const { pg } = await freshDb();
    await deadlineTasks(pg, { deadline: 1, open: 100, close: 160, n: 2 });
    await deadlineTasks(pg, { deadline: 2, open: 160, close: 220, n: 1 });
    const a = await node(pg, "a");
    const [held] = (await claimTasks(pg, a, { height: 150, max: 1 })).tasks;
    assert.ok(held);
    const expired = await expireTasksAtClose(pg, 160);
    assert.deepEqual(
      expired.map((k) => [k.open, k.partition]),
      [
        [100, 0],
        [100, 1],
      ],
    );
    assert.deepEqual(await expireTasksAtClose(pg, 160), []);
    const rows = await listTasks(pg, { deadline: 1 });
    for (const r of rows) {
      assert.equal(r.state, "failed");
      assert.match(r.error ?? "", /deadline closed at epoch 160/);
    }
    assert.equal((await listTasks(pg, { deadline: 2 }))[0]?.state, "waiting");
    await rejectsWith(completeTask(pg, a, held, { proof: new Uint8Array([1]) }), "CLUSTER_LEASE_LOST");
    // Failed by the Close, not by its holder: the holder's own failure is not "already recorded".
    await rejectsWith(failTask(pg, a, held, { error: "late" }), "CLUSTER_LEASE_LOST");
    assert.equal((await taskHistory(pg, held))[0]?.state, "failed");
  });

  test("a session replaced by a re-registration can neither renew nor complete a task it still appears to hold", async () => {
    const { pg } = await freshDb();
    await deadlineTasks(pg, { deadline: 1, open: 100, close: 160, n: 1 });
    const old = await node(pg, "a");
    await node(pg, "a");
    // What a claim by the old session leaves when it commits after the re-registration released the
    // old session's tasks: the task held under the replaced session, with a live lease.
    await pg.query(
      `UPDATE partition_tasks SET state = 'running', holder = $1, holder_session = $2, attempts = 1,
         lease_expires_at = now() + INTERVAL '1 hour', started_at = now()`,
      [old.name, old.session],
    );
    const lease = { miner: 1000, open: 100, partition: 0, attempt: 1 };
    assert.deepEqual((await renewTaskLeases(pg, old, [lease])).lost, [lease]);
    await rejectsWith(completeTask(pg, old, lease, { proof: new Uint8Array([1]) }), "CLUSTER_LEASE_LOST");
    await rejectsWith(failTask(pg, old, lease, { error: "x" }), "CLUSTER_LEASE_LOST");
    assert.equal((await deadlineProofs(pg, 1000, 100)).length, 0);
    // Nobody will renew it: another node takes it at once, without waiting for the hour-long lease.
    const b = await node(pg, "b");
    const taken = await claimTasks(pg, b, { height: 90 });
    assert.deepEqual(
      taken.tasks.map((t) => [t.partition, t.takeover, t.attempt]),
      [[0, true, 2]],
    );
  });

  test("a node taking back its own expired lease is not a takeover", async () => {
    const { pg } = await freshDb();
    await deadlineTasks(pg, { deadline: 1, open: 100, close: 160, n: 1 });
    const a = await node(pg, "a");
    const [first] = (await claimTasks(pg, a, { height: 90 })).tasks;
    assert.ok(first);
    await expireTask(pg, first);
    const again = await claimTasks(pg, a, { height: 90 });
    assert.equal(again.takeovers, 0);
    assert.deepEqual(
      again.tasks.map((t) => [t.takeover, t.attempt]),
      [[false, 2]],
    );
  });

  test("the task history is bounded by count and by age", async () => {
    const { pg } = await freshDb();
    await deadlineTasks(pg, { deadline: 1, open: 100, close: 160, n: 10 });
    const a = await node(pg, "a");
    for (const t of (await claimTasks(pg, a, { height: 90 })).tasks)
      await failTask(pg, a, t, { error: "e", retry: true });
    const count = async () =>
      Number((await pg.query<{ n: string }>("SELECT count(*) AS n FROM task_history"))[0]?.n);
    assert.equal(await count(), 10);
    assert.equal(await pruneTaskHistory(pg, { maxRows: 4 }), 6);
    assert.equal(await count(), 4);
    await sleep(100);
    assert.equal(await pruneTaskHistory(pg, { maxAgeMs: 50 }), 4);
    assert.equal(await count(), 0);
  });

  test("nodes list liveness from the database clock", async () => {
    const { pg } = await freshDb();
    const a = await node(pg, "a", 2);
    await node(pg, "b", 3);
    await sleep(1200);
    await heartbeat(pg, a);
    const nodes = await listNodes(pg, { deadAfterMs: 1000 });
    assert.deepEqual(
      nodes.map((n) => [n.name, n.alive, n.capacity]),
      [
        ["a", true, 2],
        ["b", false, 3],
      ],
    );
    assert.ok((nodes[1]?.heartbeatAgeMs ?? 0) >= 1100);
  });

  test("capacity updates change what a node may claim; only its current session may change it", async () => {
    const { pg } = await freshDb();
    await deadlineTasks(pg, { deadline: 1, open: 100, close: 160, n: 5 });
    const a = await node(pg, "a", 1);
    assert.equal((await claimTasks(pg, a, { height: 90 })).tasks.length, 1);
    assert.equal((await claimTasks(pg, a, { height: 90 })).tasks.length, 0);
    await setCapacity(pg, a, 3);
    const more = await claimTasks(pg, a, { height: 90 });
    assert.deepEqual([more.tasks.length, more.free], [2, 0]);
    // What a node holds can be read back (after a claim whose answer was lost).
    assert.deepEqual(
      (await heldTasks(pg, a)).map((t) => [t.partition, t.attempt]),
      [
        [0, 1],
        [1, 1],
        [2, 1],
      ],
    );
    const [info] = await listNodes(pg);
    assert.deepEqual([info?.capacity, info?.tasksInFlight, info?.alive], [3, 3, true]);
    await setCapacity(pg, a, 0);
    assert.equal((await claimTasks(pg, a, { height: 90 })).tasks.length, 0);
    const fresh = await node(pg, "a", 1);
    await rejectsWith(setCapacity(pg, a, 5), "CLUSTER_SESSION_STALE");
    await rejectsWith(setCapacity(pg, { name: "ghost", session: fresh.session }, 5), "CLUSTER_NODE_UNKNOWN");
    await rejectsWith(setCapacity(pg, fresh, -1), "CLUSTER_BAD_INPUT");
  });

  test("closed deadlines' rows are pruned after the kept epochs, and nothing newer", async () => {
    const { pg } = await freshDb();
    await deadlineTasks(pg, { deadline: 1, open: 100, close: 160, n: 2 });
    await deadlineTasks(pg, { deadline: 2, open: 160, close: 220, n: 2 });
    const a = await node(pg, "a");
    for (const t of (await claimTasks(pg, a, { height: 90 })).tasks) {
      await completeTask(pg, a, t, { proof: new Uint8Array([1]) });
    }
    assert.deepEqual(await pruneClosedDeadlines(pg, { height: 200, keepEpochs: 41 }), {
      tasks: 0,
      proofs: 0,
      groups: 0,
      recoveries: 0,
    });
    const r = await pruneClosedDeadlines(pg, { height: 200, keepEpochs: 40 });
    assert.deepEqual([r.tasks, r.proofs], [2, 2]);
    assert.deepEqual(
      (await listTasks(pg)).map((t) => t.open),
      [160, 160],
    );
  });
});
