/**
 * The pre-open check of `data.mdb` (finding 5) on real LMDB files: no false alarm on a database that
 * grew, shrank and was reopened many times (LMDB's file may be shorter than its "last used page", so
 * that number must not be used), and an alarm for every truncation and for garbled meta pages.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { openLmdbStore } from "../../../src/store/lmdb.js";
import { lmdbDataFileProblem } from "../../../src/store/lmdbCheck.js";
import { SmError } from "../../../src/util/errors.js";
import { tempDir } from "../../helpers/tmp.js";

describe("data.mdb pre-open check", () => {
  let dir = "";
  let cleanup = async () => {};
  let intact: Buffer = Buffer.alloc(0);

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-lmdbcheck-"));
  });
  after(() => cleanup());

  test("a database written, pruned and reopened many times always passes", async () => {
    const db = path.join(dir, "db");
    for (let round = 0; round < 12; round++) {
      const s = await openLmdbStore(db);
      await s.transaction((tx) => {
        for (let i = 0; i < 1500; i++)
          tx.put(Buffer.from(`k${round}-${i}`), Buffer.alloc(60 + ((i * 7) % 400), round));
      });
      if (round % 3 === 2)
        await s.transaction((tx) => {
          for (let i = 0; i < 1500; i++) tx.delete(Buffer.from(`k${round - 1}-${i}`));
        });
      // One value on overflow pages.
      await s.put(Buffer.from(`big${round}`), Buffer.alloc(20_000, 1));
      assert.equal(lmdbDataFileProblem(db), undefined, `round ${round}, open`);
      await s.close();
      assert.equal(lmdbDataFileProblem(db), undefined, `round ${round}, closed`);
    }
    intact = await fs.readFile(path.join(db, "data.mdb"));
    assert.ok(intact.length > 100 * 4096, `${intact.length} bytes`);
  });

  test("every truncation is found, and openLmdbStore refuses it with the file and the repair", async () => {
    const db = path.join(dir, "cut");
    await fs.mkdir(db);
    const file = path.join(db, "data.mdb");
    for (const frac of [0.99, 0.75, 0.5, 0.1]) {
      await fs.writeFile(file, intact.subarray(0, Math.floor((intact.length * frac) / 4096) * 4096));
      assert.match(lmdbDataFileProblem(db) ?? "", /past the end of the file .*truncated/, `${frac}`);
    }
    await fs.writeFile(file, intact.subarray(0, 5000));
    assert.match(lmdbDataFileProblem(db) ?? "", /shorter than its two 4096-byte meta pages/);
    await fs.writeFile(file, intact.subarray(0, 100));
    assert.match(lmdbDataFileProblem(db) ?? "", /meta page 0 is cut short/);
    await assert.rejects(openLmdbStore(db), (e: unknown) => {
      assert.ok(e instanceof SmError);
      assert.equal(e.code, "STORE_CORRUPT");
      assert.ok(e.message.startsWith(`${file} is damaged: `), e.message);
      assert.match(e.message, /move .* aside .*vsm util storage attach/);
      return true;
    });
  });

  test("garbled meta pages: magic, version, page size, flags", async () => {
    const db = path.join(dir, "garbled");
    await fs.mkdir(db);
    const file = path.join(db, "data.mdb");
    const cases: [number, number, RegExp][] = [
      [24, 0x12345678, /meta page 0 has magic 0x12345678/],
      [4096 + 24, 0, /meta page 1 has magic 0x0/],
      [28, 7, /meta page 0 has data version 7/],
      [48, 1000, /page size 1000/],
    ];
    for (const [off, v, re] of cases) {
      const b = Buffer.from(intact);
      b.writeUInt32LE(v, off);
      await fs.writeFile(file, b);
      assert.match(lmdbDataFileProblem(db) ?? "", re);
    }
    const b = Buffer.from(intact);
    b.writeUInt16LE(0, 18);
    await fs.writeFile(file, b);
    assert.match(lmdbDataFileProblem(db) ?? "", /page 0 is not an LMDB meta page/);
    await fs.writeFile(file, "");
    assert.match(lmdbDataFileProblem(db) ?? "", /empty \(0 bytes\)/);
    await fs.rm(file);
    assert.equal(lmdbDataFileProblem(db), undefined, "a missing file is a new database");
  });

  test("a BaseDir that is a file or under a file is refused with what it must be", async () => {
    const f = path.join(dir, "plain");
    await fs.writeFile(f, "x");
    for (const d of [f, path.join(f, "db")])
      await assert.rejects(
        openLmdbStore(d),
        /is not a directory; \[Common\.DB\.LMDB\] BaseDir must be a directory/,
      );
  });
});
