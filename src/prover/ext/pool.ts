/**
 * The ext-prover pool of one stage (WindowPoSt or WinningPoSt): the children of its ext-prover.cfg
 * blocks, and the requests waiting for them.
 *
 * - Dispatch: a request goes to a ready child with a free slot (fewer than `Concurrent` requests in
 *   flight), chosen at random in proportion to `Weight` among those (the intended choice; damocles'
 *   off-by-one never picks the last child). When every slot is busy, requests wait in a queue ordered
 *   by `priority` (the close epoch of the deadline they serve: earliest first), not first come first
 *   served, so a deadline about to close is not stuck behind one that has hours left.
 * - Failure: a child that dies (exits, closes its stdout, or leaves a request unanswered for its
 *   block's RequestTimeout and is killed) fails its in-flight requests at once; each is sent again to
 *   the child of another block it has not been tried on, once that one has a free slot (fail-over),
 *   else fails to its caller (the PoSter retries it until its deadline closes). A request is failed
 *   over only while another block is ready or starting, and fails to its caller when the last such
 *   block goes into backoff, so it never waits for a block that may never come back. The block is
 *   respawned with exponential backoff (1 s … 60 s; reset after a minute of good health).
 * - A child that cannot be started (its Bin missing, not executable, being written by an upgrade, its
 *   TMPDIR not creatable) or never becomes ready is retried the same way, shown as `failing` with its
 *   error and the time of the next try, and reported.
 * - Reload: blocks are identified by position; a new block spawns, a removed block drains its
 *   in-flight work and stops, a changed block drains and then restarts with its new settings. The
 *   drain lasts RELOAD_DRAIN_MS at most; requests still in flight then fail over to another block
 *   (the restarted one included), and the stop is bounded by SIGTERM/SIGKILL, so the new child starts
 *   within seconds. An unchanged block waiting for its next try is tried again at once.
 * - Shutdown stops every child ever spawned that has not exited yet, busy and draining ones included,
 *   on the short SHUTDOWN_STOP schedule (SIGKILL at 1.5 s), and returns when they are gone.
 * - Pools are per stage, so WinningPoSt work never waits behind WindowPoSt work.
 */
import type { Logger } from "../../log/logger.js";
import type { Metrics } from "../../metrics/metrics.js";
import { AbortedError, abortError, errorMessage, SmError } from "../../util/errors.js";
import { PriorityQueue } from "../../util/priorityQueue.js";
import { weightedIndex } from "../../util/random.js";
import type { PoStOutput, PoStTask, Stage } from "../protocol.js";
import { type ChildState, ExtChild } from "./child.js";
import { type ChildSpec, defaultRequestTimeoutMs } from "./specs.js";
import { RELOAD_STOP, SHUTDOWN_STOP } from "./stopSchedule.js";

const BACKOFF_INITIAL_MS = 1000;
const BACKOFF_MAX_MS = 60_000;
/** A child that stayed ready this long before exiting is respawned without backoff growth. */
const HEALTHY_MS = 60_000;
/** At reload, how long a removed or changed block's child may finish its in-flight work (then RELOAD_STOP). */
export const RELOAD_DRAIN_MS = 5000;

export interface PoolDeps {
  logger: Logger;
  metrics?: Metrics;
  /** For weighted choice; seeded in tests. */
  random?: () => number;
  backoffInitialMs?: number;
}

export interface SubmitOptions {
  /** Lower runs first: the chain epoch at which the deadline this work serves closes. */
  priority: number;
  signal?: AbortSignal;
  /**
   * Called with the block's label ("WdPost[0]") each time a child takes the request (again after a
   * fail-over), so a caller can show which GPU works on what.
   */
  onStart?: (block: string) => void;
}

export interface ChildStatus {
  stage: Stage;
  block: string;
  index: number;
  pid: number;
  /** `failing`: could not be started or never ready, waiting for the next try; `backoff`: exited after being ready, waiting to be respawned. */
  state: ChildState | "backoff" | "failing" | "retired";
  bin: string;
  args: string[];
  envs: Record<string, string>;
  concurrent: number;
  weight: number;
  inFlight: number;
  done: number;
  failed: number;
  restarts: number;
  avgMs: number | null;
  /** Lines skipped: not a response, an unknown request id, over the size limit. */
  protocolErrors: number;
  requestTimeoutMs: number;
  /** The most recent failure of this block (kept after a successful restart, so the cause stays visible). */
  lastError: string | null;
  /** When the next start is tried (ms since the epoch), while the block waits in backoff. */
  nextRetryAt: number | null;
}

export interface ReloadCounts {
  added: number;
  removed: number;
  changed: number;
  /** Unchanged blocks that were waiting for their next try, started again at once. */
  retried: number;
}

interface Entry {
  spec: ChildSpec;
  child: ExtChild | undefined;
  restarts: number;
  backoffMs: number;
  timer: NodeJS.Timeout | undefined;
  readySince: number;
  lastError: string | null;
  retired: boolean;
  /** When the pending retry fires; its last start failed (true) or its ready child exited (false). */
  retryAt: number | null;
  startFailed: boolean;
  /** A changed block waiting for its old child to stop before it starts (reload). */
  awaiting: boolean;
  /** Resolves when the children of the blocks this one replaced have stopped. */
  predecessors: Promise<void>;
  /** Totals of earlier incarnations, so status survives restarts. */
  done: number;
  failed: number;
  totalMs: number;
  protocolErrors: number;
}

interface Waiter {
  task: PoStTask;
  priority: number;
  resolve: (o: PoStOutput) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onStart: ((block: string) => void) | undefined;
  /** Out of the queue: sent to a child, or settled. */
  settled: boolean;
  /** Blocks whose child died with this request in flight; it is not sent to them again. */
  tried: Set<Entry>;
  /** The last child failure, for the error when nothing else can take the request. */
  failure: string;
}

/** A child that died with the request in flight: worth sending to another child. */
const childDied = (e: unknown) => e instanceof SmError && e.code === "EXT_PROVER_CHILD_EXITED";

function sameSpec(a: ChildSpec, b: ChildSpec): boolean {
  const key = (s: ChildSpec) =>
    JSON.stringify([
      s.bin,
      s.args,
      Object.entries(s.envs).sort(),
      s.concurrent,
      s.weight,
      s.readyTimeoutMs,
      s.requestTimeoutMs,
      s.maxLineBytes,
    ]);
  return key(a) === key(b);
}

export class ExtProverPool {
  private entries: Entry[] = [];
  private readonly draining = new Set<Promise<void>>();
  /** Requests queued again after their child died (fail-over). */
  private readonly failedOver = new Set<Waiter>();
  /** Every child spawned that has not exited yet (close() waits for all of them). */
  private readonly alive = new Set<ExtChild>();
  private readonly queue = new PriorityQueue<Waiter>();
  private readonly random: () => number;
  private readonly log: Logger;
  private closed = false;

  constructor(
    readonly stage: Stage,
    specs: readonly ChildSpec[],
    private readonly deps: PoolDeps,
  ) {
    this.random = deps.random ?? Math.random;
    this.log = deps.logger.named("ext-prover");
    this.entries = specs.map((s) => this.newEntry(s));
  }

  private newEntry(spec: ChildSpec): Entry {
    return {
      spec,
      child: undefined,
      restarts: 0,
      backoffMs: this.deps.backoffInitialMs ?? BACKOFF_INITIAL_MS,
      timer: undefined,
      readySince: 0,
      lastError: null,
      retired: false,
      retryAt: null,
      startFailed: false,
      awaiting: false,
      predecessors: Promise.resolve(),
      done: 0,
      failed: 0,
      totalMs: 0,
      protocolErrors: 0,
    };
  }

  /** Start every child; resolves when at least one is ready, throws when none could be. */
  async start(): Promise<void> {
    const results = await Promise.allSettled(this.entries.map((e) => this.spawn(e)));
    const ready = results.filter((r) => r.status === "fulfilled").length;
    if (ready === 0 && this.entries.length > 0) {
      const reasons = results
        .map((r) => (r.status === "rejected" ? errorMessage(r.reason) : ""))
        .filter(Boolean);
      throw new SmError(
        "EXT_PROVER_NONE_READY",
        `no ${this.stage} ext-prover child became ready: ${reasons.join("; ")}; fix ext-prover.cfg (Bin, Args, ReadyTimeoutSecs)`,
      );
    }
    if (ready < this.entries.length)
      this.log.warn("some ext-prover children are not ready; retrying them in the background", {
        ready,
        total: this.entries.length,
      });
  }

  private async spawn(e: Entry): Promise<void> {
    e.awaiting = false;
    if (this.closed || e.retired) return;
    const child = new ExtChild(e.spec, this.log);
    e.child = child;
    // From 0, so that increase() counts the first exits of a child crashing in a loop.
    this.deps.metrics?.extProverRestarts.inc({ stage: this.stage, block: child.label }, 0);
    this.alive.add(child);
    void child.exited.then(() => this.alive.delete(child));
    child.on("slot", () => {
      this.gauge(child);
      this.dispatch();
    });
    child.on("protocol-error", () =>
      this.deps.metrics?.extProverProtocolErrors.inc({ stage: this.stage, block: child.label }),
    );
    child.on("exit", (why: string, was: ChildState) => this.onChildExit(e, child, why, was));
    try {
      await child.start();
      this.deps.metrics?.extProverChildUp.set({ stage: this.stage, block: child.label }, 1);
      e.readySince = Date.now();
      e.startFailed = false;
      this.dispatch();
    } catch (err) {
      // Every failure to start emits "exit" (child.ts), and onChildExit schedules the retry and
      // reports it with its delay; this is only the fuller message (with the block and Bin).
      e.lastError = errorMessage(err);
      throw err;
    }
  }

  /** The in-flight gauge follows the child's real slots (abandoned requests included). */
  private gauge(child: ExtChild): void {
    this.deps.metrics?.extProverInFlight.set({ stage: this.stage, block: child.label }, child.busy);
  }

  private onChildExit(e: Entry, child: ExtChild, why: string, was: ChildState): void {
    this.gauge(child);
    e.done += child.done;
    e.failed += child.failed;
    e.totalMs += child.totalMs;
    e.protocolErrors += child.protocolErrors;
    this.deps.metrics?.extProverRestarts.inc({ stage: this.stage, block: child.label });
    // A retired block is gone for good: its series goes rather than alerting as a child down.
    const up = { stage: this.stage, block: child.label };
    if (e.retired) this.deps.metrics?.extProverChildUp.remove(up);
    else this.deps.metrics?.extProverChildUp.set(up, 0);
    if (e.child === child) e.child = undefined;
    if (this.closed || e.retired || was === "draining") {
      this.reapStranded();
      this.dispatch();
      return;
    }
    const err = was === "starting" ? (child.startError ?? why) : why;
    e.lastError = err;
    if (was === "ready" && Date.now() - e.readySince > HEALTHY_MS)
      e.backoffMs = this.deps.backoffInitialMs ?? BACKOFF_INITIAL_MS;
    // The delay logged is the delay used: both are read here, before the next one is doubled.
    const delay = e.backoffMs;
    e.backoffMs = Math.min(BACKOFF_MAX_MS, e.backoffMs * 2);
    const fields = { stage: this.stage, block: child.label, pid: child.pid, err, retry_in_ms: delay };
    if (was === "starting") this.log.error("ext-prover child not ready", fields);
    else this.log.warn("ext-prover child exited; respawning", fields);
    e.startFailed = was === "starting";
    this.scheduleRetry(e, delay);
    this.reapStranded();
    this.dispatch();
  }

  private scheduleRetry(e: Entry, delay: number): void {
    if (e.timer) clearTimeout(e.timer);
    e.retryAt = Date.now() + delay;
    e.timer = setTimeout(() => {
      e.timer = undefined;
      e.retryAt = null;
      e.restarts++;
      this.spawn(e).catch(() => {});
    }, delay);
    e.timer.unref();
  }

  /** A block that may take a failed-over request: ready, starting, or about to start after a reload. */
  private mayServe(e: Entry, w: Waiter): boolean {
    if (e.retired || w.tried.has(e)) return false;
    const st = e.child?.state;
    return st === "ready" || st === "starting" || e.awaiting;
  }

  /**
   * Failed-over requests wait only while some block they were not tried on may serve them; when the
   * last one goes into backoff (it may never come back: a Bin removed for good), they fail to their
   * callers, who retry them until their deadline closes.
   */
  private reapStranded(): void {
    for (const w of this.failedOver) {
      if (w.settled) {
        this.failedOver.delete(w);
        continue;
      }
      if (this.entries.some((x) => this.mayServe(x, w))) continue;
      this.failedOver.delete(w);
      w.settled = true;
      w.reject(
        new SmError(
          "EXT_PROVER_CHILD_EXITED",
          `${w.failure}; no other ${this.stage} ext-prover child is ready or starting to take it over`,
        ),
      );
    }
  }

  /** Run one task on a child; waits (earliest priority first) when every slot is busy. */
  submit(task: PoStTask, opts: SubmitOptions): Promise<PoStOutput> {
    if (this.closed)
      return Promise.reject(
        new SmError("EXT_PROVER_CLOSED", `the ${this.stage} ext-prover pool is shut down`),
      );
    if (opts.signal?.aborted) return Promise.reject(new AbortedError("request aborted before it was queued"));
    if (this.entries.length === 0) {
      return Promise.reject(
        new SmError(
          "EXT_PROVER_NO_CHILDREN",
          `ext-prover.cfg has no ${this.stage === "window_post" ? "[[WdPost]]" : "[[WinPost]]"} block`,
        ),
      );
    }
    return new Promise<PoStOutput>((resolve, reject) => {
      const { signal } = opts;
      // While queued (again, after a fail-over) an abort settles the request here; once it is with a
      // child, the child handles it. The listener goes when the request settles.
      const onAbort = () => {
        if (w.settled) return;
        w.settled = true;
        w.reject(abortError(signal, "request aborted while queued"));
      };
      const w: Waiter = {
        task,
        priority: opts.priority,
        resolve: (o) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(o);
        },
        reject: (e) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
        signal,
        onStart: opts.onStart,
        settled: false,
        tried: new Set(),
        failure: "",
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.queue.push(opts.priority, w);
      this.dispatch();
    });
  }

  private dispatch(): void {
    // Requests that failed over may not go to the children they were tried on; they wait for another
    // while the requests behind them take what is free.
    const skipped: Waiter[] = [];
    try {
      for (;;) {
        const free = this.entries.filter((e) => e.child?.hasFreeSlot());
        if (free.length === 0) return;
        const w = this.queue.pop();
        if (!w) return;
        if (w.settled) continue;
        const usable = free.filter((e) => !w.tried.has(e));
        if (usable.length === 0) {
          skipped.push(w);
          continue;
        }
        const e =
          usable[
            weightedIndex(
              usable.map((x) => x.spec.weight),
              this.random,
            )
          ];
        const child = e?.child;
        if (!e || !child) {
          skipped.push(w);
          continue;
        }
        w.settled = true;
        this.send(w, e, child);
      }
    } finally {
      for (const w of skipped) this.queue.push(w.priority, w);
    }
  }

  private send(w: Waiter, e: Entry, child: ExtChild): void {
    const end = this.deps.metrics?.extProverDuration.startTimer({ stage: this.stage, block: child.label });
    const count = (result: string) =>
      this.deps.metrics?.extProverRequests.inc({ stage: this.stage, block: child.label, result });
    try {
      w.onStart?.(child.label);
    } catch (e) {
      this.deps.logger.warn("ext-prover: a request's start listener failed", { err: errorMessage(e) });
    }
    child.call(w.task, w.signal).then(
      (out) => {
        end?.();
        count("ok");
        w.resolve(out);
      },
      (err) => {
        if (childDied(err) && !w.signal?.aborted && !this.closed) {
          w.tried.add(e);
          w.failure = errorMessage(err);
          // Another block that is ready, starting, or being restarted by a reload takes the request
          // once it has a free slot; a block in backoff may never come back and is not waited for.
          const other = this.entries.some((x) => this.mayServe(x, w));
          if (other) {
            count("failed_over");
            // A child stopped by a reload is not a fault.
            this.log[e.retired ? "info" : "warn"]("ext-prover request failed over to another child", {
              stage: this.stage,
              from: child.label,
              err: errorMessage(err),
            });
            w.settled = false;
            this.failedOver.add(w);
            this.queue.push(w.priority, w);
            this.dispatch();
            return;
          }
        }
        count(err instanceof AbortedError ? "abandoned" : "error");
        w.reject(
          this.closed && childDied(err)
            ? new SmError("EXT_PROVER_CLOSED", `the ${this.stage} ext-prover pool is shut down`)
            : err,
        );
      },
    );
    this.gauge(child);
  }

  /** Apply a new block list (ext-prover.cfg edited + SIGHUP). */
  async reload(specs: readonly ChildSpec[]): Promise<ReloadCounts> {
    const counts: ReloadCounts = { added: 0, removed: 0, changed: 0, retried: 0 };
    const next: Entry[] = [];
    const n = Math.max(specs.length, this.entries.length);
    for (let i = 0; i < n; i++) {
      const old = this.entries[i];
      const spec = specs[i];
      if (old && spec && sameSpec(old.spec, spec)) {
        next.push(old);
        // Waiting for its next try (a Bin being upgraded, a child that kept failing): the operator
        // reloading has probably fixed it, so try now, with the backoff from the start.
        if (old.timer && !this.closed) {
          clearTimeout(old.timer);
          old.timer = undefined;
          old.retryAt = null;
          old.backoffMs = this.deps.backoffInitialMs ?? BACKOFF_INITIAL_MS;
          old.restarts++;
          counts.retried++;
          void this.spawn(old).catch(() => {});
        }
        continue;
      }
      const drained = old ? this.retire(old) : Promise.resolve();
      if (spec) {
        const e = this.newEntry(spec);
        next.push(e);
        if (old) {
          counts.changed++;
          // The new settings start once the old child has finished its work or RELOAD_DRAIN_MS has
          // passed, and it has exited (bounded by SIGKILL): two children of one block never share
          // its GPU.
          e.awaiting = true;
          e.predecessors = drained;
          void drained.then(() => this.spawn(e).catch(() => {}));
        } else {
          counts.added++;
          void this.spawn(e).catch(() => {});
        }
      } else counts.removed++;
    }
    this.entries = next;
    this.log.info("ext-prover.cfg reloaded", { stage: this.stage, ...counts });
    this.reapStranded();
    return counts;
  }

  /**
   * Take a block out of service: its child finishes its work (RELOAD_DRAIN_MS at most; what is still
   * in flight then fails over) and stops. Resolves when it has exited.
   */
  private retire(e: Entry): Promise<void> {
    e.retired = true;
    if (e.timer) clearTimeout(e.timer);
    e.timer = undefined;
    e.retryAt = null;
    const c = e.child;
    // Changed twice in a row: the next settings wait for the first child too.
    if (!c) return e.predecessors;
    const p: Promise<void> = c
      .drain(RELOAD_STOP, RELOAD_DRAIN_MS, "was stopped by a reload of ext-prover.cfg")
      .catch((err: unknown) =>
        this.log.warn("ext-prover child did not stop cleanly", { block: c.label, err: errorMessage(err) }),
      )
      .finally(() => this.draining.delete(p));
    this.draining.add(p);
    return Promise.all([p, e.predecessors]).then(() => {});
  }

  status(): ChildStatus[] {
    return this.entries.map((e) => {
      const c = e.child;
      const done = e.done + (c?.done ?? 0);
      const total = e.totalMs + (c?.totalMs ?? 0);
      return {
        stage: this.stage,
        block: `${this.stage === "window_post" ? "WdPost" : "WinPost"}[${e.spec.index}]`,
        index: e.spec.index,
        pid: c?.pid ?? -1,
        state: c
          ? c.state
          : e.timer
            ? e.startFailed
              ? "failing"
              : "backoff"
            : e.retired
              ? "retired"
              : "exited",
        bin: e.spec.bin,
        args: e.spec.args,
        envs: e.spec.envs,
        concurrent: e.spec.concurrent,
        weight: e.spec.weight,
        inFlight: c?.busy ?? 0,
        done,
        failed: e.failed + (c?.failed ?? 0),
        restarts: e.restarts,
        avgMs: done > 0 ? Math.round(total / done) : null,
        protocolErrors: e.protocolErrors + (c?.protocolErrors ?? 0),
        requestTimeoutMs: e.spec.requestTimeoutMs ?? defaultRequestTimeoutMs(this.stage),
        lastError: e.lastError,
        nextRetryAt: e.timer ? e.retryAt : null,
      };
    });
  }

  /** Ready children (for health and the daemon's start check). */
  get readyCount(): number {
    return this.entries.filter((e) => e.child?.state === "ready").length;
  }

  /**
   * Stop every child: running, busy, draining after a reload, or killed and not yet exited. Each gets
   * its stdin closed, SIGTERM 0.5 s later and SIGKILL at 1.5 s (SHUTDOWN_STOP, child.ts), a child
   * being stopped by a reload too, so this returns within 2 s whatever the children do.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (let w = this.queue.pop(); w; w = this.queue.pop()) {
      if (!w.settled) {
        w.settled = true;
        w.reject(new SmError("EXT_PROVER_CLOSED", `the ${this.stage} ext-prover pool is shut down`));
      }
    }
    this.failedOver.clear();
    for (const e of this.entries) if (e.timer) clearTimeout(e.timer);
    await Promise.all([...this.alive].map((c) => c.stop(SHUTDOWN_STOP, "was stopped at shutdown")));
    await Promise.all([...this.draining]);
  }
}
