/**
 * The one varint, base32 and CIDv1 reader of src/util, built on multiformats: the strictness they
 * add on top of it (multiformats alone accepts non-minimal varints, '=' padding and CIDv0), the
 * bigint varint multiformats lacks, and agreement with multiformats on every valid input.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { varint } from "multiformats";
import { base32 } from "multiformats/bases/base32";
import { base58btc } from "multiformats/bases/base58";
import { CID } from "multiformats/cid";
import { Cid } from "../../../src/chain/cid.js";
import { base32Decode, base32Encode } from "../../../src/util/base32.js";
import { createCidV1, decodeCidV1, parseCidV1 } from "../../../src/util/cid.js";
import { SmError } from "../../../src/util/errors.js";
import { seededRandom } from "../../../src/util/random.js";
import {
  decodeUvarint,
  decodeUvarintBigInt,
  encodeUvarint,
  encodeUvarintBigInt,
} from "../../../src/util/varint.js";

function isCode(code: string, part: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof SmError, `expected SmError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.includes(part), `"${err.message}" should mention ${JSON.stringify(part)}`);
    return true;
  };
}

describe("varint", () => {
  const edges = [
    0,
    1,
    127,
    128,
    255,
    16383,
    16384,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 32,
    2 ** 49,
    Number.MAX_SAFE_INTEGER,
  ];
  it("round-trips the edges and matches multiformats byte for byte", () => {
    for (const v of edges) {
      const ours = encodeUvarint(v);
      const theirs = varint.encodeTo(v, new Uint8Array(varint.encodingLength(v)));
      assert.deepEqual(ours, theirs, `encode ${v}`);
      const padded = Uint8Array.from([0xaa, ...ours, 0xbb]);
      assert.deepEqual(decodeUvarint(padded, 1), { value: v, next: 1 + ours.length }, `decode ${v}`);
    }
  });

  it("refuses what multiformats' reader lets through", () => {
    // 0x81 0x00 is 1 written in two bytes: multiformats reads 1, the spec calls it non-minimal.
    assert.deepEqual(varint.decode(Uint8Array.of(0x81, 0x00)), [1, 2]);
    assert.throws(
      () => decodeUvarint(Uint8Array.of(0x81, 0x00), 0, { code: "CID_INVALID" }),
      isCode("CID_INVALID", "not minimal"),
    );
    const ten = Uint8Array.of(...new Array(9).fill(0x80), 0x01);
    assert.throws(() => decodeUvarint(ten), isCode("VARINT_INVALID", "longer than 9 bytes"));
    // Nine continuation bytes and then the end: over-long before it is truncated.
    assert.throws(() => decodeUvarint(ten.subarray(0, 9)), isCode("VARINT_INVALID", "longer than 9 bytes"));
    assert.throws(() => decodeUvarint(Uint8Array.of(0x80, 0x80)), isCode("VARINT_INVALID", "truncated"));
    assert.throws(() => decodeUvarint(new Uint8Array(0)), isCode("VARINT_INVALID", "truncated"));
    // 2^53 in 8 bytes: a valid varint, but not a safe JS number.
    assert.throws(
      () => decodeUvarint(encodeUvarintBigInt(2n ** 53n)),
      isCode("VARINT_INVALID", "MAX_SAFE_INTEGER"),
    );
    assert.throws(() => encodeUvarint(-1), isCode("VARINT_INVALID", "non-negative"));
    assert.throws(() => encodeUvarint(2 ** 53), isCode("VARINT_INVALID", "non-negative"));
  });

  it("bigint form: 63 bits decode, u64 encodes in 10 bytes, same refusals", () => {
    const max63 = (1n << 63n) - 1n;
    const bytes = encodeUvarintBigInt(max63);
    assert.equal(bytes.length, 9);
    assert.deepEqual(decodeUvarintBigInt(bytes), { value: max63, next: 9 });
    assert.equal(encodeUvarintBigInt((1n << 64n) - 1n).length, 10);
    assert.throws(
      () => decodeUvarintBigInt(encodeUvarintBigInt(1n << 63n)),
      isCode("VARINT_INVALID", "longer"),
    );
    assert.throws(
      () => decodeUvarintBigInt(Uint8Array.of(0x81, 0x00)),
      isCode("VARINT_INVALID", "not minimal"),
    );
    assert.throws(() => decodeUvarintBigInt(Uint8Array.of(0x81)), isCode("VARINT_INVALID", "truncated"));
    assert.throws(() => encodeUvarintBigInt(-1n), isCode("VARINT_INVALID", "negative"));
    const next = seededRandom(7);
    for (let i = 0; i < 200; i++) {
      const v = BigInt(Math.floor(next() * 2 ** 32)) * BigInt(Math.floor(next() * 2 ** 31)) + BigInt(i);
      assert.equal(decodeUvarintBigInt(encodeUvarintBigInt(v)).value, v, `seed 7, value ${v}`);
      if (v <= BigInt(Number.MAX_SAFE_INTEGER))
        assert.deepEqual(encodeUvarint(Number(v)), encodeUvarintBigInt(v));
    }
  });
});

describe("base32", () => {
  it("agrees with multiformats on random bytes of every length mod 5", () => {
    const next = seededRandom(11);
    for (let n = 0; n < 40; n++) {
      const bytes = Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
      const s = base32Encode(bytes);
      assert.equal(`b${s}`, base32.encode(bytes), `seed 11, length ${n}`);
      assert.deepEqual(base32Decode(s), bytes, `seed 11, length ${n}`);
    }
  });

  it("accepts one spelling only", () => {
    // multiformats strips padding; a padded spelling is a second spelling of the same bytes.
    assert.deepEqual(base32.baseDecode("me======"), Uint8Array.of(0x61));
    assert.throws(() => base32Decode("me======"), isCode("BASE32_INVALID", "invalid base32 character"));
    assert.throws(() => base32Decode("mE"), isCode("BASE32_INVALID", 'character "E" at offset 1'));
    assert.throws(() => base32Decode("mf"), isCode("BASE32_INVALID", "non-zero trailing bits"));
    assert.throws(() => base32Decode("abc"), isCode("BASE32_INVALID", "impossible base32 length 3"));
  });
});

describe("CIDv1", () => {
  const messageCid = "bafy2bzacecqquyjhi2no6k477tnbxl2gca56r4pvkb667cl3ymbnmypjanoye";

  it("reads what multiformats reads, to an equal multiformats CID", () => {
    const next = seededRandom(13);
    for (let i = 0; i < 100; i++) {
      const digest = Uint8Array.from({ length: 1 + Math.floor(next() * 64) }, () => Math.floor(next() * 256));
      const codec = Math.floor(next() * 2 ** (1 + Math.floor(next() * 30)));
      const mh = Math.floor(next() * 2 ** (1 + Math.floor(next() * 30)));
      const ours = createCidV1(codec, mh, digest);
      const s = ours.toString();
      assert.ok(CID.parse(s).equals(ours), `seed 13, case ${i}`);
      assert.ok(parseCidV1(s).equals(CID.parse(s)), `seed 13, case ${i}`);
      assert.ok(decodeCidV1(ours.bytes).equals(ours), `seed 13, case ${i}`);
      assert.ok(Cid.parse(s).toMultiformats().equals(ours), `seed 13, case ${i}`);
    }
    assert.equal(Cid.parse(messageCid).toMultiformats().toString(), messageCid);
  });

  it("refuses CIDv0 and other multibases that multiformats accepts", () => {
    const v0 = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n";
    assert.equal(CID.parse(v0).version, 0);
    assert.throws(() => parseCidV1(v0), isCode("CID_INVALID", "CIDv0"));
    assert.throws(() => decodeCidV1(CID.parse(v0).bytes), isCode("CID_INVALID", "CIDv0"));
    const z = CID.parse(messageCid).toString(base58btc);
    assert.ok(CID.parse(z, base58btc).equals(CID.parse(messageCid)));
    assert.throws(() => parseCidV1(z), isCode("CID_INVALID", "multibase prefix"));
  });

  it("digest copies: a caller writing its array does not change the CID", () => {
    const digest = new Uint8Array(32).fill(1);
    const cid = createCidV1(0x71, 0xb220, digest);
    digest[0] = 9;
    assert.equal(cid.multihash.digest[0], 1);
    const bytes = cid.bytes.slice();
    const read = decodeCidV1(bytes);
    bytes[bytes.length - 1] = 0;
    assert.ok(read.equals(cid));
  });

  it("errors carry the caller's code", () => {
    assert.throws(() => parseCidV1("b", { code: "PROOF_BAD_INPUT" }), isCode("PROOF_BAD_INPUT", "too short"));
    assert.throws(
      () => createCidV1(0x71, 0xb220, new Uint8Array(200), { maxDigestLength: 128 }),
      isCode("CID_INVALID", "too long"),
    );
    assert.equal(
      createCidV1(0x71, 0x00, new Uint8Array(200), { maxDigestLength: Infinity }).multihash.size,
      200,
    );
  });
});
