/**
 * Issue 13, case (c), on the real path: a devnet, a PostgreSQL server, a source node and three PoSter
 * nodes (`--poster --ext-prover --name`, one [[WdPost]] child each answering with real proofs after a
 * fixed 2 s). One miner's deadline has six partitions.
 *
 * Geometry. 300 ms blocks, deadlines of 40 epochs, lookback 20; ChallengeConfidence 11, so the tasks
 * are created 9 epochs (2.7 s) before Open and the second round of proofs (partitions 3 to 5) runs
 * across Open + 1, when submission is allowed and the first message group (the first three proofs) is
 * formed. The node that claims that group therefore also holds a running task: the test SIGSTOPs it at
 * that moment (group 'claimed' or 'sent' in the database), keeps it stopped for 6 s, twice the 3 s
 * lease, and until the other nodes took its task and its group over, then SIGCONTs it.
 *
 * What must hold: the resumed node submits nothing stale. The devnet executed exactly one
 * SubmitWindowedPoSt per message group, each with exit code 0 (the devnet refuses a partition proven
 * twice), recorded no rejection and no missed partition; the stopped node's task attempt is in the
 * history as lost and another node proved the partition; the resumed node's log says it dropped its
 * work, and it proved or sent nothing of what it held.
 *
 * Two races of the catch are ruled out before the stop counts, by letting the node go on and catching
 * it again: a node stopped inside a database transaction keeps that transaction's row locks until it
 * resumes (or the server's idle_in_transaction_session_timeout, 30 s), which would hold the takeover
 * back past what this test waits (pg_stat_activity shows it); and a node may have finished the task
 * (or the group) between the read that caught it and the SIGSTOP (the database shows it).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { DeadlineInfo } from "../../src/chain/interface.js";
import { MinerMethod } from "../../src/chain/message.js";
import { ClusterStack } from "../helpers/clusterStack.js";
import { type PgServer, startPg } from "../helpers/pgServer.js";
import { fixedTimeWdPostBlocks, parseLogLine } from "../helpers/posterStack.js";
import { tempDir } from "../helpers/tmp.js";

const BLOCK_MS = 300;
const POLICY = { deadlines: 3, window: 40, lookback: 20, cutoff: 21 };
const MINER = { actor: 1000, deadline: 2, partitions: 6, challengeConfidence: 11, submitConfidence: 1 };
const NODES = ["n1", "n2", "n3"];
const PROVE_MS = 2000;
/** How long the node stays stopped at least: twice the lease (FAST_LEASES, 3 s). */
const STOP_MS = 6000;
/** What the resumed node may log when it lets go of work it no longer holds. */
const DROPPED =
  /partition task dropped|message group dropped|result not recorded: the lease ran out|result refused/;

interface Held {
  node: string;
  partition: number;
  taskAttempt: number;
  /** The message group it held too, if it was caught holding one. */
  group: { index: number; state: string; attempt: number; partitions: number[] } | null;
}

describe("the PoSter cluster: a node stopped while it holds work sends nothing stale", {
  timeout: 170_000,
}, () => {
  let dir = "";
  let cleanup = async () => {};
  let pg: PgServer;
  let c: ClusterStack;
  let frozen: string | null = null;

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-cluster-stop-"));
    pg = await startPg();
    c = new ClusterStack({
      dir,
      dsn: await pg.createDatabase("cluster"),
      blockTimeMs: BLOCK_MS,
      policy: POLICY,
      miners: [MINER],
      extProverCfg: fixedTimeWdPostBlocks(1, { delayMs: PROVE_MS }),
    });
    await c.start(NODES);
  });
  after(async () => {
    if (frozen) c?.nodes.get(frozen)?.kill("SIGCONT");
    await c?.stop();
    await pg?.destroy();
    await cleanup();
  });

  /** A node that holds a running task and a claimed or sent group of the deadline, now. */
  const holdingBoth = async (open: number): Promise<Held | undefined> => {
    const [r] = await c.sql<
      {
        node: string;
        group_index: number;
        gstate: string;
        gattempt: number;
        partitions: number[];
        partition_index: number;
        tattempt: number;
      }[]
    >`
      SELECT g.claimed_by AS node, g.group_index, g.state AS gstate, g.attempts AS gattempt, g.partitions,
        t.partition_index, t.attempts AS tattempt
      FROM message_groups g JOIN partition_tasks t
        ON t.miner = g.miner AND t.open_epoch = g.open_epoch AND t.holder = g.claimed_by
      WHERE g.miner = ${MINER.actor} AND g.open_epoch = ${open} AND g.state IN ('claimed', 'sent')
        AND g.lease_expires_at > now() AND t.state = 'running' AND t.lease_expires_at > now()
      ORDER BY t.partition_index LIMIT 1`;
    return r
      ? {
          node: r.node,
          partition: r.partition_index,
          taskAttempt: r.tattempt,
          group: { index: r.group_index, state: r.gstate, attempt: r.gattempt, partitions: r.partitions },
        }
      : undefined;
  };

  /** A node that holds a running task of the deadline, now (the fallback when no group was caught). */
  const holdingTask = async (open: number): Promise<Held | undefined> => {
    const [r] = await c.sql<{ holder: string; partition_index: number; attempts: number }[]>`
      SELECT holder, partition_index, attempts FROM partition_tasks
      WHERE miner = ${MINER.actor} AND open_epoch = ${open} AND state = 'running' AND lease_expires_at > now()
      ORDER BY partition_index LIMIT 1`;
    return r
      ? { node: r.holder, partition: r.partition_index, taskAttempt: r.attempts, group: null }
      : undefined;
  };

  /**
   * Whether `node` has a transaction open on the server, or a statement still running (one waiting on
   * a lock becomes an open transaction when it ends): its row locks would outlive the stop.
   */
  const inTransaction = async (node: string): Promise<boolean> => {
    const rows = await c.sql<{ state: string }[]>`
      SELECT state FROM pg_stat_activity
      WHERE application_name = ${`vsm ${node}`} AND (state LIKE 'idle in transaction%' OR state = 'active')`;
    return rows.length > 0;
  };

  /** Whether the database still has `h`'s task (and group) under the same attempt of its node. */
  const stillHolds = async (h: Held, open: number): Promise<boolean> => {
    const [task] = await c.sql<{ n: number }[]>`
      SELECT count(*)::INT AS n FROM partition_tasks
      WHERE miner = ${MINER.actor} AND open_epoch = ${open} AND partition_index = ${h.partition} AND state = 'running'
        AND holder = ${h.node} AND attempts = ${h.taskAttempt}`;
    if (!task || task.n === 0) return false;
    if (!h.group) return true;
    const [g] = await c.sql<{ n: number }[]>`
      SELECT count(*)::INT AS n FROM message_groups
      WHERE miner = ${MINER.actor} AND open_epoch = ${open} AND group_index = ${h.group.index}
        AND state IN ('claimed', 'sent')
        AND claimed_by = ${h.node} AND attempts = ${h.group.attempt}`;
    return !!g && g.n > 0;
  };

  test("(c) a node SIGSTOPped while it holds a task and a message group, then SIGCONTed: nothing stale reaches the chain", async (t) => {
    const s = c.stack;
    const at = s.onboardingEpoch(MINER.actor, MINER.deadline, (await s.epoch()) + 1, 25);
    await s.waitForEpoch(at, 60_000);
    const placed = await s.seal(MINER.actor, 2 * MINER.partitions);
    assert.deepEqual([...placed], [MINER.deadline]);
    await s.attach();
    const dl: DeadlineInfo = s.nextDeadline(MINER.actor, MINER.deadline, await s.epoch());
    assert.ok((await s.epoch()) < dl.challenge + MINER.challengeConfidence, "in place before the tasks");

    // Catch the moment; past Open + 8 without a group caught, a running task will do.
    let held: Held | undefined;
    let retries = 0;
    await s.waitForEpoch(dl.challenge + MINER.challengeConfidence, 60_000);
    const until = Date.now() + (dl.close - dl.challenge) * BLOCK_MS * 3;
    while (!held) {
      assert.ok(Date.now() < until, "a node was seen holding a task of the deadline");
      const h =
        (await holdingBoth(dl.open)) ??
        ((await s.epoch()) >= dl.open + 8 ? await holdingTask(dl.open) : undefined);
      if (!h) {
        await sleep(20);
        continue;
      }
      const proc = c.nodes.get(h.node);
      assert.ok(proc, `${h.node} is one of the stack's nodes`);
      proc.kill("SIGSTOP");
      frozen = h.node;
      await sleep(100);
      if (retries < 5 && ((await inTransaction(h.node)) || !(await stillHolds(h, dl.open)))) {
        // Frozen between two statements of a transaction, or just after it finished the work (the
        // database says it no longer holds it): let it go on and catch it again.
        proc.kill("SIGCONT");
        frozen = null;
        retries++;
        await sleep(30);
        continue;
      }
      held = h;
    }
    const victim = held.node;
    const proc = c.nodes.get(victim);
    assert.ok(proc);
    const stoppedAt = Date.now();
    t.diagnostic(
      `stopped ${JSON.stringify(held)} (${retries} retries) at epoch ${await s.epoch()} (open ${dl.open})`,
    );

    // Stopped past the lease, and until its task and group are in other hands.
    let takenOver = false;
    let seen = "";
    while (Date.now() - stoppedAt < 20_000) {
      const [task] = await c.sql<{ holder: string | null; attempts: number }[]>`
        SELECT holder, attempts FROM partition_tasks
        WHERE miner = ${MINER.actor} AND open_epoch = ${dl.open} AND partition_index = ${held.partition}`;
      const taskMoved = !!task && task.holder !== victim && task.attempts > held.taskAttempt;
      let groupMoved = true;
      if (held.group) {
        const [g] = await c.sql<{ claimed_by: string | null; attempts: number }[]>`
          SELECT claimed_by, attempts FROM message_groups
          WHERE miner = ${MINER.actor} AND open_epoch = ${dl.open} AND group_index = ${held.group.index}`;
        groupMoved = !!g && g.claimed_by !== victim && g.attempts > held.group.attempt;
      }
      takenOver = taskMoved && groupMoved;
      seen = `task ${JSON.stringify(task)}, task moved ${taskMoved}, group moved ${groupMoved}`;
      if (takenOver && Date.now() - stoppedAt >= STOP_MS) break;
      await sleep(100);
    }
    const stoppedMs = Date.now() - stoppedAt;
    if (!takenOver) {
      // Why not, while the node is still stopped: its sessions and locks, the others' last words.
      const act = await c.sql`
        SELECT application_name, state, wait_event_type, left(query, 100) AS query, xact_start
        FROM pg_stat_activity WHERE application_name LIKE 'vsm %'`;
      const locks = await c.sql`
        SELECT a.application_name, l.mode, l.granted, l.relation::regclass::text AS rel
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE a.application_name LIKE 'vsm %' AND (l.locktype = 'relation' OR NOT l.granted)`;
      const others = NODES.filter((n) => n !== victim).map(
        (n) => `${n}:\n${(c.lines.get(n) ?? []).slice(-15).join("\n")}`,
      );
      seen += `; activity ${JSON.stringify(act)}; locks ${JSON.stringify(locks)}; ${others.join("\n")}`;
    }
    const resumedLine = (c.lines.get(victim) ?? []).length;
    proc.kill("SIGCONT");
    frozen = null;
    assert.ok(takenOver, `the stopped node's work was taken over within ${stoppedMs} ms: ${seen}`);

    const rec = await s.waitForRecord(
      MINER.actor,
      dl.open,
      (dl.close - (await s.epoch())) * BLOCK_MS * 4 + 30_000,
    );
    const sent = (
      await s.devnet.call<{ cid: string; to: string; method: number; height: number; exitCode: number }[]>(
        "Devnet.Messages",
        [500],
      )
    ).filter(
      (m) =>
        m.to === `f0${MINER.actor}` &&
        m.method === MinerMethod.SubmitWindowedPoSt &&
        m.height >= dl.challenge &&
        m.height <= dl.close,
    );
    const groups = await c.sql<
      {
        group_index: number;
        partitions: number[];
        state: string;
        claimed_by: string;
        msg_cid: string | null;
      }[]
    >`SELECT group_index, partitions, state, claimed_by, msg_cid FROM message_groups
      WHERE miner = ${MINER.actor} AND open_epoch = ${dl.open} ORDER BY group_index`;
    const hist = await c.history(MINER.actor, dl.open);
    const tasks = await c.tasks(MINER.actor, dl.open);
    const after = (c.lines.get(victim) ?? []).slice(resumedLine);
    const detail = `stopped ${JSON.stringify(held)} for ${stoppedMs} ms; record ${JSON.stringify(rec)}; messages ${JSON.stringify(sent)}; groups ${JSON.stringify(groups)}; tasks ${JSON.stringify(tasks)}; history ${JSON.stringify(hist)}`;

    // The deadline is proven, nothing rejected.
    assert.equal(rec.partitions, MINER.partitions, detail);
    assert.deepEqual(rec.missed, [], detail);
    assert.deepEqual(rec.rejections, [], detail);
    assert.equal(rec.proven.length, MINER.partitions, detail);

    // One message per group, each executed without error: no partition went out twice (the devnet
    // would have refused the second with a non-zero exit code), no stale message.
    assert.ok(
      sent.every((m) => m.exitCode === 0),
      `every message succeeded: ${detail}`,
    );
    assert.ok(
      groups.every((g) => g.state === "landed"),
      `every group landed: ${detail}`,
    );
    const grouped = groups.flatMap((g) => g.partitions).sort((a, b) => a - b);
    assert.deepEqual(
      grouped,
      Array.from({ length: MINER.partitions }, (_, i) => i),
      `each partition in exactly one group: ${detail}`,
    );
    assert.equal(sent.length, groups.length, `one message per group, no duplicate: ${detail}`);
    const cids = new Set(sent.map((m) => m.cid));
    for (const g of groups)
      if (g.msg_cid !== null)
        assert.ok(cids.has(g.msg_cid), `group ${g.group_index}'s message executed: ${detail}`);

    // The stopped node's attempt was lost, another node proved the partition.
    assert.ok(
      hist.some((h) => h.partition === held?.partition && h.node === victim && h.state === "lost"),
      `the stopped node's attempt is recorded lost: ${detail}`,
    );
    const task = tasks.find((x) => x.partition === held?.partition);
    assert.equal(task?.state, "done", detail);
    assert.notEqual(task?.holder, victim, `another node finished partition ${held.partition}: ${detail}`);
    assert.ok(
      hist.some((h) => h.partition === held?.partition && h.node !== victim && h.state === "done"),
      `another node's attempt is recorded done: ${detail}`,
    );

    // The resumed node let go of its work: a drop line, and nothing proven or sent of what it held.
    const parsed = after.map(parseLogLine).filter((l) => l !== undefined);
    const said = parsed.map((l) => `${l.msg} ${JSON.stringify(l.fields)}`);
    assert.ok(
      parsed.some((l) => DROPPED.test(l.msg)),
      `the resumed node says it dropped its work; it logged: ${said.join("\n")}`,
    );
    assert.ok(
      !parsed.some(
        (l) =>
          l.msg === "partition proven" &&
          l.fields.partition === held?.partition &&
          l.fields.attempt === held?.taskAttempt,
      ),
      `the resumed node recorded no proof of its lost attempt: ${said.join("\n")}`,
    );
    if (held.group) {
      const g = held.group;
      assert.ok(
        !parsed.some(
          (l) =>
            l.msg === "window post message sent" &&
            l.fields.group === g.index &&
            l.fields.attempt === g.attempt,
        ),
        `the resumed node sent no message for the group it lost: ${said.join("\n")}`,
      );
    }
    t.diagnostic(`resumed node: ${said.filter((l) => DROPPED.test(l)).join(" | ")}`);
  });
});
