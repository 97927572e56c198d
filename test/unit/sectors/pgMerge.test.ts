/**
 * PgIndexer.merge (the copy step of `util db migrate`) on a real PostgreSQL server, and
 * LocalIndexer.entries (its source) on a real LMDB store: missing records copied, equal ones left,
 * differing ones reported and kept unless forced; two copies racing on the same rows add up to one
 * copy (SERIALIZABLE makes the loser retry and find them there).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import postgres from "postgres";
import { LocalIndexer } from "../../../src/sectors/localIndexer.js";
import { CHUNK, PgIndexer } from "../../../src/sectors/pgIndexer.js";
import { Bucket, u64Key } from "../../../src/store/keys.js";
import { openLmdbStore } from "../../../src/store/lmdb.js";
import type { Pg } from "../../../src/store/pg/db.js";
import { clusterDbFixture } from "../../helpers/clusterDb.js";
import { tempDir } from "../../helpers/tmp.js";

const rec = (number: number, name: string) => ({ miner: 1000, number, sealedFile: name, cacheDir: name });

describe("PgIndexer.merge", { timeout: 60_000 }, () => {
  const db = clusterDbFixture("merge");
  /** A fresh migrated database (one per test). */
  const open = async (): Promise<Pg> => (await db.freshDb()).pg;

  test("copies what is missing, leaves what is equal, reports what differs and overwrites it only with force", async () => {
    const idx = new PgIndexer(await open());
    await idx.update("normal", [rec(2, "a"), rec(3, "other")]);
    const r = await idx.merge("normal", [rec(1, "a"), rec(2, "a"), rec(3, "a")], { force: false });
    assert.equal(r.copied, 1);
    assert.equal(r.same, 1);
    assert.deepEqual(r.differing, [{ ...rec(3, "a"), database: { sealedFile: "other", cacheDir: "other" } }]);
    assert.equal((await idx.find("normal", { miner: 1000, number: 3 })).instance.sealedFile, "other");
    const again = await idx.merge("normal", [rec(1, "a"), rec(2, "a")], { force: false });
    assert.deepEqual(again, { copied: 0, same: 2, differing: [] });
    const forced = await idx.merge("normal", [rec(3, "a")], { force: true });
    assert.equal(forced.differing.length, 1);
    assert.equal((await idx.find("normal", { miner: 1000, number: 3 })).instance.sealedFile, "a");
    // The upgrade index is apart: the same numbers are missing there.
    assert.equal((await idx.merge("upgrade", [rec(1, "a")], { force: false })).copied, 1);
  });

  test("an empty cache name means the sealed one; empty sealed names and oversized batches are refused", async () => {
    const idx = new PgIndexer(await open());
    await idx.merge("normal", [{ miner: 1000, number: 1, sealedFile: "s", cacheDir: "" }], { force: false });
    const same = await idx.merge("normal", [{ miner: 1000, number: 1, sealedFile: "s", cacheDir: "s" }], {
      force: false,
    });
    assert.equal(same.same, 1);
    await assert.rejects(
      idx.merge("normal", [{ miner: 1000, number: 2, sealedFile: "", cacheDir: "" }], { force: false }),
      /empty sealed instance name/,
    );
    const big = Array.from({ length: CHUNK + 1 }, (_, i) => rec(i, "s"));
    await assert.rejects(idx.merge("normal", big, { force: false }), /at most 500 records/);
  });

  test("two copies racing on the same rows: each row copied once, the other sees it there", async () => {
    const { dsn, pg: a } = await db.freshDb();
    const b = db.open(dsn);
    const recs = Array.from({ length: 200 }, (_, i) => rec(i, "s"));
    const [ra, rb] = await Promise.all([
      new PgIndexer(a).merge("normal", recs, { force: false }),
      new PgIndexer(b).merge("normal", recs, { force: false }),
    ]);
    assert.equal(ra.copied + rb.copied, 200, `copied ${ra.copied} + ${rb.copied}`);
    assert.equal(ra.same + rb.same, 200);
  });
});

describe("LocalIndexer.entries", () => {
  test("every record in key order, a damaged one with its error", async () => {
    const { dir, cleanup } = await tempDir("vsm-entries-");
    try {
      const store = await openLmdbStore(dir);
      try {
        const idx = new LocalIndexer(store);
        await idx.update("normal", [rec(10, "a"), rec(2, "b")]);
        await idx.update("upgrade", [rec(5, "c")]);
        await store.put(u64Key(Bucket.SectorIndexNormal, 1000, 7), new TextEncoder().encode("{oops"));
        const normal = [];
        for await (const e of idx.entries("normal")) normal.push(e);
        assert.deepEqual(
          normal.map((e) => [e.number, e.location.found, e.location.instance.sealedFile]),
          [
            [2, true, "b"],
            [7, false, ""],
            [10, true, "a"],
          ],
        );
        assert.match(normal[1]?.location.error ?? "", /sector 1000-7 is damaged/);
        const upgrade = [];
        for await (const e of idx.entries("upgrade")) upgrade.push(e.number);
        assert.deepEqual(upgrade, [5]);
      } finally {
        await store.close();
      }
    } finally {
      await cleanup();
    }
  });
});

describe("PgIndexer lookups", { timeout: 30_000 }, () => {
  const db = clusterDbFixture("lookup");

  test("a lookup the database does not answer stops waiting when its caller gives up", async () => {
    const { dsn, pg } = await db.freshDb();
    const idx = new PgIndexer(pg);
    await idx.update("normal", [rec(1, "s")]);
    // Another client holds the table: every read of it waits.
    const other = postgres(dsn, { max: 1, onnotice: () => {} });
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    let locked: () => void = () => {};
    const isLocked = new Promise<void>((r) => {
      locked = r;
    });
    const holder = other.begin(async (t) => {
      await t`LOCK TABLE sector_index IN ACCESS EXCLUSIVE MODE`;
      locked();
      await held;
    });
    try {
      await isLocked;
      const t0 = Date.now();
      await assert.rejects(
        idx.findMany("normal", [{ miner: 1000, number: 1 }], { signal: AbortSignal.timeout(300) }),
      );
      await assert.rejects(
        idx.find("normal", { miner: 1000, number: 1 }, { signal: AbortSignal.timeout(300) }),
      );
      assert.ok(Date.now() - t0 < 2500, `gave up after ${Date.now() - t0} ms`);
    } finally {
      release();
      await holder;
      await other.end({ timeout: 2 });
    }
    // The reads left waiting finish harmlessly; a new lookup works.
    assert.equal((await idx.find("normal", { miner: 1000, number: 1 })).found, true);
  });
});
