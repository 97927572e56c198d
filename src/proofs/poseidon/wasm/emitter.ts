/**
 * A very small WebAssembly binary writer: just the module sections and opcodes that the Poseidon
 * code generator (module.ts) needs, no validation of its own — `new WebAssembly.Module` validates
 * the result, and the tests compare every hash with the BigInt implementation.
 *
 * Why write bytes instead of shipping a .wasm file: the code is specialised per arity (constants,
 * matrix entries, unrolled limb arithmetic), it is a few tens of KiB, and generating it at run time
 * from TypeScript keeps the whole implementation readable and reviewable in this repository with
 * no build step and no binary blob. Encoding follows the WebAssembly Core Specification 1.0,
 * chapter 5 ("Binary Format"): LEB128 integers, sections 1 (type), 3 (function), 5 (memory),
 * 7 (export) and 10 (code).
 */

import { encodeUvarint } from "../../../util/varint.js";

export const I32 = 0x7f;
export const I64 = 0x7e;
/** 128-bit SIMD vector (WebAssembly fixed-width SIMD, shipped in V8 9.1 / Node 16.4). */
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof I64 | typeof V128;

/** Opcodes used by the generator (spec §5.4). */
export const OP = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  return: 0x0f,
  call: 0x10,
  drop: 0x1a,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load: 0x28,
  i64Load: 0x29,
  i64Load32U: 0x35,
  i32Store: 0x36,
  i64Store: 0x37,
  i64Store32: 0x3e,
  i32Const: 0x41,
  i64Const: 0x42,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32Ne: 0x47,
  i32LtU: 0x49,
  i32GeU: 0x4f,
  i64Eqz: 0x50,
  i64Eq: 0x51,
  i64LtU: 0x54,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32And: 0x71,
  i32Or: 0x72,
  i64Add: 0x7c,
  i64Sub: 0x7d,
  i64Mul: 0x7e,
  i64And: 0x83,
  i64Or: 0x84,
  i64Shl: 0x86,
  i64ShrU: 0x88,
} as const;

/** SIMD opcodes, encoded as 0xfd then the LEB128 number (SIMD proposal, final opcode table). */
export const SIMD = {
  v128Load: 0x00,
  v128Store: 0x0b,
  i8x16Shuffle: 0x0d,
  i64x2Splat: 0x12,
  v128And: 0x4e,
  v128Store64Lane: 0x5b,
  v128Load64Zero: 0x5d,
  i32x4Add: 0xae,
  i64x2Neg: 0xc1,
  i64x2Shl: 0xcb,
  i64x2ShrU: 0xcd,
  i64x2Add: 0xce,
  i64x2ExtmulLowI32x4U: 0xde,
} as const;

/** Block type "no result" for block/loop/if. */
const VOID = 0x40;

/** A growable byte buffer (number[] pushes were the slowest part of encoding ~100 KiB modules). */
class Bytes {
  private buf = new Uint8Array(1024);
  length = 0;
  push(...bytes: number[]): void {
    for (const b of bytes) this.byte(b);
  }
  byte(b: number): void {
    if (this.length === this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = b;
  }
  append(other: Bytes | Uint8Array): void {
    const src = other instanceof Bytes ? other.view() : other;
    while (this.length + src.length > this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf.set(src, this.length);
    this.length += src.length;
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/** Unsigned LEB128: the same encoding as a multiformats varint, so the shared one writes it. */
function uleb(out: Bytes, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`uleb: ${v}`);
  out.append(encodeUvarint(v));
}

function sleb(out: Bytes, v: bigint): void {
  if (v >= -(1n << 31n) && v < 1n << 31n) {
    // The common case (limb-sized constants), in Number arithmetic.
    let n = Number(v);
    for (;;) {
      const b = n & 0x7f;
      n = Math.floor(n / 128);
      const done = (n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0);
      out.byte(done ? b : b | 0x80);
      if (done) return;
    }
  }
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n; // arithmetic shift for BigInt
    const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
    out.byte(done ? b : b | 0x80);
    if (done) return;
  }
}

function name(out: Bytes, s: string): void {
  const bytes = new TextEncoder().encode(s);
  uleb(out, bytes.length);
  out.append(bytes);
}

/**
 * One function body under construction. Locals are allocated by type on demand; parameters
 * are locals 0 .. params.length − 1. Methods return `this` so that code reads like the stack
 * machine's instruction sequence.
 */
export class FuncBuilder {
  private readonly code = new Bytes();
  private readonly localTypes: ValType[] = [];

  constructor(
    readonly params: readonly ValType[],
    readonly results: readonly ValType[],
  ) {}

  /** A fresh local of type `t`; returns its index. */
  local(t: ValType): number {
    this.localTypes.push(t);
    return this.params.length + this.localTypes.length - 1;
  }

  op(code: number): this {
    this.code.byte(code);
    return this;
  }
  get(i: number): this {
    this.code.byte(OP.localGet);
    uleb(this.code, i);
    return this;
  }
  set(i: number): this {
    this.code.byte(OP.localSet);
    uleb(this.code, i);
    return this;
  }
  tee(i: number): this {
    this.code.byte(OP.localTee);
    uleb(this.code, i);
    return this;
  }
  i32(v: number): this {
    this.code.byte(OP.i32Const);
    sleb(this.code, BigInt(v | 0));
    return this;
  }
  i64(v: bigint): this {
    if (v < -(1n << 63n) || v >= 1n << 64n) throw new RangeError(`i64 constant out of range: ${v}`);
    this.code.byte(OP.i64Const);
    sleb(this.code, BigInt.asIntN(64, v));
    return this;
  }
  /** i64.load with a constant byte offset (natural 8-byte alignment hint). */
  load64(offset: number): this {
    this.code.byte(OP.i64Load);
    this.code.byte(3);
    uleb(this.code, offset);
    return this;
  }
  store64(offset: number): this {
    this.code.byte(OP.i64Store);
    this.code.byte(3);
    uleb(this.code, offset);
    return this;
  }
  /** A SIMD instruction without immediates (or with raw immediate bytes, e.g. a shuffle mask). */
  simd(op: number, ...immediates: number[]): this {
    this.code.byte(0xfd);
    uleb(this.code, op);
    for (const b of immediates) this.code.byte(b);
    return this;
  }
  /** A SIMD memory instruction: memarg (alignment exponent, offset), then a lane index if any. */
  simdMem(op: number, align: number, offset: number, lane?: number): this {
    this.code.byte(0xfd);
    uleb(this.code, op);
    this.code.byte(align);
    uleb(this.code, offset);
    if (lane !== undefined) this.code.byte(lane);
    return this;
  }
  /** Scalar load/store with a constant offset: `op` is e.g. OP.i64Load32U, `align` its exponent. */
  mem(op: number, align: number, offset: number): this {
    this.code.byte(op);
    this.code.byte(align);
    uleb(this.code, offset);
    return this;
  }
  call(fn: number): this {
    this.code.byte(OP.call);
    uleb(this.code, fn);
    return this;
  }
  block(): this {
    this.code.byte(OP.block);
    this.code.byte(VOID);
    return this;
  }
  loop(): this {
    this.code.byte(OP.loop);
    this.code.byte(VOID);
    return this;
  }
  if(): this {
    this.code.byte(OP.if);
    this.code.byte(VOID);
    return this;
  }
  end(): this {
    this.code.byte(OP.end);
    return this;
  }
  br(depth: number): this {
    this.code.byte(OP.br);
    uleb(this.code, depth);
    return this;
  }
  brIf(depth: number): this {
    this.code.byte(OP.brIf);
    uleb(this.code, depth);
    return this;
  }

  /** Function body bytes: local declarations (run-length by type), code, final `end`. */
  encode(): Bytes {
    const body = new Bytes();
    const runs: Array<[number, ValType]> = [];
    for (const t of this.localTypes) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    uleb(body, runs.length);
    for (const [n, t] of runs) {
      uleb(body, n);
      body.byte(t);
    }
    body.append(this.code);
    body.byte(OP.end);
    return body;
  }

  /** Number of instruction bytes so far (for size reports in tests). */
  get size(): number {
    return this.code.length;
  }
}

/** A module under construction: functions (each with its own signature), one memory, exports. */
export class ModuleBuilder {
  private readonly funcs: FuncBuilder[] = [];
  private readonly exports: Array<{ name: string; kind: 0 | 2; index: number }> = [];
  private memoryPages = 1;

  /** Reserve a function index now (so that callers can be generated before the callee). */
  add(f: FuncBuilder): number {
    this.funcs.push(f);
    return this.funcs.length - 1;
  }

  exportFunc(exportName: string, index: number): void {
    this.exports.push({ name: exportName, kind: 0, index });
  }

  /** One linear memory of at least `pages` 64 KiB pages, exported as "memory". */
  memory(pages: number): void {
    this.memoryPages = pages;
    this.exports.push({ name: "memory", kind: 2, index: 0 });
  }

  encode(): Uint8Array {
    const out = new Bytes();
    out.push(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);
    const section = (id: number, content: Bytes) => {
      out.byte(id);
      uleb(out, content.length);
      out.append(content);
    };

    // Type section: one signature per distinct (params, results).
    const sigs: string[] = [];
    const sigOf = this.funcs.map((f) => {
      const key = `${f.params.join(",")}:${f.results.join(",")}`;
      let i = sigs.indexOf(key);
      if (i < 0) {
        sigs.push(key);
        i = sigs.length - 1;
      }
      return i;
    });
    const types = new Bytes();
    uleb(types, sigs.length);
    for (const key of sigs) {
      const [ps, rs] = key.split(":").map((s) => (s === "" ? [] : s.split(",").map(Number)));
      types.byte(0x60);
      uleb(types, ps!.length);
      types.push(...ps!);
      uleb(types, rs!.length);
      types.push(...rs!);
    }
    section(1, types);

    const fsec = new Bytes();
    uleb(fsec, this.funcs.length);
    for (const s of sigOf) uleb(fsec, s);
    section(3, fsec);

    const mem = new Bytes();
    uleb(mem, 1);
    mem.byte(0x00); // limits: min only, so the runtime may grow it
    uleb(mem, this.memoryPages);
    section(5, mem);

    const exp = new Bytes();
    uleb(exp, this.exports.length);
    for (const e of this.exports) {
      name(exp, e.name);
      exp.byte(e.kind);
      uleb(exp, e.index);
    }
    section(7, exp);

    const code = new Bytes();
    uleb(code, this.funcs.length);
    for (const f of this.funcs) {
      const body = f.encode();
      uleb(code, body.length);
      code.append(body);
    }
    section(10, code);
    return out.view().slice();
  }
}
