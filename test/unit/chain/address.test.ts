/**
 * Filecoin address tests. Vectors are from filecoin-project/go-address address_test.go
 * (TestVectorsIDAddress, TestVectorSecp256k1Address, TestVectorActorAddress, TestVectorBLSAddress,
 * TestDelegatedAddress, TestInvalidStringAddresses, TestInvalidByteAddresses, TestTrailingBits,
 * TestIDMax, TestIDEdgeCase, allTestAddresses) and the Lotus API docs' example ID address f01234
 * (api/docgen: address.NewIDAddress(1234)).
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { blake2b } from "@noble/hashes/blake2.js";
import {
  Address,
  AddressError,
  type AddressErrorCode,
  addressChecksum,
  Protocol,
  parseAddress,
} from "../../../src/chain/address.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, "hex"));

/** Independent RFC 4648 base32 (lower case, unpadded) encoder for building test inputs. */
function b32(bytes: Uint8Array): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let bits = "";
  for (const b of bytes) bits += b.toString(2).padStart(8, "0");
  while (bits.length % 5) bits += "0";
  let out = "";
  for (let i = 0; i < bits.length; i += 5) out += alphabet[Number.parseInt(bits.slice(i, i + 5), 2)];
  return out;
}

function expectError(fn: () => unknown, code: AddressErrorCode, label: string, pattern?: RegExp): void {
  assert.throws(
    fn,
    (err: unknown) => {
      assert.ok(err instanceof AddressError, `${label}: expected AddressError, got ${String(err)}`);
      assert.equal(err.code, code, `${label}: code (message: ${err.message})`);
      if (pattern) assert.match(err.message, pattern, `${label}: message`);
      return true;
    },
    label,
  );
}

describe("ID addresses (protocol 0)", () => {
  // go-address TestVectorsIDAddress; byte form = 0x00 + unsigned LEB128 varint of the id.
  const vectors: Array<[bigint, string, string]> = [
    [0n, "t00", "0000"],
    [1n, "t01", "0001"],
    [10n, "t010", "000a"],
    [150n, "t0150", "009601"],
    [499n, "t0499", "00f303"],
    [1024n, "t01024", "008008"],
    [1729n, "t01729", "00c10d"],
    [999999n, "t0999999", "00bf843d"],
    [(1n << 63n) - 1n, "t09223372036854775807", "00ffffffffffffffff7f"],
  ];

  it("formats, parses and serialises the go-address vectors", () => {
    for (const [id, str, bytes] of vectors) {
      const a = Address.fromId(id);
      assert.equal(a.protocol, Protocol.ID, `${str}: protocol`);
      assert.equal(a.toString("t"), str, `${str}: testnet string`);
      assert.equal(a.toString(), `f${str.slice(1)}`, `${str}: mainnet string (default)`);
      assert.equal(hex(a.toBytes()), bytes, `${str}: bytes`);
      const parsed = parseAddress(str);
      assert.equal(parsed.network, "t", `${str}: network`);
      assert.ok(parsed.address.equals(a), `${str}: parse`);
      assert.equal(parsed.address.id, id, `${str}: id`);
      assert.ok(Address.fromBytes(fromHex(bytes)).equals(a), `${str}: from bytes`);
    }
  });

  it("handles the Lotus docs example f01234 (bytes 00 d2 09) and miner-style ids", () => {
    const a = Address.fromString("f01234");
    assert.equal(hex(a.toBytes()), "00d209");
    assert.equal(a.actorId(), 1234);
    assert.equal(Address.fromId(1234).toString(), "f01234");
    assert.equal(JSON.stringify({ miner: Address.fromId(1000) }), '{"miner":"f01000"}');
  });

  it("enforces an expected network prefix when asked", () => {
    assert.equal(Address.fromString("t01000", "t").actorId(), 1000);
    expectError(
      () => Address.fromString("t01000", "f"),
      "ADDRESS_WRONG_NETWORK",
      "t on mainnet",
      /expected "f"/,
    );
  });

  it("accepts leading zeros like go-address (strconv.ParseUint) and re-formats canonically", () => {
    assert.equal(Address.fromString("f0007").toString(), "f07");
  });

  it("enforces the 2^63 limit (go-address TestIDMax) and rejects bad ids", () => {
    assert.equal(Address.fromString("t09223372036854775807").id, (1n << 63n) - 1n);
    expectError(
      () => Address.fromString("t09223372036854775808"),
      "ADDRESS_INVALID_PAYLOAD",
      "2^63",
      /2\^63/,
    );
    expectError(() => Address.fromId(1n << 63n), "ADDRESS_INVALID_PAYLOAD", "fromId(2^63)");
    expectError(() => Address.fromId(-1), "ADDRESS_INVALID_PAYLOAD", "fromId(-1)");
    expectError(() => Address.fromId(1.5), "ADDRESS_INVALID_PAYLOAD", "fromId(1.5)");
    expectError(() => Address.fromId(2 ** 53), "ADDRESS_INVALID_PAYLOAD", "fromId(2^53 as number)");
    // 2^64 as a varint (10 bytes): rejected.
    expectError(
      () => Address.fromBytes(fromHex("00ffffffffffffffffff01")),
      "ADDRESS_INVALID_PAYLOAD",
      "2^64 varint",
    );
    // go-address TestIDEdgeCase: truncated varint.
    expectError(
      () => Address.fromBytes(Uint8Array.of(0, 0x80)),
      "ADDRESS_INVALID_PAYLOAD",
      "0x00 0x80",
      /truncated/,
    );
    // Non-minimal varint and trailing bytes.
    expectError(
      () => Address.fromBytes(Uint8Array.of(0, 0x81, 0x00)),
      "ADDRESS_INVALID_PAYLOAD",
      "non-minimal",
      /minimal/,
    );
    expectError(
      () => Address.fromBytes(Uint8Array.of(0, 0x01, 0x02)),
      "ADDRESS_INVALID_LENGTH",
      "extra byte",
      /after the varint/,
    );
    // actorId() refuses ids beyond JS numbers; id (bigint) still works.
    const big = Address.fromId(1n << 60n);
    assert.equal(big.id, 1n << 60n);
    expectError(() => big.actorId(), "ADDRESS_INVALID_PAYLOAD", "actorId beyond 2^53", /MAX_SAFE_INTEGER/);
    expectError(
      () => Address.fromString("f1xpbyy4tkdx5si2bgo37dubc2xwv6fum5tk57mia").id,
      "ADDRESS_NOT_ID",
      "id of f1",
    );
  });
});

describe("secp256k1, actor and BLS addresses", () => {
  // go-address TestVectorSecp256k1Address (uncompressed public keys).
  const secp: Array<[number[], string]> = [
    [
      [
        4, 148, 2, 250, 195, 126, 100, 50, 164, 22, 163, 160, 202, 84, 38, 181, 24, 90, 179, 178, 79, 97, 52,
        239, 162, 92, 228, 135, 200, 45, 46, 78, 19, 191, 69, 37, 17, 224, 210, 36, 84, 33, 248, 97, 59, 193,
        13, 114, 250, 33, 102, 102, 169, 108, 59, 193, 57, 32, 211, 255, 35, 63, 208, 188, 5,
      ],
      "15ihq5ibzwki2b4ep2f46avlkrqzhpqgtga7pdrq",
    ],
    [
      [
        4, 118, 135, 185, 16, 55, 155, 242, 140, 190, 58, 234, 103, 75, 18, 0, 12, 107, 125, 186, 70, 255,
        192, 95, 108, 148, 254, 42, 34, 187, 204, 38, 2, 255, 127, 92, 118, 242, 28, 165, 93, 54, 149, 145,
        82, 176, 225, 232, 135, 145, 124, 57, 53, 118, 238, 240, 147, 246, 30, 189, 58, 208, 111, 127, 218,
      ],
      "12fiakbhe2gwd5cnmrenekasyn6v5tnaxaqizq6a",
    ],
  ];
  // go-address TestVectorActorAddress.
  const actor: Array<[number[], string]> = [
    [
      [118, 18, 129, 144, 205, 240, 104, 209, 65, 128, 68, 172, 192, 62, 11, 103, 129, 151, 13, 96],
      "24vg6ut43yw2h2jqydgbg2xq7x6f4kub3bg6as6i",
    ],
    [
      [44, 175, 184, 226, 224, 107, 186, 152, 234, 101, 124, 92, 245, 244, 32, 35, 170, 35, 232, 142],
      "25nml2cfbljvn4goqtclhifepvfnicv6g7mfmmvq",
    ],
  ];
  // go-address TestVectorBLSAddress.
  const bls: Array<[number[], string]> = [
    [
      [
        173, 88, 223, 105, 110, 45, 78, 145, 234, 134, 200, 129, 233, 56, 186, 78, 168, 27, 57, 94, 18, 121,
        123, 132, 185, 207, 49, 75, 149, 70, 112, 94, 131, 156, 122, 153, 214, 6, 178, 71, 221, 180, 249, 172,
        122, 52, 20, 221,
      ],
      "3vvmn62lofvhjd2ugzca6sof2j2ubwok6cj4xxbfzz4yuxfkgobpihhd2thlanmsh3w2ptld2gqkn2jvlss4a",
    ],
    [
      [
        179, 41, 79, 10, 46, 41, 224, 198, 110, 188, 35, 93, 47, 237, 202, 86, 151, 191, 120, 74, 246, 5, 199,
        90, 246, 8, 230, 166, 61, 92, 211, 142, 168, 92, 168, 152, 158, 14, 253, 233, 24, 139, 56, 47, 147,
        114, 70, 13,
      ],
      "3wmuu6crofhqmm3v4enos73okk2l366ck6yc4owxwbdtkmpk42ohkqxfitcpa57pjdcftql4tojda2poeruwa",
    ],
  ];

  const check = (a: Address, tail: string, protocol: number, payload: Uint8Array) => {
    for (const net of ["f", "t"] as const) {
      const str = net + tail;
      assert.equal(a.toString(net), str, `${str}: format`);
      const parsed = Address.fromString(str, net);
      assert.ok(parsed.equals(a), `${str}: parse`);
      assert.equal(parsed.protocol, protocol, `${str}: protocol`);
      assert.equal(hex(parsed.payload), hex(payload), `${str}: payload`);
      assert.equal(hex(parsed.toBytes()), hex(Uint8Array.of(protocol, ...payload)), `${str}: byte form`);
      assert.ok(Address.fromBytes(parsed.toBytes()).equals(a), `${str}: from bytes`);
    }
  };

  it("derives secp256k1 addresses from public keys (blake2b-160)", () => {
    for (const [key, tail] of secp) {
      const pk = Uint8Array.from(key);
      check(Address.fromSecp256k1PublicKey(pk), tail, Protocol.SECP256K1, blake2b(pk, { dkLen: 20 }));
    }
  });

  it("derives actor addresses from creation data", () => {
    for (const [data, tail] of actor) {
      const d = Uint8Array.from(data);
      check(Address.fromActorData(d), tail, Protocol.ACTOR, blake2b(d, { dkLen: 20 }));
    }
  });

  it("wraps BLS public keys", () => {
    for (const [key, tail] of bls) {
      const pk = Uint8Array.from(key);
      check(Address.fromBlsPublicKey(pk), tail, Protocol.BLS, pk);
    }
  });

  it("parses every go-address allTestAddresses entry and re-formats it identically", () => {
    const all = [
      "t00",
      "t01",
      "t010",
      "t0150",
      "t0499",
      "t01024",
      "t01729",
      "t0999999",
      "t15ihq5ibzwki2b4ep2f46avlkrqzhpqgtga7pdrq",
      "t12fiakbhe2gwd5cnmrenekasyn6v5tnaxaqizq6a",
      "t1wbxhu3ypkuo6eyp6hjx6davuelxaxrvwb2kuwva",
      "t1xtwapqc6nh4si2hcwpr3656iotzmlwumogqbuaa",
      "t1xcbgdhkgkwht3hrrnui3jdopeejsoatkzmoltqy",
      "t17uoq6tp427uzv7fztkbsnn64iwotfrristwpryy",
      "t24vg6ut43yw2h2jqydgbg2xq7x6f4kub3bg6as6i",
      "t25nml2cfbljvn4goqtclhifepvfnicv6g7mfmmvq",
      "t2nuqrg7vuysaue2pistjjnt3fadsdzvyuatqtfei",
      "t24dd4ox4c2vpf5vk5wkadgyyn6qtuvgcpxxon64a",
      "t2gfvuyh7v2sx3patm5k23wdzmhyhtmqctasbr23y",
      "t3vvmn62lofvhjd2ugzca6sof2j2ubwok6cj4xxbfzz4yuxfkgobpihhd2thlanmsh3w2ptld2gqkn2jvlss4a",
      "t3wmuu6crofhqmm3v4enos73okk2l366ck6yc4owxwbdtkmpk42ohkqxfitcpa57pjdcftql4tojda2poeruwa",
      "t3s2q2hzhkpiknjgmf4zq3ejab2rh62qbndueslmsdzervrhapxr7dftie4kpnpdiv2n6tvkr743ndhrsw6d3a",
      "t3q22fijmmlckhl56rn5nkyamkph3mcfu5ed6dheq53c244hfmnq2i7efdma3cj5voxenwiummf2ajlsbxc65a",
      "t3u5zgwa4ael3vuocgc5mfgygo4yuqocrntuuhcklf4xzg5tcaqwbyfabxetwtj4tsam3pbhnwghyhijr5mixa",
    ];
    for (const s of all) {
      const a = Address.fromString(s);
      assert.equal(a.toString("t"), s, `${s}: round trip`);
      assert.ok(Address.fromBytes(a.toBytes()).equals(a), `${s}: bytes round trip`);
      // The string's checksum is blake2b-32 over the byte form.
      if (a.protocol !== Protocol.ID) {
        const encoded = b32(Uint8Array.of(...a.payload, ...addressChecksum(a.toBytes())));
        assert.equal(encoded, s.slice(2), `${s}: payload + checksum in base32`);
      }
    }
  });

  it("rejects bad checksums", () => {
    const good = [
      "f15ihq5ibzwki2b4ep2f46avlkrqzhpqgtga7pdrq",
      "f24vg6ut43yw2h2jqydgbg2xq7x6f4kub3bg6as6i",
      "f3vvmn62lofvhjd2ugzca6sof2j2ubwok6cj4xxbfzz4yuxfkgobpihhd2thlanmsh3w2ptld2gqkn2jvlss4a",
      "f432f77777777x32lpna",
    ];
    for (const s of good) {
      assert.doesNotThrow(() => Address.fromString(s), s);
      // Change one payload character (well before the final, partially used one).
      const i = s.length - 12;
      const c = s[i] === "a" ? "b" : "a";
      const bad = s.slice(0, i) + c + s.slice(i + 1);
      expectError(
        () => Address.fromString(bad),
        "ADDRESS_INVALID_CHECKSUM",
        `tampered ${bad}`,
        /bad checksum/,
      );
    }
    // go-address TestInvalidStringAddresses: last character changed.
    expectError(
      () => Address.fromString("t2gfvuyh7v2sx3patm5k23wdzmhyhtmqctasbr24y"),
      "ADDRESS_INVALID_CHECKSUM",
      "24y",
    );
  });

  it("rejects non-canonical base32 trailing bits (go-address TestTrailingBits)", () => {
    assert.doesNotThrow(() => Address.fromString("f1xpbyy4tkdx5si2bgo37dubc2xwv6fum5tk57mia"));
    expectError(
      () => Address.fromString("f1xpbyy4tkdx5si2bgo37dubc2xwv6fum5tk57mid"),
      "ADDRESS_INVALID_ENCODING",
      "trailing bits",
      /not canonical/,
    );
  });
});

describe("delegated (f4) addresses", () => {
  it("matches go-address TestDelegatedAddress", () => {
    const max = (1n << 63n) - 1n;
    const cases: Array<[bigint, Uint8Array, string]> = [
      [32n, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff), "f432f77777777x32lpna"],
      [max, new Uint8Array(0), "f49223372036854775807fiic6zsy"],
      [
        max,
        new Uint8Array(54),
        "f49223372036854775807faaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaahwgiuam",
      ],
    ];
    for (const [ns, sub, str] of cases) {
      const a = Address.fromDelegated(ns, sub);
      assert.equal(a.protocol, Protocol.DELEGATED, `${str}: protocol`);
      assert.equal(a.toString(), str, `${str}: format`);
      const parsed = Address.fromString(str);
      assert.ok(parsed.equals(a), `${str}: parse`);
      assert.ok(Address.fromBytes(a.toBytes()).equals(a), `${str}: bytes`);
      assert.equal(a.toBytes()[0], 4, `${str}: protocol byte`);
    }
    // Byte form of the first: 04 | varint(32)=20 | ff ff ff ff ff.
    assert.equal(hex(Address.fromString("f432f77777777x32lpna").toBytes()), "0420ffffffffff");
  });

  it("rejects malformed delegated addresses", () => {
    expectError(
      () => Address.fromDelegated(0, new Uint8Array(55)),
      "ADDRESS_INVALID_LENGTH",
      "55-byte sub-address",
    );
    expectError(
      () => Address.fromString("f432"),
      "ADDRESS_INVALID_PAYLOAD",
      "no f separator",
      /lacks the "f"/,
    );
    expectError(() => Address.fromString("f4f77777777x32lpna"), "ADDRESS_INVALID_PAYLOAD", "empty namespace");
    expectError(
      () => Address.fromString("f433f77777777x32lpna"),
      "ADDRESS_INVALID_CHECKSUM",
      "namespace changed",
    );
    expectError(() => Address.fromString("f432faaa"), "ADDRESS_INVALID_ENCODING", "impossible base32 length");
    expectError(() => Address.fromString("f432faaaa"), "ADDRESS_INVALID_LENGTH", "too short for a checksum");
  });
});

describe("malformed strings and bytes", () => {
  it("rejects go-address TestInvalidStringAddresses with matching error kinds", () => {
    const a = (n: number) => "a".repeat(n);
    const enc = (n: number) => b32(new TextEncoder().encode(a(n)));
    const cases: Array<[string, AddressErrorCode]> = [
      ["Q2gfvuyh7v2sx3patm5k23wdzmhyhtmqctasbr23y", "ADDRESS_UNKNOWN_NETWORK"],
      ["t5gfvuyh7v2sx3patm5k23wdzmhyhtmqctasbr23y", "ADDRESS_UNKNOWN_PROTOCOL"],
      ["t2gfvuyh7v2sx3patm5k23wdzmhyhtmqctasbr24y", "ADDRESS_INVALID_CHECKSUM"],
      ["t0banananananannnnnnnnn", "ADDRESS_INVALID_LENGTH"],
      ["t0banananananannnnnnn", "ADDRESS_INVALID_PAYLOAD"],
      ["t2gfvuyh7v2sx3patm1k23wdzmhyhtmqctasbr24y", "ADDRESS_INVALID_ENCODING"], // '1' not in alphabet
      ["t2gfvuyh7v2sx3paTm1k23wdzmhyhtmqctasbr24y", "ADDRESS_INVALID_ENCODING"], // 'T' not in alphabet
      ["t2", "ADDRESS_INVALID_LENGTH"],
      ["t1234q", "ADDRESS_INVALID_LENGTH"],
      [a(116), "ADDRESS_INVALID_LENGTH"],
      ["t", "ADDRESS_INVALID_LENGTH"],
      ["t0", "ADDRESS_INVALID_LENGTH"],
      ["t0" + a(19), "ADDRESS_INVALID_PAYLOAD"],
      ["t0" + a(20), "ADDRESS_INVALID_LENGTH"],
      ["t1" + enc(24), "ADDRESS_INVALID_CHECKSUM"],
      ["t1" + enc(25), "ADDRESS_INVALID_LENGTH"],
      ["t1" + enc(23), "ADDRESS_INVALID_LENGTH"],
      ["t2" + enc(24), "ADDRESS_INVALID_CHECKSUM"],
      ["t2" + enc(25), "ADDRESS_INVALID_LENGTH"],
      ["t2" + enc(23), "ADDRESS_INVALID_LENGTH"],
      ["t3" + enc(52), "ADDRESS_INVALID_CHECKSUM"],
      ["t3" + enc(53), "ADDRESS_INVALID_LENGTH"],
      ["t3" + enc(51), "ADDRESS_INVALID_LENGTH"],
      // Beyond the go-address table.
      ["", "ADDRESS_INVALID_LENGTH"],
      ["F01000", "ADDRESS_UNKNOWN_NETWORK"],
      ["f01000 ", "ADDRESS_INVALID_PAYLOAD"],
      ["f0-1", "ADDRESS_INVALID_PAYLOAD"],
      ["f0+1", "ADDRESS_INVALID_PAYLOAD"],
      ["f01e3", "ADDRESS_INVALID_PAYLOAD"],
      ["f15IHQ5IBZWKI2B4EP2F46AVLKRQZHPQGTGA7PDRQ", "ADDRESS_INVALID_ENCODING"],
      ["f15ihq5ibzwki2b4ep2f46avlkrqzhpqgtga7pdrq=", "ADDRESS_INVALID_ENCODING"],
    ];
    for (const [input, code] of cases) {
      expectError(() => Address.fromString(input), code, `parse ${JSON.stringify(input)}`);
    }
  });

  it("rejects go-address TestInvalidByteAddresses", () => {
    const cat = (head: number[], n: number) => Uint8Array.of(...head, ...new Uint8Array(n));
    const cases: Array<[Uint8Array, AddressErrorCode]> = [
      [Uint8Array.of(5, 4, 4), "ADDRESS_UNKNOWN_PROTOCOL"],
      [Uint8Array.of(0), "ADDRESS_INVALID_LENGTH"],
      [cat([1], 19), "ADDRESS_INVALID_LENGTH"],
      [cat([1], 21), "ADDRESS_INVALID_LENGTH"],
      [cat([2], 19), "ADDRESS_INVALID_LENGTH"],
      [cat([2], 21), "ADDRESS_INVALID_LENGTH"],
      [cat([3], 47), "ADDRESS_INVALID_LENGTH"],
      [cat([3], 33), "ADDRESS_INVALID_LENGTH"],
      [cat([4, 0], 55), "ADDRESS_INVALID_LENGTH"],
      [Uint8Array.of(4, 0xff), "ADDRESS_INVALID_PAYLOAD"],
      // Beyond the go-address table.
      [new Uint8Array(0), "ADDRESS_INVALID_LENGTH"],
    ];
    for (const [bytes, code] of cases) {
      expectError(() => Address.fromBytes(bytes), code, `bytes ${hex(bytes)}`);
    }
  });

  it("copies payloads so callers cannot mutate an address", () => {
    const a = Address.fromString("f15ihq5ibzwki2b4ep2f46avlkrqzhpqgtga7pdrq");
    const p = a.payload;
    p[0] = p[0]! ^ 0xff;
    assert.equal(a.toString(), "f15ihq5ibzwki2b4ep2f46avlkrqzhpqgtga7pdrq");
    const bytes = a.toBytes();
    bytes[1] = 0;
    assert.equal(a.toString(), "f15ihq5ibzwki2b4ep2f46avlkrqzhpqgtga7pdrq");
  });
});
