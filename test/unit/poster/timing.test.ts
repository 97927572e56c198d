/**
 * Deadline timing tests. Vectors for dline.NewInfo come from the mainnet samples quoted in damocles
 * `damocles-manager/modules/poster/deadline.go`; the scheduler expectations follow damocles
 * `modules/poster/{poster,scheduler}.go` (start at Challenge + ChallengeConfidence, submit from
 * Open + SubmitConfidence, abort at Close or on a revert below Challenge).
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type DeadlinePolicy, MAINNET_POLICY, newDeadlineInfo } from "../../../src/chain/dline.js";
import type { DeadlineInfo, HeadChange, TipSet } from "../../../src/chain/interface.js";
import { parseSectorManagerConfig } from "../../../src/config/load.js";
import { provingDeadlineAt as devnetProvingDeadline } from "../../../src/devnet/policy.js";
import {
  couldSubmit,
  type DeadlineAction,
  DeadlineTracker,
  isActive,
  nextDeadline,
  shouldAbort,
  shouldStart,
  summarizeHeadChanges,
  type TimingConfig,
} from "../../../src/poster/timing.js";

/** 4 deadlines × window 10 (period 40), lookback 4, fault cutoff 7. */
const SMALL: DeadlinePolicy = {
  wPoStPeriodDeadlines: 4,
  wPoStProvingPeriod: 40,
  wPoStChallengeWindow: 10,
  wPoStChallengeLookback: 4,
  faultDeclarationCutoff: 7,
};
const SMALL_CFG: TimingConfig = { challengeConfidence: 2, submitConfidence: 1 };

/** The timing of one miner as poster.ts reads it from `[Miners.PoSt]` (`lines` added to that table). */
function configuredTiming(lines = ""): TimingConfig {
  const src = `[[Miners]]\nActor = 1000\n[Miners.PoSt]\n${lines}\n`;
  const post = parseSectorManagerConfig("<test>", src, process.cwd()).config.Miners[0]!.PoSt;
  return { challengeConfidence: post.ChallengeConfidence, submitConfidence: post.SubmitConfidence };
}
const DEFAULT_TIMING = configuredTiming();

/**
 * StateMinerProvingDeadline at `epoch` for a miner whose proving period starts at `offset` (less than
 * the period, as builtin-actors assigns it), as the devnet chain answers it.
 */
const provingDeadlineAt = (offset: number, epoch: number, policy: DeadlinePolicy): DeadlineInfo =>
  devnetProvingDeadline(offset, epoch, { ...policy, postedPartitionsMax: 3 });
const MINER = "f01000";

/** Tipsets of a fork are told apart by a fork tag in their key. */
const ts = (height: number, fork = "a"): TipSet => ({
  key: [`${fork}${height}`],
  height,
  timestamp: height * 30,
});
const cur = (h: number, fork = "a"): HeadChange[] => [{ type: "current", tipset: ts(h, fork) }];
const apply = (h: number, fork = "a"): HeadChange[] => [{ type: "apply", tipset: ts(h, fork) }];
/** Lotus order: reverts from the old head downwards, then applies upwards. */
function reorg(oldHead: number, oldFork: string, forkPoint: number, newHead: number, newFork: string) {
  const out: HeadChange[] = [];
  for (let h = oldHead; h > forkPoint; h--) out.push({ type: "revert", tipset: ts(h, oldFork) });
  for (let h = forkPoint + 1; h <= newHead; h++) out.push({ type: "apply", tipset: ts(h, newFork) });
  return out;
}

const brief = (a: DeadlineAction) =>
  a.kind === "abort" ? `abort:${a.di.open}:${a.reason}` : `${a.kind}:${a.di.open}@${a.tipset.height}`;

describe("newDeadlineInfo / nextDeadline / StateMinerProvingDeadline", () => {
  it("matches the mainnet dline.Info samples in damocles deadline.go", () => {
    const samples = [
      { ce: 1143656, ps: 1143609, idx: 0, open: 1143609, close: 1143669, ch: 1143589, fc: 1143539 },
      { ce: 1144232, ps: 1143609, idx: 10, open: 1144209, close: 1144269, ch: 1144189, fc: 1144139 },
      { ce: 1143664, ps: 1142556, idx: 31, open: 1144416, close: 1144476, ch: 1144396, fc: 1144346 },
    ];
    for (const s of samples) {
      const di = newDeadlineInfo(s.ps, s.idx, s.ce, MAINNET_POLICY);
      assert.deepEqual(di, {
        currentEpoch: s.ce,
        periodStart: s.ps,
        index: s.idx,
        open: s.open,
        close: s.close,
        challenge: s.ch,
        faultCutoff: s.fc,
        ...MAINNET_POLICY,
      });
    }
  });

  it("returns the no-duty deadline for an index past the last one (dline.NewInfo)", () => {
    const di = newDeadlineInfo(100, 48, 150, MAINNET_POLICY);
    assert.equal(di.open, 2980);
    assert.equal(di.close, 2980);
    assert.equal(di.challenge, 2980);
    assert.equal(di.faultCutoff, 0);
  });

  it("nextDeadline increments the index and wraps with periodStart += provingPeriod", () => {
    const cases: { policy: DeadlinePolicy; ps: number; idx: number; want: [number, number, number] }[] = [
      { policy: MAINNET_POLICY, ps: 1143609, idx: 0, want: [1143609, 1, 1143669] },
      { policy: MAINNET_POLICY, ps: 1143609, idx: 47, want: [1143609 + 2880, 0, 1143609 + 2880] },
      { policy: SMALL, ps: 3, idx: 2, want: [3, 3, 33] },
      { policy: SMALL, ps: 3, idx: 3, want: [43, 0, 43] },
    ];
    for (const c of cases) {
      const di = newDeadlineInfo(c.ps, c.idx, 7, c.policy);
      const n = nextDeadline(di);
      assert.deepEqual([n.periodStart, n.index, n.open], c.want);
      assert.deepEqual(n, newDeadlineInfo(c.want[0], c.want[1], 7, c.policy));
      assert.equal(n.challenge, n.open - c.policy.wPoStChallengeLookback);
      assert.equal(n.close, n.open + c.policy.wPoStChallengeWindow);
      assert.equal(n.faultCutoff, n.open - c.policy.faultDeclarationCutoff);
      // Consecutive deadlines tile the timeline: next opens where the current one closes.
      assert.equal(n.open, di.close);
    }
  });

  it("StateMinerProvingDeadline reproduces the mainnet samples and quantizes like QuantSpec", () => {
    // Sample 1/2 share periodStart 1143609 → seed 1143609 mod 2880 = 249.
    assert.deepEqual(
      provingDeadlineAt(249, 1143656, MAINNET_POLICY),
      newDeadlineInfo(1143609, 0, 1143656, MAINNET_POLICY),
    );
    assert.deepEqual(
      provingDeadlineAt(249, 1144232, MAINNET_POLICY),
      newDeadlineInfo(1143609, 10, 1144232, MAINNET_POLICY),
    );
    // Boundaries in the small policy, seed 3: period [3, 43).
    const table: [number, number, number][] = [
      // epoch, periodStart, index
      [3, 3, 0],
      [12, 3, 0],
      [13, 3, 1],
      [42, 3, 3],
      [43, 43, 0],
      [2, -37, 3],
      [0, -37, 3],
    ];
    for (const [e, ps, idx] of table) {
      const di = provingDeadlineAt(3, e, SMALL);
      assert.deepEqual([di.periodStart, di.index], [ps, idx], `epoch ${e}`);
      assert.ok(di.open <= e && e < di.close);
    }
  });
});

describe("decision functions", () => {
  it("mainnet deadline with damocles defaults", () => {
    const di = newDeadlineInfo(1143609, 10, 0, MAINNET_POLICY); // challenge 1144189, open 1144209, close 1144269
    const cfg = DEFAULT_TIMING;
    const rows: [number, boolean, boolean, boolean, boolean][] = [
      // head, isActive, shouldStart, couldSubmit, shouldAbort
      [1144188, false, false, false, false],
      [1144189, true, false, false, false],
      [1144198, true, false, false, false],
      [1144199, true, true, false, false],
      [1144212, true, true, false, false],
      [1144213, true, true, true, false],
      [1144268, true, true, true, false],
      [1144269, false, false, false, true],
      [1144300, false, false, false, true],
    ];
    for (const [h, act, st, sub, ab] of rows) {
      assert.deepEqual(
        [isActive(di, h), shouldStart(di, h, cfg), couldSubmit(di, h, cfg), shouldAbort(di, h)],
        [act, st, sub, ab],
        `head ${h}`,
      );
    }
  });

  it("small policy", () => {
    const di = newDeadlineInfo(3, 1, 0, SMALL); // challenge 9, open 13, close 23
    const rows: [number, boolean, boolean, boolean, boolean][] = [
      [8, false, false, false, false],
      [9, true, false, false, false],
      [10, true, false, false, false],
      [11, true, true, false, false],
      [13, true, true, false, false],
      [14, true, true, true, false],
      [22, true, true, true, false],
      [23, false, false, false, true],
    ];
    for (const [h, act, st, sub, ab] of rows) {
      assert.deepEqual(
        [isActive(di, h), shouldStart(di, h, SMALL_CFG), couldSubmit(di, h, SMALL_CFG), shouldAbort(di, h)],
        [act, st, sub, ab],
        `head ${h}`,
      );
    }
  });

  it("[Miners.PoSt] confidences default to damocles' (10, 4), 0 means the default, bad values are refused", () => {
    assert.deepEqual(DEFAULT_TIMING, { challengeConfidence: 10, submitConfidence: 4 });
    assert.deepEqual(configuredTiming("ChallengeConfidence = 0\nSubmitConfidence = 0"), {
      challengeConfidence: 10,
      submitConfidence: 4,
    });
    assert.deepEqual(configuredTiming("ChallengeConfidence = 1\nSubmitConfidence = 6"), {
      challengeConfidence: 1,
      submitConfidence: 6,
    });
    assert.throws(() => configuredTiming("ChallengeConfidence = -1"), { code: "CONFIG_INVALID" });
    assert.throws(() => configuredTiming("SubmitConfidence = 1.5"), { code: "CONFIG_INVALID" });
  });

  it("summarizeHeadChanges: current, apply-only, and revert+apply batches", () => {
    assert.deepEqual(summarizeHeadChanges(cur(5)), { head: ts(5), lowestReverted: null });
    assert.deepEqual(summarizeHeadChanges([...apply(5), ...apply(6)]), { head: ts(6), lowestReverted: null });
    assert.deepEqual(summarizeHeadChanges(reorg(10, "a", 7, 11, "b")), {
      head: ts(11, "b"),
      lowestReverted: 8,
    });
    assert.deepEqual(summarizeHeadChanges([]), { head: null, lowestReverted: null });
  });
});

/** Drives a tracker over a straight chain of epochs, feeding StateMinerProvingDeadline as the node would. */
function run(
  tracker: DeadlineTracker,
  seed: number,
  policy: DeadlinePolicy,
  from: number,
  to: number,
  fork = "a",
): DeadlineAction[] {
  const out: DeadlineAction[] = [];
  for (let h = from; h <= to; h++) {
    const batch = h === from ? cur(h, fork) : apply(h, fork);
    out.push(...tracker.update(batch, provingDeadlineAt(seed, h, policy)));
  }
  return out;
}

function checkFullPeriod(policy: DeadlinePolicy, cfg: TimingConfig, seed: number) {
  const tracker = new DeadlineTracker(MINER, cfg);
  // Begin well before the first deadline we check, end after a full period of closes.
  const first = provingDeadlineAt(seed, 10_000, policy);
  const from = first.open - policy.wPoStChallengeWindow - policy.wPoStChallengeLookback - 1;
  const to = first.open + 2 * policy.wPoStProvingPeriod;
  const actions = run(tracker, seed, policy, from, to);
  let checked = 0;
  for (let di = first; di.close <= to; di = nextDeadline(di)) {
    const mine = actions.filter((a) => a.di.open === di.open);
    const starts = mine.filter((a) => a.kind === "start");
    const submits = mine.filter((a) => a.kind === "submit");
    const aborts = mine.filter((a) => a.kind === "abort");
    assert.equal(starts.length, 1, `deadline ${di.open}: one start`);
    assert.equal(
      starts[0]?.kind === "start" && starts[0].tipset.height,
      di.challenge + cfg.challengeConfidence,
    );
    assert.deepEqual(
      submits.map((a) => (a.kind === "submit" ? a.tipset.height : -1)),
      Array.from(
        { length: di.close - di.open - cfg.submitConfidence },
        (_, i) => di.open + cfg.submitConfidence + i,
      ),
      `deadline ${di.open}: submits from open+submitConfidence to close-1`,
    );
    assert.deepEqual(
      aborts.map((a) => (a.kind === "abort" ? a.reason : "")),
      ["closed"],
      `deadline ${di.open}: one closed abort`,
    );
    // The deadline info handed out is the one the chain computes.
    assert.deepEqual(
      { ...starts[0]!.di, currentEpoch: 0 },
      { ...newDeadlineInfo(di.periodStart, di.index, 0, policy) },
    );
    checked++;
  }
  assert.ok(checked >= 2 * policy.wPoStPeriodDeadlines - 1, `checked ${checked} deadlines`);
  // Never more than the current and the next deadline.
  assert.ok(tracker.tracked().length <= 2);
}

describe("DeadlineTracker", () => {
  it("small policy: two full periods epoch by epoch", () => {
    checkFullPeriod(SMALL, SMALL_CFG, 3);
  });

  it("mainnet policy with damocles defaults: two full periods epoch by epoch", () => {
    checkFullPeriod(MAINNET_POLICY, DEFAULT_TIMING, 249);
  });

  it("mainnet policy with Lotus-like confidences (challenge 1, submit 4)", () => {
    checkFullPeriod(MAINNET_POLICY, { challengeConfidence: 1, submitConfidence: 4 }, 1234);
  });

  it("tracks the next deadline while the current one is still open", () => {
    const tr = new DeadlineTracker(MINER, SMALL_CFG);
    // Deadline 1: challenge 9, open 13, close 23. Deadline 2: challenge 19, open 23, close 33.
    const seen: string[] = [];
    // Begin at 13: at 12 deadline 0 (open 3, close 13) would still be tracked as well.
    for (let h = 13; h <= 24; h++) {
      const acts = tr.update(h === 13 ? cur(h) : apply(h), provingDeadlineAt(3, h, SMALL));
      seen.push(`${h}:${acts.map(brief).join(",")}`);
      const opens = tr.tracked().map((t) => t.di.open);
      if (h >= 19 && h < 23) assert.deepEqual(opens, [13, 23], `head ${h}: current and next`);
      else assert.equal(opens.length, 1, `head ${h}`);
    }
    assert.deepEqual(seen, [
      "13:start:13@13",
      "14:submit:13@14",
      "15:submit:13@15",
      "16:submit:13@16",
      "17:submit:13@17",
      "18:submit:13@18",
      "19:submit:13@19",
      "20:submit:13@20",
      "21:submit:13@21,start:23@21",
      "22:submit:13@22",
      "23:abort:13:closed",
      "24:submit:23@24",
    ]);
  });

  it("a revert below Challenge aborts and restarts with the new head", () => {
    const tr = new DeadlineTracker(MINER, SMALL_CFG);
    run(tr, 3, SMALL, 10, 15); // deadline 13 (challenge 9) started at 11, submitting from 14
    const acts = tr.update(reorg(15, "a", 7, 16, "b"), provingDeadlineAt(3, 16, SMALL));
    assert.deepEqual(acts.map(brief), ["abort:13:reorg", "start:13@16", "submit:13@16"]);
    const start = acts[1];
    assert.ok(start?.kind === "start");
    assert.deepEqual(start.tipset, ts(16, "b"), "fresh tipset for randomness");
    // Back to normal afterwards: no further start.
    assert.deepEqual(tr.update(apply(17, "b"), provingDeadlineAt(3, 17, SMALL)).map(brief), ["submit:13@17"]);
  });

  it("a revert below Challenge that leaves the head before the start epoch restarts later", () => {
    const tr = new DeadlineTracker(MINER, SMALL_CFG);
    run(tr, 3, SMALL, 10, 15);
    // Fork point 7, new chain only reaches 9 (= challenge, not yet challenge + 2). The chain is back
    // before deadline 0's Close (13), so deadline 0 (open 3), aborted "closed" at 13, is open again on
    // the new chain and is proven again: our proof for it may not be on this fork.
    assert.deepEqual(tr.update(reorg(15, "a", 7, 9, "b"), provingDeadlineAt(3, 9, SMALL)).map(brief), [
      "abort:13:reorg",
      "start:3@9",
      "submit:3@9",
    ]);
    assert.deepEqual(tr.update(apply(10, "b"), provingDeadlineAt(3, 10, SMALL)).map(brief), ["submit:3@10"]);
    assert.deepEqual(tr.update(apply(11, "b"), provingDeadlineAt(3, 11, SMALL)).map(brief), [
      "submit:3@11",
      "start:13@11",
    ]);
  });

  it("a reorg to below Challenge drops the started deadline until it is active again", () => {
    const tr = new DeadlineTracker(MINER, SMALL_CFG);
    run(tr, 3, SMALL, 10, 12);
    // Deadline 13 (challenge 9) was started at 11; deadline 3 (challenge -1) is unaffected.
    assert.deepEqual(tr.update(reorg(12, "a", 6, 8, "b"), provingDeadlineAt(3, 8, SMALL)).map(brief), [
      "abort:13:reorg",
      "submit:3@8",
    ]);
    assert.deepEqual(
      tr.tracked().map((t) => t.di.open),
      [3],
    );
    const later = run(tr, 3, SMALL, 9, 14, "b").filter((a) => a.di.open === 13);
    assert.deepEqual(later.map(brief), ["start:13@11", "submit:13@14"]);
  });

  it("a revert at or above Challenge does not abort", () => {
    const tr = new DeadlineTracker(MINER, SMALL_CFG);
    run(tr, 3, SMALL, 10, 15);
    // Lowest reverted tipset 12 > challenge 9.
    assert.deepEqual(tr.update(reorg(15, "a", 11, 16, "b"), provingDeadlineAt(3, 16, SMALL)).map(brief), [
      "submit:13@16",
    ]);
    // Lowest reverted tipset 9 = challenge: damocles aborts only below Challenge.
    assert.deepEqual(tr.update(reorg(16, "b", 8, 17, "c"), provingDeadlineAt(3, 17, SMALL)).map(brief), [
      "submit:13@17",
    ]);
  });

  it("a revert below Challenge before the deadline started emits nothing extra", () => {
    const tr = new DeadlineTracker(MINER, SMALL_CFG);
    run(tr, 3, SMALL, 8, 10); // deadline 13: challenge 9, tracked from 9, start at 11
    assert.deepEqual(
      tr.tracked().map((t) => [t.di.open, t.started]),
      [
        [3, true],
        [13, false],
      ],
    );
    // Lowest reverted tipset 6 < challenge 9, but nothing runs for deadline 13 yet: no abort.
    assert.deepEqual(tr.update(reorg(10, "a", 5, 11, "b"), provingDeadlineAt(3, 11, SMALL)).map(brief), [
      "submit:3@11",
      "start:13@11",
    ]);
  });

  it("a jump of many epochs aborts closed deadlines and starts the current one", () => {
    const tr = new DeadlineTracker(MINER, SMALL_CFG);
    run(tr, 3, SMALL, 10, 22); // deadline 13 started, deadline 23 started at 21
    assert.deepEqual(
      tr.tracked().map((t) => [t.di.open, t.started]),
      [
        [13, true],
        [23, true],
      ],
    );
    // Node was down; the resubscription reports head 57: deadline 53 (challenge 49, open 53, close 63)
    // is current, and 57 is before deadline 63's challenge (59), so only 53 is tracked.
    const acts = tr.update(cur(57), provingDeadlineAt(3, 57, SMALL));
    assert.deepEqual(acts.map(brief), ["abort:13:closed", "abort:23:closed", "start:53@57", "submit:53@57"]);
    assert.deepEqual(
      tr.tracked().map((t) => t.di.open),
      [53],
    );
  });

  it("a jump into an overlap starts both the current and the next deadline", () => {
    const tr = new DeadlineTracker(MINER, SMALL_CFG);
    run(tr, 3, SMALL, 10, 12);
    // Head 62: deadline 53 (close 63) and deadline 63 (challenge 59, start at 61).
    const acts = tr.update([{ type: "apply", tipset: ts(62) }], provingDeadlineAt(3, 62, SMALL));
    assert.deepEqual(acts.map(brief), [
      "abort:3:closed",
      "abort:13:closed",
      "start:53@62",
      "submit:53@62",
      "start:63@62",
    ]);
  });

  it("repeated identical heads produce no duplicate actions", () => {
    const tr = new DeadlineTracker(MINER, SMALL_CFG);
    assert.deepEqual(tr.update(cur(14), provingDeadlineAt(3, 14, SMALL)).map(brief), [
      "start:13@14",
      "submit:13@14",
    ]);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(tr.update(cur(14), provingDeadlineAt(3, 14, SMALL)), []);
      assert.deepEqual(tr.update(apply(14), provingDeadlineAt(3, 14, SMALL)), []);
    }
    assert.deepEqual(tr.update(apply(15), provingDeadlineAt(3, 15, SMALL)).map(brief), ["submit:13@15"]);
  });

  it("a resubscription at a lower height is treated as a revert to that height", () => {
    const tr = new DeadlineTracker(MINER, SMALL_CFG);
    run(tr, 3, SMALL, 10, 15);
    // Lower head still above challenge: no abort.
    assert.deepEqual(tr.update(cur(14, "b"), provingDeadlineAt(3, 14, SMALL)).map(brief), ["submit:13@14"]);
    // Head below challenge: abort deadline 13; deadline 3 is open again at 8 and is proven anew.
    assert.deepEqual(tr.update(cur(8, "c"), provingDeadlineAt(3, 8, SMALL)).map(brief), [
      "abort:13:reorg",
      "start:3@8",
      "submit:3@8",
    ]);
  });

  it("still aborts closed deadlines when the proving-deadline lookup failed", () => {
    const tr = new DeadlineTracker(MINER, SMALL_CFG);
    run(tr, 3, SMALL, 10, 20); // deadline 23 (challenge 19) is tracked since 19
    assert.deepEqual(tr.update(apply(21), null).map(brief), ["submit:13@21", "start:23@21"]);
    assert.deepEqual(tr.update(apply(23), null).map(brief), ["abort:13:closed"]);
    assert.deepEqual(
      tr.tracked().map((t) => t.di.open),
      [23],
    );
    assert.deepEqual(tr.update(apply(24), provingDeadlineAt(3, 24, SMALL)).map(brief), ["submit:23@24"]);
    // Without any lookup a fresh tracker learns nothing.
    assert.deepEqual(new DeadlineTracker(MINER, SMALL_CFG).update(cur(24), null), []);
  });

  it("ignores a stale proving deadline that is not active at the head", () => {
    const tr = new DeadlineTracker(MINER, SMALL_CFG);
    // Looked up at epoch 5 (deadline open 3, close 13; its next closes at 23) but the head is 30.
    const stale: DeadlineInfo = provingDeadlineAt(3, 5, SMALL);
    assert.deepEqual(tr.update(cur(30), stale), []);
    assert.deepEqual(tr.tracked(), []);
    // Head 31 is also inside deadline 33's active range (challenge 29), so that one starts too.
    assert.deepEqual(tr.update(apply(31), provingDeadlineAt(3, 31, SMALL)).map(brief), [
      "start:23@31",
      "submit:23@31",
      "start:33@31",
    ]);
  });

  it("a batch with reverts only aborts without restarting", () => {
    const tr = new DeadlineTracker(MINER, SMALL_CFG);
    run(tr, 3, SMALL, 10, 15);
    const revertsOnly: HeadChange[] = [15, 14, 13, 12, 11, 10, 9, 8].map((h) => ({
      type: "revert",
      tipset: ts(h),
    }));
    assert.deepEqual(tr.update(revertsOnly, null).map(brief), ["abort:13:reorg"]);
    // The same head afterwards is not mistaken for a repeat.
    assert.deepEqual(tr.update(apply(15, "b"), provingDeadlineAt(3, 15, SMALL)).map(brief), [
      "start:13@15",
      "submit:13@15",
    ]);
  });

  it("actions carry the miner and are deterministic across identical runs", () => {
    const a = run(new DeadlineTracker(MINER, SMALL_CFG), 3, SMALL, 0, 100);
    const b = run(new DeadlineTracker(MINER, SMALL_CFG), 3, SMALL, 0, 100);
    assert.deepEqual(a, b);
    assert.ok(a.every((x) => x.miner === MINER));
  });
});
