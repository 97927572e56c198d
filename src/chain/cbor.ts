/**
 * Strict DAG-CBOR codec, the subset Filecoin actor params and messages use.
 *
 * DAG-CBOR (ipld.io/specs/codecs/dag-cbor/spec) is CBOR (RFC 8949) restricted to one encoding per
 * value: shortest ("preferred") integer and length arguments, definite lengths only, map keys that
 * are text strings sorted length-first then bytewise (RFC 7049 §3.9 canonical order) without
 * duplicates, tag 42 as the only tag (a CID as a byte string with a leading 0x00 multibase-identity
 * byte), and no undefined / simple values. DAG-CBOR also allows 64-bit floats, but no Filecoin
 * structure contains a float, so this codec rejects every float rather than carry an unused path.
 *
 * Value mapping:
 *   unsigned / negative int  ↔ number when within ±(2^53 - 1), bigint beyond (range -2^64 .. 2^64-1)
 *   byte string              ↔ Uint8Array (decoded values are copies, never views of the input)
 *   text string              ↔ string (must be well-formed UTF-8 / have no lone surrogates)
 *   array                    ↔ CborValue[]
 *   map (text keys only)     ↔ Map<string, CborValue>
 *   tag 42                   ↔ Cid
 *   false / true / null      ↔ boolean / null
 *
 * Filecoin structs are "tuple" encoded (cbor-gen `tuple` mode, fvm `serde_tuple`): an array of the
 * fields in declaration order, so they map to CborValue[] here (see params.ts, message.ts).
 *
 * The decoder never trusts a declared length: a byte/text string must fit in the remaining input
 * and an array/map must fit with at least one byte per item, so hostile input cannot make it
 * allocate more than the input size. Errors are SmError "CBOR_DECODE" naming the byte offset.
 *
 * test/unit/chain/cborDagCbor.test.ts checks this codec against @ipld/dag-cbor on seeded random
 * values, both directions, and lists where the two differ on purpose.
 */

import { SmError } from "../util/errors.js";
import { Cid } from "./cid.js";

export type CborValue = number | bigint | Uint8Array | string | boolean | null | CborValue[] | CborMap | Cid;
export type CborMap = Map<string, CborValue>;

export class CborError extends SmError {
  override name = "CborError";
  declare readonly code: "CBOR_DECODE" | "CBOR_ENCODE";

  constructor(
    code: "CBOR_DECODE" | "CBOR_ENCODE",
    message: string,
    fields: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, fields, options);
  }
}

export interface CborOptions {
  /** Maximum nesting of arrays/maps/tags (default 64; Filecoin params nest about 4 deep). */
  readonly maxDepth?: number;
}

const DEFAULT_MAX_DEPTH = 64;
const TAG_CID = 42;
const U64_MAX = (1n << 64n) - 1n;
const TWO_32 = 0x1_0000_0000;
const MAJOR_NAMES = [
  "unsigned int",
  "negative int",
  "byte string",
  "text string",
  "array",
  "map",
  "tag",
  "simple/float",
];

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Decoding

function decodeFail(offset: number, problem: string, cause?: unknown): never {
  throw new CborError(
    "CBOR_DECODE",
    `CBOR decode error at byte ${offset}: ${problem}`,
    { offset },
    { cause },
  );
}

interface Header {
  readonly major: number;
  /** Argument: number when <= MAX_SAFE_INTEGER, bigint above. For major 7, the additional info. */
  readonly arg: number | bigint;
  readonly info: number;
  readonly start: number;
}

class Decoder {
  pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly maxDepth: number,
  ) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, start: number, what: string): void {
    if (this.remaining < n) {
      decodeFail(start, `truncated input: ${what} needs ${n} more byte(s), ${this.remaining} left`);
    }
  }

  private readUint(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + this.buf[this.pos++]!;
    return v;
  }

  header(): Header {
    const start = this.pos;
    this.need(1, start, "item header");
    const initial = this.buf[this.pos++]!;
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (info < 24) return { major, arg: info, info, start };
    if (info === 31) {
      decodeFail(
        start,
        major === 7
          ? "unexpected 'break' (0xff); indefinite-length items are not allowed in DAG-CBOR"
          : `indefinite-length ${MAJOR_NAMES[major]} is not allowed in DAG-CBOR`,
      );
    }
    if (info > 27)
      decodeFail(start, `reserved additional information ${info} in initial byte 0x${hex(initial)}`);
    if (major === 7) {
      // 24 = one-byte simple value, 25/26/27 = half/single/double float: checked by the caller.
      return { major, arg: info, info, start };
    }
    const size = 1 << (info - 24); // 1, 2, 4 or 8 bytes
    this.need(size, start, `${size}-byte argument`);
    let arg: number | bigint;
    let min: number;
    if (size < 8) {
      arg = this.readUint(size);
      min = size === 1 ? 24 : size === 2 ? 0x100 : 0x10000;
    } else {
      const hi = this.readUint(4);
      const lo = this.readUint(4);
      // hi < 2^21 keeps hi * 2^32 + lo <= 2^53 - 1, exact as a number.
      arg = hi < 0x20_0000 ? hi * TWO_32 + lo : (BigInt(hi) << 32n) | BigInt(lo);
      min = TWO_32;
    }
    if (arg < min) {
      decodeFail(
        start,
        `non-canonical encoding: argument ${arg} written with ${size} byte(s) (use the shortest form)`,
      );
    }
    return { major, arg, info, start };
  }

  /** Length argument as a number, rejecting anything that cannot fit in the remaining input. */
  private length(h: Header, perItem: number, what: string): number {
    const n = h.arg;
    if (typeof n === "bigint" || n * perItem > this.remaining) {
      decodeFail(
        h.start,
        `${what} declares length ${n} but only ${this.remaining} byte(s) remain (truncated or absurd length)`,
      );
    }
    return n;
  }

  item(depth: number): CborValue {
    const h = this.header();
    switch (h.major) {
      case 0:
        return h.arg;
      case 1:
        // -1 - (2^53 - 1) = -2^53 is exact but outside the safe range, so it becomes a bigint too.
        return typeof h.arg === "number" && h.arg < Number.MAX_SAFE_INTEGER
          ? -1 - h.arg
          : -1n - BigInt(h.arg);
      case 2: {
        const n = this.length(h, 1, "byte string");
        const out = this.buf.slice(this.pos, this.pos + n);
        this.pos += n;
        return out;
      }
      case 3: {
        const n = this.length(h, 1, "text string");
        const bytes = this.buf.subarray(this.pos, this.pos + n);
        this.pos += n;
        try {
          return utf8Decoder.decode(bytes);
        } catch (err) {
          return decodeFail(h.start, "text string is not valid UTF-8", err);
        }
      }
      case 4: {
        const n = this.length(h, 1, "array");
        this.enter(depth, h.start);
        const out: CborValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.item(depth + 1);
        return out;
      }
      case 5:
        return this.map(h, depth);
      case 6:
        return this.tag(h, depth);
      default:
        return this.simple(h);
    }
  }

  private enter(depth: number, start: number): void {
    if (depth >= this.maxDepth) decodeFail(start, `nesting deeper than ${this.maxDepth} levels`);
  }

  private map(h: Header, depth: number): CborMap {
    const n = this.length(h, 2, "map");
    this.enter(depth, h.start);
    const out: CborMap = new Map();
    let prevKey: Uint8Array | null = null;
    for (let i = 0; i < n; i++) {
      const kh = this.header();
      if (kh.major !== 3) decodeFail(kh.start, `map key must be a text string, got ${MAJOR_NAMES[kh.major]}`);
      const kn = this.length(kh, 1, "map key");
      const keyBytes = this.buf.subarray(this.pos, this.pos + kn);
      this.pos += kn;
      if (prevKey !== null) {
        const order = compareKeys(prevKey, keyBytes);
        if (order === 0) decodeFail(kh.start, "duplicate map key");
        if (order > 0)
          decodeFail(kh.start, "map keys are not in DAG-CBOR order (length-first, then bytewise)");
      }
      prevKey = keyBytes;
      let key: string;
      try {
        key = utf8Decoder.decode(keyBytes);
      } catch (err) {
        return decodeFail(kh.start, "map key is not valid UTF-8", err);
      }
      out.set(key, this.item(depth + 1));
    }
    return out;
  }

  private tag(h: Header, depth: number): Cid {
    if (h.arg !== TAG_CID)
      decodeFail(h.start, `tag ${h.arg} is not allowed (DAG-CBOR permits only tag 42, CID)`);
    this.enter(depth, h.start);
    const bh = this.header();
    if (bh.major !== 2) decodeFail(bh.start, `tag 42 must wrap a byte string, got ${MAJOR_NAMES[bh.major]}`);
    const n = this.length(bh, 1, "CID byte string");
    const bytes = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    if (bytes[0] !== 0x00) decodeFail(bh.start, "tag 42 CID bytes must start with the 0x00 multibase prefix");
    try {
      return Cid.fromBytes(bytes.subarray(1));
    } catch (err) {
      if (err instanceof SmError && err.code === "CID_INVALID")
        return decodeFail(bh.start, `invalid CID in tag 42: ${err.message}`, err);
      throw err;
    }
  }

  private simple(h: Header): boolean | null {
    switch (h.info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return decodeFail(h.start, "'undefined' (0xf7) is not allowed in DAG-CBOR");
      case 25:
      case 26:
      case 27:
        return decodeFail(
          h.start,
          "floating-point values are not supported (no Filecoin structure uses them)",
        );
      default:
        return decodeFail(h.start, "simple values other than false/true/null are not allowed in DAG-CBOR");
    }
  }
}

/** Length-first, then bytewise order of encoded keys (DAG-CBOR map key order). */
function compareKeys(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, "0");
}

/** Decodes exactly one DAG-CBOR item; trailing bytes are an error. */
export function decodeCbor(bytes: Uint8Array, options: CborOptions = {}): CborValue {
  if (!(bytes instanceof Uint8Array)) {
    throw new CborError("CBOR_DECODE", "CBOR decode error: input must be a Uint8Array", { offset: 0 });
  }
  const d = new Decoder(bytes, options.maxDepth ?? DEFAULT_MAX_DEPTH);
  if (bytes.length === 0) decodeFail(0, "empty input");
  const value = d.item(0);
  if (d.remaining > 0) decodeFail(d.pos, `${d.remaining} trailing byte(s) after the item`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Encoding

function encodeFail(path: string, problem: string): never {
  throw new CborError("CBOR_ENCODE", `CBOR encode error at ${path}: ${problem}`, { path });
}

class Encoder {
  private buf = new Uint8Array(256);
  private len = 0;

  constructor(private readonly maxDepth: number) {}

  private raw(bytes: Uint8Array | readonly number[]): void {
    if (this.len + bytes.length > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.len + bytes.length) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** Writes a major type with its argument (0 .. 2^64-1) in the shortest form. */
  header(major: number, arg: number | bigint): void {
    const m = major << 5;
    const v = BigInt(arg);
    const size = v < 24n ? 0 : v < 0x100n ? 1 : v < 0x10000n ? 2 : v < 0x1_0000_0000n ? 4 : 8;
    const out = [size === 0 ? m | Number(v) : m | (24 + Math.log2(size))];
    for (let i = size - 1; i >= 0; i--) out.push(Number((v >> BigInt(8 * i)) & 0xffn));
    this.raw(out);
  }

  value(v: CborValue, path: string, depth: number): void {
    if (v === null || typeof v === "boolean") {
      this.raw([v === null ? 0xf6 : v ? 0xf5 : 0xf4]);
    } else if (typeof v === "number") {
      if (!Number.isSafeInteger(v)) {
        encodeFail(path, `${v} is not a safe integer (floats are not supported; use bigint beyond 2^53)`);
      }
      if (v >= 0) this.header(0, v);
      else this.header(1, -1 - v);
    } else if (typeof v === "bigint") {
      if (v > U64_MAX || v < -1n - U64_MAX)
        encodeFail(path, `${v} is outside the CBOR integer range -2^64 .. 2^64-1`);
      if (v >= 0n) this.header(0, v);
      else this.header(1, -1n - v);
    } else if (typeof v === "string") {
      this.text(v, path);
    } else if (v instanceof Uint8Array) {
      this.header(2, v.length);
      this.raw(v);
    } else if (v instanceof Cid) {
      const bytes = v.toBytes();
      this.header(6, TAG_CID);
      this.header(2, bytes.length + 1);
      this.raw([0x00]); // multibase "identity" prefix required inside tag 42
      this.raw(bytes);
    } else if (Array.isArray(v) || v instanceof Map) {
      if (depth >= this.maxDepth)
        encodeFail(path, `nesting deeper than ${this.maxDepth} levels (cyclic value?)`);
      if (Array.isArray(v)) {
        this.header(4, v.length);
        for (let i = 0; i < v.length; i++) this.value(v[i] as CborValue, `${path}[${i}]`, depth + 1);
      } else {
        this.map(v, path, depth);
      }
    } else {
      const kind =
        v === undefined ? "undefined" : typeof v === "object" ? "plain object (use a Map)" : typeof v;
      encodeFail(path, `unsupported value: ${kind}`);
    }
  }

  private text(s: string, path: string): void {
    // TextEncoder would silently turn a lone surrogate into U+FFFD; refuse instead.
    if (/[\uD800-\uDFFF]/u.test(s)) encodeFail(path, "string contains a lone UTF-16 surrogate");
    const bytes = utf8Encoder.encode(s);
    this.header(3, bytes.length);
    this.raw(bytes);
  }

  private map(m: CborMap, path: string, depth: number): void {
    const entries: [Uint8Array, CborValue, string][] = [];
    for (const [k, item] of m as Map<unknown, CborValue>) {
      if (typeof k !== "string") encodeFail(path, `map key ${String(k)} is not a string`);
      if (/[\uD800-\uDFFF]/u.test(k)) encodeFail(path, "map key contains a lone UTF-16 surrogate");
      entries.push([utf8Encoder.encode(k), item, k]);
    }
    entries.sort((a, b) => compareKeys(a[0], b[0]));
    this.header(5, entries.length);
    for (const [kb, item, k] of entries) {
      this.header(3, kb.length);
      this.raw(kb);
      this.value(item, `${path}.${k}`, depth + 1);
    }
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Encodes a value as canonical DAG-CBOR. */
export function encodeCbor(value: CborValue, options: CborOptions = {}): Uint8Array {
  const e = new Encoder(options.maxDepth ?? DEFAULT_MAX_DEPTH);
  e.value(value, "$", 0);
  return e.finish();
}
