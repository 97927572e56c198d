/**
 * Filecoin RLE+ bitfields (sector number sets: partition sectors, Skipped, recoveries).
 *
 * Wire format (Filecoin spec "RLE+ Bitset Encoding", as implemented by go-bitfield `rle/` and
 * ref-fvm `ipld/bitfield/src/rleplus/`), bits written least-significant-bit first into each byte:
 *
 *   <encoding> ::= <version "00"> <first-run value bit> <block>*
 *   <block>    ::= "1"                       run of length 1
 *                | "01" <4-bit length>       run of length 2..15   (low bits first)
 *                | "00" <unsigned varint>    run of length >= 16   (varint bytes, each 8 bits LSB first)
 *
 * Runs alternate between unset and set bits starting with the value in the header bit. The stream
 * ends where only zero bits remain (the bytes are implicitly followed by infinite zeros), so the
 * final byte is never 0 and an empty set is encoded as zero bytes.
 *
 * In memory a BitField is a sorted list of disjoint, non-adjacent [start, end) ranges of set bits,
 * so a million consecutive sector numbers cost one range, not a million entries. Bit indexes are
 * JS numbers and must stay <= Number.MAX_SAFE_INTEGER (2^53 - 1); sector numbers are far below.
 *
 * Decoding strictness — two rule sets exist upstream and they differ:
 *  - ref-fvm `fvm_ipld_bitfield` (what the builtin actors run on chain, so what a
 *    SubmitWindowedPoSt / DeclareFaultsRecovered parameter must satisfy) accepts only the unique
 *    minimal encoding: no trailing zero byte, version 0, no short block of length < 2, no varint
 *    block of length < 16 (so also no zero-length run), minimal varints, no trailing run of unset
 *    bits, nothing non-zero after the last run, total length fits in uint64.
 *  - go-bitfield `rlepluslazy` (Lotus) only rejects a trailing zero byte, a version != 0, a
 *    non-minimal or over-long varint and a uint64 overflow of the total length. A zero-length
 *    short/varint block simply ends the stream there (anything after it is ignored), and
 *    non-minimal block choices and trailing unset runs are accepted.
 * `BitField.decode` applies the strict (chain) rules by default; `{ strict: false }` reproduces
 * go-bitfield's acceptance exactly. The encoder always writes the unique minimal form, which both
 * accept and which is byte-identical to go-bitfield `EncodeRuns` and fvm `to_bytes`.
 */

import { SmError } from "../util/errors.js";
import type { BitFieldErrorCode } from "./errors.js";

export type { BitFieldErrorCode };

export class BitFieldError extends SmError {
  override name = "BitFieldError";
  declare readonly code: BitFieldErrorCode;

  constructor(code: BitFieldErrorCode, message: string, fields: Record<string, unknown> = {}) {
    super(code, message, fields);
  }
}

/** One run of equal bits; runs of a bitfield alternate and start at bit 0. */
export interface Run {
  readonly value: boolean;
  readonly length: number;
}

export interface DecodeOptions {
  /**
   * true (default): ref-fvm / on-chain rules, only the unique minimal encoding is accepted.
   * false: exactly what go-bitfield's rlepluslazy accepts (see the module comment).
   */
  readonly strict?: boolean;
}

/**
 * Largest encoded bitfield the actors and go-bitfield accept inside CBOR (32 KiB; go-bitfield
 * `MaxEncodedSize`, fvm `MAX_ENCODED_SIZE`). Enforced by the CBOR layer, not by `decode`.
 */
export const MAX_ENCODED_SIZE = 32 << 10;

/** Exclusive upper bound of a range: every stored index is <= MAX_SAFE_INTEGER. */
const LIMIT = Number.MAX_SAFE_INTEGER + 1; // 2^53, exactly representable
const U64_MAX = (1n << 64n) - 1n;

function fail(code: BitFieldErrorCode, message: string, fields: Record<string, unknown> = {}): never {
  throw new BitFieldError(code, message, fields);
}

/** Validates one bit index given as number or bigint. */
function toIndex(value: unknown, what: string): number {
  if (typeof value === "bigint") {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
      fail(
        value < 0n ? "BITFIELD_INVALID_INPUT" : "BITFIELD_UNSAFE_INTEGER",
        `${what}: ${value} is not a bit index in 0..Number.MAX_SAFE_INTEGER`,
      );
    }
    return Number(value);
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    fail("BITFIELD_INVALID_INPUT", `${what}: ${String(value)} is not a non-negative integer`);
  }
  if (value > Number.MAX_SAFE_INTEGER) {
    fail("BITFIELD_UNSAFE_INTEGER", `${what}: ${value} exceeds Number.MAX_SAFE_INTEGER`);
  }
  return value;
}

/** Growable list of [start, end) pairs that coalesces touching ranges as they are appended in order. */
class RangeBuilder {
  private buf = new Float64Array(16);
  private len = 0;

  /** Appends [start, end); start must be >= the previous end. Empty ranges are ignored. */
  push(start: number, end: number): void {
    if (end <= start) return;
    if (this.len > 0 && this.buf[this.len - 1] === start) {
      this.buf[this.len - 1] = end;
      return;
    }
    if (this.len + 2 > this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.len++] = start;
    this.buf[this.len++] = end;
  }

  finish(): BitField {
    return wrapRanges(this.buf.slice(0, this.len));
  }
}

/** LSB-first bit writer. */
class BitWriter {
  private buf = new Uint8Array(64);
  private len = 0;
  private acc = 0; // pending bits, < 2^16
  private nbits = 0; // number of pending bits, < 8 between calls

  /** Writes the low `count` (<= 8) bits of `value`. */
  put(value: number, count: number): void {
    this.acc |= value << this.nbits;
    this.nbits += count;
    if (this.nbits >= 8) {
      this.pushByte(this.acc & 0xff);
      this.acc >>>= 8;
      this.nbits -= 8;
    }
  }

  /** Writes one run length in its minimal block form. */
  putLength(length: number): void {
    if (length === 1) {
      this.put(1, 1);
    } else if (length < 16) {
      this.put(0b10, 2);
      this.put(length, 4);
    } else {
      this.put(0b00, 2);
      // Unsigned LEB128; division keeps it exact above 2^32 (bit operators are 32-bit).
      let rest = length;
      while (rest >= 0x80) {
        this.put((rest % 0x80) | 0x80, 8);
        rest = Math.floor(rest / 0x80);
      }
      this.put(rest, 8);
    }
  }

  finish(): Uint8Array {
    if (this.nbits > 0) this.pushByte(this.acc & 0xff);
    let end = this.len;
    // The stream is implicitly zero-padded, so trailing zero bytes are dropped (both upstream
    // encoders do this; decoders reject them).
    while (end > 0 && this.buf[end - 1] === 0) end--;
    return this.buf.slice(0, end);
  }

  private pushByte(b: number): void {
    if (this.len === this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.len++] = b;
  }
}

/** LSB-first bit reader over bytes followed by infinite zero bits. */
class BitReader {
  private byte = 0;
  private bit = 0;

  constructor(private readonly bytes: Uint8Array) {}

  /** Absolute bit offset, for error messages. */
  get offset(): number {
    return this.byte * 8 + this.bit;
  }

  /** Reads `count` (<= 8) bits. */
  read(count: number): number {
    const v = this.peek(count);
    this.bit += count;
    if (this.bit >= 8) {
      this.bit -= 8;
      this.byte++;
    }
    return v;
  }

  peek(count: number): number {
    const lo = this.bytes[this.byte] ?? 0;
    const hi = this.bytes[this.byte + 1] ?? 0;
    return ((lo | (hi << 8)) >>> this.bit) & ((1 << count) - 1);
  }

  /** True if any non-zero bit remains (the caller has already rejected a trailing zero byte). */
  hasMore(): boolean {
    const cur = this.bytes[this.byte];
    if (cur === undefined) return false;
    return cur >>> this.bit !== 0 || this.byte + 1 < this.bytes.length;
  }
}

/**
 * Reads an unsigned LEB128 varint of at most 10 bytes (a full uint64), rejecting the same inputs
 * as both upstream readers: a 10th byte > 1 or a continuation past 10 bytes (over 64 bits), and a
 * final 0x00 byte after other bytes (not minimal). Returns a number when <= MAX_SAFE_INTEGER,
 * otherwise an exact bigint.
 */
function readVarint(r: BitReader): number | bigint {
  const at = r.offset;
  let small = 0;
  let big: bigint | null = null;
  for (let i = 0; i < 10; i++) {
    const b = r.read(8);
    const part = b & 0x7f;
    // The first 7 bytes carry 49 bits, exact in a double; later bytes go through bigint.
    if (i < 7) small += part * 2 ** (7 * i);
    else big = (big ?? BigInt(small)) + (BigInt(part) << BigInt(7 * i));
    if ((b & 0x80) === 0) {
      if (i === 9 && b > 1) {
        fail("BITFIELD_INVALID_VARINT", `RLE+ varint at bit ${at} exceeds 64 bits`, { offset: at });
      }
      if (b === 0 && i > 0) {
        fail("BITFIELD_INVALID_VARINT", `RLE+ varint at bit ${at} is not minimally encoded (ends in 0x00)`, {
          offset: at,
        });
      }
      if (big !== null && big <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(big);
      return big ?? small;
    }
  }
  return fail("BITFIELD_INVALID_VARINT", `RLE+ varint at bit ${at} is longer than 10 bytes`, { offset: at });
}

/** Accumulates decoded runs into ranges, tracking the uint64 total and the safe-integer limit. */
class RunSink {
  private pos = 0; // exact while bigPos is null
  private bigPos: bigint | null = null;
  unsafeIndex = false;
  readonly out = new RangeBuilder();

  add(length: number | bigint, value: boolean, at: number): void {
    if (this.bigPos === null && typeof length === "number" && length <= LIMIT - this.pos) {
      if (value) this.out.push(this.pos, this.pos + length);
      this.pos += length;
      return;
    }
    this.bigPos = (this.bigPos ?? BigInt(this.pos)) + BigInt(length);
    if (this.bigPos > U64_MAX) {
      fail("BITFIELD_OVERFLOW", `RLE+ run at bit ${at} makes the total length exceed 2^64 - 1`, {
        offset: at,
      });
    }
    // A set bit beyond 2^53 - 1 is valid RLE+ but cannot be held as a JS number; reported after
    // the whole stream has been validated so that format errors take precedence.
    if (value) this.unsafeIndex = true;
  }
}

function decodeStrict(bytes: Uint8Array): BitField {
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0) {
    fail("BITFIELD_NOT_MINIMAL", "RLE+ not minimally encoded: trailing zero byte");
  }
  const r = new BitReader(bytes);
  const version = r.read(2);
  if (version !== 0) {
    fail("BITFIELD_WRONG_VERSION", `RLE+ version ${version} is not supported (expected 0)`, { version });
  }
  let value = r.read(1) === 1;
  const sink = new RunSink();
  let runs = 0;
  while (r.hasMore()) {
    const at = r.offset;
    let length: number | bigint;
    if (r.peek(1) === 1) {
      r.read(1);
      length = 1;
    } else if (r.peek(2) === 0b10) {
      r.read(2);
      length = r.read(4);
      if (length === 0) {
        fail("BITFIELD_NOT_MINIMAL", `RLE+ zero-length run (short block) at bit ${at}`, { offset: at });
      }
      if (length === 1) {
        fail("BITFIELD_NOT_MINIMAL", `RLE+ run of length 1 at bit ${at} uses a short block instead of "1"`, {
          offset: at,
        });
      }
    } else {
      r.read(2);
      length = readVarint(r);
      if (length === 0) {
        fail("BITFIELD_NOT_MINIMAL", `RLE+ zero-length run (varint block) at bit ${at}`, { offset: at });
      }
      if (typeof length === "number" && length < 16) {
        fail(
          "BITFIELD_NOT_MINIMAL",
          `RLE+ run of length ${length} at bit ${at} uses a varint block; lengths < 16 must use a shorter block`,
          { offset: at, length },
        );
      }
    }
    sink.add(length, value, at);
    value = !value;
    runs++;
  }
  // `value` is the value the next run would have had: true means the last run was unset bits
  // (or the header promised a first set run that never came).
  if (value) {
    fail(
      "BITFIELD_NOT_MINIMAL",
      runs === 0
        ? "RLE+ not minimally encoded: header announces a run of set bits but no run follows"
        : "RLE+ not minimally encoded: ends with a run of unset bits",
    );
  }
  return finishDecode(sink);
}

function decodeGoBitfield(bytes: Uint8Array): BitField {
  // Same checks, in the same order, as go-bitfield FromBuf + ValidateRLE/DecodeRLE.
  if (bytes.length > 0 && ((bytes[0] ?? 0) & 3) !== 0) {
    fail("BITFIELD_WRONG_VERSION", `RLE+ version ${(bytes[0] ?? 0) & 3} is not supported (expected 0)`);
  }
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0) {
    fail("BITFIELD_NOT_MINIMAL", "RLE+ not minimally encoded: trailing zero byte");
  }
  const r = new BitReader(bytes);
  r.read(2);
  let value = r.read(1) === 1;
  const sink = new RunSink();
  for (;;) {
    const at = r.offset;
    let length: number | bigint;
    if (r.peek(1) === 1) {
      r.read(1);
      length = 1;
    } else if (r.peek(2) === 0b10) {
      r.read(2);
      length = r.read(4);
    } else {
      r.read(2);
      length = readVarint(r);
    }
    // A zero-length block (explicit, or the implicit zero padding) ends the stream in go-bitfield.
    if (length === 0) break;
    sink.add(length, value, at);
    value = !value;
  }
  return finishDecode(sink);
}

function finishDecode(sink: RunSink): BitField {
  if (sink.unsafeIndex) {
    fail("BITFIELD_UNSAFE_INTEGER", "RLE+ bitfield sets a bit above Number.MAX_SAFE_INTEGER");
  }
  return sink.out.finish();
}

const EMPTY_RANGES = new Float64Array(0);

/** Wraps ranges that already satisfy the class invariant (no copy, no checks); set by BitField's static block. */
let wrapRanges!: (ranges: Float64Array) => BitField;

export class BitField implements Iterable<number> {
  /** Flat [start0, end0, start1, end1, ...]: sorted, disjoint, non-adjacent, non-empty ranges. */
  readonly #r: Float64Array;
  #count = -1;

  private constructor(ranges: Float64Array) {
    this.#r = ranges;
  }

  static {
    wrapRanges = (ranges) => new BitField(ranges);
  }

  static empty(): BitField {
    return new BitField(EMPTY_RANGES);
  }

  /** Set of the given bit indexes (any order, duplicates allowed; number or bigint). */
  static fromNumbers(values: Iterable<number | bigint>): BitField {
    const list: number[] = [];
    let sorted = true;
    let prev = -1;
    let i = 0;
    for (const v of values) {
      const n = toIndex(v, `fromNumbers: value #${i}`);
      if (n < prev) sorted = false;
      prev = n;
      list.push(n);
      i++;
    }
    const arr = Float64Array.from(list);
    if (!sorted) arr.sort(); // typed-array sort is numeric
    const b = new RangeBuilder();
    let start = -1;
    let end = -1;
    for (const n of arr) {
      if (n < end) continue; // duplicate
      if (n === end) {
        end++;
        continue;
      }
      b.push(start, end);
      start = n;
      end = n + 1;
    }
    b.push(start, end);
    return b.finish();
  }

  /** Set of the half-open ranges [start, end) (any order, may overlap or be empty). */
  static fromRanges(ranges: Iterable<readonly [number, number]>): BitField {
    const list: Array<[number, number]> = [];
    let i = 0;
    for (const [s, e] of ranges) {
      const start = toIndex(s, `fromRanges: range #${i} start`);
      if (typeof e !== "number" || !Number.isInteger(e) || e < start || e > LIMIT) {
        fail(
          "BITFIELD_INVALID_INPUT",
          `fromRanges: range #${i} end ${String(e)} is not an integer in ${start}..2^53`,
        );
      }
      if (e > start) list.push([start, e]);
      i++;
    }
    list.sort((a, b) => a[0] - b[0]);
    const b = new RangeBuilder();
    let cs = -1;
    let ce = -1;
    for (const [s, e] of list) {
      if (s <= ce) {
        if (e > ce) ce = e;
        continue;
      }
      b.push(cs, ce);
      cs = s;
      ce = e;
    }
    b.push(cs, ce);
    return b.finish();
  }

  /**
   * Bitfield from alternating runs starting at bit 0 (go-bitfield `NewFromIter`). Runs must be
   * non-empty and alternate in value (go-bitfield's encoder rejects two same-value runs in a row);
   * a final unset run is allowed and has no effect.
   */
  static fromRuns(runs: Iterable<Run>): BitField {
    const b = new RangeBuilder();
    let pos = 0;
    let beyond = false; // pos has passed 2^53 (only unset bits may follow)
    let prev: boolean | undefined;
    let i = 0;
    for (const run of runs) {
      const { value, length } = run;
      if (typeof value !== "boolean")
        fail("BITFIELD_INVALID_INPUT", `fromRuns: run #${i} value is not a boolean`);
      if (typeof length !== "number" || !Number.isInteger(length) || length <= 0) {
        fail(
          "BITFIELD_INVALID_INPUT",
          `fromRuns: run #${i} length ${String(length)} is not a positive integer`,
        );
      }
      if (prev === value) {
        fail("BITFIELD_INVALID_INPUT", `fromRuns: runs #${i - 1} and #${i} have the same value (${value})`);
      }
      if (beyond || length > LIMIT - pos) {
        // Unset bits past 2^53 are harmless only if nothing is set after them.
        if (value)
          fail("BITFIELD_UNSAFE_INTEGER", `fromRuns: run #${i} sets bits above Number.MAX_SAFE_INTEGER`);
        beyond = true;
      } else {
        if (value) b.push(pos, pos + length);
        pos += length;
      }
      prev = value;
      i++;
    }
    return b.finish();
  }

  /**
   * Lotus JSON form (go-bitfield `RLE.UnmarshalJSON`): an array of run lengths, the first counting
   * unset bits, so `[0, 3, 2, 1]` = {0, 1, 2, 5}. Only the first element may be 0; a trailing unset
   * run is ignored; `[]`, `[0]` and `null` are the empty set (Go decodes JSON null into an empty
   * slice). Elements must be integers in 0..2^64-1, as for Go's []uint64.
   */
  static fromLotusJSON(value: unknown): BitField {
    if (value === null) return BitField.empty();
    if (!Array.isArray(value)) {
      fail("BITFIELD_INVALID_INPUT", `bitfield JSON must be an array of run lengths, got ${describe(value)}`);
    }
    const runs: Run[] = [];
    let setNext = false;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      let length: number;
      if (typeof v === "bigint") {
        if (v < 0n || v > U64_MAX)
          fail("BITFIELD_INVALID_INPUT", `bitfield JSON element #${i} (${v}) is not a uint64`);
        length = Number(v);
      } else if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 2 ** 64) {
        length = v;
      } else {
        fail(
          "BITFIELD_INVALID_INPUT",
          `bitfield JSON element #${i} (${describe(v)}) is not a uint64 run length`,
        );
      }
      if (length === 0) {
        if (i !== 0)
          fail(
            "BITFIELD_INVALID_INPUT",
            `bitfield JSON element #${i} is a zero-length run (only the first may be 0)`,
          );
      } else {
        if (length > Number.MAX_SAFE_INTEGER && (setNext || i !== value.length - 1)) {
          fail(
            "BITFIELD_UNSAFE_INTEGER",
            `bitfield JSON element #${i} (${length}) exceeds Number.MAX_SAFE_INTEGER`,
          );
        }
        runs.push({ value: setNext, length });
      }
      setNext = !setNext;
    }
    return BitField.fromRuns(runs);
  }

  /**
   * Decodes RLE+ bytes. Strict (default) = on-chain fvm rules; `{ strict: false }` = exactly the
   * inputs go-bitfield accepts. Throws BitFieldError naming the problem and its bit offset.
   */
  static decode(bytes: Uint8Array, options: DecodeOptions = {}): BitField {
    return options.strict === false ? decodeGoBitfield(bytes) : decodeStrict(bytes);
  }

  /** Union of any number of bitfields (go-bitfield `MultiMerge`). */
  static unionAll(fields: Iterable<BitField>): BitField {
    const all: Array<[number, number]> = [];
    for (const f of fields) for (const r of f.ranges()) all.push(r);
    return BitField.fromRanges(all);
  }

  /** The unique minimal RLE+ encoding (empty set → zero bytes). */
  encode(): Uint8Array {
    const r = this.#r;
    if (r.length === 0) return new Uint8Array(0);
    const w = new BitWriter();
    w.put(0, 2); // version 00
    const first = r[0]!;
    if (first === 0) {
      w.put(1, 1);
    } else {
      w.put(0, 1);
      w.putLength(first);
    }
    let prevEnd = first;
    for (let i = 0; i < r.length; i += 2) {
      const s = r[i]!;
      const e = r[i + 1]!;
      if (i > 0) w.putLength(s - prevEnd);
      w.putLength(e - s);
      prevEnd = e;
    }
    return w.finish();
  }

  /** Lotus JSON form (go-bitfield `RLE.MarshalJSON`): `[unsetRun, setRun, unsetRun, ...]`, `[0]` when empty. */
  toLotusJSON(): number[] {
    const out: number[] = [];
    const r = this.#r;
    if (r.length === 0) return [0];
    let prevEnd = 0;
    for (let i = 0; i < r.length; i += 2) {
      const s = r[i]!;
      const e = r[i + 1]!;
      out.push(s - prevEnd, e - s);
      prevEnd = e;
    }
    return out;
  }

  /** Alternating runs from bit 0, without a trailing unset run (go-bitfield's RunIterator after re-encoding). */
  *runs(): IterableIterator<Run> {
    const r = this.#r;
    let prevEnd = 0;
    for (let i = 0; i < r.length; i += 2) {
      const s = r[i]!;
      const e = r[i + 1]!;
      if (s > prevEnd) yield { value: false, length: s - prevEnd };
      yield { value: true, length: e - s };
      prevEnd = e;
    }
  }

  /** Set ranges as [start, endExclusive]. */
  *ranges(): IterableIterator<[number, number]> {
    const r = this.#r;
    for (let i = 0; i < r.length; i += 2) yield [r[i]!, r[i + 1]!];
  }

  /** Number of ranges (runs of set bits). */
  get rangeCount(): number {
    return this.#r.length / 2;
  }

  *[Symbol.iterator](): IterableIterator<number> {
    const r = this.#r;
    for (let i = 0; i < r.length; i += 2) {
      const e = r[i + 1]!;
      for (let n = r[i]!; n < e; n++) yield n;
    }
  }

  /** All set bits in ascending order; throws if there are more than `max` (go-bitfield `All(max)`). */
  toNumbers(max = Number.POSITIVE_INFINITY): number[] {
    const c = this.count();
    if (c > max)
      fail("BITFIELD_TOO_MANY", `bitfield has ${c} set bits, more than the allowed ${max}`, {
        count: c,
        max,
      });
    const out = new Array<number>(c);
    const r = this.#r;
    let k = 0;
    for (let i = 0; i < r.length; i += 2) {
      const e = r[i + 1]!;
      for (let n = r[i]!; n < e; n++) out[k++] = n;
    }
    return out;
  }

  count(): number {
    if (this.#count < 0) {
      let c = 0;
      const r = this.#r;
      for (let i = 0; i < r.length; i += 2) c += r[i + 1]! - r[i]!;
      this.#count = c;
    }
    return this.#count;
  }

  isEmpty(): boolean {
    return this.#r.length === 0;
  }

  /** Lowest set bit, undefined when empty (go-bitfield `First` returns ErrNoBitsSet). */
  first(): number | undefined {
    return this.#r[0];
  }

  /** Highest set bit, undefined when empty. */
  last(): number | undefined {
    const e = this.#r[this.#r.length - 1];
    return e === undefined ? undefined : e - 1;
  }

  has(n: number): boolean {
    if (!Number.isInteger(n) || n < 0) return false;
    const r = this.#r;
    // Largest range index whose start <= n.
    let lo = 0;
    let hi = r.length / 2 - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (r[2 * mid]! <= n) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && n < r[2 * hi + 1]!;
  }

  equals(other: BitField): boolean {
    const a = this.#r;
    const b = other.#r;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  union(other: BitField): BitField {
    const a = this.#r;
    const b = other.#r;
    if (b.length === 0) return this;
    if (a.length === 0) return other;
    const out = new RangeBuilder();
    let i = 0;
    let j = 0;
    let cs = -1;
    let ce = -1;
    while (i < a.length || j < b.length) {
      let s: number;
      let e: number;
      if (j >= b.length || (i < a.length && a[i]! <= b[j]!)) {
        s = a[i]!;
        e = a[i + 1]!;
        i += 2;
      } else {
        s = b[j]!;
        e = b[j + 1]!;
        j += 2;
      }
      if (s <= ce) {
        if (e > ce) ce = e;
      } else {
        out.push(cs, ce);
        cs = s;
        ce = e;
      }
    }
    out.push(cs, ce);
    return out.finish();
  }

  intersect(other: BitField): BitField {
    const a = this.#r;
    const b = other.#r;
    const out = new RangeBuilder();
    let i = 0;
    let j = 0;
    while (i < a.length && j < b.length) {
      const s = Math.max(a[i]!, b[j]!);
      const ae = a[i + 1]!;
      const be = b[j + 1]!;
      const e = Math.min(ae, be);
      if (s < e) out.push(s, e);
      if (ae <= be) i += 2;
      else j += 2;
    }
    return out.finish();
  }

  /** Bits set here and not in `other`. */
  subtract(other: BitField): BitField {
    const a = this.#r;
    const b = other.#r;
    if (a.length === 0 || b.length === 0) return this;
    const out = new RangeBuilder();
    let j = 0;
    for (let i = 0; i < a.length; i += 2) {
      let s = a[i]!;
      const e = a[i + 1]!;
      while (j < b.length && b[j + 1]! <= s) j += 2; // skip b ranges entirely before s
      let k = j;
      while (k < b.length && b[k]! < e) {
        out.push(s, b[k]!);
        s = Math.max(s, b[k + 1]!);
        if (b[k + 1]! > e) break;
        k += 2;
      }
      out.push(s, e);
      j = k;
    }
    return out.finish();
  }

  /**
   * Skips `start` set bits and keeps the next `count` (go-bitfield `Slice`); throws when fewer than
   * start + count bits are set, as go-bitfield does.
   */
  slice(start: number, count: number): BitField {
    const skip = toIndex(start, "slice start");
    const take = toIndex(count, "slice count");
    if (this.count() < skip + take) {
      fail(
        "BITFIELD_NOT_ENOUGH_BITS",
        `bitfield has ${this.count()} set bits, cannot slice ${take} after skipping ${skip}`,
      );
    }
    const out = new RangeBuilder();
    let toSkip = skip;
    let toTake = take;
    const r = this.#r;
    for (let i = 0; i < r.length && toTake > 0; i += 2) {
      let s = r[i]!;
      const e = r[i + 1]!;
      const len = e - s;
      if (toSkip >= len) {
        toSkip -= len;
        continue;
      }
      s += toSkip;
      toSkip = 0;
      const n = Math.min(e - s, toTake);
      out.push(s, s + n);
      toTake -= n;
    }
    return out.finish();
  }

  /** Short human-readable form, e.g. `BitField{0-2,5}` (long fields are abbreviated). */
  toString(): string {
    const parts: string[] = [];
    const r = this.#r;
    const shown = Math.min(r.length, 32);
    for (let i = 0; i < shown; i += 2) {
      const s = r[i]!;
      const e = r[i + 1]! - 1;
      parts.push(s === e ? `${s}` : `${s}-${e}`);
    }
    if (shown < r.length) parts.push(`… ${(r.length - shown) / 2} more ranges, ${this.count()} bits`);
    return `BitField{${parts.join(",")}}`;
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "object") return "object";
  return String(v);
}
