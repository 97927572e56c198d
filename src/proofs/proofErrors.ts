/**
 * Error codes of the vanilla-proof code, and the mapping of file-system errors onto them.
 *
 * Every failure that concerns one sector names the sector and the reason, so the PoSt scheduler
 * can declare exactly that sector faulty (rust-fil-proofs does the same: any error while proving a
 * sector adds it to `faulty_sectors`, `storage-proofs-post/src/fallback/vanilla.rs`).
 */
import { SmError, sysCode } from "../util/errors.js";

export const PROOF_ERROR_CODES = {
  /** A sealed file, cache file or p_aux does not exist. */
  fileMissing: "PROOF_FILE_MISSING",
  /** A file exists but has the wrong size (tree-r-last cache, p_aux, short replica). */
  fileSize: "PROOF_FILE_SIZE",
  /** A file exists but cannot be read (permissions, I/O error, is a directory). */
  unreadable: "PROOF_UNREADABLE",
  /** Data read back is inconsistent: rebuilt node ≠ cached node, roots ≠ p_aux, non-Fr node. */
  corrupt: "PROOF_CORRUPT",
  /** comm_r ≠ Poseidon-2(comm_c, comm_r_last). */
  commRMismatch: "PROOF_COMMR_MISMATCH",
  /** Randomness is not a canonical Fr encoding (chain randomness not masked). */
  badRandomness: "PROOF_BAD_RANDOMNESS",
  /** Unknown registered proof type name or id. */
  unknownType: "PROOF_UNKNOWN_TYPE",
  /** Malformed argument (wrong length, non-canonical or all-zero comm_r, bad count). */
  badInput: "PROOF_BAD_INPUT",
  /** Bytes that are not a valid bincode FallbackPoStSectorProof. */
  decode: "PROOF_DECODE",
  /**
   * Synthetic sectors could not be written (`devnet seal --sparse`): a sector file already exists, the
   * store's file system has no hard links, or a write failed.
   */
  sealFailed: "PROOF_SEAL_FAILED",
  /** Bytes that are not a vanilla proof bundle (proofs/vanillaBundle.ts; the devnet's format, hence the name). */
  badBundle: "DEVNET_BAD_BUNDLE",
} as const;

export type ProofErrorCode = (typeof PROOF_ERROR_CODES)[keyof typeof PROOF_ERROR_CODES];

declare module "../util/errors.js" {
  interface ErrorCodes extends Record<ProofErrorCode, "proofs"> {}
}

/** Human label of a sector for messages: "sector 17". */
export function sectorLabel(sector: bigint | number | undefined): string {
  return sector === undefined ? "sector ?" : `sector ${sector}`;
}

/** An SmError whose message starts with the sector, with `sector` and `reason` as fields. */
export function proofError(
  code: ProofErrorCode,
  sector: bigint | number | undefined,
  reason: string,
  fields: Record<string, unknown> = {},
  cause?: unknown,
): SmError {
  return new SmError(
    code,
    `${sectorLabel(sector)}: ${reason}`,
    { sector: sector === undefined ? undefined : String(sector), reason, ...fields },
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Turn an fs error on `file` into PROOF_FILE_MISSING (ENOENT, ENOTDIR) or PROOF_UNREADABLE
 * (anything else). SmErrors pass through unchanged.
 */
export function fsProofError(
  err: unknown,
  sector: bigint | number | undefined,
  file: string,
  what: string,
): SmError {
  if (err instanceof SmError) return err;
  const code = sysCode(err);
  if (code === "ENOENT" || code === "ENOTDIR") {
    return proofError(PROOF_ERROR_CODES.fileMissing, sector, `${what} ${file} does not exist`, { file }, err);
  }
  const detail = err instanceof Error ? err.message : String(err);
  return proofError(
    PROOF_ERROR_CODES.unreadable,
    sector,
    `${what} ${file} cannot be read (${code ?? "error"}: ${detail})`,
    { file, sysCode: code },
    err,
  );
}
