/**
 * The WebAssembly Poseidon against the BigInt implementation (poseidonHashBigInt, itself checked
 * against neptune's vectors and the textbook permutation in poseidon.test.ts), and the limb
 * arithmetic of its code generator against BigInt on worst-case operands.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { badInput, hashNodes, hashRow, hashRowBytes } from "../../../src/proofs/nodes.js";
import { getPoseidonConstants } from "../../../src/proofs/poseidon/constants.js";
import { FuncBuilder, I32, ModuleBuilder } from "../../../src/proofs/poseidon/wasm/emitter.js";
import { instantiateWasm, poseidonWasm } from "../../../src/proofs/poseidon/wasm/hasher.js";
import {
  type Arith,
  ConstPool,
  fromLimbs,
  LIMBS,
  MASK,
  memOperand,
  memSink,
  NORMALISED,
  R,
  SCALAR,
  simdArith,
  VEC_BYTES,
} from "../../../src/proofs/poseidon/wasm/limbs.js";
import { buildPoseidonWasm } from "../../../src/proofs/poseidon/wasm/module.js";
import {
  emitIntRow,
  emitMontSum,
  intRowBound,
  montSumBound,
  type Term,
} from "../../../src/proofs/poseidon/wasm/montgomery.js";
import {
  FR_MODULUS,
  frFromBytesLE,
  frToBytesLE,
  POSEIDON_ARITIES,
  poseidonHash,
  poseidonHashBigInt,
  poseidonHashBytes,
  poseidonHashGroupsInto,
  poseidonHashMany,
} from "../../../src/proofs/poseidon.js";
import { checkSegment, decodeSegment } from "../../../src/proofs/treeRLast.js";
import { SmError } from "../../../src/util/errors.js";

const P = FR_MODULUS;

/** Deterministic 64-bit generator (splitmix64), so failures reproduce. */
function rng64(seed: number): () => bigint {
  let s = BigInt(seed) * 0x9e3779b97f4a7c15n;
  const M = (1n << 64n) - 1n;
  return () => {
    s = (s + 0x9e3779b97f4a7c15n) & M;
    let z = s;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
    return z ^ (z >> 31n);
  };
}

function randomFr(next: () => bigint): bigint {
  return ((next() << 192n) | (next() << 128n) | (next() << 64n) | next()) % P;
}

/**
 * Canonical values that stress carries and bounds: 0, 1, r − 1 and its neighbours, powers of two
 * and their predecessors up to 2^254 (r ≈ 2^254.86), r − 2^k, and values whose 29-bit limbs are
 * all at their maximum.
 */
function edgeValues(): bigint[] {
  const v = new Set<bigint>([0n, 1n, 2n, P - 1n, P - 2n, P - 3n, (P - 1n) / 2n, (P + 1n) / 2n]);
  for (let k = 1; k <= 254; k += 7) {
    v.add(1n << BigInt(k));
    v.add((1n << BigInt(k)) - 1n);
    v.add(P - (1n << BigInt(k)));
  }
  v.add(1n << 254n);
  v.add((1n << 254n) + 1n);
  v.add((1n << 254n) - 1n);
  for (let limbs = 1; limbs <= 8; limbs++) v.add((1n << BigInt(29 * limbs)) - 1n);
  return [...v].filter((x) => x >= 0n && x < P);
}

/** count groups of `arity` elements: the edge values cycled through every position, then random. */
function makeGroups(arity: number, count: number, seed: number): bigint[][] {
  const next = rng64(seed);
  const edges = edgeValues();
  const groups: bigint[][] = [];
  let e = 0;
  for (let g = 0; g < count; g++) {
    const group: bigint[] = [];
    for (let i = 0; i < arity; i++) {
      // The first groups are mostly edge values, later ones mix a few into random data.
      const useEdge = g < edges.length ? (g + i) % 3 !== 2 : (next() & 7n) === 0n;
      group.push(useEdge ? edges[e++ % edges.length]! : randomFr(next));
    }
    groups.push(group);
  }
  groups.push(new Array<bigint>(arity).fill(P - 1n), new Array<bigint>(arity).fill(0n));
  return groups;
}

function toBytes(groups: readonly bigint[][]): Uint8Array {
  const arity = groups[0]!.length;
  const out = new Uint8Array(groups.length * arity * 32);
  groups.forEach((g, gi) => {
    g.forEach((x, i) => {
      frToBytesLE(x, out.subarray((gi * arity + i) * 32, (gi * arity + i + 1) * 32));
    });
  });
  return out;
}

describe("poseidon wasm: equals the BigInt implementation", () => {
  const counts: Record<number, number> = { 2: 3000, 4: 300, 8: 2000, 11: 120, 16: 60, 24: 40, 36: 30 };
  for (const arity of POSEIDON_ARITIES) {
    it(`arity ${arity}: ${counts[arity]} groups in one batch, edge values and random`, () => {
      const groups = makeGroups(arity, counts[arity]!, arity);
      const out = poseidonHashMany(arity, toBytes(groups));
      assert.equal(out.length, groups.length * 32);
      for (let g = 0; g < groups.length; g++) {
        const expected = poseidonHashBigInt(arity, groups[g]!);
        const got = frFromBytesLE(out.subarray(g * 32, (g + 1) * 32));
        if (got !== expected)
          assert.fail(`arity ${arity}, group ${g} (${groups[g]!.join(", ")}): ${got} ≠ ${expected}`);
      }
      // The single-hash entry points agree with the batch.
      for (const g of [0, 1, groups.length - 1]) {
        assert.equal(
          poseidonHash(arity, groups[g]!),
          poseidonHashBigInt(arity, groups[g]!),
          `poseidonHash ${g}`,
        );
        const children = groups[g]!.map((x) => frToBytesLE(x));
        assert.deepEqual(
          poseidonHashBytes(children),
          out.subarray(g * 32, (g + 1) * 32),
          `poseidonHashBytes ${g}`,
        );
      }
    });
  }

  it("nodes.ts row helpers (BigInt rows and byte rows) agree with the BigInt hash", () => {
    const next = rng64(99);
    const row = Array.from({ length: 64 }, () => randomFr(next));
    row[5] = P - 1n;
    const parents = hashRow(row);
    const bytes = hashRowBytes(toBytes([row]));
    for (let o = 0; o < 8; o++) {
      const expected = poseidonHashBigInt(8, row.slice(o * 8, o * 8 + 8));
      assert.equal(parents[o], expected, `hashRow parent ${o}`);
      assert.equal(frFromBytesLE(bytes.subarray(o * 32, o * 32 + 32)), expected, `hashRowBytes parent ${o}`);
    }
    assert.deepEqual(hashRow(row.slice(0, 16), 2), hashRow(row.slice(0, 16), 2)); // repeatable
    for (let o = 0; o < 8; o++) {
      assert.equal(hashRow(row.slice(0, 16), 2)[o], poseidonHashBigInt(2, row.slice(2 * o, 2 * o + 2)));
    }
  });

  it("two-lane batches equal the scalar module: odd counts, each lane, every arity from 8", () => {
    for (const arity of [8, 11, 36]) {
      const w = poseidonWasm(arity);
      assert.equal(w.pairedBatches, true, `arity ${arity} batches run in two lanes on this machine`);
      for (const count of [2, 3, 5, arity === 8 ? 257 : 4]) {
        const input = toBytes(makeGroups(arity, count - 2, 1000 + count));
        const paired = new Uint8Array(count * 32);
        const scalar = new Uint8Array(count * 32);
        assert.equal(w.hashInto(input, paired), -1);
        assert.equal(w.hashIntoScalar(input, scalar), -1);
        assert.deepEqual(paired, scalar, `arity ${arity}, ${count} groups`);
      }
    }
    assert.equal(poseidonWasm(2).pairedBatches, false, "arity 2 stays scalar");
  });

  it("two-lane batches report a bad node in either lane and hash every group before it", () => {
    const w = poseidonWasm(8);
    const groups = makeGroups(8, 5, 4242); // 7 groups: pairs (0,1) (2,3) (4,5) and (6)
    const bad = new Uint8Array(32).fill(0xff);
    for (const g of [0, 1, 2, 5, 6]) {
      for (const child of [0, 7]) {
        const input = toBytes(groups);
        input.set(bad, (g * 8 + child) * 32);
        const out = new Uint8Array(7 * 32);
        assert.equal(w.hashInto(input, out), g * 8 + child, `group ${g}, child ${child}`);
        for (let k = 0; k < g; k++) {
          assert.equal(
            frFromBytesLE(out.subarray(k * 32, k * 32 + 32)),
            poseidonHashBigInt(8, groups[k]!),
            `group ${k} before a bad node in group ${g}`,
          );
        }
      }
    }
  });

  it("every arity uses the integer full-round matrix where its entries fit an i64 product", () => {
    for (const arity of POSEIDON_ARITIES) {
      const b = buildPoseidonWasm(getPoseidonConstants(arity));
      assert.equal(b.mdsMode, arity <= 8 ? "integer" : "dense", `arity ${arity}`);
      assert.ok(b.bytes.length < 300_000, `arity ${arity}: module of ${b.bytes.length} bytes`);
    }
  });
});

describe("poseidon wasm: bad input", () => {
  const ok = frToBytesLE(12345n);
  const nonCanonical = [P, P + 1n, (1n << 255n) - 1n, 1n << 255n, (1n << 256n) - 1n].map((x) => {
    const b = new Uint8Array(32);
    new DataView(b.buffer).setBigUint64(0, x & ((1n << 64n) - 1n), true);
    new DataView(b.buffer).setBigUint64(8, (x >> 64n) & ((1n << 64n) - 1n), true);
    new DataView(b.buffer).setBigUint64(16, (x >> 128n) & ((1n << 64n) - 1n), true);
    new DataView(b.buffer).setBigUint64(24, x >> 192n, true);
    return b;
  });

  it("wrong lengths are RangeErrors", () => {
    assert.throws(() => poseidonHashMany(8, new Uint8Array(255)), /not a whole number of 256-byte groups/);
    assert.throws(
      () => poseidonHashMany(2, new Uint8Array(64), new Uint8Array(31)),
      /output must be 32 bytes/,
    );
    assert.throws(
      () => poseidonHashGroupsInto(8, new Uint8Array(512), new Uint8Array(32)),
      /output must be 64/,
    );
    assert.throws(() => poseidonHashMany(3, new Uint8Array(96)), /unsupported arity 3/);
    assert.equal(poseidonHashMany(8, new Uint8Array(0)).length, 0);
    assert.throws(
      () => hashRowBytes(new Uint8Array(100)),
      (e: unknown) => e instanceof SmError && /whole number/.test(e.message),
    );
  });

  it("a non-canonical node is reported by index; the groups before it are hashed", () => {
    const next = rng64(5);
    for (const [k, bad] of nonCanonical.entries()) {
      for (const arity of [2, 8]) {
        const groups = Array.from({ length: 5 }, () => Array.from({ length: arity }, () => randomFr(next)));
        const input = toBytes(groups);
        const at = 3 * arity + ((k * 3) % arity); // group 3
        input.set(bad, at * 32);
        input.set(bad, (4 * arity + 1) * 32); // a later bad node is not the one reported
        const out = new Uint8Array(5 * 32);
        assert.equal(poseidonHashGroupsInto(arity, input, out), at, `value ${k}, arity ${arity}`);
        for (let g = 0; g < 3; g++) {
          assert.equal(
            frFromBytesLE(out.subarray(g * 32, g * 32 + 32)),
            poseidonHashBigInt(arity, groups[g]!),
          );
        }
        assert.throws(
          () => poseidonHashMany(arity, input),
          new RegExp(`Poseidon node ${at} \\(group 3, child ${at % arity}\\): not a canonical BLS12-381 Fr`),
        );
        const children = Array.from({ length: arity }, (_, i) =>
          input.slice((3 * arity + i) * 32, (3 * arity + i + 1) * 32),
        );
        assert.throws(
          () => poseidonHashBytes(children),
          new RegExp(`Poseidon child ${at % arity}: not a canonical`),
        );
        assert.equal(hashNodes(children), undefined);
        assert.throws(
          () => hashRowBytes(input, arity),
          (e: unknown) =>
            e instanceof SmError && e.code === badInput("").code && /node \d+ of the row/.test(e.message),
        );
      }
    }
  });

  it("single-hash paths keep their messages and their first-bad-child order", () => {
    const bad = nonCanonical[0]!;
    // A bad value before a short child: the value is reported, as the child-by-child decoder did.
    assert.throws(() => poseidonHashBytes([bad, new Uint8Array(31)]), /Poseidon child 0: not a canonical/);
    assert.throws(() => poseidonHashBytes([ok, new Uint8Array(31)]), /child 1: expected 32 bytes, got 31/);
    assert.equal(hashNodes([ok, new Uint8Array(33)]), undefined);
    assert.throws(() => poseidonHash(2, [P, 0n]), /element 0 is not a canonical/);
    assert.throws(() => poseidonWasm(2).hashElements([0n, P]), /element 1 is not a canonical/);
    assert.throws(() => poseidonWasm(2).hashElements([-1n, 0n]), /element 0 is not a canonical/);
    assert.throws(() => poseidonWasm(2).hashElements([0n]), /expected 2 elements/);
  });

  it("checkSegment reports the same node and offset as decodeSegment", () => {
    const next = rng64(8);
    const ctx = { sector: 7, file: "/x/sealed", what: "sealed replica" };
    const seg = toBytes([Array.from({ length: 64 }, () => randomFr(next))]);
    seg.set(frToBytesLE(P - 1n), 0); // top byte 0x73 but canonical: takes the slow check
    checkSegment(seg, 0, 64, 4096, ctx);
    for (const [k, bad] of nonCanonical.entries()) {
      const s = seg.slice();
      const at = 10 + k * 9;
      s.set(bad, at * 32);
      s.set(bad, 60 * 32);
      const msg = (f: () => unknown) => {
        try {
          f();
        } catch (e) {
          return (e as Error).message;
        }
        return "no error";
      };
      const expected = msg(() => decodeSegment(s, 32, 63, 4096, ctx));
      assert.match(expected, new RegExp(`at byte ${4096 + at * 32};`));
      assert.equal(
        msg(() => checkSegment(s, 32, 63, 4096, ctx)),
        expected,
        `value ${k}`,
      );
    }
  });
});

const R_INV = (() => {
  // R⁻¹ mod r by Fermat (test-only, slow is fine).
  let result = 1n;
  let base = R % P;
  let e = P - 2n;
  while (e > 0n) {
    if (e & 1n) result = (result * base) % P;
    base = (base * base) % P;
    e >>= 1n;
  }
  return result;
})();

/**
 * One generator primitive compiled as f(out, a, b), operands at a + 72k and b + 72k, for the
 * scalar arithmetic or the two-lane one (lane values written and read separately, so that the
 * two lanes hold different numbers and are checked independently).
 */
class Harness {
  readonly m: { memory: { buffer: ArrayBuffer }; f: (out: number, a: number, b: number) => void };
  constructor(
    readonly lanes: 1 | 2,
    emit: (f: FuncBuilder, ar: Arith) => void,
  ) {
    const pool = new ConstPool(60_000, 64);
    const ar = lanes === 2 ? simdArith(pool) : SCALAR;
    const mb = new ModuleBuilder();
    const f = new FuncBuilder([I32, I32, I32], []);
    emit(f, ar);
    mb.exportFunc("f", mb.add(f));
    mb.memory(2);
    this.m = instantiateWasm(mb.encode()) as Harness["m"];
    new Uint8Array(this.m.memory.buffer).set(pool.image(), pool.base);
  }
  write(at: number, lane: number, limbs: readonly bigint[]): void {
    const dv = new DataView(this.m.memory.buffer);
    for (const [i, l] of limbs.entries()) {
      if (this.lanes === 1) dv.setBigUint64(at + 8 * i, l, true);
      else dv.setUint32(at + 8 * i + 4 * lane, Number(l), true);
    }
  }
  read(at: number, lane: number): bigint[] {
    const dv = new DataView(this.m.memory.buffer);
    return Array.from({ length: LIMBS }, (_, i) =>
      this.lanes === 1
        ? dv.getBigUint64(at + 8 * i, true)
        : BigInt(dv.getUint32(at + 8 * i + 4 * lane, true)),
    );
  }
}

for (const lanes of [1, 2] as const) {
  const kind = lanes === 1 ? "scalar" : "two-lane SIMD";
  describe(`poseidon wasm: ${kind} limb arithmetic on worst-case operands`, () => {
    const patterns = (next: () => bigint): bigint[][] => [
      new Array<bigint>(LIMBS).fill(MASK), // every limb at its maximum: 2^261 − 1
      Array.from({ length: LIMBS }, () => next() & MASK),
      Array.from({ length: LIMBS }, (_, i) => (i % 2 === 0 ? MASK : 0n)),
      new Array<bigint>(LIMBS).fill(0n),
    ];
    // Two-lane limbs are stored as u32, so results must fit 9 limbs: there the second factor
    // keeps its low 8 limbs at the maximum but has a small top limb (value < 2^256).
    const capTop = (x: bigint[]) => (lanes === 1 ? x : [...x.slice(0, 8), x[8]! >> 5n]);

    for (const terms of [1, 3, 9, 20]) {
      it(`Montgomery sum of ${terms} products with every limb up to 2^29 − 1`, () => {
        const h = new Harness(lanes, (f, ar) => {
          const ts: Term[] = [];
          for (let k = 0; k < terms; k++) {
            ts.push({
              a: memOperand(1, k * VEC_BYTES, NORMALISED, ar),
              b: memOperand(2, k * VEC_BYTES, NORMALISED, ar),
            });
          }
          emitMontSum(f, ar, ts, memSink(0, 0, ar), memOperand(0, 0, NORMALISED, ar));
        });
        const next = rng64(terms);
        for (let rep = 0; rep < 12; rep++) {
          const cases = Array.from({ length: lanes }, (_, lane) => {
            const pats = patterns(next);
            const as = Array.from({ length: terms }, (_, k) => pats[(rep + k + lane) % pats.length]!);
            const bs = Array.from({ length: terms }, (_, k) =>
              capTop(pats[(rep + 2 * k + 1) % pats.length]!),
            );
            const addend = lanes === 1 ? pats[(rep + 1) % 2]! : capTop(pats[(rep + lane) % 2]!);
            return { as, bs, addend };
          });
          for (const [lane, c] of cases.entries()) {
            for (const [k, a] of c.as.entries()) h.write(4096 + k * VEC_BYTES, lane, a);
            for (const [k, b] of c.bs.entries()) h.write(16384 + k * VEC_BYTES, lane, b);
            h.write(0, lane, c.addend);
          }
          h.m.f(0, 4096, 16384);
          for (const [lane, c] of cases.entries()) {
            const got = fromLimbs(h.read(0, lane));
            let sum = 0n;
            const prods: Array<[bigint, bigint]> = [];
            for (let k = 0; k < terms; k++) {
              const a = fromLimbs(c.as[k]!);
              const b = fromLimbs(c.bs[k]!);
              sum += a * b;
              prods.push([a, b]);
            }
            const add = fromLimbs(c.addend);
            const where = `terms ${terms}, rep ${rep}, lane ${lane}`;
            assert.equal(got % P, ((((sum % P) * R_INV + add) % P) + P) % P, where);
            assert.ok(got <= montSumBound(prods, add), `bound, ${where}`);
            // Every limb but the top one is normalised.
            for (const [i, l] of h.read(0, lane).entries())
              if (i < LIMBS - 1) assert.ok(l <= MASK, `limb ${i}`);
          }
        }
      });
    }

    it("Montgomery squaring with limbs up to 2^30 (an unnormalised sum)", () => {
      const bound = new Array<bigint>(LIMBS).fill(2n * MASK);
      const h = new Harness(lanes, (f, ar) => {
        const a = memOperand(1, 0, bound, ar);
        emitMontSum(f, ar, [{ a, b: a, square: true }], memSink(0, 0, ar));
      });
      const next = rng64(77);
      for (let rep = 0; rep < 20; rep++) {
        const xs = Array.from({ length: lanes }, (_, lane) =>
          rep === 0 && lane === 0 ? bound : Array.from({ length: LIMBS }, () => next() % (2n * MASK + 1n)),
        );
        // Two lanes: keep x² / R below 2^261 (x below about 2^261).
        if (lanes === 2) for (const x of xs) x[8] = x[8]! % MASK;
        for (const [lane, x] of xs.entries()) h.write(4096, lane, x);
        h.m.f(0, 4096, 0);
        for (const [lane, a] of xs.entries()) {
          const x = fromLimbs(a);
          const got = fromLimbs(h.read(0, lane));
          assert.equal(got % P, (((x * x) % P) * R_INV) % P, `rep ${rep}, lane ${lane}`);
          assert.ok(got <= montSumBound([[x, x]]));
        }
      }
    });

    it("integer row with 2^32-sized coefficients and 2-limb reduction", () => {
      const coeffs = [0xffffffffn, 0xfffffffen, 1n, 0n, 0x80000000n, 12345n, 0xffffffffn, 7n, 0xfedcba98n];
      const h = new Harness(lanes, (f, ar) => {
        const us = coeffs.map((_, j) => memOperand(1, j * VEC_BYTES, NORMALISED, ar));
        emitIntRow(f, ar, coeffs, us, 2, memSink(0, 0, ar));
      });
      const next = rng64(3);
      const inv58 = (() => {
        let inv = 1n;
        for (let i = 0; i < 58; i++) inv = inv % 2n === 0n ? inv / 2n : (inv + P) / 2n;
        return inv; // 2^-58 mod r
      })();
      for (let rep = 0; rep < 12; rep++) {
        const cases = Array.from({ length: lanes }, (_, lane) => {
          const pats = patterns(next);
          return coeffs.map((_, j) => pats[(rep + j + lane) % pats.length]!);
        });
        for (const [lane, us] of cases.entries()) {
          for (const [j, u] of us.entries()) h.write(4096 + j * VEC_BYTES, lane, u);
        }
        h.m.f(0, 4096, 0);
        for (const [lane, us] of cases.entries()) {
          const vals = us.map(fromLimbs);
          let sum = 0n;
          for (let j = 0; j < coeffs.length; j++) sum += coeffs[j]! * vals[j]!;
          const got = fromLimbs(h.read(0, lane));
          assert.equal(got % P, ((sum % P) * inv58) % P, `rep ${rep}, lane ${lane}`);
          assert.ok(got <= intRowBound(coeffs, vals, 2));
        }
      }
    });
  });
}
