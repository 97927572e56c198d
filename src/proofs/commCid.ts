/**
 * Filecoin commitment CIDs as go-fil-commcid builds them (`CommitmentToCID`,
 * `ReplicaCommitmentV1ToCID`, `DataCommitmentV1ToCID`): CIDv1, codec varint, multihash
 * (code varint, length varint, digest), rendered in the default multibase for CIDv1, base32
 * lower-case without padding, prefix "b".
 *
 * Codes (multiformats multicodec table.csv; go-multihash `POSEIDON_BLS12_381_A1_FC1 = 0xb401`,
 * go-cid `FilCommitmentSealed = 0xf102`, `FilCommitmentUnsealed = 0xf101`):
 *  - sealed (comm_r): codec fil-commitment-sealed 0xf102, multihash poseidon-bls12_381-a2-fc1
 *    0xb401. (0xb402 is poseidon-bls12_381-a2-fc1-sc, which go-fil-commcid does not use.)
 *    Every sealed CID therefore starts "bagboea4b5abc";
 *  - unsealed (comm_d): codec 0xf101, multihash sha2-256-trunc254-padded 0x1012 ("baga6ea4sea…").
 * The CIDs are built and read by the strict CIDv1 reader of src/util/cid.ts (multiformats
 * underneath), with errors under PROOF_BAD_INPUT.
 */
import { createCidV1, parseCidV1 } from "../util/cid.js";
import { SmError } from "../util/errors.js";

export const CID_VERSION_1 = 1;
export const FIL_COMMITMENT_UNSEALED = 0xf101;
export const FIL_COMMITMENT_SEALED = 0xf102;
export const SHA2_256_TRUNC254_PADDED = 0x1012;
export const POSEIDON_BLS12_381_A2_FC1 = 0xb401;

const BAD = { code: "PROOF_BAD_INPUT" } as const;

/** CIDv1 string of a 32-byte commitment under `codec` and multihash `hashCode`. */
export function commitmentToCid(commitment: Uint8Array, codec: number, hashCode: number): string {
  if (!(commitment instanceof Uint8Array) || commitment.length !== 32) {
    throw new SmError("PROOF_BAD_INPUT", "a commitment must be 32 bytes");
  }
  return createCidV1(codec, hashCode, commitment, BAD).toString();
}

/** The CID Lotus shows for a sealed commitment (comm_r): "bagboea4b5abc…". */
export function sealedCid(commR: Uint8Array): string {
  return commitmentToCid(commR, FIL_COMMITMENT_SEALED, POSEIDON_BLS12_381_A2_FC1);
}

/** The CID Lotus shows for an unsealed commitment (comm_d / piece CID v1): "baga6ea4sea…". */
export function unsealedCid(commD: Uint8Array): string {
  return commitmentToCid(commD, FIL_COMMITMENT_UNSEALED, SHA2_256_TRUNC254_PADDED);
}

/** Parse a base32 CIDv1 commitment back into codec, multihash code and 32-byte digest. */
export function cidToCommitment(cid: string): { codec: number; hashCode: number; commitment: Uint8Array } {
  if (!cid.startsWith("b"))
    throw new SmError("PROOF_BAD_INPUT", `${cid}: only base32 ('b…') CIDs are supported`);
  let parsed: ReturnType<typeof parseCidV1>;
  try {
    parsed = parseCidV1(cid, BAD);
  } catch (e) {
    throw new SmError("PROOF_BAD_INPUT", `${cid}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (parsed.multihash.size !== 32) throw new SmError("PROOF_BAD_INPUT", `${cid}: digest must be 32 bytes`);
  return { codec: parsed.code, hashCode: parsed.multihash.code, commitment: parsed.multihash.digest.slice() };
}
