import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { nullLogger } from "../../../src/log/logger.js";
import { cacheDirPath, sealedFilePath } from "../../../src/proofs/sectorFiles.js";
import { shapeByName } from "../../../src/proofs/sectorShapes.js";
import { RpcClient } from "../../../src/rpc/client.js";
import { type CheckTarget, checkSectors } from "../../../src/sectors/check.js";
import { LocalIndexer } from "../../../src/sectors/localIndexer.js";
import { ProxyIndexer } from "../../../src/sectors/proxyIndexer.js";
import { PersistStores } from "../../../src/sectors/stores.js";
import { MemoryStore } from "../../../src/store/memory.js";
import { writeLayoutOnlySector } from "../../helpers/layoutOnlySector.js";
import { tempDir } from "../../helpers/tmp.js";

const k2 = shapeByName("2KiB")!;
const m8 = shapeByName("8MiB")!;
const proving = { ParallelCheckLimit: 4, SingleCheckTimeoutMs: 5_000, PartitionCheckTimeoutMs: 20_000 };

describe("checkSectors", () => {
  let dir = "";
  let cleanup = async () => {};
  let stores: PersistStores;
  const indexer = new LocalIndexer(new MemoryStore());
  const t = (number: number, extra: Partial<CheckTarget> = {}): CheckTarget => ({
    miner: 1000,
    number,
    upgrade: false,
    shape: k2,
    ...extra,
  });

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    stores = new PersistStores([
      {
        Name: "s1",
        Path: dir,
        ReadOnly: false,
        Strict: false,
        Meta: {},
      },
    ]);
    for (const n of [1, 2, 3, 4, 5, 6]) await writeLayoutOnlySector(dir, "normal", 1000, n, k2);
    await writeLayoutOnlySector(dir, "upgrade", 1000, 7, k2);
    await fs.rm(sealedFilePath(dir, "normal", 1000, 2));
    await fs.truncate(path.join(cacheDirPath(dir, "normal", 1000, 3), "sc-02-data-tree-r-last.dat"), 0);
    await indexer.update(
      "normal",
      [1, 2, 3, 4, 5, 6].map((n) => ({ miner: 1000, number: n, sealedFile: "s1", cacheDir: "s1" })),
    );
    await indexer.update("normal", [{ miner: 1000, number: 8, sealedFile: "gone", cacheDir: "gone" }]);
    await indexer.update("upgrade", [{ miner: 1000, number: 7, sealedFile: "s1", cacheDir: "s1" }]);
  });
  after(() => cleanup());

  test("non-strict: every bad sector with its reason, good ones with their paths", async () => {
    const targets = [t(1), t(2), t(3), t(4, { shape: m8 }), t(7, { upgrade: true }), t(8), t(9)];
    const out = await checkSectors(targets, { indexer, stores, proving }, { strict: false });
    const byNum = new Map(out.map((o) => [o.number, o]));
    assert.equal(byNum.get(1)?.ok, true);
    assert.equal(byNum.get(1)?.sealedFile, sealedFilePath(dir, "normal", 1000, 1));
    assert.equal(byNum.get(7)?.ok, true, "upgrade index and update/ layout");
    assert.equal(byNum.get(7)?.cacheDir, cacheDirPath(dir, "upgrade", 1000, 7));
    const expected: [number, RegExp][] = [
      [2, /sealed file .* is missing/],
      [3, /sc-02-data-tree-r-last\.dat is 0 bytes, expected 32/],
      [4, /sealed file is 2048 bytes \(2KiB\) but the sector is 8MiB/],
      [8, /instance "gone", which is not in \[\[Common\.PersistStores\]\]/],
      [9, /not in the normal sector index/],
    ];
    for (const [n, re] of expected) {
      assert.equal(byNum.get(n)?.ok, false, `sector ${n}`);
      assert.match(byNum.get(n)?.reason ?? "", re, `sector ${n}`);
    }
  });

  test("a Strict store's sealed file or cache dir that is a symbolic link fails the check; a plain store's does not", async () => {
    const { dir: other, cleanup: done } = await tempDir();
    try {
      const real = path.join(other, "real");
      await writeLayoutOnlySector(real, "normal", 1000, 20, k2);
      await writeLayoutOnlySector(real, "normal", 1000, 21, k2);
      const strictDir = path.join(other, "strict");
      const plainDir = path.join(other, "plain");
      for (const d of [strictDir, plainDir]) {
        await fs.mkdir(path.join(d, "sealed"), { recursive: true });
        await fs.mkdir(path.join(d, "cache"), { recursive: true });
      }
      // Sector 20: sealed file linked into both stores; sector 21: cache dir linked, files in place.
      for (const d of [strictDir, plainDir]) {
        await fs.symlink(sealedFilePath(real, "normal", 1000, 20), sealedFilePath(d, "normal", 1000, 20));
        await fs.cp(cacheDirPath(real, "normal", 1000, 20), cacheDirPath(d, "normal", 1000, 20), {
          recursive: true,
        });
        await fs.copyFile(sealedFilePath(real, "normal", 1000, 21), sealedFilePath(d, "normal", 1000, 21));
        await fs.symlink(cacheDirPath(real, "normal", 1000, 21), cacheDirPath(d, "normal", 1000, 21));
      }
      const store = (Name: string, Path: string, Strict: boolean) => ({
        Name,
        Path,
        ReadOnly: false,
        Strict,
        Meta: {},
      });
      for (const strict of [true, false]) {
        const idx = new LocalIndexer(new MemoryStore());
        const name = strict ? "strict" : "plain";
        await idx.update(
          "normal",
          [20, 21].map((n) => ({ miner: 1000, number: n, sealedFile: name, cacheDir: name })),
        );
        const s = new PersistStores([store(name, strict ? strictDir : plainDir, strict)]);
        const out = await checkSectors(
          [t(20), t(21)],
          { indexer: idx, stores: s, proving },
          { strict: false },
        );
        if (!strict) {
          assert.deepEqual(
            out.map((o) => o.ok),
            [true, true],
            JSON.stringify(out),
          );
          continue;
        }
        assert.deepEqual(
          out.map((o) => o.ok),
          [false, false],
        );
        assert.match(
          out[0]?.reason ?? "",
          /sealed file .*s-t01000-20 is a symbolic link, and store "strict" is Strict/,
        );
        assert.match(
          out[1]?.reason ?? "",
          /cache dir .*s-t01000-21 is a symbolic link, .*set Strict = false/,
        );
      }
    } finally {
      await done();
    }
  });

  test("strict: the probe runs on good sectors only and its failure is the reason", async () => {
    const probed: number[] = [];
    const out = await checkSectors(
      [t(1), t(2), t(4)],
      {
        indexer,
        stores,
        proving,
        strictProbe: async ({ target }) => {
          probed.push(target.number);
          if (target.number === 4) throw new Error("rebuilt node differs from the cache at offset 64");
        },
      },
      { strict: true },
    );
    assert.deepEqual(probed.sort(), [1, 4]);
    assert.deepEqual(
      out.map((o) => o.ok),
      [true, false, false],
    );
    assert.match(out[2]?.reason ?? "", /vanilla proof check failed: rebuilt node differs/);
  });

  test("SingleCheckTimeout and PartitionCheckTimeout bound a hung check; ParallelCheckLimit bounds concurrency", async () => {
    let running = 0;
    let peak = 0;
    const out = await checkSectors(
      [1, 4, 5, 6, 1, 4, 5, 6].map((n) => t(n)),
      {
        indexer,
        stores,
        proving: { ParallelCheckLimit: 2, SingleCheckTimeoutMs: 150, PartitionCheckTimeoutMs: 400 },
        strictProbe: async ({ target }, signal) => {
          running++;
          peak = Math.max(peak, running);
          try {
            await sleep(target.number === 1 ? 1000 : 100, undefined, { signal });
          } finally {
            running--;
          }
        },
      },
      { strict: true },
    );
    assert.ok(peak <= 2, `peak concurrency ${peak}`);
    assert.match(out[0]?.reason ?? "", /did not finish within SingleCheckTimeout \(150ms\)/);
    assert.equal(out[1]?.ok, true);
    assert.ok(
      out.some((o) => /not checked within PartitionCheckTimeout/.test(o.reason ?? "")),
      out.map((o) => o.reason).join("\n"),
    );
  });

  test("an unreachable sector index throws instead of marking every sector bad", async () => {
    const proxy = new ProxyIndexer(
      new RpcClient({ url: "http://127.0.0.1:9/rpc/v0", timeoutMs: 2000 }),
      "127.0.0.1:9",
      nullLogger,
    );
    await assert.rejects(
      checkSectors([t(1)], { indexer: proxy, stores, proving }, { strict: false }),
      /source node 127\.0\.0\.1:9 is unavailable/,
    );
  });
});
