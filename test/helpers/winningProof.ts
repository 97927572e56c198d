/**
 * Checks a WinningPoSt answer (Venus.ComputeProof's result, or a gateway ComputeProof answer's payload)
 * with the project's vanilla verifier: one proof of the sector, opening exactly the 66 leaves the masked
 * randomness challenges, each leaf the replica's node, and the inclusion paths verify against comm_r.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import { decodeFallbackPoStSectorProof } from "../../src/proofs/bincode.js";
import {
  generateWinningPoStLeafChallenges,
  maskSeed,
  WINNING_POST_CHALLENGE_COUNT,
} from "../../src/proofs/challenges.js";
import type { SingleProof } from "../../src/proofs/merkleProof.js";
import { shapeByName } from "../../src/proofs/sectorShapes.js";
import type { SyntheticSector } from "../../src/proofs/syntheticSector.js";
import { verifySector } from "../../src/proofs/vanilla.js";

export type WireProof = { PoStProof: number; ProofBytes: string };

const k2 = shapeByName("2KiB")!;

/** Check a returned WinningPoSt: one vanilla proof of `number`, for exactly the challenges of the masked randomness. */
export async function assertVerifies(
  proofs: WireProof[],
  s: Pick<SyntheticSector, "sealedFile" | "commR">,
  number: number,
  RAND: Uint8Array,
) {
  assert.equal(proofs.length, 1);
  assert.equal(proofs[0]?.PoStProof, 0, "StackedDrgWinning2KiBV1");
  const decoded = decodeFallbackPoStSectorProof(new Uint8Array(Buffer.from(proofs[0]!.ProofBytes, "base64")));
  assert.equal(decoded.sectorId, BigInt(number));
  const sp = decoded.vanillaProof.sectors[0]!;
  const seed = maskSeed(RAND);
  const want = generateWinningPoStLeafChallenges(seed, BigInt(number), BigInt(k2.sectorSize), "V1_0_0");
  assert.equal(want.length, WINNING_POST_CHALLENGE_COUNT);
  // The leaf each inclusion proof opens (its path positions, base level first) is the challenge.
  const leaves = sp.inclusionProofs.map((p) =>
    (p as SingleProof).path.reduceRight((acc, el) => acc * 8 + el.index, 0),
  );
  assert.deepEqual(leaves, want.map(Number), "the 66 challenged leaves");
  const sealed = await fs.readFile(s.sealedFile);
  for (const [i, p] of sp.inclusionProofs.entries()) {
    const at = leaves[i]! * 32;
    assert.deepEqual(
      Buffer.from(p.leaf),
      sealed.subarray(at, at + 32),
      `leaf ${leaves[i]} is the replica's node`,
    );
  }
  const v = await verifySector({
    shape: k2,
    sectorNumber: number,
    randomness: seed,
    apiVersion: "V1_0_0",
    sectorIndex: 0,
    challengeCount: WINNING_POST_CHALLENGE_COUNT,
    commR: s.commR,
    proof: sp,
  });
  assert.deepEqual(v, { ok: true });
}
