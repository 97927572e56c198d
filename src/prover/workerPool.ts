/**
 * A pool of worker threads for hashing-heavy work (tree building, vanilla proofs), so the event
 * loop of the daemon or processor stays responsive.
 *
 * Tasks queue first-in first-out and go to the least busy worker below its concurrency (2 by default:
 * one task hashing while another waits on the disk). A task whose AbortSignal fires is rejected at
 * once; if it was already running its result is discarded when it arrives (hashing cannot be
 * interrupted, and a single sector proof is short). A worker that dies fails its running tasks with
 * PROVER_WORKER_DIED and is replaced.
 */
import os from "node:os";
import { Worker } from "node:worker_threads";
import type { Logger } from "../log/logger.js";
import { isErrorCode } from "../rpc/errors.js";
import { AbortedError, SmError } from "../util/errors.js";
import { PriorityQueue } from "../util/priorityQueue.js";
import type { TaskName, WorkerTasks } from "./workerTasks.js";

type Args<K extends TaskName> = Parameters<WorkerTasks[K]>;
type Result<K extends TaskName> = Awaited<ReturnType<WorkerTasks[K]>>;

interface Pending {
  id: number;
  name: string;
  args: unknown[];
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  settled: boolean;
}

interface Slot {
  worker: Worker;
  running: Map<number, Pending>;
}

export interface WorkerPoolOptions {
  /** Worker threads (default: the machine's available parallelism). */
  size?: number;
  /** Tasks in flight per worker (default 2). */
  perWorker?: number;
  logger: Logger;
}

/**
 * The worker entry next to this file: worker.js when built. Under tsx (tests, benchmarks) the
 * source is worker.ts and a worker thread does not inherit tsx's loader, so a two-line bootstrap
 * registers it first.
 */
function newWorker(): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./worker.js", import.meta.url));
  const api = import.meta.resolve("tsx/esm/api");
  const entry = new URL("./worker.ts", import.meta.url).href;
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(code, { eval: true });
}

export class WorkerPool {
  readonly size: number;
  private readonly perWorker: number;
  private readonly slots: Slot[] = [];
  /** Waiting tasks, lowest priority value first (a deadline's Close epoch: earliest Close first). */
  private readonly queue = new PriorityQueue<Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: WorkerPoolOptions) {
    this.size = Math.max(1, opts.size ?? os.availableParallelism());
    this.perWorker = Math.max(1, opts.perWorker ?? 2);
    for (let i = 0; i < this.size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const worker = newWorker();
    const slot: Slot = { worker, running: new Map() };
    worker.unref();
    worker.on("message", (m: { id: number; ok: boolean; result?: unknown; error?: unknown }) => {
      const p = slot.running.get(m.id);
      if (!p) return;
      slot.running.delete(m.id);
      this.settle(p, m.ok, m.ok ? m.result : SmError.fromJSON(m.error, isErrorCode));
      this.pump();
    });
    const onDeath = (why: string) => {
      const idx = this.slots.indexOf(slot);
      if (idx < 0) return;
      for (const p of slot.running.values()) {
        this.settle(
          p,
          false,
          new SmError("PROVER_WORKER_DIED", `prover worker thread died (${why}) while running ${p.name}`),
        );
      }
      slot.running.clear();
      if (this.closed) return;
      this.opts.logger.error("prover worker thread died; starting a new one", { why });
      this.slots[idx] = this.spawn();
      this.pump();
    };
    worker.on("error", (e) => onDeath(e.message));
    worker.on("exit", (code) => onDeath(`exit code ${code}`));
    return slot;
  }

  private settle(p: Pending, ok: boolean, value: unknown): void {
    if (p.settled) return;
    p.settled = true;
    if (p.onAbort) p.signal?.removeEventListener("abort", p.onAbort);
    if (ok) p.resolve(value);
    else p.reject(value);
  }

  private pump(): void {
    while (this.queue.size > 0) {
      let best: Slot | undefined;
      for (const s of this.slots)
        if (s.running.size < this.perWorker && (!best || s.running.size < best.running.size)) best = s;
      if (!best) return;
      const p = this.queue.pop();
      if (!p || p.settled) continue;
      best.running.set(p.id, p);
      best.worker.ref();
      best.worker.postMessage({ id: p.id, name: p.name, args: p.args });
    }
    // Idle workers must not keep the process alive.
    for (const s of this.slots) if (s.running.size === 0) s.worker.unref();
  }

  /**
   * Run a task in a worker thread. `priority`: lower runs first (the PoSter passes the deadline's Close
   * epoch, so work for the deadline that closes first is never stuck behind later work); equal
   * priorities, and tasks without one, run in the order they came.
   */
  run<K extends TaskName>(
    name: K,
    args: Args<K>,
    opts: { signal?: AbortSignal; priority?: number } = {},
  ): Promise<Result<K>> {
    if (this.closed) return Promise.reject(new SmError("PROVER_POOL_CLOSED", "the prover pool is shut down"));
    if (opts.signal?.aborted) return Promise.reject(new AbortedError(`${name} aborted before it started`));
    return new Promise<Result<K>>((resolve, reject) => {
      const p: Pending = {
        id: this.nextId++,
        name,
        args,
        resolve: resolve as (v: unknown) => void,
        reject,
        signal: opts.signal,
        onAbort: undefined,
        settled: false,
      };
      if (opts.signal) {
        p.onAbort = () => this.settle(p, false, new AbortedError(`${name} aborted`));
        opts.signal.addEventListener("abort", p.onAbort, { once: true });
      }
      this.queue.push(opts.priority ?? Number.MAX_SAFE_INTEGER, p);
      this.pump();
    });
  }

  /** Tasks queued plus running. */
  get load(): number {
    return this.queue.size + this.slots.reduce((n, s) => n + s.running.size, 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (let p = this.queue.pop(); p; p = this.queue.pop())
      this.settle(p, false, new SmError("PROVER_POOL_CLOSED", "the prover pool is shut down"));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
