/**
 * The sector index at scale (issue 15): the things that made it grow badly, each pinned.
 * - PostgreSQL: a full partition's lookup is one statement per miner (`number = ANY(array)`), whatever
 *   the batch, answered in the asked order, duplicates and missing sectors included; a batch above one
 *   statement's share still answers from one transaction.
 * - attach records a large store in batches, looking every batch up before writing any: a sector that
 *   would move to another instance, in the last batch, still refuses the whole attach.
 * - attach's scan reports each file check, then each strict proof, up to their totals.
 * - LMDB: a batched lookup reads in a read transaction, so a writer holding the write lock (another
 *   process here; an attach's commit in the daemon) does not hold up the PoSter's lookup.
 * - LMDB: `counts` reads in slices and lets the event loop run between them (the daemon answers it on
 *   the loop that runs the PoSter), and counts every record across slice boundaries, a damaged one
 *   included.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { cacheDirPath } from "../../../src/proofs/sectorFiles.js";
import { shapeByName } from "../../../src/proofs/sectorShapes.js";
import { instanceMoveError, recordAttached, scanStoreDir } from "../../../src/sectors/attach.js";
import type { IndexRecord, IndexType } from "../../../src/sectors/interface.js";
import { LocalIndexer } from "../../../src/sectors/localIndexer.js";
import { ANALYZE_AFTER, PgIndexer, READ_CHUNK } from "../../../src/sectors/pgIndexer.js";
import { Bucket, u64Key } from "../../../src/store/keys.js";
import { openLmdbStore } from "../../../src/store/lmdb.js";
import type { Pg, PgQuery } from "../../../src/store/pg/db.js";
import { startProcess } from "../../../src/util/childProcess.js";
import { clusterDbFixture } from "../../helpers/clusterDb.js";
import { writeLayoutOnlySector } from "../../helpers/layoutOnlySector.js";
import { tempDir } from "../../helpers/tmp.js";

const WRITE_LOCK = fileURLToPath(new URL("../../fixtures/lmdbWriteLock.mjs", import.meta.url));

const rec = (miner: number, number: number): IndexRecord => ({
  miner,
  number,
  sealedFile: `s${number % 7}`,
  cacheDir: `c${number % 3}`,
});

/** The real client, with every statement it sends (transactions' statements included) recorded. */
function recording(pg: Pg): { pg: Pg; statements: string[] } {
  const statements: string[] = [];
  const wrap = (q: PgQuery): PgQuery => ({
    query: (text, params) => {
      statements.push(text);
      return q.query(text, params);
    },
  });
  const out: Pg = {
    description: pg.description,
    query: (text, params) => wrap(pg).query(text, params),
    tx: (fn, opts) => pg.tx((q) => fn(wrap(q)), opts),
    close: () => pg.close(),
  };
  return { pg: out, statements };
}

describe("PgIndexer lookups at partition size", { timeout: 60_000 }, () => {
  const db = clusterDbFixture("scale");

  test("a full 32 GiB partition (2,349 sectors) is one statement, answered in order with duplicates and gaps", async () => {
    const { pg: real } = await db.freshDb();
    await new PgIndexer(real).update(
      "normal",
      Array.from({ length: 3000 }, (_, i) => rec(1000, 2 * i)),
    );
    const { pg, statements } = recording(real);
    const idx = new PgIndexer(pg);
    // Even numbers are indexed, odd ones not; the partition is asked in descending order with one repeat.
    const asked = Array.from({ length: 2349 }, (_, i) => ({ miner: 1000, number: 2348 * 2 - i }));
    asked.push({ miner: 1000, number: 100 });
    const got = await idx.findMany("normal", asked);
    assert.equal(statements.length, 1, `statements: ${statements.join(" | ")}`);
    assert.match(statements[0] ?? "", /= ANY\(/);
    assert.equal(got.length, asked.length);
    asked.forEach((s, i) => {
      const l = got[i];
      if (s.number % 2 === 1) assert.equal(l?.found, false, `sector ${s.number} is not indexed`);
      else
        assert.deepEqual(
          l,
          { found: true, instance: { sealedFile: `s${s.number % 7}`, cacheDir: `c${s.number % 3}` } },
          `sector ${s.number}`,
        );
    });
  });

  test("two miners and more than one statement's share: one transaction, every answer in order", async () => {
    const { pg: real } = await db.freshDb();
    const n = READ_CHUNK + 500;
    const recs = [
      ...Array.from({ length: n }, (_, i) => rec(1000, i)),
      ...Array.from({ length: 50 }, (_, i) => rec(2000, i)),
    ];
    await new PgIndexer(real).update("normal", recs);
    const { pg, statements } = recording(real);
    const idx = new PgIndexer(pg);
    const asked = [...recs].reverse().map(({ miner, number }) => ({ miner, number }));
    asked.push({ miner: 3000, number: 1 });
    const got = await idx.findMany("normal", asked);
    // Four statements in one transaction: miner 1000 in two, miners 2000 and 3000 in one each.
    assert.equal(statements.length, 4, `statements: ${statements.length}`);
    assert.equal(got.at(-1)?.found, false, "a miner with nothing indexed");
    asked.slice(0, -1).forEach((s, i) => {
      assert.equal(got[i]?.instance.sealedFile, `s${s.number % 7}`, `sector ${s.miner}-${s.number}`);
    });
    // The upgrade index is separate.
    assert.equal((await idx.findMany("upgrade", asked.slice(0, 10))).filter((l) => l.found).length, 0);
  });
});

describe("PgIndexer statistics after large writes", { timeout: 60_000 }, () => {
  const db = clusterDbFixture("analyze");

  test("a large attach leaves the table analyzed, so lookups are planned for its real size", async () => {
    const { pg } = await db.freshDb();
    const idx = new PgIndexer(pg);
    const tuples = async () =>
      Number(
        (
          await pg.query<{ n: number }>("SELECT reltuples AS n FROM pg_class WHERE relname = 'sector_index'")
        )[0]?.n,
      );
    // Below the threshold: the statistics still describe the empty table (never analyzed: -1 or 0).
    await idx.update(
      "normal",
      Array.from({ length: ANALYZE_AFTER - 1 }, (_, i) => rec(1000, i)),
    );
    assert.ok((await tuples()) <= 0, `reltuples ${await tuples()} before the threshold`);
    await idx.update("normal", [rec(1000, ANALYZE_AFTER), rec(1000, ANALYZE_AFTER + 1)]);
    assert.ok((await tuples()) >= ANALYZE_AFTER * 0.9, `reltuples ${await tuples()} after the threshold`);
  });
});

describe("attach's batched look-up and write", () => {
  test("a move in the last batch refuses the attach before any batch is written; --force writes them all", async () => {
    const t = await tempDir("vsm-attach-batches-");
    const store = await openLmdbStore(path.join(t.dir, "db"));
    try {
      const idx = new LocalIndexer(store);
      await idx.update("normal", [{ miner: 1000, number: 9, sealedFile: "old", cacheDir: "old" }]);
      const recs: Record<IndexType, IndexRecord[]> = {
        normal: Array.from({ length: 10 }, (_, i) => ({
          miner: 1000,
          number: i,
          sealedFile: "new",
          cacheDir: "new",
        })),
        upgrade: [{ miner: 1000, number: 1, sealedFile: "new", cacheDir: "new" }],
      };
      const lookups: number[] = [];
      const progress: string[] = [];
      const run = (force: boolean) =>
        recordAttached(recs, {
          name: "new",
          guard: (moves) => {
            if (moves.length > 0 && !force) throw instanceMoveError(moves, "new", "/store", []);
            return moves;
          },
          lookup: (type, batch) => {
            lookups.push(batch.length);
            return idx.findMany(type, batch);
          },
          write: (type, batch) => idx.update(type, batch),
          batch: 4,
          onProgress: (pass, done) => progress.push(`${pass}:${done}`),
        });
      await assert.rejects(run(false), (e: unknown) => (e as { code?: string }).code === "ATTACH_WOULD_MOVE");
      assert.deepEqual(lookups, [4, 4, 2, 1], "batches of at most 4, normal then upgrade");
      assert.deepEqual(progress, ["lookup:0", "lookup:4", "lookup:8", "lookup:10", "lookup:11"]);
      assert.equal((await idx.find("normal", { miner: 1000, number: 0 })).found, false, "nothing written");
      assert.equal((await idx.find("normal", { miner: 1000, number: 9 })).instance.sealedFile, "old");

      progress.length = 0;
      const moves = await run(true);
      assert.deepEqual(
        moves.map((m) => [m.type, m.number, m.from]),
        [["normal", 9, "old"]],
      );
      assert.deepEqual(progress.slice(-5), ["write:0", "write:4", "write:8", "write:10", "write:11"]);
      const all = await idx.findMany("normal", recs.normal);
      assert.ok(
        all.every((l) => l.instance.sealedFile === "new"),
        "every record written",
      );
      assert.equal((await idx.find("upgrade", { miner: 1000, number: 1 })).found, true);
    } finally {
      await store.close();
      await t.cleanup();
    }
  });
});

describe("attach's scan reports its progress", () => {
  test("every sector file checked, then every strict proof, each counted up to its total", async () => {
    const t = await tempDir("vsm-scan-progress-");
    try {
      const k2 = shapeByName("2KiB")!;
      for (let n = 1; n <= 5; n++) await writeLayoutOnlySector(t.dir, "normal", 1000, n, k2);
      await writeLayoutOnlySector(t.dir, "upgrade", 1000, 9, k2);
      // Sector 5's cache is gone: its files fail, and it is counted among the proofs done at once.
      await fs.rm(cacheDirPath(t.dir, "normal", 1000, 5), { recursive: true });
      const seen: string[] = [];
      const last = new Map<string, string>();
      const onChecked = (stage: string, type: string, done: number, total: number) => {
        seen.push(`${stage} ${type}`);
        last.set(`${stage} ${type}`, `${done}/${total}`);
      };
      const plain = await scanStoreDir(t.dir, { onChecked });
      assert.equal(plain.good.length, 5);
      assert.deepEqual(Object.fromEntries(last), { "files normal": "5/5", "files upgrade": "1/1" });
      last.clear();
      const strict = await scanStoreDir(t.dir, {
        strict: true,
        onChecked,
        // The real probe proves from the data; these layout-only files hold none, so sector 2 is made to fail.
        probe: async (input) => {
          if (input.target.number === 2) throw new Error("does not verify");
        },
      });
      assert.deepEqual(
        strict.good.map((g) => g.number),
        [1, 3, 4, 9],
      );
      assert.deepEqual(Object.fromEntries(last), {
        "files normal": "5/5",
        "proofs normal": "5/5",
        "files upgrade": "1/1",
        "proofs upgrade": "1/1",
      });
      assert.ok(seen.indexOf("proofs normal") > seen.lastIndexOf("files normal"), "files first, then proofs");
    } finally {
      await t.cleanup();
    }
  });
});

describe("LMDB batched lookups and a writer", () => {
  test("findMany answers while another process holds the write lock", async () => {
    const t = await tempDir("vsm-lmdb-lock-");
    const dir = path.join(t.dir, "db");
    const store = await openLmdbStore(dir);
    const holder = startProcess(process.execPath, [WRITE_LOCK, dir, "3000"]);
    try {
      const idx = new LocalIndexer(store);
      const recs = Array.from({ length: 2349 }, (_, i) => rec(1000, i));
      await idx.update("normal", recs);
      await holder.waitForLine(/^locked$/, 10_000);
      const started = Date.now();
      const got = await idx.findMany("normal", recs);
      const ms = Date.now() - started;
      assert.ok(
        got.every((l, i) => l.instance.sealedFile === `s${i % 7}`),
        "every sector found",
      );
      assert.ok(ms < 1000, `findMany took ${ms} ms while the write lock was held for 3 s`);
    } finally {
      await holder.stop(1000);
      await store.close();
      await t.cleanup();
    }
  });
});

describe("LocalIndexer.counts at scale (LMDB)", () => {
  test("counts every record across slices, a damaged one included, and lets the event loop run", async () => {
    const t = await tempDir("vsm-counts-");
    const store = await openLmdbStore(path.join(t.dir, "db"));
    try {
      const idx = new LocalIndexer(store);
      const total = 12_345;
      for (let i = 0; i < total; i += 5000)
        await idx.update(
          "normal",
          Array.from({ length: Math.min(5000, total - i) }, (_, j) => rec(1000, i + j)),
        );
      await idx.update("upgrade", [rec(1000, 1)]);
      // A damaged record in the middle (a slice boundary falls near it).
      await store.put(u64Key(Bucket.SectorIndexNormal, 1000, 5000), new TextEncoder().encode("{broken"));
      let turns = 0;
      const timer = setInterval(() => turns++, 0);
      let c: Awaited<ReturnType<LocalIndexer["counts"]>>;
      try {
        c = await idx.counts();
      } finally {
        clearInterval(timer);
      }
      assert.ok(turns > 0, "the event loop ran timers while counting");
      const expected: Record<string, number> = {};
      for (let i = 0; i < total; i++)
        if (i !== 5000) expected[`s${i % 7}`] = (expected[`s${i % 7}`] ?? 0) + 1;
      assert.deepEqual(c.normal, expected);
      assert.deepEqual(c.upgrade, { s1: 1 });
      assert.deepEqual(c.damaged, { normal: 1, upgrade: 0 });
      // An aborted count stops with the abort's reason.
      const ac = new AbortController();
      ac.abort(new Error("gone"));
      await assert.rejects(idx.counts({ signal: ac.signal }), /gone/);
    } finally {
      await store.close();
      await t.cleanup();
    }
  });
});
