/**
 * The built-in prover behind `venus-sector-manager wdpost` / `winpost`: vanilla proofs computed in
 * TypeScript, one bincode `FallbackPoStSectorProof` per sector, in the order of the task's replicas.
 * No SNARK: these proofs are what a native GPU prover would take as input, and what the devnet checks.
 *
 * WindowPoSt: as damocles' builtin processor does, sectors that cannot be proven come back in `faults`
 * with an empty proof list (the parent retries without them); the reason for each is logged on stderr.
 * WinningPoSt has no faults: its output is `{"proofs"}` only and its one sector cannot be skipped, so
 * an unprovable sector fails the request with the sector and the reason, as rust-fil-proofs'
 * `generate_winning_post` fails the whole call.
 * Problems with the task itself (unknown proof type, a seed whose top bits are set, a window proof type
 * sent to the winning processor) fail the request with a message.
 */
import { setMaxListeners } from "node:events";
import type { Logger } from "../log/logger.js";
import { isCanonicalFrBytes, WINNING_POST_SECTOR_COUNT } from "../proofs/challenges.js";
import { PROOF_ERROR_CODES } from "../proofs/proofErrors.js";
import { parsePoStProofType } from "../proofs/proofTypes.js";
import { type ErrorCode, errorMessage, SmError } from "../util/errors.js";
import type { StageProver } from "./processor.js";
import type { PoStOutput, Stage } from "./protocol.js";
import type { WorkerPool } from "./workerPool.js";

/** Per-sector failures: the sector is faulty, the task goes on. */
const FAULT_CODES = new Set<ErrorCode>([
  PROOF_ERROR_CODES.fileMissing,
  PROOF_ERROR_CODES.fileSize,
  PROOF_ERROR_CODES.unreadable,
  PROOF_ERROR_CODES.corrupt,
  PROOF_ERROR_CODES.commRMismatch,
  PROOF_ERROR_CODES.badInput,
]);

export function createVanillaProver(stage: Stage, pool: WorkerPool, logger: Logger): StageProver {
  const log = logger.named("vanilla-prover");
  return async (task, signal, priority): Promise<PoStOutput> => {
    const type = parsePoStProofType(task.proofType);
    const wanted = stage === "window_post" ? "window" : "winning";
    if (type.kind !== wanted) {
      throw new SmError(
        "PROOF_UNKNOWN_TYPE",
        `${task.proofType} is a ${type.kind} proof type; this ${stage} processor proves ${wanted} PoSt only`,
      );
    }
    if (!isCanonicalFrBytes(task.seed)) {
      throw new SmError(
        "PROOF_BAD_RANDOMNESS",
        "seed is not a canonical field element: the parent must mask it (seed[31] &= 0x3f) before sending, as damocles and lotus do",
      );
    }
    if (stage === "winning_post" && task.replicas.length !== WINNING_POST_SECTOR_COUNT) {
      // rust-fil-proofs `generate_winning_post`: "invalid amount of replicas".
      throw new SmError(
        PROOF_ERROR_CODES.badInput,
        `invalid amount of replicas: WinningPoSt proves exactly ${WINNING_POST_SECTOR_COUNT} sector (the challenged one), got ${task.replicas.length}`,
      );
    }
    // Rust keys replicas by sector id, so duplicates (substitutes for skipped sectors) collapse.
    const seen = new Set<number>();
    const replicas = task.replicas.filter((r) => !seen.has(r.sectorId) && seen.add(r.sectorId));
    // Each queued sector listens on the request's signal until it runs: 2,349 for a 32 GiB partition,
    // which is expected, not the leak Node's default limit of 10 warns about.
    setMaxListeners(replicas.length + 10, signal);
    const results = await Promise.all(
      replicas.map(async (r, i) => {
        try {
          const bytes = await pool.run(
            "proveSectorBytes",
            [
              {
                shape: type.shape,
                sectorNumber: r.sectorId,
                randomness: task.seed,
                apiVersion: type.apiVersion,
                sectorIndex: i,
                challengeCount: type.challengeCount,
                commR: r.commR,
                sealedFile: r.sealedFile,
                cacheDir: r.cacheDir,
              },
            ],
            { signal, priority },
          );
          return { sector: r.sectorId, bytes };
        } catch (e) {
          if (e instanceof SmError && FAULT_CODES.has(e.code) && stage === "window_post") {
            log.warn("sector cannot be proven; reported as a fault", {
              miner: task.minerId,
              sector: r.sectorId,
              code: e.code,
              reason: e.message,
            });
            return { sector: r.sectorId, bytes: undefined };
          }
          throw e instanceof SmError
            ? e
            : new SmError("PROVER_FAILED", `sector ${r.sectorId}: ${errorMessage(e)}`);
        }
      }),
    );
    const faults = results.filter((r) => r.bytes === undefined).map((r) => r.sector);
    if (faults.length > 0) return { proofs: [], faults };
    return { proofs: results.map((r) => r.bytes as Uint8Array), faults: [] };
  };
}
