/**
 * One ext-prover child process: one `[[WdPost]]` / `[[WinPost]]` block of ext-prover.cfg.
 *
 * Spawned with the daemon's environment overridden by the block's `Envs` (each child its own
 * CUDA_VISIBLE_DEVICES and TMPDIR); stdin/stdout piped, stderr read line by line into our log tagged
 * with the child's pid and block. The first stdout line must be `<stage> processor ready` within
 * ReadyTimeoutSecs. Then requests go out as JSON lines with ids from 1, responses are routed by id and
 * may come back in any order.
 *
 * Improvements over damocles (damocles-poster.md §1.7–§1.9): a request whose caller gives up keeps its
 * slot until the child answers (no oversubscription), its entry is removed when the answer comes (no
 * leak); when the child exits, every in-flight request fails at once with a clear error; lines that are
 * not responses are logged and skipped, and an over-long line is skipped without being buffered.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import type { Logger } from "../../log/logger.js";
import { AbortedError, abortError, errorMessage, SmError } from "../../util/errors.js";
import {
  encodeRequest,
  LineSplitter,
  MAX_RESPONSE_LINE_BYTES,
  type PoStOutput,
  type PoStTask,
  parseResponseLine,
  readyLine,
  type Stage,
} from "../protocol.js";

export interface ChildSpec {
  stage: Stage;
  /** Position of the block in ext-prover.cfg (0-based), its identity across reloads. */
  index: number;
  bin: string;
  args: string[];
  /** Only the block's overrides (for display); the child gets process.env plus these. */
  envs: Record<string, string>;
  concurrent: number;
  weight: number;
  readyTimeoutMs: number;
  /** Longest response line accepted (default MAX_RESPONSE_LINE_BYTES). */
  maxLineBytes?: number;
}

export type ChildState = "starting" | "ready" | "draining" | "exited";

interface InFlight {
  resolve: (o: PoStOutput) => void;
  reject: (e: unknown) => void;
  /** The caller gave up; the slot stays taken until the child answers. */
  abandoned: boolean;
  started: number;
}

/**
 * A child's stderr line into our log, tagged with its pid and block. A line in our own console format
 * (timestamp, LEVEL, rest) keeps the child's level and drops its timestamp; anything else (a Rust
 * processor's tracing output) is logged at info as it is.
 */
function relayStderr(log: Logger, raw: string): void {
  const line = raw.length > 4000 ? `${raw.slice(0, 4000)}…` : raw;
  if (line.trim() === "") return;
  const m = /^\S+\t(DEBUG|INFO|WARN|ERROR)\t(.*)$/.exec(line);
  const level = (m?.[1]?.toLowerCase() ?? "info") as "debug" | "info" | "warn" | "error";
  log[level](m?.[2] ?? line);
}

export class ExtChild extends EventEmitter {
  readonly spec: ChildSpec;
  state: ChildState = "starting";
  pid = -1;
  done = 0;
  failed = 0;
  totalMs = 0;
  private proc: ChildProcess | undefined;
  private nextId = 1;
  private readonly inFlight = new Map<number, InFlight>();
  private readonly log: Logger;
  private exitInfo: string | undefined;

  constructor(spec: ChildSpec, logger: Logger) {
    super();
    this.spec = spec;
    this.log = logger;
  }

  get label(): string {
    return `${this.spec.stage === "window_post" ? "WdPost" : "WinPost"}[${this.spec.index}]`;
  }

  /** Requests occupying a slot, including abandoned ones still being computed. */
  get busy(): number {
    return this.inFlight.size;
  }

  hasFreeSlot(): boolean {
    return this.state === "ready" && this.inFlight.size < this.spec.concurrent;
  }

  /** Spawn and wait for the ready line. Rejects (and kills the child) on timeout, exit or a wrong first line. */
  start(): Promise<void> {
    const { spec } = this;
    const proc = spawn(spec.bin, spec.args, {
      env: { ...process.env, ...spec.envs },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.proc = proc;
    this.pid = proc.pid ?? -1;
    const log = this.log.with({ pid: this.pid, block: this.label });
    const expected = readyLine(spec.stage);

    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const fail = (why: string) => {
        if (ready) return;
        ready = true; // settle once
        clearTimeout(timer);
        this.kill();
        reject(
          new SmError("EXT_PROVER_NOT_READY", `${this.label} (${spec.bin}) ${why}`, { block: this.label }),
        );
      };
      const timer = setTimeout(
        () => fail(`did not print "${expected}" within ${spec.readyTimeoutMs / 1000} s (ReadyTimeoutSecs)`),
        spec.readyTimeoutMs,
      );

      const stdout = new LineSplitter(
        (line) => {
          if (!ready) {
            if (line.trim() !== expected) {
              fail(`printed ${JSON.stringify(line.slice(0, 120))} instead of "${expected}"`);
              return;
            }
            ready = true;
            clearTimeout(timer);
            this.state = "ready";
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
          this.onResponseLine(line, log);
        },
        (bytes) =>
          log.warn("child printed a line over the size limit; skipped", {
            bytes,
            limit: spec.maxLineBytes ?? MAX_RESPONSE_LINE_BYTES,
          }),
        spec.maxLineBytes ?? MAX_RESPONSE_LINE_BYTES,
      );
      proc.stdout?.on("data", (c: Buffer) => stdout.push(c));
      const stderr = new LineSplitter(
        (line) => relayStderr(log, line),
        () => {},
        1024 * 1024,
      );
      proc.stderr?.on("data", (c: Buffer) => stderr.push(c));
      proc.stdin?.on("error", (e) => log.debug("child stdin error", { err: e.message }));
      proc.on("error", (e) => {
        this.exitInfo = e.message;
        fail(`could not be started: ${e.message}`);
      });
      proc.on("exit", (code, signal) => {
        stdout.end();
        stderr.end();
        this.exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
        fail(this.exitInfo);
        this.onExit();
      });
    });
  }

  private onResponseLine(line: string, log: Logger): void {
    if (line.trim() === "") return;
    let res: ReturnType<typeof parseResponseLine>;
    try {
      res = parseResponseLine(line);
    } catch (e) {
      log.warn("child printed a line that is not a response; skipped", {
        err: errorMessage(e),
        line: line.slice(0, 200),
      });
      return;
    }
    const f = this.inFlight.get(res.id);
    if (!f) {
      log.warn("response for an unknown request id; skipped", { id: res.id });
      return;
    }
    this.inFlight.delete(res.id);
    const ms = Date.now() - f.started;
    if (res.errMsg !== null) {
      this.failed++;
      if (!f.abandoned)
        f.reject(
          new SmError("EXT_PROVER_TASK_FAILED", `${this.label} (pid ${this.pid}): ${res.errMsg}`, {
            block: this.label,
          }),
        );
    } else {
      this.done++;
      this.totalMs += ms;
      if (!f.abandoned) f.resolve(res.output ?? { proofs: [], faults: [] });
    }
    if (f.abandoned)
      log.info("late response for an abandoned request dropped", { id: res.id, elapsed_ms: ms });
    this.emit("slot");
  }

  private onExit(): void {
    const was = this.state;
    this.state = "exited";
    const why = this.exitInfo ?? "exited";
    for (const [, f] of this.inFlight) {
      this.failed++;
      if (!f.abandoned)
        f.reject(
          new SmError(
            "EXT_PROVER_CHILD_EXITED",
            `${this.label} (pid ${this.pid}) ${why} with the request in flight; retry it on another prover`,
            { block: this.label },
          ),
        );
    }
    this.inFlight.clear();
    if (was !== "starting")
      this.log.warn("ext-prover child exited", { pid: this.pid, block: this.label, why, was });
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
        entry.abandoned = true;
        reject(abortError(signal, `request to ${this.label} abandoned`));
      };
      const entry: InFlight = {
        resolve: (o) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(o);
        },
        reject: (e) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
        abandoned: false,
        started: Date.now(),
      };
      this.inFlight.set(id, entry);
      signal?.addEventListener("abort", onAbort, { once: true });
      stdin.write(`${encodeRequest({ id, task })}\n`);
    });
  }

  /** Stop taking work, wait for in-flight requests (abandoned ones too), then stop the child. */
  async drain(graceMs = 10_000): Promise<void> {
    if (this.state === "ready") this.state = "draining";
    while (this.inFlight.size > 0 && this.state !== "exited") {
      await new Promise<void>((r) => this.once("slot", r).once("exit", r));
    }
    await this.stop(graceMs);
  }

  /** Close stdin (the processor exits on EOF), then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.stdin?.end();
    const t = setTimeout(() => this.kill(), graceMs);
    await exited;
    clearTimeout(t);
  }

  kill(): void {
    const proc = this.proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  }
}
