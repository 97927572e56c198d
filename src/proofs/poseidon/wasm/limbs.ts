/**
 * Code generation for BLS12-381 Fr arithmetic in 9 limbs of 29 bits, each held in a WebAssembly
 * i64, with Montgomery multiplication (R = 2^261).
 *
 * Why 29-bit limbs: WebAssembly has no 64×64→128 multiply, so a limb product must fit in 64 bits.
 * With 29-bit limbs a product is < 2^58 and a column can sum dozens of them before an i64
 * overflows, so carries are propagated once per column instead of once per product (32-bit limbs
 * would need a split after every product). 9 × 29 = 261 bits leaves 6 bits of headroom above the
 * 255-bit modulus, which is what allows the lazy reductions used by the permutation: values are
 * kept below 2^261, not below r. This is the approach described by G. Mitscha-Baude for the 2022
 * ZPrize WebAssembly MSM ("Montgomery multiplication in WebAssembly with 29-bit limbs"); the code
 * here is independent.
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
 * The same emitters produce scalar code (SCALAR: one field element per i64 limb) or two-lane SIMD
 * code (simdArith: two independent field elements, each limb a pair of u32 in an 8-byte slot, so a
 * vector is 72 bytes either way; products by i64x2.extmul_low_i32x4_u, accumulators i64x2). Every
 * bound is per lane, so the overflow analysis is the same.
 */
import { FR_MODULUS } from "../field.js";
import { type FuncBuilder, I64, OP, SIMD, V128, type ValType } from "./emitter.js";

export const LIMBS = 9;
export const LIMB_BITS = 29;
export const MASK = (1n << 29n) - 1n;
/** Montgomery radix R = 2^(29·9). */
export const R = 1n << 261n;
/** Largest value a 9-limb vector can represent. */
export const VALUE_LIMIT = R - 1n;
const U64_MAX = (1n << 64n) - 1n;

/** Bytes per limb vector in linear memory (9 × i64). */
export const VEC_BYTES = LIMBS * 8;

export function toLimbs(x: bigint): bigint[] {
  if (x < 0n || x > VALUE_LIMIT) throw new RangeError("toLimbs: value out of range");
  const out: bigint[] = [];
  for (let i = 0; i < LIMBS; i++) out.push((x >> BigInt(LIMB_BITS * i)) & MASK);
  return out;
}

export function fromLimbs(limbs: readonly bigint[]): bigint {
  let x = 0n;
  for (let i = limbs.length - 1; i >= 0; i--) x = (x << BigInt(LIMB_BITS)) + limbs[i]!;
  return x;
}

/** r in limbs; limb 0 is 1, which the reduction relies on. */
export const P_LIMBS = toLimbs(FR_MODULUS);
if (P_LIMBS[0] !== 1n) throw new Error("limbs: the reduction assumes r ≡ 1 mod 2^29");

/** Limb bounds of a normalised vector whose value is at most `value`. */
export function normalisedLimbBounds(value: bigint): bigint[] {
  const b: bigint[] = [];
  for (let i = 0; i < LIMBS; i++) {
    const top = value >> BigInt(LIMB_BITS * i);
    b.push(top < MASK ? top : MASK);
  }
  return b;
}

/** Limb bounds of any vector with normalised limbs (< 2^29 each). */
export const NORMALISED = normalisedLimbBounds(VALUE_LIMIT);

/**
 * The instructions that differ between scalar and two-lane code. Values on the stack come in two
 * layouts: "operand" (a limb ready to be multiplied: an i64, or two u32 in i32 lanes 0 and 1) and
 * "accumulator" (an i64, or an i64x2); `narrow` turns an accumulator value below 2^32 per lane into
 * an operand.
 */
export interface Arith {
  readonly type: ValType;
  readonly lanes: 1 | 2;
  /** Push the accumulator-layout zero. */
  zero(f: FuncBuilder): void;
  /** With an i32 address pushed: load / store one 8-byte limb slot (operand layout). */
  loadLimb(f: FuncBuilder, offset: number): void;
  storeLimb(f: FuncBuilder, offset: number): void;
  /** With an i32 address and an accumulator pushed: store it whole (fence stores). */
  storeAcc(f: FuncBuilder, offset: number): void;
  narrow(f: FuncBuilder): void;
  /** operand × operand → accumulator. */
  mul(f: FuncBuilder): void;
  /** accumulator + accumulator. */
  add(f: FuncBuilder): void;
  /** operand + operand, limb-wise (no carries; the caller bounds the result below 2^32). */
  addOperand(f: FuncBuilder): void;
  shr29(f: FuncBuilder): void;
  andMask(f: FuncBuilder): void;
  /** (−x) mod 2^29 of the accumulator pushed by `pushX`. */
  negMask(f: FuncBuilder, pushX: () => void): void;
  /** Push 2^29 − 1 in accumulator layout. */
  maskConst(f: FuncBuilder): void;
  /** 2·x of an accumulator. */
  double(f: FuncBuilder): void;
  /** Push a constant (< 2^32) in operand layout, for products. */
  operandConst(f: FuncBuilder, k: bigint): void;
}

export const SCALAR: Arith = {
  type: I64,
  lanes: 1,
  zero: (f) => void f.i64(0n),
  loadLimb: (f, offset) => void f.load64(offset),
  storeLimb: (f, offset) => void f.store64(offset),
  storeAcc: (f, offset) => void f.store64(offset),
  narrow: () => {},
  mul: (f) => void f.op(OP.i64Mul),
  add: (f) => void f.op(OP.i64Add),
  addOperand: (f) => void f.op(OP.i64Add),
  shr29: (f) => void f.i64(29n).op(OP.i64ShrU),
  andMask: (f) => void f.i64(MASK).op(OP.i64And),
  negMask: (f, pushX) => {
    f.i64(0n);
    pushX();
    f.op(OP.i64Sub).i64(MASK).op(OP.i64And);
  },
  maskConst: (f) => void f.i64(MASK),
  double: (f) => void f.i64(1n).op(OP.i64Shl),
  operandConst: (f, k) => void f.i64(k),
};

/**
 * 16-byte constants for two-lane code, at fixed addresses in linear memory (module.ts reserves the
 * region and writes `image()` into it): splats of limb-sized values for products, and of the mask.
 */
export class ConstPool {
  private readonly at = new Map<string, number>();
  private readonly bytes: Uint8Array;
  private used = 0;

  constructor(
    readonly base: number,
    readonly capacity: number,
  ) {
    this.bytes = new Uint8Array(capacity * 16);
  }

  /** Address of [k, k, k, k] as u32 lanes (an operand-layout constant). */
  u32Splat(k: bigint): number {
    return this.entry(`u32:${k}`, (dv) => {
      for (let i = 0; i < 4; i++) dv.setUint32(4 * i, Number(k), true);
    });
  }

  /** Address of [k, k] as u64 lanes. */
  u64Splat(k: bigint): number {
    return this.entry(`u64:${k}`, (dv) => {
      dv.setBigUint64(0, k, true);
      dv.setBigUint64(8, k, true);
    });
  }

  private entry(key: string, fill: (dv: DataView) => void): number {
    let a = this.at.get(key);
    if (a === undefined) {
      if (this.used === this.capacity) throw new Error("limbs: constant pool full");
      fill(new DataView(this.bytes.buffer, this.used * 16, 16));
      a = this.base + this.used * 16;
      this.used++;
      this.at.set(key, a);
    }
    return a;
  }

  /** Contents of [base, base + 16·capacity). */
  image(): Uint8Array {
    return this.bytes;
  }
}

/** i8x16.shuffle pattern taking bytes 0–3 and 8–11 (the low u32 of each i64 lane) to lanes 0, 1. */
const NARROW = [0, 1, 2, 3, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11];

/**
 * Two-lane arithmetic. Operands hold two u32 limbs in i32 lanes 0 and 1 (loaded from an 8-byte
 * slot with v128.load64_zero), which is what i64x2.extmul_low_i32x4_u multiplies into two u64.
 * V8 (Node 20) lowers that extmul to two unpacks and one vpmuludq, so a product costs about as
 * many instructions as in scalar code but runs on the vector units: measured 75 ns per pair of
 * Montgomery products against 54 ns for one scalar product (1.45×), 1.13–1.2× per whole hash.
 */
export function simdArith(pool: ConstPool): Arith {
  const fromPool = (f: FuncBuilder, addr: number) => void f.i32(0).simdMem(SIMD.v128Load, 4, addr);
  return {
    type: V128,
    lanes: 2,
    zero: (f) => void f.i64(0n).simd(SIMD.i64x2Splat),
    loadLimb: (f, offset) => void f.simdMem(SIMD.v128Load64Zero, 3, offset),
    storeLimb: (f, offset) => void f.simdMem(SIMD.v128Store64Lane, 3, offset, 0),
    storeAcc: (f, offset) => void f.simdMem(SIMD.v128Store, 3, offset),
    narrow: (f) => {
      // i8x16.shuffle takes two vectors; shuffle the value with itself.
      const t = f.local(V128);
      f.tee(t)
        .get(t)
        .simd(SIMD.i8x16Shuffle, ...NARROW);
    },
    mul: (f) => void f.simd(SIMD.i64x2ExtmulLowI32x4U),
    add: (f) => void f.simd(SIMD.i64x2Add),
    addOperand: (f) => void f.simd(SIMD.i32x4Add),
    shr29: (f) => void f.i32(29).simd(SIMD.i64x2ShrU),
    andMask: (f) => {
      fromPool(f, pool.u64Splat(MASK));
      f.simd(SIMD.v128And);
    },
    negMask: (f, pushX) => {
      pushX();
      f.simd(SIMD.i64x2Neg);
      fromPool(f, pool.u64Splat(MASK));
      f.simd(SIMD.v128And);
    },
    maskConst: (f) => fromPool(f, pool.u64Splat(MASK)),
    double: (f) => void f.i32(1).simd(SIMD.i64x2Shl),
    operandConst: (f, k) => {
      if (k < 0n || k >= 1n << 32n)
        throw new RangeError("limbs: a two-lane constant factor must be below 2^32");
      fromPool(f, pool.u32Splat(k));
    },
  };
}

/** A limb vector the emitters can read: pushes limb i on the stack, with a bound per limb. */
export interface Operand {
  push(f: FuncBuilder, i: number): void;
  readonly limbMax: readonly bigint[];
}

/** Vector in linear memory at (i32 local `base`) + `offset`. */
export function memOperand(
  base: number,
  offset: number,
  limbMax: readonly bigint[] = NORMALISED,
  ar: Arith = SCALAR,
): Operand {
  return {
    push: (f, i) => {
      f.get(base);
      ar.loadLimb(f, offset + 8 * i);
    },
    limbMax,
  };
}

/** Vector held in nine locals. */
export function localOperand(locals: readonly number[], limbMax: readonly bigint[] = NORMALISED): Operand {
  return { push: (f, i) => void f.get(locals[i]!), limbMax };
}

/** Load an operand into fresh locals (once), so that later reads are register/stack accesses. */
export function preload(f: FuncBuilder, src: Operand, ar: Arith = SCALAR): Operand {
  const locals: number[] = [];
  for (let i = 0; i < LIMBS; i++) {
    const l = f.local(ar.type);
    src.push(f, i);
    f.set(l);
    locals.push(l);
  }
  return localOperand(locals, src.limbMax);
}

/**
 * Where results go: `write(f, i, pushValue)` must store limb i, calling pushValue once; the value
 * pushed is in accumulator layout and below 2^32 per lane.
 */
export interface Sink {
  write(f: FuncBuilder, i: number, pushValue: () => void): void;
}

export function memSink(base: number, offset: number, ar: Arith = SCALAR): Sink {
  return {
    write: (f, i, pushValue) => {
      f.get(base);
      pushValue();
      ar.narrow(f);
      ar.storeLimb(f, offset + 8 * i);
    },
  };
}

/** Results into fresh locals (operand layout); `locals` is filled by the emitter. */
export function localSink(f: FuncBuilder, ar: Arith = SCALAR): Sink & { locals: number[] } {
  const locals: number[] = [];
  for (let i = 0; i < LIMBS; i++) locals.push(f.local(ar.type));
  return {
    locals,
    write: (fb, i, pushValue) => {
      pushValue();
      ar.narrow(fb);
      fb.set(locals[i]!);
    },
  };
}

/** Lane `lane` of a two-lane vector in memory, read as a scalar operand (i64 limbs). */
export function laneOperand(base: number, offset: number, lane: number, limbMax = NORMALISED): Operand {
  return { push: (f, i) => void f.get(base).mem(OP.i64Load32U, 2, offset + 8 * i + 4 * lane), limbMax };
}

/** Lane `lane` of a two-lane vector in memory, written from scalar (i64) limbs below 2^32. */
export function laneSink(base: number, offset: number, lane: number): Sink {
  return {
    write: (f, i, pushValue) => {
      f.get(base);
      pushValue();
      f.mem(OP.i64Store32, 2, offset + 8 * i + 4 * lane);
    },
  };
}

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

/** Little-endian 64-bit words of r. */
export const P_WORDS = [0, 1, 2, 3].map((w) => (FR_MODULUS >> BigInt(64 * w)) & U64_MAX);

/**
 * Read a 32-byte little-endian node at (i32 local `base`) + `offset` into four i64 locals; leaves
 * on the stack an i32 that is 1 when the value is below r (canonical), else 0.
 */
export function emitLoadWords(f: FuncBuilder, base: number, offset: number): { words: number[] } {
  const words: number[] = [];
  for (let w = 0; w < 4; w++) {
    const l = f.local(I64);
    f.get(base)
      .load64(offset + 8 * w)
      .set(l);
    words.push(l);
  }
  // lt = w3 < p3 | (w3 == p3 & (w2 < p2 | (w2 == p2 & (w1 < p1 | (w1 == p1 & w0 < p0)))))
  const lt = (w: number) => f.get(words[w]!).i64(P_WORDS[w]!).op(OP.i64LtU);
  const eq = (w: number) => f.get(words[w]!).i64(P_WORDS[w]!).op(OP.i64Eq);
  lt(3);
  eq(3);
  lt(2);
  eq(2);
  lt(1);
  eq(1);
  lt(0);
  f.op(OP.i32And).op(OP.i32Or).op(OP.i32And).op(OP.i32Or).op(OP.i32And).op(OP.i32Or);
  return { words };
}

/** Split four 64-bit words (locals) into 29-bit limbs written to `out`. */
export function emitWordsToLimbs(f: FuncBuilder, words: readonly number[], out: Sink): void {
  for (let l = 0; l < LIMBS; l++) {
    const bit = LIMB_BITS * l;
    const q = bit >> 6;
    const sh = bit & 63;
    out.write(f, l, () => {
      f.get(words[q]!);
      if (sh > 0) f.i64(BigInt(sh)).op(OP.i64ShrU);
      if (sh + LIMB_BITS > 64 && q + 1 < 4) {
        f.get(words[q + 1]!)
          .i64(BigInt(64 - sh))
          .op(OP.i64Shl)
          .op(OP.i64Or);
      }
      if (!(q === 3 && sh + LIMB_BITS >= 64)) f.i64(MASK).op(OP.i64And);
    });
  }
}

/**
 * Store a normalised vector whose value is below 2r as its canonical 32-byte little-endian
 * encoding at (i32 local `base`) + `offset`: subtract r when the value is ≥ r (branch-free
 * select), then pack the limbs into four 64-bit words.
 */
export function emitStoreCanonical(f: FuncBuilder, src: Operand, base: number, offset: number): void {
  const y = preload(f, src);
  const d: number[] = [];
  const borrow = f.local(I64);
  f.i64(0n).set(borrow);
  for (let i = 0; i < LIMBS; i++) {
    const l = f.local(I64);
    // t = y_i − r_i − borrow (as a two's-complement i64); borrow = t >>> 63; d_i = t & mask
    y.push(f, i);
    f.i64(P_LIMBS[i]!).op(OP.i64Sub).get(borrow).op(OP.i64Sub).tee(l);
    f.i64(63n).op(OP.i64ShrU).set(borrow);
    f.get(l).i64(MASK).op(OP.i64And).set(l);
    d.push(l);
  }
  const chosen: number[] = [];
  for (let i = 0; i < LIMBS; i++) {
    const l = f.local(I64);
    // select(d_i, y_i, y ≥ r): no borrow out of the top limb means y − r ≥ 0.
    f.get(d[i]!);
    y.push(f, i);
    f.get(borrow).op(OP.i64Eqz).op(OP.select).set(l);
    chosen.push(l);
  }
  for (let w = 0; w < 4; w++) {
    f.get(base);
    let first = true;
    for (let l = 0; l < LIMBS; l++) {
      const lo = LIMB_BITS * l;
      if (lo >= 64 * (w + 1) || lo + LIMB_BITS <= 64 * w) continue;
      f.get(chosen[l]!);
      const s = lo - 64 * w;
      if (s > 0) f.i64(BigInt(s)).op(OP.i64Shl);
      else if (s < 0) f.i64(BigInt(-s)).op(OP.i64ShrU);
      if (!first) f.op(OP.i64Or);
      first = false;
    }
    f.store64(offset + 8 * w);
  }
}
