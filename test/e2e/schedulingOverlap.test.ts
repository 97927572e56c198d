/**
 * Issue 6, "two miners whose windows overlap, with fewer provers than partitions: earliest-Close
 * ordering proves all on time where first-come-first-served would not", on the real path: a devnet
 * process, a source node, and a standalone PoSter with both miners in [[Miners]] and two [[WdPost]]
 * children that answer with real proofs (checked by the devnet) after a fixed 1 s each
 * (test/fixtures/fixedTimeProcessor.mjs).
 *
 * Geometry. Policy: 3 deadlines of 35 epochs, lookback 20, 200 ms blocks. The devnet gives f0<id> the
 * proving-period offset id mod 105, so deadline 0 of f01001 (A, 2 partitions) opens 34 epochs before
 * deadline 1 of f01000 (B, 14 partitions) and closes 34 epochs earlier; their windows overlap. On one
 * chain, deadlines whose PoSters wait the same ChallengeConfidence reach the provers in Close order, and
 * then both orders are the same. Here A's [Miners.PoSt] ChallengeConfidence is 36 (B's is 1), so B's
 * work reaches the provers one epoch before A's: the stand-in for whatever makes a soon-closing
 * deadline's work arrive after a later-closing one's (its runner started late, slow sector checks,
 * partitions proven again). Counted from B's start, A must be on chain within 20 epochs (4 s), B within
 * 54 (10.8 s); 16 partitions on 2 provers take 8 s.
 *   - Earliest Close first (the pool's order): A's two partitions run as soon as two provers are free
 *     (≈ 2 s after B's start): both deadlines are proven.
 *   - First come first served: A's partitions wait behind all 14 of B's (≈ 8 s): A misses its Close.
 * FCFS is run for real on the same two provers, not computed: one child holding both slots, with
 * `Concurrent = 16` so that the pool hands every request over at once and the child serves them in
 * arrival order. That is also the operator's lesson: a `Concurrent` above what a child can really run
 * at once takes the ordering away from the PoSter.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { DeadlineInfo } from "../../src/chain/interface.js";
import { MinerMethod } from "../../src/chain/message.js";
import { fixedTimeWdPostBlocks, PosterStack, readTimeline, type Served } from "../helpers/posterStack.js";
import { tempDir } from "../helpers/tmp.js";

const BLOCK_MS = 200;
const POLICY = { deadlines: 3, window: 35, lookback: 20, cutoff: 21 };
const PERIOD = POLICY.deadlines * POLICY.window;
const PROVE_MS = 1000;
const PROVERS = 2;
/** A closes first but its PoSter starts proving last. */
const A = { actor: 1001, deadline: 0, partitions: 2, challengeConfidence: POLICY.window + 1 };
const B = { actor: 1000, deadline: 1, partitions: 14, challengeConfidence: 1 };

/** When each miner's SubmitWindowedPoSt messages of these deadlines executed, against their Close. */
async function landed(stack: PosterStack, a: DeadlineInfo, b: DeadlineInfo): Promise<string> {
  const msgs = await stack.devnet.call<{ to: string; method: number; height: number; exitCode: number }[]>(
    "Devnet.Messages",
    [500],
  );
  const of = (actor: number, d: DeadlineInfo) => {
    const hs = msgs
      .filter((m) => m.to === `f0${actor}` && m.method === MinerMethod.SubmitWindowedPoSt && m.exitCode === 0)
      .map((m) => m.height)
      .filter((h) => h >= d.challenge && h < d.close);
    return hs.length === 0
      ? `f0${actor}: nothing landed before Close ${d.close}`
      : `f0${actor}: last proof at epoch ${Math.max(...hs)}, ${d.close - Math.max(...hs)} epochs before Close ${d.close}`;
  };
  return `${of(A.actor, a)}; ${of(B.actor, b)}`;
}

const order = (served: Served[]) =>
  [...served]
    .sort((x, y) => x.started - y.started)
    .map((s) => (s.miner === A.actor ? "A" : "B"))
    .join("");

describe("two miners with overlapping windows on 2 provers: earliest Close first vs first come first served", () => {
  let dir = "";
  let cleanup = async () => {};
  let stack: PosterStack;
  let served = "";
  let servedFcfs = "";
  let a: DeadlineInfo;
  let b: DeadlineInfo;

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-overlap-"));
    served = path.join(dir, "served-edf.jsonl");
    servedFcfs = path.join(dir, "served-fcfs.jsonl");
    stack = new PosterStack({
      dir,
      blockTimeMs: BLOCK_MS,
      policy: POLICY,
      miners: [
        { actor: B.actor, challengeConfidence: B.challengeConfidence, submitConfidence: 1 },
        { actor: A.actor, challengeConfidence: A.challengeConfidence, submitConfidence: 1 },
      ],
      extProverCfg: fixedTimeWdPostBlocks(PROVERS, { delayMs: PROVE_MS, timeline: served }),
    });
    await stack.startAll();
  });
  after(async () => {
    await stack?.stop();
    await cleanup();
  });

  test("sectors land in overlapping deadlines: A closes first, its proving starts after B's", async () => {
    // Only a mutable deadline (neither the current nor the next) takes new sectors; with 3 deadlines
    // that is exactly one, so each seal lands in the deadline chosen by when it runs.
    const sealInto = async (m: typeof A, sectors: number) => {
      const at = stack.onboardingEpoch(m.actor, m.deadline, (await stack.epoch()) + 1, 25);
      await stack.waitForEpoch(at, 60_000);
      const placed = await stack.seal(m.actor, sectors);
      assert.deepEqual([...placed], [m.deadline], `f0${m.actor}'s sectors placed in deadline ${m.deadline}`);
      return stack.nextDeadline(m.actor, m.deadline, await stack.epoch());
    };
    a = await sealInto(A, 2 * A.partitions);
    b = await sealInto(B, 2 * B.partitions);
    await stack.attach();
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
    assert.ok((await stack.epoch()) < startB - 5, "everything is in place before B's proving starts");
  });

  test("earliest Close first: A's partitions jump B's queue, both deadlines are proven", async (t) => {
    assert.ok(a && b, "set up by the previous test");
    const budget = (b.close - (await stack.epoch())) * BLOCK_MS * 4 + 30_000;
    const recA = await stack.waitForRecord(A.actor, a.open, budget);
    const recB = await stack.waitForRecord(B.actor, b.open, budget);
    const log = await readTimeline(served);
    const detail = `order served: ${order(log)}; A ${JSON.stringify(recA)}; B ${JSON.stringify(recB)}`;
    assert.equal(recA.partitions, A.partitions, detail);
    assert.equal(recB.partitions, B.partitions, detail);
    assert.deepEqual(recA.missed, [], `A proven on time: ${detail}`);
    assert.deepEqual(recB.missed, [], `B proven on time: ${detail}`);
    assert.deepEqual([...recA.rejections, ...recB.rejections], [], detail);
    // B's work reached the provers first (its first round started before A's arrived), then A's two
    // partitions went ahead of the 12 of B's that were waiting.
    assert.equal(order(log), `BBAA${"B".repeat(B.partitions - PROVERS)}`, detail);
    t.diagnostic(await landed(stack, a, b));
  });

  test("first come first served on the same two provers: A misses its Close, B is proven", async (t) => {
    assert.ok(a && b, "set up by the previous tests");
    await stack.writeExtProverCfg(
      fixedTimeWdPostBlocks(1, { delayMs: PROVE_MS, slots: PROVERS, concurrent: 16, timeline: servedFcfs }),
    );
    await stack.reloadProvers();
    for (let i = 0; ; i++) {
      const rows = await stack.provers();
      if (rows.length === 1 && rows[0]?.state === "ready" && rows[0].concurrent === 16) break;
      assert.ok(i < 120, `the reloaded child is ready: ${JSON.stringify(rows)}`);
      await sleep(250);
    }
    const a2 = a.open + PERIOD;
    const b2 = b.open + PERIOD;
    assert.ok(
      (await stack.epoch()) < b2 - POLICY.lookback,
      "the reload finished before the next occurrence started",
    );
    const budget = (b2 + POLICY.window - (await stack.epoch())) * BLOCK_MS * 4 + 30_000;
    const recA = await stack.waitForRecord(A.actor, a2, budget);
    const recB = await stack.waitForRecord(B.actor, b2, budget);
    const log = await readTimeline(servedFcfs);
    const detail = `order served: ${order(log)}; A ${JSON.stringify(recA)}; B ${JSON.stringify(recB)}`;
    t.diagnostic(
      await landed(
        stack,
        { ...a, challenge: a.challenge + PERIOD, close: a.close + PERIOD },
        { ...b, challenge: b.challenge + PERIOD, close: b.close + PERIOD },
      ),
    );
    assert.deepEqual(recA.missed, [0, 1], `A missed its Close: ${detail}`);
    assert.deepEqual(recB.missed, [], `B proven: ${detail}`);
    assert.equal(recB.proven.length, B.partitions, detail);
    // Served in arrival order: none of A's partitions started before the last of B's.
    const lastB = Math.max(...log.filter((s) => s.miner === B.actor).map((s) => s.started));
    assert.ok(
      log.filter((s) => s.miner === A.actor).every((s) => s.started >= lastB),
      `A's partitions waited behind all of B's: ${detail}`,
    );
  });
});
