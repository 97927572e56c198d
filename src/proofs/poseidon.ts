/**
 * Poseidon over BLS12-381 Fr exactly as neptune computes it for Filecoin
 * (`PoseidonConstants::new()`: Strength::Standard, HashType::MerkleTree).
 *
 *  - width t = arity + 1, state[0] = domain tag 2^arity − 1, state[1..] = the preimage;
 *  - S-box x^5, R_F = 8, R_P per arity (constants.ts);
 *  - round constants from Grain (grain.ts), Cauchy MDS (matrix.ts);
 *  - the digest is state[1] after the permutation (not state[0]).
 *
 * Verified against all seven Standard test vectors of neptune `src/poseidon.rs`
 * (`hash_values_aux`); see test/unit/proofs/poseidon.test.ts.
 *
 * Filecoin uses arity 8 for every tree-r-last node and arity 2 for comm_r = H(comm_c, comm_r_last)
 * (rust-fil-proofs `filecoin-hashers/src/poseidon.rs`).
 *
 * Three implementations compute the same function:
 *  - WebAssembly (poseidon/wasm/): 29-bit-limb Montgomery arithmetic, generated at run time; what
 *    every public hash function here and in nodes.ts uses (arity 8: ≈ 6× faster than BigInt, 7× in
 *    batches, which run two groups at a time in SIMD lanes);
 *  - `poseidonHashFast` (poseidon/permutation.ts): BigInt, same algebraic form; the oracle the
 *    WebAssembly path is tested against (`poseidonHashBigInt`);
 *  - `poseidonHashReference`: BigInt, textbook round structure.
 */
import { getPoseidonConstants } from "./poseidon/constants.js";
import { FR_BYTES, frFromBytesLE, isCanonicalFr } from "./poseidon/field.js";
import { poseidonHashFast, poseidonPermuteReference } from "./poseidon/permutation.js";
import { poseidonWasm } from "./poseidon/wasm/hasher.js";

export type { PoseidonArity, PoseidonConstants } from "./poseidon/constants.js";
export {
  getPoseidonConstants,
  isPoseidonArity,
  POSEIDON_ARITIES,
  POSEIDON_FULL_ROUNDS,
  POSEIDON_PARTIAL_ROUNDS,
} from "./poseidon/constants.js";
export { FR_BYTES, FR_MODULUS, frFromBytesLE, frToBytesLE, isCanonicalFr } from "./poseidon/field.js";

function checkElements(arity: number, elements: readonly bigint[], expected = arity): void {
  if (elements.length !== expected) {
    throw new RangeError(`Poseidon arity ${arity}: expected ${expected} elements, got ${elements.length}`);
  }
  for (let i = 0; i < elements.length; i++) {
    const e = elements[i];
    if (typeof e !== "bigint" || !isCanonicalFr(e)) {
      throw new RangeError(`Poseidon arity ${arity}: element ${i} is not a canonical Fr value in [0, r)`);
    }
  }
}

/**
 * neptune-compatible Poseidon hash of `arity` field elements (each in [0, r)).
 * Runs the WebAssembly permutation; constants and module for the arity are built on first call.
 */
export function poseidonHash(arity: number, elements: readonly bigint[]): bigint {
  getPoseidonConstants(arity);
  checkElements(arity, elements);
  return poseidonWasm(arity).hashElements(elements);
}

/**
 * Same result as `poseidonHash`, computed in BigInt with the same sparse/integer-matrix form
 * (permutation.ts). About 6× slower than the WebAssembly path for arity 8; kept as its oracle.
 */
export function poseidonHashBigInt(arity: number, elements: readonly bigint[]): bigint {
  const c = getPoseidonConstants(arity);
  checkElements(arity, elements);
  return poseidonHashFast(c, elements);
}

/**
 * Same result as `poseidonHash`, computed with the plain round structure (dense MDS in every
 * round, one reduction per S-box product). About 2.5× slower for arity 8; kept as an
 * independent oracle for tests and debugging.
 */
export function poseidonHashReference(arity: number, elements: readonly bigint[]): bigint {
  const c = getPoseidonConstants(arity);
  checkElements(arity, elements);
  return poseidonPermuteReference(c, [c.domainTag, ...elements])[1]!;
}

/**
 * The raw permutation (plain form) on a full width-(arity+1) state, for callers that need
 * other hash types or other output elements. Elements must be in [0, r).
 */
export function poseidonPermute(arity: number, state: readonly bigint[]): bigint[] {
  const c = getPoseidonConstants(arity);
  checkElements(arity, state, arity + 1);
  return poseidonPermuteReference(c, state);
}

/**
 * Hash tree children given as 32-byte little-endian canonical Fr encodings (Filecoin node
 * bytes); the arity is the number of children. Returns the 32-byte LE digest. Rejects any
 * child of the wrong length or with value >= r, naming the child index.
 */
export function poseidonHashBytes(children: readonly Uint8Array[]): Uint8Array {
  getPoseidonConstants(children.length);
  for (let i = 0; i < children.length; i++) {
    if (children[i]!.length !== FR_BYTES) rejectChildren(children, i);
  }
  const out = new Uint8Array(FR_BYTES);
  const bad = poseidonWasm(children.length).hashChildrenInto(children, out);
  if (bad >= 0) rejectChildren(children, bad);
  return out;
}

/**
 * Throw the error the child-by-child decoder gives for the first bad child at or before `upTo`
 * (a wrong length or a value ≥ r), so that messages do not depend on which path found it.
 */
function rejectChildren(children: readonly Uint8Array[], upTo: number): never {
  for (let i = 0; i <= upTo; i++) frFromBytesLE(children[i]!, `Poseidon child ${i}`);
  throw new Error(`Poseidon: child ${upTo} was rejected but decodes as a canonical Fr value`);
}

/**
 * Batched byte API: hash consecutive groups of `arity` 32-byte little-endian canonical nodes in
 * `input` into one 32-byte digest each, in order (a tree row into its parent row). One call into
 * WebAssembly per 1,024 groups. Throws RangeError when `input` is not a whole number of groups,
 * `output` (optional, else allocated) has the wrong length, or a node is ≥ r; that message names
 * the node, its group and child index. Digests of groups before a bad node may have been written.
 */
export function poseidonHashMany(arity: number, input: Uint8Array, output?: Uint8Array): Uint8Array {
  const out = output ?? new Uint8Array(Math.floor(input.length / (arity * FR_BYTES)) * FR_BYTES);
  const bad = poseidonHashGroupsInto(arity, input, out);
  if (bad >= 0) {
    const node = input.subarray(bad * FR_BYTES, (bad + 1) * FR_BYTES);
    frFromBytesLE(node, `Poseidon node ${bad} (group ${Math.floor(bad / arity)}, child ${bad % arity})`);
    throw new Error(`Poseidon: node ${bad} was rejected but decodes as a canonical Fr value`);
  }
  return out;
}

/**
 * The same, reporting instead of throwing on a non-canonical node, for callers with their own
 * error (file and offset): returns −1 when all groups were hashed, otherwise the index
 * (group·arity + child) of the first node ≥ r; the groups before it are hashed. Lengths are still
 * checked (RangeError).
 */
export function poseidonHashGroupsInto(arity: number, input: Uint8Array, output: Uint8Array): number {
  getPoseidonConstants(arity);
  return poseidonWasm(arity).hashInto(input, output);
}
