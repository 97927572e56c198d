/**
 * Where a deadline run's own time goes (issue 15): the node's work around the proving, by stage. Each
 * stage's figure is the sum of the time spent in it; partitions are checked and proven in parallel,
 * so two stages may overlap in wall-clock time and the sum may exceed the run's duration.
 *
 *   chain   the deadline's chain reads: partitions, miner info, seed, posted, sector infos; before
 *           each push, what is on chain already and the head
 *   lookup  the sector index: where each sector's files are (inside the checks)
 *   check   the sector checks, lookups excluded (file presence, sizes; strict: a one-challenge proof)
 *   group   grouping finished partitions into messages
 *   build   a message: sender choice, commit randomness, params encoding
 *   push    MpoolPushMessage (the chain node estimates gas and signs here)
 *
 * Not a stage: a message's wait for its proofs' own preparation, which begins when each partition is
 * proven (the devnet's bundle parts compressing on zlib's threads, the proofs being stored); the
 * "deadline done" line reports it apart as proof_wait_ms.
 */
import { performance } from "node:perf_hooks";
import type { SectorIndexer } from "../sectors/interface.js";

export const RUN_STAGES = ["chain", "lookup", "check", "group", "build", "push"] as const;
export type RunStage = (typeof RUN_STAGES)[number];
export type StageTimes = Partial<Record<RunStage, number>>;

/** Adds `ms` to one stage of `times`. */
export function addStage(times: StageTimes, stage: RunStage, ms: number): void {
  times[stage] = (times[stage] ?? 0) + ms;
}

/** Runs `fn`, adding its duration to `stage` whether it succeeds or fails. */
export async function timed<T>(times: StageTimes, stage: RunStage, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    addStage(times, stage, performance.now() - t0);
  }
}

/** The indexer with the time of its lookups added to `lookup` (what the checks call). */
export function timedIndexer(indexer: SectorIndexer, times: StageTimes): SectorIndexer {
  return {
    description: indexer.description,
    readOnly: indexer.readOnly,
    find: (type, sector, opts) => timed(times, "lookup", () => indexer.find(type, sector, opts)),
    findMany: (type, sectors, opts) => timed(times, "lookup", () => indexer.findMany(type, sectors, opts)),
    update: (type, records, opts) => indexer.update(type, records, opts),
    counts: (opts) => indexer.counts(opts),
  };
}
