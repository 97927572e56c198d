/**
 * Stage 3 of a deadline run: the sector check of one partition (sectors/check.ts: the files are
 * there, and with StrictCheck a vanilla proof of each succeeds) and its plan: the bad sectors go
 * into Skipped, the good ones, with the locations the check found, into the partition's job.
 */
import type { SectorOnChainInfo } from "../chain/interface.js";
import type { Logger } from "../log/logger.js";
import { cidToCommitment } from "../proofs/commCid.js";
import type { SectorShape } from "../proofs/sectorShapes.js";
import { type CheckDeps, type CheckTarget, checkSectors } from "../sectors/check.js";
import { type PartitionPlan, planPartition } from "./batch.js";
import { type JobSector, toHex } from "./job.js";
import type { TodoPartition } from "./plan.js";
import { retryTransient } from "./retry.js";

/** What the check needs of a sector's on-chain info (a cluster task carries only this). */
export type CheckSectorInfo = Pick<SectorOnChainInfo, "sectorNumber" | "sealedCid" | "sectorKeyCid">;

/** What the sector check needs of each on-chain sector: where to look (normal or upgrade index), size, comm_r. */
export function sectorCheckTargets(
  actor: number,
  sectors: Iterable<CheckSectorInfo>,
  shape: SectorShape,
): CheckTarget[] {
  return [...sectors].map((s) => ({
    miner: actor,
    number: s.sectorNumber,
    upgrade: s.sectorKeyCid !== null,
    shape,
    commR: cidToCommitment(s.sealedCid).commitment,
  }));
}

export interface CheckInput {
  actor: number;
  /** The sector shape of the miner's proof type. */
  shape: SectorShape;
  /** On-chain infos of the sectors to prove (load.ts readSectorInfos). */
  infos: ReadonlyMap<number, CheckSectorInfo>;
  /** [Miners.PoSt] StrictCheck. */
  strict: boolean;
  deps: CheckDeps;
  signal: AbortSignal;
  log: Logger;
}

export interface CheckedPartition {
  plan: PartitionPlan;
  /** Sectors that failed their check, with why (all of them are in plan.skipped). */
  failed: { sector: number; reason: string }[];
  /** The sectors that passed, by number, with what their proving job needs. */
  located: Map<number, JobSector>;
}

/**
 * Check the sectors of one partition and plan its proof. A sector with no on-chain info is not
 * checked and ends in Skipped like a bad one. The check is retried only through failures that may
 * pass (the proxy's source restarting); each attempt has its own PartitionCheckTimeout.
 */
export async function checkPartition(todo: TodoPartition, input: CheckInput): Promise<CheckedPartition> {
  const { index, toProve } = todo;
  const onChain = toProve.toNumbers().flatMap((n) => input.infos.get(n) ?? []);
  const targets = sectorCheckTargets(input.actor, onChain, input.shape);
  const checks =
    targets.length === 0
      ? []
      : await retryTransient(
          "checking sectors",
          () => checkSectors(targets, input.deps, { strict: input.strict, signal: input.signal }),
          input.signal,
          input.log,
        );
  const failed: CheckedPartition["failed"] = [];
  const located = new Map<number, JobSector>();
  const good = new Set<number>();
  // comm_r as the targets have it (decoding a sealed CID twice a sector cost ~7 ms a full partition).
  const commR = new Map(targets.map((t) => [t.number, t.commR]));
  for (const c of checks) {
    if (c.ok) {
      good.add(c.number);
      const r = commR.get(c.number);
      if (r && c.sealedFile && c.cacheDir)
        located.set(c.number, {
          number: c.number,
          commR: toHex(r),
          sealedFile: c.sealedFile,
          cacheDir: c.cacheDir,
        });
      continue;
    }
    const reason = c.reason ?? "check failed";
    failed.push({ sector: c.number, reason });
    input.log.warn("sector skipped", { partition: index, sector: c.number, reason });
  }
  return { plan: planPartition(todo.partition, index, (n) => good.has(n)), failed, located };
}
