/**
 * Verification of one serialised sector proof (bincode FallbackPoStSectorProof, as ext-prover
 * children and the devnet's bundles carry them) against the expected sector and comm_r.
 */
import { decodeFallbackPoStSectorProof } from "./bincode.js";
import { bytesEqual } from "./nodes.js";
import { type SectorChallengeInput, type VerifyResult, verifySector } from "./vanilla.js";

export type SectorProofBytesInput = SectorChallengeInput & { commR: Uint8Array; proofBytes: Uint8Array };

/** Decode and verify; a proof that does not decode, or is for another sector, is `ok: false` with why. */
export async function verifySectorProofBytes(opts: SectorProofBytesInput): Promise<VerifyResult> {
  let decoded: ReturnType<typeof decodeFallbackPoStSectorProof>;
  try {
    decoded = decodeFallbackPoStSectorProof(opts.proofBytes);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  if (decoded.sectorId !== BigInt(opts.sectorNumber))
    return { ok: false, reason: `proof is for sector ${decoded.sectorId}, not ${opts.sectorNumber}` };
  if (!bytesEqual(decoded.commR, opts.commR))
    return { ok: false, reason: "proof carries a different comm_r" };
  const sectors = decoded.vanillaProof.sectors;
  if (sectors.length !== 1 || !sectors[0])
    return { ok: false, reason: `proof holds ${sectors.length} sector proofs, expected 1` };
  return verifySector({ ...opts, proof: sectors[0] });
}
