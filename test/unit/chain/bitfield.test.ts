/**
 * RLE+ bitfield tests. Vectors come from:
 *  - filecoin-project/go-bitfield rle/rleplus_test.go (TestDecode reference encoding, TestGoldenLoop,
 *    TestEncodeConsecutiveFails), rle/rleplus_golden_test.go (goldenRLE bytes, below as base64),
 *    rle/rleplus_reader_test.go (TestAll8bit run pattern), rle/internal/rleplus/rleplus_test.go
 *    (spec bit listing, 2^64-1 and 2^63 vectors), bitfield_test.go (TestBitfieldJson, Slice doc).
 *  - filecoin-project/ref-fvm ipld/bitfield/src/rleplus/mod.rs (malformed-input table, iter_last).
 *  - filecoin-project/lotus api/docgen/docgen.go (example bitfield {5} rendered as [5, 1] in the
 *    API docs, documentation/en/api-v1-unstable-methods.md).
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BitField, BitFieldError, type BitFieldErrorCode, type Run } from "../../../src/chain/bitfield.js";
import { seededRandom } from "../../../src/util/random.js";

const GOLDEN_RLE_BASE64 =
  "IPxAwszl2MHhHiPTAi7NAz6DFiY6XDCOAAXMJA6WFUigKkAEkg6UwEiR7gUomFWQoKRQmBRABFkKIgB0sEBmMPlmkFHHcHRASH/w" +
  "gCQghVgGB2YEh+UFKACk8GEukAhEcDg08AhPcGit0JAekDjBhXYEFXwEKCgXcOAVAIL7EQt2CSK4L5AgX4CEyRCFZgkFyQMtGaRa" +
  "cEWlQMIFbEoPZPQZsEAoiwJsID6QQAEZ6gkgYC9QYBUABGkGsYyphcYfE1Q+WEAXYEEuikI8iws/CBBcMjjUHmgYW3DBLAYXbBf4" +
  "dDYonA4gAqGED6KCDr+CRSmEBxYlEBI4jBNQQf8DE3AWgIFjhY+ggQrhgISjgYn/hMc8h0m7gUshggMvg4Qpg4zgAECM2iBCBhNk" +
  "BySFDKYhJGwHdCATPAITVLodFJ4L4AA5ggpyC4BgUyDVDjLVDhK5AUSQJ1FZ4BLDBOgBeEDY4AN7YJNrIHL4IPHh4E2Q3wIfaQM2" +
  "MI0gglgKj+wCjegAEVWBWBeggqWBiLaDiO2GiOCGS26CReGJyCxBeAkSvZFQAUKQhXBptSCDXgKN+wIP+woJzASL5AWHyQIP/AFc" +
  "CA/QAU7QYE1QoTzwIGyI4UFcERzIJUzAHRxOYVQqBRT2VDwLROQFZEIfZDIjoCD5AQxAJ/hAPMCCcgEN0UMRAQ2qNcjgHkJBWyCL" +
  "BA7JAwrqAT5fEqsHQPCtYEJvodI5YJFk8eQQP2DCXJRiBx9nBYfMB5/uDhPYAjigtSACTgGFfAxOsN6QgCxQ2HeI9oAEIoXO8oLL" +
  "tAUUaKlwd7g0G/AB7AETWBp4iAtYgCeYIEtQQWmEyWOBCHsGENgeOBwXaAAuqOQjeNwKKDgLKMwfQAFvg4h1gseMBOwIKMx75LgA" +
  "DkY1LMItuOC1QqJ1QAL8xEOYQaFWQMRaARPaM1zyB0R0P1xaSSRkAyzYIzR4GbhhFUKjxkZzgApSFwChfUAmGcEG8EBFkMKB9sAi" +
  "84AVAgcsmgPYwJUhuwSAAJngkBkhk/4hQxqQZAIuIGXIeYbEeAQqOJ5Qgq8FF1AzoEIhBSTAD2SwQOU6QsH9AjwQCYhAWkCEEUGD" +
  "f0KCEAMIihvIwLKBFm5oIRoCETAAQnHB54kYYAU8cDyiNRTmJZgglyCoAiaOEmwwKqAiXsIFjwgK6gQKmwQ+9AMukgUmZeAoDjhQ" +
  "sC9h4Wqg8ywSSQYmIIQwUV2QsFdwET1wEFMcmPhUAALDEFiwTbAgDXFATSAEeQUfewGJaQIoyBcwgRXQwF9QGR5yTY3BAZF+BTQw" +
  "DpHJdCCE1RMLYQ2P2AAyiE4gBNeEvAY4bB/I4BJotBagQToHJ5AaiBgKpXEl8QmoUJ3hgryBBMkJfBA+QAXpAjrODVxw+mCRQQnH" +
  "CAqTA3ygP+BTS0AG6g0KzRgKgwUqKQ7DAVSwfEEErwJUQL4gQachKeFiaoEIuARksCmgsH/gADrABcsCuOBuwAjaE3jgGgAE4ggK" +
  "GxadNYgACmHjHWGhj+DjfQAIVha5BXxQWuLRyUAIkwo2xAIO9xUKrhsKgw026AoW3hE+iQtQcNkQygA4wI/Bg3eGDBvoAJ54CAug" +
  "w7eEghhLVDtwgb5BzA0IYY4XAA3YQDQgvRIOgxY6ihZI0FngIUxgQqqgYGkABbkCEpQPSGD+kGYDTvhMUNhfcJkf0PBViHSBDWuA" +
  "hLmNxzSBTqSKgqECFUAHcIF/jQNhAhEcHni4GoACo4ACaYDH8wEs3BOQga2BiLiBgniETraDRbMGN5BeaEiCKADBAeWAhvKBzLmB" +
  "iOuAA7eHjWmDRXQFIoRDSEifpPNApHiAC+wLLAgHdIgVNMKioTMNwQiRGPBgOEAHgwGMEBlABLsaaDArYJKqgAjvAlRQf4AKiQIy" +
  "lBca4QQOpgEKlwsW5AqRPJD5HhDxJXApHaCC8ARA6FZABVQPG8YBKpg18DC9gAfZBiCQXgn5CxysIiDBlk9wgEuugUe5jY09gkVl" +
  "gMq5BRhsJqRTQMeywgbfgAqgKTAjMoEIfDw+N7gg14AL/CUk6B0sUA084IhgOoMMphGyXMEH8gEqzgES12QOsgepbtBxHXCA5Qht" +
  "g4RqABl4DkjEB4CBroBEPwETTB9Y4EpIjC4EeIEWegWQoN3Dp9jCRPxAAtoADFQR4MC6gAl6CaAAUkBhUURnEgMMAA9w4THA4bbC" +
  "obnBRlBAAZsBGsIRckyhAlsgsSjABMcSQADuAAjRKjLQEYF/oIR3CpPIAJfnAQlQAQX1AIXuA5NZgjxZFFIopAsoMAqETYF/Q6dW" +
  "gAuSDzyYR6gANSDeAyqLAi6PBlhAWOAzTcEKwAbAwAQF9QQW+iZgYJygYy8gE76BDJcNMtABIj6AIEngUBghAhngIL0QyASbQA0k" +
  "4M2Q6QOCFhEoKtC1AINzCxnWBxtxBSYobQCCfwUquFaAhHkEhqB+UCDjAyA2iK+QkdVgguQBk/QIlcAFG2EGh8MBR7VBUckmAAPB" +
  "AIdGBY9aAZXvCYnKAIv3AhlbCzIIggLsABMjEUAEIOAmUYmFQITCAQ9RAQ0IbvhuAIJqAQ9yBCxATVBBFghnRkoNkMD+wUIwAQlQ" +
  "DVwWCcAA9kEnksBjesKhnEAhJ+wlTIAbIIEroAAY4OFqIQKj0q/gA3oABJkmUHDPoOFYodM4oDB5INI6ILNeYKHrgAXIAUzAW6Bg" +
  "yEEEbcggqxDjBx9LByhwF4CE+QZGkETwQPZgBcoHG88CC2ESFQ==";

// ---------------------------------------------------------------------------------------------
// Helpers (independent of the implementation under test)
// ---------------------------------------------------------------------------------------------

/** Packs bits LSB-first, keeping a final partial byte even when it is zero (fvm `finish_test`). */
function bitsToBytes(bits: readonly number[]): Uint8Array {
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => {
    if (b) out[i >> 3]! |= 1 << (i & 7);
  });
  return out;
}

/** Sorted unique numbers → alternating run lengths starting with an unset run (may be 0). */
function runLengths(sorted: readonly number[]): number[] {
  const out: number[] = [];
  let pos = 0;
  let i = 0;
  while (i < sorted.length) {
    const start = sorted[i]!;
    let end = start + 1;
    while (i + 1 < sorted.length && sorted[i + 1] === end) {
      i++;
      end++;
    }
    i++;
    out.push(start - pos, end - start);
    pos = end;
  }
  return out;
}

/** Naive encoder written straight from the spec grammar, building a '0'/'1' string. */
function refEncode(sorted: readonly number[]): Uint8Array {
  return sorted.length === 0 ? new Uint8Array(0) : refEncodeRuns(runLengths(sorted));
}

/** Same, from alternating run lengths whose first entry counts unset bits (may be 0). */
function refEncodeRuns(runs: readonly number[]): Uint8Array {
  const lens = [...runs];
  let bits = "00";
  if (lens[0] === 0) {
    bits += "1";
    lens.shift();
  } else {
    bits += "0";
  }
  const lsb = (v: number, n: number) => {
    let s = "";
    for (let k = 0; k < n; k++) s += Math.floor(v / 2 ** k) % 2 ? "1" : "0";
    return s;
  };
  for (const len of lens) {
    if (len === 1) bits += "1";
    else if (len < 16) bits += "01" + lsb(len, 4);
    else {
      bits += "00";
      let rest = len;
      for (;;) {
        const low = rest % 128;
        rest = Math.floor(rest / 128);
        bits += lsb(rest > 0 ? low + 128 : low, 8);
        if (rest === 0) break;
      }
    }
  }
  const bytes = bitsToBytes([...bits].map(Number));
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return bytes.slice(0, end);
}

/** Naive decoder (bit array, minimal-form streams only) used to cross-check the golden vector. */
function refDecode(bytes: Uint8Array): number[] {
  const bits: number[] = [];
  for (const b of bytes) for (let k = 0; k < 8; k++) bits.push((b >> k) & 1);
  let p = 2;
  let value = bits[p++] === 1;
  const take = (n: number) => {
    let v = 0;
    for (let k = 0; k < n; k++) v += (bits[p++] ?? 0) * 2 ** k;
    return v;
  };
  const out: number[] = [];
  let pos = 0;
  while (bits.slice(p).some((b) => b === 1)) {
    let len: number;
    if (bits[p] === 1) {
      p++;
      len = 1;
    } else if (bits[p + 1] === 1) {
      p += 2;
      len = take(4);
    } else {
      p += 2;
      len = 0;
      for (let k = 0; ; k++) {
        const byte = take(8);
        len += (byte & 0x7f) * 2 ** (7 * k);
        if (byte < 0x80) break;
      }
    }
    if (value) for (let n = pos; n < pos + len; n++) out.push(n);
    pos += len;
    value = !value;
  }
  return out;
}

/** Clustered random set like go-bitfield's golden generator: random starts, runs continue with prob p. */
function randomSet(rand: () => number, count: number, mod: number, p: number): number[] {
  const n = Math.min(count, Math.floor(mod / 2));
  const set = new Set<number>();
  while (set.size < n) {
    let x = Math.floor(rand() * mod);
    set.add(x);
    while (rand() < p && set.size < n) {
      x = (x + 1) % mod;
      set.add(x);
    }
  }
  return [...set].sort((a, b) => a - b);
}

function expectError(fn: () => unknown, code: BitFieldErrorCode, pattern: RegExp, label: string): void {
  assert.throws(
    fn,
    (err: unknown) => {
      assert.ok(err instanceof BitFieldError, `${label}: expected BitFieldError, got ${String(err)}`);
      assert.equal(err.code, code, `${label}: code (message: ${err.message})`);
      assert.match(err.message, pattern, `${label}: message`);
      return true;
    },
    label,
  );
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

// ---------------------------------------------------------------------------------------------

describe("RLE+ known vectors", () => {
  // go-bitfield rle/rleplus_test.go TestDecode: the Rust reference encoder's output with the
  // "00" version header added.
  const refNumbers = [0, 2, 4, 5, 6, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27];
  const refBytes = Uint8Array.from([124, 71, 34, 2]);

  it("encodes the go-bitfield reference set to [124, 71, 34, 2] and decodes it back", () => {
    const bf = BitField.fromNumbers(refNumbers);
    assert.deepEqual(bf.encode(), refBytes);
    assert.deepEqual(BitField.decode(refBytes).toNumbers(), refNumbers);
    assert.deepEqual(BitField.decode(refBytes, { strict: false }).toNumbers(), refNumbers);
  });

  it("matches the spec bit listing (go-bitfield rle/internal/rleplus/rleplus_test.go Encode)", () => {
    const bits = [
      ...[0, 0], // version
      1, // first run is set
      1, // run of 1 (set: 0)
      1, // gap of 1
      1, // run of 1 (set: 2)
      1, // gap of 1
      ...[0, 1, 1, 1, 0, 0], // run of 3 (4..6)
      ...[0, 1, 0, 0, 1, 0], // gap of 4
      ...[0, 0, 1, 0, 0, 0, 1, 0, 0, 0], // run of 17 as varint (11..27)
    ];
    assert.deepEqual(BitField.fromNumbers(refNumbers).encode(), bitsToBytes(bits));
  });

  it("reproduces go-bitfield's golden RLE byte-for-byte (TestGoldenLoop)", () => {
    const golden = new Uint8Array(Buffer.from(GOLDEN_RLE_BASE64, "base64"));
    assert.equal(golden.length, 2062);
    const strict = BitField.decode(golden);
    const lenient = BitField.decode(golden, { strict: false });
    assert.ok(strict.equals(lenient), "strict and go-bitfield modes agree on a canonical stream");
    assert.deepEqual(strict.encode(), golden, "re-encoding is byte-identical");
    const numbers = strict.toNumbers();
    assert.deepEqual(numbers, refDecode(golden), "matches the naive reference decoder");
    assert.deepEqual(refEncode(numbers), golden, "naive reference encoder agrees");
    assert.ok(BitField.fromLotusJSON(strict.toLotusJSON()).equals(strict), "JSON round trip");
    assert.ok(
      numbers.every((n) => n < 1 << 20),
      "generator used values below 2^20",
    );
  });

  it("round-trips go-bitfield TestAll8bit's run pattern", () => {
    const lengths: number[] = [];
    for (let k = 1; k < 64; k++) {
      for (let i = 1; i < 7; i++) {
        for (let j = 0; j < i; j++) lengths.push(1);
        lengths.push(k);
      }
    }
    for (let i = 3; i < 256; i++) lengths.push(i);
    const runs: Run[] = lengths.map((length, i) => ({ value: i % 2 === 0, length }));
    const bf = BitField.fromRuns(runs);
    const decoded = BitField.decode(bf.encode());
    assert.ok(decoded.equals(bf));
    // The final run is unset (odd index), which the canonical run list omits.
    assert.deepEqual([...decoded.runs()], runs.slice(0, runs[runs.length - 1]!.value ? runs.length : -1));
    assert.deepEqual(bf.encode(), refEncode(bf.toNumbers()));
  });

  it("encodes the empty set as zero bytes and decodes zero bytes as empty", () => {
    assert.equal(BitField.empty().encode().length, 0);
    assert.equal(BitField.fromNumbers([]).encode().length, 0);
    assert.ok(BitField.decode(new Uint8Array(0)).isEmpty());
    assert.ok(BitField.decode(new Uint8Array(0), { strict: false }).isEmpty());
  });

  it("encodes single bits and short/long runs minimally", () => {
    const cases: Array<[number[], string]> = [
      // Stream bits (LSB of byte 0 first) → bytes.
      [[0], "0c"], // 00 1 | 1                    → bits 2,3
      [[1], "18"], // 00 0 | 1 | 1                → bits 3,4
      [[0, 1], "54"], // 00 1 | 01 0100            → bits 2,4,6
      [[15], "f003"], // 00 0 | 01 1111 | 1        → bits 4..9
      [Array.from({ length: 16 }, (_, i) => i), "0402"], // 00 1 | 00 00001000 → bits 2,9
    ];
    for (const [nums, want] of cases) {
      const got = hex(BitField.fromNumbers(nums).encode());
      assert.equal(got, hex(refEncode(nums)), `{${nums}} agrees with the reference encoder`);
      assert.equal(got, want, `{${nums}} bytes`);
    }
  });

  it("rejects the old encoder's 2^64-1 vector (total overflows uint64) and 2^63 sets (beyond 2^53)", () => {
    // rle/internal/rleplus/rleplus_test.go: {MaxUint64} encodes as a 2^64-1 unset run + 1 set bit,
    // a total of 2^64 bits, which both current decoders reject as overflow.
    const maxU64 = Uint8Array.from([0xe0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x20]);
    // {2^63 .. 2^63+1023}: valid RLE+, but not representable with JS numbers.
    const big = Uint8Array.from([
      0x00, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x30, 0x00, 0x40, 0x04,
    ]);
    // ref-fvm iter_last: 2^64-2 set bits.
    const iterLast = Uint8Array.from([
      0xe4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x2f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0x7f,
    ]);
    for (const strict of [true, false]) {
      expectError(
        () => BitField.decode(maxU64, { strict }),
        "BITFIELD_OVERFLOW",
        /2\^64/,
        `maxU64 strict=${strict}`,
      );
      expectError(
        () => BitField.decode(big, { strict }),
        "BITFIELD_UNSAFE_INTEGER",
        /MAX_SAFE_INTEGER/,
        `2^63 strict=${strict}`,
      );
      expectError(
        () => BitField.decode(iterLast, { strict }),
        "BITFIELD_UNSAFE_INTEGER",
        /MAX_SAFE/,
        `iter_last strict=${strict}`,
      );
    }
  });

  it("handles bits right at the Number.MAX_SAFE_INTEGER boundary", () => {
    const max = Number.MAX_SAFE_INTEGER;
    const bf = BitField.fromNumbers([0, max - 1, max]);
    const back = BitField.decode(bf.encode());
    assert.deepEqual(back.toNumbers(), [0, max - 1, max]);
    assert.deepEqual(bf.encode(), refEncode([0, max - 1, max]));
    // One past: a set bit at 2^53.
    const runs: Run[] = [
      { value: false, length: max },
      { value: true, length: 2 },
    ];
    expectError(
      () => BitField.fromRuns(runs),
      "BITFIELD_UNSAFE_INTEGER",
      /MAX_SAFE_INTEGER/,
      "fromRuns past 2^53",
    );
    // A valid stream whose last set bit is 2^53 (an unset run of 2^53-1, then 2 set bits).
    const past = refEncodeRuns([max, 2]);
    for (const strict of [true, false]) {
      expectError(
        () => BitField.decode(past, { strict }),
        "BITFIELD_UNSAFE_INTEGER",
        /MAX_SAFE/,
        `2^53 strict=${strict}`,
      );
    }
  });
});

describe("RLE+ malformed input", () => {
  // ref-fvm ipld/bitfield/src/rleplus/mod.rs `test` table (bits in stream order), with the
  // go-bitfield (rlepluslazy) outcome derived from its reader: lenient about block choice, stops
  // at a zero-length block, accepts trailing unset runs.
  type Outcome = { code: BitFieldErrorCode; pattern: RegExp } | { set: number[] };
  const ones = (n: number) => Array<number>(n).fill(1);
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
  const cases: Array<{ name: string; bits: number[]; strict: Outcome; lenient: Outcome }> = [
    {
      name: "incorrect version",
      bits: [1, 0, 1, 0, 1, 0, 0, 0, 1],
      strict: { code: "BITFIELD_WRONG_VERSION", pattern: /version 1/ },
      lenient: { code: "BITFIELD_WRONG_VERSION", pattern: /version 1/ },
    },
    {
      name: "8 set bits",
      bits: [0, 0, 1, 0, 1, 0, 0, 0, 1],
      strict: { set: range(0, 8) },
      lenient: { set: range(0, 8) },
    },
    {
      name: "4 set, 1 unset, 3 set",
      bits: [0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 0, 0],
      strict: { set: [0, 1, 2, 3, 5, 6, 7] },
      lenient: { set: [0, 1, 2, 3, 5, 6, 7] },
    },
    {
      name: "varint 25",
      bits: [0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0],
      strict: { set: range(0, 25) },
      lenient: { set: range(0, 25) },
    },
    {
      name: "trailing garbage after a zero-length short block",
      bits: [0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 1],
      strict: { code: "BITFIELD_NOT_MINIMAL", pattern: /zero-length run \(short block\) at bit 4/ },
      lenient: { set: [0] },
    },
    {
      name: "trailing garbage after a zero-length varint block",
      bits: [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
      strict: { code: "BITFIELD_NOT_MINIMAL", pattern: /zero-length run \(varint block\) at bit 4/ },
      lenient: { set: [0] },
    },
    {
      name: "last byte zero",
      bits: [0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
      strict: { code: "BITFIELD_NOT_MINIMAL", pattern: /trailing zero byte/ },
      lenient: { code: "BITFIELD_NOT_MINIMAL", pattern: /trailing zero byte/ },
    },
    {
      name: "valid varint 17",
      bits: [0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0],
      strict: { set: range(0, 17) },
      lenient: { set: range(0, 17) },
    },
    {
      name: "varint not minimally encoded",
      bits: [0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
      strict: { code: "BITFIELD_INVALID_VARINT", pattern: /not minimally encoded/ },
      lenient: { code: "BITFIELD_INVALID_VARINT", pattern: /not minimally encoded/ },
    },
    {
      name: "run of 2^64-1 (valid RLE+, beyond JS numbers)",
      bits: [0, 0, 1, 0, 0, ...ones(8 * 9), 1, 0, 0],
      strict: { code: "BITFIELD_UNSAFE_INTEGER", pattern: /MAX_SAFE_INTEGER/ },
      lenient: { code: "BITFIELD_UNSAFE_INTEGER", pattern: /MAX_SAFE_INTEGER/ },
    },
    {
      name: "varint overflowing 64 bits",
      // nine 0x80 continuation bytes, then a 10th byte of 2 (only 0 or 1 fit in 64 bits)
      bits: [0, 0, 1, 0, 0, ...Array.from({ length: 9 }, () => [0, 0, 0, 0, 0, 0, 0, 1]).flat(), 0, 1, 0],
      strict: { code: "BITFIELD_INVALID_VARINT", pattern: /64 bits/ },
      lenient: { code: "BITFIELD_INVALID_VARINT", pattern: /64 bits/ },
    },
    {
      name: "total running length overflows",
      bits: [
        ...[0, 0, 1, 0, 0],
        ...ones(8 * 8),
        ...[1, 1, 1, 1, 1, 1, 1, 0], // 2^63-1 set
        ...[0, 0],
        ...ones(8 * 8),
        ...[1, 1, 1, 1, 1, 1, 1, 0], // 2^63-1 unset
        ...[0, 1, 0, 1, 0, 0], // 2 set
      ],
      strict: { code: "BITFIELD_OVERFLOW", pattern: /exceed 2\^64/ },
      lenient: { code: "BITFIELD_OVERFLOW", pattern: /exceed 2\^64/ },
    },
    {
      name: "varint block that fits a short block",
      bits: [0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1],
      strict: { code: "BITFIELD_NOT_MINIMAL", pattern: /length 3 .*varint block/ },
      lenient: { set: [0, 1, 2, 4] },
    },
    {
      name: "varint block that fits a single block",
      bits: [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
      strict: { code: "BITFIELD_NOT_MINIMAL", pattern: /length 1 .*varint block/ },
      lenient: { set: [0, 2] },
    },
    {
      name: "short block that fits a single block",
      bits: [0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1],
      strict: { code: "BITFIELD_NOT_MINIMAL", pattern: /length 1 .*short block/ },
      lenient: { set: [0, 2, 4, 6] },
    },
    {
      name: "only a trailing unset run",
      bits: [0, 0, 0, 1],
      strict: { code: "BITFIELD_NOT_MINIMAL", pattern: /ends with a run of unset bits/ },
      lenient: { set: [] },
    },
    {
      name: "only a trailing unset short run",
      bits: [0, 0, 0, 0, 1, 0, 0, 1],
      strict: { code: "BITFIELD_NOT_MINIMAL", pattern: /unset bits/ },
      lenient: { set: [] },
    },
    {
      name: "set run then trailing unset run",
      bits: [0, 0, 1, 0, 1, 0, 0, 1, 0, 1],
      strict: { code: "BITFIELD_NOT_MINIMAL", pattern: /unset bits/ },
      lenient: { set: [0, 1, 2, 3] },
    },
    {
      name: "unset, set, trailing unset",
      bits: [0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0],
      strict: { code: "BITFIELD_NOT_MINIMAL", pattern: /unset bits/ },
      lenient: { set: [1, 2, 3, 4] },
    },
    // Cases beyond the fvm table.
    {
      name: "header announces a set run but nothing follows",
      bits: [0, 0, 1],
      strict: { code: "BITFIELD_NOT_MINIMAL", pattern: /no run follows/ },
      lenient: { set: [] },
    },
    {
      name: "version 2",
      bits: [0, 1, 1, 1],
      strict: { code: "BITFIELD_WRONG_VERSION", pattern: /version 2/ },
      lenient: { code: "BITFIELD_WRONG_VERSION", pattern: /version 2/ },
    },
    {
      name: "version 3 with a trailing zero byte",
      bits: [1, 1, 1, 1, 0, 0, 0, 0, ...Array<number>(8).fill(0)],
      // fvm checks the trailing byte first; go-bitfield's FromBuf checks the version first.
      strict: { code: "BITFIELD_NOT_MINIMAL", pattern: /trailing zero byte/ },
      lenient: { code: "BITFIELD_WRONG_VERSION", pattern: /version 3/ },
    },
    {
      name: "truncated varint (continuation bit on the last byte)",
      bits: [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
      strict: { code: "BITFIELD_INVALID_VARINT", pattern: /not minimally encoded/ },
      lenient: { code: "BITFIELD_INVALID_VARINT", pattern: /not minimally encoded/ },
    },
    {
      name: "varint longer than 10 bytes",
      bits: [0, 0, 1, 0, 0, ...ones(8 * 11), 0, 1],
      strict: { code: "BITFIELD_INVALID_VARINT", pattern: /64 bits|10 bytes/ },
      lenient: { code: "BITFIELD_INVALID_VARINT", pattern: /64 bits|10 bytes/ },
    },
    {
      name: "bits after a zero-length short block in the middle",
      bits: [0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1],
      strict: { code: "BITFIELD_NOT_MINIMAL", pattern: /zero-length/ },
      lenient: { set: [0, 1, 2] },
    },
  ];

  for (const c of cases) {
    for (const strict of [true, false]) {
      const outcome = strict ? c.strict : c.lenient;
      it(`${c.name} (${strict ? "strict" : "go-bitfield"} mode)`, () => {
        const bytes = bitsToBytes(c.bits);
        const label = `${c.name}, strict=${strict}, bytes ${hex(bytes)}`;
        if ("set" in outcome) {
          assert.deepEqual(BitField.decode(bytes, { strict }).toNumbers(), outcome.set, label);
        } else {
          expectError(() => BitField.decode(bytes, { strict }), outcome.code, outcome.pattern, label);
        }
      });
    }
  }

  it("always writes encodings that strict mode accepts and re-encodes identically", () => {
    const rand = seededRandom(7);
    for (let t = 0; t < 200; t++) {
      const nums = randomSet(rand, 1 + Math.floor(rand() * 300), 5000, rand());
      const bytes = BitField.fromNumbers(nums).encode();
      assert.deepEqual(BitField.decode(bytes).encode(), bytes, `trial ${t}`);
    }
  });
});

describe("round trips over random sets (fixed seeds)", () => {
  it("encode/decode/JSON agree with the reference encoder and the input", () => {
    const rand = seededRandom(20240601);
    for (let t = 0; t < 300; t++) {
      const mod = [64, 1000, 1 << 20, 2 ** 40][t % 4]!;
      const nums = randomSet(rand, Math.floor(rand() * 500), mod, rand() * 0.95);
      const bf = BitField.fromNumbers(nums);
      const bytes = bf.encode();
      const label = `trial ${t} (${nums.length} numbers below ${mod})`;
      assert.deepEqual(bytes, refEncode(nums), `${label}: bytes`);
      assert.deepEqual(BitField.decode(bytes).toNumbers(), nums, `${label}: strict decode`);
      assert.deepEqual(BitField.decode(bytes, { strict: false }).toNumbers(), nums, `${label}: go decode`);
      const json = bf.toLotusJSON();
      assert.deepEqual(json, nums.length === 0 ? [0] : runLengths(nums), `${label}: JSON`);
      assert.ok(BitField.fromLotusJSON(json).equals(bf), `${label}: JSON round trip`);
      assert.equal(bf.count(), nums.length, `${label}: count`);
    }
  });
});

describe("set operations", () => {
  const naive = {
    union: (a: number[], b: number[]) => [...new Set([...a, ...b])].sort((x, y) => x - y),
    intersect: (a: number[], b: number[]) => {
      const s = new Set(b);
      return a.filter((x) => s.has(x));
    },
    subtract: (a: number[], b: number[]) => {
      const s = new Set(b);
      return a.filter((x) => !s.has(x));
    },
  };

  it("union, intersect and subtract match naive set arithmetic", () => {
    const rand = seededRandom(99);
    for (let t = 0; t < 300; t++) {
      const mod = t % 2 ? 200 : 5000;
      const a = randomSet(rand, Math.floor(rand() * 150), mod, rand());
      const b = randomSet(rand, Math.floor(rand() * 150), mod, rand());
      const fa = BitField.fromNumbers(a);
      const fb = BitField.fromNumbers(b);
      const label = `trial ${t}`;
      assert.deepEqual(fa.union(fb).toNumbers(), naive.union(a, b), `${label}: union`);
      assert.deepEqual(fa.intersect(fb).toNumbers(), naive.intersect(a, b), `${label}: intersect`);
      assert.deepEqual(fa.subtract(fb).toNumbers(), naive.subtract(a, b), `${label}: subtract`);
      assert.deepEqual(fb.subtract(fa).toNumbers(), naive.subtract(b, a), `${label}: reverse subtract`);
      for (const r of [fa.union(fb), fa.intersect(fb), fa.subtract(fb)]) {
        // Results must be canonical: equal to a fresh build from their numbers.
        assert.ok(r.equals(BitField.fromNumbers(r.toNumbers())), `${label}: canonical result`);
      }
    }
  });

  it("merges touching ranges and handles empty operands", () => {
    const a = BitField.fromRanges([[0, 5]]);
    const b = BitField.fromRanges([[5, 10]]);
    const u = a.union(b);
    assert.equal(u.rangeCount, 1);
    assert.deepEqual([...u.ranges()], [[0, 10]]);
    assert.ok(a.intersect(b).isEmpty());
    const e = BitField.empty();
    assert.ok(a.union(e).equals(a));
    assert.ok(e.union(a).equals(a));
    assert.ok(a.intersect(e).isEmpty());
    assert.ok(a.subtract(e).equals(a));
    assert.ok(e.subtract(a).isEmpty());
    assert.deepEqual(
      BitField.fromRanges([[0, 10]])
        .subtract(BitField.fromNumbers([0, 5, 9]))
        .toNumbers(),
      [1, 2, 3, 4, 6, 7, 8],
    );
  });

  it("unionAll merges many fields (go-bitfield MultiMerge)", () => {
    const parts = [[1, 2], [2, 3, 10], [], [4]].map((n) => BitField.fromNumbers(n));
    assert.deepEqual(BitField.unionAll(parts).toNumbers(), [1, 2, 3, 4, 10]);
    assert.ok(BitField.unionAll([]).isEmpty());
  });
});

describe("construction and queries", () => {
  it("fromNumbers accepts any order, duplicates and bigints", () => {
    const bf = BitField.fromNumbers([9, 3n, 3, 4, 0, 9, 5]);
    assert.deepEqual(bf.toNumbers(), [0, 3, 4, 5, 9]);
    assert.deepEqual(
      [...bf.ranges()],
      [
        [0, 1],
        [3, 6],
        [9, 10],
      ],
    );
    assert.deepEqual([...bf], [0, 3, 4, 5, 9]);
    assert.equal(bf.toString(), "BitField{0,3-5,9}");
  });

  it("fromNumbers rejects bad values with the offending position", () => {
    const bad: Array<[unknown, BitFieldErrorCode]> = [
      [-1, "BITFIELD_INVALID_INPUT"],
      [1.5, "BITFIELD_INVALID_INPUT"],
      [Number.NaN, "BITFIELD_INVALID_INPUT"],
      ["5", "BITFIELD_INVALID_INPUT"],
      [2 ** 53, "BITFIELD_UNSAFE_INTEGER"],
      [-1n, "BITFIELD_INVALID_INPUT"],
      [2n ** 60n, "BITFIELD_UNSAFE_INTEGER"],
    ];
    for (const [v, code] of bad) {
      expectError(
        () => BitField.fromNumbers([1, v as number]),
        code,
        /value #1/,
        `fromNumbers(${String(v)})`,
      );
    }
  });

  it("fromRuns validates like go-bitfield's encoder", () => {
    // go-bitfield rle/rleplus_test.go TestEncodeConsecutiveFails.
    expectError(
      () =>
        BitField.fromRuns([
          { value: true, length: 5 },
          { value: true, length: 8 },
        ]),
      "BITFIELD_INVALID_INPUT",
      /same value/,
      "consecutive same-value runs",
    );
    expectError(
      () => BitField.fromRuns([{ value: true, length: 0 }]),
      "BITFIELD_INVALID_INPUT",
      /positive integer/,
      "zero run",
    );
    expectError(
      () => BitField.fromRuns([{ value: true, length: 1.5 }]),
      "BITFIELD_INVALID_INPUT",
      /positive integer/,
      "fraction",
    );
    const bf = BitField.fromRuns([
      { value: false, length: 2 },
      { value: true, length: 3 },
      { value: false, length: 100 },
    ]);
    assert.deepEqual(bf.toNumbers(), [2, 3, 4]);
    assert.deepEqual(
      [...bf.runs()],
      [
        { value: false, length: 2 },
        { value: true, length: 3 },
      ],
    );
  });

  it("fromRanges merges overlaps and validates bounds", () => {
    const bf = BitField.fromRanges([
      [10, 20],
      [0, 3],
      [15, 25],
      [3, 4],
      [7, 7],
    ]);
    assert.deepEqual(
      [...bf.ranges()],
      [
        [0, 4],
        [10, 25],
      ],
    );
    expectError(() => BitField.fromRanges([[5, 4]]), "BITFIELD_INVALID_INPUT", /range #0 end/, "end < start");
    expectError(
      () => BitField.fromRanges([[0, 2 ** 53 + 2]]),
      "BITFIELD_INVALID_INPUT",
      /range #0 end/,
      "end > 2^53",
    );
  });

  it("has, first, last, count, isEmpty", () => {
    const nums = [2, 3, 4, 10, 20, 21, 1000];
    const bf = BitField.fromNumbers(nums);
    for (let n = 0; n < 1100; n++) assert.equal(bf.has(n), nums.includes(n), `has(${n})`);
    assert.equal(bf.has(-1), false);
    assert.equal(bf.has(2.5), false);
    assert.equal(bf.first(), 2);
    assert.equal(bf.last(), 1000);
    assert.equal(bf.count(), nums.length);
    assert.equal(bf.isEmpty(), false);
    const e = BitField.empty();
    assert.equal(e.first(), undefined);
    assert.equal(e.last(), undefined);
    assert.equal(e.count(), 0);
    assert.equal(e.isEmpty(), true);
    assert.deepEqual([...e], []);
  });

  it("toNumbers(max) refuses oversized fields like go-bitfield All(max)", () => {
    const bf = BitField.fromRanges([[0, 10]]);
    assert.equal(bf.toNumbers(10).length, 10);
    expectError(() => bf.toNumbers(9), "BITFIELD_TOO_MANY", /10 set bits, more than the allowed 9/, "max 9");
  });

  it("slice follows go-bitfield Slice (skip start set bits, keep count)", () => {
    // bitfield.go doc: 1 0 1 1 0 1 1 sliced (2, 2) → 0 0 0 1 0 1 0.
    const bf = BitField.fromNumbers([0, 2, 3, 5, 6]);
    assert.deepEqual(bf.slice(2, 2).toNumbers(), [3, 5]);
    assert.deepEqual(bf.slice(0, 5).toNumbers(), [0, 2, 3, 5, 6]);
    assert.deepEqual(bf.slice(4, 1).toNumbers(), [6]);
    assert.ok(bf.slice(5, 0).isEmpty());
    assert.deepEqual(
      BitField.fromRanges([[100, 1_000_000]])
        .slice(10, 3)
        .toNumbers(),
      [110, 111, 112],
    );
    expectError(
      () => bf.slice(4, 2),
      "BITFIELD_NOT_ENOUGH_BITS",
      /cannot slice 2 after skipping 4/,
      "too far",
    );
  });
});

describe("Lotus JSON form", () => {
  it("matches go-bitfield TestBitfieldJson and the Lotus API docs example", () => {
    // (0) (1) (2,3,4) (5,6,7) (8,9) (10,11,12) (13,14) 15
    const bf = BitField.fromNumbers([1, 5, 6, 7, 10, 11, 12, 15]);
    assert.deepEqual(bf.toLotusJSON(), [1, 1, 3, 3, 2, 3, 2, 1]);
    assert.deepEqual(
      BitField.fromLotusJSON([1, 1, 3, 3, 2, 3, 2, 1]).toNumbers(),
      [1, 5, 6, 7, 10, 11, 12, 15],
    );
    // Lotus docgen renders bitfield.NewFromSet([]uint64{5}) as [5, 1].
    assert.deepEqual(BitField.fromNumbers([5]).toLotusJSON(), [5, 1]);
    assert.deepEqual(BitField.fromLotusJSON([5, 1]).toNumbers(), [5]);
    assert.deepEqual(BitField.fromLotusJSON(JSON.parse("[0,3,2,1]")).toNumbers(), [0, 1, 2, 5]);
    // go-bitfield RLE.MarshalJSON comment: {0, 1, 2, 8, 9} → [0, 3, 5, 2].
    assert.deepEqual(BitField.fromNumbers([0, 1, 2, 8, 9]).toLotusJSON(), [0, 3, 5, 2]);
  });

  it("represents the empty set as [0] and accepts [], [0] and null", () => {
    assert.deepEqual(BitField.empty().toLotusJSON(), [0]);
    for (const v of [[], [0], null])
      assert.ok(BitField.fromLotusJSON(v).isEmpty(), `empty from ${JSON.stringify(v)}`);
  });

  it("ignores a trailing unset run, as Go's encoder drops it", () => {
    const bf = BitField.fromLotusJSON([0, 3, 2]);
    assert.deepEqual(bf.toNumbers(), [0, 1, 2]);
    assert.deepEqual(bf.toLotusJSON(), [0, 3]);
    assert.ok(BitField.fromLotusJSON([7]).isEmpty());
  });

  it("rejects malformed JSON values", () => {
    const bad: Array<[unknown, BitFieldErrorCode, RegExp]> = [
      ["[0,1]", "BITFIELD_INVALID_INPUT", /must be an array/],
      [{ 0: 1 }, "BITFIELD_INVALID_INPUT", /must be an array/],
      [5, "BITFIELD_INVALID_INPUT", /must be an array/],
      [[1, -1], "BITFIELD_INVALID_INPUT", /element #1/],
      [[1.5], "BITFIELD_INVALID_INPUT", /element #0/],
      [["1"], "BITFIELD_INVALID_INPUT", /element #0/],
      [[null], "BITFIELD_INVALID_INPUT", /element #0/],
      [[Number.POSITIVE_INFINITY], "BITFIELD_INVALID_INPUT", /element #0/],
      [[2 ** 64], "BITFIELD_INVALID_INPUT", /element #0/],
      [[0, 0], "BITFIELD_INVALID_INPUT", /element #1 is a zero-length run/],
      [[1, 0, 2], "BITFIELD_INVALID_INPUT", /element #1 is a zero-length run/],
      [[0, 2 ** 53], "BITFIELD_UNSAFE_INTEGER", /element #1/],
      [[2 ** 53 - 1, 2], "BITFIELD_UNSAFE_INTEGER", /MAX_SAFE_INTEGER/],
    ];
    for (const [v, code, pattern] of bad) {
      expectError(() => BitField.fromLotusJSON(v), code, pattern, `fromLotusJSON(${String(v)})`);
    }
    // A huge trailing unset run is legal in Go and harmless here.
    assert.deepEqual(BitField.fromLotusJSON([0, 1, 2 ** 60]).toNumbers(), [0]);
  });
});

describe("large sets", () => {
  it("1,000,000 consecutive sector numbers encode to a few bytes, quickly", () => {
    const t0 = performance.now();
    const bf = BitField.fromNumbers(Array.from({ length: 1_000_000 }, (_, i) => i));
    const bytes = bf.encode();
    const back = BitField.decode(bytes);
    const ms = performance.now() - t0;
    assert.ok(bytes.length <= 5, `encoded in ${bytes.length} bytes`);
    // 00 1 | 00 + varint(1_000_000) = 0x40 0x84 0x3d.
    assert.deepEqual(
      bytes,
      bitsToBytes([
        0,
        0,
        1,
        0,
        0,
        ...[0xc0, 0x84, 0x3d].flatMap((b) => [0, 1, 2, 3, 4, 5, 6, 7].map((k) => (b >> k) & 1)),
      ]),
    );
    assert.equal(back.count(), 1_000_000);
    assert.equal(back.rangeCount, 1);
    assert.equal(back.first(), 0);
    assert.equal(back.last(), 999_999);
    assert.deepEqual(back.toLotusJSON(), [0, 1_000_000]);
    assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
  });

  it("a million-bit range costs no per-bit memory in set operations", () => {
    const a = BitField.fromRanges([[0, 10_000_000]]);
    const b = BitField.fromRanges([[5_000_000, 20_000_000]]);
    assert.equal(a.union(b).count(), 20_000_000);
    assert.equal(a.intersect(b).count(), 5_000_000);
    assert.equal(a.subtract(b).count(), 5_000_000);
    assert.ok(a.has(9_999_999) && !a.has(10_000_000));
  });

  it("round-trips 500,000 scattered numbers (every other one, shuffled)", () => {
    const rand = seededRandom(5);
    const nums = Array.from({ length: 500_000 }, (_, i) => 2 * i + 7);
    for (let i = nums.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [nums[i], nums[j]] = [nums[j]!, nums[i]!];
    }
    const t0 = performance.now();
    const bf = BitField.fromNumbers(nums);
    const bytes = bf.encode();
    const back = BitField.decode(bytes);
    const ms = performance.now() - t0;
    assert.equal(back.count(), 500_000);
    assert.equal(back.rangeCount, 500_000);
    assert.ok(back.equals(bf));
    // 1 bit per set run and per gap, plus a 7-bit header/first gap: ~125 KB.
    assert.ok(bytes.length < 130_000, `${bytes.length} bytes`);
    assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms`);
  });
});
