/**
 * The WindowPoSt PoSter of a node (`daemon run --poster`): follows the chain head, keeps a deadline
 * tracker per miner with `[Miners.PoSt] Enabled` (timing.ts), and runs each deadline (runner.ts) from
 * its start until its messages are sent or the deadline closes / is reorged away.
 */

import type { DeadlineInfo, HeadChange } from "../chain/interface.js";
import { HEAD } from "../chain/interface.js";
import type { MinerConfig } from "../config/types.js";
import { AbortedError, errorMessage } from "../util/errors.js";
import { declareRecoveries } from "./recoveries.js";
import { deadlineOutcome, type RunnerDeps, type RunResult, runDeadline } from "./runner.js";
import { type DeadlineAction, DeadlineTracker } from "./timing.js";

interface Run {
  stop: AbortController;
  /** Every message is out; only the wait for confirmations is left. */
  pushed: boolean;
  allow: () => void;
  done: Promise<RunResult | undefined>;
}

export class Poster {
  private readonly trackers = new Map<number, DeadlineTracker>();
  private readonly runs = new Map<string, Run>();

  constructor(
    private readonly deps: RunnerDeps,
    private readonly miners: readonly MinerConfig[],
  ) {}

  /** Follow the head until `signal` aborts (ChainNotify resubscribes by itself after a drop). */
  async run(signal: AbortSignal): Promise<void> {
    const log = this.deps.logger;
    log.info("poster started", { miners: this.miners.map((m) => `f0${m.Actor}`) });
    try {
      for await (const changes of this.deps.chain.chainNotify({ signal })) {
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
        try {
          di = await this.deps.chain.stateMinerProvingDeadline(miner, HEAD, { signal });
        } catch (e) {
          this.deps.logger.warn("cannot read the proving deadline; the tracker goes on with what it knows", {
            miner,
            err: errorMessage(e),
          });
        }
        let t = this.trackers.get(m.Actor);
        if (!t) {
          t = new DeadlineTracker(miner, {
            challengeConfidence: m.PoSt.ChallengeConfidence,
            submitConfidence: m.PoSt.SubmitConfidence,
          });
          this.trackers.set(m.Actor, t);
        }
        for (const a of t.update(changes, di)) this.apply(m, a, signal);
      }),
    );
  }

  /** Prometheus figures of one finished deadline run. */
  private record(miner: string, di: DeadlineInfo, r: RunResult, outcome: "proven" | "partial"): void {
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
      const done = runDeadline(m, a.di, a.tipset.key, this.deps, {
        signal: AbortSignal.any([signal, stop.signal]),
        submitAllowed: () => allowed,
        onAllPushed: () => {
          run.pushed = true;
        },
      }).then(
        (r) => {
          const outcome = deadlineOutcome(r);
          (outcome === "proven" ? log.info : log.warn).call(log, "deadline done", {
            result: outcome,
            proven: r.proven,
            partitions: r.partitions.length,
            messages: r.messages.length,
            skipped: r.skipped.length,
          });
          this.record(a.miner, a.di, r, outcome);
          return r;
        },
        (e) => {
          const aborted = stop.signal.aborted || signal.aborted;
          if (!aborted) log.error("deadline run failed", { err: errorMessage(e) });
          this.deps.metrics?.wdpostDeadlines.inc({ miner: a.miner, result: aborted ? "aborted" : "failed" });
          return undefined;
        },
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
