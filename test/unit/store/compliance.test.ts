/**
 * KV port compliance: one suite, run against every implementation (MemoryStore and the LMDB store), so
 * the in-memory store used by tests cannot drift from the store the daemon runs on. LMDB-only
 * behaviour (persistence, the layout version marker) follows the shared suite.
 */

import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { KVEntry, KVStore, ScanOptions } from "../../../src/store/interface.js";
import { Bucket, bucketPrefix, readU64, stringKey, u64Key } from "../../../src/store/keys.js";
import { openLmdbStore } from "../../../src/store/lmdb.js";
import { MemoryStore } from "../../../src/store/memory.js";
import { STORE_VERSION } from "../../../src/store/version.js";
import { SmError } from "../../../src/util/errors.js";

interface Opened {
  store: KVStore;
  cleanup: () => Promise<void>;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Plain bytes of a value, so a Buffer and a Uint8Array with the same content compare equal. */
function bytesOf(v: Uint8Array | undefined): number[] | undefined {
  return v === undefined ? undefined : [...v];
}

async function collect(store: KVStore, prefix: Uint8Array, opts?: ScanOptions): Promise<KVEntry[]> {
  const out: KVEntry[] = [];
  for await (const e of store.scan(prefix, opts)) out.push(e);
  return out;
}

async function makeTempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), "vsm-store-test-"));
}

function storeSuite(name: string, open: () => Promise<Opened>): void {
  describe(`KVStore compliance: ${name}`, () => {
    let store: KVStore;
    let cleanup: () => Promise<void>;

    before(async () => {
      ({ store, cleanup } = await open());
    });
    after(async () => {
      await cleanup();
    });

    test("get of a missing key is undefined", async () => {
      assert.equal(await store.get(stringKey(Bucket.SectorIndexNormal, "nope")), undefined);
    });

    test("put then get returns the value; put overwrites; delete removes", async () => {
      const k = stringKey(Bucket.SectorIndexNormal, "basic");
      await store.put(k, enc("one"));
      assert.equal(dec(await store.get(k)), "one");
      await store.put(k, enc("two"));
      assert.equal(dec(await store.get(k)), "two");
      await store.delete(k);
      assert.equal(await store.get(k), undefined);
      // Deleting a missing key is not an error.
      await store.delete(k);
      assert.equal(await store.get(k), undefined);
    });

    test("binary values round-trip byte for byte, including an empty value", async () => {
      const k = stringKey(Bucket.SectorIndexNormal, "binary");
      const v = Uint8Array.from({ length: 256 }, (_, i) => i);
      await store.put(k, v);
      assert.deepEqual(bytesOf(await store.get(k)), [...v]);
      const empty = stringKey(Bucket.SectorIndexNormal, "empty");
      await store.put(empty, new Uint8Array(0));
      const got = await store.get(empty);
      assert.ok(got !== undefined, "an empty value is stored, not treated as missing");
      assert.equal(got.length, 0);
      await store.delete(k);
      await store.delete(empty);
    });

    test("the store keeps its own copy of a value (later mutation of the caller's array is not seen)", async () => {
      const k = stringKey(Bucket.SectorIndexNormal, "copy");
      const v = Uint8Array.from([1, 2, 3]);
      await store.put(k, v);
      v[0] = 99;
      assert.deepEqual(bytesOf(await store.get(k)), [1, 2, 3]);
      await store.delete(k);
    });

    test("getMany answers in the order of the keys, undefined for missing ones", async () => {
      const a = stringKey(Bucket.SectorIndexUpgrade, "gm-a");
      const b = stringKey(Bucket.SectorIndexUpgrade, "gm-b");
      const c = stringKey(Bucket.SectorIndexUpgrade, "gm-c");
      const missing = stringKey(Bucket.SectorIndexUpgrade, "gm-missing");
      await store.put(a, enc("A"));
      await store.put(b, enc("B"));
      await store.put(c, enc("C"));
      const got = await store.getMany([c, missing, a, b, missing, a]);
      assert.deepEqual(got.map(dec), ["C", undefined, "A", "B", undefined, "A"]);
      assert.deepEqual(await store.getMany([]), []);
      for (const k of [a, b, c]) await store.delete(k);
    });

    describe("scan", () => {
      const miner = 1000;
      const numbers = [65536, 2, 256, 0, 1, 255, 2 ** 40];
      const sorted = [...numbers].sort((x, y) => x - y);
      const key = (n: number) => u64Key(Bucket.SectorIndexNormal, miner, n);
      const value = (n: number) => enc(`sector-${n}`);

      before(async () => {
        for (const n of numbers) await store.put(key(n), value(n));
        // Neighbours that share a byte prefix with the scanned range but must not be returned.
        await store.put(u64Key(Bucket.SectorIndexNormal, miner - 1, 5), enc("other miner below"));
        await store.put(u64Key(Bucket.SectorIndexNormal, miner + 1, 5), enc("other miner above"));
        await store.put(u64Key(Bucket.SectorIndexUpgrade, miner, 5), enc("other bucket"));
        await store.put(u64Key(Bucket.Meta, 7), enc("meta"));
      });

      test("returns exactly the keys with the prefix, in numeric (bytewise big-endian) order", async () => {
        const got = await collect(store, bucketPrefix(Bucket.SectorIndexNormal, miner));
        assert.deepEqual(
          got.map((e) => readU64(e.key, 1)),
          sorted,
        );
        for (const e of got) {
          const n = readU64(e.key, 1);
          assert.equal(readU64(e.key, 0), miner, `key ${hex(e.key)} belongs to miner ${miner}`);
          assert.equal(dec(e.value), `sector-${n}`, `value of sector ${n}`);
          assert.equal(hex(e.key), hex(key(n)), `key bytes of sector ${n}`);
        }
        // The numeric order is not the decimal-string order: 2 < 256 < 65536.
        const order = got.map((e) => readU64(e.key, 1));
        assert.ok(order.indexOf(2) < order.indexOf(256), "2 before 256");
        assert.ok(order.indexOf(256) < order.indexOf(65536), "256 before 65536");
      });

      test("a shorter prefix spans miners and stops at the bucket's end", async () => {
        const got = await collect(store, bucketPrefix(Bucket.SectorIndexNormal));
        const pairs = got.map((e) => [readU64(e.key, 0), readU64(e.key, 1)]);
        assert.deepEqual(pairs, [[miner - 1, 5], ...sorted.map((n) => [miner, n]), [miner + 1, 5]]);
      });

      test("a prefix with no keys yields nothing", async () => {
        assert.deepEqual(await collect(store, bucketPrefix(Bucket.SectorIndexNormal, 424242)), []);
      });

      test("limit stops after that many entries", async () => {
        const prefix = bucketPrefix(Bucket.SectorIndexNormal, miner);
        for (const limit of [0, 1, 3, sorted.length, sorted.length + 5]) {
          const got = await collect(store, prefix, { limit });
          assert.deepEqual(
            got.map((e) => readU64(e.key, 1)),
            sorted.slice(0, limit),
            `limit ${limit}`,
          );
        }
      });

      test("start begins at that key (inclusive), also between existing keys", async () => {
        const prefix = bucketPrefix(Bucket.SectorIndexNormal, miner);
        const cases: [number, number[]][] = [
          [256, sorted.filter((n) => n >= 256)],
          [3, sorted.filter((n) => n >= 3)],
          [65537, sorted.filter((n) => n >= 65537)],
          [2 ** 41, []],
        ];
        for (const [start, want] of cases) {
          const got = await collect(store, prefix, { start: key(start) });
          assert.deepEqual(
            got.map((e) => readU64(e.key, 1)),
            want,
            `start at ${start}`,
          );
        }
      });

      test("start and limit combine (paging)", async () => {
        const prefix = bucketPrefix(Bucket.SectorIndexNormal, miner);
        const seen: number[] = [];
        let start: Uint8Array | undefined;
        for (let page = 0; page < 10; page++) {
          const opts: ScanOptions = start ? { limit: 3, start } : { limit: 3 };
          const got = await collect(store, prefix, opts);
          assert.ok(got.length <= 3, `page ${page} has at most 3 entries`);
          if (got.length === 0) break;
          for (const e of got) seen.push(readU64(e.key, 1));
          const last = got[got.length - 1]!;
          start = key(readU64(last.key, 1) + 1);
        }
        assert.deepEqual(seen, sorted);
      });

      test("a start key before the prefix still yields the prefix's entries", async () => {
        // The interface promises entries whose key starts with the prefix; a start below the prefix
        // must not hide them (keys of another miner lie between start and the prefix).
        const prefix = bucketPrefix(Bucket.SectorIndexNormal, miner);
        const got = await collect(store, prefix, { start: u64Key(Bucket.SectorIndexNormal, 0) });
        assert.deepEqual(
          got.map((e) => readU64(e.key, 1)),
          sorted,
        );
      });

      test("entries are stable copies (collected keys/values are not overwritten by later ones)", async () => {
        const got = await collect(store, bucketPrefix(Bucket.SectorIndexNormal, miner));
        const again = got.map((e) => [hex(e.key), dec(e.value)]);
        assert.deepEqual(
          again,
          sorted.map((n) => [hex(key(n)), `sector-${n}`]),
        );
      });
    });

    describe("transaction", () => {
      test("all writes are visible after the commit, and the callback's value is returned", async () => {
        const a = stringKey(Bucket.SectorIndexUpgrade, "tx-a");
        const b = stringKey(Bucket.SectorIndexUpgrade, "tx-b");
        const gone = stringKey(Bucket.SectorIndexUpgrade, "tx-gone");
        await store.put(gone, enc("old"));
        const r = await store.transaction((tx) => {
          tx.put(a, enc("A"));
          tx.put(b, enc("B"));
          tx.delete(gone);
          return 42;
        });
        assert.equal(r, 42);
        assert.deepEqual((await store.getMany([a, b, gone])).map(dec), ["A", "B", undefined]);
        await store.delete(a);
        await store.delete(b);
      });

      test("reads inside the transaction see its own writes and deletes", async () => {
        const k = stringKey(Bucket.SectorIndexUpgrade, "tx-own");
        const d = stringKey(Bucket.SectorIndexUpgrade, "tx-own-del");
        await store.put(d, enc("present"));
        const seen = await store.transaction((tx) => {
          const before = dec(tx.get(k));
          tx.put(k, enc("v1"));
          const afterPut = dec(tx.get(k));
          tx.put(k, enc("v2"));
          const afterOverwrite = dec(tx.get(k));
          const beforeDelete = dec(tx.get(d));
          tx.delete(d);
          const afterDelete = tx.get(d);
          return { before, afterPut, afterOverwrite, beforeDelete, afterDelete };
        });
        assert.deepEqual(seen, {
          before: undefined,
          afterPut: "v1",
          afterOverwrite: "v2",
          beforeDelete: "present",
          afterDelete: undefined,
        });
        assert.equal(dec(await store.get(k)), "v2");
        assert.equal(await store.get(d), undefined);
        await store.delete(k);
      });

      test("a read-modify-write counter increments correctly over sequential transactions", async () => {
        const k = stringKey(Bucket.SectorIndexUpgrade, "tx-counter");
        for (let i = 0; i < 5; i++) {
          await store.transaction((tx) => {
            const cur = Number(dec(tx.get(k)) ?? "0");
            tx.put(k, enc(String(cur + 1)));
          });
        }
        assert.equal(dec(await store.get(k)), "5");
        await store.delete(k);
      });

      test("a throw inside the callback rejects with that error and leaves no write behind", async () => {
        const kept = stringKey(Bucket.SectorIndexUpgrade, "tx-kept");
        const added = stringKey(Bucket.SectorIndexUpgrade, "tx-added");
        const changed = stringKey(Bucket.SectorIndexUpgrade, "tx-changed");
        await store.put(kept, enc("kept"));
        await store.put(changed, enc("original"));
        const boom = new Error("boom inside transaction");
        await assert.rejects(
          store.transaction((tx) => {
            tx.put(added, enc("must not persist"));
            tx.put(changed, enc("must not persist"));
            tx.delete(kept);
            throw boom;
          }),
          (e) => e === boom,
        );
        assert.equal(
          dec(await store.get(added)),
          undefined,
          "a put inside the failed transaction is rolled back",
        );
        assert.equal(dec(await store.get(changed)), "original", "an overwrite is rolled back");
        assert.equal(dec(await store.get(kept)), "kept", "a delete is rolled back");
        // The store is still usable afterwards.
        await store.transaction((tx) => tx.put(added, enc("later")));
        assert.equal(dec(await store.get(added)), "later");
        for (const k of [kept, added, changed]) await store.delete(k);
      });
    });

    test("close resolves, and the closed store refuses further use", async () => {
      const extra = await open();
      const k = stringKey(Bucket.SectorIndexNormal, "close");
      await extra.store.put(k, enc("x"));
      await extra.store.close();
      await assert.rejects(extra.store.get(k));
      await extra.cleanup();
    });
  });
}

storeSuite("MemoryStore", async () => {
  const store = new MemoryStore();
  return { store, cleanup: () => store.close() };
});

storeSuite("LMDB", async () => {
  const dir = await makeTempDir();
  const store = await openLmdbStore(dir);
  return {
    store,
    cleanup: async () => {
      await store.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
});

describe("LMDB store: persistence and layout version", () => {
  const dirs: string[] = [];
  const newDir = async () => {
    const d = await makeTempDir();
    dirs.push(d);
    return d;
  };
  after(async () => {
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
  });

  test("data persists across close and reopen of the same directory", async () => {
    const dir = await newDir();
    const k = u64Key(Bucket.SectorIndexNormal, 1000, 7);
    const first = await openLmdbStore(dir);
    await first.put(k, enc("persisted"));
    await first.transaction((tx) => tx.put(u64Key(Bucket.SectorIndexNormal, 1000, 8), enc("tx")));
    await first.close();

    const second = await openLmdbStore(dir);
    try {
      assert.equal(dec(await second.get(k)), "persisted");
      const got = await collect(second, bucketPrefix(Bucket.SectorIndexNormal, 1000));
      assert.deepEqual(
        got.map((e) => [readU64(e.key, 1), dec(e.value)]),
        [
          [7, "persisted"],
          [8, "tx"],
        ],
      );
    } finally {
      await second.close();
    }
  });

  test("a new store records the current layout version", async () => {
    const dir = await newDir();
    const s = await openLmdbStore(dir);
    try {
      assert.equal(dec(await s.get(stringKey(Bucket.Meta, "version"))), String(STORE_VERSION));
    } finally {
      await s.close();
    }
  });

  test("a store with a newer layout version is refused with STORE_VERSION_MISMATCH", async () => {
    const dir = await newDir();
    const s = await openLmdbStore(dir);
    await s.put(stringKey(Bucket.Meta, "version"), enc("999"));
    await s.close();
    for (let attempt = 0; attempt < 2; attempt++) {
      await assert.rejects(openLmdbStore(dir), (e: unknown) => {
        assert.ok(e instanceof SmError, `attempt ${attempt}: an SmError`);
        assert.equal(e.code, "STORE_VERSION_MISMATCH", `attempt ${attempt}: code`);
        assert.match(e.message, /upgrade/, `attempt ${attempt}: message says to upgrade`);
        assert.match(e.message, /999/, `attempt ${attempt}: message names the version found`);
        assert.ok(e.message.includes(dir), `attempt ${attempt}: message names the store`);
        return true;
      });
    }
  });

  test("an unreadable version marker is refused with STORE_VERSION_INVALID", async () => {
    const dir = await newDir();
    const s = await openLmdbStore(dir);
    await s.put(stringKey(Bucket.Meta, "version"), enc("not-a-number"));
    await s.close();
    await assert.rejects(openLmdbStore(dir), (e: unknown) => {
      assert.ok(e instanceof SmError);
      assert.equal(e.code, "STORE_VERSION_INVALID");
      return true;
    });
  });
});
