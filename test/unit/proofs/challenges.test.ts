import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sha256 } from "@noble/hashes/sha2.js";
import {
  assertCanonicalFrBytes,
  generateFallbackSectorChallenges,
  generateLeafChallenge,
  generateSectorChallenge,
  generateSectorLeafChallenges,
  generateWindowPoStChallenges,
  generateWinningPoStLeafChallenges,
  generateWinningPoStSectorChallenge,
  isCanonicalFrBytes,
  maskSeed,
  type PoStApiVersion,
  postChallengeIndex,
  proverIdFromActorId,
  WINDOW_POST_CHALLENGE_COUNT,
  WINNING_POST_CHALLENGE_COUNT,
} from "../../../src/proofs/challenges.js";

const KiB = 1024n;
const SIZE_2K = 2n * KiB;
const SIZE_8M = 8n * KiB * KiB;
const SIZE_512M = 512n * KiB * KiB;
const SIZE_32G = 32n * KiB * KiB * KiB;
const SIZE_64G = 64n * KiB * KiB * KiB;

/** randomness = bytes 0x00, 0x01, …, 0x1f (top byte 0x1f < 0x73: canonical). */
const SEQ = Uint8Array.from({ length: 32 }, (_, i) => i);

// ---- A second, deliberately naive implementation straight from post-proofs.md §1.3 ----
// Different SHA-256 (@noble/hashes instead of node:crypto), byte-at-a-time u64 encoding and
// decoding with plain arithmetic instead of DataView / Buffer readers.
function u64le(x: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; i < 8; i++) out.push(Number((x >> BigInt(8 * i)) & 0xffn));
  return out;
}
function leU64(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = v * 256n + BigInt(bytes[i]!);
  return v;
}
function naiveLeaf(randomness: Uint8Array, sector: bigint, index: bigint, sectorSize: bigint): bigint {
  const msg = Uint8Array.from([...randomness, ...u64le(sector), ...u64le(index)]);
  assert.equal(msg.length, 48);
  return leU64(sha256(msg)) % (sectorSize / 32n);
}
function naiveIndex(v: PoStApiVersion, sectorIndex: number, count: number, n: number): bigint {
  return v === "V1_2_0" ? BigInt(n) : BigInt(sectorIndex * count + n);
}

function rngBytes(seed: number): () => Uint8Array {
  let s = seed >>> 0 || 1;
  return () => {
    const b = new Uint8Array(32);
    for (let i = 0; i < 32; i++) {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      b[i] = s & 0xff;
    }
    return b;
  };
}

describe("challenges: seed handling", () => {
  it("maskSeed clears the top two bits of byte 31 and copies", () => {
    const seed = new Uint8Array(32).fill(0xff);
    const masked = maskSeed(seed);
    assert.equal(masked[31], 0x3f);
    assert.equal(seed[31], 0xff, "input left untouched");
    assert.notEqual(masked, seed);
    for (let i = 0; i < 31; i++) assert.equal(masked[i], 0xff, `byte ${i} unchanged`);
    assert.throws(() => maskSeed(new Uint8Array(31)), /expected 32 bytes/);
  });

  it("any masked seed is canonical; all-0xff is not", () => {
    const next = rngBytes(7);
    for (let k = 0; k < 200; k++) {
      const m = maskSeed(next());
      assert.ok(isCanonicalFrBytes(m), `masked random seed ${k}`);
    }
    const ff = new Uint8Array(32).fill(0xff);
    assert.equal(isCanonicalFrBytes(ff), false);
    assert.throws(() => assertCanonicalFrBytes(ff), /randomness is not a canonical BLS12-381 Fr.*maskSeed/);
    // Boundary: r − 1 accepted, r rejected (r = 0x73eda753…00000001, little-endian bytes).
    const rMinus1 = Buffer.from(
      "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000000",
      "hex",
    ).reverse();
    const r = Buffer.from(
      "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001",
      "hex",
    ).reverse();
    assert.equal(isCanonicalFrBytes(new Uint8Array(rMinus1)), true);
    assert.equal(isCanonicalFrBytes(new Uint8Array(r)), false);
    assert.throws(() => generateLeafChallenge(new Uint8Array(r), 1n, 0n, SIZE_2K), /not a canonical/);
  });
});

describe("challenges: WindowPoSt leaf challenges", () => {
  it("hard-coded example: 32 GiB, randomness 00..1f, sector 1234, V1_2", () => {
    // Derived outside this code base with Python's hashlib:
    //   sha256(bytes(range(32)) + (1234).to_bytes(8, "little") + n.to_bytes(8, "little"))
    // For n = 0 the digest starts 79 5d 20 63 d8 cd d6 bd, i.e. the LE u64
    // 0xbdd6cdd863205d79; a 32 GiB sector has 2^30 nodes, so the leaf is the low 30 bits,
    // 0x23205d79 = 589323641. The other nine values come from the same one-liner.
    const expected = [
      589323641n,
      566144375n,
      11377763n,
      851431420n,
      1012528151n,
      257804480n,
      36312399n,
      913100396n,
      438099835n,
      52596976n,
    ];
    const got = generateSectorLeafChallenges({
      randomness: SEQ,
      sectorNumber: 1234n,
      sectorSize: SIZE_32G,
      apiVersion: "V1_2_0",
      sectorIndex: 99, // ignored under V1_2
    });
    assert.deepEqual(got, expected);
    for (let n = 0; n < 10; n++) {
      assert.equal(generateLeafChallenge(SEQ, 1234n, BigInt(n), SIZE_32G), expected[n], `n = ${n}`);
    }
  });

  it("hard-coded example: V1 uses sectorIndex * 10 + n (sector at position 3)", () => {
    // Same Python one-liner with challenge indices 30..39.
    const expected = [
      900697030n,
      486752592n,
      457941956n,
      385350775n,
      373365773n,
      48385891n,
      37572518n,
      174099970n,
      1044007851n,
      916216218n,
    ];
    for (const v of ["V1_0_0", "V1_1_0"] as const) {
      const got = generateSectorLeafChallenges({
        randomness: SEQ,
        sectorNumber: 1234n,
        sectorSize: SIZE_32G,
        apiVersion: v,
        sectorIndex: 3,
      });
      assert.deepEqual(got, expected, `api ${v}`);
    }
  });

  it("hard-coded example: 2 KiB sector 7 (64 leaves), V1_2", () => {
    // Python: [int.from_bytes(sha256(bytes(range(32)) + (7).to_bytes(8,"little") +
    //          n.to_bytes(8,"little")).digest()[:8], "little") % 64 for n in range(10)]
    const got = generateSectorLeafChallenges({
      randomness: SEQ,
      sectorNumber: 7n,
      sectorSize: SIZE_2K,
      apiVersion: "V1_2_0",
      sectorIndex: 0,
    });
    assert.deepEqual(got, [33n, 37n, 45n, 53n, 36n, 46n, 51n, 23n, 4n, 31n]);
  });

  it("hard-coded example: masked all-0xff seed, sector 1, 32 GiB", () => {
    // Python: seed = b"\xff" * 31 + b"\x3f", then the same formula for n = 0, 1, 2.
    const seed = maskSeed(new Uint8Array(32).fill(0xff));
    const got = [0n, 1n, 2n].map((n) => generateLeafChallenge(seed, 1n, n, SIZE_32G));
    assert.deepEqual(got, [832908973n, 445751679n, 497283172n]);
  });

  it("agrees with the naive implementation on random inputs, all sector sizes and versions", () => {
    const next = rngBytes(42);
    const sizes = [SIZE_2K, SIZE_8M, SIZE_512M, SIZE_32G, SIZE_64G];
    const versions: PoStApiVersion[] = ["V1_0_0", "V1_1_0", "V1_2_0"];
    let k = 0;
    for (const size of sizes) {
      for (const v of versions) {
        for (let rep = 0; rep < 4; rep++, k++) {
          const randomness = maskSeed(next());
          // Sector numbers across the u64 range, including the extremes.
          const sector = [0n, 1n, 123456789n, (1n << 64n) - 1n][rep]!;
          const sectorIndex = rep * 1000 + 7;
          const got = generateSectorLeafChallenges({
            randomness,
            sectorNumber: sector,
            sectorSize: size,
            apiVersion: v,
            sectorIndex,
          });
          assert.equal(got.length, WINDOW_POST_CHALLENGE_COUNT);
          for (let n = 0; n < WINDOW_POST_CHALLENGE_COUNT; n++) {
            const want = naiveLeaf(randomness, sector, naiveIndex(v, sectorIndex, 10, n), size);
            assert.equal(got[n], want, `case ${k}: size ${size}, ${v}, sector ${sector}, n ${n}`);
            assert.ok(got[n]! < size / 32n, `case ${k}: in range`);
          }
        }
      }
    }
  });

  it("postChallengeIndex follows get_challenge_index", () => {
    for (let i = 0; i < 5; i++) {
      for (let n = 0; n < 10; n++) {
        assert.equal(postChallengeIndex("V1_0_0", i, 10, n), BigInt(i * 10 + n), `V1_0 ${i}/${n}`);
        assert.equal(postChallengeIndex("V1_1_0", i, 10, n), BigInt(i * 10 + n), `V1_1 ${i}/${n}`);
        assert.equal(postChallengeIndex("V1_2_0", i, 10, n), BigInt(n), `V1_2 ${i}/${n}`);
      }
    }
    assert.throws(() => postChallengeIndex("V9" as PoStApiVersion, 0, 10, 0), /unknown PoSt API version/);
    assert.throws(() => postChallengeIndex("V1_2_0", -1, 10, 0), /sectorIndex/);
  });

  it("rejects bad sector sizes and out-of-range u64 values", () => {
    assert.throws(() => generateLeafChallenge(SEQ, 1n, 0n, 0n), /positive multiple of 32/);
    assert.throws(() => generateLeafChallenge(SEQ, 1n, 0n, 100n), /positive multiple of 32/);
    assert.throws(() => generateLeafChallenge(SEQ, -1n, 0n, SIZE_2K), /sectorNumber must be a u64/);
    assert.throws(() => generateLeafChallenge(SEQ, 1n << 64n, 0n, SIZE_2K), /sectorNumber must be a u64/);
    assert.throws(() => generateLeafChallenge(SEQ.subarray(1), 1n, 0n, SIZE_2K), /expected 32 bytes/);
  });
});

describe("challenges: fallback driver and partitions", () => {
  it("window: sector index is the global position; V1_2 ignores it", () => {
    const randomness = maskSeed(rngBytes(9)());
    const sectors = [10n, 11n, 12n, 13n, 14n];
    for (const v of ["V1_0_0", "V1_2_0"] as const) {
      const map = generateFallbackSectorChallenges(
        {
          type: "window",
          randomness,
          sectorSize: SIZE_2K,
          apiVersion: v,
          sectorCount: 2,
          challengeCount: 10,
        },
        sectors,
      );
      assert.deepEqual([...map.keys()], sectors, `${v}: every sector across 3 partitions`);
      sectors.forEach((s, pos) => {
        const want = Array.from({ length: 10 }, (_, n) =>
          naiveLeaf(randomness, s, naiveIndex(v, pos, 10, n), SIZE_2K),
        );
        assert.deepEqual(map.get(s), want, `${v}: sector ${s} at position ${pos}`);
      });
      // The per-partition helper gives the same rows.
      const part1 = generateWindowPoStChallenges({
        randomness,
        sectorSize: SIZE_2K,
        apiVersion: v,
        sectorNumbers: [12n, 13n],
        partitionIndex: 1,
        sectorsPerPartition: 2,
      });
      assert.deepEqual(part1, [map.get(12n), map.get(13n)], `${v}: partition 1 helper`);
    }
    assert.throws(
      () =>
        generateFallbackSectorChallenges(
          {
            type: "window",
            randomness,
            sectorSize: SIZE_2K,
            apiVersion: "V1_2_0",
            sectorCount: 2,
            challengeCount: 10,
          },
          [],
        ),
      /invalid number of sectors/,
    );
  });

  it("winning: one partition, only the first sector_count sectors, 66 challenges", () => {
    const randomness = maskSeed(rngBytes(11)());
    const map = generateFallbackSectorChallenges(
      {
        type: "winning",
        randomness,
        sectorSize: SIZE_32G,
        apiVersion: "V1_0_0",
        sectorCount: 1,
        challengeCount: WINNING_POST_CHALLENGE_COUNT,
      },
      [77n, 78n],
    );
    assert.deepEqual([...map.keys()], [77n]);
    const leaves = map.get(77n)!;
    assert.equal(leaves.length, 66);
    for (const v of ["V1_0_0", "V1_2_0"] as const) {
      assert.deepEqual(generateWinningPoStLeafChallenges(randomness, 77n, SIZE_32G, v), leaves, `api ${v}`);
    }
    for (let n = 0; n < 66; n++) {
      assert.equal(leaves[n], naiveLeaf(randomness, 77n, BigInt(n), SIZE_32G), `winning leaf ${n}`);
    }
  });
});

describe("challenges: WinningPoSt sector selection", () => {
  it("prover id is the LEB128 ID-address payload, zero-padded to 32 bytes", () => {
    assert.deepEqual([...proverIdFromActorId(0n)], new Array(32).fill(0));
    const p1000 = proverIdFromActorId(1000n);
    assert.deepEqual([...p1000.subarray(0, 3)], [0xe8, 0x07, 0x00]);
    assert.equal(p1000.length, 32);
    const max = proverIdFromActorId((1n << 64n) - 1n);
    assert.deepEqual(
      [...max.subarray(0, 11)],
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00],
    );
  });

  it("hard-coded example: actor 1000, randomness 00..1f, 100 eligible sectors", () => {
    // Python: h = sha256(bytes([0xe8, 0x07]) + bytes(30) + bytes(range(32)) + (0).to_bytes(8, "little"))
    // h = 1e3fa7bf20ce6894…, LE u64 of the first 8 bytes = 10694023955240927006, mod 100 = 6.
    const pid = proverIdFromActorId(1000n);
    assert.equal(generateSectorChallenge(SEQ, 0n, 100n, pid), 6n);
    assert.equal(generateSectorChallenge(SEQ, 0n, 1n << 63n, pid), 10694023955240927006n % (1n << 63n));
    assert.deepEqual(generateWinningPoStSectorChallenge(SEQ, 100n, pid), [6n]);
  });

  it("agrees with a naive 72-byte SHA-256 construction", () => {
    const next = rngBytes(5);
    for (let k = 0; k < 30; k++) {
      const randomness = maskSeed(next());
      const pid = proverIdFromActorId(BigInt(1000 + k * 7919));
      const setSize = BigInt(1 + k * 37);
      for (let n = 0; n < 3; n++) {
        const msg = Uint8Array.from([...pid, ...randomness, ...u64le(BigInt(n))]);
        const want = leU64(sha256(msg)) % setSize;
        assert.equal(generateSectorChallenge(randomness, BigInt(n), setSize, pid), want, `case ${k}, n ${n}`);
      }
    }
  });

  it("rejects an empty sector set and non-canonical prover ids", () => {
    const pid = proverIdFromActorId(1000n);
    assert.throws(() => generateSectorChallenge(SEQ, 0n, 0n, pid), /empty sector set/);
    assert.throws(
      () => generateSectorChallenge(SEQ, 0n, 10n, new Uint8Array(32).fill(0xff)),
      /prover_id is not a canonical/,
    );
  });
});
