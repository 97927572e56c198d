/**
 * Sector file checks in bulk, on two worker threads with synchronous stats (fileCheckWorker.ts). A
 * partition of 2,349 32 GiB sectors is ~23,500 stats: as promises they held the event loop ~0.4 ms a
 * sector (~1 s a partition, ~10 s for a full deadline); on the threads they cost the loop nothing:
 * ~4 µs a stat, ~60 ms a partition on two threads (2,349 sparse 32 GiB sectors on one disk).
 *
 * A stat on a hung mount blocks the thread. So each batch has a time limit; a batch that does not
 * come back in time (or any batch of a thread that fails) is answered `undefined`, and its thread is
 * abandoned for a new one: the caller checks those sectors one by one with async stats and their own
 * time limits, as before.
 */
import os from "node:os";
import type { Worker } from "node:worker_threads";
import { type SectorShape, shapeBySize } from "../proofs/sectorShapes.js";
import { startModuleWorker } from "../util/worker.js";
import type { FileCheckOk } from "./fileCheck.js";

export interface FileCheckItem {
  sealedFile: string;
  cacheDir: string;
  expected?: SectorShape | undefined;
}

type Wire = { sectorSize: number; notes: string[] } | string;

/** Sectors per message to the thread: ~3,000 stats, a few ms when the files are cached. */
export const FILE_CHECK_BATCH = 256;

class FileCheckThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, (r: Wire[] | undefined) => void>();
  #next = 0;
  broken = false;

  constructor() {
    this.#worker = startModuleWorker(import.meta.url, "fileCheckWorker");
    this.#worker.on("message", (m: { id: number; results: Wire[] }) => this.#settle(m.id, m.results));
    this.#worker.on("error", () => this.abandon());
    this.#worker.on("exit", () => this.abandon());
    // After the listeners: adding a "message" listener refs the worker again, and an idle thread must
    // not keep the process alive.
    this.#worker.unref();
  }

  request(items: [string, string, number][]): { id: number; answer: Promise<Wire[] | undefined> } {
    const id = this.#next++;
    const answer = new Promise<Wire[] | undefined>((resolve) => this.#pending.set(id, resolve));
    if (this.#pending.size === 1) this.#worker.ref();
    this.#worker.postMessage({ id, items });
    return { id, answer };
  }

  /** Stop waiting for one request (answered undefined). */
  drop(id: number): void {
    this.#settle(id, undefined);
  }

  /** Every pending request is answered undefined; the thread is stopped and not used again. */
  abandon(): void {
    if (this.broken) return;
    this.broken = true;
    for (const id of [...this.#pending.keys()]) this.#settle(id, undefined);
    void this.#worker.terminate().catch(() => {});
  }

  #settle(id: number, results: Wire[] | undefined): void {
    const resolve = this.#pending.get(id);
    if (!resolve) return;
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker.unref();
    resolve(results);
  }
}

/** Threads the batches go round: stats wait on the kernel, so two keep a partition's ~23,500 short. */
const THREADS = Math.max(1, Math.min(2, os.availableParallelism()));
const threads: (FileCheckThread | undefined)[] = new Array(THREADS).fill(undefined);
let turn = 0;

/** The next thread in turn (a new one in place of one abandoned). */
function nextThread(): FileCheckThread {
  const i = turn++ % THREADS;
  let t = threads[i];
  if (!t || t.broken) {
    t = new FileCheckThread();
    threads[i] = t;
  }
  return t;
}

/**
 * Start the threads now (a PoSter at start-up): a thread's first start costs ~0.3 s, which would
 * otherwise fall on the first partition checked, before its proving.
 */
export function startFileCheckThreads(): void {
  for (let i = 0; i < THREADS; i++) nextThread();
}

/**
 * checkSectorFiles for every item, on the file check thread, in batches of FILE_CHECK_BATCH. An item
 * is `undefined` when its batch was not answered within `batchTimeoutMs` or before `signal` aborted.
 */
export async function checkFilesOnThread(
  items: readonly FileCheckItem[],
  opts: { batchTimeoutMs: number; signal?: AbortSignal | undefined },
): Promise<(FileCheckOk | string | undefined)[]> {
  const out: (FileCheckOk | string | undefined)[] = new Array(items.length).fill(undefined);
  if (items.length === 0 || opts.signal?.aborted) return out;
  const batches: Promise<void>[] = [];
  for (let start = 0; start < items.length; start += FILE_CHECK_BATCH) {
    const t = nextThread();
    const slice = items.slice(start, start + FILE_CHECK_BATCH);
    const { id, answer } = t.request(
      slice.map((i) => [i.sealedFile, i.cacheDir, i.expected?.sectorSize ?? 0]),
    );
    const timer = setTimeout(() => t.abandon(), opts.batchTimeoutMs);
    const onAbort = () => t.drop(id);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    batches.push(
      answer.then((results) => {
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
        results?.forEach((r, i) => {
          if (typeof r === "string") out[start + i] = r;
          else {
            const shape = shapeBySize(r.sectorSize);
            if (shape) out[start + i] = { shape, notes: r.notes };
          }
        });
      }),
    );
  }
  await Promise.all(batches);
  return out;
}
