import type { ProbeInput, StrictProbe } from "../sectors/check.js";
import { SmError } from "../util/errors.js";
import type { WorkerPool } from "./workerPool.js";

/** The strict sector check on the prover pool: a one-challenge vanilla proof that must verify. */
export function createStrictProbe(pool: WorkerPool): StrictProbe {
  return async (input: ProbeInput, signal: AbortSignal) => {
    const r = await pool.run(
      "probeSector",
      [
        {
          shape: input.shape,
          sectorNumber: input.target.number,
          sealedFile: input.sealedFile,
          cacheDir: input.cacheDir,
          commR: input.target.commR,
        },
      ],
      { signal },
    );
    if (!r.ok) throw new SmError("SECTOR_PROBE_FAILED", r.reason);
  };
}
