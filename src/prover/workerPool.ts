/**
 * A pool of worker threads for hashing-heavy work (tree building, vanilla proofs), so the event
 * loop of the daemon or processor stays responsive.
 *
 * Tasks queue by priority (lower first; equal ones first-in first-out) and go to the least busy
 * worker below its concurrency (2 by default: one task hashing while another waits on the disk). A task whose AbortSignal fires is rejected at
 * once; if it was already running its result is discarded when it arrives (hashing cannot be
 * interrupted, and a single sector proof is short). A worker that dies fails its running tasks with
 * PROVER_WORKER_DIED and is replaced.
 */
import os from "node:os";
import type { Worker } from "node:worker_threads";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/metrics.js";
import { isErrorCode } from "../rpc/errors.js";
import { AbortedError, SmError } from "../util/errors.js";
import { PriorityQueue } from "../util/priorityQueue.js";
import { startModuleWorker } from "../util/worker.js";
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
  /** Worker threads. Chosen by `createWorkerPool`, the one place that decides pool sizes. */
  size: number;
  /** Tasks in flight per worker (default 2). */
  perWorker?: number;
  logger: Logger;
  /** Counts this pool's threads in vsm_worker_threads while it is open. */
  metrics?: Metrics;
}

/** The worker entry next to this file (worker.js built, worker.ts under tsx). */
const newWorker = (): Worker => startModuleWorker(import.meta.url, "worker");

export class WorkerPool {
  readonly size: number;
  private readonly perWorker: number;
  private readonly slots: Slot[] = [];
  /** Waiting tasks, lowest priority value first (a deadline's Close epoch: earliest Close first). */
  private readonly queue = new PriorityQueue<Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: WorkerPoolOptions) {
    this.size = Math.max(1, opts.size);
    this.perWorker = Math.max(1, opts.perWorker ?? 2);
    for (let i = 0; i < this.size; i++) this.slots.push(this.spawn());
    opts.metrics?.workerThreads.inc(this.size);
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
    this.opts.metrics?.workerThreads.dec(this.size);
    for (let p = this.queue.pop(); p; p = this.queue.pop())
      this.settle(p, false, new SmError("PROVER_POOL_CLOSED", "the prover pool is shut down"));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/**
 * What a process uses its one pool for. Each composition root (`daemon run`, `devnet run`, and the
 * commands that do standalone work) builds a single pool through `createWorkerPool`, so that the
 * thread count of a process is decided here and nowhere else.
 */
export type PoolUse =
  /** `daemon run`: strict sector checks, the built-in WindowPoSt prover and the built-in WinningPoSt prover. */
  | "node"
  /** `wdpost` / `winpost`: an ext-prover child proving what its supervisor sends. */
  | "processor"
  /** `devnet run`: verification of the proofs in the chain's messages. */
  | "devnet"
  /** `devnet seal`: synthetic sectors, one whole tree per task. */
  | "seal"
  /** `util storage attach --strict`: one challenge proven per sector found. */
  | "check";

/**
 * Threads and tasks per thread for `use`; `threads` is an operator's explicit choice (a flag or
 * VSM_PROVER_THREADS) and wins over the default.
 *
 * Every use defaults to all cores: the work is Poseidon hashing, bound by the CPU, and each process
 * runs one pool, so one process never asks for more threads than the machine has. That matters for
 * `daemon run --miner --poster`: the strict checks, the WindowPoSt partitions and a WinningPoSt share
 * the node's one pool, and the WinningPoSt keeps its seconds by going first in the queue
 * (miner/index.ts), not by holding idle threads. Processes that run beside each other on one box (a
 * node, its ext-prover children, a devnet) are sized by their operator: VSM_PROVER_THREADS or
 * --threads for the children.
 *
 * Two tasks per thread by default, so one can hash while the other waits on the disk. A seal task
 * reads nothing: it builds a whole tree in memory, and a second one on the same thread would only
 * wait while holding its memory.
 */
export function workerPoolSize(use: PoolUse, threads?: number): { size: number; perWorker: number } {
  const size = Math.max(1, threads ?? os.availableParallelism());
  return { size, perWorker: use === "seal" ? 1 : 2 };
}

/** The pool of a process: sized by `workerPoolSize`, threads started at once. */
export function createWorkerPool(
  use: PoolUse,
  opts: { threads?: number; logger: Logger; metrics?: Metrics },
): WorkerPool {
  return new WorkerPool({ ...workerPoolSize(use, opts.threads), logger: opts.logger, metrics: opts.metrics });
}
