/**
 * What a deadline run is given and what it reports: the prover call, the runner's dependencies and the
 * RunResult every stage fills (runner.ts wires the stages; poster.ts judges the result).
 */
import type { ChainPort } from "../chain/interface.js";
import type { SectorManagerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/metrics.js";
import type { PoStOutput, PoStTask } from "../prover/protocol.js";
import type { StrictProbe } from "../sectors/check.js";
import type { SectorIndexer } from "../sectors/interface.js";
import type { PersistStores } from "../sectors/stores.js";
import type { ProofFormat } from "./batch.js";
import type { ProofStore } from "./proofStore.js";
import type { StageTimes } from "./stageTimes.js";

/**
 * Runs one prover task; `priority` is the deadline's Close epoch (earliest first). `onStart` is told
 * which prover took the task (an ext-prover block such as "WdPost[0]", or "built-in"), each time one does.
 */
export type ProveFn = (
  task: PoStTask,
  opts: { priority: number; signal: AbortSignal; onStart?: (by: string) => void },
) => Promise<PoStOutput>;

export interface RunnerDeps {
  chain: ChainPort;
  indexer: SectorIndexer;
  stores: PersistStores;
  proving: SectorManagerConfig["Common"]["Proving"];
  prove: ProveFn;
  strictProbe?: StrictProbe;
  format: ProofFormat;
  /** Partitions per message the network allows (3 since nv21; the devnet's policy may say less). */
  networkMaxPartitions: number;
  /** Where finished partition proofs are kept until Close (absent: nothing survives a restart). */
  proofs?: ProofStore;
  /** Prometheus metrics of the node (the Poster records each finished deadline run). */
  metrics?: Metrics;
  logger: Logger;
}

/** What became of one partition in a run. */
export interface PartitionOutcome {
  index: number;
  /**
   * proved now; reused from the proof store; already proven on chain (nothing to do); nothing
   * provable; failed (its check or its prover failed in a way not worth retrying, or, in a dry run,
   * a few times in a row).
   */
  source: "proved" | "stored" | "on-chain" | "none" | "failed";
  sectors: number;
  skipped: number;
  /** Time spent proving it (prover calls), 0 for stored / on-chain. */
  ms: number;
  /** Why it failed (source "failed"). */
  error?: string;
}

/** A message of a dry run: the partitions it would carry, its params size, or why it could not be built. */
export interface DryRunMessage {
  partitions: number[];
  paramsBytes: number;
  error?: string;
}

/** A message that executed on chain. */
export interface LandedMessage {
  partitions: number[];
  cid: string;
  exitCode: number;
  /** Gas the message used (absent when the receipt was not read by this node). */
  gasUsed?: number;
  height: number;
}

export interface RunResult {
  /**
   * What the chain says was due: the deadline's partitions with sectors to prove at the start tipset
   * (live − faulty + recovering not empty). null until that was read: the run cannot tell then
   * whether anything was lost.
   */
  due: number[] | null;
  /** Partitions sent in messages that executed with exit code 0, and partitions already proven on chain. */
  proven: number[];
  /** Partitions of messages pushed to the chain node, landed or not. */
  sent: number[];
  partitions: PartitionOutcome[];
  /**
   * Dry run: the messages that would have been sent (partitions, params size in bytes), or why one
   * could not be built (error set, paramsBytes 0).
   */
  dryRun?: DryRunMessage[];
  /** Every message pushed, with its partitions: the ones not in `messages` had no receipt yet. */
  pushed: { partitions: number[]; cid: string }[];
  /** Messages sent, with their exit codes and the height that executed them. */
  messages: LandedMessage[];
  /** Sectors skipped, with why. */
  skipped: { sector: number; reason: string }[];
  /** Sectors the chain held faulty in the deadline's partitions at the start tipset (once read). */
  faulty?: number;
  /** Which prover took each partition's latest call ("WdPost[0]", "built-in"), by partition index. */
  provers?: Record<number, string>;
  /** Milliseconds the run spent in each of its own stages (stageTimes.ts; overlapping, summed). */
  stageMs?: StageTimes;
  /** Milliseconds its messages waited for their proofs' preparation (submit.ts waitedForProofs). */
  proofWaitMs?: number;
}

/**
 * What became of a deadline, judged from what the chain said was due against what is known proven,
 * never from what the run happened to get done:
 * - proven: every partition due was proven on chain (by this run's messages, or already before it);
 * - empty: nothing was due (no partition, or every sector faulty and none recovering): nothing to prove;
 * - partial: some partitions due were proven, others not (left out, failed to prove, message failed);
 * - missed: none of the partitions due was proven;
 * - unknown: what was due could not be read, or the run stopped while messages it pushed for the
 *   partitions not known proven had not been confirmed (they may still have landed).
 */
export type DeadlineOutcome = "proven" | "partial" | "missed" | "unknown" | "empty";

export function deadlineOutcome(r: RunResult): DeadlineOutcome {
  if (r.due === null) return "unknown";
  if (r.due.length === 0) return "empty";
  const proven = new Set(r.proven);
  const notProven = r.due.filter((i) => !proven.has(i));
  if (notProven.length === 0) return "proven";
  const failed = new Set(r.messages.filter((m) => m.exitCode !== 0).flatMap((m) => m.partitions));
  const sent = new Set(r.sent);
  if (notProven.some((i) => sent.has(i) && !failed.has(i))) return "unknown";
  return notProven.length === r.due.length ? "missed" : "partial";
}

/** An empty result, to be filled by runDeadline (the caller may hand it in to read it after a failure). */
export function emptyRunResult(): RunResult {
  return { due: null, proven: [], sent: [], pushed: [], partitions: [], messages: [], skipped: [] };
}
