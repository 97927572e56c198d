/**
 * Verification of a devnet WindowPoSt proof bundle (format: proofs/vanillaBundle.ts) against the sectors the
 * message must prove. Pure apart from `verify`, which the caller may route to a worker pool.
 */
import { decodeFallbackPoStSectorProof } from "../proofs/bincode.js";
import { WINDOW_POST_CHALLENGE_COUNT } from "../proofs/challenges.js";
import { parseChainPoStProof } from "../proofs/proofTypes.js";
import { type VerifyResult, type VerifySectorOptions, verifySector } from "../proofs/vanilla.js";
import { decodeVanillaBundle } from "../proofs/vanillaBundle.js";
import { errorMessage } from "../util/errors.js";
import type { DevnetSector } from "./miner.js";

export type VerifyFn = (opts: VerifySectorOptions) => Promise<VerifyResult>;

export const defaultVerify: VerifyFn = (opts) => verifySector(opts);

export interface ExpectedProof {
  readonly partition: number;
  readonly sector: DevnetSector;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Returns undefined when every entry verifies, else the reason naming the first bad sector.
 * `randomness` must already be masked (byte 31 & 0x3f).
 */
export async function verifyBundle(
  proofBytes: Uint8Array,
  expected: readonly ExpectedProof[],
  windowPoStProofType: number,
  randomness: Uint8Array,
  verify: VerifyFn,
): Promise<string | undefined> {
  let entries: Uint8Array[];
  try {
    entries = decodeVanillaBundle(proofBytes);
  } catch (err) {
    return errorMessage(err);
  }
  const type = parseChainPoStProof(windowPoStProofType);
  const jobs: Array<{ i: number; sector: number; run: () => Promise<VerifyResult> }> = [];
  for (let i = 0; i < Math.max(entries.length, expected.length); i++) {
    const want = expected[i];
    const bytes = entries[i];
    if (want === undefined) {
      return `proof bundle has ${entries.length} entries but ${expected.length} sectors are to be proven (extra entry #${i})`;
    }
    const name = `sector ${want.sector.number} (partition ${want.partition}, bundle entry #${i})`;
    if (bytes === undefined) return `missing proof for ${name}`;
    let decoded: ReturnType<typeof decodeFallbackPoStSectorProof>;
    try {
      decoded = decodeFallbackPoStSectorProof(bytes);
    } catch (err) {
      return `undecodable proof for ${name}: ${errorMessage(err)}`;
    }
    if (decoded.sectorId !== BigInt(want.sector.number)) {
      return `proof for ${name} is for sector ${decoded.sectorId} (entries must follow partition order, then ascending sector number)`;
    }
    if (!bytesEqual(decoded.commR, want.sector.commR)) {
      return `proof for ${name} has comm_r ${hex(decoded.commR)}, on chain ${hex(want.sector.commR)}`;
    }
    const proof = decoded.vanillaProof.sectors[0];
    if (decoded.vanillaProof.sectors.length !== 1 || proof === undefined) {
      return `proof for ${name} holds ${decoded.vanillaProof.sectors.length} sector proofs, expected 1`;
    }
    const opts: VerifySectorOptions = {
      shape: type.shape,
      sectorNumber: want.sector.number,
      randomness,
      apiVersion: type.apiVersion,
      sectorIndex: i,
      challengeCount: WINDOW_POST_CHALLENGE_COUNT,
      commR: want.sector.commR,
      proof,
    };
    jobs.push({ i, sector: want.sector.number, run: () => verify(opts) });
  }
  // All entries are well-formed: verify them concurrently (the callback may use a worker pool) and
  // report the first failure in bundle order, so the reason does not depend on timing.
  const results = await Promise.all(
    jobs.map(async (j) => {
      try {
        return await j.run();
      } catch (err) {
        return { ok: false, reason: errorMessage(err) } as const;
      }
    }),
  );
  for (let k = 0; k < results.length; k++) {
    const r = results[k]!;
    const j = jobs[k]!;
    if (!r.ok) return `invalid proof for sector ${j.sector} (bundle entry #${j.i}): ${r.reason}`;
  }
  return undefined;
}
