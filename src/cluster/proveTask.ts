/**
 * One claimed partition task, checked and proven on this node with the poster's own stages: the
 * sector check (poster/check.ts) against this machine's sector index and persist stores, the proving
 * job (poster/job.ts) and the prover (poster/prove.ts). What comes out is what completeTask records:
 * the proof in the proof store's encoding (poster/proofStore.ts), the skipped sectors and the
 * faults the prover reported.
 */
import type { Logger } from "../log/logger.js";
import { checkPartition } from "../poster/check.js";
import { partitionJob } from "../poster/job.js";
import { encodeSavedProof } from "../poster/proofStore.js";
import { provePartition } from "../poster/prove.js";
import type { RunnerDeps } from "../poster/types.js";
import { parseChainPoStProof } from "../proofs/proofTypes.js";
import { jobChallenge, jobTodo, type TaskJob } from "./taskJob.js";

/** What proving a task needs from the node (a part of the poster's RunnerDeps). */
/** metrics: the check time of each task (vsm_wdpost_sector_check_seconds). */
export type TaskProveDeps = Pick<
  RunnerDeps,
  "indexer" | "stores" | "proving" | "prove" | "strictProbe" | "metrics"
>;

export type TaskOutcome =
  | {
      kind: "proven";
      proof: Uint8Array;
      sectors: number;
      skipped: number[];
      faults: number[];
      /** Sectors that failed the check, with why. */
      failed: { sector: number; reason: string }[];
      ms: number;
    }
  /** Nothing provable: every sector failed its check, or the prover kept reporting faults. */
  | { kind: "none"; skipped: number[]; faults: number[]; failed: { sector: number; reason: string }[] };

export async function proveTask(
  job: TaskJob,
  deps: TaskProveDeps,
  opts: { height: number; signal: AbortSignal; log: Logger },
): Promise<TaskOutcome> {
  const { signal, log } = opts;
  const end = deps.metrics?.wdpostCheckDuration.startTimer({
    miner: `f0${job.actor}`,
    deadline: String(job.deadline),
  });
  const checked = await checkPartition(jobTodo(job), {
    actor: job.actor,
    shape: parseChainPoStProof(job.postProof).shape,
    infos: job.infos,
    strict: job.strict,
    deps: {
      indexer: deps.indexer,
      stores: deps.stores,
      proving: deps.proving,
      strictProbe: deps.strictProbe,
    },
    signal,
    log,
  });
  end?.();
  if (checked.plan.proven.isEmpty())
    return { kind: "none", skipped: checked.plan.skipped.toNumbers(), faults: [], failed: checked.failed };
  const challenge = jobChallenge(job);
  const pj = partitionJob(
    { actor: job.actor, deadline: job.deadline, open: job.open, close: job.close, ...challenge },
    checked.plan,
    checked.located,
  );
  const r = await provePartition(pj, deps.prove, { signal, log, attempts: Number.POSITIVE_INFINITY });
  if (!r.proof)
    return { kind: "none", skipped: r.skipped.toNumbers(), faults: r.faults, failed: checked.failed };
  return {
    kind: "proven",
    proof: encodeSavedProof({ ...challenge, partition: r.proof, provenAt: opts.height }),
    sectors: r.proof.proven.count(),
    skipped: r.proof.skipped.toNumbers(),
    faults: r.faults,
    failed: checked.failed,
    ms: r.ms,
  };
}
