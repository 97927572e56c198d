/**
 * One ext-prover child process: one `[[WdPost]]` / `[[WinPost]]` block of ext-prover.cfg.
 *
 * Spawned with the daemon's environment overridden by the block's `Envs` (each child its own
 * CUDA_VISIBLE_DEVICES and TMPDIR) in a process group of its own; stdin/stdout piped, stderr read line
 * by line into our log tagged with the child's pid and block. The first stdout line must be
 * `<stage> processor ready` within ReadyTimeoutSecs. Then requests go out as JSON lines with ids from
 * 1, responses are routed by id and may come back in any order.
 *
 * A child never holds the node: whatever it prints or fails to print is bounded.
 * - It is dead when it exits, when it closes its stdout (EOF: nothing it computes can reach us any
 *   more; it is killed if it keeps running), or when a request, abandoned ones included, has gone
 *   unanswered for RequestTimeout (it is killed). Every in-flight request then fails at once with
 *   EXT_PROVER_CHILD_EXITED, which the pool fails over to another child.
 * - A request whose caller gives up (abort or timeout) frees its slot at once; the child may still be
 *   computing it, its late answer is dropped, and it still counts against RequestTimeout.
 * - Lines that are not responses, answers to unknown ids and over-long lines (skipped as they stream
 *   in, never buffered) are protocol errors of this child: logged, counted, skipped. An over-long
 *   answer whose id can be read fails that request at once.
 * - Stopping closes stdin (a processor exits on EOF), then SIGTERM, then SIGKILL to its whole process
 *   group, so a wrapper script's children go too: no orphan is left. At shutdown (SHUTDOWN_STOP) SIGKILL
 *   comes 1.5 s after EOF, busy or not, so the daemon is gone within 2 s; a reload (RELOAD_STOP) waits longer.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { formatGoDuration } from "../../config/units.js";
import type { Logger } from "../../log/logger.js";
import { AbortedError, abortError, errorMessage, SmError } from "../../util/errors.js";
import {
  ByteLineSplitter,
  encodeRequest,
  LineSplitter,
  MAX_RESPONSE_LINE_BYTES,
  type PoStOutput,
  type PoStTask,
  parseResponseBytes,
  readyLine,
} from "../protocol.js";
import { leadingId, relayStderr } from "./childOutput.js";
import { makeTmpDir, SUPERVISED_ENV, spawnFailure } from "./childStart.js";
import { type ChildSpec, defaultRequestTimeoutMs } from "./specs.js";
import { type StopPlan, StopSchedule, timerMs } from "./stopSchedule.js";

export { SUPERVISED_ENV } from "./childStart.js";

/** After stdout EOF, how long the child has to exit by itself before it is killed. */
const EOF_GRACE_MS = 1000;

export type ChildState = "starting" | "ready" | "draining" | "exited";

interface InFlight {
  resolve: (o: PoStOutput) => void;
  reject: (e: unknown) => void;
  started: number;
}

export class ExtChild extends EventEmitter {
  readonly spec: ChildSpec;
  readonly requestTimeoutMs: number;
  state: ChildState = "starting";
  pid = -1;
  done = 0;
  failed = 0;
  totalMs = 0;
  /** Lines that were not a response to a request in flight, and over-long lines. */
  protocolErrors = 0;
  /** Why start() failed, when it did (the pool reports it with the retry delay). */
  startError: string | undefined;
  /** Resolves when the process has really exited (or could not be started). */
  readonly exited: Promise<void>;
  private markExited: () => void = () => {};
  private proc: ChildProcess | undefined;
  private nextId = 1;
  /** Requests holding a slot. */
  private readonly inFlight = new Map<number, InFlight>();
  /** Requests whose caller gave up (id → sent at): no slot, but still bound by RequestTimeout. */
  private readonly abandoned = new Map<number, number>();
  private readonly log: Logger;
  private plog: Logger;
  private killReason: string | undefined;
  private failStart: ((why: string) => void) | undefined;
  private watch: NodeJS.Timeout | undefined;
  private eofTimer: NodeJS.Timeout | undefined;
  private procExited = false;
  private stdoutClosed = false;
  /** The stop in progress, once stop() has been called. */
  private stopping: StopSchedule | undefined;

  constructor(spec: ChildSpec, logger: Logger) {
    super();
    this.spec = spec;
    this.requestTimeoutMs = spec.requestTimeoutMs ?? defaultRequestTimeoutMs(spec.stage);
    this.log = logger;
    this.plog = logger;
    this.exited = new Promise<void>((r) => {
      this.markExited = r;
    });
  }

  get label(): string {
    return `${this.spec.stage === "window_post" ? "WdPost" : "WinPost"}[${this.spec.index}]`;
  }

  /** Requests occupying a slot (abandoned ones free theirs at once). */
  get busy(): number {
    return this.inFlight.size;
  }

  hasFreeSlot(): boolean {
    return this.state === "ready" && this.inFlight.size < this.spec.concurrent;
  }

  /**
   * Spawn and wait for the ready line. Rejects (and kills the child) on timeout, exit or a wrong first
   * line. Every way of failing to start (TMPDIR not creatable, spawn refused at once or later, early
   * exit) ends the same way: "exit" is emitted with state "starting", so the pool retries it.
   */
  async start(): Promise<void> {
    const { spec } = this;
    let proc: ChildProcess;
    try {
      await makeTmpDir(spec.envs.TMPDIR);
      if (this.state !== "starting")
        throw new SmError("EXT_PROVER_NOT_READY", "was stopped before it was ready");
      proc = spawn(spec.bin, spec.args, {
        env: { ...process.env, [SUPERVISED_ENV]: "1", ...spec.envs },
        stdio: ["pipe", "pipe", "pipe"],
        // A process group of its own, so stop() reaches a wrapper script's children too.
        detached: true,
      });
    } catch (e) {
      // Node throws at once for some spawn failures (ETXTBSY while an upgrade writes the file,
      // ENOTDIR, arguments it refuses) and reports others later (ENOENT, EACCES: below).
      const why = e instanceof SmError ? e.message : spawnFailure(e, spec.bin);
      this.startError = why;
      this.procExited = true;
      this.markExited();
      this.finish(why);
      throw new SmError("EXT_PROVER_NOT_READY", `${this.label} (${spec.bin}) ${why}`, { block: this.label });
    }
    this.proc = proc;
    this.pid = proc.pid ?? -1;
    const log = this.log.with({ pid: this.pid, block: this.label });
    this.plog = log;
    const expected = readyLine(spec.stage);
    const limit = spec.maxLineBytes ?? MAX_RESPONSE_LINE_BYTES;

    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const fail = (why: string) => {
        if (ready) return;
        ready = true; // settle once
        clearTimeout(timer);
        this.startError = why;
        this.terminate(why);
        reject(
          new SmError("EXT_PROVER_NOT_READY", `${this.label} (${spec.bin}) ${why}`, { block: this.label }),
        );
      };
      this.failStart = fail;
      const timer = setTimeout(
        () => fail(`did not print "${expected}" within ${spec.readyTimeoutMs / 1000} s (ReadyTimeoutSecs)`),
        timerMs(spec.readyTimeoutMs),
      );

      const stdout = new ByteLineSplitter(
        (bytes) => {
          if (!ready) {
            const line = bytes.toString("utf8");
            if (line.trim() !== expected) {
              fail(`printed ${JSON.stringify(line.slice(0, 120))} instead of "${expected}"`);
              return;
            }
            ready = true;
            this.failStart = undefined;
            clearTimeout(timer);
            if (this.state !== "starting") return; // stopped while starting
            this.state = "ready";
            this.startWatch();
            this.log.info("response loop start", { pid: this.pid, ppid: process.pid, loop: "resp" });
            this.log.info("request loop start", { pid: this.pid, ppid: process.pid, loop: "req" });
            this.log.info("ready", {
              pid: this.pid,
              ppid: process.pid,
              proc: spec.stage === "window_post" ? "wdpost" : "winpost",
              block: this.label,
            });
            resolve();
            this.emit("ready");
            return;
          }
          this.onResponseLine(bytes);
        },
        (bytes, head) => this.onOverLongLine(bytes, head, limit),
        limit,
      );
      // Nothing a child prints may throw out of here: that would end the daemon.
      proc.stdout?.on("data", (c: Buffer) => {
        try {
          stdout.push(c);
        } catch (e) {
          this.protocolError("the child's output could not be read; skipped", { err: errorMessage(e) });
        }
      });
      // "close" also comes after a read error, when "end" does not.
      proc.stdout?.on("close", () => {
        this.stdoutClosed = true;
        try {
          stdout.end();
        } catch (e) {
          this.protocolError("the child's output could not be read; skipped", { err: errorMessage(e) });
        }
        if (this.procExited || this.state === "exited") return;
        // EOF on stdout: no answer can reach us any more. Give a child that is exiting a moment to do
        // so (its exit code says more), then kill it.
        this.eofTimer = setTimeout(
          () => this.terminate("closed its stdout (EOF) while still running; killed"),
          EOF_GRACE_MS,
        );
      });
      proc.stdout?.on("error", (e) => log.debug("child stdout error", { err: e.message }));
      const stderr = new LineSplitter(
        (line) => relayStderr(log, line),
        () => {},
        1024 * 1024,
      );
      proc.stderr?.on("data", (c: Buffer) => {
        try {
          stderr.push(c);
        } catch {
          // A stderr line that cannot be relayed is dropped.
        }
      });
      proc.stderr?.on("error", (e) => log.debug("child stderr error", { err: e.message }));
      proc.stdin?.on("error", (e) => log.debug("child stdin error", { err: e.message }));
      proc.on("error", (e) => {
        // Only a spawn failure leaves the process without a pid; other errors are about signals.
        if (proc.pid !== undefined) return;
        this.procExited = true;
        this.markExited();
        this.finish(spawnFailure(e, spec.bin));
      });
      proc.on("exit", (code, signal) => {
        this.procExited = true;
        clearTimeout(this.eofTimer);
        // What the child left behind in its process group (a wrapper's children) goes with it.
        this.signalGroup("SIGKILL");
        this.markExited();
        const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
        const done = () => {
          if (this.state === "exited") log.debug("ext-prover child process ended", { how });
          else this.finish(this.killReason ?? how);
        };
        // Answers it printed just before exiting may still be in the pipe: read them first (bounded).
        if (this.stdoutClosed || !proc.stdout) done();
        else {
          const t = setTimeout(done, EOF_GRACE_MS);
          proc.stdout.once("close", () => {
            clearTimeout(t);
            done();
          });
        }
      });
    });
  }

  /** Checks in-flight and abandoned requests against RequestTimeout. */
  private startWatch(): void {
    const every = Math.max(50, Math.min(1000, Math.floor(this.requestTimeoutMs / 4)));
    this.watch = setInterval(() => {
      const now = Date.now();
      let oldest: [number, number] | undefined;
      for (const [id, f] of this.inFlight) if (!oldest || f.started < oldest[1]) oldest = [id, f.started];
      for (const [id, t] of this.abandoned) if (!oldest || t < oldest[1]) oldest = [id, t];
      if (!oldest || now - oldest[1] < this.requestTimeoutMs) return;
      this.terminate(
        `did not answer request ${oldest[0]} within ${formatGoDuration(this.requestTimeoutMs)} (RequestTimeout); killed`,
      );
    }, every);
    this.watch.unref();
  }

  private protocolError(msg: string, fields: Record<string, unknown>): void {
    this.protocolErrors++;
    this.plog.warn(msg, { ...fields, protocol_errors: this.protocolErrors });
    this.emit("protocol-error");
  }

  private onOverLongLine(bytes: number, head: Buffer, limit: number): void {
    const id = leadingId(head);
    this.protocolError("child printed a line over the size limit; skipped without reading it", {
      bytes,
      limit,
      id: id ?? null,
    });
    if (id === undefined) return;
    const f = this.inFlight.get(id);
    if (f) {
      this.inFlight.delete(id);
      this.failed++;
      f.reject(
        new SmError(
          "EXT_PROVER_BAD_RESPONSE",
          `${this.label} (pid ${this.pid}) answered with a ${bytes}-byte line, over the ${limit}-byte limit for one response; a real proof is far smaller, check the processor`,
          { block: this.label },
        ),
      );
      this.emit("slot");
    } else this.abandoned.delete(id);
  }

  /** One stdout line after the ready line, as bytes: an answer may be ~80 MB (reference: protocol.ts). */
  private onResponseLine(line: Buffer): void {
    if (line[0] !== 0x7b && line.toString("utf8").trim() === "") return;
    let res: ReturnType<typeof parseResponseBytes>;
    try {
      res = parseResponseBytes(line);
    } catch (e) {
      this.protocolError("child printed a line that is not a response; skipped", {
        err: errorMessage(e),
        line: line.toString("utf8", 0, 800).slice(0, 200),
      });
      return;
    }
    const f = this.inFlight.get(res.id);
    if (!f) {
      const sent = this.abandoned.get(res.id);
      if (sent !== undefined) {
        this.abandoned.delete(res.id);
        this.plog.info("late response for an abandoned request dropped", {
          id: res.id,
          elapsed_ms: Date.now() - sent,
        });
      } else this.protocolError("response for an unknown request id; skipped", { id: res.id });
      return;
    }
    this.inFlight.delete(res.id);
    const ms = Date.now() - f.started;
    if (res.errMsg !== null) {
      this.failed++;
      f.reject(
        new SmError("EXT_PROVER_TASK_FAILED", `${this.label} (pid ${this.pid}): ${res.errMsg}`, {
          block: this.label,
        }),
      );
    } else {
      this.done++;
      this.totalMs += ms;
      f.resolve(res.output ?? { proofs: [], faults: [] });
    }
    this.emit("slot");
  }

  /** Kill the child for `reason` and fail its work now, without waiting for the exit to be seen. */
  private terminate(reason: string): void {
    if (this.state === "exited") return;
    this.killReason ??= reason;
    this.signalGroup("SIGKILL");
    this.finish(this.killReason);
  }

  /** The child is gone (or given up on): fail every in-flight request, once. */
  private finish(why: string): void {
    if (this.state === "exited") return;
    const was = this.state;
    this.state = "exited";
    clearInterval(this.watch);
    clearTimeout(this.eofTimer);
    this.failStart?.(why);
    this.failStart = undefined;
    for (const [, f] of this.inFlight) {
      this.failed++;
      f.reject(
        new SmError(
          "EXT_PROVER_CHILD_EXITED",
          `${this.label} (pid ${this.pid}) ${why} with the request in flight; retry it on another prover`,
          { block: this.label },
        ),
      );
    }
    this.inFlight.clear();
    this.abandoned.clear();
    this.emit("exit", why, was);
  }

  /** Send one task; the caller must have checked hasFreeSlot(). */
  call(task: PoStTask, signal?: AbortSignal): Promise<PoStOutput> {
    const stdin = this.proc?.stdin;
    if (this.state !== "ready" || !stdin) {
      return Promise.reject(
        new SmError("EXT_PROVER_UNAVAILABLE", `${this.label} is ${this.state}`, { block: this.label }),
      );
    }
    if (signal?.aborted)
      return Promise.reject(new AbortedError(`request to ${this.label} aborted before it was sent`));
    const id = this.nextId++;
    return new Promise<PoStOutput>((resolve, reject) => {
      const onAbort = () => {
        const f = this.inFlight.get(id);
        if (!f) return;
        // The caller gave up: the slot is free again. The child may still be computing; its answer
        // is dropped when it comes, and it is still bound by RequestTimeout.
        this.inFlight.delete(id);
        this.abandoned.set(id, f.started);
        this.plog.info("request abandoned by its caller; its slot is free again", { id });
        reject(abortError(signal, `request to ${this.label} abandoned`));
        this.emit("slot");
      };
      this.inFlight.set(id, {
        resolve: (o) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(o);
        },
        reject: (e) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
        started: Date.now(),
      });
      signal?.addEventListener("abort", onAbort, { once: true });
      stdin.write(`${encodeRequest({ id, task })}\n`);
    });
  }

  /**
   * Stop taking work, wait for in-flight requests, then stop the child (`plan`). The wait is bounded by
   * `waitMs` (a reload must not wait a 15-min RequestTimeout for a silent child) and by RequestTimeout;
   * requests still in flight then fail (EXT_PROVER_CHILD_EXITED, which the pool fails over) with
   * `reason`. A shutdown that comes meanwhile (stop() with a shorter plan) ends the wait and the stop
   * on its own schedule.
   */
  async drain(plan: StopPlan, waitMs: number, reason: string): Promise<void> {
    if (this.state === "ready") this.state = "draining";
    const until = Date.now() + waitMs;
    while (this.inFlight.size > 0 && this.state !== "exited" && Date.now() < until) {
      await new Promise<void>((r) => {
        const done = () => {
          clearTimeout(t);
          this.off("slot", done);
          this.off("exit", done);
          r();
        };
        const t = setTimeout(done, timerMs(until - Date.now()));
        this.on("slot", done);
        this.on("exit", done);
      });
    }
    if (this.inFlight.size > 0) this.killReason ??= `${reason} after ${waitMs / 1000} s of draining`;
    await this.stop(plan, reason);
  }

  /**
   * Close stdin (the processor exits on EOF), then SIGTERM and SIGKILL to the child's whole process
   * group at the times of `plan`. Returns once it has exited, or at `plan.giveUpMs` at the latest (a
   * process stuck in the kernel cannot be waited for; that is logged). Stopped again while stopping
   * (a shutdown during a reload's stop), each step happens at the earlier of the two times.
   */
  async stop(plan: StopPlan, reason = "was stopped"): Promise<void> {
    const proc = this.proc;
    // Requests still in flight fail with why the child went, not with its exit code.
    this.killReason ??= reason;
    if (!proc || this.procExited) {
      if (!proc) this.markExited(); // never spawned (stopped while its TMPDIR was being made)
      this.finish("stopped");
      return;
    }
    if (this.state === "starting") this.failStart?.("was stopped before it was ready");
    let s = this.stopping;
    if (!s) {
      proc.stdin?.end();
      s = new StopSchedule(plan, reason, {
        term: (why, afterMs) => {
          this.plog.warn("ext-prover child did not exit after its stdin was closed; SIGTERM", {
            reason: why,
            after_ms: afterMs,
          });
          this.signalGroup("SIGTERM");
        },
        kill: (why, afterMs) => {
          this.plog.warn("ext-prover child did not exit after SIGTERM; SIGKILL", {
            reason: why,
            after_ms: afterMs,
          });
          this.signalGroup("SIGKILL");
        },
        giveUp: (why, afterMs) => {
          this.plog.error(
            "ext-prover child did not exit after SIGKILL; it may be stuck in the kernel (GPU driver)",
            { reason: why, after_ms: afterMs },
          );
          this.finish("did not exit after SIGKILL");
          this.release();
        },
      });
      this.stopping = s;
      // The exit ends the stop; the timers that have not fired go with it.
      const stop = s;
      void this.exited.then(() => stop.end());
    } else s.tighten(plan, reason);
    await s.done;
  }

  /**
   * A child given up on no longer holds the daemon: its pipes are closed and its handle unreferenced,
   * so a daemon shutting down exits even while the child is stuck in the kernel.
   */
  private release(): void {
    const proc = this.proc;
    if (!proc) return;
    for (const s of [proc.stdin, proc.stdout, proc.stderr]) s?.destroy();
    proc.unref();
  }

  /** SIGKILL the child and its process group at once (ready timeout, shutdown). */
  kill(): void {
    this.signalGroup("SIGKILL");
  }

  private signalGroup(sig: NodeJS.Signals): void {
    const pid = this.proc?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // ESRCH: the group is gone already.
      if (!this.procExited) this.proc?.kill(sig);
    }
  }
}
