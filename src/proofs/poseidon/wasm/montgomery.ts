/**
 * Montgomery multiplication of limb vectors (limbs.ts) as WebAssembly code: emitMontSum (a sum of
 * products, reduced once), emitIntRow (a row of small integer coefficients, partly reduced) and
 * addOperands, each with the BigInt function that bounds its result (montSumBound, intRowBound),
 * which module.ts uses to check its whole schedule.
 *
 * Multiplication is product scanning with interleaved reduction (Koç, Acar, Kaliski, "Analyzing
 * and comparing Montgomery multiplication algorithms", IEEE Micro 1996: the FIPS method): column c
 * of a·b and of m·r is summed in one accumulator, the reduction digit m_c is taken from it while
 * c < 9, and columns 9..17 are the result. The low limb of r is 1, so m_c = −acc mod 2^29 needs no
 * multiplication. A sum of several products Σ a_k·b_k is reduced once (lazy reduction); an addend
 * v can be folded in as v·R at columns ≥ 9. `fence`: see Fence.
 *
 * Overflow is not assumed away: every emitter tracks, as BigInt, the largest value each i64
 * accumulator can hold given per-limb bounds of its operands, and splits the accumulator (moves its
 * high part to a side carry) before it could exceed 2^64 − 1. Value bounds (that a result stays
 * below 2^261) are checked by the schedule in module.ts.
 *
 */
import { FR_MODULUS } from "../field.js";
import type { FuncBuilder } from "./emitter.js";
import {
  type Arith,
  LIMBS,
  localOperand,
  MASK,
  type Operand,
  P_LIMBS,
  R,
  type Sink,
  U64_MAX,
} from "./limbs.js";

/**
 * A store of the running accumulator every `every` products to a scratch address. Why: in a long
 * run of products whose operands are loaded from linear memory with no store in between, V8's
 * optimising compiler (Node 20) issues all the loads first and spills them to the stack, so each
 * operand costs a load, a spill and a reload (seen with --print-wasm-code). A store every few
 * products keeps each load next to its multiplication. Measured on the 9-term partial-round sum:
 * 0.62 → 0.30 µs per call with every = 4 (3 to 6 are within noise, 16 is slower).
 */
export interface Fence {
  /** i32 local holding the scratch base address, and a byte offset from it. */
  readonly base: number;
  readonly offset: number;
  readonly every: number;
}

/**
 * A column accumulator with overflow bookkeeping: `acc` holds the column sum, `hi` (allocated on
 * demand) the part moved out in units of 2^29 when `acc` could otherwise overflow.
 */
class Column {
  readonly acc: number;
  private hi = -1;
  private hiUsed = false;
  /** Upper bound of the value in `acc` (per lane). */
  accMax = 0n;
  private hiMax = 0n;
  private sinceFence = 0;

  constructor(
    private readonly f: FuncBuilder,
    private readonly ar: Arith,
    private readonly fence?: Fence,
  ) {
    this.acc = f.local(ar.type);
    ar.zero(f);
    f.set(this.acc);
  }

  /** Make room for adding a value up to `max`; emits a split when needed. */
  reserve(max: bigint): void {
    if (this.accMax + max <= U64_MAX) return;
    if (MASK + max > U64_MAX) throw new Error("limbs: a single term does not fit in an i64");
    const { f, ar } = this;
    if (this.hi < 0) this.hi = f.local(ar.type);
    // hi += acc >> 29 ; acc &= mask  (the column value acc + hi·2^29 is unchanged)
    if (this.hiUsed) f.get(this.hi);
    f.get(this.acc);
    ar.shr29(f);
    if (this.hiUsed) ar.add(f);
    f.set(this.hi);
    f.get(this.acc);
    ar.andMask(f);
    f.set(this.acc);
    this.hiMax += this.accMax >> 29n;
    if (this.hiMax > U64_MAX) throw new Error("limbs: side carry overflow");
    this.hiUsed = true;
    this.accMax = MASK;
  }

  /** acc += (accumulator-layout value pushed by `push`), which is at most `max`. */
  add(max: bigint, push: () => void): void {
    this.reserve(max);
    const { f, ar } = this;
    f.get(this.acc);
    push();
    ar.add(f);
    f.set(this.acc);
    this.accMax += max;
    if (this.fence !== undefined && ++this.sinceFence >= this.fence.every) {
      this.sinceFence = 0;
      f.get(this.fence.base).get(this.acc);
      ar.storeAcc(f, this.fence.offset);
    }
  }

  /** acc += x·y for two pushed operand-layout values. */
  addProduct(max: bigint, pushX: () => void, pushY: () => void): void {
    this.add(max, () => {
      pushX();
      pushY();
      this.ar.mul(this.f);
    });
  }

  /** Move to the next column: acc ← (acc >> 29) + hi; hi ← 0. */
  shift(): void {
    const { f, ar } = this;
    f.get(this.acc);
    ar.shr29(f);
    let max = this.accMax >> 29n;
    if (this.hiUsed) {
      f.get(this.hi);
      ar.add(f);
      max += this.hiMax;
      this.hiUsed = false;
      this.hiMax = 0n;
    }
    f.set(this.acc);
    this.accMax = max;
  }

  /**
   * Take the reduction digit m = (−acc) mod 2^29 of this column (in operand layout, for the later
   * products m·r_j) and move on: acc + m is acc rounded up to a multiple of 2^29, so the carry is
   * (acc + 2^29 − 1) >> 29 and m itself need not be added (one value fewer kept live).
   */
  digitAndShift(): number {
    const { f, ar } = this;
    const m = f.local(ar.type);
    ar.negMask(f, () => f.get(this.acc));
    ar.narrow(f);
    f.set(m);
    this.add(MASK, () => ar.maskConst(f));
    this.shift();
    return m;
  }
}

/** One product term of a Montgomery sum; `square` when a and b are the same operand. */
export interface Term {
  readonly a: Operand;
  readonly b: Operand;
  readonly square?: boolean;
}

/**
 * out ← (Σ a_k·b_k + m·r) / R (+ addend), m chosen so the division is exact: the Montgomery
 * product of a sum of products, reduced once. The result is ≡ (Σ a_k·b_k)·R⁻¹ + addend mod r, its
 * value is below (Σ A_k·B_k)/R + r + addend (A, B the operands' values), and its limbs are
 * normalised (the top limb too, provided the caller has checked that value < 2^261).
 */
export function emitMontSum(
  f: FuncBuilder,
  ar: Arith,
  terms: readonly Term[],
  out: Sink,
  addend?: Operand,
  fence?: Fence,
): void {
  const n = LIMBS;
  const col = new Column(f, ar, fence);
  const m: number[] = [];
  for (let c = 0; c <= 2 * n - 2; c++) {
    const lo = Math.max(0, c - n + 1);
    const hi = Math.min(c, n - 1);
    for (const t of terms) {
      if (t.square) {
        // Σ over i < j of a_i·a_j, doubled, plus the diagonal a_{c/2}².
        const pairs: Array<[number, number]> = [];
        for (let i = lo; i <= hi; i++) if (i < c - i) pairs.push([i, c - i]);
        if (pairs.length > 0) {
          let crossMax = 0n;
          for (const [i, j] of pairs) crossMax += t.a.limbMax[i]! * t.a.limbMax[j]!;
          if (crossMax * 2n > U64_MAX) throw new Error("limbs: squaring column overflow");
          col.add(crossMax * 2n, () => {
            pairs.forEach(([i, j], k) => {
              t.a.push(f, i);
              t.a.push(f, j);
              ar.mul(f);
              if (k > 0) ar.add(f);
            });
            ar.double(f);
          });
        }
        if (c % 2 === 0) {
          const i = c / 2;
          const bound = t.a.limbMax[i]! * t.a.limbMax[i]!;
          col.addProduct(
            bound,
            () => t.a.push(f, i),
            () => t.a.push(f, i),
          );
        }
      } else {
        for (let i = lo; i <= hi; i++) {
          const bound = t.a.limbMax[i]! * t.b.limbMax[c - i]!;
          if (bound === 0n) continue;
          col.addProduct(
            bound,
            () => t.a.push(f, i),
            () => t.b.push(f, c - i),
          );
        }
      }
    }
    // Reduction digits of earlier columns times r's limbs (r_0 = 1 is handled with the digit).
    for (let i = lo; i <= Math.min(c - 1, n - 1); i++) {
      const p = P_LIMBS[c - i]!;
      if (p === 0n) continue;
      col.addProduct(
        MASK * p,
        () => f.get(m[i]!),
        () => ar.operandConst(f, p),
      );
    }
    if (c < n) {
      m.push(col.digitAndShift());
    } else {
      if (addend !== undefined) col.add(addend.limbMax[c - n]!, () => widen(f, ar, addend, c - n));
      out.write(f, c - n, () => {
        f.get(col.acc);
        ar.andMask(f);
      });
      col.shift();
    }
  }
  if (addend !== undefined) col.add(addend.limbMax[n - 1]!, () => widen(f, ar, addend, n - 1));
  out.write(f, n - 1, () => f.get(col.acc));
}

/**
 * Push limb i of an operand in accumulator layout. Two-lane: the u32 lanes 0, 1 become the i64
 * lanes by multiplying by the splat 1 (extmul is the cheapest zero-extension at hand).
 */
function widen(f: FuncBuilder, ar: Arith, x: Operand, i: number): void {
  x.push(f, i);
  if (ar.lanes === 2) {
    ar.operandConst(f, 1n);
    ar.mul(f);
  }
}

/** Value bound of emitMontSum's result, given value bounds of the operands. */
export function montSumBound(products: ReadonlyArray<readonly [bigint, bigint]>, addend = 0n): bigint {
  let s = 0n;
  for (const [a, b] of products) s += a * b;
  return (s + (R - 1n) * FR_MODULUS) / R + addend;
}

/**
 * out ← (Σ_j coeff_j·u_j + m·r) / 2^(29·k): a linear combination with small non-negative integer
 * coefficients (immediates), then k steps of Montgomery reduction, which divide by 2^(29k) mod r
 * and bring the value back below 2^(261 + 29·k − 29·k)… in practice to about r. Used for the
 * full-round MDS layer, where the Cauchy matrix times lcm(t .. 3t − 2) is a matrix of small
 * integers (constants.ts), so that a row costs 9 limb products per element instead of 81.
 */
export function emitIntRow(
  f: FuncBuilder,
  ar: Arith,
  coeffs: readonly bigint[],
  us: readonly Operand[],
  k: number,
  out: Sink,
): void {
  const n = LIMBS;
  const col = new Column(f, ar);
  const m: number[] = [];
  const lastCol = n - 1 + k;
  for (let c = 0; c < lastCol; c++) {
    if (c < n) {
      for (let j = 0; j < us.length; j++) {
        const cj = coeffs[j]!;
        if (cj === 0n) continue;
        const bound = cj * us[j]!.limbMax[c]!;
        col.addProduct(
          bound,
          () => us[j]!.push(f, c),
          () => ar.operandConst(f, cj),
        );
      }
    }
    for (let i = 0; i < m.length; i++) {
      if (c - i < 1 || c - i > n - 1) continue;
      const p = P_LIMBS[c - i]!;
      if (p === 0n) continue;
      col.addProduct(
        MASK * p,
        () => f.get(m[i]!),
        () => ar.operandConst(f, p),
      );
    }
    if (c < k) {
      m.push(col.digitAndShift());
    } else {
      out.write(f, c - k, () => {
        f.get(col.acc);
        ar.andMask(f);
      });
      col.shift();
    }
  }
  out.write(f, n - 1, () => f.get(col.acc));
}

/** Value bound of emitIntRow's result. */
export function intRowBound(coeffs: readonly bigint[], values: readonly bigint[], k: number): bigint {
  let s = 0n;
  for (let j = 0; j < coeffs.length; j++) s += coeffs[j]! * values[j]!;
  const d = 1n << BigInt(29 * k);
  return (s + (d - 1n) * FR_MODULUS) / d;
}

/** out_i ← a_i + b_i, limb by limb, no carries (limb bounds add up; must stay below 2^32). */
export function addOperands(f: FuncBuilder, ar: Arith, a: Operand, b: Operand): Operand {
  const locals: number[] = [];
  const max: bigint[] = [];
  for (let i = 0; i < LIMBS; i++) {
    if (a.limbMax[i]! + b.limbMax[i]! >= 1n << 32n) throw new Error("limbs: operand sum above 2^32");
    const l = f.local(ar.type);
    a.push(f, i);
    b.push(f, i);
    ar.addOperand(f);
    f.set(l);
    locals.push(l);
    max.push(a.limbMax[i]! + b.limbMax[i]!);
  }
  return localOperand(locals, max);
}
