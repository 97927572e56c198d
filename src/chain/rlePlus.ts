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
 *
 * The decoders and the encoder work on the flat range list of `BitField` (chain/bitfield.ts), which
 * is the public face of this codec.
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
export const LIMIT = Number.MAX_SAFE_INTEGER + 1; // 2^53, exactly representable
export const U64_MAX = (1n << 64n) - 1n;

export function failBitField(
  code: BitFieldErrorCode,
  message: string,
  fields: Record<string, unknown> = {},
): never {
  throw new BitFieldError(code, message, fields);
}

/** Growable list of [start, end) pairs that coalesces touching ranges as they are appended in order. */
export class RangeBuilder {
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

  /** The ranges as the flat [start0, end0, start1, end1, ...] list BitField keeps. */
  finish(): Float64Array {
    return this.buf.slice(0, this.len);
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
 *
 * Not the shared src/util/varint.ts: here the varint's bytes sit in a bit stream at any bit
 * offset, take up to 10 bytes (a uint64 run length, where multiformats caps at 9), and the
 * result may exceed 2^53, so it is read 8 bits at a time from the BitReader.
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
        failBitField("BITFIELD_INVALID_VARINT", `RLE+ varint at bit ${at} exceeds 64 bits`, { offset: at });
      }
      if (b === 0 && i > 0) {
        failBitField(
          "BITFIELD_INVALID_VARINT",
          `RLE+ varint at bit ${at} is not minimally encoded (ends in 0x00)`,
          {
            offset: at,
          },
        );
      }
      if (big !== null && big <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(big);
      return big ?? small;
    }
  }
  return failBitField("BITFIELD_INVALID_VARINT", `RLE+ varint at bit ${at} is longer than 10 bytes`, {
    offset: at,
  });
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
      failBitField("BITFIELD_OVERFLOW", `RLE+ run at bit ${at} makes the total length exceed 2^64 - 1`, {
        offset: at,
      });
    }
    // A set bit beyond 2^53 - 1 is valid RLE+ but cannot be held as a JS number; reported after
    // the whole stream has been validated so that format errors take precedence.
    if (value) this.unsafeIndex = true;
  }
}

function decodeStrict(bytes: Uint8Array): Float64Array {
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0) {
    failBitField("BITFIELD_NOT_MINIMAL", "RLE+ not minimally encoded: trailing zero byte");
  }
  const r = new BitReader(bytes);
  const version = r.read(2);
  if (version !== 0) {
    failBitField("BITFIELD_WRONG_VERSION", `RLE+ version ${version} is not supported (expected 0)`, {
      version,
    });
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
        failBitField("BITFIELD_NOT_MINIMAL", `RLE+ zero-length run (short block) at bit ${at}`, {
          offset: at,
        });
      }
      if (length === 1) {
        failBitField(
          "BITFIELD_NOT_MINIMAL",
          `RLE+ run of length 1 at bit ${at} uses a short block instead of "1"`,
          {
            offset: at,
          },
        );
      }
    } else {
      r.read(2);
      length = readVarint(r);
      if (length === 0) {
        failBitField("BITFIELD_NOT_MINIMAL", `RLE+ zero-length run (varint block) at bit ${at}`, {
          offset: at,
        });
      }
      if (typeof length === "number" && length < 16) {
        failBitField(
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
    failBitField(
      "BITFIELD_NOT_MINIMAL",
      runs === 0
        ? "RLE+ not minimally encoded: header announces a run of set bits but no run follows"
        : "RLE+ not minimally encoded: ends with a run of unset bits",
    );
  }
  return finishDecode(sink);
}

function decodeGoBitfield(bytes: Uint8Array): Float64Array {
  // Same checks, in the same order, as go-bitfield FromBuf + ValidateRLE/DecodeRLE.
  if (bytes.length > 0 && ((bytes[0] ?? 0) & 3) !== 0) {
    failBitField(
      "BITFIELD_WRONG_VERSION",
      `RLE+ version ${(bytes[0] ?? 0) & 3} is not supported (expected 0)`,
    );
  }
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0) {
    failBitField("BITFIELD_NOT_MINIMAL", "RLE+ not minimally encoded: trailing zero byte");
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

function finishDecode(sink: RunSink): Float64Array {
  if (sink.unsafeIndex) {
    failBitField("BITFIELD_UNSAFE_INTEGER", "RLE+ bitfield sets a bit above Number.MAX_SAFE_INTEGER");
  }
  return sink.out.finish();
}

/**
 * Decodes RLE+ into BitField's flat range list: ref-fvm rules by default, go-bitfield's with
 * `{ strict: false }`. Throws BitFieldError naming the problem and its bit offset.
 */
export function decodeRlePlus(bytes: Uint8Array, options: DecodeOptions = {}): Float64Array {
  return options.strict === false ? decodeGoBitfield(bytes) : decodeStrict(bytes);
}

/** The unique minimal RLE+ encoding of a flat range list (no ranges → zero bytes). */
export function encodeRlePlus(r: Float64Array): Uint8Array {
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
