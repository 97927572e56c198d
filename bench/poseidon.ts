/**
 * Single-thread throughput of neptune-compatible Poseidon, arity 8 (the tree-r-last node hash),
 * BigInt against WebAssembly in the same run; arity 2 (comm_r, 64 GiB top level) for reference.
 * Run: node --import tsx bench/poseidon.ts [seconds per method]
 *
 * Three ways to hash are timed:
 *  - BigInt: `poseidonHashBigInt` (src/proofs/poseidon/permutation.ts), the oracle;
 *  - WASM, one hash per call: `poseidonHash` with BigInt in and out (conversion included);
 *  - WASM, batched bytes: `poseidonHashMany` over a 512-group row of 32-byte nodes, which is how
 *    tree rows are hashed (one call into WebAssembly per row slice); for arity 8 this runs the
 *    two-lane SIMD module, two groups at a time (src/proofs/poseidon/wasm/hasher.ts).
 *
 * Every ratio printed is between two methods timed in this run. Native neptune is not run here; its
 * published figure (other hardware, and for arity 8 an interpolation) is printed as a cited
 * reference with its source, not as a ratio (bench/citedReferences.ts).
 */
import { performance } from "node:perf_hooks";
import { poseidonWasm } from "../src/proofs/poseidon/wasm/hasher.js";
import {
  FR_MODULUS,
  frToBytesLE,
  getPoseidonConstants,
  poseidonHash,
  poseidonHashBigInt,
  poseidonHashMany,
} from "../src/proofs/poseidon.js";
import { citedLines, NEPTUNE_ARITY8 } from "./citedReferences.js";

const seconds = Number(process.argv[2] ?? 3);

const t0 = performance.now();
getPoseidonConstants(8);
const setupMs = performance.now() - t0;
const t1 = performance.now();
const paired = poseidonWasm(8).pairedBatches; // builds the scalar and the two-lane module
const wasmSetupMs = performance.now() - t1;

// Guard against benchmarking a wrong implementation: neptune's arity-8 test vector, both paths.
const VECTOR = 0x2394611da3a5de5512010042116770774b682e9d9cc4aed92a9934f56d38a5e6n;
const vectorInput = [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n];
if (poseidonHash(8, vectorInput) !== VECTOR || poseidonHashBigInt(8, vectorInput) !== VECTOR) {
  throw new Error("poseidon arity 8 does not match neptune's test vector; refusing to benchmark");
}

interface Method {
  readonly perStep: number;
  readonly step: () => void;
  readonly samples: number[];
}
const method = (perStep: number, step: () => void): Method => ({ perStep, step, samples: [] });

/**
 * Time the methods in interleaved windows of ~150 ms each (after a warm-up that lets the JIT and
 * the wasm tier-up settle), for `seconds` per method in total, and report each method's median
 * µs/hash: on a shared machine a burst of other load then hits every method alike instead of
 * whichever happened to run during it.
 */
function measureAll(methods: readonly Method[]): number[] {
  for (const m of methods) {
    const warm = performance.now() + Math.min(500, seconds * 200);
    while (performance.now() < warm) m.step();
  }
  const rounds = Math.max(3, Math.round((seconds * 1000) / 150));
  for (let r = 0; r < rounds; r++) {
    for (const m of methods) {
      let count = 0;
      const start = performance.now();
      let now = start;
      while (now - start < 150) {
        m.step();
        count += m.perStep;
        now = performance.now();
      }
      m.samples.push(((now - start) * 1000) / count);
    }
  }
  return methods.map((m) => {
    const sorted = [...m.samples].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  });
}

// Chained single hashes (each output feeds the next input) so no work can be skipped.
function chained(hash: (arity: number, xs: readonly bigint[]) => bigint): () => void {
  const inputs: bigint[] = Array.from(
    { length: 8 },
    (_, i) => (BigInt(i + 1) * 0x9e3779b97f4a7c15n) % FR_MODULUS,
  );
  let k = 0;
  return () => {
    for (let i = 0; i < 20; i++) inputs[k++ % 8] = hash(8, inputs);
  };
}

/** A row of `groups` groups of random canonical nodes, hashed into `out`, which is fed back. */
function batched(arity: number, groups: number): { step: () => void; perStep: number } {
  const row = new Uint8Array(groups * arity * 32);
  let x = 0x1234567n;
  for (let i = 0; i < groups * arity; i++) {
    x = (x * 0x9e3779b97f4a7c15n + 0xdeadbeefn) % FR_MODULUS;
    row.set(frToBytesLE(x), i * 32);
  }
  const out = new Uint8Array(groups * 32);
  return {
    perStep: groups,
    step: () => {
      poseidonHashMany(arity, row, out);
      row.set(out, 0); // outputs become inputs of the next round
    },
  };
}

const b8 = batched(8, 512);
const b2 = batched(2, 2048);
const [bigintUs, wasmSingleUs, wasmBatchUs, wasm2Us] = measureAll([
  method(20, chained(poseidonHashBigInt)),
  method(20, chained(poseidonHash)),
  method(b8.perStep, b8.step),
  method(b2.perStep, b2.step),
]) as [number, number, number, number];

const fmt = (us: number) =>
  `${Math.round(1e6 / us).toLocaleString("en-US")} hashes/s (${us.toFixed(1)} µs/hash)`;

console.log(
  `Poseidon arity 8 (BLS12-381 Fr, neptune Standard/MerkleTree), 1 thread, Node ${process.version}`,
);
console.log(
  `  set-up             : constants ${setupMs.toFixed(1)} ms, WebAssembly modules ${wasmSetupMs.toFixed(1)} ms ` +
    `(batches ${paired ? "in two SIMD lanes" : "scalar: no SIMD"})`,
);
console.log(`  BigInt             : ${fmt(bigintUs)}`);
console.log(`  WASM, single calls : ${fmt(wasmSingleUs)}`);
console.log(`  WASM, batched rows : ${fmt(wasmBatchUs)}`);
console.log(
  `  WASM vs BigInt     : ${(bigintUs / wasmBatchUs).toFixed(1)}× faster batched, ${(bigintUs / wasmSingleUs).toFixed(1)}× single`,
);
console.log(`  arity 2, WASM rows : ${fmt(wasm2Us)}`);
for (const l of citedLines(NEPTUNE_ARITY8)) console.log(l);
console.log(
  JSON.stringify({
    bench: "poseidon",
    bigintUs,
    wasmSingleUs,
    wasmBatchUs,
    wasmArity2Us: wasm2Us,
    citedNativeUs: NEPTUNE_ARITY8.value,
  }),
);
