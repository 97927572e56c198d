import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { nullLogger } from "../../../src/log/logger.js";
import { cacheDirPath, sealedFilePath } from "../../../src/proofs/sectorFiles.js";
import { shapeByName, treeRLastFileBytes, treeRLastFileNames } from "../../../src/proofs/sectorShapes.js";
import { writeSyntheticSector } from "../../../src/proofs/syntheticSector.js";
import { createStrictProbe } from "../../../src/prover/strictProbe.js";
import { WorkerPool } from "../../../src/prover/workerPool.js";
import { instanceMoveError, instanceMoves, scanStoreDir } from "../../../src/sectors/attach.js";
import { writeLayoutOnlySector } from "../../helpers/layoutOnlySector.js";
import { tempDir } from "../../helpers/tmp.js";

const k2 = shapeByName("2KiB")!;
const m8 = shapeByName("8MiB")!;

describe("tree-r-last sizes (LevelCacheStore formula)", () => {
  test("match the sizes in reference/post-proofs.md §1.6", () => {
    assert.equal(treeRLastFileBytes(k2), 32);
    assert.equal(treeRLastFileBytes(m8), 18_720);
    assert.equal(treeRLastFileBytes(shapeByName("512MiB")!), 1_198_368);
    assert.equal(treeRLastFileBytes(shapeByName("32GiB")!), 9_586_976);
    assert.equal(treeRLastFileBytes(shapeByName("64GiB")!), 9_586_976);
    assert.deepEqual(treeRLastFileNames(k2), ["sc-02-data-tree-r-last.dat"]);
    assert.equal(treeRLastFileNames(shapeByName("32GiB")!).length, 8);
    assert.equal(treeRLastFileNames(shapeByName("64GiB")!)[15], "sc-02-data-tree-r-last-15.dat");
  });
});

describe("scanStoreDir", () => {
  let dir = "";
  let cleanup = async () => {};
  const M = 1000;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    // good: 1, 2 (2KiB), 3 (8MiB), upgrade 4
    await writeLayoutOnlySector(dir, "normal", M, 1, k2);
    await writeLayoutOnlySector(dir, "normal", M, 2, k2);
    await writeLayoutOnlySector(dir, "normal", M, 3, m8);
    await writeLayoutOnlySector(dir, "upgrade", M, 4, k2);
    // 10: sealed file of a wrong size
    await writeLayoutOnlySector(dir, "normal", M, 10, k2);
    await fs.appendFile(sealedFilePath(dir, "normal", M, 10), "x");
    // 11: no cache dir
    await writeLayoutOnlySector(dir, "normal", M, 11, k2);
    await fs.rm(cacheDirPath(dir, "normal", M, 11), { recursive: true });
    // 12: no p_aux
    await writeLayoutOnlySector(dir, "normal", M, 12, k2);
    await fs.rm(path.join(cacheDirPath(dir, "normal", M, 12), "p_aux"));
    // 13: tree-r-last missing; 14: truncated
    await writeLayoutOnlySector(dir, "normal", M, 13, m8);
    await fs.rm(path.join(cacheDirPath(dir, "normal", M, 13), "sc-02-data-tree-r-last.dat"));
    await writeLayoutOnlySector(dir, "normal", M, 14, m8);
    await fs.truncate(path.join(cacheDirPath(dir, "normal", M, 14), "sc-02-data-tree-r-last.dat"), 1000);
    // 15: t_aux missing is fine, noted
    await writeLayoutOnlySector(dir, "normal", M, 15, k2);
    await fs.rm(path.join(cacheDirPath(dir, "normal", M, 15), "t_aux"));
    // 16: p_aux holding a value above the field modulus (caught by --strict only)
    await writeLayoutOnlySector(dir, "normal", M, 16, k2);
    await fs.writeFile(path.join(cacheDirPath(dir, "normal", M, 16), "p_aux"), Buffer.alloc(64, 0xff));
    // junk: a file that is not a sector, and a cache dir whose sealed file is gone
    await fs.writeFile(path.join(dir, "sealed", "README"), "not a sector");
    await fs.mkdir(cacheDirPath(dir, "normal", M, 20), { recursive: true });
  });
  after(() => cleanup());

  test("indexes good sectors and reports each bad one with its reason", async () => {
    const r = await scanStoreDir(dir);
    const good = r.good.map((s) => `${s.type}:${s.number}:${s.shape.name}`).sort();
    assert.deepEqual(good, [
      "normal:15:2KiB",
      "normal:16:2KiB",
      "normal:1:2KiB",
      "normal:2:2KiB",
      "normal:3:8MiB",
      "upgrade:4:2KiB",
    ]);
    const s15 = r.good.find((s) => s.number === 15);
    assert.deepEqual(s15?.notes, ["t_aux missing (not needed for PoSt)"]);
    const reasons = new Map(
      r.bad.map((b) => [b.number === undefined ? path.basename(b.file) : b.number, b.reason]),
    );
    const expected: [number | string, RegExp][] = [
      [10, /sealed file is 2049 bytes, not a known sector size \(2KiB, 8MiB, 512MiB, 32GiB, 64GiB\)/],
      [11, /cache dir cache\/s-t01000-11 is missing/],
      [12, /p_aux is missing/],
      [13, /sc-02-data-tree-r-last\.dat is missing/],
      [14, /sc-02-data-tree-r-last\.dat is 1000 bytes, expected 18720 for a 8MiB sector/],
      [20, /cache dir without a sealed file/],
      ["README", /not a sector file name/],
    ];
    assert.equal(r.bad.length, expected.length, JSON.stringify(r.bad, null, 1));
    for (const [k, re] of expected) assert.match(reasons.get(k) ?? "(none)", re, `sector ${k}`);
  });

  test("strict mode also rejects p_aux values that are not field elements", async () => {
    const r = await scanStoreDir(dir, { strict: true });
    assert.ok(!r.good.some((s) => s.number === 16));
    assert.match(
      r.bad.find((b) => b.number === 16)?.reason ?? "",
      /p_aux comm_c is not a valid field element/,
    );
  });

  test("strict mode (the store will be Strict) rejects a symlinked sealed file or cache dir; loose mode takes them", async () => {
    const t = await tempDir();
    try {
      const real = path.join(t.dir, "real");
      const store = path.join(t.dir, "store");
      const k2 = shapeByName("2KiB")!;
      for (const n of [1, 2, 3]) await writeLayoutOnlySector(real, "normal", 1000, n, k2);
      await fs.mkdir(path.join(store, "sealed"), { recursive: true });
      await fs.mkdir(path.join(store, "cache"), { recursive: true });
      for (const n of [1, 2, 3]) {
        const sealed = sealedFilePath(real, "normal", 1000, n);
        const cache = cacheDirPath(real, "normal", 1000, n);
        if (n === 1) await fs.symlink(sealed, sealedFilePath(store, "normal", 1000, n));
        else await fs.copyFile(sealed, sealedFilePath(store, "normal", 1000, n));
        if (n === 2) await fs.symlink(cache, cacheDirPath(store, "normal", 1000, n));
        else await fs.cp(cache, cacheDirPath(store, "normal", 1000, n), { recursive: true });
      }
      const loose = await scanStoreDir(store, { strict: false });
      assert.deepEqual(loose.good.map((s) => s.number).sort(), [1, 2, 3]);
      const strict = await scanStoreDir(store, { strict: true });
      assert.deepEqual(
        strict.good.map((s) => s.number),
        [3],
      );
      const why = new Map(strict.bad.map((b) => [b.number, b.reason]));
      assert.match(
        why.get(1) ?? "",
        /sealed file is a symbolic link; a Strict store \(--strict\) must hold the files themselves/,
      );
      assert.match(why.get(2) ?? "", /cache dir is a symbolic link/);
    } finally {
      await t.cleanup();
    }
  });

  test("an empty or missing layout finds nothing", async () => {
    const t = await tempDir();
    try {
      const r = await scanStoreDir(t.dir);
      assert.deepEqual(r.good, []);
      assert.deepEqual(r.bad, []);
    } finally {
      await t.cleanup();
    }
  });
});

describe("scanStoreDir --strict with the vanilla probe", () => {
  test("a corrupted replica passes the size checks but fails the one-challenge proof", async () => {
    const t = await tempDir();
    const pool = new WorkerPool({ size: 2, logger: nullLogger });
    try {
      for (const n of [1, 2, 3])
        await writeSyntheticSector({ storeDir: t.dir, miner: 1000, number: n, shape: k2 });
      const sealed = sealedFilePath(t.dir, "normal", 1000, 2);
      const data = await fs.readFile(sealed);
      data[100] = (data[100] ?? 0) ^ 0x01; // a low byte: the node stays a field element
      await fs.writeFile(sealed, data);
      const loose = await scanStoreDir(t.dir, { strict: false });
      assert.equal(loose.good.length, 3, "sizes are all right");
      const strict = await scanStoreDir(t.dir, { strict: true, probe: createStrictProbe(pool) });
      assert.deepEqual(strict.good.map((s) => s.number).sort(), [1, 3]);
      assert.equal(strict.bad.length, 1);
      assert.equal(strict.bad[0]?.number, 2);
      assert.match(strict.bad[0]?.reason ?? "", /^vanilla proof check failed: .*sector 2/);
    } finally {
      await pool.close();
      await t.cleanup();
    }
  });
});

describe("instanceMoves", () => {
  test("a sector indexed under another name is a move; the same name, not found, or a damaged record is not", () => {
    const recs = {
      normal: [1, 2, 3, 4].map((number) => ({ miner: 1000, number })),
      upgrade: [{ miner: 1000, number: 5 }],
    };
    const at = (name: string, cache = name) => ({
      found: true,
      instance: { sealedFile: name, cacheDir: cache },
    });
    const moves = instanceMoves(
      recs,
      {
        normal: [
          at("new"),
          at("old"),
          { found: false, instance: { sealedFile: "", cacheDir: "" } },
          { found: false, instance: { sealedFile: "", cacheDir: "" }, error: "damaged" },
        ],
        upgrade: [at("new", "old-cache")],
      },
      "new",
    );
    assert.deepEqual(moves, [
      { type: "normal", miner: 1000, number: 2, from: "old" },
      { type: "upgrade", miner: 1000, number: 5, from: "old-cache" },
    ]);
    const e = instanceMoveError(moves, "new", "/mnt/a", [{ Name: "old", Path: "/mnt/a" }]);
    assert.equal(e.code, "ATTACH_WOULD_MOVE");
    assert.match(e.message, /1 in instance "old" \(configured with this same path; e\.g\. sector 1000-2\)/);
    assert.match(e.message, /1 in instance "old-cache" \(not configured on this node/);
    assert.match(e.message, /the --name they were attached with.*add --force$/);
  });
});
