/**
 * Issue 13, case (d): the PostgreSQL primary stopped hard mid-run and the standby promoted. No deadline
 * is missed and no node is restarted by hand.
 *
 * Real processes on loopback, as in cluster.test.ts (same geometry): a devnet, a PostgreSQL primary with
 * a streaming standby (asynchronous replication, as most deployments run it, so the last commits before
 * the crash may be lost with it), a source node (`--miner`) and three PoSter nodes, all given one
 * multi-host DSN naming both servers with `target_session_attrs=read-write`. One miner's deadline has
 * six partitions, proven by one fixed-time [[WdPost]] child per node. While tasks are running the
 * primary is crashed (`pg_ctl stop -m immediate`) and, DOWN_MS later (longer than the lease), the
 * standby promoted. Then:
 *  - the devnet records the deadline, and its next occurrence, fully proven: no missed partition, no
 *    rejected proof, no failed message;
 *  - every process (the source and the PoSter nodes) is the one started before the failover, still
 *    running (a transaction in flight at the crash used to kill its node: src/store/pg/db.ts,
 *    connectionLost);
 *  - every PoSter node reconnects by itself: each writes heartbeats on the new primary, the work lost
 *    with the crash is proven there, and a node that logged the database unreachable logs it back.
 * What the outage cost (the failover, each node's time until its first heartbeat on the new primary,
 * the attempts lost, how much later the deadline settled than its next occurrence) is printed.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { DeadlineInfo } from "../../src/chain/interface.js";
import { MinerMethod } from "../../src/chain/message.js";
import type { Proc } from "../../src/util/childProcess.js";
import { ClusterStack } from "../helpers/clusterStack.js";
import { type PgServer, startPg } from "../helpers/pgServer.js";
import { fixedTimeWdPostBlocks, parseLogLine } from "../helpers/posterStack.js";
import { tempDir } from "../helpers/tmp.js";

const BLOCK_MS = 300;
const POLICY = { deadlines: 3, window: 40, lookback: 20, cutoff: 21 };
const PERIOD = POLICY.deadlines * POLICY.window;
const MINER = { actor: 1000, deadline: 2, partitions: 6, challengeConfidence: 1, submitConfidence: 1 };
const NODES = ["n1", "n2", "n3"];
/** Proving time of one partition: long enough that tasks are running when the primary goes. */
const PROVE_MS = 2500;
/**
 * How long the primary stays down before the standby is promoted, ms: longer than the 3 s lease
 * (FAST_LEASES), so the work in flight at the crash is lost everywhere and must be taken up again on
 * the new primary, as when a failover manager takes seconds to decide.
 */
const DOWN_MS = 4000;

/**
 * The test's own reads, retried for a while: its client's connections to the crashed primary fail once
 * each (CONNECTION_CLOSED) before it connects to the promoted standby.
 */
async function settled<T>(read: () => Promise<T>): Promise<T> {
  for (const until = Date.now() + 15_000; ; ) {
    try {
      return await read();
    } catch (e) {
      if (Date.now() > until) throw e;
      await sleep(200);
    }
  }
}

describe("the PoSter cluster through a PostgreSQL failover", { timeout: 170_000 }, () => {
  let dir = "";
  let cleanup = async () => {};
  let primary: PgServer | undefined;
  let standby: PgServer | undefined;
  let c: ClusterStack | undefined;

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-cluster-failover-"));
    primary = await startPg();
    await primary.createDatabase("cluster");
    // After the database exists, so the base backup has it (and everything later streams).
    standby = await startPg({ standbyOf: primary });
    const dsn = `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/cluster?target_session_attrs=read-write`;
    c = new ClusterStack({
      dir,
      dsn,
      blockTimeMs: BLOCK_MS,
      policy: POLICY,
      miners: [MINER],
      extProverCfg: fixedTimeWdPostBlocks(1, { delayMs: PROVE_MS }),
    });
    await c.start(NODES);
  });
  after(async () => {
    await c?.stop();
    await standby?.destroy();
    await primary?.destroy();
    await cleanup();
  });

  test("(d) primary crashed mid-deadline, standby promoted: no deadline missed, no node restarted", async () => {
    assert.ok(c && primary && standby, "set up");
    const cs: ClusterStack = c;
    const s = cs.stack;
    const at = s.onboardingEpoch(MINER.actor, MINER.deadline, (await s.epoch()) + 1, 25);
    await s.waitForEpoch(at, 60_000);
    assert.deepEqual([...(await s.seal(MINER.actor, 2 * MINER.partitions))], [MINER.deadline]);
    await s.attach();
    const dl: DeadlineInfo = s.nextDeadline(MINER.actor, MINER.deadline, await s.epoch());
    assert.ok((await s.epoch()) < dl.challenge, "in place before the challenge");

    // Every process that must live through the failover, as started (the stack's procs are the devnet,
    // then the source node).
    const procs = new Map<string, Proc>([["source", s.procs[1] as Proc]]);
    for (const n of NODES) procs.set(n, cs.nodes.get(n) as Proc);
    const pids = new Map([...procs].map(([n, p]) => [n, p.pid]));

    // Mid-deadline: wait until partition tasks of this occurrence are being proven.
    const until = Date.now() + (dl.close - (await s.epoch())) * BLOCK_MS * 2;
    for (;;) {
      assert.ok(Date.now() < until, "the deadline's tasks were claimed");
      const running = (await cs.tasks(MINER.actor, dl.open)).filter((t) => t.state === "running");
      if (running.length > 0) break;
      await sleep(50);
    }
    const crashEpoch = await s.epoch();
    const crashedAt = Date.now();
    await primary.stop({ mode: "immediate" });
    // From here on, only the new primary can take a write.
    const stoppedAt = Date.now();
    await sleep(DOWN_MS - (stoppedAt - crashedAt));
    await standby.promote();
    const promotedAt = Date.now();
    const failoverMs = promotedAt - crashedAt;
    // Every PoSter node reconnects by itself: a heartbeat written after the stop can only have been
    // written on the new primary.
    const resumed: Record<string, number> = {};
    for (const until = Date.now() + 20_000; Object.keys(resumed).length < NODES.length; ) {
      assert.ok(
        Date.now() < until,
        `every node heartbeats on the new primary within 20 s of the crash: ${JSON.stringify(resumed)}`,
      );
      const rows = await settled(
        () => cs.sql<{ name: string; last_heartbeat: Date }[]>`
        SELECT name, last_heartbeat FROM cluster_nodes WHERE last_heartbeat > ${new Date(stoppedAt)}`,
      );
      for (const r of rows) resumed[r.name] ??= r.last_heartbeat.getTime() - crashedAt;
      await sleep(100);
    }

    const messages = async () =>
      (
        await s.devnet.call<{ to: string; method: number; height: number; exitCode: number }[]>(
          "Devnet.Messages",
          [500],
        )
      ).filter((m) => m.to === `f0${MINER.actor}` && m.method === MinerMethod.SubmitWindowedPoSt);

    for (const open of [dl.open, dl.open + PERIOD]) {
      const rec = await s.waitForRecord(
        MINER.actor,
        open,
        (open + 40 - (await s.epoch())) * BLOCK_MS * 3 + 30_000,
      );
      const tasks = await settled(() => cs.tasks(MINER.actor, open));
      const hist = await settled(() => cs.history(MINER.actor, open));
      const detail = `deadline open ${open} (crash at epoch ${crashEpoch}); record ${JSON.stringify(rec)}; tasks ${JSON.stringify(tasks)}; history ${JSON.stringify(hist)}`;
      assert.equal(rec.partitions, MINER.partitions, detail);
      assert.deepEqual(rec.missed, [], detail);
      assert.deepEqual(rec.rejections, [], detail);
      assert.deepEqual(
        rec.proven,
        Array.from({ length: MINER.partitions }, (_, i) => i),
        detail,
      );
      const sent = (await messages()).filter(
        (m) => m.height >= open - POLICY.lookback && m.height < open + POLICY.window,
      );
      assert.ok(
        sent.length > 0 && sent.every((m) => m.exitCode === 0),
        `every message succeeded: ${JSON.stringify(sent)}; ${detail}`,
      );
    }

    // No process restarted: the same pids, all still running.
    for (const [name, p] of procs) {
      assert.equal(p.pid, pids.get(name), `${name} is the process started before the failover`);
      assert.equal(p.child.exitCode, null, `${name} never exited`);
      assert.equal(p.child.signalCode, null, `${name} was never killed`);
    }
    for (const n of NODES) assert.equal(cs.nodes.get(n), procs.get(n), `${n} was not replaced`);

    // Each PoSter node that saw calls fail (a short failover may only stall them: the client waits
    // for a connection) says when it reached the database again, by itself.
    for (const n of NODES) {
      const lines = (cs.lines.get(n) ?? []).flatMap((l) => parseLogLine(l) ?? []);
      const gone = lines.findIndex((l) => l.t >= crashedAt && l.msg.startsWith("database unreachable"));
      if (gone < 0) continue;
      assert.ok(
        lines.slice(gone).some((l) => l.msg === "database reachable again"),
        `${n} logged that it reached the database again:\n${(cs.lines.get(n) ?? []).slice(-40).join("\n")}`,
      );
    }
    // Work in flight at the crash was recorded on the new primary.
    const provenAfter = await settled(
      () => cs.sql<{ node: string }[]>`
      SELECT DISTINCT node FROM task_history
      WHERE miner = ${MINER.actor} AND open_epoch = ${dl.open} AND state = 'done' AND finished_at > ${new Date(promotedAt)}`,
    );
    assert.ok(provenAfter.length > 0, "partitions of the deadline were proven after the failover");
    const lost = await settled(
      () => cs.sql<{ node: string; partition_index: number; open_epoch: string }[]>`
      SELECT node, partition_index, open_epoch FROM task_history WHERE state = 'lost' ORDER BY finished_at`,
    );
    assert.ok(
      lost.length > 0,
      "the work running at the crash was lost with its leases (the outage outlasted them)",
    );
    // What the outage cost: the failover itself, each node's time until its first heartbeat on the new
    // primary, and how much later the deadline settled than its next occurrence did.
    const settle = (open: number) =>
      Math.min(
        ...NODES.map((n) => {
          const lines = (cs.lines.get(n) ?? []).flatMap((l) => parseLogLine(l) ?? []);
          const from = lines.find((l) => l.msg === "proving deadline" && l.fields.open === open);
          const to = lines.find((l) => l.msg === "cluster deadline settled" && l.fields.open === open);
          return from && to ? to.t - from.t : Number.POSITIVE_INFINITY;
        }),
      );
    console.log(
      `failover ${failoverMs} ms (crash at epoch ${crashEpoch}, deadline open ${dl.open}); first heartbeat on the new primary after the crash, ms: ${JSON.stringify(resumed)}; deadline settled ${settle(dl.open)} ms after its challenge vs ${settle(dl.open + PERIOD)} ms for the next occurrence; attempts lost ${JSON.stringify(lost)}; proven after the failover by ${provenAfter.map((r) => r.node).join(",")}`,
    );
  });
});
