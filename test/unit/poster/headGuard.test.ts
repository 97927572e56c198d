import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { HeadChange, HeadChangeType } from "../../../src/chain/interface.js";
import { HeadGuard } from "../../../src/poster/headGuard.js";
import { DeadlineTracker } from "../../../src/poster/timing.js";

const hc = (type: HeadChangeType, height: number, key = `k${height}`): HeadChange => ({
  type,
  tipset: { key: [key], height, timestamp: 0 },
});

describe("HeadGuard", () => {
  test("a consistent chain, reorg included, passes untouched and reports nothing", () => {
    const g = new HeadGuard();
    for (const batch of [
      [hc("current", 100)],
      [hc("apply", 101)],
      [hc("revert", 101), hc("apply", 101, "k101b"), hc("apply", 102, "k102b")],
      [hc("apply", 103)],
    ]) {
      const r = g.check(batch);
      assert.deepEqual(r.problems, []);
      assert.deepEqual(r.changes, batch);
    }
  });

  test("keys already seen at another height: dropped and reported as a chain error", () => {
    const g = new HeadGuard();
    g.check([hc("current", 100)]);
    g.check([hc("apply", 101)]);
    // The node now says the tipset it reported at 101 is at 99, then 98.
    for (const h of [99, 98]) {
      const r = g.check([hc("apply", h, "k101")]);
      assert.deepEqual(r.changes, []);
      assert.equal(r.problems.length, 1);
      assert.equal(r.problems[0]?.kind, "keys-repeated");
      assert.equal(r.problems[0]?.fields.earlier_height, 101);
      assert.equal(r.problems[0]?.fields.best, 101);
    }
    // The chain going on from the best head is accepted again.
    assert.deepEqual(g.check([hc("apply", 102)]).problems, []);
  });

  test("a lower head without a revert is reported and kept, so the tracker treats it as a reorg", () => {
    const g = new HeadGuard();
    g.check([hc("current", 100)]);
    const r = g.check([hc("apply", 97, "fork97")]);
    assert.equal(r.changes.length, 1);
    assert.equal(r.problems[0]?.kind, "height-down");
    assert.deepEqual([r.problems[0]?.fields.from, r.problems[0]?.fields.to], [100, 97]);
  });

  test("behind the guard, a running deadline is not aborted by heads that repeat its keys lower down", () => {
    const policy = {
      wPoStPeriodDeadlines: 4,
      wPoStProvingPeriod: 48,
      wPoStChallengeWindow: 12,
      wPoStChallengeLookback: 4,
      faultDeclarationCutoff: 6,
    };
    const di = {
      currentEpoch: 110,
      periodStart: 88,
      index: 1,
      open: 100,
      close: 112,
      challenge: 96,
      faultCutoff: 94,
      ...policy,
    };
    const t = new DeadlineTracker("f01000", { challengeConfidence: 1, submitConfidence: 1 });
    const g = new HeadGuard();
    const feed = (batch: HeadChange[]) => t.update(g.check(batch).changes, di);
    assert.ok(feed([hc("current", 101)]).some((a) => a.kind === "start"));
    for (const h of [95, 94, 93]) assert.deepEqual(feed([hc("apply", h, "k101")]), [], `height ${h}`);
    assert.ok(feed([hc("apply", 102)]).some((a) => a.kind === "submit"));
  });
});
