/**
 * DAG-CBOR codec and CID tests. Vectors:
 *  - RFC 8949 Appendix A (Examples of Encoded CBOR Data Items): every example, split into the ones
 *    DAG-CBOR keeps (decode to the value, and the value encodes back to the same bytes) and the
 *    ones it forbids (floats, undefined, simple values, tags other than 42, integer map keys,
 *    indefinite lengths), which must be rejected with CBOR_DECODE.
 *  - filecoin-project/serialization-vectors message_signing.json: "Cid" string and "CidHexBytes"
 *    of two messages (CID string <-> bytes).
 *  - ipld dag-cbor spec: tag 42 payload = 0x00 ‖ CID bytes; map keys length-first then bytewise.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type CborValue, decodeCbor, encodeCbor } from "../../../src/chain/cbor.js";
import { BLAKE2B_256, Cid, DAG_CBOR, dagCborCid } from "../../../src/chain/cid.js";
import { FIL_COMMITMENT_SEALED, POSEIDON_BLS12_381_A2_FC1, sealedCid } from "../../../src/proofs/commCid.js";
import { base32Encode } from "../../../src/util/base32.js";
import { SmError } from "../../../src/util/errors.js";
import { seededRandom } from "../../../src/util/random.js";

const fromHex = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ""), "hex"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function isCode(code: string, ...parts: string[]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof SmError, `expected SmError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const p of parts)
      assert.ok(err.message.includes(p), `"${err.message}" should mention ${JSON.stringify(p)}`);
    return true;
  };
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** RFC 8949 Appendix A examples that are valid DAG-CBOR: [value, hex]. */
const RFC_VALID: [CborValue, string][] = [
  [0, "00"],
  [1, "01"],
  [10, "0a"],
  [23, "17"],
  [24, "1818"],
  [25, "1819"],
  [100, "1864"],
  [1000, "1903e8"],
  [1000000, "1a000f4240"],
  [1000000000000, "1b000000e8d4a51000"],
  [18446744073709551615n, "1bffffffffffffffff"],
  [-18446744073709551616n, "3bffffffffffffffff"],
  [-1, "20"],
  [-10, "29"],
  [-100, "3863"],
  [-1000, "3903e7"],
  [false, "f4"],
  [true, "f5"],
  [null, "f6"],
  [new Uint8Array(0), "40"],
  [fromHex("01020304"), "4401020304"],
  ["", "60"],
  ["a", "6161"],
  ["IETF", "6449455446"],
  ['"\\', "62225c"],
  ["\u00fc", "62c3bc"],
  ["\u6c34", "63e6b0b4"],
  ["\ud800\udd51", "64f0908591"],
  [[], "80"],
  [[1, 2, 3], "83010203"],
  [[1, [2, 3], [4, 5]], "8301820203820405"],
  [range(1, 25), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"],
  [new Map(), "a0"],
  [
    new Map<string, CborValue>([
      ["a", 1],
      ["b", [2, 3]],
    ]),
    "a26161016162820203",
  ],
  [["a", new Map([["b", "c"]])], "826161a161626163"],
  [
    new Map(["a", "b", "c", "d", "e"].map((k) => [k, k.toUpperCase()])),
    "a56161614161626142616361436164614461656145",
  ],
];

/** RFC 8949 Appendix A examples DAG-CBOR (or this Filecoin subset) forbids: [label, hex, message part]. */
const RFC_REJECTED: [string, string, string][] = [
  ["bignum 2^64 (tag 2)", "c249010000000000000000", "tag 2"],
  ["negative bignum (tag 3)", "c349010000000000000000", "tag 3"],
  ...[
    "f90000",
    "f98000",
    "f93c00",
    "fb3ff199999999999a",
    "f93e00",
    "f97bff",
    "fa47c35000",
    "fa7f7fffff",
    "fb7e37e43c8800759c",
    "f90001",
    "f90400",
    "f9c400",
    "fbc010666666666666",
    "f97c00",
    "f97e00",
    "f9fc00",
    "fa7f800000",
    "fa7fc00000",
    "faff800000",
    "fb7ff0000000000000",
    "fb7ff8000000000000",
    "fbfff0000000000000",
  ].map((h): [string, string, string] => [`float ${h}`, h, "floating-point"]),
  ["undefined", "f7", "undefined"],
  ["simple(16)", "f0", "simple values"],
  ["simple(255)", "f8ff", "simple values"],
  ["tag 0 date string", "c074323031332d30332d32315432303a30343a30305a", "tag 0"],
  ["tag 1 epoch", "c11a514b67b0", "tag 1"],
  ["tag 1 float epoch", "c1fb41d452d9ec200000", "tag 1"],
  ["tag 23", "d74401020304", "tag 23"],
  ["tag 24", "d818456449455446", "tag 24"],
  ["tag 32 URI", "d82076687474703a2f2f7777772e6578616d706c652e636f6d", "tag 32"],
  ["integer map keys", "a201020304", "map key must be a text string"],
  ["indefinite byte string", "5f42010243030405ff", "indefinite-length byte string"],
  ["indefinite text string", "7f657374726561646d696e67ff", "indefinite-length text string"],
  ["indefinite empty array", "9fff", "indefinite-length array"],
  ["indefinite nested", "9f018202039f0405ffff", "indefinite-length array"],
  ["indefinite outer", "9f01820203820405ff", "indefinite-length array"],
  ["indefinite inner last", "83018202039f0405ff", "indefinite-length array"],
  ["indefinite inner middle", "83019f0203ff820405", "indefinite-length array"],
  ["indefinite 25 items", "9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff", "indefinite"],
  ["indefinite map", "bf61610161629f0203ffff", "indefinite-length map"],
  ["indefinite inner map", "826161bf61626163ff", "indefinite-length map"],
  ["indefinite map 2", "bf6346756ef563416d7421ff", "indefinite-length map"],
];

describe("RFC 8949 Appendix A", () => {
  for (const [value, h] of RFC_VALID) {
    it(`${h} <-> ${typeof value === "bigint" ? `${value}n` : JSON.stringify(value instanceof Map ? [...value] : value, (_, v) => (v instanceof Uint8Array ? hex(v) : v))}`, () => {
      assert.deepEqual(decodeCbor(fromHex(h)), value);
      assert.equal(hex(encodeCbor(value)), h);
    });
  }
  for (const [label, h, part] of RFC_REJECTED) {
    it(`rejects ${label}`, () => assert.throws(() => decodeCbor(fromHex(h)), isCode("CBOR_DECODE", part)));
  }
});

describe("integer boundaries", () => {
  const cases: [CborValue, string][] = [
    [255, "18ff"],
    [256, "190100"],
    [65535, "19ffff"],
    [65536, "1a00010000"],
    [4294967295, "1affffffff"],
    [4294967296, "1b0000000100000000"],
    [Number.MAX_SAFE_INTEGER, "1b001fffffffffffff"],
    [9007199254740992n, "1b0020000000000000"],
    [-24, "37"],
    [-25, "3818"],
    [-Number.MAX_SAFE_INTEGER, "3b001ffffffffffffe"],
    [-9007199254740992n, "3b001fffffffffffff"],
  ];
  for (const [v, h] of cases) {
    it(`${String(v)} <-> ${h}`, () => {
      assert.equal(hex(encodeCbor(v)), h);
      assert.deepEqual(decodeCbor(fromHex(h)), v);
    });
  }
  it("bigints inside the safe range encode like numbers and decode to numbers", () => {
    assert.equal(hex(encodeCbor(1000n)), "1903e8");
    assert.equal(decodeCbor(encodeCbor(-5n)), -5);
    assert.equal(hex(encodeCbor(-0)), "00");
  });
});

describe("decoder rejects malformed input", () => {
  const bad: [string, string, string][] = [
    ["empty input", "", "empty input"],
    ["truncated 1-byte argument", "18", "truncated"],
    ["truncated 8-byte argument", "1b000000", "truncated"],
    ["non-canonical 1-byte int", "1817", "non-canonical"],
    ["non-canonical 2-byte int", "1900ff", "non-canonical"],
    ["non-canonical 4-byte int", "1a0000ffff", "non-canonical"],
    ["non-canonical 8-byte int", "1b00000000ffffffff", "non-canonical"],
    ["non-canonical negative", "3817", "non-canonical"],
    ["non-canonical length", "5801ff", "non-canonical"],
    ["non-canonical array length", "9800", "non-canonical"],
    ["non-canonical tag number", "d9002a4100", "non-canonical"],
    ["reserved info 28", "1c", "reserved"],
    ["reserved info 30", "5e", "reserved"],
    ["lone break", "ff", "break"],
    ["indefinite uint", "1f", "indefinite"],
    ["truncated byte string", "4401", "truncated or absurd"],
    ["byte string of 2^32-1", "5affffffff00", "absurd"],
    ["byte string of 2^64-1", "5bffffffffffffffff", "absurd"],
    ["text string of 2^53", "7b0020000000000000", "absurd"],
    ["array of 2^32 items", "9b000000010000000000", "absurd"],
    ["array longer than the input", "8301", "absurd"],
    ["map longer than the input", "a26161", "absurd"],
    ["truncated nested item", "8201", "truncated"],
    ["truncated text", "62c3", "absurd"],
    ["invalid UTF-8", "62c328", "UTF-8"],
    ["UTF-8 encoded surrogate", "63eda080", "UTF-8"],
    ["overlong UTF-8", "62c0af", "UTF-8"],
    ["trailing bytes", "0000", "1 trailing byte"],
    ["trailing bytes after array", "80f6f6", "2 trailing"],
    ["duplicate key", "a2616101616102", "duplicate map key"],
    ["bytewise-unsorted keys", "a2616201616101", "DAG-CBOR order"],
    ["length-unsorted keys", "a26261610161620f", "DAG-CBOR order"],
    ["byte-string map key", "a1416101", "map key must be a text string"],
    ["invalid UTF-8 map key", "a161ff01", "UTF-8"],
    ["tag 42 on text", "d82a6161", "must wrap a byte string"],
    ["tag 42 without 0x00 prefix", "d82a4101", "0x00 multibase prefix"],
    ["tag 42 empty bytes", "d82a40", "0x00 multibase prefix"],
    ["tag 42 empty CID", "d82a4100", "empty CID"],
    ["tag 42 CIDv0", `d82a5823 00 1220${"00".repeat(32)}`, "CIDv0"],
    ["tag 42 truncated digest", "d82a4900 0171a0e40220 0102", "truncated"],
    ["tag 42 trailing CID bytes", "d82a4700 0171 00 01 00 ff", "trailing"],
    ["tag 42 CID version 2", "d82a4600 0271 00 01 00", "version 2"],
    ["tag 42 non-minimal varint", "d82a4700 01f100 00 01 00", "not minimal"],
    ["simple value 24 form", "f818", "simple values"],
  ];
  for (const [label, h, part] of bad) {
    it(label, () => assert.throws(() => decodeCbor(fromHex(h)), isCode("CBOR_DECODE", part)));
  }

  it("names the byte offset", () => {
    assert.throws(() => decodeCbor(fromHex("83 01 02 1817")), isCode("CBOR_DECODE", "at byte 3"));
    try {
      decodeCbor(fromHex("83 01 02 1817"));
    } catch (err) {
      assert.equal((err as SmError).fields.offset, 3);
    }
  });

  it("limits nesting depth (default 64, configurable)", () => {
    const deep = fromHex(`${"81".repeat(100)}00`);
    assert.throws(() => decodeCbor(deep), isCode("CBOR_DECODE", "nesting deeper than 64"));
    assert.deepEqual(decodeCbor(fromHex("818100"), { maxDepth: 2 }), [[0]]);
    assert.throws(() => decodeCbor(fromHex("818100"), { maxDepth: 1 }), isCode("CBOR_DECODE", "nesting"));
  });

  it("rejects non-Uint8Array input", () => {
    assert.throws(() => decodeCbor("00" as unknown as Uint8Array), isCode("CBOR_DECODE"));
  });

  it("random and mutated inputs only ever throw CBOR_DECODE (never RangeError)", () => {
    const random = seededRandom(42);
    const seeds = [
      ...RFC_VALID.map(([, h]) => fromHex(h)),
      fromHex("d82a582500017155 1220".padEnd(80, "ab")),
    ];
    for (let i = 0; i < 3000; i++) {
      let input: Uint8Array;
      if (i % 2 === 0) {
        input = Uint8Array.from({ length: Math.floor(random() * 12) }, () => Math.floor(random() * 256));
      } else {
        const s = seeds[i % seeds.length]!;
        input = s.slice(0, Math.max(0, s.length - Math.floor(random() * 3)));
        if (input.length > 0) input[Math.floor(random() * input.length)] = Math.floor(random() * 256);
      }
      try {
        decodeCbor(input);
      } catch (err) {
        assert.ok(err instanceof SmError && err.code === "CBOR_DECODE", `${hex(input)}: ${String(err)}`);
      }
    }
  });

  it("decoded byte strings are copies, not views of the input", () => {
    const input = fromHex("420102");
    const out = decodeCbor(input) as Uint8Array;
    input[1] = 0xff;
    assert.deepEqual(out, fromHex("0102"));
  });
});

describe("encoder", () => {
  it("sorts map keys length-first then bytewise", () => {
    const m = new Map<string, CborValue>([
      ["bb", 1],
      ["b", 2],
      ["a", 3],
      ["aaa", 4],
    ]);
    assert.equal(hex(encodeCbor(m)), "a4616103616202626262016361616104");
    assert.deepEqual(decodeCbor(encodeCbor(m)), m);
  });

  const bad: [string, unknown, string][] = [
    ["float", 1.5, "not a safe integer"],
    ["NaN", Number.NaN, "not a safe integer"],
    ["Infinity", Number.POSITIVE_INFINITY, "not a safe integer"],
    ["unsafe number", 2 ** 53, "not a safe integer"],
    ["bigint above 2^64-1", 1n << 64n, "outside the CBOR integer range"],
    ["bigint below -2^64", -(1n << 64n) - 1n, "outside the CBOR integer range"],
    ["undefined", undefined, "undefined"],
    ["plain object", { a: 1 }, "plain object"],
    ["function", () => 1, "function"],
    ["lone surrogate", "a\ud800", "lone UTF-16 surrogate"],
    ["non-string map key", new Map([[1, 2]]), "not a string"],
    ["nested undefined", [1, [undefined]], "$[1][0]"],
  ];
  for (const [label, value, part] of bad) {
    it(`rejects ${label}`, () =>
      assert.throws(() => encodeCbor(value as CborValue), isCode("CBOR_ENCODE", part)));
  }

  it("rejects cyclic values through the depth limit", () => {
    const cyclic: CborValue[] = [];
    cyclic.push(cyclic);
    assert.throws(() => encodeCbor(cyclic), isCode("CBOR_ENCODE", "nesting deeper"));
  });

  it("grows its buffer for large byte strings", () => {
    const big = new Uint8Array(100_000).fill(7);
    const enc = encodeCbor([big, big]);
    assert.equal(hex(enc.subarray(0, 6)), "825a000186a0");
    assert.deepEqual(decodeCbor(enc), [big, big]);
  });
});

describe("CIDs", () => {
  // filecoin-project/serialization-vectors message_signing.json
  const VECTORS: [string, string][] = [
    [
      "bafy2bzacecqquyjhi2no6k477tnbxl2gca56r4pvkb667cl3ymbnmypjanoye",
      "0171a0e40220a10a6127469aef2b9ffcda1baf46103be8f1f5507def897bc302d661e9035d82",
    ],
    [
      "bafy2bzacebqxoht7ihowhlnjok6tp7ufgbihnwo4yygo6xmggthypqpthfcts",
      "0171a0e4022061771e7f41dd63ada972bd37fe85305076d9dcc60cef5d8634cf87c1f3394539",
    ],
  ];
  for (const [s, h] of VECTORS) {
    it(`${s.slice(0, 20)}… <-> bytes`, () => {
      const cid = Cid.parse(s);
      assert.equal(hex(cid.toBytes()), h);
      assert.equal(cid.codec, DAG_CBOR);
      assert.equal(cid.multihashCode, BLAKE2B_256);
      assert.equal(cid.digest.length, 32);
      assert.equal(Cid.fromBytes(fromHex(h)).toString(), s);
      assert.deepEqual(cid.toJSON(), { "/": s });
      assert.ok(Cid.fromJSON({ "/": s }).equals(cid));
      assert.ok(Cid.parse(`B${s.slice(1).toUpperCase()}`).equals(cid));
    });
  }

  it("dag-cbor blake2b-256 CIDs start with bafy2bzace", () => {
    const cid = dagCborCid(encodeCbor([1, "x"]));
    assert.match(cid.toString(), /^bafy2bzace[a-z2-7]{52}$/);
    assert.equal(hex(cid.toBytes()).slice(0, 12), "0171a0e40220");
  });

  it("tag 42 carries 0x00 ‖ CID bytes", () => {
    const cid = Cid.parse(VECTORS[0]![0]);
    const enc = encodeCbor(new Map([["/", cid]]));
    assert.equal(hex(enc), `a1612fd82a582700${VECTORS[0]![1]}`);
    const back = decodeCbor(enc) as Map<string, CborValue>;
    assert.ok((back.get("/") as Cid).equals(cid));
  });

  it("parses commitment CIDs built by src/proofs", () => {
    const commR = Uint8Array.from({ length: 32 }, (_, i) => i);
    const cid = Cid.parse(sealedCid(commR));
    assert.equal(cid.codec, FIL_COMMITMENT_SEALED);
    assert.equal(cid.multihashCode, POSEIDON_BLS12_381_A2_FC1);
    assert.deepEqual(cid.digest, commR);
    assert.equal(cid.toString(), sealedCid(commR));
  });

  const badStrings: [string, string][] = [
    ["", "too short"],
    ["b", "too short"],
    [`Qm${"a".repeat(44)}`, "CIDv0"],
    ["zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA", "multibase prefix"],
    ["bafy2bzacecqquyjhi2no6k477tnbxl2gca56r4pvkb667cl3ymbnmypjanoyE", "invalid base32 character"],
    ["Bafy2bzacecqquyjhi2no6k477tnbxl2gca56r4pvkb667cl3ymbnmypjanoye", "lower-case characters"],
    [
      `b${base32Encode(fromHex("0171a0e40220a10a6127469aef2b9ffcda1baf46103be8f1f5507def897bc302d661e9035d"))}`,
      "truncated",
    ],
    ["bafy2bzacecqquyjhi2no6k477tnbxl2gca56r4pvkb667cl3ymbnmypjanoyf", "non-zero trailing bits"],
    ["bafy2bzacecqquyjhi2no6k477tnbxl2gca56r4pvkb667cl3ymbnmypjanoyeaa", "trailing bytes"],
    ["ba", "impossible base32 length"],
  ];
  for (const [s, part] of badStrings) {
    it(`rejects ${JSON.stringify(s.slice(0, 30))}`, () =>
      assert.throws(() => Cid.parse(s), isCode("CID_INVALID", part)));
  }

  it("rejects malformed JSON and bytes", () => {
    assert.throws(() => Cid.fromJSON("bafy"), isCode("CID_INVALID"));
    assert.throws(() => Cid.fromJSON({ "/": 1 }), isCode("CID_INVALID"));
    assert.throws(() => Cid.fromJSON({ "/": VECTORS[0]![0], x: 1 }), isCode("CID_INVALID"));
    assert.throws(() => Cid.fromBytes(fromHex("0171a0e402")), isCode("CID_INVALID", "truncated"));
    assert.throws(() => Cid.fromBytes(fromHex(`0171a0e480${"01".repeat(9)}`)), isCode("CID_INVALID"));
    assert.throws(() => Cid.fromBytes(fromHex("0171a0e4028101")), isCode("CID_INVALID", "too long"));
    assert.throws(() => Cid.create(-1, BLAKE2B_256, new Uint8Array(32)), isCode("CID_INVALID"));
    assert.throws(
      () => Cid.create(DAG_CBOR, BLAKE2B_256, new Uint8Array(129)),
      isCode("CID_INVALID", "too long"),
    );
  });
});
