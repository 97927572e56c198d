/**
 * WindowPoSt deadline timing: when to start proving a deadline, when a proof may be submitted, and
 * when the work must be thrown away. Pure logic (no I/O, no timers) so the scheduler around it can be
 * tested epoch by epoch.
 *
 * Behaviour follows damocles' poster (`damocles-manager/modules/poster/{poster,scheduler,deadline}.go`,
 * summarised in the team's reference notes damocles-poster.md §4.1–§4.2):
 * - start once `head ≥ Challenge + ChallengeConfidence` (default 10), submit while
 *   `head ≥ Open + SubmitConfidence` (default 4), abort at `head ≥ Close` or when a revert goes below
 *   `Challenge`;
 * - per miner only the current deadline and, when the head is already inside its active range
 *   `[Challenge, Close)`, the next one are tracked (`fetchMinerProvingDeadlineInfos`).
 *
 * Deliberate differences from damocles (each one closes a gap noted in review of its code):
 * - a deadline aborted by a reorg that is still active is started again on the same head change
 *   (damocles recreates it only on the following head change);
 * - submit is also emitted on the head that creates/starts a deadline (damocles only submits from the
 *   second head it sees), so a node that comes up late in a window submits without waiting a block;
 * - aborts and submits of already tracked deadlines still happen when the proving-deadline lookup
 *   failed (damocles skips the whole head change then, delaying aborts);
 * - a resubscription "current" head that is lower than the last head (or a sibling at the same
 *   height) is treated as a revert to that height, because ChainNotify gives no revert entries then.
 */
import { newDeadlineInfo } from "../chain/dline.js";
import type { DeadlineInfo, HeadChange, TipSet } from "../chain/interface.js";

/**
 * Confidence epochs of `[Miners.PoSt]` (damocles `modules/config.go`, `MinerPoStConfig`); their
 * defaults, and 0 meaning the default as in damocles, are the config schema's.
 */
export interface TimingConfig {
  /** Start proving at `Challenge + challengeConfidence`. */
  challengeConfidence: number;
  /** Submit from `Open + submitConfidence`. */
  submitConfidence: number;
}

/**
 * The deadline after `di` (damocles `deadline.go` nextDeadline, same as lotus' wdpost NextDeadline):
 * index + 1, wrapping to 0 with PeriodStart += ProvingPeriod. CurrentEpoch is carried over, as there.
 */
export function nextDeadline(di: DeadlineInfo): DeadlineInfo {
  let periodStart = di.periodStart;
  let index = di.index + 1;
  if (index === di.wPoStPeriodDeadlines) {
    index = 0;
    periodStart += di.wPoStProvingPeriod;
  }
  return newDeadlineInfo(periodStart, index, di.currentEpoch, di);
}

/** `[Challenge, Close)`: randomness exists and the window has not closed (damocles deadlineIsActive). */
export function isActive(di: DeadlineInfo, head: number): boolean {
  return head >= di.challenge && head < di.close;
}

/**
 * Start proving: `head ≥ Challenge + challengeConfidence` and still before Close (damocles checks the
 * upper bound through isActive before shouldStart; it is folded in here).
 */
export function shouldStart(di: DeadlineInfo, head: number, cfg: TimingConfig): boolean {
  return head >= di.challenge + cfg.challengeConfidence && head < di.close;
}

/** Submission allowed: `head ≥ Open + submitConfidence` and before Close. */
export function couldSubmit(di: DeadlineInfo, head: number, cfg: TimingConfig): boolean {
  return head >= di.open + cfg.submitConfidence && head < di.close;
}

/** The window is over: a proof landing now would be rejected by the actor. */
export function shouldAbort(di: DeadlineInfo, head: number): boolean {
  return head >= di.close;
}

/**
 * Reduces one ChainNotify batch to the new head and the lowest reverted height, as damocles' Run loop
 * does: a single "current" entry is the head; otherwise the applies' highest tipset is the head and
 * the reverts' lowest tipset is how far the chain went back. (damocles takes the last apply / last
 * revert; Lotus orders applies upward and reverts downward, so max/min is the same and does not
 * depend on that order.)
 */
export function summarizeHeadChanges(changes: readonly HeadChange[]): {
  head: TipSet | null;
  lowestReverted: number | null;
} {
  let head: TipSet | null = null;
  let lowestReverted: number | null = null;
  for (const c of changes) {
    // Nil entries are skipped in damocles (Run: "change with nil Val").
    if (c?.tipset == null) continue;
    if (c.type === "revert") {
      if (lowestReverted === null || c.tipset.height < lowestReverted) lowestReverted = c.tipset.height;
    } else if (head === null || c.tipset.height >= head.height) {
      head = c.tipset;
    }
  }
  return { head, lowestReverted };
}

export type AbortReason = "closed" | "reorg";

export type DeadlineAction =
  /** Begin proving; `tipset` is the head to freeze for partitions, sectors and randomness (§4.2). */
  | { kind: "start"; miner: string; di: DeadlineInfo; tipset: TipSet }
  /** Submission is allowed at `tipset`; the runner submits if its proofs are ready and not yet sent. */
  | { kind: "submit"; miner: string; di: DeadlineInfo; tipset: TipSet }
  /** Cancel the deadline's work and drop it. */
  | { kind: "abort"; miner: string; di: DeadlineInfo; reason: AbortReason };

export interface TrackedDeadline {
  di: DeadlineInfo;
  /** A start was emitted and no abort since. */
  started: boolean;
}

function sameTipSet(a: TipSet, b: TipSet): boolean {
  return a.height === b.height && a.key.length === b.key.length && a.key.every((k, i) => k === b.key[i]);
}

/**
 * Per-miner deadline state machine. Feed it every ChainNotify batch with the miner's proving deadline
 * at the batch's head (or null when that lookup failed); perform the returned actions in order.
 *
 * Guarantees: within one call all aborts come first, then start/submit by ascending Open. A deadline
 * (keyed by miner + Open, as damocles' scheduler map) is started once, and again only after a "reorg"
 * abort. Only started deadlines are aborted; unstarted ones are dropped silently. Submits only follow
 * a start. A batch whose head equals the previous head and has no reverts yields nothing.
 */
export class DeadlineTracker {
  readonly miner: string;
  #config: TimingConfig;
  /** Keyed by Open; at most the current and the next deadline. */
  readonly #deadlines = new Map<number, TrackedDeadline>();
  #lastHead: TipSet | null = null;

  constructor(miner: string, config: TimingConfig) {
    this.miner = miner;
    this.#config = { ...config };
  }

  /** Config is re-read per head change in damocles; a reload takes effect from the next batch. */
  setConfig(config: TimingConfig): void {
    this.#config = { ...config };
  }

  /** Snapshot of the tracked deadlines by ascending Open. */
  tracked(): TrackedDeadline[] {
    return this.#sorted().map((t) => ({ di: t.di, started: t.started }));
  }

  update(changes: readonly HeadChange[], provingDeadline: DeadlineInfo | null): DeadlineAction[] {
    const { head, lowestReverted } = summarizeHeadChanges(changes);
    let revertedTo = lowestReverted;
    const last = this.#lastHead;
    if (head !== null && revertedTo === null && last !== null) {
      if (sameTipSet(head, last)) return [];
      // A resubscription starts with a bare "current": if the chain went back (or sideways), tipsets
      // from this height up may have been replaced without any revert entry telling us.
      if (head.height <= last.height) revertedTo = head.height;
    }
    this.#lastHead = head;

    const aborts: DeadlineAction[] = [];
    for (const t of this.#sorted()) {
      const di = t.di;
      if (head !== null && shouldAbort(di, head.height)) {
        // Closed takes precedence over a simultaneous reorg: the deadline cannot be restarted anyway.
        if (t.started) aborts.push({ kind: "abort", miner: this.miner, di, reason: "closed" });
        this.#deadlines.delete(di.open);
        continue;
      }
      // damocles shouldAbort: revert below Challenge invalidates the frozen start tipset / randomness.
      // Also covered: the new head itself is below Challenge (null rounds can make the lowest
      // reverted tipset sit at or above Challenge while the fork point is below it).
      const reorged =
        (revertedTo !== null && revertedTo < di.challenge) || (head !== null && head.height < di.challenge);
      if (reorged && t.started) {
        aborts.push({ kind: "abort", miner: this.miner, di, reason: "reorg" });
        t.started = false;
      }
      // Keep only deadlines still active at the new head; an inactive one is re-added when it is.
      if (head !== null && !isActive(di, head.height)) this.#deadlines.delete(di.open);
    }
    if (head === null) return aborts;

    if (provingDeadline !== null) {
      // Current deadline plus the next one if the head is already in its active range (damocles
      // fetchMinerProvingDeadlineInfos). Inactive candidates (a stale lookup) are ignored.
      for (const cand of [provingDeadline, nextDeadline(provingDeadline)]) {
        if (isActive(cand, head.height) && !this.#deadlines.has(cand.open)) {
          this.#deadlines.set(cand.open, { di: cand, started: false });
        }
      }
    }

    const actions = aborts;
    for (const t of this.#sorted()) {
      if (!t.started && shouldStart(t.di, head.height, this.#config)) {
        t.started = true;
        actions.push({ kind: "start", miner: this.miner, di: t.di, tipset: head });
      }
      if (t.started && couldSubmit(t.di, head.height, this.#config)) {
        actions.push({ kind: "submit", miner: this.miner, di: t.di, tipset: head });
      }
    }
    return actions;
  }

  #sorted(): TrackedDeadline[] {
    return [...this.#deadlines.values()].sort((a, b) => a.di.open - b.di.open);
  }
}
