/**
 * The WindowPoSt PoSter of a node (`daemon run --poster`): follows the chain head, keeps a deadline
 * tracker per miner with `[Miners.PoSt] Enabled` (timing.ts), and runs each deadline (runner.ts) from
 * its start until its messages are sent or the deadline closes / is reorged away.
 *
 * Every deadline ends in one line and one metric judged against what the chain said was due
 * (types.ts deadlineOutcome): a run that failed, one given up at Close, and a deadline that closed
 * before it could even be started are reported as missed, partial or unknown, never as proven. Heads
 * the node reports inconsistently are logged at once (headGuard.ts).
 */

import type { DeadlineInfo, HeadChange } from "../chain/interface.js";
import { HEAD } from "../chain/interface.js";
import type { MinerConfig } from "../config/types.js";
import { RepeatedWarnings } from "../log/repeated.js";
import { AbortedError, errorMessage } from "../util/errors.js";
import { HeadGuard } from "./headGuard.js";
import { declareRecoveries } from "./recoveries.js";
import { runDeadline } from "./runner.js";
import { type DeadlineAction, DeadlineTracker, nextDeadline } from "./timing.js";
import {
  type DeadlineOutcome,
  deadlineOutcome,
  emptyRunResult,
  type RunnerDeps,
  type RunResult,
} from "./types.js";

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
  /**
   * What each coming deadline has due (by Open epoch), read once the head is past its fault cutoff:
   * faults and recoveries for it are final then, so this is what it must prove. A deadline that then
   * closes without being started is judged against it.
   */
  due: Map<number, number[] | "reading">;
}

/** How long the check at Close for a late receipt may take (the messages landed, or they did not). */
const LATE_RECEIPT_MS = 10_000;

/** The deadline of `di`'s miner that contains `height` (deadlines follow each other without gaps). */
export function deadlineAt(di: DeadlineInfo, height: number): DeadlineInfo {
  let d = di;
  while (d.close <= height) d = nextDeadline(d);
  return { ...d, currentEpoch: height };
}

/**
 * What a cluster member changes in the Poster (cluster/deadline.ts); a single node uses the defaults.
 * The Poster itself never knows whether it runs alone.
 */
export interface PosterHooks {
  /** Runs one deadline: runDeadline (this node alone) by default. */
  runDeadline?: typeof runDeadline;
  /** Declares the recoveries of deadline + 2: declareRecoveries by default. */
  declareRecoveries?: typeof declareRecoveries;
  /** Each head height as the Poster sees it (a cluster member follows the chain this way). */
  onHead?: (height: number) => void;
  /**
   * A deadline run starts ("start", with the result the stages fill as they go, so an observer such
   * as the dashboard reads each partition's progress from it) or ends ("end": with its outcome when
   * judged, without one when a reorg or shutdown stopped it).
   */
  onRun?: (e: {
    phase: "start" | "end";
    miner: string;
    di: DeadlineInfo;
    result: RunResult;
    outcome?: DeadlineOutcome;
  }) => void;
}

export class Poster {
  private readonly trackers = new Map<number, DeadlineTracker>();
  private readonly runs = new Map<string, Run>();
  private readonly coverage = new Map<number, Coverage>();
  private readonly guard = new HeadGuard();
  /** Failed proving-deadline reads by miner: repeated at every head, logged once a minute. */
  private readonly deadlineWarnings: RepeatedWarnings<number>;

  constructor(
    private readonly deps: RunnerDeps,
    private readonly miners: readonly MinerConfig[],
    private readonly hooks: PosterHooks = {},
  ) {
    this.deadlineWarnings = new RepeatedWarnings(deps.logger, 60_000);
    // Counters start at 0 for every miner, so that Prometheus' increase() sees the first missed
    // deadline or skipped sector (a series born at 1 shows no increase).
    for (const m of miners) {
      const miner = `f0${m.Actor}`;
      for (const result of ["proven", "empty", "partial", "missed", "unknown", "aborted"])
        deps.metrics?.wdpostDeadlines.inc({ miner, result }, 0);
      deps.metrics?.wdpostSkippedSectors.inc({ miner }, 0);
    }
  }

  /** Tells the onRun observer; an observer's failure never touches a run. */
  private observe(e: Parameters<NonNullable<PosterHooks["onRun"]>>[0]): void {
    try {
      this.hooks.onRun?.(e);
    } catch (err) {
      this.deps.logger.warn("run observer failed", { err: errorMessage(err) });
    }
  }

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
        const applied = changes.filter((c) => c.type !== "revert").map((c) => c.tipset);
        const height = Math.max(...applied.map((t) => t.height));
        if (Number.isFinite(height)) this.hooks.onHead?.(height);
        const top = applied.find((t) => t.height === height);
        if (top) this.deps.metrics?.chainHead(top.height, top.timestamp);
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
        let read = false;
        try {
          di = await this.deps.chain.stateMinerProvingDeadline(miner, HEAD, { signal });
          read = true;
        } catch (e) {
          // Deadlines follow each other at fixed epochs: the one at this head follows from the last
          // one the node told us, so a failing lookup delays no start.
          const known = this.coverage.get(m.Actor)?.known;
          if (known && Number.isFinite(height)) di = deadlineAt(known, height);
          // At every head while it lasts (a miner not created yet, a chain node failing): once a minute.
          this.deadlineWarnings.warn(
            m.Actor,
            known
              ? "cannot read the proving deadline; derived it from the last one read"
              : "cannot read the proving deadline; the tracker goes on with what it knows",
            errorMessage(e),
            { miner, derived: di?.index },
          );
        }
        if (read && this.deadlineWarnings.clear(m.Actor))
          this.deps.logger.info("the proving deadline can be read again", { miner });
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
        if (cov && Number.isFinite(height)) {
          this.reportUnstarted(miner, cov, height, signal);
          this.readDue(miner, cov, height, signal);
        }
      }),
    );
  }

  private cover(actor: number, di: DeadlineInfo | null): Coverage | undefined {
    let cov = this.coverage.get(actor);
    if (di === null) return cov;
    if (!cov) {
      cov = { expect: di, started: new Set(), known: di, due: new Map() };
      this.coverage.set(actor, cov);
    } else cov.known = di;
    return cov;
  }

  /**
   * Read what the current and the next deadline have due, once the head is past their fault cutoff
   * (one read per deadline): the ground truth for a deadline that then closes without being started.
   */
  private readDue(miner: string, cov: Coverage, height: number, signal: AbortSignal): void {
    const cur = deadlineAt(cov.known, height);
    for (const di of [cur, nextDeadline(cur)]) {
      if (height < di.faultCutoff || cov.due.has(di.open)) continue;
      cov.due.set(di.open, "reading");
      void this.deps.chain.stateMinerPartitions(miner, di.index, HEAD, { signal }).then(
        (parts) => {
          cov.due.set(
            di.open,
            parts.flatMap((p, i) =>
              p.liveSectors.subtract(p.faultySectors).union(p.recoveringSectors).isEmpty() ? [] : [i],
            ),
          );
        },
        () => {
          // Tried again on the next head while the deadline has not closed.
          if (cov.due.get(di.open) === "reading") cov.due.delete(di.open);
        },
      );
    }
    for (const open of cov.due.keys()) if (open < cov.expect.open) cov.due.delete(open);
  }

  /**
   * Deadlines that closed at or before `height` without ever being started (no usable head between
   * their challenge and Close: the chain node hung, its heads were inconsistent, the PoSter was busy),
   * judged against what was really due, never guessed:
   *  - what was due was read after its fault cutoff (readDue); without that read it cannot be told,
   *    since after Close a missed partition and one whose sectors were all faulty already look alike;
   *  - what was proven is read after Close: a partition proven in the window keeps non-faulty sectors
   *    (another PoSter may have proven it), a missed one has every live sector faulty.
   * Nothing due: nothing said. Every partition due proven: one info line. Else one error line
   * (missed / partial), or a warning when it cannot tell (unknown), and the metric.
   */
  private reportUnstarted(miner: string, cov: Coverage, height: number, signal: AbortSignal): void {
    while (cov.expect.close <= height) {
      const di = cov.expect;
      cov.expect = nextDeadline(di);
      const known = cov.due.get(di.open);
      cov.due.delete(di.open);
      if (cov.started.delete(di.open)) continue;
      const due = Array.isArray(known) ? known : null;
      if (due !== null && due.length === 0) continue;
      const log = this.deps.logger.with({ miner, deadline: di.index, open: di.open, close: di.close });
      void this.notProvenAfterClose(miner, di, due, signal).then(
        (missed) => {
          const fields = { due, not_proven: missed, head: height };
          if (due === null) {
            if (missed.length === 0) return; // no partition with live sectors lost any
            log.warn(
              "deadline closed before the PoSter could start it: result unknown, partitions have every sector faulty now (missed, or faulty before: what was due was never read)",
              { result: "unknown", ...fields },
            );
            this.deps.metrics?.wdpostDeadlines.inc({ miner, result: "unknown" });
          } else if (missed.length === 0) {
            log.info(
              "deadline closed before this PoSter could start it; its partitions were proven on chain",
              {
                result: "proven",
                ...fields,
              },
            );
            this.deps.metrics?.wdpostDeadlines.inc({ miner, result: "proven" });
          } else {
            const result = missed.length === due.length ? "missed" : "partial";
            log.error(`deadline closed before the PoSter could start it: ${result}`, { result, ...fields });
            this.deps.metrics?.wdpostDeadlines.inc({ miner, result });
          }
        },
        (e) => {
          if (signal.aborted) return;
          log.warn("deadline closed before the PoSter could start it; cannot read what became of it", {
            result: "unknown",
            due,
            err: errorMessage(e),
          });
          this.deps.metrics?.wdpostDeadlines.inc({ miner, result: "unknown" });
        },
      );
    }
    for (const open of cov.started) if (open < cov.expect.open) cov.started.delete(open);
  }

  /**
   * Of the partitions `due` (all with live sectors when null), those with every live sector faulty
   * after Close: not proven in the window.
   */
  private async notProvenAfterClose(
    miner: string,
    di: DeadlineInfo,
    due: number[] | null,
    signal: AbortSignal,
  ): Promise<number[]> {
    const now = await this.deps.chain.stateMinerPartitions(miner, di.index, HEAD, { signal });
    const candidates = due ?? now.flatMap((p, i) => (p.liveSectors.isEmpty() ? [] : [i]));
    return candidates.filter((i) => {
      const p = now[i];
      return p === undefined || p.liveSectors.subtract(p.faultySectors).isEmpty();
    });
  }

  /**
   * At Close, the receipts of the messages pushed but not confirmed: a message found executed counts
   * (proven with exit code 0, failed otherwise); one not found within LATE_RECEIPT_MS leaves the
   * deadline unknown.
   */
  private async lateReceipts(
    result: RunResult,
    signal: AbortSignal,
    log: ReturnType<RunnerDeps["logger"]["with"]>,
  ): Promise<void> {
    const known = new Set(result.messages.map((m) => m.cid));
    const open = result.pushed.filter((m) => !known.has(m.cid));
    if (open.length === 0) return;
    const stop = AbortSignal.any([signal, AbortSignal.timeout(LATE_RECEIPT_MS)]);
    await Promise.all(
      open.map(async (m) => {
        try {
          const r = await this.deps.chain.waitMessage(m.cid, 0, { signal: stop });
          result.messages.push({
            partitions: m.partitions,
            cid: m.cid,
            exitCode: r.exitCode,
            gasUsed: r.gasUsed,
            height: r.height,
          });
          if (r.exitCode === 0) result.proven.push(...m.partitions);
          log.info("window post message found executed after Close", {
            partitions: m.partitions,
            cid: m.cid,
            exit_code: r.exitCode,
            height: r.height,
          });
        } catch (e) {
          if (!signal.aborted)
            log.debug("no receipt for the window post message at Close", {
              cid: m.cid,
              err: errorMessage(e),
            });
        }
      }),
    );
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
    const deadline = String(di.index);
    for (const p of r.partitions) {
      if (p.source !== "proved") continue;
      const at = { miner, deadline, partition: String(p.index) };
      m.wdpostPartitionLastProve.set(at, p.ms / 1000);
      m.wdpostPartitionSkipped.set(at, p.skipped);
    }
    if (r.faulty !== undefined) m.wdpostFaultySectors.set({ miner, deadline }, r.faulty);
    if (r.skipped.length > 0) m.wdpostSkippedSectors.inc({ miner }, r.skipped.length);
    for (const msg of r.messages) {
      m.wdpostMessages.inc({ miner, result: msg.exitCode === 0 ? "ok" : "failed" });
      m.wdpostMessageExitCodes.inc({ miner, exit_code: String(msg.exitCode) });
      if (msg.gasUsed !== undefined) m.wdpostMessageGas.observe({ miner }, msg.gasUsed);
      m.wdpostMessageCloseMargin.observe({ miner }, di.close - msg.height);
    }
    const last = Math.max(...r.messages.filter((x) => x.exitCode === 0).map((x) => x.height));
    if (outcome === "proven" && Number.isFinite(last)) {
      m.wdpostCloseMargin.set({ miner }, di.close - last);
      m.wdpostDeadlineCloseMargin.set({ miner, deadline }, di.close - last);
    }
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
      void (this.hooks.declareRecoveries ?? declareRecoveries)(
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
      const cpuAtStart = process.cpuUsage();
      /** The run ends: judged against what was due, whether it finished, failed or was stopped at Close. */
      const judge = async (err: unknown): Promise<RunResult | undefined> => {
        // A reorg restarts the deadline and shutdown leaves it to the next start: not an outcome.
        const why = signal.aborted
          ? "shutdown"
          : stop.signal.aborted
            ? errorMessage(stop.signal.reason)
            : null;
        if (why !== null && why !== "deadline closed") {
          log.info("deadline run stopped", { why });
          this.deps.metrics?.wdpostDeadlines.inc({ miner: a.miner, result: "aborted" });
          this.observe({ phase: "end", miner: a.miner, di: a.di, result });
          return undefined;
        }
        // Messages pushed and not confirmed by Close (one that landed in its last Confidence epochs):
        // their receipts say whether the partitions were proven.
        if (deadlineOutcome(result) === "unknown" && result.due !== null)
          await this.lateReceipts(result, signal, log);
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
        // Where the node's own time went (summed per stage, in ms): the overhead around the proving.
        if (result.stageMs && Object.keys(result.stageMs).length > 0)
          fields.stage_ms = Object.fromEntries(
            Object.entries(result.stageMs).map(([k, v]) => [k, Math.round(v ?? 0)]),
          );
        if (result.proofWaitMs !== undefined) fields.proof_wait_ms = Math.round(result.proofWaitMs);
        // The process's CPU time over the run (all its threads; work of other deadlines that overlapped
        // it included): what the node itself spent, where stage_ms is wall time and includes waits.
        const cpu = process.cpuUsage(cpuAtStart);
        fields.cpu_ms = Math.round((cpu.user + cpu.system) / 1000);
        if (why !== null) fields.stopped = why;
        if (err !== undefined) fields.err = errorMessage(err);
        if (outcome === "proven") log.info("deadline done", fields);
        else if (outcome === "empty") log.info("deadline done: nothing to prove", fields);
        else if (outcome === "unknown" && result.due !== null)
          log.warn("deadline done: result unknown, its messages were not confirmed before Close", fields);
        else
          log.error(
            outcome === "unknown"
              ? "deadline done: result unknown, what was due could not be read"
              : `deadline done: ${outcome}`,
            fields,
          );
        this.record(a.miner, a.di, result, outcome);
        this.observe({ phase: "end", miner: a.miner, di: a.di, result, outcome });
        return result;
      };
      this.observe({ phase: "start", miner: a.miner, di: a.di, result });
      const done = (this.hooks.runDeadline ?? runDeadline)(m, a.di, a.tipset.key, this.deps, {
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
      // The series lives while this run is the deadline's current one (a restart's run replaces it).
      const running = { miner: a.miner, deadline: String(a.di.index) };
      this.deps.metrics?.wdpostRunningClose.set(running, a.di.close);
      void done.finally(() => {
        if (this.runs.get(key)?.done !== done) return;
        this.runs.delete(key);
        this.deps.metrics?.wdpostRunningClose.remove(running);
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
