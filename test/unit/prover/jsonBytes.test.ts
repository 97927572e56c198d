import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ByteSpan, decodeBase64Span, parseJsonBytes } from "../../../src/prover/jsonBytes.js";
import {
  BYTES_PARSE_MIN,
  ByteLineSplitter,
  encodeResponse,
  parseResponseBytes,
  parseResponseLine,
} from "../../../src/prover/protocol.js";
import { decodeBase64 } from "../../../src/util/base64.js";
import { seededRandom } from "../../../src/util/random.js";

/** JSON.parse's verdict on `b` as text: the value, or "throws". */
function reference(b: Buffer): unknown {
  try {
    return { ok: JSON.parse(b.toString("utf8")) as unknown };
  } catch {
    return "throws";
  }
}

function ours(b: Buffer): unknown {
  try {
    return { ok: parseJsonBytes(b, Number.MAX_SAFE_INTEGER).value };
  } catch {
    return "throws";
  }
}

const VALID = [
  "0",
  "-0",
  "1.5e10",
  "-12.25E-3",
  "1e+2",
  "true",
  "false",
  "null",
  '""',
  '"abc"',
  '"a\\"b\\\\"',
  '"\\u00e9\\n\\t\\/"',
  '"é ü 中"',
  "[]",
  "{}",
  " \t\r\n[1, 2 ,3 ] ",
  '{"a":{"b":[null,true,{"c":"d"}]},"e":-1}',
  '{"a":1,"a":2}',
  '{"id":1,"err_msg":null,"output":{"proofs":["AQIDBA==","CQ=="],"faults":[3,5]}}',
  '["\\\\",  "x\\\\\\"y"]',
  "[[[[[[[[[[1]]]]]]]]]]",
];

const INVALID = [
  "",
  " ",
  "01",
  "1.",
  ".5",
  "+1",
  "1e",
  "--1",
  "0x10",
  "tru",
  "nul",
  "True",
  "[1,]",
  "[,1]",
  "{,}",
  '{"a":1,}',
  '{"a" 1}',
  "{a:1}",
  "'a'",
  '"abc',
  '"a\\"',
  '"tab\there"',
  '"nl\nhere"',
  '"\\x41"',
  '"\\u00g0"',
  "[1] [2]",
  "[1]x",
  "NaN",
  "Infinity",
  "[1 2]",
  '{"a":1 "b":2}',
];

describe("jsonBytes: JSON straight from bytes", () => {
  test("valid documents read as JSON.parse reads them", () => {
    for (const s of VALID) {
      const b = Buffer.from(s);
      assert.deepEqual(ours(b), reference(b), s);
      assert.notEqual(reference(b), "throws", s);
    }
  });

  test("invalid documents are refused, as JSON.parse refuses them", () => {
    for (const s of INVALID) {
      const b = Buffer.from(s);
      assert.equal(reference(b), "throws", `JSON.parse takes ${JSON.stringify(s)}`);
      assert.equal(ours(b), "throws", `parseJsonBytes takes ${JSON.stringify(s)}`);
    }
  });

  test("a __proto__ key and nesting past 64 are left to JSON.parse, never mis-read", () => {
    assert.throws(() => parseJsonBytes(Buffer.from('{"__proto__":{"x":1}}'), 1000));
    assert.throws(() => parseJsonBytes(Buffer.from(`${"[".repeat(70)}${"]".repeat(70)}`), 1000));
  });

  test("fuzz: every mutation of a response is read as JSON.parse reads it, or refused", () => {
    const next = seededRandom(15);
    const alphabet = Buffer.from('{}[]:,"\\ \t\n0123456789-+.eEtrufalsn/=Aaé\u0001');
    let accepted = 0;
    for (let k = 0; k < 4000; k++) {
      const seedDoc = VALID[Math.floor(next() * VALID.length)] as string;
      const b = Buffer.from(seedDoc);
      const edits = 1 + Math.floor(next() * 3);
      let m = b;
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(next() * (m.length + 1));
        const byte = alphabet[Math.floor(next() * alphabet.length)] as number;
        const kind = next();
        if (kind < 0.4) m = Buffer.concat([m.subarray(0, at), Buffer.of(byte), m.subarray(at)]);
        else if (kind < 0.7) m = Buffer.concat([m.subarray(0, at), m.subarray(at + 1)]);
        else if (at < m.length) {
          m = Buffer.from(m);
          m[at] = byte;
        }
      }
      const got = ours(m);
      if (got === "throws") continue; // refusing is always safe: the caller falls back to JSON.parse
      accepted++;
      assert.deepEqual(got, reference(m), `mutation ${k}: ${JSON.stringify(m.toString("utf8"))}`);
    }
    assert.ok(accepted > 500, `only ${accepted} mutations were valid JSON; the fuzz is not testing much`);
  });

  test("strings from the length limit on are spans over the buffer, keys never", () => {
    const b = Buffer.from('{"short":"abc","long":"abcdefgh","abcdefghij":["xyzxyzxyz"]}');
    const { value, spans } = parseJsonBytes(b, 8);
    const v = value as { short: string; long: ByteSpan; abcdefghij: ByteSpan[] };
    assert.equal(v.short, "abc");
    assert.ok(v.long instanceof ByteSpan);
    assert.equal(b.toString("utf8", v.long.start, v.long.end), "abcdefgh");
    assert.equal(b.toString("utf8", spans[1]?.start, spans[1]?.end), "xyzxyzxyz");
    assert.equal(spans.length, 2);
  });
});

describe("decodeBase64Span", () => {
  test("reads the span's bytes as util/base64.ts decodeBase64 reads its text (fuzzed there)", () => {
    for (const s of [
      "",
      "QQ==",
      "QR==",
      "AQIDBA==",
      "AQID",
      "A-ID",
      "A_ID",
      "AQI",
      "AQ\nD",
      "AQ=D",
      "\u00e9AAA",
    ]) {
      const buf = Buffer.from(`x"${s}"y`, "utf8");
      const span = new ByteSpan(buf, 2, buf.length - 2);
      assert.deepEqual(decodeBase64Span(span), decodeBase64(buf.toString("latin1", 2, buf.length - 2)), s);
    }
    assert.deepEqual(
      decodeBase64Span(new ByteSpan(Buffer.from("AQIDBA=="), 0, 8)),
      Uint8Array.of(1, 2, 3, 4),
    );
  });

  test("a decoded proof owns its ArrayBuffer, large or small", () => {
    for (const n of [3, 192, 25_000]) {
      const b = Buffer.from(`"${Buffer.alloc(n, 7).toString("base64")}"`);
      const p = decodeBase64Span(new ByteSpan(b, 1, b.length - 1));
      assert.equal(p?.byteOffset, 0);
      assert.equal(p?.buffer.byteLength, n);
      assert.equal(Object.getPrototypeOf(p), Uint8Array.prototype);
    }
  });
});

/** A window answer of `n` proofs of `size` bytes each, as a child prints it. */
function bigAnswer(n: number, size: number): { line: string; proofs: Uint8Array[] } {
  const next = seededRandom(n * size);
  const proofs = Array.from({ length: n }, () => Uint8Array.from({ length: size }, () => (next() * 256) | 0));
  const line = encodeResponse("window_post", { id: 9, errMsg: null, output: { proofs, faults: [4, 2] } });
  return { line, proofs };
}

function verdict(f: () => unknown): unknown {
  try {
    return { ok: f() };
  } catch (e) {
    return { err: (e as Error).message };
  }
}

describe("parseResponseBytes", () => {
  test("a partition-sized answer reads as parseResponseLine reads its text", () => {
    const { line, proofs } = bigAnswer(40, 3000);
    assert.ok(line.length > BYTES_PARSE_MIN);
    const res = parseResponseBytes(Buffer.from(line));
    assert.deepEqual(res, parseResponseLine(line));
    assert.deepEqual(res.output?.proofs, proofs);
    assert.deepEqual(res.output?.faults, [4, 2]);
  });

  test("a broken answer fails with the message parseResponseLine gives", () => {
    const { line } = bigAnswer(40, 3000);
    // The first proof, edited; every case must differ from the answer it came from.
    const at = line.indexOf('"proofs":["') + 11;
    const proof = (edit: (p: string) => string) => {
      const end = line.indexOf('"', at);
      return line.slice(0, at) + edit(line.slice(at, end)) + line.slice(end);
    };
    const cases = [
      proof((p) => `${p.slice(0, 4)}-${p.slice(5)}`), // base64url characters, the same length
      proof((p) => `${p.slice(0, 4)}_${p.slice(5)}`),
      proof((p) => `${p.slice(0, 4)}*${p.slice(5)}`), // a character outside base64
      proof((p) => `${p.slice(0, 4)}/${p.slice(5)}`), // an escape: JSON-valid, read by the fallback
      proof((p) => `${p.slice(0, 4)}/${p.slice(4)}`),
      proof((p) => `${p.slice(0, 4)}\u0041${p.slice(5)}`),
      proof((p) => `${p.slice(0, 4)}=${p.slice(5)}`),
      proof((p) => `${p}====`),
      proof((p) => p.slice(1)),
      proof((p) => `\t${p}`),
      line.replace('"faults":[4,2]', '"faults":[-4]'),
      line.replace('"id":9', '"id":"9"'),
      line.replace('"err_msg":null', `"err_msg":"${"x".repeat(5000)}"`), // a long string outside proofs
      line.replace('"err_msg":null', `"err_msg":${JSON.stringify(`a\u0001${"x".repeat(300)}`)}`),
      line.replace('"err_msg":null', '"err_msg":"a\u0001b"'),
      line.slice(0, -1),
      `${line}x`,
      line.replace('"proofs":[', '"proofs":{').replace('],"faults"', '},"faults"'),
    ];
    for (const c of cases) assert.notEqual(c, line);
    for (const [i, c] of cases.entries()) {
      const a = verdict(() => parseResponseBytes(Buffer.from(c)));
      const b = verdict(() => parseResponseLine(c));
      assert.deepEqual(a, b, `case ${i}`);
    }
  });

  test("a split line comes out whole, in bytes, without its CR", () => {
    const { line } = bigAnswer(40, 3000);
    const got: Buffer[] = [];
    const s = new ByteLineSplitter(
      (l) => got.push(Buffer.from(l)),
      () => assert.fail("no overflow"),
      1 << 20,
    );
    const all = Buffer.from(`${line}\r\n{"id":1}\nlast`);
    for (let i = 0; i < all.length; i += 777) s.push(all.subarray(i, i + 777));
    s.end();
    assert.deepEqual(
      got.map((b) => b.toString()),
      [line, '{"id":1}', "last"],
    );
  });
});
