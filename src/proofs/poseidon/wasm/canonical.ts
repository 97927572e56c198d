/**
 * Conversion between the 32-byte little-endian canonical node format (four 64-bit words, what the
 * hash reads and writes) and limb vectors (limbs.ts), as WebAssembly code: load the words and test
 * that the value is below r, split the words into 29-bit limbs, and store a result (< 2r) as its
 * canonical value (one conditional subtraction of r) back into words.
 */
import { FR_MODULUS } from "../field.js";
import { type FuncBuilder, I64, OP } from "./emitter.js";
import { LIMB_BITS, LIMBS, MASK, type Operand, P_LIMBS, preload, type Sink, U64_MAX } from "./limbs.js";

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
