/**
 * Issue 13, case (e), on the real path: two miners whose windows overlap, on a cluster with fewer
 * provers than partitions, are both proven on time because every node claims earliest Close first
 * across all miners (claimTasks: ORDER BY close_epoch). A devnet, a PostgreSQL server, a source node,
 * and two PoSter nodes (`--poster --ext-prover --name`), each with one [[WdPost]] child answering with
 * real proofs after a fixed 1 s: two provers in the whole cluster.
 *
 * Geometry (after test/e2e/schedulingOverlap.test.ts, on the cluster's 300 ms blocks and 40-epoch
 * deadlines). The devnet gives f0<id> the proving-period offset id mod 120, so deadline 0 of f01001
 * (A, 2 partitions) opens 39 epochs before deadline 1 of f01000 (B, 14 partitions) and closes 39
 * epochs earlier; their proving windows overlap. A's [Miners.PoSt] ChallengeConfidence is 41 (B's is
 * 1), so B's tasks are created one epoch before A's: the stand-in for whatever makes a soon-closing
 * deadline's work arrive after a later-closing one's. Counted from B's start, A must be on chain within
 * 20 epochs (6 s), B within 59 (17.7 s); 16 partitions on 2 provers take 8 s.
 *  - Earliest Close first: A's two tasks are claimed as soon as the two provers are free again (≈ 1 s
 *    after B's start), before the 12 of B's that are still waiting: both deadlines are proven.
 *  - In creation order (first come first served), A's tasks would wait behind all 14 of B's (≈ 7 s)
 *    and A would miss its Close.
 * What is checked: no missed partition and no rejection in either deadline; B's tasks were created
 * before A's; and from the task rows (started_at), at most two of B's tasks (the ones the provers had
 * already taken) were claimed before the last of A's.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DeadlineInfo } from "../../src/chain/interface.js";
import { MinerMethod } from "../../src/chain/message.js";
import { ClusterStack } from "../helpers/clusterStack.js";
import { type PgServer, startPg } from "../helpers/pgServer.js";
import { fixedTimeWdPostBlocks } from "../helpers/posterStack.js";
import { tempDir } from "../helpers/tmp.js";

const BLOCK_MS = 300;
const POLICY = { deadlines: 3, window: 40, lookback: 20, cutoff: 21 };
const PROVE_MS = 1000;
const NODES = ["n1", "n2"];
/** One child of Concurrent 1 per node. */
const PROVERS = NODES.length;
/** A closes first but its tasks are created last. */
const A = {
  actor: 1001,
  deadline: 0,
  partitions: 2,
  challengeConfidence: POLICY.window + 1,
  submitConfidence: 1,
};
const B = { actor: 1000, deadline: 1, partitions: 14, challengeConfidence: 1, submitConfidence: 1 };

interface Row {
  miner: number;
  partition: number;
  state: string;
  holder: string | null;
  attempts: number;
  created: number;
  started: number;
}

describe("the PoSter cluster: two miners with overlapping windows on two provers", {
  timeout: 170_000,
}, () => {
  let dir = "";
  let cleanup = async () => {};
  let pg: PgServer;
  let c: ClusterStack;

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-cluster-overlap-"));
    pg = await startPg();
    c = new ClusterStack({
      dir,
      dsn: await pg.createDatabase("cluster"),
      blockTimeMs: BLOCK_MS,
      policy: POLICY,
      miners: [B, A],
      extProverCfg: fixedTimeWdPostBlocks(1, { delayMs: PROVE_MS }),
    });
    await c.start(NODES);
  });
  after(async () => {
    await c?.stop();
    await pg?.destroy();
    await cleanup();
  });

  const rows = async (a: DeadlineInfo, b: DeadlineInfo): Promise<Row[]> => {
    const r = await c.sql<
      {
        miner: string;
        partition_index: number;
        state: string;
        holder: string | null;
        attempts: number;
        created_at: Date;
        started_at: Date | null;
      }[]
    >`SELECT miner, partition_index, state, holder, attempts, created_at, started_at FROM partition_tasks
      WHERE (miner = ${A.actor} AND open_epoch = ${a.open}) OR (miner = ${B.actor} AND open_epoch = ${b.open})
      ORDER BY started_at, miner, partition_index`;
    return r.map((x) => ({
      miner: Number(x.miner),
      partition: x.partition_index,
      state: x.state,
      holder: x.holder,
      attempts: x.attempts,
      created: x.created_at.getTime(),
      started: x.started_at?.getTime() ?? Number.POSITIVE_INFINITY,
    }));
  };

  /** When each miner's messages of these deadlines executed, against their Close. */
  const landed = async (a: DeadlineInfo, b: DeadlineInfo): Promise<string> => {
    const msgs = await c.stack.devnet.call<
      { to: string; method: number; height: number; exitCode: number }[]
    >("Devnet.Messages", [500]);
    const of = (actor: number, d: DeadlineInfo) => {
      const hs = msgs
        .filter(
          (m) => m.to === `f0${actor}` && m.method === MinerMethod.SubmitWindowedPoSt && m.exitCode === 0,
        )
        .map((m) => m.height)
        .filter((h) => h >= d.challenge && h < d.close);
      return hs.length === 0
        ? `f0${actor}: nothing landed before Close ${d.close}`
        : `f0${actor}: last proof at epoch ${Math.max(...hs)}, ${d.close - Math.max(...hs)} epochs before Close ${d.close}`;
    };
    return `${of(A.actor, a)}; ${of(B.actor, b)}`;
  };

  test("(e) earliest Close first across the cluster: A's tasks jump B's queue, both deadlines are proven", async (t) => {
    const s = c.stack;
    // Only a mutable deadline (neither the current nor the next) takes new sectors; with 3 deadlines
    // that is exactly one, so each seal lands in the deadline chosen by when it runs.
    const sealInto = async (m: typeof A, sectors: number) => {
      const at = s.onboardingEpoch(m.actor, m.deadline, (await s.epoch()) + 1, 25);
      await s.waitForEpoch(at, 60_000);
      const placed = await s.seal(m.actor, sectors);
      assert.deepEqual([...placed], [m.deadline], `f0${m.actor}'s sectors placed in deadline ${m.deadline}`);
      return s.nextDeadline(m.actor, m.deadline, await s.epoch());
    };
    const a = await sealInto(A, 2 * A.partitions);
    const b = await sealInto(B, 2 * B.partitions);
    await s.attach();
    const startA = a.challenge + A.challengeConfidence;
    const startB = b.challenge + B.challengeConfidence;
    assert.ok(
      a.close < b.close && b.open < a.close,
      `A ${JSON.stringify(a)} and B ${JSON.stringify(b)} overlap`,
    );
    assert.ok(
      startB < startA && startA < a.close,
      `B starts at ${startB}, A at ${startA}, A closes at ${a.close}`,
    );
    assert.ok((await s.epoch()) < startB - 5, "everything is in place before B's proving starts");

    const budget = (b.close - (await s.epoch())) * BLOCK_MS * 4 + 30_000;
    const recA = await s.waitForRecord(A.actor, a.open, budget);
    const recB = await s.waitForRecord(B.actor, b.open, budget);
    const tasks = await rows(a, b);
    const order = tasks.map((x) => (x.miner === A.actor ? "A" : "B")).join("");
    const detail = `claim order ${order}; A ${JSON.stringify(recA)}; B ${JSON.stringify(recB)}; tasks ${JSON.stringify(tasks)}`;
    t.diagnostic(`claim order ${order}; ${await landed(a, b)}`);

    assert.equal(recA.partitions, A.partitions, detail);
    assert.equal(recB.partitions, B.partitions, detail);
    assert.deepEqual(recA.missed, [], `A proven on time: ${detail}`);
    assert.deepEqual(recB.missed, [], `B proven on time: ${detail}`);
    assert.deepEqual([...recA.rejections, ...recB.rejections], [], detail);
    assert.equal(tasks.length, A.partitions + B.partitions, detail);
    assert.ok(
      tasks.every((x) => x.state === "done"),
      detail,
    );

    // B's work reached the cluster first...
    const ofA = tasks.filter((x) => x.miner === A.actor);
    const ofB = tasks.filter((x) => x.miner === B.actor);
    assert.ok(
      Math.min(...ofB.map((x) => x.created)) < Math.min(...ofA.map((x) => x.created)),
      `B's tasks were created before A's: ${detail}`,
    );
    // ...and A's went ahead of every B task the provers had not taken yet.
    const lastA = Math.max(...ofA.map((x) => x.started));
    const bBefore = ofB.filter((x) => x.started < lastA).length;
    assert.ok(bBefore <= PROVERS, `${bBefore} of B's tasks were claimed before A's last: ${detail}`);
  });
});
