/**
 * Single-thread throughput of neptune-compatible Poseidon, arity 8 (the tree-r-last node hash).
 * Run: node --import tsx bench/poseidon.ts [seconds]
 *
 * Reference point: native neptune takes ~35 µs per arity-8 hash on one core
 * (/work/shared/reference/post-proofs.md §4.1, interpolated from lurk-lab/neptune PR #236).
 */
import { performance } from "node:perf_hooks";
import { FR_MODULUS, getPoseidonConstants, poseidonHash } from "../src/proofs/poseidon.js";

const NEPTUNE_NATIVE_US = 35;
const ARITY = 8;
const seconds = Number(process.argv[2] ?? 3);

const t0 = performance.now();
getPoseidonConstants(ARITY);
const setupMs = performance.now() - t0;

// Guard against benchmarking a wrong implementation: neptune's arity-8 test vector.
const VECTOR = 0x2394611da3a5de5512010042116770774b682e9d9cc4aed92a9934f56d38a5e6n;
if (poseidonHash(ARITY, [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n]) !== VECTOR) {
  throw new Error("poseidon arity 8 does not match neptune's test vector; refusing to benchmark");
}

// Chain the hashes (each output feeds the next input) so no work can be skipped.
const inputs: bigint[] = Array.from(
  { length: ARITY },
  (_, i) => (BigInt(i + 1) * 0x9e3779b97f4a7c15n) % FR_MODULUS,
);
let sink = 0n;
for (let i = 0; i < 200; i++) {
  // warm-up, lets the JIT optimise the hot loop before timing
  sink = poseidonHash(ARITY, inputs);
  inputs[i % ARITY] = sink;
}

let count = 0;
const start = performance.now();
const deadline = start + seconds * 1000;
let now = start;
while (now < deadline) {
  for (let i = 0; i < 50; i++) {
    sink = poseidonHash(ARITY, inputs);
    inputs[count % ARITY] = sink;
    count++;
  }
  now = performance.now();
}
const elapsedS = (now - start) / 1000;
const perSec = count / elapsedS;
const usPerHash = 1e6 / perSec;

console.log(
  `Poseidon arity 8 (BLS12-381 Fr, neptune Standard/MerkleTree), BigInt, 1 thread, Node ${process.version}`,
);
console.log(`  constants set-up : ${setupMs.toFixed(1)} ms (once per process)`);
console.log(`  hashes           : ${count} in ${elapsedS.toFixed(2)} s`);
console.log(
  `  throughput       : ${Math.round(perSec).toLocaleString("en-US")} hashes/s (${usPerHash.toFixed(1)} µs/hash)`,
);
console.log(
  `  vs neptune native: ~${NEPTUNE_NATIVE_US} µs/hash → this is ${(usPerHash / NEPTUNE_NATIVE_US).toFixed(1)}× slower ` +
    `(${((NEPTUNE_NATIVE_US / usPerHash) * 100).toFixed(1)}% of native speed)`,
);
console.log(`  (checksum ${(sink & 0xffffn).toString(16)})`);
