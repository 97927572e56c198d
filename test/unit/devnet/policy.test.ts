import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  currentProvingPeriodStart,
  deadlineInfo,
  deadlineIsMutable,
  MAINNET_POLICY,
  nextNotElapsed,
  provingDeadlineAt,
  provingPeriod,
  validatePolicy,
} from "../../../src/devnet/policy.js";

const SMALL = validatePolicy({
  wPoStPeriodDeadlines: 4,
  wPoStChallengeWindow: 10,
  wPoStChallengeLookback: 4,
  faultDeclarationCutoff: 6,
  postedPartitionsMax: 3,
});

describe("devnet policy", () => {
  test("mainnet defaults", () => {
    assert.equal(provingPeriod(MAINNET_POLICY), 2880);
    assert.deepEqual(validatePolicy(MAINNET_POLICY), MAINNET_POLICY);
  });

  test("validation rejects unusable policies", () => {
    const bad: Array<[string, Partial<typeof SMALL>]> = [
      ["lookback ≥ window", { wPoStChallengeLookback: 10 }],
      ["cutoff ≤ lookback", { faultDeclarationCutoff: 4 }],
      ["two deadlines", { wPoStPeriodDeadlines: 2 }],
      ["no partitions per message", { postedPartitionsMax: 0 }],
      ["fractional window", { wPoStChallengeWindow: 10.5 }],
      ["cutoff ≥ period", { faultDeclarationCutoff: 40 }],
    ];
    for (const [name, patch] of bad) {
      assert.throws(
        () => validatePolicy({ ...SMALL, ...patch }),
        /DEVNET|policy/,
        `${name} must be rejected`,
      );
    }
  });
});

describe("dline.NewInfo", () => {
  test("mainnet, hand-computed (offset 100, epoch 5000)", () => {
    // 5000 mod 2880 = 2120 ≥ 100 → progress 2020 → period start 2980; index ⌊2020/60⌋ = 33.
    assert.equal(currentProvingPeriodStart(100, 5000, MAINNET_POLICY), 2980);
    const d = provingDeadlineAt(100, 5000, MAINNET_POLICY);
    assert.deepEqual(
      { ps: d.periodStart, i: d.index, o: d.open, c: d.close, ch: d.challenge, fc: d.faultCutoff },
      { ps: 2980, i: 33, o: 4960, c: 5020, ch: 4940, fc: 4890 },
    );
    assert.equal(d.wPoStProvingPeriod, 2880);
    assert.equal(d.currentEpoch, 5000);
  });

  test("mainnet deadline 47 and the no-duty index 48", () => {
    const d = deadlineInfo(2980, 47, 0, MAINNET_POLICY);
    assert.equal(d.open, 2980 + 47 * 60);
    assert.equal(d.close, 2980 + 2880);
    const after = deadlineInfo(2980, 48, 0, MAINNET_POLICY);
    assert.deepEqual([after.open, after.close, after.challenge, after.faultCutoff], [5860, 5860, 5860, 0]);
  });

  test("small policy, every epoch of two periods (offset 5)", () => {
    for (let e = 0; e < 80; e++) {
      const d = provingDeadlineAt(5, e, SMALL);
      // Hand rule: periods start at 5, 45, ... (and -35 before 5).
      const start = e < 5 ? -35 : e < 45 ? 5 : 45;
      const index = Math.floor((e - start) / 10);
      assert.equal(d.periodStart, start, `period start at epoch ${e}`);
      assert.equal(d.index, index, `index at epoch ${e}`);
      assert.equal(d.open, start + 10 * index, `open at epoch ${e}`);
      assert.equal(d.close, d.open + 10, `close at epoch ${e}`);
      assert.equal(d.challenge, d.open - 4, `challenge at epoch ${e}`);
      assert.equal(d.faultCutoff, d.open - 6, `fault cutoff at epoch ${e}`);
      assert.ok(e >= d.open && e < d.close, `epoch ${e} inside its deadline`);
    }
  });

  test("small policy, specific values", () => {
    const d = provingDeadlineAt(5, 37, SMALL);
    assert.deepEqual(
      [d.periodStart, d.index, d.open, d.close, d.challenge, d.faultCutoff],
      [5, 3, 35, 45, 31, 29],
    );
    const early = provingDeadlineAt(5, 3, SMALL);
    assert.deepEqual([early.periodStart, early.index, early.open, early.close], [-35, 3, -5, 5]);
  });

  test("nextNotElapsed rolls a closed deadline forward by whole periods", () => {
    const d = deadlineInfo(0, 1, 25, SMALL); // [10,20) has elapsed at 25
    const n = nextNotElapsed(d, SMALL);
    assert.deepEqual([n.periodStart, n.open, n.close, n.faultCutoff], [40, 50, 60, 44]);
    const far = nextNotElapsed(deadlineInfo(0, 1, 139, SMALL), SMALL);
    assert.deepEqual([far.periodStart, far.open], [120, 130]);
    const open = deadlineInfo(0, 1, 19, SMALL);
    assert.equal(nextNotElapsed(open, SMALL), open);
  });

  test("the current and the next deadline are immutable", () => {
    for (let e = 0; e < 40; e++) {
      const cur = Math.floor(e / 10);
      for (let i = 0; i < 4; i++) {
        const frozen = i === cur || i === (cur + 1) % 4;
        assert.equal(deadlineIsMutable(0, i, e, SMALL), !frozen, `deadline ${i} at epoch ${e}`);
      }
    }
  });
});
