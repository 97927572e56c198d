/**
 * The plan stage on plain values: which partitions are due, which are already proven on chain, which
 * stored proofs are reused (same challenge, same sectors) and what is left to check and prove.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import type { Partition } from "../../../src/chain/interface.js";
import type { ProvenPartition } from "../../../src/poster/batch.js";
import { duePartitions, planDeadline, sectorsToProve } from "../../../src/poster/plan.js";
import type { SavedProof } from "../../../src/poster/proofStore.js";

const bf = (...n: number[]) => BitField.fromNumbers(n);

function partition(p: { live: number[]; faulty?: number[]; recovering?: number[] }): Partition {
  const live = bf(...p.live);
  const faulty = bf(...(p.faulty ?? []));
  return {
    allSectors: live,
    liveSectors: live,
    faultySectors: faulty,
    recoveringSectors: bf(...(p.recovering ?? [])),
    activeSectors: live.subtract(faulty),
  };
}

const SEED = new Uint8Array(32).fill(7);
const CHALLENGE = { seed: SEED, proofType: "StackedDrgWindow2KiBV1_2", format: "snark" as const };

function saved(
  index: number,
  proven: number[],
  skipped: number[] = [],
  over: Partial<SavedProof> = {},
): SavedProof {
  const partition: ProvenPartition = {
    index,
    proven: bf(...proven),
    skipped: bf(...skipped),
    snarkProof: new Uint8Array(192),
  };
  return { ...CHALLENGE, partition, provenAt: 100, ...over };
}

describe("sectorsToProve / duePartitions", () => {
  it("live − faulty + recovering: a recovering sector is proven again, a faulty one is not", () => {
    const p = partition({ live: [1, 2, 3, 4], faulty: [2, 3], recovering: [3] });
    assert.deepEqual(sectorsToProve(p).toNumbers(), [1, 3, 4]);
  });

  it("a partition whose sectors are all faulty and none recovering is not due", () => {
    const parts = [
      partition({ live: [1, 2] }),
      partition({ live: [3, 4], faulty: [3, 4] }),
      partition({ live: [] }),
      partition({ live: [7, 8], faulty: [7, 8], recovering: [8] }),
    ];
    assert.deepEqual(duePartitions(parts), [0, 3]);
    assert.deepEqual(duePartitions([]), []);
  });
});

describe("planDeadline", () => {
  const parts = [
    partition({ live: [1, 2] }),
    partition({ live: [3, 4], faulty: [4] }),
    partition({ live: [5, 6], faulty: [5, 6], recovering: [6] }),
    partition({ live: [7, 8] }),
    partition({ live: [9], faulty: [9] }),
  ];

  it("with nothing on chain or stored, every partition is to do, in index order, empty ones included", () => {
    const plan = planDeadline(parts, BitField.empty(), new Map(), CHALLENGE);
    assert.deepEqual(plan.onChain, []);
    assert.deepEqual(plan.stored, []);
    assert.deepEqual(
      plan.todo.map((t) => [t.index, t.toProve.toNumbers()]),
      [
        [0, [1, 2]],
        [1, [3]],
        [2, [6]],
        [3, [7, 8]],
        [4, []],
      ],
    );
    assert.equal(plan.todo[2]?.partition, parts[2]);
    assert.deepEqual(plan.wanted.toNumbers(), [1, 2, 3, 6, 7, 8]);
  });

  it("partitions proven on chain need nothing; their sector count is what they had to prove", () => {
    const plan = planDeadline(parts, bf(1, 3), new Map([[1, saved(1, [3])]]), CHALLENGE);
    assert.deepEqual(plan.onChain, [
      { index: 1, sectors: 1 },
      { index: 3, sectors: 2 },
    ]);
    assert.deepEqual(plan.stored, [], "a stored proof of a partition proven on chain is not sent again");
    assert.deepEqual(
      plan.todo.map((t) => t.index),
      [0, 2, 4],
    );
    assert.deepEqual(plan.wanted.toNumbers(), [1, 2, 6]);
  });

  it("a stored proof is reused for the same challenge and the same sectors (proven ∪ skipped)", () => {
    const stored = new Map([
      [0, saved(0, [1], [2])],
      [2, saved(2, [6])],
    ]);
    const plan = planDeadline(parts, BitField.empty(), stored, CHALLENGE);
    assert.deepEqual(
      plan.stored.map((p) => p.index),
      [0, 2],
    );
    assert.equal(plan.stored[0], stored.get(0)?.partition);
    assert.deepEqual(
      plan.todo.map((t) => t.index),
      [1, 3, 4],
    );
    assert.deepEqual(plan.wanted.toNumbers(), [3, 7, 8]);
  });

  it("a stored proof of another seed, proof type, format or sector set is proven again", () => {
    const other = new Uint8Array(32).fill(8);
    const cases: [string, SavedProof][] = [
      ["seed", saved(0, [1, 2], [], { seed: other })],
      ["proof type", saved(0, [1, 2], [], { proofType: "StackedDrgWindow8MiBV1_2" })],
      ["format", saved(0, [1, 2], [], { format: "vanilla-bundle" })],
      ["sectors (one fewer)", saved(0, [1])],
      ["sectors (one more)", saved(0, [1, 2, 3])],
    ];
    for (const [what, s] of cases) {
      const plan = planDeadline(parts, BitField.empty(), new Map([[0, s]]), CHALLENGE);
      assert.deepEqual(plan.stored, [], what);
      assert.equal(plan.todo[0]?.index, 0, what);
    }
  });

  it("no partitions: nothing to do", () => {
    assert.deepEqual(planDeadline([], bf(0), new Map(), CHALLENGE), {
      onChain: [],
      stored: [],
      todo: [],
      wanted: BitField.empty(),
    });
  });
});
