/**
 * Miner params tests. No published CBOR vector of SubmitWindowedPoStParams was found, so the byte
 * layouts below are computed by hand from go-state-types builtin/v19/miner/cbor_gen.go (field
 * order, major types) and the RLE+ rules (BitField {1} = 0x18, {0,1,2} = 0x74; see bitfield.ts),
 * independently of the encoder; plus round trips and malformed-input tables.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import {
  decodeDeclareFaultsParams,
  decodeDeclareFaultsRecoveredParams,
  decodeSubmitWindowedPoStParams,
  encodeDeclareFaultsParams,
  encodeDeclareFaultsRecoveredParams,
  encodeSubmitWindowedPoStParams,
  RegisteredPoStProof,
  type SubmitWindowedPoStParams,
} from "../../../src/chain/params.js";
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

const RAND = new Uint8Array(32).fill(0xaa);

const SMALL: SubmitWindowedPoStParams = {
  deadline: 3,
  partitions: [
    { index: 0, skipped: BitField.empty() },
    { index: 2, skipped: BitField.fromNumbers([1]) },
  ],
  proofs: [{ postProof: RegisteredPoStProof.StackedDrgWindow32GiBV1_1, proofBytes: fromHex("010203") }],
  chainCommitEpoch: 100,
  chainCommitRand: RAND,
};

// 85                      array(5)                       SubmitWindowedPoStParams
//   03                    Deadline 3
//   82                    Partitions: array(2)
//     82 00 40            [Index 0, Skipped h'']          (empty bitfield = empty RLE+)
//     82 02 41 18         [Index 2, Skipped h'18']        ({1}: version 00, first 0, "1", "1")
//   81                    Proofs: array(1)
//     82 0d 43 010203     [PoStProof 13 (32GiB V1_1), ProofBytes h'010203']
//   18 64                 ChainCommitEpoch 100
//   58 20 aa…aa           ChainCommitRand, 32 bytes
const SMALL_HEX = `85 03 82 820040 82024118 81 820d43010203 1864 5820${"aa".repeat(32)}`.replace(/\s+/g, "");

function sameSubmit(a: SubmitWindowedPoStParams, b: SubmitWindowedPoStParams): void {
  assert.equal(a.deadline, b.deadline);
  assert.equal(a.chainCommitEpoch, b.chainCommitEpoch);
  assert.deepEqual(a.chainCommitRand, b.chainCommitRand);
  assert.deepEqual(a.proofs, b.proofs);
  assert.equal(a.partitions.length, b.partitions.length);
  a.partitions.forEach((p, i) => {
    assert.equal(p.index, b.partitions[i]!.index);
    assert.ok(p.skipped.equals(b.partitions[i]!.skipped), `partition ${i} skipped`);
  });
}

describe("SubmitWindowedPoStParams", () => {
  it("matches the hand-computed byte layout", () => {
    assert.equal(hex(encodeSubmitWindowedPoStParams(SMALL)), SMALL_HEX);
    sameSubmit(decodeSubmitWindowedPoStParams(fromHex(SMALL_HEX)), SMALL);
  });

  it("encodes a realistic 32 GiB proof: 192-byte proof, large epoch, 3 partitions", () => {
    const proof = new Uint8Array(192).map((_, i) => i);
    const p: SubmitWindowedPoStParams = {
      deadline: 47,
      partitions: [0, 1, 2].map((index) => ({ index, skipped: BitField.fromRanges([[1000, 1010]]) })),
      proofs: [{ postProof: 13, proofBytes: proof }],
      chainCommitEpoch: 4_000_000,
      chainCommitRand: RAND,
    };
    const enc = encodeSubmitWindowedPoStParams(p);
    const h = hex(enc);
    assert.ok(h.startsWith("85182f83"), h.slice(0, 8)); // array(5), Deadline 47 (0x18 0x2f), 3 partitions
    assert.ok(h.includes(`820d58c0${hex(proof)}`), "proof as [13, bytes(192)]");
    assert.ok(h.includes(`1a003d0900 5820`.replace(" ", "")), "epoch 4,000,000 as 4-byte uint");
    sameSubmit(decodeSubmitWindowedPoStParams(enc), p);
  });

  it("encodes a negative epoch as a CBOR negative int", () => {
    const enc = encodeSubmitWindowedPoStParams({ ...SMALL, chainCommitEpoch: -1 });
    assert.ok(hex(enc).endsWith(`20 5820${"aa".repeat(32)}`.replace(" ", "")));
    assert.equal(decodeSubmitWindowedPoStParams(enc).chainCommitEpoch, -1);
  });

  it("round-trips empty partitions/proofs and empty randomness", () => {
    const p = {
      deadline: 0,
      partitions: [],
      proofs: [],
      chainCommitEpoch: 0,
      chainCommitRand: new Uint8Array(0),
    };
    assert.equal(hex(encodeSubmitWindowedPoStParams(p)), "850080800040");
    sameSubmit(decodeSubmitWindowedPoStParams(fromHex("850080800040")), p);
  });

  const tail = `1864 5820${"aa".repeat(32)}`.replace(" ", "");
  const bad: [string, string, string, string][] = [
    ["not an array", "a0", "PARAMS_INVALID", "expected a 5-field tuple"],
    ["4 fields", "84 03 80 80 00", "PARAMS_INVALID", "expected 5 fields, got 4"],
    ["negative Deadline", `85 20 80 80 ${tail}`, "PARAMS_INVALID", "Deadline: expected an unsigned integer"],
    [
      "Deadline as bytes",
      `85 4103 80 80 ${tail}`,
      "PARAMS_INVALID",
      "Deadline: expected an unsigned integer",
    ],
    ["Deadline above 2^53", `85 1b0020000000000000 80 80 ${tail}`, "PARAMS_INVALID", "MAX_SAFE_INTEGER"],
    ["Partitions as map", `85 03 a0 80 ${tail}`, "PARAMS_INVALID", "Partitions: expected an array"],
    [
      "partition with 3 fields",
      `85 03 81 83000040 80 ${tail}`,
      "PARAMS_INVALID",
      "Partitions[0]: expected 2 fields",
    ],
    [
      "Skipped as text",
      `85 03 81 820060 80 ${tail}`,
      "PARAMS_INVALID",
      "Partitions[0].Skipped: expected a byte string",
    ],
    ["Skipped trailing zero", `85 03 81 82004100 80 ${tail}`, "PARAMS_INVALID", "Skipped: invalid RLE+"],
    ["Skipped version 1", `85 03 81 82004101 80 ${tail}`, "PARAMS_INVALID", "version"],
    [
      "Skipped over 32 KiB",
      `85 03 81 8200 59 8001 ${"18".repeat(32769)} 80 ${tail}`,
      "PARAMS_INVALID",
      "32768",
    ],
    ["Proofs as bytes", `85 03 80 40 ${tail}`, "PARAMS_INVALID", "Proofs: expected an array"],
    [
      "PoStProof as text",
      `85 03 80 81 82616140 ${tail}`,
      "PARAMS_INVALID",
      "Proofs[0].PoStProof: expected an integer",
    ],
    [
      "ProofBytes as array",
      `85 03 80 81 820d80 ${tail}`,
      "PARAMS_INVALID",
      "Proofs[0].ProofBytes: expected a byte string",
    ],
    ["epoch overflows int64", `85 03 80 80 1b8000000000000000 40`, "PARAMS_INVALID", "overflows int64"],
    [
      "epoch as null",
      `85 03 80 80 f6 40`,
      "PARAMS_INVALID",
      "ChainCommitEpoch: expected an integer, got null",
    ],
    ["rand as text", `85 03 80 80 00 60`, "PARAMS_INVALID", "ChainCommitRand: expected a byte string"],
    ["trailing byte", `${SMALL_HEX}00`, "CBOR_DECODE", "trailing"],
    ["truncated", SMALL_HEX.slice(0, -2), "CBOR_DECODE", "absurd"],
    ["non-canonical Deadline", `85 1803 80 80 ${tail}`, "CBOR_DECODE", "non-canonical"],
  ];
  for (const [label, h, code, part] of bad) {
    it(`decode rejects ${label}`, () =>
      assert.throws(() => decodeSubmitWindowedPoStParams(fromHex(h)), isCode(code, part)));
  }

  it("decode rejects more than 8192 partitions (cbor-gen MaxLength)", () => {
    const body = "820040".repeat(8193);
    const h = `85 03 992001 ${body} 80 ${tail}`;
    assert.throws(
      () => decodeSubmitWindowedPoStParams(fromHex(h)),
      isCode("PARAMS_INVALID", "8193 items exceeds the limit of 8192"),
    );
  });

  const badInput: [string, unknown, string][] = [
    ["negative deadline", { ...SMALL, deadline: -1 }, "Deadline"],
    ["fractional deadline", { ...SMALL, deadline: 1.5 }, "Deadline"],
    ["bigint deadline", { ...SMALL, deadline: 3n }, "Deadline"],
    ["partitions not an array", { ...SMALL, partitions: null }, "Partitions"],
    [
      "skipped not a BitField",
      { ...SMALL, partitions: [{ index: 0, skipped: [1] }] },
      "Partitions[0].Skipped",
    ],
    ["missing index", { ...SMALL, partitions: [{ skipped: BitField.empty() }] }, "Partitions[0].Index"],
    [
      "proofBytes not bytes",
      { ...SMALL, proofs: [{ postProof: 13, proofBytes: "00" }] },
      "Proofs[0].ProofBytes",
    ],
    [
      "postProof float",
      { ...SMALL, proofs: [{ postProof: 1.5, proofBytes: new Uint8Array(1) }] },
      "Proofs[0].PoStProof",
    ],
    ["epoch not a number", { ...SMALL, chainCommitEpoch: "100" }, "ChainCommitEpoch"],
    ["rand missing", { ...SMALL, chainCommitRand: undefined }, "ChainCommitRand"],
    [
      "proof over 2 MiB",
      { ...SMALL, proofs: [{ postProof: 13, proofBytes: new Uint8Array((2 << 20) + 1) }] },
      "2097152",
    ],
    [
      "8193 partitions",
      {
        ...SMALL,
        partitions: Array.from({ length: 8193 }, (_, index) => ({ index, skipped: BitField.empty() })),
      },
      "8192",
    ],
    ["null params", null, "expected an object"],
  ];
  for (const [label, input, part] of badInput) {
    it(`encode rejects ${label}`, () =>
      assert.throws(
        () => encodeSubmitWindowedPoStParams(input as SubmitWindowedPoStParams),
        isCode("PARAMS_INVALID", part),
      ));
  }

  it("a raised ProofBytes limit (vanilla bundles on the devnet) applies to encode and decode alike", () => {
    const big: SubmitWindowedPoStParams = {
      ...(SMALL as SubmitWindowedPoStParams),
      proofs: [{ postProof: 13, proofBytes: new Uint8Array((2 << 20) + 1).fill(7) }],
    };
    const limits = { maxProofBytes: 4 << 20 };
    const bytes = encodeSubmitWindowedPoStParams(big, limits);
    assert.deepEqual(
      decodeSubmitWindowedPoStParams(bytes, limits).proofs[0]!.proofBytes,
      big.proofs[0]!.proofBytes,
    );
    assert.throws(() => decodeSubmitWindowedPoStParams(bytes), isCode("PARAMS_INVALID", "2097152"));
    assert.throws(() => encodeSubmitWindowedPoStParams(big), isCode("PARAMS_INVALID", "2097152"));
  });
});

describe("DeclareFaultsRecoveredParams / DeclareFaultsParams", () => {
  // 81 (params array(1)) 81 (Recoveries array(1)) 83 05 00 41 74 ([Deadline 5, Partition 0, Sectors {0,1,2}])
  // {0,1,2}: version 00, first-run bit 1, short block "01" + length 3 in 4 bits LSB first -> 0x74.
  const HEX = "8181830500 4174".replace(" ", "");
  const decl = { deadline: 5, partition: 0, sectors: BitField.fromNumbers([0, 1, 2]) };

  it("matches the hand-computed byte layout (both methods share the shape)", () => {
    assert.equal(hex(encodeDeclareFaultsRecoveredParams({ recoveries: [decl] })), HEX);
    assert.equal(hex(encodeDeclareFaultsParams({ faults: [decl] })), HEX);
    const r = decodeDeclareFaultsRecoveredParams(fromHex(HEX)).recoveries;
    assert.equal(r.length, 1);
    assert.equal(r[0]!.deadline, 5);
    assert.equal(r[0]!.partition, 0);
    assert.deepEqual(r[0]!.sectors.toNumbers(), [0, 1, 2]);
    assert.deepEqual(decodeDeclareFaultsParams(fromHex(HEX)).faults[0]!.sectors.toNumbers(), [0, 1, 2]);
  });

  it("round-trips many declarations with large sector numbers", () => {
    const recoveries = Array.from({ length: 50 }, (_, i) => ({
      deadline: i % 48,
      partition: i,
      sectors: BitField.fromRanges([
        [i * 1000, i * 1000 + 2349],
        [9_000_000 + i, 9_000_001 + i],
      ]),
    }));
    const back = decodeDeclareFaultsRecoveredParams(
      encodeDeclareFaultsRecoveredParams({ recoveries }),
    ).recoveries;
    assert.equal(back.length, 50);
    back.forEach((d, i) => {
      assert.equal(d.deadline, recoveries[i]!.deadline);
      assert.equal(d.partition, recoveries[i]!.partition);
      assert.ok(d.sectors.equals(recoveries[i]!.sectors));
    });
    assert.equal(hex(encodeDeclareFaultsRecoveredParams({ recoveries: [] })), "8180");
  });

  const bad: [string, string, string, string][] = [
    ["Recoveries as map", "81a0", "PARAMS_INVALID", "Recoveries: expected an array"],
    [
      "bare list (missing outer tuple)",
      "81830500 4174",
      "PARAMS_INVALID",
      "Recoveries[0]: expected a 3-field tuple",
    ],
    ["two outer fields", "828080", "PARAMS_INVALID", "expected 1 fields, got 2"],
    ["declaration with 2 fields", "81818205 00", "PARAMS_INVALID", "Recoveries[0]: expected 3 fields"],
    ["negative partition", "8181830520 4174", "PARAMS_INVALID", "Recoveries[0].Partition"],
    ["Sectors not bytes", "818183050000", "PARAMS_INVALID", "Recoveries[0].Sectors: expected a byte string"],
    ["Sectors trailing run of unset bits", "81818305004104", "PARAMS_INVALID", "Sectors: invalid RLE+"],
    ["truncated", "8181830500 41", "CBOR_DECODE", "truncated"],
    ["indefinite list", "819f830500 4174ff", "CBOR_DECODE", "indefinite"],
  ];
  for (const [label, h, code, part] of bad) {
    it(`decode rejects ${label}`, () =>
      assert.throws(() => decodeDeclareFaultsRecoveredParams(fromHex(h)), isCode(code, part)));
  }

  it("DeclareFaults errors name the Faults field", () => {
    assert.throws(
      () => decodeDeclareFaultsParams(fromHex("81818205 00")),
      isCode("PARAMS_INVALID", "DeclareFaultsParams.Faults[0]"),
    );
    assert.throws(
      () => encodeDeclareFaultsParams({ faults: [{ ...decl, sectors: null as unknown as BitField }] }),
      isCode("PARAMS_INVALID", "DeclareFaultsParams.Faults[0].Sectors"),
    );
  });

  it("encode rejects bad declarations and more than 8192 of them", () => {
    const enc = (recoveries: unknown) =>
      encodeDeclareFaultsRecoveredParams({ recoveries } as Parameters<
        typeof encodeDeclareFaultsRecoveredParams
      >[0]);
    assert.throws(() => enc([{ ...decl, deadline: -1 }]), isCode("PARAMS_INVALID", "Recoveries[0].Deadline"));
    assert.throws(
      () => enc([{ ...decl, partition: "0" }]),
      isCode("PARAMS_INVALID", "Recoveries[0].Partition"),
    );
    assert.throws(() => enc("x"), isCode("PARAMS_INVALID", "Recoveries"));
    assert.throws(() => enc(new Array(8193).fill(decl)), isCode("PARAMS_INVALID", "8192"));
  });
});
