/**
 * LMDB (lmdb-js) implementation of the KV port: the embedded default store, in `<home>/db`.
 *
 * LMDB is memory-mapped: reads are synchronous and take microseconds, so they run on the event loop;
 * writes are batched by lmdb-js and `await`ed until durable.
 */
import fs from "node:fs";
import path from "node:path";
import { open, type RootDatabase } from "lmdb";
import { errorMessage, SmError, sysCode } from "../util/errors.js";
import { sleep } from "../util/time.js";
import type { KVEntry, KVStore, KVTxn, ScanOptions } from "./interface.js";
import { compareBytes, prefixEnd, startsWith } from "./keys.js";
import { lmdbDataFileProblem } from "./lmdbCheck.js";
import { checkVersion } from "./version.js";

/** After a failed commit lmdb-js never settles its flush promise, so close() waits at most this long. */
const CLOSE_AFTER_FAILURE_MS = 1000;

/** How to rebuild the index: it holds nothing the stores do not (locations of files found there). */
export function repairHint(dir: string): string {
  return `the sector index is rebuilt from the stores: stop every daemon or attach using this home, move ${dir} aside (e.g. mv ${dir} ${dir}.damaged), then re-attach each persist store with \`vsm util storage attach --name <Name> <Path>\``;
}

export interface LmdbStoreOptions {
  /** Told about every failed write (disk full, I/O error) besides the caller, e.g. to log it. */
  onWriteError?: (err: SmError) => void;
}

/**
 * A Buffer over the same memory (no copy: a partition's proofs are tens of MB). The store keeps it
 * until the write is done; callers never change a value they have handed to put.
 */
const view = (v: Uint8Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

function bytes(v: unknown): Uint8Array | undefined {
  if (v === undefined || v === null) return undefined;
  if (v instanceof Uint8Array) return v;
  throw new SmError("STORE_CORRUPT", "store returned a value that is not bytes");
}

function diskFull(dir: string): boolean {
  try {
    return fs.statfsSync(dir).bavail === 0;
  } catch {
    return false;
  }
}

/** A promise lmdb-js returns for a write inside a transaction: its failure is the transaction's. */
function quiet(v: unknown): void {
  if (v instanceof Promise) v.catch(() => {});
}

class LmdbStore implements KVStore {
  private writeFailed = false;

  constructor(
    private readonly db: RootDatabase<Buffer, Buffer>,
    private readonly dir: string,
    private readonly opts: LmdbStoreOptions,
  ) {}

  /**
   * A failed write as an error of the call that made it. lmdb-js rejects with "Commit failed" and
   * keeps the cause in a second promise (`commitError`) that nobody else awaits: read it here, so it
   * names the cause (ENOSPC) and is never an unhandled rejection.
   */
  private async writeError(e: unknown): Promise<SmError> {
    let cause = errorMessage(e);
    const inner = (e as { commitError?: unknown } | undefined)?.commitError;
    if (inner instanceof Promise) {
      const settled = await Promise.race([
        inner.then(
          () => undefined,
          (x: unknown) => errorMessage(x),
        ),
        sleep(100).then(() => undefined),
      ]);
      if (settled) cause = settled;
    }
    this.writeFailed = true;
    // LMDB reports a full disk as ENOSPC or, when a page write half succeeds, as EIO: ask the disk.
    const full = sysCode(e) === "ENOSPC" || /no space left/i.test(cause) || diskFull(this.dir);
    const err = full
      ? new SmError(
          "STORE_DISK_FULL",
          `cannot write the sector index in ${this.dir}: the disk is full (${cause}); nothing of this request was stored; free space on that disk and retry`,
          { dir: this.dir },
        )
      : new SmError(
          "STORE_WRITE_FAILED",
          `cannot write the sector index in ${this.dir}: ${cause}; nothing of this request was stored`,
          { dir: this.dir },
        );
    this.opts.onWriteError?.(err);
    return err;
  }

  private async write<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw await this.writeError(e);
    }
  }

  private read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof SmError) throw e;
      throw new SmError(
        "STORE_READ_FAILED",
        `cannot read the sector index in ${this.dir}: ${errorMessage(e)}; if this repeats, ${repairHint(this.dir)}`,
        { dir: this.dir },
      );
    }
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.read(() => bytes(this.db.get(Buffer.from(key))));
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    // One read transaction for the whole batch, so the answers are a consistent snapshot. A read
    // transaction, not transactionSync: that is a write transaction, which waits for the write lock
    // (held by an attach's commit on lmdb-js's writer thread) on the event loop.
    return this.read(() => {
      const transaction = this.db.useReadTransaction();
      try {
        return keys.map((k) => bytes(this.db.get(Buffer.from(k), { transaction })));
      } finally {
        transaction.done();
      }
    });
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.write(() => this.db.put(Buffer.from(key), view(value)));
  }

  async delete(key: Uint8Array): Promise<void> {
    await this.write(() => this.db.remove(Buffer.from(key)));
  }

  async *scan(prefix: Uint8Array, opts: ScanOptions = {}): AsyncIterable<KVEntry> {
    const end = prefixEnd(prefix);
    // A start key below the prefix would land on other prefixes' keys first; clamp it.
    const start = opts.start && compareBytes(opts.start, prefix) > 0 ? opts.start : prefix;
    const range = this.read(() =>
      this.db.getRange({
        start: Buffer.from(start),
        ...(end ? { end: Buffer.from(end) } : {}),
        ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      }),
    );
    for (const { key, value } of range) {
      const k = key as Uint8Array;
      if (!startsWith(k, prefix)) break;
      // Copies (one memcpy each): lmdb-js may reuse the memory behind what it yields.
      yield { key: new Uint8Array(k), value: new Uint8Array(value as Uint8Array) };
    }
  }

  async transaction<T>(fn: (tx: KVTxn) => T): Promise<T> {
    const db = this.db;
    const tx: KVTxn = {
      get: (k) => bytes(db.get(Buffer.from(k))),
      put: (k, v) => {
        quiet(db.put(Buffer.from(k), view(v)));
      },
      delete: (k) => {
        quiet(db.remove(Buffer.from(k)));
      },
    };
    // childTransaction, not transaction: lmdb-js only rolls back a callback that throws inside a child
    // transaction (it is still committed with the surrounding batch, durably, before this resolves).
    // An error thrown by `fn` is the caller's and passes unchanged; a failed commit is a write error.
    let thrown: { e: unknown } | undefined;
    try {
      return (await db.childTransaction(() => {
        try {
          return fn(tx);
        } catch (e) {
          thrown = { e };
          throw e;
        }
      })) as T;
    } catch (e) {
      if (thrown) throw thrown.e;
      throw await this.writeError(e);
    }
  }

  async close(): Promise<void> {
    const closing = this.db.close();
    if (!this.writeFailed) return closing;
    // lmdb-js waits for a flush that a failed commit never completes; the environment is consistent
    // (the failed transaction was not committed) and the process's exit releases the map.
    const closed = new AbortController();
    await Promise.race([closing, sleep(CLOSE_AFTER_FAILURE_MS, closed.signal)]).finally(() => closed.abort());
  }
}

/**
 * Open (creating when missing) the LMDB store in `dir`. `data.mdb` is checked first (`lmdbCheck.ts`):
 * a damaged file is refused with what to do instead of crashing the process inside LMDB.
 */
export async function openLmdbStore(dir: string, opts: LmdbStoreOptions = {}): Promise<KVStore> {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    const code = sysCode(e);
    throw new SmError(
      "STORE_OPEN_FAILED",
      code === "EEXIST" || code === "ENOTDIR"
        ? `cannot use ${dir} for the sector index: it (or a parent) exists and is not a directory; [Common.DB.LMDB] BaseDir must be a directory (empty = <home>/db)`
        : `cannot create the sector index directory ${dir}: ${errorMessage(e)}`,
      { dir },
    );
  }
  const problem = lmdbDataFileProblem(dir);
  if (problem !== undefined) {
    const file = path.join(dir, "data.mdb");
    throw new SmError("STORE_CORRUPT", `${file} is damaged: ${problem}; ${repairHint(dir)}`, { file });
  }
  let db: RootDatabase<Buffer, Buffer>;
  try {
    db = open<Buffer, Buffer>({
      path: dir,
      encoding: "binary",
      keyEncoding: "binary",
      compression: false,
      // Off: with it, lmdb-js starts each event turn's batch with a promise of its own that nobody awaits,
      // so a failed commit (disk full) surfaced as an unhandled rejection besides the caller's error.
      eventTurnBatching: false,
    });
  } catch (e) {
    throw new SmError(
      "STORE_OPEN_FAILED",
      `cannot open the sector index in ${dir}: ${errorMessage(e)}; if the files are damaged, ${repairHint(dir)}`,
      { dir },
    );
  }
  const store = new LmdbStore(db, dir, opts);
  try {
    await checkVersion(store, dir);
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}
