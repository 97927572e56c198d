/**
 * PoSter batching tests: partition plans, grouping finished partitions into messages (damocles' unit
 * case: 5 partitions with max 2 → 2,2,1; damocles-poster.md §4.5), and SubmitWindowedPoSt params,
 * including the devnet vanilla bundle order checked against the devnet's own `provenSet` (the rule
 * behind ChainState.expectedProofSectors, src/devnet/queries.ts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import type { Partition } from "../../../src/chain/interface.js";
import { decodeSubmitWindowedPoStParams, encodeSubmitWindowedPoStParams } from "../../../src/chain/params.js";
import { provenSet } from "../../../src/devnet/checks.js";
import {
  buildSubmitParams,
  groupForMessages,
  MessageGrouper,
  type PartitionPlan,
  POSTED_PARTITIONS_MAX,
  type ProvenPartition,
  partitionPlan,
  postPartitionsPerMessage,
  SNARK_PROOF_BYTES,
  type SubmitInput,
} from "../../../src/poster/batch.js";
import { decodeVanillaBundle } from "../../../src/proofs/vanillaBundle.js";
import { SmError } from "../../../src/util/errors.js";

const bf = (...n: number[]) => BitField.fromNumbers(n);

function part(o: {
  all: number[];
  faulty?: number[];
  recovering?: number[];
  terminated?: number[];
}): Partition {
  const all = bf(...o.all);
  const live = all.subtract(bf(...(o.terminated ?? [])));
  const faulty = bf(...(o.faulty ?? []));
  return {
    allSectors: all,
    liveSectors: live,
    faultySectors: faulty,
    recoveringSectors: bf(...(o.recovering ?? [])),
    activeSectors: live.subtract(faulty),
  };
}

function isCode(code: string, ...parts: string[]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof SmError, `expected SmError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const p of parts) assert.ok(err.message.includes(p), `"${err.message}" lacks "${p}"`);
    return true;
  };
}

const nums = (b: BitField) => b.toNumbers();

describe("partitionPlan", () => {
  const cases: Array<{
    name: string;
    partitions: Partition[];
    bad?: number[];
    want: Array<{ index: number; toProve: number[]; skipped: number[]; proven: number[] }>;
    omitted: number[];
  }> = [
    {
      name: "all good",
      partitions: [part({ all: [1, 2, 3] }), part({ all: [4, 5] })],
      want: [
        { index: 0, toProve: [1, 2, 3], skipped: [], proven: [1, 2, 3] },
        { index: 1, toProve: [4, 5], skipped: [], proven: [4, 5] },
      ],
      omitted: [],
    },
    {
      name: "faulty left out, recovering proven, terminated left out",
      partitions: [part({ all: [1, 2, 3, 4, 5], faulty: [2, 3], recovering: [3], terminated: [5] })],
      want: [{ index: 0, toProve: [1, 3, 4], skipped: [], proven: [1, 3, 4] }],
      omitted: [],
    },
    {
      name: "bad sectors skipped; a bad faulty non-recovering sector is not skipped",
      partitions: [part({ all: [1, 2, 3, 4], faulty: [2, 4], recovering: [4] })],
      bad: [1, 2, 4],
      want: [{ index: 0, toProve: [1, 3, 4], skipped: [1, 4], proven: [3] }],
      omitted: [],
    },
    {
      name: "empty and all-faulty and all-bad partitions left out",
      partitions: [
        part({ all: [] }),
        part({ all: [1, 2], faulty: [1, 2] }),
        part({ all: [3, 4] }),
        part({ all: [5, 6] }),
      ],
      bad: [5, 6],
      want: [{ index: 2, toProve: [3, 4], skipped: [], proven: [3, 4] }],
      omitted: [0, 1, 3],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const bad = new Set(c.bad ?? []);
      const asked: number[] = [];
      const r = partitionPlan(c.partitions, (s) => {
        asked.push(s);
        return !bad.has(s);
      });
      assert.deepEqual(
        r.partitions.map((p) => ({
          index: p.index,
          toProve: nums(p.toProve),
          skipped: nums(p.skipped),
          proven: nums(p.proven),
        })),
        c.want,
      );
      assert.deepEqual(
        r.omitted.map((p) => p.index),
        c.omitted,
      );
      // Only sectors in toProve are checked.
      const toProve = [...r.partitions, ...r.omitted].flatMap((p) => nums(p.toProve));
      assert.deepEqual(
        asked.sort((a, b) => a - b),
        toProve.sort((a, b) => a - b),
      );
    });
  }

  it("an omitted all-bad partition still reports its skipped sectors", () => {
    const r = partitionPlan([part({ all: [7, 8] })], () => false);
    assert.equal(r.partitions.length, 0);
    assert.deepEqual(nums(r.omitted[0]!.skipped), [7, 8]);
  });
});

describe("postPartitionsPerMessage", () => {
  const cases: Array<[number | null, number | undefined, number]> = [
    [null, undefined, 3],
    [1, undefined, 1],
    [2, undefined, 2],
    [3, undefined, 3],
    [10, undefined, 3],
    [null, 2, 2],
    [5, 2, 2],
  ];
  for (const [configured, net, want] of cases) {
    it(`configured ${configured}, network ${net ?? "default"} → ${want}`, () => {
      assert.equal(postPartitionsPerMessage(configured, net), want);
    });
  }
  it("network default is PoStedPartitionsMax = 3", () => assert.equal(POSTED_PARTITIONS_MAX, 3));
  for (const v of [0, -1, 1.5, Number.NaN]) {
    it(`rejects ${v}`, () => {
      assert.throws(() => postPartitionsPerMessage(v), isCode("POSTER_BAD_BATCH_SIZE"));
      assert.throws(() => postPartitionsPerMessage(null, v), isCode("POSTER_BAD_BATCH_SIZE"));
    });
  }
});

describe("groupForMessages", () => {
  const cases: Array<{ name: string; order: number[]; max: number; want: number[][] }> = [
    {
      name: "damocles unit case: 5 partitions, max 2 → 2,2,1",
      order: [0, 1, 2, 3, 4],
      max: 2,
      want: [[0, 1], [2, 3], [4]],
    },
    {
      name: "max 3 exact fit",
      order: [0, 1, 2, 3, 4, 5],
      max: 3,
      want: [
        [0, 1, 2],
        [3, 4, 5],
      ],
    },
    {
      name: "completion order, sorted within a message",
      order: [3, 0, 4, 1, 2],
      max: 2,
      want: [[0, 3], [1, 4], [2]],
    },
    { name: "max larger than the count", order: [2, 0, 1], max: 3, want: [[0, 1, 2]] },
    { name: "max 1", order: [1, 0], max: 1, want: [[1], [0]] },
    { name: "nothing", order: [], max: 3, want: [] },
    { name: "gaps from omitted partitions", order: [5, 2, 9, 7], max: 3, want: [[2, 5, 9], [7]] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = groupForMessages(
        c.order.map((index) => ({ index })),
        c.max,
      );
      assert.deepEqual(
        got.map((g) => g.map((p) => p.index)),
        c.want,
      );
    });
  }

  it("emits a group as soon as it is full, the remainder only on finish", () => {
    const g = new MessageGrouper<{ index: number }>(2);
    assert.equal(g.add({ index: 4 }), undefined);
    assert.deepEqual(
      g.add({ index: 1 })?.map((p) => p.index),
      [1, 4],
    );
    assert.equal(g.add({ index: 0 }), undefined);
    assert.equal(g.pendingCount, 1);
    assert.deepEqual(
      g.finish()?.map((p) => p.index),
      [0],
    );
    assert.equal(g.finish(), undefined);
    assert.throws(() => g.add({ index: 2 }), isCode("POSTER_BAD_SUBMIT_INPUT"));
  });

  it("rejects a partition completing twice", () => {
    assert.throws(
      () => groupForMessages([{ index: 1 }, { index: 1 }], 3),
      isCode("POSTER_DUPLICATE_PARTITION", "partition 1"),
    );
  });

  it("rejects a bad batch size", () => {
    assert.throws(() => groupForMessages([], 0), isCode("POSTER_BAD_BATCH_SIZE"));
  });
});

// --- buildSubmitParams -------------------------------------------------------------------------------

/** A fake per-sector proof that names its sector (first 8 bytes = u64 LE, like bincode's sector_id). */
function fakeProof(sector: number): Uint8Array {
  const b = new Uint8Array(12);
  new DataView(b.buffer).setBigUint64(0, BigInt(sector), true);
  b.fill(0xab, 8);
  return b;
}
const sectorOf = (entry: Uint8Array) =>
  Number(new DataView(entry.buffer, entry.byteOffset).getBigUint64(0, true));

function proven(plan: PartitionPlan, extra: Partial<ProvenPartition> = {}): ProvenPartition {
  return {
    index: plan.index,
    skipped: plan.skipped,
    proven: plan.proven,
    sectorProofs: new Map(plan.proven.toNumbers().map((s) => [s, fakeProof(s)])),
    ...extra,
  };
}

const RAND = new Uint8Array(32).fill(7);
const base = { deadline: 5, proofType: 10, chainCommitEpoch: 1000, chainCommitRand: RAND };

describe("buildSubmitParams vanilla-bundle", () => {
  const partitions = [
    part({ all: [10, 11, 12, 13] }),
    part({ all: [1, 2, 3, 4, 5], faulty: [2, 3], recovering: [3] }),
    part({ all: [20, 21, 22], faulty: [20] }),
    part({ all: [30, 31] }),
  ];
  const bad = new Set([4, 22]);
  const plan = partitionPlan(partitions, (s) => !bad.has(s));

  it("bundle order = partitions by index, then ascending sector (devnet provenSet rule)", () => {
    // Hand the partitions over in completion order; the message lists them by index.
    const done = [plan.partitions[2]!, plan.partitions[0]!, plan.partitions[1]!];
    const params = buildSubmitParams({ ...base, partitions: done.map((p) => proven(p)) }, "vanilla-bundle");
    assert.deepEqual(
      params.partitions.map((p) => p.index),
      [0, 1, 2],
    );
    assert.equal(params.proofs.length, 1);
    assert.equal(params.proofs[0]!.postProof, 10);
    const entries = decodeVanillaBundle(params.proofs[0]!.proofBytes);

    // What the devnet expects (queries.ts expectedProofSectorsOf: provenSet per listed partition).
    const expected = params.partitions.flatMap((pp) => {
      const p = partitions[pp.index]!;
      return provenSet(
        { sectors: p.liveSectors, faulty: p.faultySectors, recovering: p.recoveringSectors },
        pp.skipped,
      ).toNumbers();
    });
    assert.deepEqual(expected, [10, 11, 12, 13, 1, 3, 5, 21]);
    assert.deepEqual(entries.map(sectorOf), expected);
    assert.deepEqual(
      params.partitions.map((p) => p.skipped.toNumbers()),
      [[], [4], [22]],
    );
    assert.equal(params.deadline, 5);
    assert.equal(params.chainCommitEpoch, 1000);
    assert.deepEqual(params.chainCommitRand, RAND);
  });

  it("round-trips through the SubmitWindowedPoSt CBOR codec", () => {
    const params = buildSubmitParams(
      { ...base, partitions: plan.partitions.map((p) => proven(p)) },
      "vanilla-bundle",
    );
    const back = decodeSubmitWindowedPoStParams(encodeSubmitWindowedPoStParams(params));
    assert.deepEqual(
      back.partitions.map((p) => [p.index, p.skipped.toNumbers()]),
      [
        [0, []],
        [1, [4]],
        [2, [22]],
        [3, []],
      ],
    );
    assert.deepEqual(back.proofs[0]!.proofBytes, params.proofs[0]!.proofBytes);
  });

  it("names a missing sector proof", () => {
    const p = proven(plan.partitions[1]!);
    const m = new Map(p.sectorProofs);
    m.delete(3);
    assert.throws(
      () => buildSubmitParams({ ...base, partitions: [{ ...p, sectorProofs: m }] }, "vanilla-bundle"),
      isCode("POSTER_MISSING_SECTOR_PROOF", "sector 3", "partition 1", "deadline 5"),
    );
  });

  it("rejects a proof for a sector that is not proven (skipped or faulty)", () => {
    const p = proven(plan.partitions[1]!);
    const m = new Map(p.sectorProofs);
    m.set(4, fakeProof(4));
    assert.throws(
      () => buildSubmitParams({ ...base, partitions: [{ ...p, sectorProofs: m }] }, "vanilla-bundle"),
      isCode("POSTER_UNEXPECTED_SECTOR_PROOF", "sector 4"),
    );
  });

  it("rejects missing sectorProofs", () => {
    const { sectorProofs: _, ...p } = proven(plan.partitions[0]!);
    assert.throws(
      () => buildSubmitParams({ ...base, partitions: [p] }, "vanilla-bundle"),
      isCode("POSTER_BAD_SUBMIT_INPUT", "no sector proofs"),
    );
  });
});

describe("buildSubmitParams snark", () => {
  const snark = (b: number) => new Uint8Array(SNARK_PROOF_BYTES).fill(b);
  const pp = (index: number, fill: number, skipped: number[] = []): ProvenPartition => ({
    index,
    skipped: bf(...skipped),
    proven: bf(index * 10 + 1),
    snarkProof: snark(fill),
  });

  it("concatenates the partitions' proofs in index order", () => {
    const params = buildSubmitParams({ ...base, partitions: [pp(2, 0xcc), pp(0, 0xaa, [5])] }, "snark");
    assert.deepEqual(
      params.partitions.map((p) => [p.index, p.skipped.toNumbers()]),
      [
        [0, [5]],
        [2, []],
      ],
    );
    assert.equal(params.proofs.length, 1);
    const bytes = params.proofs[0]!.proofBytes;
    assert.equal(bytes.length, 2 * SNARK_PROOF_BYTES);
    assert.ok(bytes.subarray(0, 192).every((b) => b === 0xaa));
    assert.ok(bytes.subarray(192).every((b) => b === 0xcc));
  });

  it("rejects a proof of the wrong size", () => {
    assert.throws(
      () =>
        buildSubmitParams(
          { ...base, partitions: [{ ...pp(1, 1), snarkProof: new Uint8Array(191) }] },
          "snark",
        ),
      isCode("POSTER_BAD_SUBMIT_INPUT", "partition 1", "192"),
    );
  });
});

describe("buildSubmitParams input validation", () => {
  const ok: ProvenPartition = {
    index: 0,
    skipped: bf(),
    proven: bf(1),
    sectorProofs: new Map([[1, fakeProof(1)]]),
  };
  const cases: Array<[string, Partial<SubmitInput>, string, string]> = [
    ["no partitions", { partitions: [] }, "POSTER_BAD_SUBMIT_INPUT", "at least one partition"],
    ["duplicate partition", { partitions: [ok, ok] }, "POSTER_DUPLICATE_PARTITION", "listed twice"],
    [
      "empty proven",
      { partitions: [{ ...ok, proven: bf(), sectorProofs: new Map() }] },
      "POSTER_BAD_SUBMIT_INPUT",
      "no proven sectors",
    ],
    [
      "proven and skipped overlap",
      { partitions: [{ ...ok, skipped: bf(1) }] },
      "POSTER_BAD_SUBMIT_INPUT",
      "both proven and skipped",
    ],
    [
      "short randomness",
      { chainCommitRand: new Uint8Array(31) },
      "POSTER_BAD_SUBMIT_INPUT",
      "chainCommitRand",
    ],
    ["negative deadline", { deadline: -1 }, "POSTER_BAD_SUBMIT_INPUT", "deadline"],
    ["fractional epoch", { chainCommitEpoch: 1.5 }, "POSTER_BAD_SUBMIT_INPUT", "chainCommitEpoch"],
    ["bad proof type", { proofType: -3 }, "POSTER_BAD_SUBMIT_INPUT", "proofType"],
  ];
  for (const [name, patch, code, text] of cases) {
    it(name, () => {
      assert.throws(
        () => buildSubmitParams({ ...base, partitions: [ok], ...patch }, "vanilla-bundle"),
        isCode(code, text),
      );
    });
  }
  it("unknown format", () => {
    assert.throws(
      () => buildSubmitParams({ ...base, partitions: [ok] }, "groth" as never),
      isCode("POSTER_BAD_SUBMIT_INPUT", "format"),
    );
  });
});
