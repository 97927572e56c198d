import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeBase64, isCanonicalBase64, ownBytes } from "../../../src/util/base64.js";
import { seededRandom } from "../../../src/util/random.js";

/** The checks this module replaces: the regular expression, the length, and a full round trip. */
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const reference = (s: string) =>
  B64.test(s) && s.length % 4 === 0 ? new Uint8Array(Buffer.from(s, "base64")) : undefined;

/** Base64 of random bytes, half of them with one character inserted, replaced or dropped. */
function cases(n: number, seed: number): string[] {
  const next = seededRandom(seed);
  const alphabet = "ABCQRSabcxyz0189+/=-_ .!\n\t\u00e9\u0000";
  return Array.from({ length: n }, () => {
    const raw = Buffer.alloc(Math.floor(next() * 14));
    for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(next() * 256);
    let s = raw.toString("base64");
    if (next() < 0.5) {
      const at = Math.floor(next() * (s.length + 1));
      const c = alphabet[Math.floor(next() * alphabet.length)] as string;
      const k = next();
      s =
        k < 0.4
          ? s.slice(0, at) + c + s.slice(at)
          : k < 0.7
            ? s.slice(0, at) + s.slice(at + 1)
            : s.slice(0, at) + c + s.slice(at + 1);
    }
    return s;
  });
}

describe("util/base64", () => {
  test("decodeBase64 takes exactly what the regular expression and the length take, with the same bytes", () => {
    let taken = 0;
    for (const s of [...cases(20_000, 7), "", "====", "A===", "AA=A", "QQ==", "QR==", "-_-_", "AAAA\n"]) {
      const want = reference(s);
      assert.deepEqual(decodeBase64(s), want, JSON.stringify(s));
      if (want) taken++;
    }
    assert.ok(taken > 10_000, `only ${taken} valid cases`);
  });

  test("isCanonicalBase64 agrees with a full re-encoding on every string decodeBase64 takes", () => {
    let nonCanonical = 0;
    for (const s of [...cases(20_000, 8), "QR==", "QQ==", "AAB=", "AAA="]) {
      if (!decodeBase64(s)) continue;
      const want = Buffer.from(s, "base64").toString("base64") === s;
      assert.equal(isCanonicalBase64(s), want, JSON.stringify(s));
      if (!want) nonCanonical++;
    }
    assert.ok(nonCanonical > 100, `only ${nonCanonical} non-canonical cases`);
  });

  test("a 4 MB payload: the same bytes, alone on their ArrayBuffer", () => {
    const raw = Buffer.alloc(4 << 20);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 31) & 0xff;
    const got = decodeBase64(raw.toString("base64"));
    assert.ok(got && Buffer.from(got).equals(raw));
    assert.equal(got.byteOffset, 0);
    assert.equal(got.buffer.byteLength, raw.length);
    const small = ownBytes(Buffer.from("AQID", "base64"));
    assert.equal(small.buffer.byteLength, 3);
    assert.equal(Object.getPrototypeOf(small), Uint8Array.prototype);
  });
});
