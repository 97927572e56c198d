/**
 * Deadline arithmetic of the miner actor (go-state-types `dline`), shared by the PoSter's timing and
 * the devnet, so that both compute deadlines the same way.
 */
import type { DeadlineInfo } from "./interface.js";

/** The four policy constants dline.Info carries (plus the deadline count). */
export type DeadlinePolicy = Pick<
  DeadlineInfo,
  | "wPoStPeriodDeadlines"
  | "wPoStProvingPeriod"
  | "wPoStChallengeWindow"
  | "wPoStChallengeLookback"
  | "faultDeclarationCutoff"
>;

/** Mainnet/calibnet values (field-anchors.md §0; builtin-actors miner policy). */
export const MAINNET_POLICY: Readonly<DeadlinePolicy> = Object.freeze({
  wPoStPeriodDeadlines: 48,
  wPoStProvingPeriod: 2880,
  wPoStChallengeWindow: 60,
  wPoStChallengeLookback: 20,
  faultDeclarationCutoff: 70,
});

/**
 * go-state-types `dline.NewInfo`. For an index past the last deadline it returns, like Go, the
 * "no-duty" deadline right after the period: Open = Close = Challenge = PeriodStart + ProvingPeriod
 * and FaultCutoff = 0.
 */
export function newDeadlineInfo(
  periodStart: number,
  index: number,
  currentEpoch: number,
  policy: DeadlinePolicy,
): DeadlineInfo {
  const base = {
    currentEpoch,
    periodStart,
    index,
    wPoStPeriodDeadlines: policy.wPoStPeriodDeadlines,
    wPoStProvingPeriod: policy.wPoStProvingPeriod,
    wPoStChallengeWindow: policy.wPoStChallengeWindow,
    wPoStChallengeLookback: policy.wPoStChallengeLookback,
    faultDeclarationCutoff: policy.faultDeclarationCutoff,
  };
  if (index < policy.wPoStPeriodDeadlines) {
    const open = periodStart + index * policy.wPoStChallengeWindow;
    return {
      ...base,
      open,
      close: open + policy.wPoStChallengeWindow,
      challenge: open - policy.wPoStChallengeLookback,
      faultCutoff: open - policy.faultDeclarationCutoff,
    };
  }
  const afterLast = periodStart + policy.wPoStProvingPeriod;
  return { ...base, open: afterLast, close: afterLast, challenge: afterLast, faultCutoff: 0 };
}
