import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { inflateRawSync } from "node:zlib";
import { assignDeadlines, fillPartitions } from "../../../src/devnet/assignment.js";
import { beaconRandomness, minerEntropy, ticketRandomness } from "../../../src/devnet/randomness.js";
import { ChainState } from "../../../src/devnet/state.js";
import { sealedCid } from "../../../src/proofs/commCid.js";
import {
  DEFLATED_BUNDLE_MAGIC,
  decodeVanillaBundle,
  deflateBundlePart,
  deflateVanillaBundle,
  encodeVanillaBundle,
  joinDeflatedBundle,
  openVanillaBundle,
} from "../../../src/proofs/vanillaBundle.js";

const SMALL = {
  wPoStPeriodDeadlines: 4,
  wPoStChallengeWindow: 10,
  wPoStChallengeLookback: 4,
  faultDeclarationCutoff: 6,
  postedPartitionsMax: 3,
};
const MINER = "f01000";

function commR(n: number): Uint8Array {
  const b = new Uint8Array(32);
  b[0] = n + 1;
  return b;
}

function sectors(nums: number[]) {
  return nums.map((n) => ({ number: n, sealProof: 5, sealedCid: sealedCid(commR(n)) }));
}

function chain(): ChainState {
  const s = new ChainState({ seed: new Uint8Array(32).fill(7), policy: SMALL });
  s.addMiner({
    address: MINER,
    owner: "f0100",
    worker: "f0101",
    windowPoStProofType: 10,
    provingPeriodOffset: 0,
  });
  return s;
}

function layout(s: ChainState): number[][][] {
  return [0, 1, 2, 3].map((d) => s.partitions(MINER, d).map((p) => p.allSectors.toNumbers()));
}

describe("onboarding layout", () => {
  test("7 sectors at epoch 0 go to deadlines 2 and 3, partitions of 2", () => {
    const s = chain();
    const loc = s.onboard(MINER, sectors([7, 1, 2, 3, 4, 5, 6]));
    // Hand-run of the comparator: 1,2 → d2; 3,4 → d3 (d2 would need a 2nd partition); 5,6 → d2 (tie, lower index, then
    // filling its open partition); 7 → d3.
    assert.deepEqual(layout(s), [
      [],
      [],
      [
        [1, 2],
        [5, 6],
      ],
      [[3, 4], [7]],
    ]);
    assert.deepEqual(loc[6], { sector: 7, deadline: 3, partition: 1 });
    for (const l of loc) {
      assert.ok(
        l.deadline !== 0 && l.deadline !== 1,
        `sector ${l.sector} must avoid the current/next deadline`,
      );
    }
  });

  test("a later onboarding fills the last partition before opening one", () => {
    const s = chain();
    s.onboard(MINER, sectors([1, 2, 3]));
    assert.deepEqual(layout(s), [[], [], [[1, 2]], [[3]]]);
    s.advanceTo(10); // current deadline 1, next 2 → mutable 3 and 0
    s.onboard(MINER, sectors([4]));
    assert.deepEqual(layout(s), [[], [], [[1, 2]], [[3, 4]]]);
    s.onboard(MINER, sectors([5, 6, 7]));
    assert.deepEqual(layout(s), [[[5, 6], [7]], [], [[1, 2]], [[3, 4]]]);
  });

  test("onboarding is deterministic", () => {
    const a = chain();
    const b = chain();
    const nums = Array.from({ length: 25 }, (_, i) => 100 + ((i * 7) % 25));
    a.onboard(MINER, sectors(nums));
    b.onboard(MINER, sectors([...nums].reverse()));
    assert.deepEqual(layout(a), layout(b));
  });

  test("two miners with different offsets close their deadlines in epoch order", () => {
    const s = chain();
    s.addMiner({
      address: "f01001",
      owner: "f0100",
      worker: "f0101",
      windowPoStProofType: 10,
      provingPeriodOffset: 5,
    });
    const recs = s.advanceTo(40);
    const closes = recs.map((r) => `${r.miner}@${r.close}`);
    assert.deepEqual(closes, [
      "f01001@5",
      "f01000@10",
      "f01001@15",
      "f01000@20",
      "f01001@25",
      "f01000@30",
      "f01001@35",
      "f01000@40",
    ]);
    assert.equal(s.epoch, 40);
    assert.throws(() => s.advanceTo(39), /cannot move the chain/);
  });

  test("bad sectors are refused", () => {
    const s = chain();
    s.onboard(MINER, sectors([1]));
    assert.throws(() => s.onboard(MINER, sectors([1])), /already exists/);
    assert.throws(
      () => s.onboard(MINER, [{ number: 2, sealProof: 8, sealedCid: sealedCid(commR(2)) }]),
      /does not match/,
    );
    assert.throws(() => s.onboard("f09999", sectors([3])), /not a miner/);
  });

  test("32 GiB partitions hold 2349 sectors, filled before spreading", () => {
    const s = new ChainState({ seed: new Uint8Array(32), policy: SMALL });
    s.addMiner({
      address: "f02000",
      owner: "f0100",
      worker: "f0101",
      windowPoStProofType: 13,
      provingPeriodOffset: 0,
    });
    const nums = Array.from({ length: 2350 }, (_, i) => i);
    s.onboard(
      "f02000",
      nums.map((n) => ({ number: n, sealProof: 8, sealedCid: sealedCid(commR(n % 200)) })),
    );
    const counts = [0, 1, 2, 3].map((d) => s.partitions("f02000", d).map((p) => p.allSectors.count()));
    // The comparator fills deadline 2's open partition to 2349 before deadline 3 gets a sector.
    assert.deepEqual(counts, [[], [], [2349], [1]]);
    assert.equal(s.minerInfo("f02000").windowPoStPartitionSectors, 2349);
  });

  test("assignDeadlines / fillPartitions directly", () => {
    const m = assignDeadlines(
      [
        { index: 0, liveSectors: 3, totalSectors: 3 },
        { index: 5, liveSectors: 0, totalSectors: 0 },
      ],
      4,
      [9],
    );
    // Deadline 0's partition has room (3 of 4) and fills without a new partition.
    assert.deepEqual([...m.entries()], [[0, [9]]]);
    assert.deepEqual(fillPartitions(1, 2, [4, 5, 6, 7]), { intoLast: [4], newPartitions: [[5, 6], [7]] });
    assert.deepEqual(fillPartitions(undefined, 2, [4]), { intoLast: [], newPartitions: [[4]] });
  });
});

describe("vanilla bundle framing", () => {
  test("round trip", () => {
    const entries = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(300).fill(9)];
    const back = decodeVanillaBundle(encodeVanillaBundle(entries));
    assert.equal(back.length, 3);
    for (let i = 0; i < 3; i++) assert.deepEqual(back[i], entries[i], `entry ${i}`);
  });

  test("malformed bundles", () => {
    const good = encodeVanillaBundle([new Uint8Array([1, 2, 3])]);
    const cases: Array<[string, Uint8Array]> = [
      ["empty", new Uint8Array(0)],
      ["truncated", good.subarray(0, good.length - 1)],
      ["trailing", Uint8Array.from([...good, 0])],
      ["huge count", Uint8Array.from([255, 255, 255, 255])],
    ];
    for (const [name, b] of cases) {
      assert.throws(() => decodeVanillaBundle(b), /malformed vanilla bundle/, name);
    }
  });

  test("deflated: opened like the plain form, far smaller on repetitive proofs; corrupt or oversized streams refused", async () => {
    const entries = Array.from({ length: 50 }, (_, i) => new Uint8Array(25_000).fill(i % 7));
    const plain = encodeVanillaBundle(entries);
    const z = await deflateVanillaBundle(plain);
    assert.deepEqual([...z.subarray(0, 4)], [...DEFLATED_BUNDLE_MAGIC]);
    assert.ok(z.length * 20 < plain.length, `${z.length} of ${plain.length} bytes`);
    const back = await openVanillaBundle(z);
    assert.equal(back.length, 50);
    for (let i = 0; i < 50; i++) assert.deepEqual(back[i], entries[i], `entry ${i}`);
    // The plain form is still taken (older PoSters, tests that build bundles by hand).
    assert.equal((await openVanillaBundle(plain)).length, 50);
    // The magic read as a plain bundle's count is ~1.5 billion entries: never a valid plain bundle.
    assert.throws(() => decodeVanillaBundle(z), /malformed vanilla bundle/);
    const corrupt = Uint8Array.from([...DEFLATED_BUNDLE_MAGIC, 0xff, 0xff, 0xff, 0xff]);
    await assert.rejects(
      openVanillaBundle(corrupt),
      /malformed vanilla bundle: its deflate stream is corrupt/,
    );
    // A small message that inflates past the limit stops there (a "zip bomb" costs the devnet nothing).
    await assert.rejects(
      openVanillaBundle(z, plain.length - 1),
      new RegExp(`inflates to more than ${plain.length - 1} bytes`),
    );
    // A good stream of a bad bundle is the bundle's error.
    await assert.rejects(
      openVanillaBundle(await deflateVanillaBundle(plain.subarray(0, plain.length - 1))),
      /malformed vanilla bundle: entry 49/,
    );
  });

  test("deflated and larger than zlib's 1 MiB pieces: entries and lengths across pieces read as in the plain form", async () => {
    const random = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7919 + n) % 251);
    // The count, then entry 0 up to 2 bytes short of the first piece's end: entry 1's length field
    // lies across the first boundary, entry 1 itself across the second; then an empty entry.
    const entries = [random(1_048_566), random(1_500_000), new Uint8Array(0), random(10)];
    const plain = encodeVanillaBundle(entries);
    const back = await openVanillaBundle(await deflateVanillaBundle(plain));
    assert.equal(back.length, entries.length);
    for (const [i, e] of back.entries()) {
      assert.ok(Buffer.from(e).equals(Buffer.from(entries[i] as Uint8Array)), `entry ${i}`);
      assert.equal(Object.getPrototypeOf(e), Uint8Array.prototype, `entry ${i} is a plain Uint8Array`);
    }
    // Cut or padded, it fails as the plain form fails.
    for (const bad of [plain.subarray(0, plain.length - 5), Uint8Array.from([...plain, 1, 2])]) {
      const want = (() => {
        try {
          decodeVanillaBundle(bad);
        } catch (e) {
          return (e as Error).message;
        }
        return "no error";
      })();
      assert.match(want, /malformed vanilla bundle/);
      await assert.rejects(openVanillaBundle(await deflateVanillaBundle(bad)), { message: want });
    }
  });

  test("deflated in parts (one per partition, compressed apart) and joined: the same bundle as one stream", async () => {
    const random = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7919 + n) % 251);
    // Four partitions: repetitive entries, varied ones, one that proves a single sector, and one
    // large enough (> 1 MiB) to be compressed in slices.
    const partitions = [
      Array.from({ length: 40 }, (_, i) => new Uint8Array(3_000).fill(i % 5)),
      Array.from({ length: 25 }, (_, i) => random(1_000 + i)),
      [random(77)],
      Array.from({ length: 12 }, (_, i) => random(100_000 + i)),
    ];
    const all = partitions.flat();
    const parts = await Promise.all(partitions.map((p) => deflateBundlePart(p)));
    const joined = joinDeflatedBundle(all.length, parts);
    assert.deepEqual([...joined.subarray(0, 4)], [...DEFLATED_BUNDLE_MAGIC]);
    const back = await openVanillaBundle(joined);
    assert.deepEqual(
      back.map((e) => [...e]),
      all.map((e) => [...e]),
    );
    // The raw stream is one valid stream: it inflates to the plain bundle byte for byte.
    assert.deepEqual([...inflateRawSync(joined.subarray(4))], [...encodeVanillaBundle(all)]);
    // Parts in another order are another bundle (the devnet then matches entries to the wrong sectors);
    // a count that does not match the parts is malformed.
    const swapped = await openVanillaBundle(
      joinDeflatedBundle(all.length, [parts[1]!, parts[0]!, parts[2]!, parts[3]!]),
    );
    assert.notDeepEqual(
      swapped.map((e) => e.length),
      back.map((e) => e.length),
    );
    await assert.rejects(
      openVanillaBundle(joinDeflatedBundle(all.length + 1, parts)),
      /malformed vanilla bundle/,
    );
    assert.deepEqual(await openVanillaBundle(joinDeflatedBundle(0, [])), []);
  });
});

describe("devnet randomness", () => {
  test("deterministic and separated by domain, tag, epoch and entropy", () => {
    const seed = new Uint8Array(32).fill(3);
    const e = minerEntropy(MINER);
    // CBOR byte string header 0x42 + ID address bytes 00 e8 07.
    assert.deepEqual([...e], [0x43, 0x00, 0xe8, 0x07]);
    const base = beaconRandomness(seed, 4, 100, e);
    assert.equal(base.length, 32);
    assert.deepEqual(beaconRandomness(seed, 4, 100, e), base);
    const others = [
      ticketRandomness(seed, 4, 100, e),
      beaconRandomness(seed, 5, 100, e),
      beaconRandomness(seed, 4, 101, e),
      beaconRandomness(seed, 4, 100, new Uint8Array(0)),
      beaconRandomness(new Uint8Array(32), 4, 100, e),
    ];
    for (const [i, o] of others.entries()) assert.notDeepEqual(o, base, `variant ${i} must differ`);
  });
});

describe("onboarding at mainnet shape", () => {
  test("23,490 32 GiB sectors on 48 deadlines: 10 full partitions of 2,349, in linear time", () => {
    const s = new ChainState({ seed: new Uint8Array(32).fill(7) });
    // RegisteredPoStProof 13 = StackedDrgWindow32GiBV1_1 (the devnet's V1_1 ids are 10..14 by size).
    s.addMiner({
      address: MINER,
      owner: "f0100",
      worker: "f0101",
      windowPoStProofType: 13,
      provingPeriodOffset: 0,
    });
    const list = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        number: from + i,
        sealProof: 8, // StackedDrg32GiBV1_1
        sealedCid: sealedCid(
          Uint8Array.from({ length: 32 }, (_, k) => (k < 3 ? ((from + i) >> (8 * k)) & 0xff : 1)),
        ),
      }));
    const t0 = performance.now();
    s.onboard(MINER, list(1, 2349));
    const small = performance.now() - t0;
    const t1 = performance.now();
    const loc = s.onboard(MINER, list(2350, 21141));
    const big = performance.now() - t1;
    assert.equal(loc.length, 21141);
    const parts = Array.from({ length: 48 }, (_, d) =>
      s.partitions(MINER, d).map((p) => p.allSectors.count()),
    );
    const full = parts.flat();
    assert.deepEqual(full, new Array(10).fill(2349), JSON.stringify(parts));
    assert.equal(s.minerInfo(MINER).windowPoStPartitionSectors, 2349);
    // 9× the sectors: a quadratic placement would take ~80× the time; allow 30× for noise and warm-up.
    assert.ok(
      big < 30 * small + 500,
      `2,349 sectors ${small.toFixed(0)} ms, 21,141 more ${big.toFixed(0)} ms`,
    );
  });
});
