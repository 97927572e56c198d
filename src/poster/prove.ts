/**
 * Stage 4 of a deadline run: one partition proven from its job (job.ts). Runs anywhere the job's
 * sector files can be read; needs only the job and a prover.
 */
import { performance } from "node:perf_hooks";
import { BitField } from "../chain/bitfield.js";
import type { Logger } from "../log/logger.js";
import type { ProvenPartition } from "./batch.js";
import type { PartitionJob } from "./job.js";
import { jobTask, parsePartitionJob } from "./job.js";
import { isRetryableProverFailure, retryTransient } from "./retry.js";
import type { ProveFn } from "./types.js";

/**
 * Rounds of "the prover reports faulty sectors, prove again without them": a partition whose sectors
 * keep failing one after another is given up after this many, rather than until Close.
 */
export const MAX_FAULT_ROUNDS = 5;

/**
 * Prover tries per partition in a dry run (`proving compute`): nothing is at stake, so a prover that
 * keeps failing is reported after a few tries instead of being retried until the call times out.
 */
export const DRY_RUN_PROVER_ATTEMPTS = 3;

export interface ProveOptions {
  signal: AbortSignal;
  log: Logger;
  /** Prover calls per round before its failure is thrown (unbounded for a real deadline). */
  attempts: number;
  /** Sectors the prover reported faulty in a round, as soon as it did. */
  onFaults?: (sectors: number[]) => void;
  /** A prover took one of the partition's calls (ProveFn's onStart). */
  onStart?: (by: string) => void;
}

export interface PartitionProofResult {
  partition: number;
  /** The proof, or null when nothing provable was left (every sector faulty, or MAX_FAULT_ROUNDS spent). */
  proof: ProvenPartition | null;
  /** The job's skipped sectors and those the prover reported faulty. */
  skipped: BitField;
  /** Every sector the prover reported faulty, in the order it did. */
  faults: number[];
  /** Time spent proving, prover calls included. */
  ms: number;
}

/**
 * Prove one partition: a failed prover call is tried again (a child killed with this partition in
 * flight) on whichever prover is free first, until the signal aborts, since leaving the partition
 * out would make all its sectors faulty; sectors the prover reports faulty are skipped and the rest
 * proven again.
 */
export async function provePartition(
  input: PartitionJob,
  prove: ProveFn,
  opts: ProveOptions,
): Promise<PartitionProofResult> {
  // Wherever the job came from (built by the check stage, or stored and read back), it is whole.
  const job = parsePartitionJob(input);
  const { signal, log } = opts;
  const started = performance.now();
  let skipped = BitField.fromNumbers(job.skipped);
  let proven = BitField.fromNumbers(job.sectors.map((s) => s.number));
  const faults: number[] = [];
  for (let round = 0; round < MAX_FAULT_ROUNDS && !proven.isEmpty(); round++) {
    const sectors = job.sectors.filter((s) => proven.has(s.number));
    const out = await retryTransient(
      "proving the partition",
      () => prove(jobTask(job, sectors), { priority: job.close, signal, onStart: opts.onStart }),
      signal,
      log.with({ partition: job.partition }),
      isRetryableProverFailure,
      opts.attempts,
    );
    if (out.faults.length > 0) {
      faults.push(...out.faults);
      opts.onFaults?.(out.faults);
      log.warn("prover reported faulty sectors; proving the partition again without them", {
        partition: job.partition,
        faults: out.faults,
      });
      const faulty = BitField.fromNumbers(out.faults);
      skipped = skipped.union(faulty.intersect(proven));
      proven = proven.subtract(faulty);
      continue;
    }
    const ms = Math.round(performance.now() - started);
    return {
      partition: job.partition,
      proof: provenPartition(job, sectors, proven, skipped, out.proofs),
      skipped,
      faults,
      ms,
    };
  }
  return {
    partition: job.partition,
    proof: null,
    skipped,
    faults,
    ms: Math.round(performance.now() - started),
  };
}

/** The prover's output as the message needs it: one SNARK, or a vanilla proof per sector in task order. */
function provenPartition(
  job: PartitionJob,
  sectors: readonly { number: number }[],
  proven: BitField,
  skipped: BitField,
  proofs: readonly Uint8Array[],
): ProvenPartition {
  const index = job.partition;
  if (job.format === "snark") return { index, skipped, proven, snarkProof: proofs[0] };
  return {
    index,
    skipped,
    proven,
    sectorProofs: new Map(sectors.map((s, i) => [s.number, proofs[i] ?? new Uint8Array()])),
  };
}
