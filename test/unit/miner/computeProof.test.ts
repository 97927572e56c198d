/**
 * `Venus.ComputeProof` parameters: the gateway's Lotus JSON shapes decoded, and every malformed input
 * refused with an InvalidParamsError that names the parameter.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Address } from "../../../src/chain/address.js";
import {
  decodeComputeProofParams,
  minerParam,
  poStProofsToWire,
  randomnessParam,
} from "../../../src/miner/computeProof.js";
import { sealedCid, unsealedCid } from "../../../src/proofs/commCid.js";
import { winningPoStProofOfSeal } from "../../../src/proofs/proofTypes.js";
import { InvalidParamsError } from "../../../src/rpc/errors.js";

const commR = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const rand = Buffer.from(Uint8Array.from({ length: 32 }, (_, i) => 255 - i)).toString("base64");
const sector = (extra: Record<string, unknown> = {}) => ({
  SealProof: 5,
  SectorNumber: 7,
  SectorKey: null,
  SealedCID: { "/": sealedCid(commR) },
  ...extra,
});

function refused(params: unknown[], re: RegExp) {
  assert.throws(
    () => decodeComputeProofParams(params),
    (e: unknown) => e instanceof InvalidParamsError && re.test(e.message),
    `expected InvalidParams matching ${re} for ${JSON.stringify(params).slice(0, 200)}`,
  );
}

describe("Venus.ComputeProof params", () => {
  test("the gateway's five positional params (sophon-miner), and its v1 form of three", () => {
    const r = decodeComputeProofParams(["f01000", [sector()], rand, 10101, 21]);
    assert.equal(r.miner, 1000);
    assert.equal(r.height, 10101);
    assert.equal(r.networkVersion, 21);
    assert.equal(r.postProof, 0, "StackedDrg2KiBV1_1 → StackedDrgWinning2KiBV1");
    assert.deepEqual(r.randomness, new Uint8Array(Buffer.from(rand, "base64")), "randomness kept unmasked");
    const s = r.sectors[0]!;
    assert.equal(s.sectorNumber, 7);
    assert.equal(s.sectorKey, null);
    assert.deepEqual(s.commR, commR);
    assert.equal(s.shape.name, "2KiB");
    const v1 = decodeComputeProofParams(["t01000", [sector()], rand]);
    assert.equal(v1.height, 0);
    assert.equal(v1.networkVersion, 0);
  });

  test("keys in any case (Go's encoding/json), a SectorKey, and the actor id as a number", () => {
    const r = decodeComputeProofParams([
      1000,
      [
        {
          sealproof: 8,
          sectornumber: 3,
          sectorkey: { "/": sealedCid(commR) },
          sealedcid: { "/": sealedCid(commR) },
        },
      ],
      rand,
    ]);
    assert.equal(r.sectors[0]?.sectorKey, sealedCid(commR));
    assert.equal(r.sectors[0]?.shape.name, "32GiB");
    assert.equal(r.postProof, 3);
  });

  test("every seal proof maps to its size's WinningPoSt type (go-state-types SealProofInfos)", () => {
    for (let id = 0; id < 20; id++) assert.equal(winningPoStProofOfSeal(id), id % 5, `seal proof ${id}`);
    assert.throws(() => winningPoStProofOfSeal(20), /unknown RegisteredSealProof 20/);
  });

  test("miner: an ID address or an actor id, nothing else", () => {
    assert.equal(minerParam("f01234"), 1234);
    assert.equal(minerParam(0), 0);
    for (const [v, re] of [
      ["x01000", /not an address/],
      ["f1abcdefghijklmnopqrstuvwxyz", /not an address/],
      [Address.fromActorData(Uint8Array.of(1, 2, 3)).toString(), /not an ID address/],
      [-1, /non-negative integer/],
      [null, /must be an ID address/],
    ] as const) {
      assert.throws(
        () => minerParam(v),
        (e: unknown) => e instanceof InvalidParamsError && re.test(e.message),
        String(v),
      );
    }
  });

  test("wrong arity, an empty or multi-sector list, a list that is not an array", () => {
    refused(["f01000", [sector()]], /expected 3 to 5 positional parameter\(s\), got 2/);
    refused(["f01000", [sector()], rand, 1, 2, 3], /got 6/);
    refused(["f01000", [], rand], /sectorInfos is empty/);
    refused(
      ["f01000", [sector(), sector({ SectorNumber: 8 })], rand],
      /exactly 1 \(WINNING_POST_SECTOR_COUNT\)/,
    );
    refused(["f01000", null, rand], /sectorInfos must be an array.*null/);
    refused(["f01000", { 0: sector() }, rand], /sectorInfos must be an array/);
  });

  test("malformed sector info: each field named", () => {
    refused(["f01000", ["x"], rand], /sectorInfos\[0\] must be an object/);
    refused(
      ["f01000", [sector({ SealProof: 99 })], rand],
      /sectorInfos\[0\]\.SealProof 99 is not a known RegisteredSealProof/,
    );
    refused(
      ["f01000", [sector({ SealProof: "5" })], rand],
      /sectorInfos\[0\]\.SealProof must be a non-negative integer/,
    );
    refused(
      ["f01000", [sector({ SectorNumber: -3 })], rand],
      /SectorNumber must be a non-negative integer, got -3/,
    );
    refused(["f01000", [sector({ SectorNumber: 1.5 })], rand], /SectorNumber must be a non-negative integer/);
    refused(
      ["f01000", [sector({ SealedCID: undefined })], rand],
      /SealedCID must be an object, got undefined|SealedCID must be an object/,
    );
    refused(["f01000", [sector({ SealedCID: sealedCid(commR) })], rand], /SealedCID must be an object/);
    refused(["f01000", [sector({ SealedCID: { "/": "bnotacid" } })], rand], /SealedCID is not a valid CID/);
    refused(
      ["f01000", [sector({ SealedCID: { "/": unsealedCid(commR) } })], rand],
      /is not a sealed commitment \(0xf102 \/ 0xb401\)/,
    );
    refused(["f01000", [sector({ SectorKey: { "/": 5 } })], rand], /SectorKey must be a CID/);
    const big = new Uint8Array(32).fill(0xff);
    refused(
      ["f01000", [sector({ SealedCID: { "/": sealedCid(big) } })], rand],
      /comm_r that is not a BLS12-381 field element/,
    );
  });

  test("randomness: 32 bytes of canonical, padded, standard base64", () => {
    assert.equal(randomnessParam(rand).length, 32);
    const short = Buffer.alloc(31, 1).toString("base64");
    refused(["f01000", [sector()], short], /rand is 31 bytes; chain randomness is 32 bytes/);
    refused(["f01000", [sector()], Buffer.alloc(33, 1).toString("base64")], /rand is 33 bytes/);
    refused(["f01000", [sector()], rand.replace(/=$/, "")], /not standard base64 with padding/);
    refused(["f01000", [sector()], `-${rand.slice(1)}`], /not standard base64/);
    // The last character of 32 bytes in base64 carries 4 bits of data and 2 stray bits: flip one.
    const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const stray = `${rand.slice(0, 42)}${B64[B64.indexOf(rand[42]!) ^ 1]}=`;
    assert.deepEqual(Buffer.from(stray, "base64"), Buffer.from(rand, "base64"), "same bytes, other text");
    refused(["f01000", [sector()], stray], /not canonical base64/);
    refused(["f01000", [sector()], null], /rand must be the randomness as base64/);
    refused(
      ["f01000", [sector()], Array.from({ length: 32 }, () => 0)],
      /rand must be the randomness as base64/,
    );
  });

  test("height and network version are non-negative integers when given", () => {
    refused(["f01000", [sector()], rand, -1], /height must be a non-negative integer/);
    refused(["f01000", [sector()], rand, 1, "21"], /nwVersion must be a non-negative integer/);
  });

  test("the result is []builtin.PoStProof in Lotus JSON", () => {
    assert.deepEqual(poStProofsToWire([{ postProof: 3, proofBytes: Uint8Array.of(1, 2, 3) }]), [
      { PoStProof: 3, ProofBytes: "AQID" },
    ]);
  });
});
