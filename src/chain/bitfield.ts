/**
 * Filecoin RLE+ bitfields (sector number sets: partition sectors, Skipped, recoveries): the set
 * type and its operations. The wire codec, with its two upstream rule sets, is chain/rlePlus.ts.
 *
 * In memory a BitField is a sorted list of disjoint, non-adjacent [start, end) ranges of set bits,
 * so a million consecutive sector numbers cost one range, not a million entries. Bit indexes are
 * JS numbers and must stay <= Number.MAX_SAFE_INTEGER (2^53 - 1); sector numbers are far below.
 */

import {
  type DecodeOptions,
  decodeRlePlus,
  encodeRlePlus,
  failBitField,
  LIMIT,
  RangeBuilder,
  U64_MAX,
} from "./rlePlus.js";

export { BitFieldError, type BitFieldErrorCode, type DecodeOptions, MAX_ENCODED_SIZE } from "./rlePlus.js";

/** One run of equal bits; runs of a bitfield alternate and start at bit 0. */
export interface Run {
  readonly value: boolean;
  readonly length: number;
}

/** Validates one bit index given as number or bigint. */
function toIndex(value: unknown, what: string): number {
  if (typeof value === "bigint") {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
      failBitField(
        value < 0n ? "BITFIELD_INVALID_INPUT" : "BITFIELD_UNSAFE_INTEGER",
        `${what}: ${value} is not a bit index in 0..Number.MAX_SAFE_INTEGER`,
      );
    }
    return Number(value);
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    failBitField("BITFIELD_INVALID_INPUT", `${what}: ${String(value)} is not a non-negative integer`);
  }
  if (value > Number.MAX_SAFE_INTEGER) {
    failBitField("BITFIELD_UNSAFE_INTEGER", `${what}: ${value} exceeds Number.MAX_SAFE_INTEGER`);
  }
  return value;
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
    return wrapRanges(b.finish());
  }

  /** Set of the half-open ranges [start, end) (any order, may overlap or be empty). */
  static fromRanges(ranges: Iterable<readonly [number, number]>): BitField {
    const list: Array<[number, number]> = [];
    let i = 0;
    for (const [s, e] of ranges) {
      const start = toIndex(s, `fromRanges: range #${i} start`);
      if (typeof e !== "number" || !Number.isInteger(e) || e < start || e > LIMIT) {
        failBitField(
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
    return wrapRanges(b.finish());
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
        failBitField("BITFIELD_INVALID_INPUT", `fromRuns: run #${i} value is not a boolean`);
      if (typeof length !== "number" || !Number.isInteger(length) || length <= 0) {
        failBitField(
          "BITFIELD_INVALID_INPUT",
          `fromRuns: run #${i} length ${String(length)} is not a positive integer`,
        );
      }
      if (prev === value) {
        failBitField(
          "BITFIELD_INVALID_INPUT",
          `fromRuns: runs #${i - 1} and #${i} have the same value (${value})`,
        );
      }
      if (beyond || length > LIMIT - pos) {
        // Unset bits past 2^53 are harmless only if nothing is set after them.
        if (value)
          failBitField(
            "BITFIELD_UNSAFE_INTEGER",
            `fromRuns: run #${i} sets bits above Number.MAX_SAFE_INTEGER`,
          );
        beyond = true;
      } else {
        if (value) b.push(pos, pos + length);
        pos += length;
      }
      prev = value;
      i++;
    }
    return wrapRanges(b.finish());
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
      failBitField(
        "BITFIELD_INVALID_INPUT",
        `bitfield JSON must be an array of run lengths, got ${describe(value)}`,
      );
    }
    const runs: Run[] = [];
    let setNext = false;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      let length: number;
      if (typeof v === "bigint") {
        if (v < 0n || v > U64_MAX)
          failBitField("BITFIELD_INVALID_INPUT", `bitfield JSON element #${i} (${v}) is not a uint64`);
        length = Number(v);
      } else if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 2 ** 64) {
        length = v;
      } else {
        failBitField(
          "BITFIELD_INVALID_INPUT",
          `bitfield JSON element #${i} (${describe(v)}) is not a uint64 run length`,
        );
      }
      if (length === 0) {
        if (i !== 0)
          failBitField(
            "BITFIELD_INVALID_INPUT",
            `bitfield JSON element #${i} is a zero-length run (only the first may be 0)`,
          );
      } else {
        if (length > Number.MAX_SAFE_INTEGER && (setNext || i !== value.length - 1)) {
          failBitField(
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
    return wrapRanges(decodeRlePlus(bytes, options));
  }

  /** Union of any number of bitfields (go-bitfield `MultiMerge`). */
  static unionAll(fields: Iterable<BitField>): BitField {
    const all: Array<[number, number]> = [];
    for (const f of fields) for (const r of f.ranges()) all.push(r);
    return BitField.fromRanges(all);
  }

  /** The unique minimal RLE+ encoding (empty set → zero bytes). */
  encode(): Uint8Array {
    return encodeRlePlus(this.#r);
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
      failBitField("BITFIELD_TOO_MANY", `bitfield has ${c} set bits, more than the allowed ${max}`, {
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
    return wrapRanges(out.finish());
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
    return wrapRanges(out.finish());
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
    return wrapRanges(out.finish());
  }

  /**
   * Skips `start` set bits and keeps the next `count` (go-bitfield `Slice`); throws when fewer than
   * start + count bits are set, as go-bitfield does.
   */
  slice(start: number, count: number): BitField {
    const skip = toIndex(start, "slice start");
    const take = toIndex(count, "slice count");
    if (this.count() < skip + take) {
      failBitField(
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
    return wrapRanges(out.finish());
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
