/**
 * The key-value port every domain uses for persistent metadata.
 *
 * Keys and values are bytes. Keys sort bytewise, so repositories build keys from a bucket byte and
 * big-endian integers (`keys.ts`) and a prefix scan returns records in numeric order.
 *
 * Transactions are synchronous callbacks: everything inside sees one consistent snapshot and commits
 * atomically (LMDB's model). Do not await inside them; collect what is needed first.
 */

export interface KVEntry {
  key: Uint8Array;
  value: Uint8Array;
}

export interface KVTxn {
  get(key: Uint8Array): Uint8Array | undefined;
  put(key: Uint8Array, value: Uint8Array): void;
  delete(key: Uint8Array): void;
}

export interface ScanOptions {
  /** Stop after this many entries. */
  limit?: number;
  /** Start at this key (inclusive) instead of the prefix's first key. */
  start?: Uint8Array;
}

export interface KVStore {
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /** One snapshot for all keys; results in the order of `keys`. */
  getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]>;
  /** The store may keep `value` itself until the write is done: the caller does not change it. */
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  delete(key: Uint8Array): Promise<void>;
  /** Entries whose key starts with `prefix`, in key order. */
  scan(prefix: Uint8Array, opts?: ScanOptions): AsyncIterable<KVEntry>;
  /** Run `fn` in one atomic read-write transaction; resolves after the commit is durable. */
  transaction<T>(fn: (tx: KVTxn) => T): Promise<T>;
  close(): Promise<void>;
}
