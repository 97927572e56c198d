/**
 * Filecoin message and big-int tests. Vectors:
 *  - Zondax/filecoin-signing-tools test_vectors/txs.json: Lotus-JSON messages and their CBOR hex
 *    (current 10-field format), including a t01002 / Method 7 message with params.
 *  - Zondax/filecoin-signing-tools test_vectors/get_cid.json: a secp256k1-signed message and its CID
 *    (CID of the SignedMessage tuple [Message, Signature bytes]).
 *  - okx/go-wallet-sdk coins/filecoin/transaction_test.go: blake2b-256 of the message CID bytes
 *    (the secp256k1 signing digest) for two messages, which pins the CID of each.
 *  - filecoin-project/serialization-vectors message_signing.json and unsigned_messages.json: the
 *    2020 pre-EIP-1559 message (8 fields, GasPrice, no Version), used for the CID function and
 *    the generic codec (u64 beyond 2^53, big ints), not for the current message layout.
 * No Lotus-repo vector with a current-format message CID was found.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Address } from "../../../src/chain/address.js";
import {
  bigIntFromJSON,
  bigIntToJSON,
  decodeBigIntBytes,
  encodeBigIntBytes,
} from "../../../src/chain/bigint.js";
import { type CborValue, decodeCbor, encodeCbor } from "../../../src/chain/cbor.js";
import { blake2b256, dagCborCid } from "../../../src/chain/cid.js";
import {
  checkMessageForInclusion,
  decodeMessage,
  encodeMessage,
  type Message,
  MinerMethod,
  messageCid,
  messageFromLotusJSON,
  messageToLotusJSON,
} from "../../../src/chain/message.js";
import { SmError } from "../../../src/util/errors.js";

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

describe("Filecoin big ints", () => {
  const table: [bigint, string][] = [
    [0n, ""],
    [1n, "0001"],
    [-1n, "0101"],
    [255n, "00ff"],
    [256n, "000100"],
    [100000n, "000186a0"],
    [-100000n, "010186a0"],
    [11416382733294334924n, "009e6f239bfde973cc"], // serialization-vectors unsigned_messages.json #0 Value
    [10n ** 27n, "00033b2e3c9fd0803ce8000000"],
  ];
  for (const [v, h] of table) {
    it(`${v} <-> ${h || "(empty)"}`, () => {
      assert.equal(hex(encodeBigIntBytes(v)), h);
      assert.equal(decodeBigIntBytes(fromHex(h)), v);
      assert.equal(bigIntToJSON(v), v.toString());
      assert.equal(bigIntFromJSON(v.toString()), v);
    });
  }

  it("enforces the 128-byte limit both ways", () => {
    const max = (1n << (8n * 127n)) - 1n;
    assert.equal(encodeBigIntBytes(max).length, 128);
    assert.equal(decodeBigIntBytes(encodeBigIntBytes(-max)), -max);
    assert.throws(() => encodeBigIntBytes(max + 1n), isCode("BIGINT_INVALID", "128 bytes"));
    assert.throws(
      () => decodeBigIntBytes(new Uint8Array(129).fill(1, 0, 1).fill(7, 1)),
      isCode("BIGINT_INVALID", "129"),
    );
    assert.throws(() => bigIntFromJSON((max + 1n).toString()), isCode("BIGINT_INVALID", "128 bytes"));
  });

  const badBytes: [string, string, string][] = [
    ["sign byte 2", "0201", "sign byte"],
    ["sign byte 0xff", "ff", "sign byte"],
    ["lone positive sign", "00", "not minimal"],
    ["lone negative sign (-0)", "01", "not minimal"],
    ["leading zero magnitude", "000001", "leading zero"],
  ];
  for (const [label, h, part] of badBytes) {
    it(`strict decode rejects ${label}`, () =>
      assert.throws(() => decodeBigIntBytes(fromHex(h)), isCode("BIGINT_INVALID", part)));
  }
  it("lenient decode accepts what go-state-types FromBytes accepts", () => {
    assert.equal(decodeBigIntBytes(fromHex("00"), { strict: false }), 0n);
    assert.equal(decodeBigIntBytes(fromHex("01"), { strict: false }), 0n);
    assert.equal(decodeBigIntBytes(fromHex("01000005"), { strict: false }), -5n);
    assert.throws(() => decodeBigIntBytes(fromHex("02"), { strict: false }), isCode("BIGINT_INVALID"));
  });

  it("JSON accepts Go SetString(s, 10) spellings and rejects the rest", () => {
    assert.equal(bigIntFromJSON("+5"), 5n);
    assert.equal(bigIntFromJSON("-007"), -7n);
    assert.equal(bigIntFromJSON("-0"), 0n);
    for (const bad of ["", "1.5", "1e3", " 1", "0x10", "1_000", "--1", "٣", "x".repeat(401)]) {
      assert.throws(() => bigIntFromJSON(bad), isCode("BIGINT_INVALID"), bad);
    }
    for (const bad of [5, 5n, null, undefined, ["1"]])
      assert.throws(() => bigIntFromJSON(bad), isCode("BIGINT_INVALID"));
    assert.throws(() => encodeBigIntBytes(5 as unknown as bigint), isCode("BIGINT_INVALID"));
  });
});

const TX0 = {
  To: "t17uoq6tp427uzv7fztkbsnn64iwotfrristwpryy",
  From: "t1d2xrzcslx7xlbbylc5c3d5lvandqw4iwl6epxba",
  Nonce: 1,
  Value: "100000",
  GasLimit: 25000,
  GasFeeCap: "1",
  GasPremium: "1",
  Method: 0,
  Params: "",
};
const TX0_CBOR =
  "8a005501fd1d0f4dfcd7e99afcb99a8326b7dc459d32c62855011eaf1c8a4bbfeeb0870b1745b1f57503470b71160144000186a01961a84200014200010040";
const TX2 = {
  ...TX0,
  To: "t01002",
  Method: 7,
  Params: "hFUB/R0PTfzX6Zr8uZqDJrfcRZ0yxihAB1gtglUB/R0PTfzX6Zr8uZqDJrfcRZ0yxihVAR6vHIpLv+6whwsXRbH1dQNHC3EW",
};
const TX2_CBOR =
  "8a004300ea0755011eaf1c8a4bbfeeb0870b1745b1f57503470b71160144000186a01961a8420001420001075848845501fd1d0f4dfcd7e99afcb99a8326b7dc459d32c6284007582d825501fd1d0f4dfcd7e99afcb99a8326b7dc459d32c62855011eaf1c8a4bbfeeb0870b1745b1f57503470b7116";

describe("message vectors", () => {
  it("Zondax txs.json #0: JSON -> CBOR, both networks", () => {
    const m = messageFromLotusJSON(TX0);
    assert.equal(hex(encodeMessage(m)), TX0_CBOR);
    const mainnet = messageFromLotusJSON({
      ...TX0,
      To: `f${TX0.To.slice(1)}`,
      From: `f${TX0.From.slice(1)}`,
    });
    assert.equal(hex(encodeMessage(mainnet)), TX0_CBOR);
  });

  it("Zondax txs.json #2: ID address, Method 7, params", () => {
    const m = messageFromLotusJSON(TX2);
    assert.equal(hex(encodeMessage(m)), TX2_CBOR);
    const back = decodeMessage(fromHex(TX2_CBOR));
    assert.equal(back.to.toString("t"), "t01002");
    assert.equal(back.method, 7);
    assert.equal(Buffer.from(back.params).toString("base64"), TX2.Params);
    assert.deepEqual(messageToLotusJSON(back, { network: "t" }), { Version: 0, ...TX2 });
  });

  it("Zondax get_cid.json: CID of the secp256k1 SignedMessage [Message, Signature]", () => {
    const m = messageFromLotusJSON({ ...TX0, GasLimit: 2500000 });
    const sig = Buffer.from(
      "0wRrFJZFIVh8m0JD+f5C55YrxD6YAWtCXWYihrPTKdMfgMhYAy86MVhs43hSLXnV+47UReRIe8qFdHRJqFlreAE=",
      "base64",
    );
    // Signature CBOR (go-state-types crypto.Signature) = bytes(type byte ‖ data); type 1 = secp256k1.
    const signed = encodeCbor([decodeCbor(encodeMessage(m)), Uint8Array.of(1, ...sig)]);
    assert.equal(
      dagCborCid(signed).toString(),
      "bafy2bzacebaiinljwwctblf7czp4zxwhz4747z6tpricgn5cumd4xhebftcvu",
    );
  });

  it("okx go-wallet-sdk: blake2b-256 of the message CID bytes", () => {
    const cases = [
      [
        "f1b3cn3x3uhyuqcgtjewjj3vpychvgztu3oxk36ta",
        "69f8861931b0d568c238eee7615a22957c561bb34e0f31cf4885d981ac4bdc02",
      ],
      [
        "f1bh3d2y6xxugpg3ygzxnjhcrs5ffxh5nvqmanbia",
        "e496300a898281703d377eaebe15b362571e813dc924d5a846815bda07c4b960",
      ],
    ];
    for (const [addr, digest] of cases) {
      const m = messageFromLotusJSON({
        ...{ To: addr, From: addr, Nonce: 1, Value: "100", GasLimit: 608335 },
        ...{ GasFeeCap: "1643831112", GasPremium: "99707", Method: 0, Params: null },
      });
      const cid = messageCid(m);
      assert.match(cid.toString(), /^bafy2bzace/);
      assert.equal(hex(blake2b256(cid.toBytes())), digest);
    }
  });

  it("serialization-vectors message_signing.json: CIDs of the 2020 8-field message", () => {
    const cases = [
      [
        "t3r4mni4ncwaa5bnr5jz3hvrbuiupy2oqf5u65zg5nkrldgg7ubskkvaa554v7kdzl5ughslh7gct7s4fjhpya",
        "bafy2bzacecqquyjhi2no6k477tnbxl2gca56r4pvkb667cl3ymbnmypjanoye",
      ],
      [
        "t3v5sb37hecmsm6ybo4g2pdkwj6omvo7rvspcxeghm7wxp5mj3nn3a7zxitdgtlgham47ifotobljjdulurogq",
        "bafy2bzacebqxoht7ihowhlnjok6tp7ufgbihnwo4yygo6xmggthypqpthfcts",
      ],
    ];
    for (const [from, cid] of cases) {
      // [To, From, Nonce 55, Value "1", GasPrice "0", GasLimit 1, Method 0, Params nil]
      const old: CborValue = [
        Address.fromString("t099999").toBytes(),
        Address.fromString(from!).toBytes(),
        55,
        encodeBigIntBytes(1n),
        encodeBigIntBytes(0n),
        1,
        0,
        new Uint8Array(0),
      ];
      assert.equal(dagCborCid(encodeCbor(old)).toString(), cid);
    }
  });

  it("serialization-vectors unsigned_messages.json: u64 fields beyond 2^53 round-trip", () => {
    const h =
      "884b008a86e1bfcbe4e1e7b901550211fea8c3ebdf51fe44818052393f7412f9f9eb841ba1c9c7834b2dd43f49009e6f239bfde973cc4900485121bff595d77c1b651797955649199a1b9f324771a124d3555820bf84693c6f5986e5cb65cc932c20e1e03ba83fb9d5b6fc61777fd9450202b412";
    const v = decodeCbor(fromHex(h)) as CborValue[];
    assert.equal(hex(encodeCbor(v)), h);
    assert.equal(
      Address.fromBytes(v[1] as Uint8Array).toString("t"),
      "t2ch7krq7l35i74rebqbjdsp3ucl47t24e3juxjfa",
    );
    assert.equal(v[2], 11658068477141177407n);
    assert.equal(decodeBigIntBytes(v[3] as Uint8Array), 11416382733294334924n);
    assert.equal(decodeBigIntBytes(v[4] as Uint8Array), 5210983352187082620n);
    assert.equal(v[5], 7284457589948619162n);
    assert.equal(v[6], 11471309754226496341n);
  });
});

const BLS = Address.fromBlsPublicKey(new Uint8Array(48).map((_, i) => i + 1));
const POST: Message = {
  version: 0,
  to: Address.fromId(1000),
  from: BLS,
  nonce: 0,
  value: 0n,
  gasLimit: 0,
  gasFeeCap: 0n,
  gasPremium: 0n,
  method: MinerMethod.SubmitWindowedPoSt,
  params: fromHex("850080800040"),
};

describe("message encoding, CID and Lotus JSON", () => {
  it("miner method numbers follow builtin-actors", () => {
    assert.deepEqual(MinerMethod, { SubmitWindowedPoSt: 5, DeclareFaults: 10, DeclareFaultsRecovered: 11 });
  });

  it("hand-computed layout of a zero-valued PoSt message", () => {
    // 8a 00 | 43 00e807 (f01000) | 5831 03 ‖ 48-byte key | 00 | 40 | 00 | 40 | 40 | 05 | 46 850080800040
    const want = `8a00 4300e807 583103${hex(BLS.payload)} 00 40 00 40 40 05 46850080800040`.replace(
      /\s+/g,
      "",
    );
    assert.equal(hex(encodeMessage(POST)), want);
    const back = decodeMessage(fromHex(want));
    assert.ok(back.to.equals(POST.to) && back.from.equals(POST.from));
    assert.deepEqual({ ...back, to: 0, from: 0 }, { ...POST, to: 0, from: 0 });
    assert.ok(messageCid(back).equals(messageCid(POST)));
  });

  it("Lotus JSON has the brief's shape and round-trips", () => {
    const json = messageToLotusJSON(POST);
    assert.equal(
      JSON.stringify(json),
      `{"Version":0,"To":"f01000","From":"${BLS.toString()}","Nonce":0,"Value":"0","GasLimit":0,"GasFeeCap":"0","GasPremium":"0","Method":5,"Params":"hQCAgABA"}`,
    );
    const back = messageFromLotusJSON(JSON.parse(JSON.stringify(json)));
    assert.equal(hex(encodeMessage(back)), hex(encodeMessage(POST)));
    const withCid = messageToLotusJSON(POST, { withCid: true });
    assert.deepEqual(withCid.CID, messageCid(POST).toJSON());
    assert.ok(messageFromLotusJSON(withCid));
    assert.equal(messageToLotusJSON({ ...POST, params: new Uint8Array(0) }).Params, null);
  });

  it("Params null, empty and absent all mean empty; Version may be omitted", () => {
    const { Params: _p, ...noParams } = TX0;
    for (const v of [{ ...TX0, Params: null }, noParams, { ...TX0, Version: 0 }]) {
      assert.equal(hex(encodeMessage(messageFromLotusJSON(v))), TX0_CBOR);
    }
  });

  const badJSON: [string, unknown, string][] = [
    ["array", [], "expected a JSON object"],
    ["null", null, "expected a JSON object"],
    ["unknown field", { ...TX0, GasPrice: "1" }, 'unknown field "GasPrice"'],
    ["lower-case field", { ...TX0, to: TX0.To }, 'unknown field "to"'],
    ["missing To", { ...TX0, To: undefined }, "Message.To"],
    ["To as number", { ...TX0, To: 1002 }, "Message.To: expected an address string"],
    ["bad checksum", { ...TX0, To: "t17uoq6tp427uzv7fztkbsnn64iwotfrristwpryz" }, "Message.To"],
    ["Nonce as string", { ...TX0, Nonce: "1" }, "Message.Nonce: expected a JSON number"],
    ["fractional Nonce", { ...TX0, Nonce: 1.5 }, "Message.Nonce"],
    ["negative Nonce", { ...TX0, Nonce: -1 }, "Message.Nonce"],
    ["unsafe Nonce", { ...TX0, Nonce: 2 ** 53 }, "Message.Nonce"],
    ["Value as number", { ...TX0, Value: 100000 }, "Message.Value"],
    ["Value not decimal", { ...TX0, Value: "1e5" }, "Message.Value"],
    ["GasLimit fractional", { ...TX0, GasLimit: 1.5 }, "Message.GasLimit"],
    ["Method negative", { ...TX0, Method: -1 }, "Message.Method"],
    ["Params number", { ...TX0, Params: 5 }, "Message.Params"],
    ["Params bad length", { ...TX0, Params: "abc" }, "Message.Params: not valid padded"],
    ["Params URL-safe alphabet", { ...TX0, Params: "-_8=" }, "Message.Params: not valid padded"],
    ["Params non-canonical", { ...TX0, Params: "AB==" }, "not canonical"],
    ["Version 1", { ...TX0, Version: 1 }, "unsupported message version 1"],
    [
      "CID mismatch",
      { ...TX0, CID: { "/": "bafy2bzacecqquyjhi2no6k477tnbxl2gca56r4pvkb667cl3ymbnmypjanoye" } },
      "hashes to",
    ],
    ["CID malformed", { ...TX0, CID: "bafy" }, "Message.CID"],
  ];
  for (const [label, input, part] of badJSON) {
    it(`JSON rejects ${label}`, () =>
      assert.throws(() => messageFromLotusJSON(input), isCode("MESSAGE_INVALID", part)));
  }

  it("JSON enforces the expected network", () => {
    assert.ok(messageFromLotusJSON(TX0, { network: "t" }));
    assert.throws(() => messageFromLotusJSON(TX0, { network: "f" }), isCode("MESSAGE_INVALID", "Message.To"));
  });

  const body = TX0_CBOR.slice(2); // the ten fields after 8a
  const badCbor: [string, string, string, string][] = [
    ["map instead of tuple", "a0", "MESSAGE_INVALID", "expected a 10-field tuple"],
    ["9 fields", `89${body.slice(0, -2)}`, "MESSAGE_INVALID", "expected 10 fields, got 9"],
    ["Version 1", `8a01${body.slice(2)}`, "MESSAGE_INVALID", "unsupported message version 1"],
    ["To as text", `8a00 6161 ${body.slice(46)}`, "MESSAGE_INVALID", "Message.To: expected a byte string"],
    ["To with protocol 9", `8a00 420901 ${body.slice(46)}`, "MESSAGE_INVALID", "Message.To: invalid address"],
    ["Value non-minimal", TX0_CBOR.replace("44000186a0", "4500000186a0"), "MESSAGE_INVALID", "Message.Value"],
    ["Value sign byte 2", TX0_CBOR.replace("44000186a0", "44020186a0"), "MESSAGE_INVALID", "sign byte"],
    [
      "GasLimit overflows int64",
      TX0_CBOR.replace("1961a8", "1bffffffffffffffff"),
      "MESSAGE_INVALID",
      "overflows int64",
    ],
    ["Nonce negative", TX0_CBOR.replace("160144", "162044"), "MESSAGE_INVALID", "Message.Nonce"],
    ["Method as text", TX0_CBOR.replace(/0040$/, "616140"), "MESSAGE_INVALID", "Message.Method"],
    ["Params as text", TX0_CBOR.replace(/40$/, "60"), "MESSAGE_INVALID", "Message.Params"],
    ["truncated", TX0_CBOR.slice(0, -2), "CBOR_DECODE", "truncated"],
    ["trailing byte", `${TX0_CBOR}00`, "CBOR_DECODE", "trailing"],
  ];
  for (const [label, h, code, part] of badCbor) {
    it(`CBOR decode rejects ${label}`, () =>
      assert.throws(() => decodeMessage(fromHex(h)), isCode(code, part)));
  }

  it("rejects Params over 2 MiB (cbor-gen ByteArrayMaxLen) both ways", () => {
    const big = new Uint8Array((2 << 20) + 1);
    assert.throws(() => encodeMessage({ ...POST, params: big }), isCode("MESSAGE_INVALID", "2097152"));
    const enc = encodeCbor([...(decodeCbor(encodeMessage(POST)) as CborValue[]).slice(0, 9), big]);
    assert.throws(() => decodeMessage(enc), isCode("MESSAGE_INVALID", "Message.Params"));
  });

  it("a raised Params limit (the devnet's, for vanilla bundles) lets larger params through, and only those", () => {
    const big = new Uint8Array((2 << 20) + 1);
    const limits = { maxParamsBytes: 4 << 20 };
    const cid = messageCid({ ...POST, params: big }, limits);
    const json = messageToLotusJSON({ ...POST, params: big }, { withCid: true, ...limits });
    assert.equal(json.CID?.["/"], cid.toString());
    assert.deepEqual(messageFromLotusJSON(json, limits).params, big);
    assert.throws(() => messageFromLotusJSON(json), isCode("MESSAGE_INVALID", "2097152"));
    assert.throws(
      () => encodeMessage({ ...POST, params: new Uint8Array((4 << 20) + 1) }, limits),
      isCode("MESSAGE_INVALID", "4194304"),
    );
  });

  const badInput: [string, Partial<Record<keyof Message, unknown>>, string][] = [
    ["version 1", { version: 1 }, "Message.Version"],
    ["string address", { to: "f01000" }, "Message.To: expected an Address"],
    ["number value", { value: 0 }, "Message.Value: expected a bigint"],
    ["fractional gas limit", { gasLimit: 0.5 }, "Message.GasLimit"],
    ["bigint nonce", { nonce: 1n }, "Message.Nonce"],
    ["params as array", { params: [1] }, "Message.Params"],
  ];
  for (const [label, patch, part] of badInput) {
    it(`encode rejects ${label}`, () =>
      assert.throws(() => encodeMessage({ ...POST, ...patch } as Message), isCode("MESSAGE_INVALID", part)));
  }

  it("checkMessageForInclusion mirrors Lotus ValidForBlockInclusion's static checks", () => {
    const ok: Message = { ...POST, gasLimit: 1_000_000, gasFeeCap: 100n, gasPremium: 100n };
    checkMessageForInclusion(ok);
    const bad: [Partial<Message>, string][] = [
      [{ value: -1n }, "Value"],
      [{ value: 2_000_000_001n * 10n ** 18n }, "total Filecoin supply"],
      [{ gasFeeCap: -1n, gasPremium: -2n }, "GasFeeCap"],
      [{ gasPremium: -1n }, "GasPremium"],
      [{ gasPremium: 101n }, "exceeds GasFeeCap"],
      [{ gasLimit: 10_000_000_001 }, "block gas limit"],
      [{ gasLimit: -1 }, "GasLimit"],
    ];
    for (const [patch, part] of bad) {
      assert.throws(() => checkMessageForInclusion({ ...ok, ...patch }), isCode("MESSAGE_INVALID", part));
    }
  });
});
