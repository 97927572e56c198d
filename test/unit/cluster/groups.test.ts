/**
 * Message groups and recoveries on a real PostgreSQL server: groups formed from proven partitions as
 * the poster forms them, exactly one winner among concurrent claimants, the CID recorded only under a
 * live lease (a claimant that resumes after its lease expired is refused), takeover of a dead
 * claimant's group, receipts, expiry at Close, and the same for recoveries.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  claimGroup,
  claimNextGroup,
  claimRecovery,
  claimTasks,
  completeTask,
  createDeadlineTasks,
  createRecovery,
  expireGroupsAtClose,
  failTask,
  finishRecovery,
  formGroups,
  listGroups,
  recordGroupMessage,
  recordGroupOnChain,
  recordGroupPush,
  recordGroupReceipt,
  recordRecoveryMessage,
  recordRecoveryResult,
  recoveryState,
  renewGroupLease,
  renewRecoveryLease,
  resetForNewSeed,
  setCordoned,
  taskFailures,
} from "../../../src/cluster/index.js";
import type { Pg } from "../../../src/store/pg/db.js";
import { SmError } from "../../../src/util/errors.js";
import { clusterDbFixture, rejectsWith } from "../../helpers/clusterDb.js";

describe("cluster message groups and recoveries", { timeout: 55_000 }, () => {
  const { open, freshDb, node } = clusterDbFixture("groups");

  /** A deadline (miner 1000, open 100, close 160) with `n` partitions, all claimed by a fresh node "prover". */
  async function provingDeadline(pg: Pg, n: number) {
    await createDeadlineTasks(pg, {
      miner: 1000,
      deadline: 2,
      open: 100,
      close: 160,
      partitions: Array.from({ length: n }, (_, i) => ({ partition: i, job: {} })),
    });
    const prover = await node(pg, "prover");
    const tasks = (await claimTasks(pg, prover, { height: 95 })).tasks;
    return { prover, tasks };
  }

  test("groups form in completion order, `perMessage` at a time, and the remainder once every task is finished", async () => {
    const { pg } = await freshDb();
    const { prover, tasks } = await provingDeadline(pg, 5);
    const byIndex = (i: number) => {
      const t = tasks.find((x) => x.partition === i);
      assert.ok(t);
      return t;
    };
    const d = { miner: 1000, open: 100, perMessage: 2 };
    await completeTask(pg, prover, byIndex(3), { proof: new Uint8Array([3]) });
    assert.deepEqual(await formGroups(pg, d), [], "one proven partition waits for a second");
    await completeTask(pg, prover, byIndex(1), { proof: new Uint8Array([1]) });
    await completeTask(pg, prover, byIndex(4), { proof: new Uint8Array([4]) });
    const first = await formGroups(pg, d);
    assert.deepEqual(
      first.map((g) => [g.group, g.partitions, g.state]),
      [[0, [1, 3], "waiting"]],
    );
    assert.deepEqual(await formGroups(pg, d), [], "formed once");
    await failTask(pg, prover, byIndex(0), { error: "unreadable" });
    assert.deepEqual(await formGroups(pg, d), [], "partition 2 is still running");
    await completeTask(pg, prover, byIndex(2), { proof: new Uint8Array([2]) });
    const second = await formGroups(pg, d);
    assert.deepEqual(
      second.map((g) => [g.group, g.partitions]),
      [[1, [2, 4]]],
    );
    assert.equal((await listGroups(pg, 1000, 100)).length, 2);
  });

  test("nodes forming groups at once create each group once", async () => {
    const { dsn, pg } = await freshDb();
    const { prover, tasks } = await provingDeadline(pg, 9);
    for (const t of tasks) await completeTask(pg, prover, t, { proof: new Uint8Array([t.partition]) });
    const formers = [0, 1, 2, 3].map(() => open(dsn));
    const made = await Promise.all(
      formers.map((c) => formGroups(c, { miner: 1000, open: 100, perMessage: 3 })),
    );
    const all = made.flat();
    assert.deepEqual(all.map((g) => g.group).sort(), [0, 1, 2]);
    const groups = await listGroups(pg, 1000, 100);
    assert.deepEqual(
      groups.map((g) => g.partitions),
      [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7, 8],
      ],
    );
  });

  test("of many concurrent claimants of a group exactly one wins, over many rounds", async () => {
    const { dsn, pg } = await freshDb();
    const { prover, tasks } = await provingDeadline(pg, 10);
    for (const t of tasks) await completeTask(pg, prover, t, { proof: new Uint8Array([1]) });
    const groups = await formGroups(pg, { miner: 1000, open: 100, perMessage: 1 });
    assert.equal(groups.length, 10);
    const claimants = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(async (i) => {
        const c = open(dsn);
        return { pg: c, id: await node(c, `s${i}`) };
      }),
    );
    for (const g of groups) {
      const won = await Promise.all(claimants.map((c) => claimGroup(c.pg, c.id, g)));
      const winners = won.filter((w) => w !== null);
      assert.equal(winners.length, 1, `group ${g.group}: ${winners.length} winners`);
    }
    // claimNextGroup finds nothing left to claim.
    const first = claimants[0];
    assert.ok(first);
    assert.equal(await claimNextGroup(first.pg, first.id, { height: 100 }), null);
  });

  test("the CID is recorded only under a live lease; a claimant resuming after its lease expired is refused", async () => {
    const { dsn, pg } = await freshDb();
    const { prover, tasks } = await provingDeadline(pg, 1);
    const [t] = tasks;
    assert.ok(t);
    await completeTask(pg, prover, t, { proof: new Uint8Array([1]) });
    const [g] = await formGroups(pg, { miner: 1000, open: 100, perMessage: 3 });
    assert.ok(g);
    const a = await node(pg, "a");
    const pgB = open(dsn);
    const b = await node(pgB, "b");
    const mine = await claimNextGroup(pg, a, { height: 120 });
    assert.ok(mine);
    assert.deepEqual([mine.partitions, mine.takeover, mine.msgCid], [[0], false, null]);
    assert.equal(await claimGroup(pgB, b, g), null, "held");
    await pg.query("UPDATE message_groups SET lease_expires_at = now() - INTERVAL '1 millisecond'");
    // a was frozen past its lease: its renewal and its CID are refused even before anyone took over.
    await rejectsWith(renewGroupLease(pg, a, mine), "CLUSTER_LEASE_LOST");
    await rejectsWith(recordGroupMessage(pg, a, mine, { cid: "bafy-stale" }), "CLUSTER_LEASE_LOST");
    const theirs = await claimGroup(pgB, b, g, { leaseMs: 5000 });
    assert.ok(theirs);
    assert.equal(theirs.takeover, true);
    await rejectsWith(recordGroupMessage(pg, a, mine, { cid: "bafy-stale" }), "CLUSTER_LEASE_LOST");
    assert.deepEqual(await recordGroupMessage(pgB, b, theirs, { cid: "bafy-good" }), { already: false });
    assert.deepEqual(await recordGroupMessage(pgB, b, theirs, { cid: "bafy-good" }), { already: true });
    // The holder sends again (the chain node lost its message): the new CID replaces the old one.
    assert.deepEqual(await recordGroupMessage(pgB, b, theirs, { cid: "bafy-resent" }), { already: false });
    await rejectsWith(recordGroupMessage(pg, a, mine, { cid: "bafy-stale" }), "CLUSTER_LEASE_LOST");
    await renewGroupLease(pgB, b, theirs);
    assert.equal(await recordGroupReceipt(pg, g, "bafy-stale", { exitCode: 0, height: 130 }), false);
    assert.equal(await recordGroupReceipt(pg, g, "bafy-good", { exitCode: 0, height: 130 }), false);
    assert.equal(await recordGroupReceipt(pg, g, "bafy-resent", { exitCode: 0, height: 130 }), true);
    assert.equal(await recordGroupReceipt(pg, g, "bafy-resent", { exitCode: 0, height: 130 }), false);
    const [row] = await listGroups(pg, 1000, 100);
    assert.deepEqual([row?.state, row?.msgCid, row?.claimedBy], ["landed", "bafy-resent", "b"]);
  });

  test("a sent group whose claimant died is taken over with its CID, to await the receipt, not to resend", async () => {
    const { dsn, pg } = await freshDb();
    const { prover, tasks } = await provingDeadline(pg, 1);
    const [t] = tasks;
    assert.ok(t);
    await completeTask(pg, prover, t, { proof: new Uint8Array([1]) });
    const [g] = await formGroups(pg, { miner: 1000, open: 100, perMessage: 3 });
    assert.ok(g);
    const a = await node(pg, "a");
    const mine = await claimGroup(pg, a, g);
    assert.ok(mine);
    await recordGroupMessage(pg, a, mine, { cid: "bafy-1", signed: new Uint8Array([0xaa, 0xbb]) });
    // a dies: its lease ends (explicitly, on the database's clock, rather than by sleeping past it).
    await pg.query("UPDATE message_groups SET lease_expires_at = now() - INTERVAL '1 millisecond'");
    const pgB = open(dsn);
    const b = await node(pgB, "b");
    const theirs = await claimNextGroup(pgB, b, { height: 120 });
    assert.deepEqual([theirs?.msgCid, theirs?.takeover, theirs?.attempt], ["bafy-1", true, 2]);
    assert.deepEqual([...(theirs?.signedMessage ?? [])], [0xaa, 0xbb], "the very message to push again");
    assert.equal((await listGroups(pg, 1000, 100))[0]?.state, "sent");
  });

  test("a cordoned node claims no group; unsent groups past Close become failed", async () => {
    const { pg } = await freshDb();
    const { prover, tasks } = await provingDeadline(pg, 2);
    for (const t of tasks) await completeTask(pg, prover, t, { proof: new Uint8Array([1]) });
    const groups = await formGroups(pg, { miner: 1000, open: 100, perMessage: 1 });
    const a = await node(pg, "a");
    await setCordoned(pg, "a", true);
    assert.equal(await claimNextGroup(pg, a, { height: 120 }), null);
    await setCordoned(pg, "a", false);
    const held = await claimNextGroup(pg, a, { height: 120 });
    assert.equal(held?.group, 0);
    assert.equal(await claimNextGroup(pg, a, { height: 160 }), null, "never past Close");
    const expired = await expireGroupsAtClose(pg, 160);
    assert.deepEqual(expired.map((k) => k.group).sort(), [0, 1]);
    assert.ok(held);
    await rejectsWith(recordGroupMessage(pg, a, held, { cid: "bafy-late" }), "CLUSTER_LEASE_LOST");
    const rows = await listGroups(pg, 1000, 100);
    assert.ok(rows.every((r) => r.state === "failed" && /deadline closed/.test(r.error ?? "")));
    assert.equal(groups.length, 2);
  });

  test("recoveries: created once, declared by exactly one node, the CID fenced", async () => {
    const { dsn, pg } = await freshDb();
    const key = { miner: 1000, open: 220 };
    assert.equal(await createRecovery(pg, { ...key, deadline: 4, sectors: [5, 6] }), true);
    assert.equal(await createRecovery(pg, { ...key, deadline: 4, sectors: [5, 6] }), false);
    const claimants = await Promise.all(
      [0, 1, 2, 3].map(async (i) => {
        const c = open(dsn);
        return { pg: c, id: await node(c, `r${i}`) };
      }),
    );
    const won = await Promise.all(claimants.map((c) => claimRecovery(c.pg, c.id, key)));
    const winners = claimants.filter((_, i) => won[i] !== null);
    assert.equal(winners.length, 1);
    const w = winners[0];
    assert.ok(w);
    assert.deepEqual(won.find((x) => x !== null)?.sectors, [5, 6]);
    await pg.query("UPDATE recoveries SET lease_expires_at = now() - INTERVAL '1 millisecond'");
    await rejectsWith(recordRecoveryMessage(w.pg, w.id, key, { cid: "bafy-stale" }), "CLUSTER_LEASE_LOST");
    const other = claimants.find((c) => c !== w);
    assert.ok(other);
    assert.ok(await claimRecovery(other.pg, other.id, key));
    await rejectsWith(recordRecoveryMessage(w.pg, w.id, key, { cid: "bafy-stale" }), "CLUSTER_LEASE_LOST");
    assert.deepEqual(await recordRecoveryMessage(other.pg, other.id, key, { cid: "bafy-r" }), {
      already: false,
    });
    assert.equal(await recordRecoveryResult(pg, key, "bafy-r", { exitCode: 0 }), true);
  });

  test("a node restarted under the same name frees its groups at once, and its old session records nothing", async () => {
    const { dsn, pg } = await freshDb();
    const { prover, tasks } = await provingDeadline(pg, 1);
    const [t] = tasks;
    assert.ok(t);
    await completeTask(pg, prover, t, { proof: new Uint8Array([1]) });
    const [g] = await formGroups(pg, { miner: 1000, open: 100, perMessage: 3 });
    assert.ok(g);
    const old = await node(pg, "a");
    const held = await claimGroup(pg, old, g, { leaseMs: 60_000 });
    assert.ok(held);
    await node(pg, "a");
    const pgB = open(dsn);
    const b = await node(pgB, "b");
    const taken = await claimGroup(pgB, b, g);
    assert.equal(taken?.takeover, true, "claimable without waiting for the 60 s lease");
    await rejectsWith(recordGroupMessage(pg, old, held, { cid: "bafy-old" }), "CLUSTER_LEASE_LOST");
    await rejectsWith(claimNextGroup(pg, old, { height: 120 }), "CLUSTER_SESSION_STALE");
  });

  test("a replaced session can neither renew nor record a CID for a group or recovery it still appears to hold", async () => {
    const { pg } = await freshDb();
    const { prover, tasks } = await provingDeadline(pg, 1);
    const [t] = tasks;
    assert.ok(t);
    await completeTask(pg, prover, t, { proof: new Uint8Array([1]) });
    const [g] = await formGroups(pg, { miner: 1000, open: 100, perMessage: 3 });
    assert.ok(g);
    const key = { miner: 1000, open: 220 };
    await createRecovery(pg, { ...key, deadline: 4, sectors: [5] });
    const old = await node(pg, "a");
    await node(pg, "a");
    // What claims by the old session leave when they commit after the re-registration released the
    // old session's work: held under the replaced session, with live leases.
    await pg.query(
      `UPDATE message_groups SET state = 'claimed', claimed_by = $1, claimed_session = $2, attempts = 1,
         lease_expires_at = now() + INTERVAL '1 hour'`,
      [old.name, old.session],
    );
    await pg.query(
      `UPDATE recoveries SET state = 'claimed', declared_by = $1, declared_session = $2,
         lease_expires_at = now() + INTERVAL '1 hour'`,
      [old.name, old.session],
    );
    const lease = { ...g, attempt: 1 };
    await rejectsWith(renewGroupLease(pg, old, lease), "CLUSTER_LEASE_LOST");
    await rejectsWith(recordGroupMessage(pg, old, lease, { cid: "bafy-old" }), "CLUSTER_LEASE_LOST");
    await rejectsWith(renewRecoveryLease(pg, old, key), "CLUSTER_LEASE_LOST");
    await rejectsWith(recordRecoveryMessage(pg, old, key, { cid: "bafy-old" }), "CLUSTER_LEASE_LOST");
    assert.equal((await listGroups(pg, 1000, 100))[0]?.msgCid, null);
    // Nobody will renew them: another node takes them at once, without waiting for the hour.
    const b = await node(pg, "b");
    assert.equal((await claimGroup(pg, b, g))?.takeover, true);
    assert.ok(await claimRecovery(pg, b, key));
  });

  test("group formation retries a duplicate key (23505) reported instead of a serialization failure", async () => {
    const { pg } = await freshDb();
    const { prover, tasks } = await provingDeadline(pg, 2);
    for (const t of tasks) await completeTask(pg, prover, t, { proof: new Uint8Array([1]) });
    let calls = 0;
    // The first transaction fails as a concurrent former's insert of the same group index would.
    const racing = new Proxy(pg, {
      get(target, prop, receiver) {
        if (prop !== "tx") return Reflect.get(target, prop, receiver);
        return (fn: Parameters<Pg["tx"]>[0], opts?: Parameters<Pg["tx"]>[1]) => {
          calls++;
          if (calls === 1) {
            return Promise.reject(
              new SmError(
                "STORE_DB_ERROR",
                'transaction: duplicate key value violates unique constraint "message_groups_pkey" (SQLSTATE 23505)',
                { sqlstate: "23505" },
              ),
            );
          }
          return target.tx(fn, opts);
        };
      },
    });
    const made = await formGroups(racing, { miner: 1000, open: 100, perMessage: 3 });
    assert.deepEqual(
      made.map((m) => m.partitions),
      [[0, 1]],
    );
    assert.equal(calls, 2);
  });

  test("the push intent is fenced and tells the lease left; a successor sees it; a group proven on chain ends landed", async () => {
    const { dsn, pg } = await freshDb();
    const { prover, tasks } = await provingDeadline(pg, 1);
    const [t0] = tasks;
    assert.ok(t0);
    await completeTask(pg, prover, t0, { proof: new Uint8Array([1]) });
    const [g] = await formGroups(pg, { miner: 1000, open: 100, perMessage: 3 });
    assert.ok(g);
    assert.deepEqual(
      (await listGroups(pg, 1000, 100)).map((x) => x.claimable),
      [true],
    );
    const a = await node(pg, "a");
    const mine = await claimGroup(pg, a, g, { leaseMs: 5000 });
    assert.ok(mine);
    assert.equal(mine.pushHeight, null);
    assert.deepEqual(
      (await listGroups(pg, 1000, 100)).map((x) => x.claimable),
      [false],
      "held under a live lease",
    );
    const { leaseLeftMs } = await recordGroupPush(pg, a, mine, { height: 120 });
    assert.ok(leaseLeftMs > 3000 && leaseLeftMs <= 5000, `lease left ${leaseLeftMs}`);
    // a freezes; its lease expires; b takes over and sees the intent.
    await pg.query("UPDATE message_groups SET lease_expires_at = now() - INTERVAL '1 millisecond'");
    await rejectsWith(recordGroupPush(pg, a, mine, { height: 125 }), "CLUSTER_LEASE_LOST");
    const pgB = open(dsn);
    const b = await node(pgB, "b");
    const theirs = await claimGroup(pgB, b, g, { leaseMs: 5000 });
    assert.ok(theirs);
    assert.deepEqual([theirs.pushHeight, theirs.msgCid, theirs.takeover], [120, null, true]);
    await rejectsWith(recordGroupOnChain(pg, a, mine, 130), "CLUSTER_LEASE_LOST");
    await recordGroupOnChain(pgB, b, theirs, 130);
    await recordGroupOnChain(pgB, b, theirs, 130); // repeated after a lost answer: no change, no error
    const [row] = await listGroups(pg, 1000, 100);
    assert.deepEqual(
      [row?.state, row?.receipt, row?.claimable],
      ["landed", { onChain: true, height: 130 }, false],
    );
  });

  test("a recovery's result is fenced; its state is readable", async () => {
    const { pg } = await freshDb();
    const key = { miner: 1000, open: 300 };
    assert.equal(await recoveryState(pg, key), null);
    await createRecovery(pg, { ...key, deadline: 4, sectors: null });
    assert.equal(await recoveryState(pg, key), "waiting");
    const a = await node(pg, "a");
    const b = await node(pg, "b");
    assert.ok(await claimRecovery(pg, a, key));
    await rejectsWith(finishRecovery(pg, b, key, { declared: 2 }), "CLUSTER_LEASE_LOST");
    await finishRecovery(pg, a, key, { declared: 2 });
    await finishRecovery(pg, a, key, { declared: 2 });
    assert.equal(await recoveryState(pg, key), "landed");
    assert.equal(await claimRecovery(pg, b, key), null, "a declared recovery is not claimed again");
  });

  test("a changed challenge seed resets the deadline's tasks, proofs and unsent groups; failures are counted from the history", async () => {
    const { pg } = await freshDb();
    await createDeadlineTasks(pg, {
      miner: 1000,
      deadline: 2,
      open: 100,
      close: 160,
      partitions: [0, 1].map((partition) => ({ partition, job: { seed: "aa" } })),
    });
    const p = await node(pg, "prover");
    const [t0, t1] = (await claimTasks(pg, p, { height: 95 })).tasks;
    assert.ok(t0 && t1);
    await failTask(pg, p, t1, { error: "disk", retry: true });
    assert.equal(await taskFailures(pg, t1), 1);
    assert.equal(await taskFailures(pg, t0), 0);
    await completeTask(pg, p, t0, { proof: new Uint8Array([1]) });
    assert.equal((await formGroups(pg, { miner: 1000, open: 100, perMessage: 1 })).length, 1);
    assert.equal(await resetForNewSeed(pg, { miner: 1000, open: 100, seed: "aa" }), false, "same seed: kept");
    assert.equal(await resetForNewSeed(pg, { miner: 1000, open: 100, seed: "bb" }), true);
    assert.deepEqual(await listGroups(pg, 1000, 100), []);
    const [n] = await pg.query<{ tasks: string; proofs: string }>(
      `SELECT (SELECT count(*) FROM partition_tasks WHERE open_epoch = 100) AS tasks,
              (SELECT count(*) FROM partition_proofs WHERE open_epoch = 100) AS proofs`,
    );
    assert.deepEqual([Number(n?.tasks), Number(n?.proofs)], [0, 0]);
    await rejectsWith(completeTask(pg, p, t1, { proof: new Uint8Array([2]) }), "CLUSTER_LEASE_LOST");
    assert.equal(
      await resetForNewSeed(pg, { miner: 1000, open: 100, seed: "bb" }),
      false,
      "nothing left to reset",
    );
  });
});
