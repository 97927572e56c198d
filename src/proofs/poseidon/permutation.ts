/**
 * The Poseidon permutation in two equivalent forms:
 *  - `poseidonPermuteReference`: the textbook round structure (neptune's "Correct" mode),
 *    straightforward and used as the oracle in tests;
 *  - `poseidonHashFast`: the precomputed form built in constants.ts (sparse partial rounds,
 *    integer full-round matrix) with lazy modular reduction. Same output; for arity 8 it
 *    needs about 450 `%` and 2,000 BigInt products against 1,100 and 5,300, about 2.5× faster.
 */
import type { PoseidonConstants } from "./constants.js";
import { FR_MODULUS } from "./field.js";

const P = FR_MODULUS;

/**
 * Full permutation on a width-t state, plain form: each round adds its constants, applies
 * x^5 to every element (full round) or to element 0 only (partial round), then multiplies
 * by the MDS matrix. Schedule: R_F/2 full, R_P partial, R_F/2 full. Returns a new array.
 */
export function poseidonPermuteReference(c: PoseidonConstants, input: readonly bigint[]): bigint[] {
  const t = c.width;
  if (input.length !== t) throw new RangeError(`Poseidon: state must have ${t} elements`);
  let s = input.map((x) => x % P);
  const half = c.roundsFull / 2;
  const rounds = c.roundsFull + c.roundsPartial;
  for (let r = 0; r < rounds; r++) {
    const full = r < half || r >= half + c.roundsPartial;
    for (let i = 0; i < t; i++) {
      let x = (s[i]! + c.roundConstants[r * t + i]!) % P;
      if (full || i === 0) x = x5(x);
      s[i] = x;
    }
    const next: bigint[] = [];
    for (let i = 0; i < t; i++) {
      let acc = 0n;
      for (let j = 0; j < t; j++) acc += c.mds[i]![j]! * s[j]!;
      next.push(acc % P);
    }
    s = next;
  }
  return s;
}

function x5(x: bigint): bigint {
  const x2 = (x * x) % P;
  const x4 = (x2 * x2) % P;
  return (x4 * x) % P;
}

// Scratch buffers, one pair per width. The permutation is synchronous, so sharing them
// between calls is safe and avoids allocating two arrays per hash.
const scratch = new Map<number, { s: bigint[]; u: bigint[] }>();

function scratchFor(t: number): { s: bigint[]; u: bigint[] } {
  let b = scratch.get(t);
  if (b === undefined) {
    b = { s: new Array<bigint>(t).fill(0n), u: new Array<bigint>(t).fill(0n) };
    scratch.set(t, b);
  }
  return b;
}

/**
 * Hash `elements` (length = arity, each already in [0, r)) with domain tag in state[0];
 * returns state[1] after the permutation. No input validation: callers do it.
 *
 * Reduction discipline (every value stays a non-negative BigInt):
 *  - S-box inputs may be unreduced (a few bits above 255); each S-box reduces all three
 *    of its products, so S-box outputs are in [0, r);
 *  - full rounds other than the last of each half multiply by the small integer matrix N
 *    and do not reduce (see constants.ts for the scale bookkeeping);
 *  - the pre-sparse round and the partial rounds reduce what feeds the next S-box.
 */
export function poseidonHashFast(c: PoseidonConstants, elements: readonly bigint[]): bigint {
  const t = c.width;
  const { s, u } = scratchFor(t);
  s[0] = c.domainTag;
  for (let i = 1; i < t; i++) s[i] = elements[i - 1]!;

  const half = c.roundsFull / 2;
  const rc = c.fullRoundConstants;
  const n = c.mdsInteger;

  // First half: integer-matrix rounds, then the pre-sparse round (dense field matrix).
  for (let r = 0; r < half - 1; r++) fullRoundInteger(t, s, u, rc, r * t, n);
  sboxAll(t, s, u, rc, (half - 1) * t);
  const pre = c.preSparseMds;
  for (let i = 0, row = 0; i < t; i++, row += t) {
    let acc = 0n;
    for (let j = 0; j < t; j++) acc += pre[row + j]! * u[j]!;
    s[i] = acc % P;
  }

  // Partial rounds in sparse form. Only s[0] needs reducing each round (it feeds the
  // S-box); the tail elements just accumulate w·s0 products. After R_P rounds they stay
  // below (R_P + 1)·r² < 2^517: that makes the one dot product per round a little dearer
  // but saves t − 1 reductions per round. They are reduced once, at the end.
  const prc = c.partialRoundConstants;
  const m00 = c.sparseM00;
  const sv = c.sparseV;
  const sw = c.sparseW;
  const tm1 = t - 1;
  for (let j = 0, off = 0; j < c.roundsPartial; j++, off += tm1) {
    const x: bigint = s[0]! + prc[j]!;
    const x2: bigint = (x * x) % P;
    const x5: bigint = (((x2 * x2) % P) * x) % P;
    let acc: bigint = m00[j]! * x5;
    for (let k = 0; k < tm1; k++) {
      const sk = s[k + 1]!;
      acc += sv[off + k]! * sk;
      s[k + 1] = sk + sw[off + k]! * x5;
    }
    s[0] = acc % P;
  }
  for (let i = 1; i < t; i++) s[i] = s[i]! % P;

  // Second half, except the last round.
  const last = c.roundsFull - 1;
  for (let r = half; r < last; r++) fullRoundInteger(t, s, u, rc, r * t, n);

  // Last round: only output element 1 is needed, so only row 1 of N is applied; the
  // accumulated scale is removed by one multiplication.
  sboxAll(t, s, u, rc, last * t);
  let acc = 0n;
  for (let j = 0; j < t; j++) acc += n[t + j]! * u[j]!;
  return (acc * c.outputScale) % P;
}

/** u[i] ← (s[i] + rc[off + i])^5 mod r, for all i. */
function sboxAll(t: number, s: readonly bigint[], u: bigint[], rc: readonly bigint[], off: number): void {
  for (let i = 0; i < t; i++) {
    const x = s[i]! + rc[off + i]!;
    const x2 = (x * x) % P;
    u[i] = (((x2 * x2) % P) * x) % P;
  }
}

/** One full round in place with the integer matrix and no final reduction: s ← N·(s + rc)^5. */
function fullRoundInteger(
  t: number,
  s: bigint[],
  u: bigint[],
  rc: readonly bigint[],
  off: number,
  n: readonly bigint[],
): void {
  sboxAll(t, s, u, rc, off);
  for (let i = 0, row = 0; i < t; i++, row += t) {
    let acc = 0n;
    for (let j = 0; j < t; j++) acc += n[row + j]! * u[j]!;
    s[i] = acc;
  }
}
