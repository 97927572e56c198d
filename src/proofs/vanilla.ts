/**
 * Fallback (Window/Winning) PoSt vanilla proofs for one sector, as rust-fil-proofs computes and
 * checks them (`storage-proofs-post/src/fallback/vanilla.rs`: `prove_all_partitions`,
 * `vanilla_proof`, `verify`; `filecoin-proofs/src/api/post_util.rs`; reference/post-proofs.md
 * §1.2–§1.9).
 *
 * Both functions take and return plain data (paths, Uint8Array, bigint, numbers, plain objects),
 * so the lead's prover pool can run them inside worker_threads. Every sector-level failure is an
 * SmError with a PROOF_* code, the sector in the message and `fields.sector`, so the scheduler can
 * declare exactly that sector faulty.
 */
import path from "node:path";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { mapLimit } from "../util/concurrency.js";
import { generateSectorLeafChallenges, isCanonicalFrBytes, type PoStApiVersion } from "./challenges.js";
import { fileSize, openForRead, type ReadContext, readExactly, sizeError } from "./fileRead.js";
import { SectorTreeReader } from "./inclusion.js";
import { checkInclusionProof, type SectorProof } from "./merkleProof.js";
import { bytesEqual, commRFrom, decodeNode, NODE_BYTES, toHex } from "./nodes.js";
import { PROOF_ERROR_CODES, proofError } from "./proofErrors.js";
import { P_AUX_BYTES, type SectorShape } from "./sectorShapes.js";

export type { MerkleProof, PathElement, SectorProof } from "./merkleProof.js";

/** `PersistentAux { comm_c, comm_r_last }` from the cache directory's `p_aux`. */
export interface PersistentAux {
  commC: Uint8Array;
  commRLast: Uint8Array;
}

/**
 * Read `p_aux`: bincode of two 32-byte domains, comm_c then comm_r_last (64 bytes;
 * `storage-proofs-porep/src/stacked/vanilla/params.rs:PersistentAux`, read by
 * `filecoin-proofs/src/api/util.rs:get_p_aux`). Rust's `bincode::deserialize` ignores trailing
 * bytes, so a longer file is accepted as it is upstream; a shorter one is PROOF_FILE_SIZE. Both
 * values must be canonical field elements (else PROOF_CORRUPT).
 */
export async function readPAux(cacheDir: string, sector?: bigint | number): Promise<PersistentAux> {
  const ctx: ReadContext = { sector, file: path.join(cacheDir, "p_aux"), what: "p_aux" };
  const size = await fileSize(ctx);
  if (size < P_AUX_BYTES) throw sizeError(ctx, size, P_AUX_BYTES, "comm_c ‖ comm_r_last");
  const fh = await openForRead(ctx);
  const buf = new Uint8Array(P_AUX_BYTES);
  try {
    await readExactly(fh, buf, 0, ctx);
  } finally {
    await fh.close();
  }
  for (const [off, name] of [
    [0, "comm_c"],
    [NODE_BYTES, "comm_r_last"],
  ] as const) {
    if (decodeNode(buf, off) === undefined) {
      throw proofError(
        PROOF_ERROR_CODES.corrupt,
        sector,
        `p_aux ${ctx.file}: ${name} is not a canonical BLS12-381 field element; the file is corrupt`,
        { file: ctx.file, offset: off },
      );
    }
  }
  return { commC: buf.slice(0, NODE_BYTES), commRLast: buf.slice(NODE_BYTES) };
}

/** Inputs that fix a sector's challenges (shared by prove and verify). */
export interface SectorChallengeInput {
  readonly shape: SectorShape;
  /** The sector number (rust `SectorId`), not the miner id. */
  readonly sectorNumber: bigint | number;
  /** Already masked chain randomness: 32 bytes, canonical (`randomness[31] &= 0x3f`). */
  readonly randomness: Uint8Array;
  readonly apiVersion: PoStApiVersion;
  /** partition_index · sectors_per_partition + position (only used by V1_0_0 / V1_1_0). */
  readonly sectorIndex: number;
  /** 10 for WindowPoSt, 66 for WinningPoSt. */
  readonly challengeCount: number;
}

export interface ProveSectorOptions extends SectorChallengeInput {
  /** The sector's on-chain comm_r (32 bytes). */
  readonly commR: Uint8Array;
  readonly sealedFile: string;
  readonly cacheDir: string;
  /** Challenges whose replica/cache reads may be in flight at once (default 4). */
  readonly readConcurrency?: number;
}

const API_VERSIONS: readonly PoStApiVersion[] = ["V1_0_0", "V1_1_0", "V1_2_0"];

function toU64(sector: bigint | number): bigint {
  const b = typeof sector === "bigint" ? sector : Number.isSafeInteger(sector) ? BigInt(sector) : -1n;
  if (b < 0n || b >= 1n << 64n) {
    throw proofError(PROOF_ERROR_CODES.badInput, undefined, `sector number ${sector} is not a u64`);
  }
  return b;
}

/**
 * The challenged leaves of a sector (`generate_leaf_challenge_inner` with `get_challenge_index`).
 * Randomness that is not a canonical Fr is PROOF_BAD_RANDOMNESS, as `as_safe_commitment` rejects it.
 */
export function sectorChallenges(input: SectorChallengeInput): number[] {
  const sectorNumber = toU64(input.sectorNumber);
  const { randomness, challengeCount } = input;
  if (!(randomness instanceof Uint8Array) || randomness.length !== 32) {
    throw proofError(PROOF_ERROR_CODES.badRandomness, sectorNumber, "randomness must be 32 bytes");
  }
  if (!isCanonicalFrBytes(randomness)) {
    throw proofError(
      PROOF_ERROR_CODES.badRandomness,
      sectorNumber,
      `randomness ${toHex(randomness)} is not a canonical BLS12-381 field element (top bits set); ` +
        "mask chain randomness first with maskSeed() (randomness[31] &= 0x3f), as lotus and the FVM do",
    );
  }
  if (!API_VERSIONS.includes(input.apiVersion)) {
    throw proofError(
      PROOF_ERROR_CODES.badInput,
      sectorNumber,
      `unknown PoSt API version ${String(input.apiVersion)}`,
    );
  }
  if (!Number.isSafeInteger(challengeCount) || challengeCount <= 0) {
    throw proofError(
      PROOF_ERROR_CODES.badInput,
      sectorNumber,
      `challengeCount ${challengeCount} must be > 0`,
    );
  }
  if (!Number.isSafeInteger(input.sectorIndex) || input.sectorIndex < 0) {
    throw proofError(
      PROOF_ERROR_CODES.badInput,
      sectorNumber,
      `sectorIndex ${input.sectorIndex} must be ≥ 0`,
    );
  }
  return generateSectorLeafChallenges({
    randomness,
    sectorNumber,
    sectorSize: BigInt(input.shape.sectorSize),
    apiVersion: input.apiVersion,
    sectorIndex: input.sectorIndex,
    challengeCount,
  }).map(Number);
}

/** comm_r must be 32 canonical, non-zero bytes (`PrivateReplicaInfo::new`, `as_safe_commitment`). */
function checkCommR(commR: Uint8Array, sector: bigint): void {
  if (!(commR instanceof Uint8Array) || commR.length !== NODE_BYTES) {
    throw proofError(PROOF_ERROR_CODES.badInput, sector, "comm_r must be 32 bytes");
  }
  if (commR.every((b) => b === 0)) {
    throw proofError(PROOF_ERROR_CODES.badInput, sector, "invalid all-zero commitment (comm_r)");
  }
  if (!isCanonicalFrBytes(commR)) {
    throw proofError(
      PROOF_ERROR_CODES.badInput,
      sector,
      `comm_r ${toHex(commR)} is not a canonical field element`,
    );
  }
}

/**
 * Vanilla proof of one sector: reads p_aux, checks comm_r = Poseidon-2(comm_c, comm_r_last),
 * checks the cache files and that their roots give p_aux's comm_r_last, then proves every
 * challenge (reads bounded by `readConcurrency`), each re-verified before it is returned.
 */
export async function proveSector(opts: ProveSectorOptions): Promise<SectorProof> {
  const sector = toU64(opts.sectorNumber);
  const challenges = sectorChallenges(opts);
  checkCommR(opts.commR, sector);
  const aux = await readPAux(opts.cacheDir, sector);
  const expected = commRFrom(aux.commC, aux.commRLast)!;
  if (!bytesEqual(expected, opts.commR)) {
    throw proofError(
      PROOF_ERROR_CODES.commRMismatch,
      sector,
      `comm_r ${toHex(opts.commR)} ≠ Poseidon(comm_c, comm_r_last) = ${toHex(expected)} from ` +
        `${path.join(opts.cacheDir, "p_aux")}: the cache directory does not belong to this sector or p_aux is damaged`,
      { expected: toHex(expected), commR: toHex(opts.commR) },
    );
  }
  const reader = await SectorTreeReader.open({
    shape: opts.shape,
    sealedFile: opts.sealedFile,
    cacheDir: opts.cacheDir,
    sector,
  });
  try {
    if (!bytesEqual(reader.commRLast, aux.commRLast)) {
      throw proofError(
        PROOF_ERROR_CODES.corrupt,
        sector,
        `tree-r-last roots in ${opts.cacheDir} give comm_r_last ${toHex(reader.commRLast)}, but p_aux holds ` +
          `${toHex(aux.commRLast)}: the tree-r-last cache or p_aux is corrupt`,
      );
    }
    const inclusionProofs = await mapLimit(challenges, opts.readConcurrency ?? 4, (c) => reader.prove(c));
    return { inclusionProofs, commC: aux.commC, commRLast: aux.commRLast };
  } finally {
    await reader.close();
  }
}

export interface VerifySectorOptions extends SectorChallengeInput {
  readonly commR: Uint8Array;
  readonly proof: SectorProof;
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/**
 * Vanilla verification of one sector's proof (`FallbackPoSt::verify`, reference §1.9):
 *  1. Poseidon-2(comm_c, comm_r_last) = comm_r, where comm_r_last is the first proof's root;
 *  2. exactly `challengeCount` inclusion proofs;
 *  3. every proof's root equals comm_r_last;
 *  4. every proof has the shape's variant and path length, hashes to its root, and its path index
 *     equals the recomputed challenge.
 * Also requires `proof.commRLast` to equal the roots; Rust ignores that field, but its prover
 * always writes the root there. Bad randomness still throws PROOF_BAD_RANDOMNESS (caller error).
 */
export async function verifySector(opts: VerifySectorOptions): Promise<VerifyResult> {
  const challenges = sectorChallenges(opts);
  const { proof } = opts;
  const fail = (reason: string): VerifyResult => ({ ok: false, reason });
  const proofs = proof?.inclusionProofs;
  if (!Array.isArray(proofs)) return fail("proof has no inclusion proofs");
  if (proofs.length !== challenges.length) {
    return fail(`unexpected number of inclusion proofs: ${proofs.length} ≠ ${challenges.length}`);
  }
  const commRLast = proofs[0]!.root;
  if (!(commRLast instanceof Uint8Array) || !(proof.commC instanceof Uint8Array)) {
    return fail("comm_c or root is not bytes");
  }
  const commR = commRFrom(proof.commC, commRLast);
  if (commR === undefined || !(opts.commR instanceof Uint8Array) || !bytesEqual(commR, opts.commR)) {
    return fail("hash(comm_c ‖ comm_r_last) ≠ comm_r");
  }
  if (!(proof.commRLast instanceof Uint8Array) || !bytesEqual(proof.commRLast, commRLast)) {
    return fail("sector proof comm_r_last ≠ inclusion proof root");
  }
  for (let n = 0; n < proofs.length; n++) {
    const p = proofs[n]!;
    if (!(p.root instanceof Uint8Array) || !bytesEqual(p.root, commRLast)) {
      return fail(`inclusion proof ${n}: root ≠ comm_r_last`);
    }
    const reason = checkInclusionProof(p, opts.shape, challenges[n]!);
    if (reason !== undefined) return fail(`inclusion proof ${n} (challenge ${challenges[n]}): ${reason}`);
    if (n % 8 === 7) await yieldToLoop();
  }
  return { ok: true };
}
