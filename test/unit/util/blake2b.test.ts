/**
 * The WebAssembly BLAKE2b against RFC 7693's vector and an independent implementation (@noble/hashes)
 * at every length around the block (128 B) and chunk (131,008 B) edges and every digest length used.
 */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { test } from "node:test";
import { blake2b as reference } from "@noble/hashes/blake2.js";
import { blake2b } from "../../../src/util/blake2b.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test('RFC 7693 appendix A: BLAKE2b-512 of "abc"', () => {
  assert.equal(
    hex(blake2b(new TextEncoder().encode("abc"), 64)),
    "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1" +
      "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
  );
});

test("blake2b-256 of nothing (the digest behind an empty block's CID)", () => {
  assert.equal(
    hex(blake2b(new Uint8Array(0), 32)),
    "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8",
  );
});

test("same digests as @noble/hashes at block and chunk edges, digest lengths 1, 4, 20, 32, 64", () => {
  const chunk = 2 * 65536 - 128;
  const lengths = new Set<number>();
  for (let n = 0; n <= 260; n++) lengths.add(n);
  for (const edge of [chunk, 2 * chunk, 65536, 131072])
    for (let d = -130; d <= 130; d += 1) if (edge + d >= 0) lengths.add(edge + d);
  lengths.add(1_000_003);
  const data = crypto.randomBytes(1_000_003);
  let checked = 0;
  for (const n of lengths)
    for (const out of [1, 4, 20, 32, 64]) {
      const d = data.subarray(0, n);
      assert.equal(hex(blake2b(d, out)), hex(reference(d, { dkLen: out })), `length ${n}, digest ${out}`);
      checked++;
    }
  assert.ok(checked > 5000);
});

test("the input is not changed and calls do not leak state into each other", () => {
  const a = crypto.randomBytes(300_000);
  const copy = Buffer.from(a);
  const first = hex(blake2b(a, 32));
  blake2b(crypto.randomBytes(77), 20);
  assert.equal(hex(blake2b(a, 32)), first);
  assert.deepEqual(a, copy);
});

test("a digest length outside 1..64 is refused", () => {
  for (const bad of [0, 65, 1.5, -1, Number.NaN])
    assert.throws(() => blake2b(new Uint8Array(1), bad), /blake2b digest length must be 1\.\.64 bytes/);
});
