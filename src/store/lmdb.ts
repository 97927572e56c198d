/**
 * LMDB (lmdb-js) implementation of the KV port: the embedded default store, in `<home>/db`.
 *
 * LMDB is memory-mapped: reads are synchronous and take microseconds, so they run on the event loop;
 * writes are batched by lmdb-js and `await`ed until durable.
 */
import fs from "node:fs";
import { open, type RootDatabase } from "lmdb";
import { SmError } from "../util/errors.js";
import type { KVEntry, KVStore, KVTxn, ScanOptions } from "./interface.js";
import { compareBytes, prefixEnd, startsWith } from "./keys.js";
import { checkVersion } from "./version.js";

function bytes(v: unknown): Uint8Array | undefined {
  if (v === undefined || v === null) return undefined;
  if (v instanceof Uint8Array) return v;
  throw new SmError("STORE_CORRUPT", "store returned a value that is not bytes");
}

class LmdbStore implements KVStore {
  constructor(private readonly db: RootDatabase<Buffer, Buffer>) {}

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return bytes(this.db.get(Buffer.from(key)));
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    // One read transaction for the whole batch, so the answers are a consistent snapshot.
    return this.db.transactionSync(() => keys.map((k) => bytes(this.db.get(Buffer.from(k)))));
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.db.put(Buffer.from(key), Buffer.from(value));
  }

  async delete(key: Uint8Array): Promise<void> {
    await this.db.remove(Buffer.from(key));
  }

  async *scan(prefix: Uint8Array, opts: ScanOptions = {}): AsyncIterable<KVEntry> {
    const end = prefixEnd(prefix);
    // A start key below the prefix would land on other prefixes' keys first; clamp it.
    const start = opts.start && compareBytes(opts.start, prefix) > 0 ? opts.start : prefix;
    const range = this.db.getRange({
      start: Buffer.from(start),
      ...(end ? { end: Buffer.from(end) } : {}),
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    });
    for (const { key, value } of range) {
      const k = key as Uint8Array;
      if (!startsWith(k, prefix)) break;
      yield { key: Uint8Array.from(k), value: Uint8Array.from(value as Uint8Array) };
    }
  }

  async transaction<T>(fn: (tx: KVTxn) => T): Promise<T> {
    const db = this.db;
    const tx: KVTxn = {
      get: (k) => bytes(db.get(Buffer.from(k))),
      put: (k, v) => {
        db.put(Buffer.from(k), Buffer.from(v));
      },
      delete: (k) => {
        db.remove(Buffer.from(k));
      },
    };
    // childTransaction, not transaction: lmdb-js only rolls back a callback that throws inside a child
    // transaction (it is still committed with the surrounding batch, durably, before this resolves).
    return db.childTransaction(() => fn(tx)) as Promise<T>;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

export async function openLmdbStore(dir: string): Promise<KVStore> {
  fs.mkdirSync(dir, { recursive: true });
  let db: RootDatabase<Buffer, Buffer>;
  try {
    db = open<Buffer, Buffer>({ path: dir, encoding: "binary", keyEncoding: "binary", compression: false });
  } catch (e) {
    throw new SmError(
      "STORE_OPEN_FAILED",
      `cannot open the metadata store in ${dir}: ${(e as Error).message}`,
    );
  }
  const store = new LmdbStore(db);
  try {
    await checkVersion(store, dir);
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}
