/**
 * In-memory implementation of the KV port, for tests and for tools that need a throwaway index.
 * Same semantics as LMDB: sorted keys, atomic synchronous transactions.
 */
import type { KVEntry, KVStore, KVTxn, ScanOptions } from "./interface.js";
import { compareBytes, startsWith } from "./keys.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

export class MemoryStore implements KVStore {
  private readonly data = new Map<string, Uint8Array>();
  private closed = false;

  private check(): void {
    if (this.closed) throw new Error("memory store is closed");
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.check();
    return this.data.get(hex(key));
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    this.check();
    return keys.map((k) => this.data.get(hex(k)));
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    this.check();
    this.data.set(hex(key), Uint8Array.from(value));
  }

  async delete(key: Uint8Array): Promise<void> {
    this.check();
    this.data.delete(hex(key));
  }

  async *scan(prefix: Uint8Array, opts: ScanOptions = {}): AsyncIterable<KVEntry> {
    this.check();
    const start = opts.start ?? prefix;
    const keys = [...this.data.keys()]
      .map((h) => Uint8Array.from(Buffer.from(h, "hex")))
      .filter((k) => startsWith(k, prefix) && compareBytes(k, start) >= 0)
      .sort(compareBytes);
    let n = 0;
    for (const k of keys) {
      if (opts.limit !== undefined && n >= opts.limit) return;
      const v = this.data.get(hex(k));
      if (v === undefined) continue;
      n++;
      yield { key: k, value: v };
    }
  }

  async transaction<T>(fn: (tx: KVTxn) => T): Promise<T> {
    this.check();
    // Stage writes and apply them only if fn returns: a throw leaves the store untouched.
    const staged = new Map<string, Uint8Array | null>();
    const tx: KVTxn = {
      get: (k) => {
        const h = hex(k);
        if (staged.has(h)) return staged.get(h) ?? undefined;
        return this.data.get(h);
      },
      put: (k, v) => {
        staged.set(hex(k), Uint8Array.from(v));
      },
      delete: (k) => {
        staged.set(hex(k), null);
      },
    };
    const result = fn(tx);
    for (const [h, v] of staged) {
      if (v === null) this.data.delete(h);
      else this.data.set(h, v);
    }
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
