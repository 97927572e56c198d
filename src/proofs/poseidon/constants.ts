/**
 * neptune's Poseidon parameters for Strength::Standard, HashType::MerkleTree, plus a
 * precomputed equivalent form used by the fast permutation (permutation.ts):
 *  - partial-round constants compressed to one scalar per round;
 *  - partial-round MDS factored into sparse matrices (same idea as neptune's
 *    OptimizedStatic mode and the Poseidon paper, appendix B, but derived here
 *    independently: constants are pushed forward, matrices backward);
 *  - full-round MDS as a small-integer matrix with a tracked scale factor.
 * The equivalence is checked in tests against the plain permutation and neptune's vectors.
 *
 * Everything is derived at first use of an arity and cached for the life of the process
 * (about 15 ms for arity 8, 0.2 s for arity 36).
 */
import { FR_MODULUS, frInv } from "./field.js";
import { grainRoundConstants } from "./grain.js";
import { applyMatrix, cauchyMds, invert, type Matrix, matMul, matPow, minor00 } from "./matrix.js";

/** Arities for which neptune publishes test vectors (`src/poseidon.rs`, `hash_values_aux`). */
export const POSEIDON_ARITIES = [2, 4, 8, 11, 16, 24, 36] as const;
export type PoseidonArity = (typeof POSEIDON_ARITIES)[number];

/** R_F for every arity at 128-bit security with neptune's +2 margin (`src/round_numbers.rs`). */
export const POSEIDON_FULL_ROUNDS = 8;

/**
 * R_P per arity for Strength::Standard, i.e. neptune `calc_round_numbers(t, true)`.
 * Values from the known-answer table in neptune `src/round_numbers.rs`
 * (`test_round_numbers_against_known_values`: t=3 → 55, t=5 → 56, t=9 → 57, t=12 → 57,
 * t=17 → 59, t=25 → 59, t=37 → 60).
 */
export const POSEIDON_PARTIAL_ROUNDS: Readonly<Record<PoseidonArity, number>> = {
  2: 55,
  4: 56,
  8: 57,
  11: 57,
  16: 59,
  24: 59,
  36: 60,
};

export function isPoseidonArity(n: number): n is PoseidonArity {
  return (POSEIDON_ARITIES as readonly number[]).includes(n);
}

/** All constants for one arity. Arrays are flat, row-major, and must be treated as read-only. */
export interface PoseidonConstants {
  readonly arity: PoseidonArity;
  /** t = arity + 1. */
  readonly width: number;
  readonly roundsFull: number;
  readonly roundsPartial: number;
  /** HashType::MerkleTree domain tag 2^arity − 1 (neptune `src/hash_type.rs`), placed in state[0]. */
  readonly domainTag: bigint;
  /** Raw Grain constants, (R_F + R_P) * t of them; round r element i at r * t + i. */
  readonly roundConstants: readonly bigint[];
  /** The Cauchy MDS matrix. */
  readonly mds: Matrix;

  // ---- Fast form (see buildConstants): sparse partial rounds + integer Cauchy matrix. ----
  /** Scaled constants for the R_F full rounds (t each): λ_r·c_r, where c_r is the round's
   * constant vector (for the first second-half round, including the constants pushed
   * forward out of the partial rounds) and λ_r the known scale of the state entering it. */
  readonly fullRoundConstants: readonly bigint[];
  /** N = L·M with L = lcm(t .. 3t−2): the MDS matrix as small integers, flat t*t. */
  readonly mdsInteger: readonly bigint[];
  /** Matrix for the last first-half full round (pre-sparse matrix times λ⁻⁵), flat t*t. */
  readonly preSparseMds: readonly bigint[];
  /** One constant per partial round, added to state[0] before its S-box. */
  readonly partialRoundConstants: readonly bigint[];
  /** Sparse matrix per partial round: new[0] = m00*s0 + Σ v[k]*s[k+1]; new[k+1] = w[k]*s0 + s[k+1]. */
  readonly sparseM00: readonly bigint[];
  /** R_P * (t − 1) entries. */
  readonly sparseV: readonly bigint[];
  /** R_P * (t − 1) entries. */
  readonly sparseW: readonly bigint[];
  /** Factor that turns row 1 of N applied in the last round into the true output. */
  readonly outputScale: bigint;

  // ---- The same fast form before any scaling, for implementations that track their own scale
  // factors (the WebAssembly permutation, wasm/module.ts). ----
  /** c_r per full round (t each), with the partial rounds' carry folded into round R_F/2. */
  readonly fullRoundConstantsUnscaled: readonly bigint[];
  /** diag(1, M̂^R_P)·M, flat t*t: the true matrix of the last first-half full round. */
  readonly preSparseMdsUnscaled: readonly bigint[];
  /** L = lcm(t .. 3t − 2), so that mdsInteger = L·M. */
  readonly mdsIntegerScale: bigint;
}

const cache = new Map<PoseidonArity, PoseidonConstants>();

/** Constants for `arity`, built lazily on first use and cached. */
export function getPoseidonConstants(arity: number): PoseidonConstants {
  if (!isPoseidonArity(arity)) {
    throw new RangeError(`Poseidon: unsupported arity ${arity} (supported: ${POSEIDON_ARITIES.join(", ")})`);
  }
  let c = cache.get(arity);
  if (c === undefined) {
    c = buildConstants(arity);
    cache.set(arity, c);
  }
  return c;
}

function buildConstants(arity: PoseidonArity): PoseidonConstants {
  const t = arity + 1;
  const roundsFull = POSEIDON_FULL_ROUNDS;
  const roundsPartial = POSEIDON_PARTIAL_ROUNDS[arity];
  const roundConstants = grainRoundConstants({
    fieldType: 1,
    sbox: 1, // x^5 in the old Sage encoding, as neptune `SBOX` in src/lib.rs
    fieldBits: 255,
    modulus: FR_MODULUS,
    t,
    roundsFull,
    roundsPartial,
  });
  const mds = cauchyMds(t);
  const half = roundsFull / 2;

  // --- Constant compression (pushed forward). ---
  // A partial round is s' = M·S0(s + k), where S0 applies x^5 to element 0 only. Split
  // k = (a, b) with a scalar: S0 leaves the tail alone, so s' = M·S0(s + a·e0) + M·(0, b).
  // The term M·(0, b) is a constant added to the next round's input, so it is folded into
  // that round's constant; the last carry lands in the first second-half full round.
  const partialRoundConstants: bigint[] = [];
  let carry: bigint[] = new Array<bigint>(t).fill(0n);
  for (let j = 0; j < roundsPartial; j++) {
    const r = half + j;
    const k = roundConstants.slice(r * t, (r + 1) * t).map((x, i) => (x + carry[i]!) % FR_MODULUS);
    partialRoundConstants.push(k[0]!);
    k[0] = 0n;
    carry = applyMatrix(mds, k);
  }
  const fullRoundConstants: bigint[] = [];
  for (let fr = 0; fr < roundsFull; fr++) {
    const r = fr < half ? fr : fr + roundsPartial;
    const k = roundConstants.slice(r * t, (r + 1) * t);
    if (fr === half) for (let i = 0; i < t; i++) k[i] = (k[i]! + carry[i]!) % FR_MODULUS;
    fullRoundConstants.push(...k);
  }

  // --- Sparse factorisation (pushed backward). ---
  // Any N = [[n00, u], [w, N̂]] (N̂ the (t−1)×(t−1) minor) factors as N = S·D with
  // D = diag(1, N̂) and S = [[n00, u·N̂⁻¹], [w, I]]. D fixes element 0, so it commutes with
  // S0 and with adding a·e0: it can be moved to the output of the previous round, whose
  // matrix becomes D·M. Working from the last partial round (N = M) back to the first, each
  // partial round keeps a sparse S (2t − 1 products instead of t²) and the final D·M replaces
  // the MDS of the last first-half full round at no extra cost.
  //
  // Unrolling that recursion with M = [[m00, u], [c, M̂]] gives closed forms for partial
  // round j (0-based, of R_P): N̂_j = M̂^(R_P − j), the top row of every N_j is M's top row,
  // and its first column below the top is M̂^(R_P − 1 − j)·c. Hence
  //   n00_j = m00,  v_j = u·(M̂⁻¹)^(R_P − j),  w_j = M̂^(R_P − 1 − j)·c,
  //   pre-sparse matrix = diag(1, M̂^R_P)·M.
  // This needs a single (t−1)×(t−1) inverse instead of one solve per round; the result is
  // checked against the plain permutation in the tests.
  const tm1 = t - 1;
  const mHat = minor00(mds);
  const mHatInv = invert(mHat);
  const u = mds[0]!.slice(1);
  const col = mds.slice(1).map((row) => row[0]!);
  const sparseM00: bigint[] = new Array<bigint>(roundsPartial).fill(mds[0]![0]!);
  const sparseV: bigint[] = new Array<bigint>(roundsPartial * tm1);
  const sparseW: bigint[] = new Array<bigint>(roundsPartial * tm1);
  let v = u;
  let w = col;
  for (let j = roundsPartial - 1; j >= 0; j--) {
    v = rowTimesMatrix(v, mHatInv); // u·(M̂⁻¹)^(R_P − j)
    for (let k = 0; k < tm1; k++) {
      sparseV[j * tm1 + k] = v[k]!;
      sparseW[j * tm1 + k] = w[k]!;
    }
    w = applyMatrix(mHat, w); // M̂^(R_P − j)·c, used by round j − 1
  }
  const d = matPow(mHat, roundsPartial);
  const dFull: Matrix = [[1n, ...new Array<bigint>(tm1).fill(0n)], ...d.map((row) => [0n, ...row])];
  const preSparse = matMul(dFull, mds);

  // --- Integer Cauchy matrix for the full rounds. ---
  // M[i][j] = 1/(i + j + t) with i + j + t in [t, 3t − 2], so N = L·M with
  // L = lcm(t .. 3t − 2) has small integer entries (< 2^32 for t = 9, < 2^8 for t = 3;
  // they grow with t, which only costs speed). A product by such an entry is a cheap BigInt
  // operation and the row sum stays ~36 bits above 255 for t = 9, so the full-round linear
  // layer needs no `%` at all: its output goes straight into the next S-box, whose first
  // squaring is reduced anyway.
  // The price is a known scalar per round: if the stored state is z = λ·s (s the true
  // state), then (z + λ·c)^5 = λ^5·(s + c)^5 and N·that = λ^5·L·(next true state). So the
  // round constants are pre-multiplied by λ_r, λ_{r+1} = λ_r^5·L, and the scale is removed
  // where a dense field matrix is used anyway: folded into the pre-sparse matrix, and into
  // a final multiplier for the single output element of the last round.
  const bigL = lcmRange(t, 3 * t - 2);
  const mdsInteger: bigint[] = [];
  for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) mdsInteger.push(bigL / BigInt(i + j + t));
  const lInv = frInv(bigL);
  const scaled: bigint[] = [];
  let lambda = 1n;
  let preSparseScaled: bigint[] = [];
  let outputScale = 0n;
  for (let fr = 0; fr < roundsFull; fr++) {
    if (fr === half) lambda = 1n; // the partial rounds leave the true state behind
    for (let i = 0; i < t; i++) scaled.push((fullRoundConstants[fr * t + i]! * lambda) % FR_MODULUS);
    const l5inv = frInv(frPow5(lambda));
    if (fr === half - 1) {
      preSparseScaled = preSparse.flat().map((x) => (x * l5inv) % FR_MODULUS);
    } else if (fr === roundsFull - 1) {
      outputScale = (l5inv * lInv) % FR_MODULUS;
    }
    lambda = (frPow5(lambda) * bigL) % FR_MODULUS;
  }

  return {
    arity,
    width: t,
    roundsFull,
    roundsPartial,
    domainTag: (1n << BigInt(arity)) - 1n,
    roundConstants,
    mds,
    fullRoundConstants: scaled,
    mdsInteger,
    preSparseMds: preSparseScaled,
    partialRoundConstants,
    sparseM00,
    sparseV,
    sparseW,
    outputScale,
    fullRoundConstantsUnscaled: fullRoundConstants,
    preSparseMdsUnscaled: preSparse.flat(),
    mdsIntegerScale: bigL,
  };
}

function frPow5(x: bigint): bigint {
  const x2 = (x * x) % FR_MODULUS;
  return (((x2 * x2) % FR_MODULUS) * x) % FR_MODULUS;
}

/** lcm(lo, lo + 1, …, hi) as a BigInt. */
function lcmRange(lo: number, hi: number): bigint {
  let l = 1n;
  for (let k = lo; k <= hi; k++) {
    const b = BigInt(k);
    let x = l;
    let y = b;
    while (y !== 0n) [x, y] = [y, x % y];
    l = (l / x) * b;
  }
  return l;
}

/** Row vector times matrix: out[k] = Σ_i x[i]·m[i][k]. */
function rowTimesMatrix(x: readonly bigint[], m: Matrix): bigint[] {
  const n = m[0]?.length ?? 0;
  const out: bigint[] = [];
  for (let k = 0; k < n; k++) {
    let acc = 0n;
    for (let i = 0; i < x.length; i++) acc += x[i]! * m[i]![k]!;
    out.push(acc % FR_MODULUS);
  }
  return out;
}
