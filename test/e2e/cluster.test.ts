/**
 * Issue 13, cases (a) and (b), on the real path: a devnet, a PostgreSQL server, a source node (`--miner`,
 * its sector index in the database) and three PoSter nodes (`--poster --ext-prover --name`), each with
 * one [[WdPost]] child answering with real proofs after a fixed delay. One miner's deadline has six
 * partitions; the nodes share it through the database.
 *
 *  (a) every partition is proven and submitted once: the finished tasks come from more than one node,
 *      the devnet records no missed partition and no rejected proof;
 *  (b) a node SIGKILLed while it holds a task of the next occurrence: the task is taken over by another
 *      node within the lease (3 s here) plus a claim round, and the deadline is still proven.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { DeadlineInfo } from "../../src/chain/interface.js";
import { MinerMethod } from "../../src/chain/message.js";
import { readApiFile } from "../../src/daemon/home.js";
import { ClusterStack } from "../helpers/clusterStack.js";
import { type PgServer, startPg } from "../helpers/pgServer.js";
import { fixedTimeWdPostBlocks } from "../helpers/posterStack.js";
import { tempDir } from "../helpers/tmp.js";

const BLOCK_MS = 300;
const POLICY = { deadlines: 3, window: 40, lookback: 20, cutoff: 21 };
const PERIOD = POLICY.deadlines * POLICY.window;
const MINER = { actor: 1000, deadline: 2, partitions: 6, challengeConfidence: 1, submitConfidence: 1 };
const NODES = ["n1", "n2", "n3"];

describe("the PoSter cluster: three nodes share one miner's deadlines", { timeout: 240_000 }, () => {
  let dir = "";
  let cleanup = async () => {};
  let pg: PgServer;
  let c: ClusterStack;
  let dl: DeadlineInfo;

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-cluster-"));
    pg = await startPg();
    c = new ClusterStack({
      dir,
      dsn: await pg.createDatabase("cluster"),
      blockTimeMs: BLOCK_MS,
      policy: POLICY,
      miners: [MINER],
      extProverCfg: fixedTimeWdPostBlocks(1, { delayMs: 1500 }),
    });
    await c.start(NODES);
  });
  after(async () => {
    await c?.stop();
    await pg?.destroy();
    await cleanup();
  });

  const messages = async () =>
    (
      await c.stack.devnet.call<{ to: string; method: number; height: number; exitCode: number }[]>(
        "Devnet.Messages",
        [500],
      )
    ).filter((m) => m.to === `f0${MINER.actor}` && m.method === MinerMethod.SubmitWindowedPoSt);

  test("(a) the partitions of one deadline are proven by several nodes, each submitted once", async () => {
    const s = c.stack;
    const at = s.onboardingEpoch(MINER.actor, MINER.deadline, (await s.epoch()) + 1, 25);
    await s.waitForEpoch(at, 60_000);
    const placed = await s.seal(MINER.actor, 2 * MINER.partitions);
    assert.deepEqual([...placed], [MINER.deadline]);
    await s.attach();
    dl = s.nextDeadline(MINER.actor, MINER.deadline, await s.epoch());
    assert.ok((await s.epoch()) < dl.challenge, "in place before the challenge");
    const rec = await s.waitForRecord(
      MINER.actor,
      dl.open,
      (dl.close - (await s.epoch())) * BLOCK_MS * 4 + 30_000,
    );
    const tasks = await c.tasks(MINER.actor, dl.open);
    const detail = `record ${JSON.stringify(rec)}; tasks ${JSON.stringify(tasks)}`;
    assert.equal(rec.partitions, MINER.partitions, detail);
    assert.deepEqual(rec.missed, [], detail);
    assert.deepEqual(rec.rejections, [], detail);
    assert.equal(tasks.length, MINER.partitions, detail);
    assert.ok(
      tasks.every((t) => t.state === "done"),
      detail,
    );
    const provers = new Set(tasks.map((t) => t.holder));
    assert.ok(provers.size > 1, `finished tasks come from more than one node: ${detail}`);
    const sent = (await messages()).filter((m) => m.height >= dl.challenge && m.height < dl.close);
    assert.ok(
      sent.every((m) => m.exitCode === 0),
      `every message succeeded: ${JSON.stringify(sent)}`,
    );
    assert.ok(
      sent.length <= Math.ceil(MINER.partitions / 3) + 1,
      `no duplicate messages: ${JSON.stringify(sent)}`,
    );
  });

  test("(b) a node killed while it holds a task: another takes it over within the lease, the deadline is proven", async () => {
    assert.ok(dl, "set up by (a)");
    const next = dl.open + PERIOD;
    // Wait for the next occurrence's tasks to be claimed, then kill a node holding one.
    let victim: { name: string; partition: number } | undefined;
    const until = Date.now() + PERIOD * BLOCK_MS * 3;
    while (!victim) {
      assert.ok(Date.now() < until, "the next occurrence's tasks were claimed");
      const running = (await c.tasks(MINER.actor, next)).filter((t) => t.state === "running" && t.holder);
      const r = running[0];
      if (r?.holder) victim = { name: r.holder, partition: r.partition };
      else await sleep(50);
    }
    const killedAt = Date.now();
    c.nodes.get(victim.name)?.kill("SIGKILL");
    let takenOverMs = -1;
    while (Date.now() - killedAt < 20_000) {
      const t = (await c.tasks(MINER.actor, next)).find((x) => x.partition === victim?.partition);
      if (t && t.holder !== victim.name && t.attempts >= 2) {
        takenOverMs = Date.now() - killedAt;
        break;
      }
      await sleep(50);
    }
    assert.ok(takenOverMs >= 0, `partition ${victim.partition} of ${victim.name} was taken over`);
    // Lease 3 s, claims every second at the latest: a takeover well within 10 s.
    assert.ok(takenOverMs < 8000, `taken over after ${takenOverMs} ms`);
    const rec = await c.stack.waitForRecord(MINER.actor, next, PERIOD * BLOCK_MS * 4);
    const hist = await c.history(MINER.actor, next);
    const detail = `killed ${victim.name}; record ${JSON.stringify(rec)}; history ${JSON.stringify(hist)}`;
    assert.deepEqual(rec.missed, [], detail);
    assert.deepEqual(rec.rejections, [], detail);
    assert.ok(
      hist.some((h) => h.partition === victim?.partition && h.node === victim.name && h.state === "lost"),
      `the dead node's attempt is recorded lost: ${detail}`,
    );
    // The metrics of the node that took it over say so; every member reports the cluster's tasks.
    const t = (await c.tasks(MINER.actor, next)).find((x) => x.partition === victim?.partition);
    assert.ok(t?.holder, detail);
    const metrics = await (await fetch(`http://${await readApiFile(c.home(t.holder))}/metrics`)).text();
    assert.match(metrics, /^vsm_cluster_lease_takeovers_total\{kind="task"\} [1-9]/m, metrics);
    assert.match(metrics, /^vsm_cluster_tasks\{state="done"\} (\d+)/m);
    assert.ok(Number(/^vsm_cluster_tasks\{state="done"\} (\d+)/m.exec(metrics)?.[1]) >= MINER.partitions);
    assert.match(metrics, /^vsm_cluster_task_results_total\{outcome="done"\} [1-9]/m);
    assert.match(metrics, /^vsm_cluster_claim_seconds_count [1-9]/m);
    // The node comes back under the same name and takes work again.
    await c.startNode(victim.name);
  });
});
