/**
 * bench:scale part (c): strict checks of a full 32 GiB partition, 2,349 sparse sectors
 * (`devnet seal --sparse`): each sector's one-challenge vanilla proof on the node's worker threads,
 * as `StrictCheck = true` runs it before proving.
 *
 *  - per core: one worker thread probes sectors one after another (after a warm-up);
 *  - the partition: a pool of `threads` workers (2 here) probes all 2,349, 2 per thread in flight,
 *    as the check stage does under the default ParallelCheckLimit;
 *  - the baseline: PartitionCheckTimeout's default (20 min), the time a partition's checks may take.
 *
 * Sparse sectors are all zeros: the prover rebuilds a challenged segment from the precomputed zero
 * rows instead of hashing it (proofs/inclusion.ts), so a probe costs less here than on a real replica;
 * the path is still read from the cache files and verified in full.
 */
import { performance } from "node:perf_hooks";
import { defaultSectorManagerConfig } from "../src/config/load.js";
import { nullLogger } from "../src/log/logger.js";
import { shapeByName } from "../src/proofs/sectorShapes.js";
import { type SparseSector, writeSparseSectors } from "../src/proofs/sparseSeal.js";
import { createStrictProbe } from "../src/prover/strictProbe.js";
import { createWorkerPool } from "../src/prover/workerPool.js";
import type { ProbeInput } from "../src/sectors/check.js";
import { mapLimit } from "../src/util/concurrency.js";
import { tempDir } from "../test/helpers/tmp.js";
import { progress } from "./scaleProgress.js";

export interface StrictFigures {
  sectors: number;
  /** Sectors probed one after another on one worker thread. */
  per_core_sample: number;
  strict_sectors_per_core_s: number;
  ms_per_sector: number;
  threads: number;
  partition_s: number;
  partition_sectors_per_s: number;
  partition_check_timeout_s: number;
  /** partition_s / PartitionCheckTimeout. */
  timeout_ratio: number;
  seal_s: number;
}

const SECTORS_32G = 2349;

export async function strictChecks(opts: { threads: number; sample: number }): Promise<StrictFigures> {
  const shape = shapeByName("32GiB");
  if (!shape) throw new Error("no 32GiB sector shape");
  const t = await tempDir("vsm-scale-strict-");
  try {
    const sealStarted = performance.now();
    const seal = progress("(c) sealing 2,349 sparse 32 GiB sectors", SECTORS_32G);
    const { sectors } = await writeSparseSectors({
      storeDir: t.dir,
      miner: 1000,
      start: 1,
      count: SECTORS_32G,
      shape,
      onSector: (_, done) => seal.tick(done),
    });
    seal.end();
    const sealS = (performance.now() - sealStarted) / 1000;
    const input = (s: SparseSector): ProbeInput => ({
      target: { miner: 1000, number: s.number, upgrade: false, shape, commR: s.commR },
      shape,
      sealedFile: s.sealedFile,
      cacheDir: s.cacheDir,
    });
    const signal = AbortSignal.timeout(30 * 60_000);

    // One core: one worker, one probe at a time (the first few warm the worker up).
    const one = createWorkerPool("node", { threads: 1, logger: nullLogger });
    let perCoreMs: number;
    try {
      const probe = createStrictProbe(one);
      for (const s of sectors.slice(0, 5)) await probe(input(s), signal);
      const sample = sectors.slice(5, 5 + opts.sample);
      const p = progress("(c) one core", sample.length);
      const t0 = performance.now();
      for (const [i, s] of sample.entries()) {
        await probe(input(s), signal);
        p.tick(i + 1);
      }
      p.end();
      perCoreMs = (performance.now() - t0) / sample.length;
    } finally {
      await one.close();
    }

    // The partition on `threads` workers, two probes per thread in flight.
    const pool = createWorkerPool("node", { threads: opts.threads, logger: nullLogger });
    let partitionS: number;
    try {
      const probe = createStrictProbe(pool);
      await probe(input(sectors[0] as SparseSector), signal);
      const p = progress(`(c) the partition on ${opts.threads} threads`, sectors.length);
      const t0 = performance.now();
      let done = 0;
      await mapLimit(sectors, opts.threads * 2, async (s) => {
        await probe(input(s), signal);
        p.tick(++done);
      });
      p.end();
      partitionS = (performance.now() - t0) / 1000;
    } finally {
      await pool.close();
    }
    const timeoutS = defaultSectorManagerConfig().Common.Proving.PartitionCheckTimeoutMs / 1000;
    return {
      sectors: sectors.length,
      per_core_sample: opts.sample,
      strict_sectors_per_core_s: Math.round((1000 / perCoreMs) * 10) / 10,
      ms_per_sector: Math.round(perCoreMs * 100) / 100,
      threads: opts.threads,
      partition_s: Math.round(partitionS * 100) / 100,
      partition_sectors_per_s: Math.round(sectors.length / partitionS),
      partition_check_timeout_s: timeoutS,
      timeout_ratio: Math.round((partitionS / timeoutS) * 10_000) / 10_000,
      seal_s: Math.round(sealS * 10) / 10,
    };
  } finally {
    await t.cleanup();
  }
}
