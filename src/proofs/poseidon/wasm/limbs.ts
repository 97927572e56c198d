/**
 * The limb representation of BLS12-381 Fr values in the generated WebAssembly, and the building
 * blocks every emitter shares: 9 limbs of 29 bits, each held in a WebAssembly i64, values in
 * Montgomery form with R = 2^261 (module.ts says which value carries which scale).
 *
 * A vector is 9 limbs, least significant first, 8 bytes each in linear memory (VEC_BYTES = 72):
 * value = Σ limb_i·2^(29·i). A normalised vector has every limb below 2^29; sums of vectors
 * (addOperands) may have larger limbs, and every Operand carries the bound of each of its limbs
 * (`limbMax`) so that the multiplication emitters (montgomery.ts) can prove their accumulators
 * never overflow. Operands are read from memory (memOperand) or locals (localOperand); results
 * go to a Sink in memory (memSink) or locals (localSink). Conversion from and to the 32-byte
 * canonical node format is canonical.ts.
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
export const U64_MAX = (1n << 64n) - 1n;

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
