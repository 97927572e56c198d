/**
 * The WindowPoSt PoSter of a node (`daemon run --poster`): follows the chain head, keeps a deadline
 * tracker per miner with `[Miners.PoSt] Enabled` (timing.ts), and runs each deadline (runner.ts) from
 * its start until its messages are sent or the deadline closes / is reorged away.
 *
 * Every deadline ends in one line and one metric judged against what the chain said was due
 * (runner.ts deadlineOutcome): a run that failed, one given up at Close, and a deadline that closed
 * before it could even be started are reported as missed, partial or unknown, never as proven. Heads
 * the node reports inconsistently are logged at once (headGuard.ts).
 */

import type { DeadlineInfo, HeadChange } from "../chain/interface.js";
import { HEAD } from "../chain/interface.js";
import type { MinerConfig } from "../config/types.js";
import { AbortedError, errorMessage } from "../util/errors.js";
import { HeadGuard } from "./headGuard.js";
import { declareRecoveries } from "./recoveries.js";
import {
  type DeadlineOutcome,
  deadlineOutcome,
  emptyRunResult,
  type RunnerDeps,
  type RunResult,
  runDeadline,
} from "./runner.js";
import { type DeadlineAction, DeadlineTracker, nextDeadline } from "./timing.js";

interface Run {
  stop: AbortController;
  /** Every message is out; only the wait for confirmations is left. */
  pushed: boolean;
  allow: () => void;
  done: Promise<RunResult | undefined>;
}

/** Per miner: which deadlines were started, to report one that closed without ever being started. */
interface Coverage {
  /** The earliest deadline not yet accounted for. */
  expect: DeadlineInfo;
  /** Open epochs of deadlines started at or after `expect`. */
  started: Set<number>;
  /** The last proving deadline the node told us, to derive the current one when a lookup fails. */
  known: DeadlineInfo;
}

/** The deadline of `di`'s miner that contains `height` (deadlines follow each other without gaps). */
export function deadlineAt(di: DeadlineInfo, height: number): DeadlineInfo {
  let d = di;
  while (d.close <= height) d = nextDeadline(d);
  return { ...d, currentEpoch: height };
}

export class Poster {
  private readonly trackers = new Map<number, DeadlineTracker>();
  private readonly runs = new Map<string, Run>();
  private readonly coverage = new Map<number, Coverage>();
  private readonly guard = new HeadGuard();

  constructor(
    private readonly deps: RunnerDeps,
    private readonly miners: readonly MinerConfig[],
  ) {}

  /** Follow the head until `signal` aborts (ChainNotify resubscribes by itself after a drop). */
  async run(signal: AbortSignal): Promise<void> {
    const log = this.deps.logger;
    log.info("poster started", { miners: this.miners.map((m) => `f0${m.Actor}`) });
    try {
      for await (const raw of this.deps.chain.chainNotify({ signal })) {
        const { changes, problems } = this.guard.check(raw);
        for (const p of problems)
          (p.kind === "keys-repeated" ? log.error : log.warn).call(log, p.message, p.fields);
        if (changes.length === 0) continue;
        await this.onHeadChange(changes, signal).catch((e) =>
          log.error("head change handling failed", { err: errorMessage(e) }),
        );
      }
    } finally {
      for (const r of this.runs.values()) r.stop.abort(new AbortedError("poster stopped"));
      await Promise.allSettled([...this.runs.values()].map((r) => r.done));
    }
  }

  private async onHeadChange(changes: readonly HeadChange[], signal: AbortSignal): Promise<void> {
    await Promise.all(
      this.miners.map(async (m) => {
        const miner = `f0${m.Actor}`;
        let di: DeadlineInfo | null = null;
        const height = Math.max(...changes.filter((c) => c.type !== "revert").map((c) => c.tipset.height));
        try {
          di = await this.deps.chain.stateMinerProvingDeadline(miner, HEAD, { signal });
        } catch (e) {
          // Deadlines follow each other at fixed epochs: the one at this head follows from the last
          // one the node told us, so a failing lookup delays no start.
          const known = this.coverage.get(m.Actor)?.known;
          if (known && Number.isFinite(height)) di = deadlineAt(known, height);
          this.deps.logger.warn(
            known
              ? "cannot read the proving deadline; derived it from the last one read"
              : "cannot read the proving deadline; the tracker goes on with what it knows",
            { miner, err: errorMessage(e), derived: di?.index },
          );
        }
        let t = this.trackers.get(m.Actor);
        if (!t) {
          t = new DeadlineTracker(miner, {
            challengeConfidence: m.PoSt.ChallengeConfidence,
            submitConfidence: m.PoSt.SubmitConfidence,
          });
          this.trackers.set(m.Actor, t);
        }
        const actions = t.update(changes, di);
        const cov = this.cover(m.Actor, di);
        for (const a of actions) {
          if (a.kind === "start" && cov) cov.started.add(a.di.open);
          this.apply(m, a, signal);
        }
        if (cov && Number.isFinite(height)) this.reportUnstarted(miner, cov, height, signal);
      }),
    );
  }

  private cover(actor: number, di: DeadlineInfo | null): Coverage | undefined {
    let cov = this.coverage.get(actor);
    if (di === null) return cov;
    if (!cov) {
      cov = { expect: di, started: new Set(), known: di };
      this.coverage.set(actor, cov);
    } else cov.known = di;
    return cov;
  }

  /**
   * Deadlines that closed at or before `height` without ever being started (no usable head between
   * their challenge and Close: the chain node hung, its heads were inconsistent, the PoSter was busy):
   * one error line and a `missed` metric each when the chain shows partitions due there.
   */
  private reportUnstarted(miner: string, cov: Coverage, height: number, signal: AbortSignal): void {
    while (cov.expect.close <= height) {
      const di = cov.expect;
      cov.expect = nextDeadline(di);
      if (cov.started.delete(di.open)) continue;
      const log = this.deps.logger.with({ miner, deadline: di.index, open: di.open, close: di.close });
      void this.deps.chain.stateMinerPartitions(miner, di.index, HEAD, { signal }).then(
        (parts) => {
          // After Close the sectors of a missed partition are faulty already: live ones were due.
          const due = parts.filter((p) => !p.liveSectors.isEmpty()).length;
          if (due === 0) return;
          log.error("deadline closed before the PoSter could start it: missed", {
            result: "missed",
            due,
            head: height,
          });
          this.deps.metrics?.wdpostDeadlines.inc({ miner, result: "missed" });
        },
        (e) => {
          if (signal.aborted) return;
          log.error("deadline closed before the PoSter could start it; cannot read what was due", {
            result: "unknown",
            err: errorMessage(e),
          });
          this.deps.metrics?.wdpostDeadlines.inc({ miner, result: "unknown" });
        },
      );
    }
    for (const open of cov.started) if (open < cov.expect.open) cov.started.delete(open);
  }

  /** Prometheus figures of one finished deadline run. */
  private record(miner: string, di: DeadlineInfo, r: RunResult, outcome: DeadlineOutcome): void {
    const m = this.deps.metrics;
    if (!m) return;
    m.wdpostDeadlines.inc({ miner, result: outcome });
    for (const p of r.partitions) {
      m.wdpostPartitions.inc({ miner, source: p.source === "on-chain" ? "on_chain" : p.source });
      if (p.source === "proved") m.wdpostPartitionDuration.observe({ miner }, p.ms / 1000);
    }
    if (r.skipped.length > 0) m.wdpostSkippedSectors.inc({ miner }, r.skipped.length);
    for (const msg of r.messages)
      m.wdpostMessages.inc({ miner, result: msg.exitCode === 0 ? "ok" : "failed" });
    const last = Math.max(...r.messages.filter((x) => x.exitCode === 0).map((x) => x.height));
    if (outcome === "proven" && Number.isFinite(last)) m.wdpostCloseMargin.set({ miner }, di.close - last);
  }

  private apply(m: MinerConfig, a: DeadlineAction, signal: AbortSignal): void {
    const key = `${a.miner}@${a.di.open}`;
    const log = this.deps.logger.with({ miner: a.miner, deadline: a.di.index, open: a.di.open });
    if (a.kind === "start") {
      this.runs.get(key)?.stop.abort(new AbortedError("restarted"));
      const stop = new AbortController();
      let allow: () => void = () => {};
      const allowed = new Promise<void>((r) => {
        allow = r;
      });
      log.info("proving deadline", { challenge: a.di.challenge, close: a.di.close, at: a.tipset.height });
      // Recoveries for deadline + 2 run beside the proof of this one.
      void declareRecoveries(
        m,
        a.di,
        a.tipset.height,
        this.deps,
        AbortSignal.any([signal, stop.signal]),
      ).catch((e) => {
        if (!stop.signal.aborted && !signal.aborted)
          log.error("recovery declaration failed", { err: errorMessage(e) });
      });
      const run: Run = { stop, pushed: false, allow, done: Promise.resolve(undefined) };
      const result = emptyRunResult();
      /** The run ends: judged against what was due, whether it finished, failed or was stopped at Close. */
      const judge = (err: unknown): RunResult | undefined => {
        // A reorg restarts the deadline and shutdown leaves it to the next start: not an outcome.
        const why = signal.aborted
          ? "shutdown"
          : stop.signal.aborted
            ? errorMessage(stop.signal.reason)
            : null;
        if (why !== null && why !== "deadline closed") {
          log.info("deadline run stopped", { why });
          this.deps.metrics?.wdpostDeadlines.inc({ miner: a.miner, result: "aborted" });
          return undefined;
        }
        const outcome = deadlineOutcome(result);
        const proven = new Set(result.proven);
        const fields: Record<string, unknown> = {
          result: outcome,
          due: result.due,
          proven: result.proven,
          not_proven: result.due?.filter((i) => !proven.has(i)) ?? null,
          partitions: result.partitions.length,
          messages: result.messages.length,
          skipped: result.skipped.length,
        };
        if (why !== null) fields.stopped = why;
        if (err !== undefined) fields.err = errorMessage(err);
        if (outcome === "proven") log.info("deadline done", fields);
        else
          log.error(
            outcome === "unknown"
              ? result.due === null
                ? "deadline done: result unknown, what was due could not be read"
                : "deadline done: result unknown, its messages were not confirmed before Close"
              : `deadline done: ${outcome}`,
            fields,
          );
        this.record(a.miner, a.di, result, outcome);
        return result;
      };
      const done = runDeadline(m, a.di, a.tipset.key, this.deps, {
        signal: AbortSignal.any([signal, stop.signal]),
        submitAllowed: () => allowed,
        onAllPushed: () => {
          run.pushed = true;
        },
        result,
      }).then(
        () => judge(undefined),
        (e) => judge(e),
      );
      run.done = done;
      this.runs.set(key, run);
      void done.finally(() => {
        if (this.runs.get(key)?.done === done) this.runs.delete(key);
      });
    } else if (a.kind === "submit") {
      this.runs.get(key)?.allow();
    } else {
      const r = this.runs.get(key);
      if (r) {
        if (r.pushed && a.reason === "closed")
          log.info("deadline closed; its messages were sent, no longer waiting for confirmations");
        else log.warn("deadline run aborted before all its messages were sent", { reason: a.reason });
        r.stop.abort(new AbortedError(`deadline ${a.reason}`));
      }
    }
  }
}
