/**
 * Issue 13, case (f): a real network partition. Two PoSter nodes run on the host and a third ("cut")
 * in its own network namespace, joined to the host by a veth pair (test/helpers/netns.ts); it reaches
 * the devnet and PostgreSQL through the pair's host end, as the host nodes do over loopback. While the
 * namespaced node proves a partition of the deadline, its link is cut: packets vanish both ways, as
 * on a dead network, with no error for anyone.
 *
 * What must happen: the cut node drops its work when its lease runs out on its own clock (it cannot
 * renew), the host nodes take its partitions over once the lease expires in the database, and the
 * deadline is proven with no missed partition and no rejection. When the link returns, the cut node
 * reconnects by itself and sends nothing stale: the devnet executes no further message for that
 * deadline, and no message of the run fails.
 *
 * Geometry as in cluster.test.ts (300 ms blocks, 3 deadlines of 40 epochs), with one ext-prover child
 * per node proving two partitions at once in 4 s (fixed time, real proofs). Five partitions on capacity
 * 2 + 2 on the host: the namespaced node always gets at least one. The proving time exceeds the
 * lease's local end after a cut (at most lease − 1 s = 2 s), so the cut lands in the middle of a proof.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { MinerMethod } from "../../src/chain/message.js";
import { ClusterStack, FAST_LEASES } from "../helpers/clusterStack.js";
import { NODE_ENV } from "../helpers/devnetSetup.js";
import { createNetns, type Netns } from "../helpers/netns.js";
import { type PgServer, startPg } from "../helpers/pgServer.js";
import { fixedTimeWdPostBlocks, parseLogLine } from "../helpers/posterStack.js";
import { tempDir } from "../helpers/tmp.js";

const BLOCK_MS = 300;
const POLICY = { deadlines: 3, window: 40, lookback: 20, cutoff: 21 };
const PERIOD = POLICY.deadlines * POLICY.window;
const MINER = { actor: 1000, deadline: 2, partitions: 5, challengeConfidence: 1, submitConfidence: 1 };
const HOST_NODES = ["h1", "h2"];
const CUT = "cut";
const LEASE_MS = Number.parseInt(FAST_LEASES.LeaseTimeout, 10) * 1000;
const PROVE_MS = 4000;

describe("the PoSter cluster: a node cut off by a real network partition", { timeout: 170_000 }, () => {
  let dir = "";
  let cleanup = async () => {};
  let ns: Netns | undefined;
  let pg: PgServer | undefined;
  let c: ClusterStack | undefined;

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-cluster-cut-"));
    ns = createNetns({ name: "cut" });
    pg = await startPg({ listen: [ns.hostAddr], trust: [ns.subnet] });
    await pg.createDatabase("cluster");
    c = new ClusterStack({
      dir,
      // Every node, on the host or inside, dials the pair's host end.
      dsn: pg.dsn("cluster", ns.hostAddr),
      devnetListen: ns.hostAddr,
      blockTimeMs: BLOCK_MS,
      policy: POLICY,
      miners: [MINER],
      extProverCfg: fixedTimeWdPostBlocks(1, { delayMs: PROVE_MS, concurrent: 2, slots: 2 }),
    });
    await c.start(HOST_NODES);
    await c.startNode(CUT, NODE_ENV, { netns: ns });
  });
  after(async () => {
    try {
      // Restored first, so the cut node (if a failure left it cut off) can stop cleanly.
      if (ns?.isCut) ns.restore();
      await c?.stop();
    } finally {
      ns?.destroy();
      await pg?.destroy();
      await cleanup();
    }
  });

  const submissions = async (stack: ClusterStack) =>
    (
      await stack.stack.devnet.call<
        { to: string; method: number; height: number; exitCode: number; error: string | null }[]
      >("Devnet.Messages", [500])
    ).filter((m) => m.to === `f0${MINER.actor}` && m.method === MinerMethod.SubmitWindowedPoSt);

  /** Milliseconds since `name`'s last heartbeat, on the database's clock. */
  const heartbeatAge = async (stack: ClusterStack, name: string): Promise<number> => {
    const [row] = await stack.sql<{ age: number }[]>`
      SELECT (extract(epoch FROM now() - last_heartbeat) * 1000)::float8 AS age
      FROM cluster_nodes WHERE name = ${name}`;
    return row?.age ?? Number.POSITIVE_INFINITY;
  };

  test("(f) the cut node's partitions are taken over, the deadline is proven, and after the link returns it sends nothing stale", async () => {
    assert.ok(c && ns, "set up");
    const s = c.stack;
    const at = s.onboardingEpoch(MINER.actor, MINER.deadline, (await s.epoch()) + 1, 25);
    await s.waitForEpoch(at, 60_000);
    const placed = await s.seal(MINER.actor, 2 * MINER.partitions);
    assert.deepEqual([...placed], [MINER.deadline]);
    await s.attach();
    const dl = s.nextDeadline(MINER.actor, MINER.deadline, await s.epoch());
    assert.ok((await s.epoch()) < dl.challenge, "in place before the challenge");

    // Wait until the namespaced node holds a running task of the deadline, then cut its link.
    let held: number[] = [];
    const claimBy = Date.now() + (dl.challenge + 20 - (await s.epoch())) * BLOCK_MS * 3 + 10_000;
    while (held.length === 0) {
      assert.ok(
        Date.now() < claimBy,
        `the namespaced node claimed a task: ${JSON.stringify(await c.tasks(MINER.actor, dl.open))}`,
      );
      held = (await c.tasks(MINER.actor, dl.open))
        .filter((t) => t.state === "running" && t.holder === CUT)
        .map((t) => t.partition);
      if (held.length === 0) await sleep(50);
    }
    const cutLines = c.lines.get(CUT) ?? [];
    ns.cut();
    const cutAt = Date.now();

    // Every partition it held goes to a host node, once the lease has expired in the database.
    let takenOverMs = -1;
    while (Date.now() - cutAt < 30_000) {
      const tasks = (await c.tasks(MINER.actor, dl.open)).filter((t) => held.includes(t.partition));
      if (tasks.every((t) => t.holder !== null && HOST_NODES.includes(t.holder) && t.attempts >= 2)) {
        takenOverMs = Date.now() - cutAt;
        break;
      }
      await sleep(50);
    }
    const afterCut = await c.tasks(MINER.actor, dl.open);
    assert.ok(takenOverMs >= 0, `partitions ${held} of ${CUT} taken over: ${JSON.stringify(afterCut)}`);
    // The lease, then at worst one proof of a busy host node (its slots are full) and a claim round.
    assert.ok(takenOverMs < LEASE_MS + PROVE_MS + 3000, `taken over after ${takenOverMs} ms`);

    const rec = await s.waitForRecord(
      MINER.actor,
      dl.open,
      (dl.close - (await s.epoch())) * BLOCK_MS * 4 + 30_000,
    );
    const tasks = await c.tasks(MINER.actor, dl.open);
    const hist = await c.history(MINER.actor, dl.open);
    const detail = `cut holding ${held}; taken over after ${takenOverMs} ms; record ${JSON.stringify(rec)}; tasks ${JSON.stringify(tasks)}; history ${JSON.stringify(hist)}`;
    assert.equal(rec.partitions, MINER.partitions, detail);
    assert.deepEqual(rec.missed, [], detail);
    assert.deepEqual(rec.rejections, [], detail);
    assert.ok(
      tasks.every((t) => t.state === "done" && t.holder !== CUT),
      `every task done, none by the cut node: ${detail}`,
    );
    for (const p of held)
      assert.ok(
        hist.some((h) => h.partition === p && h.node === CUT && h.state === "lost"),
        `the cut node's attempt at partition ${p} is recorded lost: ${detail}`,
      );
    assert.ok(
      hist.every((h) => h.node !== CUT || h.state === "lost"),
      `the cut node recorded nothing but lost attempts: ${detail}`,
    );

    // The link returns after Close. The node reconnects by itself (a fresh heartbeat), then gets a
    // few seconds to send whatever it might still hold.
    ns.restore();
    const restoredAt = Date.now();
    while ((await heartbeatAge(c, CUT)) > 2000) {
      assert.ok(
        Date.now() - restoredAt < 40_000,
        `the cut node heartbeats again after the link returns:\n${cutLines.slice(-15).join("\n")}`,
      );
      await sleep(200);
    }
    const reconnectMs = Date.now() - restoredAt;
    await sleep(4000);

    const sent = await submissions(c);
    const nextOpen = dl.open + PERIOD;
    const msgs = `messages ${JSON.stringify(sent)}`;
    assert.ok(
      sent.every((m) => m.exitCode === 0),
      `no message failed (a duplicate or stale proof is rejected): ${msgs}`,
    );
    const inDeadline = sent.filter((m) => m.height >= dl.open && m.height < dl.close);
    assert.ok(inDeadline.length >= Math.ceil(MINER.partitions / 3), `the deadline was submitted: ${msgs}`);
    assert.ok(inDeadline.length <= MINER.partitions, `no more messages than partitions: ${msgs}`);
    // Only this deadline has sectors: anything executed after its Close and before the next occurrence
    // opens can only be stale.
    assert.deepEqual(
      sent.filter((m) => m.height >= dl.close && m.height < nextOpen),
      [],
      `nothing executed after Close (reconnected ${reconnectMs} ms after the link returned)`,
    );

    // The cut node dropped its work, and took none while cut off. Its lines are placed by their own
    // timestamps (same clock): a line read after the cut may have been printed just before it.
    const linesIn = (from: number, to: number) =>
      cutLines.filter((l) => {
        const t = parseLogLine(l)?.t;
        return t !== undefined && t >= from && t < to;
      });
    const during = linesIn(cutAt, restoredAt);
    // Dropped mid-proof (the usual case), or, on a machine slow enough that the proof ended first,
    // its result left unrecorded: either way nothing of it reaches the database or the chain.
    const dropped = during.filter((l) =>
      /partition task dropped: this node no longer holds it|result not recorded: the lease ran out/.test(l),
    );
    assert.ok(dropped.length > 0, `the cut node logged that it dropped its work:\n${during.join("\n")}`);
    // A claim answered just before the cut may still be logged a moment after it, on a busy machine.
    const took = linesIn(cutAt + 1000, restoredAt).filter((l) =>
      /claimed a partition task|took over a partition task|partition proven/.test(l),
    );
    assert.deepEqual(took, [], `the cut node took no work while cut off:\n${during.join("\n")}`);
    // The database agrees: every attempt of the cut node began before the cut.
    const cutAttempts = hist.filter((h) => h.node === CUT);
    assert.ok(
      cutAttempts.every((h) => h.startedAt !== null && h.startedAt.getTime() <= cutAt),
      `the cut node's attempts all began before the cut (${new Date(cutAt).toISOString()}): ${detail}`,
    );
    console.log(
      `cut node held ${held}; taken over after ${takenOverMs} ms; dropped its work ${(parseLogLine(dropped[0] ?? "")?.t ?? Number.NaN) - cutAt} ms after the cut; reconnected ${reconnectMs} ms after the link returned; it logged:\n${dropped.join("\n")}`,
    );
  });
});
