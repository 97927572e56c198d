import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  cidToCommitment,
  FIL_COMMITMENT_SEALED,
  POSEIDON_BLS12_381_A2_FC1,
  sealedCid,
  unsealedCid,
} from "../../../src/proofs/commCid.js";
import {
  apiPoStProofName,
  CHAIN_POST_PROOF_IDS,
  chainPoStProofId,
  chainPoStProofName,
  POST_PROOF_TYPE_NAMES,
  parseChainPoStProof,
  parsePoStProofType,
} from "../../../src/proofs/proofTypes.js";
import { randomNodes, seededRandom } from "../../../src/proofs/syntheticSector.js";
import { isCode } from "./proofTestUtil.js";

describe("registered PoSt proof types", () => {
  test("all 15 API names parse to kind, shape, API version and challenge count", () => {
    assert.equal(POST_PROOF_TYPE_NAMES.length, 15);
    for (const name of POST_PROOF_TYPE_NAMES) {
      const p = parsePoStProofType(name);
      assert.equal(p.name, name);
      assert.equal(p.kind, name.includes("Window") ? "window" : "winning", name);
      assert.ok(name.includes(p.shape.name), name);
      assert.equal(p.apiVersion, name.endsWith("V1_2") ? "V1_2_0" : "V1_0_0", name);
      assert.equal(p.challengeCount, p.kind === "window" ? 10 : 66, name);
      assert.equal(p.sectorsPerPartition, p.kind === "winning" ? 1 : p.shape.sectorsPerPartition, name);
    }
    assert.equal(parsePoStProofType("StackedDrgWindow32GiBV1_2").shape.sectorsPerPartition, 2349);
    assert.equal(parsePoStProofType("StackedDrgWindow64GiBV1").shape.sectorsPerPartition, 2300);
  });

  test("unknown names are PROOF_UNKNOWN_TYPE", () => {
    for (const bad of [
      "StackedDrgWinning32GiBV1_2",
      "StackedDrgWindow4KiBV1",
      "StackedDrgWindow32GiBV1_1",
      "stackeddrgwindow32gibv1",
      "",
      "StackedDrgWindow32GiBV1 ",
    ]) {
      assert.throws(
        () => parsePoStProofType(bad),
        isCode("PROOF_UNKNOWN_TYPE", "unknown PoSt proof type"),
        bad,
      );
    }
  });

  test("chain ids (go-state-types abi.RegisteredPoStProof) and the V1_1 → V1_2 mapping", () => {
    assert.equal(CHAIN_POST_PROOF_IDS.StackedDrgWinning2KiBV1, 0);
    assert.equal(CHAIN_POST_PROOF_IDS.StackedDrgWinning64GiBV1, 4);
    assert.equal(CHAIN_POST_PROOF_IDS.StackedDrgWindow2KiBV1, 5);
    assert.equal(CHAIN_POST_PROOF_IDS.StackedDrgWindow64GiBV1, 9);
    assert.equal(CHAIN_POST_PROOF_IDS.StackedDrgWindow2KiBV1_1, 10);
    assert.equal(CHAIN_POST_PROOF_IDS.StackedDrgWindow32GiBV1_1, 13);
    assert.equal(CHAIN_POST_PROOF_IDS.StackedDrgWindow64GiBV1_1, 14);
    assert.equal(chainPoStProofName(8), "StackedDrgWindow32GiBV1");
    assert.equal(apiPoStProofName(13), "StackedDrgWindow32GiBV1_2");
    assert.equal(apiPoStProofName(8), "StackedDrgWindow32GiBV1");
    assert.equal(apiPoStProofName(3), "StackedDrgWinning32GiBV1");
    for (let id = 0; id <= 14; id++) {
      assert.equal(chainPoStProofId(apiPoStProofName(id)), id, `id ${id}`);
      const p = parseChainPoStProof(id);
      assert.equal(p.kind, id < 5 ? "winning" : "window", `id ${id}`);
      assert.equal(p.apiVersion, id >= 10 ? "V1_2_0" : "V1_0_0", `id ${id}`);
    }
    assert.throws(() => chainPoStProofName(15), isCode("PROOF_UNKNOWN_TYPE", "15"));
    assert.throws(() => apiPoStProofName(-1), isCode("PROOF_UNKNOWN_TYPE"));
  });
});

describe("commitment CIDs (go-fil-commcid)", () => {
  test("sealed CIDs start with bagboea4b5abc and round-trip", () => {
    const random = seededRandom("cids");
    for (let i = 0; i < 20; i++) {
      const commR = randomNodes(32, random);
      const cid = sealedCid(commR);
      assert.ok(cid.startsWith("bagboea4b5abc"), `${cid} prefix`);
      assert.equal(cid.length, 1 + (40 * 8) / 5, cid); // 40 bytes: 1 + 3 + 3 + 1 + 32
      assert.match(cid, /^b[a-z2-7]+$/);
      const back = cidToCommitment(cid);
      assert.equal(back.codec, FIL_COMMITMENT_SEALED);
      assert.equal(back.hashCode, POSEIDON_BLS12_381_A2_FC1);
      assert.deepEqual(back.commitment, commR, `round trip ${i}`);
    }
  });

  test("exact bytes: CIDv1, codec 0xf102, multihash 0xb401, length 32", () => {
    // All-zero digest: 01 82e203 81e802 20 ‖ 32 zero bytes, base32 by hand.
    const cid = sealedCid(new Uint8Array(32));
    assert.equal(cid, `bagboea4b5abca${"a".repeat(51)}`);
    assert.ok(unsealedCid(new Uint8Array(32)).startsWith("baga6ea4sea"));
    assert.throws(() => sealedCid(new Uint8Array(31)), isCode("PROOF_BAD_INPUT"));
    assert.throws(() => cidToCommitment("Qm123"), isCode("PROOF_BAD_INPUT"));
  });
});
