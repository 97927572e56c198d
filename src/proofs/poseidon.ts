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
 */
import { getPoseidonConstants } from "./poseidon/constants.js";
import { FR_BYTES, frFromBytesLE, frToBytesLE, isCanonicalFr } from "./poseidon/field.js";
import { poseidonHashFast, poseidonPermuteReference } from "./poseidon/permutation.js";

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
 * Uses the sparse-partial-round form; constants for the arity are built on first call.
 */
export function poseidonHash(arity: number, elements: readonly bigint[]): bigint {
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
  const c = getPoseidonConstants(children.length);
  const elements = new Array<bigint>(children.length);
  for (let i = 0; i < children.length; i++) {
    elements[i] = frFromBytesLE(children[i]!, `Poseidon child ${i}`);
  }
  return frToBytesLE(poseidonHashFast(c, elements));
}

/** Size in bytes of each Poseidon input/output node. */
export const POSEIDON_NODE_BYTES = FR_BYTES;
