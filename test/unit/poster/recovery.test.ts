/**
 * Recovery declaration tests (damocles-poster.md §4.7): candidates = Faulty − Recovering, limit
 * trimming, message splitting, the FaultCutoff gate and the index+2 target deadline.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import type { Partition } from "../../../src/chain/interface.js";
import {
  decodeDeclareFaultsRecoveredParams,
  encodeDeclareFaultsRecoveredParams,
} from "../../../src/chain/params.js";
import { deadlineInfo, MAINNET_POLICY } from "../../../src/devnet/policy.js";
import {
  planRecoveries,
  type RecoveryLimits,
  recoveryCandidates,
  recoveryTargetDeadline,
  shouldDeclareNow,
} from "../../../src/poster/recovery.js";
import { SmError } from "../../../src/util/errors.js";

const bf = (...n: number[]) => BitField.fromNumbers(n);

function part(all: number[], faulty: number[] = [], recovering: number[] = []): Partition {
  const a = bf(...all);
  const f = bf(...faulty);
  return {
    allSectors: a,
    liveSectors: a,
    faultySectors: f,
    recoveringSectors: bf(...recovering),
    activeSectors: a.subtract(f),
  };
}

const UNLIMITED: RecoveryLimits = { MaxRecoverSectorLimit: null, MaxPartitionsPerRecoveryMessage: null };

/** Messages as [[partition, sectors[]], ...] per message. */
const shape = (msgs: ReturnType<typeof planRecoveries>["messages"]) =>
  msgs.map((m) => m.recoveries.map((r) => [r.partition, r.sectors.toNumbers()]));

describe("recoveryCandidates", () => {
  it("is Faulty − Recovering, partitions without candidates left out", () => {
    const c = recoveryCandidates([
      part([1, 2, 3], [1, 2], [2]),
      part([4, 5]),
      part([6, 7], [6, 7], [6, 7]),
      part([8], [8]),
    ]);
    assert.deepEqual(
      c.map((x) => [x.partition, x.sectors.toNumbers()]),
      [
        [0, [1]],
        [3, [8]],
      ],
    );
  });
});

describe("planRecoveries", () => {
  // Partition 0: faulty 1-4 (2 already recovering); 1: none faulty; 2: faulty 20-23; 3: faulty 30-31.
  const partitions = [
    part([1, 2, 3, 4, 5], [1, 2, 3, 4], [2]),
    part([10, 11]),
    part([20, 21, 22, 23], [20, 21, 22, 23]),
    part([30, 31, 32], [30, 31]),
  ];
  const cases: Array<{
    name: string;
    bad?: number[];
    limits: RecoveryLimits;
    want: Array<Array<[number, number[]]>>;
    declared: number;
    limited: boolean;
    stillFaulty?: Array<[number, number[]]>;
  }> = [
    {
      name: "all recover, one message",
      limits: UNLIMITED,
      want: [
        [
          [0, [1, 3, 4]],
          [2, [20, 21, 22, 23]],
          [3, [30, 31]],
        ],
      ],
      declared: 9,
      limited: false,
    },
    {
      name: "failed candidates stay faulty; a partition with none recovered is left out",
      bad: [3, 30, 31],
      limits: UNLIMITED,
      want: [
        [
          [0, [1, 4]],
          [2, [20, 21, 22, 23]],
        ],
      ],
      declared: 6,
      limited: false,
      stillFaulty: [
        [0, [3]],
        [3, [30, 31]],
      ],
    },
    {
      name: "limit trims the last bitfield to its lowest sectors",
      limits: { MaxRecoverSectorLimit: 5, MaxPartitionsPerRecoveryMessage: null },
      want: [
        [
          [0, [1, 3, 4]],
          [2, [20, 21]],
        ],
      ],
      declared: 5,
      limited: true,
    },
    {
      name: "limit reached exactly at a partition boundary stops there",
      limits: { MaxRecoverSectorLimit: 3, MaxPartitionsPerRecoveryMessage: null },
      want: [[[0, [1, 3, 4]]]],
      declared: 3,
      limited: true,
    },
    {
      name: "limit above the total is not limiting",
      limits: { MaxRecoverSectorLimit: 9, MaxPartitionsPerRecoveryMessage: null },
      want: [
        [
          [0, [1, 3, 4]],
          [2, [20, 21, 22, 23]],
          [3, [30, 31]],
        ],
      ],
      declared: 9,
      limited: false,
    },
    {
      name: "split into messages of 2 partitions",
      limits: { MaxRecoverSectorLimit: null, MaxPartitionsPerRecoveryMessage: 2 },
      want: [
        [
          [0, [1, 3, 4]],
          [2, [20, 21, 22, 23]],
        ],
        [[3, [30, 31]]],
      ],
      declared: 9,
      limited: false,
    },
    {
      name: "split into messages of 1 partition with a limit",
      limits: { MaxRecoverSectorLimit: 4, MaxPartitionsPerRecoveryMessage: 1 },
      want: [[[0, [1, 3, 4]]], [[2, [20]]]],
      declared: 4,
      limited: true,
    },
    {
      name: "nothing recovers → no messages",
      bad: [1, 3, 4, 20, 21, 22, 23, 30, 31],
      limits: UNLIMITED,
      want: [],
      declared: 0,
      limited: false,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const bad = new Set(c.bad ?? []);
      const plan = planRecoveries(partitions, 7, (s) => !bad.has(s), c.limits);
      assert.deepEqual(shape(plan.messages), c.want);
      assert.equal(plan.declared, c.declared);
      assert.equal(plan.limited, c.limited);
      for (const m of plan.messages) for (const r of m.recoveries) assert.equal(r.deadline, 7);
      if (c.stillFaulty) {
        assert.deepEqual(
          plan.stillFaulty.map((x) => [x.partition, x.sectors.toNumbers()]),
          c.stillFaulty,
        );
      }
    });
  }

  it("never asks about sectors that are not candidates, nor about partitions past the limit", () => {
    const asked: number[] = [];
    planRecoveries(
      partitions,
      0,
      (s) => {
        asked.push(s);
        return true;
      },
      { MaxRecoverSectorLimit: 3, MaxPartitionsPerRecoveryMessage: null },
    );
    assert.deepEqual(asked, [1, 3, 4]);
  });

  it("messages encode as DeclareFaultsRecovered params", () => {
    const plan = planRecoveries(partitions, 9, () => true, UNLIMITED);
    const back = decodeDeclareFaultsRecoveredParams(encodeDeclareFaultsRecoveredParams(plan.messages[0]!));
    assert.deepEqual(
      back.recoveries.map((r) => [r.deadline, r.partition, r.sectors.toNumbers()]),
      [
        [9, 0, [1, 3, 4]],
        [9, 2, [20, 21, 22, 23]],
        [9, 3, [30, 31]],
      ],
    );
  });

  const badLimits: Array<[string, RecoveryLimits]> = [
    ["zero sector limit", { MaxRecoverSectorLimit: 0, MaxPartitionsPerRecoveryMessage: null }],
    ["negative partitions per message", { MaxRecoverSectorLimit: null, MaxPartitionsPerRecoveryMessage: -1 }],
    ["fractional limit", { MaxRecoverSectorLimit: 1.5, MaxPartitionsPerRecoveryMessage: null }],
  ];
  for (const [name, limits] of badLimits) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => planRecoveries(partitions, 0, () => true, limits),
        (e: unknown) => e instanceof SmError && e.code === "POSTER_BAD_RECOVERY_INPUT",
      );
    });
  }
  it("rejects a bad deadline index", () => {
    assert.throws(
      () => planRecoveries(partitions, -1, () => true, UNLIMITED),
      (e: unknown) => e instanceof SmError && e.code === "POSTER_BAD_RECOVERY_INPUT",
    );
  });
});

describe("recoveryTargetDeadline / shouldDeclareNow", () => {
  const P = MAINNET_POLICY;
  const period = P.wPoStPeriodDeadlines * P.wPoStChallengeWindow;

  it("index + 2 in the same period matches dline.NewInfo", () => {
    const cur = deadlineInfo(2880, 5, 2880 + 5 * 60 - 10, P);
    assert.deepEqual(recoveryTargetDeadline(cur), deadlineInfo(2880, 7, cur.currentEpoch, P));
  });

  for (const idx of [46, 47]) {
    it(`index ${idx} wraps into the next proving period`, () => {
      const cur = deadlineInfo(2880, idx, 2880 + idx * 60 + 1, P);
      const t = recoveryTargetDeadline(cur);
      assert.deepEqual(t, deadlineInfo(2880 + period, (idx + 2) % 48, cur.currentEpoch, P));
      assert.equal(t.open, cur.open + 120);
    });
  }

  it("only strictly before the target's FaultCutoff", () => {
    const t = recoveryTargetDeadline(deadlineInfo(0, 3, 170, P)); // target 5: open 300, cutoff 230
    assert.equal(t.faultCutoff, 230);
    const table: Array<[number, number, boolean]> = [
      [170, 0, true],
      [229, 0, true],
      [230, 0, false],
      [231, 0, false],
      [225, 4, true],
      [226, 4, false],
    ];
    for (const [head, margin, want] of table) {
      assert.equal(shouldDeclareNow(t, head, margin), want, `head ${head} margin ${margin}`);
    }
  });
});
