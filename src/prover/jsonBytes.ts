/**
 * JSON read straight from a Buffer, with long strings left in place.
 *
 * An ext-prover child's answer for a full 32 GiB partition is one JSON line of ~80 MB, nearly all of
 * it base64 vanilla proofs (reference/damocles-poster.md §1.5). Turning that line into a string and
 * JSON.parse'ing it holds the event loop for ~200 ms per answer, and pushes of other messages wait.
 * This parser walks the structure byte by byte but jumps over each string with `Buffer.indexOf`
 * (memchr), and hands back strings of `longBytes` or more as a `ByteSpan`: where the string's bytes
 * are in the buffer, not yet decoded or checked. The caller decodes the spans it expects (the proofs,
 * straight from bytes to bytes) and must not accept a value holding any other span.
 *
 * Everything else is RFC 8259 JSON, checked as strictly as JSON.parse checks it: a line this parser
 * accepts, JSON.parse accepts with the same value (spans aside). What it does not accept, it throws
 * on without a useful message: callers fall back to JSON.parse for that, so the error an operator
 * sees is the one they always saw.
 */

import { decodeBase64 } from "../util/base64.js";

/** A string's content bytes `buf[start, end)`, between its quotes, undecoded and unchecked. */
export class ByteSpan {
  constructor(
    readonly buf: Buffer,
    readonly start: number,
    readonly end: number,
  ) {}
}

export class JsonBytesError extends Error {
  override name = "JsonBytesError";
}

export interface JsonBytesResult {
  value: unknown;
  /** Every span in `value`, in order. */
  spans: ByteSpan[];
}

/** Deeper nesting than any response has is left to JSON.parse (no recursion limit to reach here). */
const MAX_DEPTH = 64;
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function fail(what: string): never {
  throw new JsonBytesError(what);
}

class Reader {
  i = 0;
  readonly spans: ByteSpan[] = [];
  constructor(
    readonly b: Buffer,
    readonly longBytes: number,
  ) {}

  ws(): void {
    const { b } = this;
    for (;;) {
      const c = b[this.i];
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.i++;
      else return;
    }
  }

  value(depth: number): unknown {
    this.ws();
    const c = this.b[this.i];
    if (c === 0x7b) return this.object(depth + 1);
    if (c === 0x5b) return this.array(depth + 1);
    if (c === QUOTE) return this.string(true);
    if (c === 0x74) return this.literal("true", true);
    if (c === 0x66) return this.literal("false", false);
    if (c === 0x6e) return this.literal("null", null);
    if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) return this.number();
    return fail(`unexpected byte at ${this.i}`);
  }

  private object(depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) fail("too deep");
    this.i++;
    const o: Record<string, unknown> = {};
    this.ws();
    if (this.b[this.i] === 0x7d) {
      this.i++;
      return o;
    }
    for (;;) {
      this.ws();
      if (this.b[this.i] !== QUOTE) fail(`expected a key at ${this.i}`);
      const k = this.string(false) as string;
      // JSON.parse makes "__proto__" an own property; an assignment would set the prototype.
      if (k === "__proto__") fail("__proto__ key");
      this.ws();
      if (this.b[this.i] !== 0x3a) fail(`expected ':' at ${this.i}`);
      this.i++;
      o[k] = this.value(depth);
      this.ws();
      const c = this.b[this.i++];
      if (c === 0x7d) return o;
      if (c !== 0x2c) fail(`expected ',' or '}' at ${this.i - 1}`);
    }
  }

  private array(depth: number): unknown[] {
    if (depth > MAX_DEPTH) fail("too deep");
    this.i++;
    const a: unknown[] = [];
    this.ws();
    if (this.b[this.i] === 0x5d) {
      this.i++;
      return a;
    }
    for (;;) {
      a.push(this.value(depth));
      this.ws();
      const c = this.b[this.i++];
      if (c === 0x5d) return a;
      if (c !== 0x2c) fail(`expected ',' or ']' at ${this.i - 1}`);
    }
  }

  /** The closing quote of the string whose content starts at `from`. */
  private closingQuote(from: number): number {
    const { b } = this;
    let at = from;
    for (;;) {
      const q = b.indexOf(QUOTE, at);
      if (q < 0) fail("unterminated string");
      let n = 0;
      while (q - 1 - n >= from && b[q - 1 - n] === BACKSLASH) n++;
      if (n % 2 === 0) return q;
      at = q + 1;
    }
  }

  private string(mayBeSpan: boolean): string | ByteSpan {
    const { b } = this;
    const start = this.i + 1;
    const end = this.closingQuote(start);
    this.i = end + 1;
    if (mayBeSpan && end - start >= this.longBytes) {
      const s = new ByteSpan(b, start, end);
      this.spans.push(s);
      return s;
    }
    let escaped = false;
    for (let j = start; j < end; j++) {
      const c = b[j] as number;
      if (c < 0x20) fail("control character in a string");
      if (c === BACKSLASH) escaped = true;
    }
    // Escapes are rare in a response (an error message); JSON.parse reads them exactly.
    return escaped
      ? (JSON.parse(b.toString("utf8", start - 1, end + 1)) as string)
      : b.toString("utf8", start, end);
  }

  private literal<T>(word: string, v: T): T {
    if (this.b.toString("latin1", this.i, this.i + word.length) !== word)
      fail(`unexpected byte at ${this.i}`);
    this.i += word.length;
    return v;
  }

  private number(): number {
    const { b } = this;
    const start = this.i;
    for (;;) {
      const c = b[this.i];
      // digits, '+', '-', '.', 'e', 'E': the characters a number may hold; NUMBER checks the order.
      if (
        c !== undefined &&
        ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e || c === 0x65 || c === 0x45)
      )
        this.i++;
      else break;
    }
    const s = b.toString("latin1", start, this.i);
    if (!NUMBER.test(s)) fail(`bad number at ${start}`);
    return Number(s);
  }
}

/**
 * Parse `buf` as one JSON value; strings of `longBytes` content bytes or more (object keys excepted)
 * come back as ByteSpans. Throws JsonBytesError (or a RangeError) for anything it does not accept.
 */
export function parseJsonBytes(buf: Buffer, longBytes: number): JsonBytesResult {
  const r = new Reader(buf, Math.max(1, longBytes));
  const value = r.value(0);
  r.ws();
  if (r.i !== buf.length) fail(`trailing bytes at ${r.i}`);
  return { value, spans: r.spans };
}

/** The bytes of a span holding padded standard base64 (util/base64.ts decodeBase64), or undefined. */
export function decodeBase64Span(s: ByteSpan): Uint8Array | undefined {
  if ((s.end - s.start) % 4 !== 0) return undefined;
  return decodeBase64(s.buf.toString("latin1", s.start, s.end));
}
