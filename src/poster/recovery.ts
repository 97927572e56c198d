/**
 * Fault recovery declarations. Pure logic, no I/O: the runner checks the candidate sectors, then
 * plans DeclareFaultsRecovered messages from the results.
 *
 * Sources: damocles-poster.md §4.3 and §4.7. When proving deadline i, damocles handles recoveries
 * for deadline (i+2) mod WPoStPeriodDeadlines: candidates = Faulty − Recovering per partition;
 * checked-good candidates become RecoveryDeclaration{Deadline, Partition, Sectors}; declaring stops
 * once MaxRecoverSectorLimit sectors are declared (the last bitfield is trimmed); declarations are
 * split into messages of MaxPartitionsPerRecoveryMessage partitions. builtin-actors rejects a
 * declaration once the target deadline's FaultCutoff has been reached
 * (`validate_fr_declaration_deadline`: `fault_cutoff_passed` = current_epoch >= fault_cutoff).
 *
 * Config: validated MinerPoStConfig holds null where damocles' TOML holds 0 (unlimited / all in
 * one message); see src/config/schema.ts.
 */
import { BitField } from "../chain/bitfield.js";
import type { DeadlineInfo, Partition } from "../chain/interface.js";
import type { DeclareFaultsRecoveredParams, RecoveryDeclaration } from "../chain/params.js";
import type { MinerPoStConfig } from "../config/types.js";
import { SmError } from "../util/errors.js";

export type RecoveryLimits = Pick<
  MinerPoStConfig,
  "MaxRecoverSectorLimit" | "MaxPartitionsPerRecoveryMessage"
>;

export interface RecoveryCandidates {
  readonly partition: number;
  /** Faulty − Recovering: faulty sectors not yet declared recovering. */
  readonly sectors: BitField;
}

export interface RecoveryPlan {
  /** One DeclareFaultsRecovered per entry, in partition order; empty when nothing recovered. */
  readonly messages: DeclareFaultsRecoveredParams[];
  /** Sectors declared across all messages. */
  readonly declared: number;
  /** Candidates that failed their check (stay faulty), per partition; for the log. */
  readonly stillFaulty: readonly RecoveryCandidates[];
  /**
   * True when MaxRecoverSectorLimit cut the plan short: recovered sectors were dropped from the last
   * declaration and/or later partitions were not considered (they are retried next proving period).
   */
  readonly limited: boolean;
}

function bad(message: string, fields: Record<string, unknown> = {}): never {
  throw new SmError("POSTER_BAD_RECOVERY_INPUT", message, fields);
}

function positiveOrNull(v: number | null, what: string): number | null {
  if (v === null) return null;
  if (!Number.isSafeInteger(v) || v < 1) bad(`${what} must be a positive integer or null, got ${String(v)}`);
  return v;
}

/**
 * Per partition with at least one candidate: Faulty − Recovering. These are the sectors the runner
 * must check before calling planRecoveries (`partitions[i]` is partition index i).
 */
export function recoveryCandidates(partitions: readonly Partition[]): RecoveryCandidates[] {
  const out: RecoveryCandidates[] = [];
  partitions.forEach((p, partition) => {
    const sectors = p.faultySectors.subtract(p.recoveringSectors);
    if (!sectors.isEmpty()) out.push({ partition, sectors });
  });
  return out;
}

/**
 * Recovery declarations for `deadlineIndex` (the proving deadline + 2), given the partitions of that
 * deadline and a verdict per candidate sector. Partitions are walked in index order; once
 * MaxRecoverSectorLimit sectors are declared the last bitfield is trimmed to its lowest sectors and
 * no further partition is considered (damocles / lotus `checkSectorsForRecovery` behave the same).
 */
export function planRecoveries(
  partitions: readonly Partition[],
  deadlineIndex: number,
  good: (sector: number) => boolean,
  limits: RecoveryLimits,
): RecoveryPlan {
  if (!Number.isSafeInteger(deadlineIndex) || deadlineIndex < 0) {
    bad(`deadline index must be a non-negative integer, got ${String(deadlineIndex)}`);
  }
  const limit = positiveOrNull(limits.MaxRecoverSectorLimit, "MaxRecoverSectorLimit");
  const perMessage = positiveOrNull(
    limits.MaxPartitionsPerRecoveryMessage,
    "MaxPartitionsPerRecoveryMessage",
  );

  const declarations: RecoveryDeclaration[] = [];
  const stillFaulty: RecoveryCandidates[] = [];
  let declared = 0;
  let limited = false;
  for (const { partition, sectors } of recoveryCandidates(partitions)) {
    if (limit !== null && declared >= limit) {
      limited = true;
      break;
    }
    const ok: number[] = [];
    const failed: number[] = [];
    for (const s of sectors) (good(s) ? ok : failed).push(s);
    if (failed.length > 0) stillFaulty.push({ partition, sectors: BitField.fromNumbers(failed) });
    if (ok.length === 0) continue;
    let recovered = BitField.fromNumbers(ok);
    if (limit !== null && declared + ok.length > limit) {
      // Keep the lowest sectors up to the limit (go-bitfield Slice(0, n), as damocles trims).
      recovered = recovered.slice(0, limit - declared);
      limited = true;
    }
    declared += recovered.count();
    declarations.push({ deadline: deadlineIndex, partition, sectors: recovered });
  }

  const messages: DeclareFaultsRecoveredParams[] = [];
  const size = perMessage ?? Math.max(1, declarations.length);
  for (let i = 0; i < declarations.length; i += size) {
    messages.push({ recoveries: declarations.slice(i, i + size) });
  }
  return { messages, declared, stillFaulty, limited };
}

/**
 * The deadline that recoveries are declared for while `current` is being proven: index + 2 (mod the
 * period's deadline count), two challenge windows after `current` (in the next proving period when
 * the index wraps). Mirrors go-state-types dline.NewInfo for the shifted index.
 */
export function recoveryTargetDeadline(current: DeadlineInfo): DeadlineInfo {
  const n = current.wPoStPeriodDeadlines;
  const raw = current.index + 2;
  const wraps = raw >= n;
  const index = raw % n;
  const periodStart = current.periodStart + (wraps ? current.wPoStProvingPeriod : 0);
  const open = periodStart + index * current.wPoStChallengeWindow;
  return {
    ...current,
    periodStart,
    index,
    open,
    close: open + current.wPoStChallengeWindow,
    challenge: open - current.wPoStChallengeLookback,
    faultCutoff: open - current.faultDeclarationCutoff,
  };
}

/**
 * Whether a recovery declaration for the deadline described by `target` may still be sent at `head`:
 * only strictly before its FaultCutoff (builtin-actors rejects at current_epoch >= fault_cutoff).
 * `marginEpochs` asks for room for the message to be included before the cutoff.
 */
export function shouldDeclareNow(target: DeadlineInfo, head: number, marginEpochs = 0): boolean {
  return head + marginEpochs < target.faultCutoff;
}
