/**
 * Generates the WebAssembly module that hashes with neptune's Poseidon for one arity: the same
 * fast form as the BigInt `poseidonHashFast` (constants.ts: compressed partial-round constants,
 * sparse partial-round matrices, integer full-round matrix), in 29-bit-limb Montgomery arithmetic
 * (limbs.ts, montgomery.ts), with state, scratch and every constant in linear memory.
 *
 * Scale bookkeeping. Montgomery multiplication returns a·b·R⁻¹, and the integer MDS layer and its
 * partial reduction multiply by L·2^(−29k) (L = lcm(t .. 3t − 2)). Rather than converting values
 * into and out of Montgomery form, every stored vector V is only known to satisfy V ≡ λ·s (mod r)
 * for the true state s and a scalar λ known at generation time, as in constants.ts. Inputs enter
 * with λ = 1 (the raw canonical value); round constants are stored pre-multiplied by λ; S-boxes
 * turn λ into λ⁵·R⁻⁴; the dense matrices (pre-sparse round, partial rounds, and the full rounds of
 * arities whose integer matrix is too large) carry a factor that resets λ to 1; the last round
 * multiplies by one constant that leaves λ = 1, so the output is the plain canonical value.
 *
 * Partial rounds run in blocks of PARTIAL_BLOCK rounds: the sparse round updates all t − 1 tail
 * elements every round (s_k += w_k·x5), which costs t − 1 Montgomery reductions per round; within
 * a block the tails are left as they were at the block start, the rounds' state[0] sums add the
 * tail contributions they would have seen through precomputed constants, and the tails catch up
 * at the block end with one reduced sum of `block` products each.
 *
 * Reduction discipline: values are kept below 2^261 (the 9-limb capacity), not below r, and
 * reduced only where needed: a product of sums is reduced once (lazy reduction, montgomery.ts), the
 * partial rounds' tail elements grow by about r per round and are never reduced inside the
 * partial rounds. `simulateBounds` follows the whole schedule with worst-case values and refuses
 * to generate a module in which any stored value could reach 2^261, or the output 2r; where the
 * tails would be too large for the next full round it inserts one Montgomery multiplication by
 * R mod r (value-preserving, bound-reducing) per element.
 *
 * The same builder emits a two-lane SIMD variant (`lanes` = 2, limbs.ts `simdArith`): every vector
 * slot holds the limbs of two independent states, and the hash function fills the lanes from two
 * consecutive groups. Scale factors and bounds are per lane, hence unchanged.
 *
 * The module (one per arity and lane count; no imports, one exported memory):
 *  - Memory, in 72-byte limb vectors (limbs.ts) from address 0: the state S (t vectors), the
 *    S-box outputs U (t), the partial-round block's x⁵ values X5, two temporaries Y and Z (Z
 *    holds the result), the fence scratch vector, the two-lane constant pool, then every constant
 *    (round constants with their scales, the pre-sparse and dense or integer matrices, the sparse
 *    rows V and W of the partial-round blocks). `memoryImage` holds that region; the caller copies
 *    it to address 0 after instantiating. From `ioBase` (64-byte aligned) on is the caller's I/O.
 *  - Functions, emitted callees first: mul (one Montgomery product), sbox ((v + c)⁵), denseB[b]
 *    (a row product, plus b earlier x⁵ terms inside a partial-round block), tails[size] (the
 *    block-end catch-up of the tail elements), mds and mdsRow1 (the integer full-round matrix,
 *    when it is used), permute (the whole schedule on S, result in Z) and hash, the only exported
 *    function: hash(inPtr, outPtr, count) → i32. It reads `count` groups of `arity` 32-byte
 *    little-endian nodes at inPtr, checks every node is canonical (< r), puts the domain tag and
 *    the nodes into S in limbs (canonical.ts), runs permute and writes one 32-byte canonical
 *    digest per group at outPtr. Returns −1, or the index (group·arity + child) of the first
 *    non-canonical node; groups before that one are hashed.
 * hasher.ts instantiates it and calls hash; test/unit/proofs/poseidonWasm.test.ts checks every
 * arity, both lane counts, edge and random values against the BigInt implementations and the
 * emitters' overflow bounds on worst-case operands.
 */
import type { PoseidonConstants } from "../constants.js";
import { FR_MODULUS, frInv } from "../field.js";
import { emitLoadWords, emitStoreCanonical, emitWordsToLimbs } from "./canonical.js";
import { FuncBuilder, I32, ModuleBuilder, OP } from "./emitter.js";
import {
  ConstPool,
  LIMBS,
  laneOperand,
  laneSink,
  localOperand,
  localSink,
  MASK,
  memOperand,
  memSink,
  NORMALISED,
  normalisedLimbBounds,
  preload,
  R,
  SCALAR,
  simdArith,
  toLimbs,
  VALUE_LIMIT,
  VEC_BYTES,
} from "./limbs.js";
import {
  addOperands,
  emitIntRow,
  emitMontSum,
  type Fence,
  intRowBound,
  montSumBound,
  type Term,
} from "./montgomery.js";

const P = FR_MODULUS;
const U64_MAX = (1n << 64n) - 1n;
/** Limb bounds of a reduced constant (< r). */
const CONST_LIMBS = normalisedLimbBounds(P - 1n);

const mod = (x: bigint) => ((x % P) + P) % P;
const mulMod = (...xs: bigint[]) => xs.reduce((a, b) => (a * b) % P, 1n);
const pow = (x: bigint, e: number) => {
  let r = 1n;
  for (let i = 0; i < e; i++) r = (r * x) % P;
  return r;
};
const R_MOD = R % P;
const R_INV = frInv(R_MOD);

/**
 * Partial rounds per block. Each round still costs its S-box and one lazily reduced sum for the
 * new state[0]; the t − 1 tail updates are done once per block, as one sum of `block` products per
 * element with a single reduction, and rounds inside a block add the missing tail contributions
 * to state[0] through precomputed constants (C below). Fewer reductions, a few more products:
 * measured per arity-8 hash, blocks of 1 (plain sparse rounds) 68.9 µs, 2 → 62.3, 3 → 60.9,
 * 4 → 61.6; arity 2: 2 → 23.5, 3 → 24.6.
 */
const PARTIAL_BLOCK = 3;

export interface PoseidonWasmBuild {
  readonly arity: number;
  /** The module bytes. */
  readonly bytes: Uint8Array;
  /** Initial contents of linear memory [0, constants.length): constants and zeroed state. */
  readonly memoryImage: Uint8Array;
  /** First byte of linear memory free for input/output buffers (64-byte aligned). */
  readonly ioBase: number;
  /** Full-round MDS layer: small-integer matrix with k-limb partial reduction, or dense Montgomery. */
  readonly mdsMode: "integer" | "dense";
  /** Whether the schedule reduces the state once after the partial rounds. */
  readonly rescaleAfterPartial: boolean;
}

/** Linear-memory layout, in bytes. Vectors are 72 bytes (9 little-endian i64 limbs). */
class Layout {
  private next = 0;
  readonly image: bigint[][] = []; // [address / 8, limb values…]
  vec(count = 1): number {
    const at = this.next;
    this.next += count * VEC_BYTES;
    return at;
  }
  /** Allocate vectors holding `values` (each < 2^261), returning the address of the first. */
  consts(values: readonly bigint[]): number {
    const at = this.vec(values.length);
    values.forEach((v, i) => {
      this.image.push([BigInt(at + i * VEC_BYTES), ...toLimbs(v)]);
    });
    return at;
  }
  get size(): number {
    return this.next;
  }
}

/** Worst-case value after x ← v + c, x2 ← x², x4 ← x2², x5 ← x4·x (all Montgomery). */
function sboxBound(v: bigint, c = P - 1n): bigint {
  const x = v + c;
  const x2 = montSumBound([[x, x]]);
  const x4 = montSumBound([[x2, x2]]);
  const x5 = montSumBound([[x4, x]]);
  for (const b of [x2, x4, x5]) fits(b, "S-box");
  return x5;
}

function fits(b: bigint, where: string): bigint {
  if (b > VALUE_LIMIT) throw new Error(`Poseidon wasm: ${where} could exceed 2^261; schedule not safe`);
  return b;
}

interface Plan {
  readonly t: number;
  readonly half: number;
  readonly mdsMode: "integer" | "dense";
  /** Integer matrix N (flat t*t) and its reduction limbs k. */
  readonly n: readonly bigint[];
  readonly k: number;
  /** Partial rounds per block (see blockSizes). */
  readonly block: number;
}

/** The partial rounds cut into blocks of `block` rounds, the last one possibly shorter. */
function blockSizes(roundsPartial: number, block: number): number[] {
  const sizes: number[] = [];
  for (let j = 0; j < roundsPartial; j += block) sizes.push(Math.min(block, roundsPartial - j));
  return sizes;
}

/**
 * Follow the schedule with worst-case values (BigInt upper bounds) and check that every stored
 * vector stays below 2^261 and the output below 2r. Returns whether the post-partial rescale is
 * needed; throws when even that is not enough.
 */
function simulateBounds(c: PoseidonConstants, plan: Plan, rescale: boolean): void {
  const { t, half, k, n } = plan;
  const full = (s: bigint[], last: boolean): bigint[] => {
    const u = s.map((v) => sboxBound(v));
    if (last) {
      const y = fits(
        plan.mdsMode === "integer"
          ? montSumBound([[fits(intRowBound(n.slice(t, 2 * t), u, k), "last row"), P - 1n]])
          : montSumBound(u.map((x) => [P - 1n, x] as const)),
        "output",
      );
      if (y >= 2n * P) throw new Error("Poseidon wasm: output could reach 2r");
      return [y];
    }
    return s.map((_, i) =>
      fits(
        plan.mdsMode === "integer"
          ? intRowBound(n.slice(i * t, (i + 1) * t), u, k)
          : montSumBound(u.map((x) => [P - 1n, x] as const)),
        "full-round matrix",
      ),
    );
  };
  let s: bigint[] = [(1n << BigInt(c.arity)) - 1n, ...new Array<bigint>(t - 1).fill(P - 1n)];
  for (let r = 0; r < half - 1; r++) s = full(s, false);
  const u = s.map((v) => sboxBound(v));
  s = s.map(() => fits(montSumBound(u.map((x) => [P - 1n, x] as const)), "pre-sparse matrix"));
  for (const size of blockSizes(c.roundsPartial, plan.block)) {
    const x5: bigint[] = [];
    for (let b = 0; b < size; b++) {
      x5.push(sboxBound(s[0]!));
      const terms = [[P - 1n, x5[b]!] as const, ...s.slice(1).map((x) => [P - 1n, x] as const)];
      for (let q = 0; q < b; q++) terms.push([P - 1n, x5[q]!]);
      s[0] = fits(montSumBound(terms), "partial round");
    }
    const products = x5.map((x) => [P - 1n, x] as const);
    s = [s[0]!, ...s.slice(1).map((x) => fits(montSumBound(products, x), "partial-round tail"))];
  }
  if (rescale) s = s.map((x) => fits(montSumBound([[x, P - 1n]]), "rescale"));
  for (let r = half; r < c.roundsFull - 1; r++) s = full(s, false);
  full(s, true);
}

/**
 * Build the module for one arity. `lanes` = 2 builds the two-lane SIMD variant (limbs.ts,
 * simdArith): the same schedule on two groups at once, `hash` taking the groups in pairs (an odd
 * last group is computed in both lanes and written once).
 */
export function buildPoseidonWasm(c: PoseidonConstants, lanes: 1 | 2 = 1): PoseidonWasmBuild {
  const t = c.width;
  const arity = c.arity;
  const half = c.roundsFull / 2;
  const tm1 = t - 1;

  // ---- Choose the full-round matrix form. ----
  const nInt = c.mdsInteger;
  const nMax = nInt.reduce((a, b) => (b > a ? b : a), 0n);
  const integerOk = nMax * MASK <= U64_MAX >> 1n;
  let k = 1;
  if (integerOk) {
    // Fewest reduction limbs that bring a row back to about r.
    const rowMax = nInt.slice(0, t).reduce((a, b) => a + b, 0n) * (1n << 256n);
    while (rowMax >> BigInt(29 * k) > 1n << 250n) k++;
  }
  const plan: Plan = { t, half, mdsMode: integerOk ? "integer" : "dense", n: nInt, k, block: PARTIAL_BLOCK };
  let rescale = false;
  try {
    simulateBounds(c, plan, false);
  } catch {
    rescale = true;
    simulateBounds(c, plan, true);
  }

  // ---- Constants with their scale factors (see the file comment). ----
  const lay = new Layout();
  const S = lay.vec(t);
  const U = lay.vec(t);
  const X5 = lay.vec(PARTIAL_BLOCK);
  const Y = lay.vec();
  const Z = lay.vec();
  const SCRATCH = lay.vec(); // written by fence stores only (montgomery.ts, Fence)
  const POOL_ENTRIES = 256;
  const pool = new ConstPool(lay.vec(Math.ceil((POOL_ENTRIES * 16) / VEC_BYTES)), POOL_ENTRIES);
  const ar = lanes === 2 ? simdArith(pool) : SCALAR;
  const fenceFor = (f: FuncBuilder): Fence => {
    const base = f.local(I32);
    f.i32(SCRATCH).set(base);
    return { base, offset: 0, every: 4 };
  };
  const rcAddr: number[] = [];
  let lambda = 1n;
  const bigL = c.mdsIntegerScale;
  const intScale = mulMod(bigL, frInv(mod(1n << BigInt(29 * k))));
  const sboxScale = (l: bigint) => mulMod(pow(l, 5), pow(R_INV, 4));
  let preSparse = 0;
  let denseMds = 0;
  let lastRow = 0;
  let outScale = 0;
  for (let fr = 0; fr < c.roundsFull; fr++) {
    if (fr === half) lambda = 1n; // the partial rounds leave scale 1 behind
    const rc = c.fullRoundConstantsUnscaled.slice(fr * t, (fr + 1) * t).map((x) => mulMod(x, lambda));
    rcAddr.push(lay.consts(rc));
    const lu = sboxScale(lambda);
    const toOne = mulMod(R_MOD, frInv(lu)); // dense-matrix factor that leaves scale 1
    if (fr === half - 1) {
      preSparse = lay.consts(c.preSparseMdsUnscaled.map((x) => mulMod(x, toOne)));
      lambda = 1n;
    } else if (fr === c.roundsFull - 1) {
      if (plan.mdsMode === "integer") {
        outScale = lay.consts([mulMod(R_MOD, frInv(mulMod(lu, intScale)))]);
      } else {
        lastRow = lay.consts(c.mds[1]!.map((x) => mulMod(x, toOne)));
      }
    } else if (plan.mdsMode === "integer") {
      lambda = mulMod(lu, intScale);
    } else {
      // Dense rounds always start at scale 1, so one matrix serves them all.
      if (denseMds === 0) denseMds = lay.consts(c.mds.flat().map((x) => mulMod(x, toOne)));
      lambda = 1n;
    }
  }
  // Partial rounds at scale 1: x5 has scale R⁻⁴; new s0 = R⁻¹·(K0·x5 + Σ_k V_k·s_k); tails
  // s_k + R⁻¹·W_k·x5. In blocks (see the file comment): tails are updated once per block, so
  // round j of a block starting at j0 also adds Σ_{j0 ≤ i < j} C_{j,i}·x5_i to the new s0, with
  // C_{j,i} = R⁻¹·Σ_k V_{j,k}·W_{i,k} (what the tails would have contributed).
  const R5 = pow(R_MOD, 5);
  const pcAddr = lay.consts(c.partialRoundConstants.map(mod));
  const K0 = (j: number) => mulMod(c.sparseM00[j]!, R5);
  const V = (j: number, q: number) => mulMod(c.sparseV[j * tm1 + q]!, R_MOD);
  const W = (j: number, q: number) => mulMod(c.sparseW[j * tm1 + q]!, R5);
  const vRows: bigint[] = [];
  const wBlocks: bigint[] = [];
  const sizes = blockSizes(c.roundsPartial, plan.block);
  for (let j0 = 0, bi = 0; bi < sizes.length; j0 += sizes[bi]!, bi++) {
    const size = sizes[bi]!;
    for (let j = j0; j < j0 + size; j++) {
      vRows.push(K0(j));
      for (let q = 0; q < tm1; q++) vRows.push(V(j, q));
      for (let i = j0; i < j; i++) {
        let cji = 0n;
        for (let q = 0; q < tm1; q++) cji += V(j, q) * W(i, q);
        vRows.push(mulMod(cji % P, R_INV));
      }
    }
    for (let q = 0; q < tm1; q++) for (let i = j0; i < j0 + size; i++) wBlocks.push(W(i, q));
  }
  const vAddr = lay.consts(vRows);
  const wAddr = lay.consts(wBlocks);
  const rescaleAddr = rescale ? lay.consts([R_MOD]) : 0;
  const tagLimbs = toLimbs(c.domainTag);
  const ioBase = Math.ceil(lay.size / 64) * 64;

  // ---- Functions. ----
  const mb = new ModuleBuilder();
  const vec = (i: number) => i * VEC_BYTES;

  // mul(out, a, b): out ← a·b·R⁻¹ (a normalised vector, b a reduced constant).
  const fMul = new FuncBuilder([I32, I32, I32], []);
  emitMontSum(
    fMul,
    ar,
    [{ a: memOperand(1, 0, NORMALISED, ar), b: memOperand(2, 0, CONST_LIMBS, ar) }],
    memSink(0, 0, ar),
  );
  const MUL = mb.add(fMul);

  // sbox(out, v, c): out ← (v + c)^5 in Montgomery form; all intermediates stay in locals.
  const fSbox = new FuncBuilder([I32, I32, I32], []);
  {
    const x = addOperands(fSbox, ar, memOperand(1, 0, NORMALISED, ar), memOperand(2, 0, CONST_LIMBS, ar));
    const x2 = localSink(fSbox, ar);
    emitMontSum(fSbox, ar, [{ a: x, b: x, square: true }], x2);
    const x2o = localOperand(x2.locals);
    const x4 = localSink(fSbox, ar);
    emitMontSum(fSbox, ar, [{ a: x2o, b: x2o, square: true }], x4);
    emitMontSum(fSbox, ar, [{ a: localOperand(x4.locals), b: x }], memSink(0, 0, ar));
  }
  const SBOX = mb.add(fSbox);

  // dense(out, kRow, u0, uBase): out ← R⁻¹·(K_0·u0 + Σ_{j≥1} K_j·u_j), u_j at uBase + 72j.
  // Both operands of every product come from memory, so this is where the fence pays (0.62 →
  // 0.30 µs per arity-8 call); in the other functions one operand is in locals and a fence
  // measured slower.
  // denseB[b](out, kRow, u0, uBase, xBase) also adds Σ_{q<b} K_{t+q}·x_q, x_q at xBase + 72q:
  // the b-th round of a partial-round block. denseB[0] is the plain row product.
  const denseB: number[] = [];
  for (let b = 0; b < plan.block; b++) {
    const fd = new FuncBuilder([I32, I32, I32, I32, I32], []);
    const terms: Term[] = [{ a: memOperand(1, 0, CONST_LIMBS, ar), b: memOperand(2, 0, NORMALISED, ar) }];
    for (let j = 1; j < t; j++)
      terms.push({ a: memOperand(1, vec(j), CONST_LIMBS, ar), b: memOperand(3, vec(j), NORMALISED, ar) });
    for (let q = 0; q < b; q++)
      terms.push({ a: memOperand(1, vec(t + q), CONST_LIMBS, ar), b: memOperand(4, vec(q), NORMALISED, ar) });
    emitMontSum(fd, ar, terms, memSink(0, 0, ar), undefined, fenceFor(fd));
    denseB.push(mb.add(fd));
  }
  const DENSE = denseB[0]!;

  // tails[size](sBase, wBlock, xBase): s_k ← s_k + R⁻¹·Σ_{q<size} W_{k,q}·x_q for k = 1 .. t − 1,
  // one reduction per element per block (a loop over k; the x_q in locals).
  const tailsFor = new Map<number, number>();
  for (const size of new Set(sizes)) {
    const ft = new FuncBuilder([I32, I32, I32], []);
    const xs = Array.from({ length: size }, (_, q) => preload(ft, memOperand(2, vec(q), NORMALISED, ar), ar));
    const sp = ft.local(I32);
    const end = ft.local(I32);
    ft.get(0).i32(VEC_BYTES).op(OP.i32Add).set(sp);
    ft.get(0)
      .i32(t * VEC_BYTES)
      .op(OP.i32Add)
      .set(end);
    ft.loop();
    const terms: Term[] = xs.map((x, q) => ({ a: memOperand(1, vec(q), CONST_LIMBS, ar), b: x }));
    emitMontSum(ft, ar, terms, memSink(sp, 0, ar), memOperand(sp, 0, NORMALISED, ar));
    ft.get(sp).i32(VEC_BYTES).op(OP.i32Add).set(sp);
    ft.get(1)
      .i32(size * VEC_BYTES)
      .op(OP.i32Add)
      .set(1);
    ft.get(sp).get(end).op(OP.i32Ne).brIf(0);
    ft.end();
    tailsFor.set(size, mb.add(ft));
  }

  // Integer MDS: mds(outBase, uBase) for all rows, mdsRow1(out, uBase) for the last round.
  let MDS = -1;
  let MDS1 = -1;
  if (plan.mdsMode === "integer") {
    const us = () => Array.from({ length: t }, (_, j) => memOperand(1, vec(j), NORMALISED, ar));
    const fMds = new FuncBuilder([I32, I32], []);
    for (let i = 0; i < t; i++) {
      emitIntRow(fMds, ar, nInt.slice(i * t, (i + 1) * t), us(), k, memSink(0, vec(i), ar));
    }
    MDS = mb.add(fMds);
    const fRow1 = new FuncBuilder([I32, I32], []);
    emitIntRow(fRow1, ar, nInt.slice(t, 2 * t), us(), k, memSink(0, 0, ar));
    MDS1 = mb.add(fRow1);
  }

  // permute(): the whole schedule on the state at S; result (scale 1, < 2r) at Z.
  const fPerm = new FuncBuilder([], []);
  {
    const f = fPerm;
    const call = (fn: number, ...args: number[]) => {
      for (const a of args) f.i32(a);
      f.call(fn);
    };
    const sboxes = (fr: number) => {
      for (let i = 0; i < t; i++) call(SBOX, U + vec(i), S + vec(i), rcAddr[fr]! + vec(i));
    };
    const fullRound = (fr: number) => {
      sboxes(fr);
      if (plan.mdsMode === "integer") call(MDS, S, U);
      else for (let i = 0; i < t; i++) call(DENSE, S + vec(i), denseMds + vec(i * t), U, U, 0);
    };
    for (let fr = 0; fr < half - 1; fr++) fullRound(fr);
    sboxes(half - 1);
    for (let i = 0; i < t; i++) call(DENSE, S + vec(i), preSparse + vec(i * t), U, U, 0);

    // Partial rounds: a loop over the full blocks (three pointers into the constant tables), then
    // the shorter last block if any, unrolled within a block.
    const pc = f.local(I32);
    const vr = f.local(I32);
    const wr = f.local(I32);
    f.i32(pcAddr).set(pc).i32(vAddr).set(vr).i32(wAddr).set(wr);
    const advance = (local: number, bytes: number) => f.get(local).i32(bytes).op(OP.i32Add).set(local);
    const blockBody = (size: number) => {
      for (let b = 0; b < size; b++) {
        f.i32(X5 + vec(b))
          .i32(S)
          .get(pc)
          .call(SBOX);
        f.i32(S)
          .get(vr)
          .i32(X5 + vec(b))
          .i32(S)
          .i32(X5)
          .call(denseB[b]!);
        advance(pc, VEC_BYTES);
        advance(vr, (t + b) * VEC_BYTES);
      }
      f.i32(S).get(wr).i32(X5).call(tailsFor.get(size)!);
      advance(wr, tm1 * size * VEC_BYTES);
    };
    const fullBlocks = sizes.filter((x) => x === plan.block).length;
    if (fullBlocks > 0) {
      f.loop();
      blockBody(plan.block);
      f.get(pc)
        .i32(pcAddr + fullBlocks * plan.block * VEC_BYTES)
        .op(OP.i32Ne)
        .brIf(0);
      f.end();
    }
    if (sizes.length > fullBlocks) blockBody(sizes[sizes.length - 1]!);
    if (rescale) for (let i = 0; i < t; i++) call(MUL, S + vec(i), S + vec(i), rescaleAddr);

    for (let fr = half; fr < c.roundsFull - 1; fr++) fullRound(fr);
    sboxes(c.roundsFull - 1);
    if (plan.mdsMode === "integer") {
      call(MDS1, Y, U);
      call(MUL, Z, Y, outScale);
    } else {
      call(DENSE, Z, lastRow, U, U, 0);
    }
  }
  const PERM = mb.add(fPerm);

  // hash(inPtr, outPtr, count) → −1 or index of the first non-canonical node. Two-lane: groups
  // g and g + 1 go to lanes 0 and 1; for an odd last group lane 1 repeats it and is not written.
  const fHash = new FuncBuilder([I32, I32, I32], [I32]);
  {
    const f = fHash;
    const g = f.local(I32);
    const zero = f.local(I32); // never written: base register for absolute addresses
    const in1 = f.local(I32);
    const groupBytes = arity * 32;
    f.block().loop();
    f.get(g).get(2).op(OP.i32GeU).brIf(1);
    for (let lane = 0; lane < lanes; lane++) {
      for (let i = 0; i < LIMBS; i++) {
        f.get(zero).i64(tagLimbs[i]!);
        if (lanes === 2) f.mem(OP.i64Store32, 2, S + 8 * i + 4 * lane);
        else f.store64(S + 8 * i);
      }
    }
    if (lanes === 2) {
      // in1 = g + 1 < count ? inPtr + groupBytes : inPtr
      f.get(0).i32(groupBytes).op(OP.i32Add).get(0);
      f.get(g).i32(1).op(OP.i32Add).get(2).op(OP.i32LtU).op(OP.select).set(in1);
    }
    for (let lane = 0; lane < lanes; lane++) {
      const base = lane === 0 ? 0 : in1;
      for (let q = 0; q < arity; q++) {
        const { words } = emitLoadWords(f, base, 32 * q);
        f.op(OP.i32Eqz).if();
        f.get(g).i32(lane).op(OP.i32Add).i32(arity).op(OP.i32Mul).i32(q).op(OP.i32Add).op(OP.return);
        f.end();
        emitWordsToLimbs(
          f,
          words,
          lanes === 2 ? laneSink(zero, S + vec(q + 1), lane) : memSink(zero, S + vec(q + 1)),
        );
      }
    }
    f.call(PERM);
    if (lanes === 2) {
      emitStoreCanonical(f, laneOperand(zero, Z, 0), 1, 0);
      f.get(g).i32(1).op(OP.i32Add).get(2).op(OP.i32LtU).if();
      emitStoreCanonical(f, laneOperand(zero, Z, 1), 1, 32);
      f.end();
    } else {
      emitStoreCanonical(f, memOperand(zero, Z), 1, 0);
    }
    f.get(0)
      .i32(lanes * groupBytes)
      .op(OP.i32Add)
      .set(0);
    f.get(1)
      .i32(lanes * 32)
      .op(OP.i32Add)
      .set(1);
    f.get(g).i32(lanes).op(OP.i32Add).set(g);
    f.br(0);
    f.end().end();
    f.i32(-1);
  }
  const HASH = mb.add(fHash);
  mb.exportFunc("hash", HASH);

  const pages = Math.ceil((ioBase + 64 * 1024) / 65536);
  mb.memory(pages);

  const image = new Uint8Array(lay.size);
  const dv = new DataView(image.buffer);
  for (const [at, ...limbs] of lay.image) {
    for (let i = 0; i < limbs.length; i++) {
      const a = Number(at) + 8 * i;
      if (lanes === 2) {
        // The same constant in both lanes.
        dv.setUint32(a, Number(limbs[i]!), true);
        dv.setUint32(a + 4, Number(limbs[i]!), true);
      } else {
        dv.setBigUint64(a, limbs[i]!, true);
      }
    }
  }
  image.set(pool.image(), pool.base);
  return {
    arity,
    bytes: mb.encode(),
    memoryImage: image,
    ioBase,
    mdsMode: plan.mdsMode,
    rescaleAfterPartial: rescale,
  };
}
