/**
 * Proving-period policy of the embedded devnet and the deadline arithmetic of go-state-types `dline`.
 *
 * Mainnet values (field-anchors.md §0, lotus #5560 log): 48 deadlines × 60-epoch challenge windows =
 * 2880-epoch proving period, challenge lookback 20, fault declaration cutoff 70, at most 3 partitions
 * per SubmitWindowedPoSt (PoStedPartitionsMax since nv21). Tests use much smaller values.
 *
 * `deadlineInfo` mirrors go-state-types `dline.NewInfo`; `currentProvingPeriodStart` and
 * `currentDeadlineIndex` mirror builtin-actors `miner/src/policy.rs` / `state.rs`
 * (current_proving_period_start, current_deadline_index); `nextNotElapsed` mirrors `dline.Info.NextNotElapsed`.
 */

import { newDeadlineInfo } from "../chain/dline.js";
import type { DeadlineInfo } from "../chain/interface.js";
import { SmError } from "../util/errors.js";

export interface DevnetPolicy {
  readonly wPoStPeriodDeadlines: number;
  readonly wPoStChallengeWindow: number;
  readonly wPoStChallengeLookback: number;
  readonly faultDeclarationCutoff: number;
  readonly postedPartitionsMax: number;
}

export const MAINNET_POLICY: DevnetPolicy = Object.freeze({
  wPoStPeriodDeadlines: 48,
  wPoStChallengeWindow: 60,
  wPoStChallengeLookback: 20,
  faultDeclarationCutoff: 70,
  postedPartitionsMax: 3,
});

function policyError(message: string): SmError {
  return new SmError("DEVNET_BAD_POLICY", message);
}

/**
 * Rejects a policy the state machine cannot run. Why each rule:
 *  - ≥ 3 deadlines: onboarding never assigns to the current or next deadline, so at least one must remain;
 *  - lookback < window: the challenge epoch of deadline i+1 must lie after deadline i opened, as on mainnet;
 *  - cutoff > lookback: a recovery must be declared before the challenge it is to be proven against is drawn.
 */
export function validatePolicy(p: DevnetPolicy): DevnetPolicy {
  if (typeof p !== "object" || p === null) throw policyError("policy must be an object");
  const names = [
    "wPoStPeriodDeadlines",
    "wPoStChallengeWindow",
    "wPoStChallengeLookback",
    "faultDeclarationCutoff",
    "postedPartitionsMax",
  ] as const;
  for (const n of names) {
    const v = p[n];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw policyError(`policy.${n} must be a non-negative integer, got ${String(v)}`);
    }
  }
  if (p.wPoStPeriodDeadlines < 3) throw policyError("policy.wPoStPeriodDeadlines must be ≥ 3");
  if (p.wPoStChallengeWindow < 2) throw policyError("policy.wPoStChallengeWindow must be ≥ 2");
  if (p.wPoStChallengeLookback < 1 || p.wPoStChallengeLookback >= p.wPoStChallengeWindow) {
    throw policyError(
      `policy.wPoStChallengeLookback (${p.wPoStChallengeLookback}) must be in 1..wPoStChallengeWindow-1 (${p.wPoStChallengeWindow - 1})`,
    );
  }
  if (p.faultDeclarationCutoff <= p.wPoStChallengeLookback) {
    throw policyError(
      `policy.faultDeclarationCutoff (${p.faultDeclarationCutoff}) must be > wPoStChallengeLookback (${p.wPoStChallengeLookback})`,
    );
  }
  if (p.faultDeclarationCutoff >= provingPeriod(p)) {
    throw policyError("policy.faultDeclarationCutoff must be shorter than the proving period");
  }
  if (p.postedPartitionsMax < 1) throw policyError("policy.postedPartitionsMax must be ≥ 1");
  return {
    wPoStPeriodDeadlines: p.wPoStPeriodDeadlines,
    wPoStChallengeWindow: p.wPoStChallengeWindow,
    wPoStChallengeLookback: p.wPoStChallengeLookback,
    faultDeclarationCutoff: p.faultDeclarationCutoff,
    postedPartitionsMax: p.postedPartitionsMax,
  };
}

export function provingPeriod(p: DevnetPolicy): number {
  return p.wPoStPeriodDeadlines * p.wPoStChallengeWindow;
}

/** dline.NewInfo: index ≥ deadlines gives the no-duty "deadline" right after the period. */
export function deadlineInfo(
  periodStart: number,
  index: number,
  currentEpoch: number,
  p: DevnetPolicy,
): DeadlineInfo {
  return newDeadlineInfo(periodStart, index, currentEpoch, { ...p, wPoStProvingPeriod: provingPeriod(p) });
}

/** builtin-actors current_proving_period_start: the last epoch ≤ `epoch` congruent to `offset`. */
export function currentProvingPeriodStart(offset: number, epoch: number, p: DevnetPolicy): number {
  const period = provingPeriod(p);
  // JS % keeps the dividend's sign; normalise so negative epochs (before genesis) work too.
  const modulus = ((epoch % period) + period) % period;
  const progress = modulus >= offset ? modulus - offset : period - (offset - modulus);
  return epoch - progress;
}

export function currentDeadlineIndex(periodStart: number, epoch: number, p: DevnetPolicy): number {
  return Math.floor((epoch - periodStart) / p.wPoStChallengeWindow);
}

/** StateMinerProvingDeadline: the deadline open at `epoch` for a miner with this period offset. */
export function provingDeadlineAt(offset: number, epoch: number, p: DevnetPolicy): DeadlineInfo {
  const start = currentProvingPeriodStart(offset, epoch, p);
  return deadlineInfo(start, currentDeadlineIndex(start, epoch, p), epoch, p);
}

/** dline.Info.NextNotElapsed: this deadline, or its next occurrence whose Close is after the epoch. */
export function nextNotElapsed(d: DeadlineInfo, p: DevnetPolicy): DeadlineInfo {
  if (d.currentEpoch < d.close) return d;
  const period = provingPeriod(p);
  const gap = d.currentEpoch - d.close;
  const delta = (Math.floor(gap / period) + 1) * period;
  return deadlineInfo(d.periodStart + delta, d.index, d.currentEpoch, p);
}

/** True while a deadline is open (`IsOpen`). */
export function isOpen(d: DeadlineInfo): boolean {
  return d.currentEpoch >= d.open && d.currentEpoch < d.close;
}

/**
 * builtin-actors deadline_is_mutable: the current deadline and the next one are frozen (their
 * challenge may already be drawn), so new sectors never go there.
 */
export function deadlineIsMutable(offset: number, index: number, epoch: number, p: DevnetPolicy): boolean {
  const cur = provingDeadlineAt(offset, epoch, p);
  const next = (cur.index + 1) % p.wPoStPeriodDeadlines;
  return index !== cur.index && index !== next;
}
