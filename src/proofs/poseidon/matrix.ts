/**
 * Small dense-matrix helpers over Fr, used only at constant-construction time.
 * A matrix is an array of rows; `apply(m, x)[i] = sum_j m[i][j] * x[j]`.
 */
import { FR_MODULUS, frInv, frMod } from "./field.js";

export type Matrix = bigint[][];

/**
 * neptune's MDS matrix (`src/mds.rs`, `generate_mds`): the Cauchy matrix
 * M[i][j] = 1 / (x_i + y_j) with x = 0..t-1 and y = t..2t-1. It is symmetric, so row/column
 * conventions do not matter for it. It is not derived from Grain (unlike noble's default).
 */
export function cauchyMds(t: number): Matrix {
  // Entries depend only on i + j, so only 2t - 1 inverses are needed.
  const invs: bigint[] = [];
  for (let s = 0; s < 2 * t - 1; s++) invs.push(frInv(BigInt(t + s)));
  const m: Matrix = [];
  for (let i = 0; i < t; i++) {
    const row: bigint[] = [];
    for (let j = 0; j < t; j++) row.push(invs[i + j]!);
    m.push(row);
  }
  return m;
}

/** y = m · x (x is a column vector). */
export function applyMatrix(m: Matrix, x: readonly bigint[]): bigint[] {
  return m.map((row) => {
    let acc = 0n;
    for (let j = 0; j < row.length; j++) acc += row[j]! * x[j]!;
    return acc % FR_MODULUS;
  });
}

/** a · b. */
export function matMul(a: Matrix, b: Matrix): Matrix {
  const n = b.length;
  const cols = b[0]?.length ?? 0;
  return a.map((row) => {
    const out: bigint[] = [];
    for (let j = 0; j < cols; j++) {
      let acc = 0n;
      // Lazy reduction: one `%` per entry instead of one per product.
      for (let k = 0; k < n; k++) acc += row[k]! * b[k]![j]!;
      out.push(acc % FR_MODULUS);
    }
    return out;
  });
}

/** The matrix without row 0 and column 0. */
export function minor00(m: Matrix): Matrix {
  return m.slice(1).map((row) => row.slice(1));
}

/**
 * Inverse by Gauss-Jordan elimination on [m | I].
 * Throws if `m` is singular (cannot happen for an MDS matrix or its minors).
 */
export function invert(m: Matrix): Matrix {
  const n = m.length;
  const a = m.map((row, i) => {
    const ext = new Array<bigint>(2 * n).fill(0n);
    for (let j = 0; j < n; j++) ext[j] = frMod(row[j]!);
    ext[n + i] = 1n;
    return ext;
  });
  for (let col = 0; col < n; col++) {
    let pivot = col;
    while (pivot < n && a[pivot]![col] === 0n) pivot++;
    if (pivot === n) throw new Error("invert: singular matrix");
    if (pivot !== col) [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    const prow = a[col]!;
    const inv = frInv(prow[col]!);
    for (let k = col; k < 2 * n; k++) prow[k] = (prow[k]! * inv) % FR_MODULUS;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const row = a[r]!;
      const f = row[col]!;
      if (f === 0n) continue;
      // row -= f·prow, kept non-negative by adding (r − f)·prow instead.
      const g = FR_MODULUS - f;
      for (let k = col; k < 2 * n; k++) row[k] = (row[k]! + g * prow[k]!) % FR_MODULUS;
    }
  }
  return a.map((row) => row.slice(n));
}

/** Identity matrix of size n. */
export function identity(n: number): Matrix {
  const m: Matrix = [];
  for (let i = 0; i < n; i++) {
    const row = new Array<bigint>(n).fill(0n);
    row[i] = 1n;
    m.push(row);
  }
  return m;
}

/** m^e by square-and-multiply (e >= 0). */
export function matPow(m: Matrix, e: number): Matrix {
  let result = identity(m.length);
  let base = m;
  for (let k = e; k > 0; k = Math.floor(k / 2)) {
    if (k % 2 === 1) result = matMul(result, base);
    if (k > 1) base = matMul(base, base);
  }
  return result;
}
