/**
 * Issue 10, finding 5: a damaged `db/data.mdb`, with real files and real processes. Before the fix a
 * truncated file killed `daemon run` and offline attach with SIGBUS (exit 135) and random bytes over the
 * meta pages with SIGSEGV (139), without a word. Now each is refused (exit 1) with a message that names
 * the file and gives the repair; the repair (move db/ aside, re-attach) works; an index that is empty
 * while stores are configured (data.mdb deleted) is warned about at start, with the attach commands.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { homePaths } from "../../src/daemon/home.js";
import { shapeByName } from "../../src/proofs/sectorShapes.js";
import { type Proc, runCli, startCli } from "../../src/util/childProcess.js";
import { writeLayoutOnlySector } from "../helpers/layoutOnlySector.js";
import { tempDir } from "../helpers/tmp.js";

const MINER = 1000;
const SECTORS = 20;

describe("damaged LMDB index (real files, real processes)", () => {
  let root = "";
  let cleanup = async () => {};
  let home = "";
  let storeDir = "";
  let dataFile = "";
  let intact: Buffer = Buffer.alloc(0);
  const procs: Proc[] = [];

  const attach = () => runCli(["--home", home, "util", "storage", "attach", "--name", "store1", storeDir]);
  const run = () => runCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0"], { timeoutMs: 20_000 });
  const damaged = (out: string, why: RegExp) => {
    assert.match(out, new RegExp(`^error: ${dataFile.replace(/[.]/g, "\\.")} is damaged: `, "m"));
    assert.match(out, why);
    assert.match(
      out,
      /move .*\/db aside .*re-attach each persist store with `vsm util storage attach --name <Name> <Path>`/,
    );
  };

  before(async () => {
    ({ dir: root, cleanup } = await tempDir("vsm-lmdb-"));
    home = path.join(root, "home");
    storeDir = path.join(root, "store1");
    dataFile = path.join(homePaths(home).db, "data.mdb");
    const k2 = shapeByName("2KiB");
    if (!k2) throw new Error("no 2KiB shape");
    for (let n = 1; n <= SECTORS; n++) await writeLayoutOnlySector(storeDir, "normal", MINER, n, k2);
    assert.equal((await runCli(["--home", home, "daemon", "init"])).code, 0);
    await fs.appendFile(
      homePaths(home).sectorManagerCfg,
      `\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(storeDir)}\n`,
    );
    const r = await attach();
    assert.equal(r.code, 0, r.output);
    intact = await fs.readFile(dataFile);
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop(2000)));
    await cleanup();
  });

  test("a truncated data.mdb: daemon run and offline attach refuse with the file and the repair", async () => {
    await fs.writeFile(dataFile, intact.subarray(0, 8192));
    const r = await run();
    assert.deepEqual([r.code, r.signal], [1, null], r.output);
    damaged(r.output, /lies past the end of the file .*truncated/);
    const a = await attach();
    assert.deepEqual([a.code, a.signal], [1, null], a.output);
    damaged(a.output, /truncated/);
    assert.equal(
      await fs.stat(homePaths(home).lock).then(
        () => true,
        () => false,
      ),
      false,
      "the lock is released",
    );
  });

  test("random bytes over the meta pages, or over a tree page, are refused the same way", async () => {
    const garbled = Buffer.from(intact);
    randomBytes(8192).copy(garbled, 0);
    await fs.writeFile(dataFile, garbled);
    const r = await run();
    assert.deepEqual([r.code, r.signal], [1, null], r.output);
    damaged(r.output, /page 0 is not an LMDB meta page|meta page 0 has magic/);

    // Only the second meta page.
    const second = Buffer.from(intact);
    second.fill(0x41, 4096 + 24, 4096 + 32);
    await fs.writeFile(dataFile, second);
    const a = await attach();
    assert.deepEqual([a.code, a.signal], [1, null], a.output);
    damaged(a.output, /meta page 1 has magic 0x41414141/);

    // Every page past the meta pages that the trees use: overwrite each in turn.
    let refused = 0;
    for (let pg = 2; pg * 4096 < intact.length; pg++) {
      const one = Buffer.from(intact);
      randomBytes(4096).copy(one, pg * 4096);
      await fs.writeFile(dataFile, one);
      const x = await runCli(["--home", home, "util", "storage", "attach", "--name", "store1", storeDir]);
      assert.notEqual(x.signal, "SIGBUS");
      assert.notEqual(x.signal, "SIGSEGV");
      assert.ok(x.code === 0 || x.code === 1, x.output);
      if (x.code === 1) {
        damaged(x.output, /is not the tree page it should be|past the end/);
        refused++;
      }
    }
    assert.ok(refused >= 1, "at least the root page is checked");
  });

  test("a 0-byte data.mdb is refused; the repair (db/ moved aside, store re-attached) gives a working node", async () => {
    await fs.writeFile(dataFile, "");
    const r = await run();
    assert.equal(r.code, 1, r.output);
    damaged(r.output, /it is empty \(0 bytes\)/);

    await fs.rename(homePaths(home).db, `${homePaths(home).db}.damaged`);
    const a = await attach();
    assert.equal(a.code, 0, a.output);
    const d = startCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0"], {
      env: { ...process.env, VSM_LOG_LEVEL: "info" },
    });
    procs.push(d);
    await d.waitForLine(/node ready/, 20_000);
    assert.ok(!d.lines.some((l) => /sector index is empty/.test(l)), d.lines.join("\n"));
    const find = await runCli(["--home", home, "util", "storage", "find", String(MINER), "7"]);
    assert.equal(find.code, 0, find.output);
    assert.match(find.output, /store1/);
    assert.deepEqual(await d.stop(10_000), { code: 0, signal: null });
  });

  test("a deleted data.mdb with stores configured: the node starts and warns at once, naming the attach command", async () => {
    await fs.rm(dataFile);
    const d = startCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0"], {
      env: { ...process.env, VSM_LOG_LEVEL: "info" },
    });
    procs.push(d);
    await d.waitForLine(/node ready/, 20_000);
    const warn = d.lines.find((l) =>
      /\tWARN\t.*the sector index is empty but persist stores are configured/.test(l),
    );
    assert.ok(warn, d.lines.join("\n"));
    assert.ok(
      warn.includes(`vsm --home ${home} util storage attach --name \\"store1\\" \\"${storeDir}\\"`),
      warn,
    );
    // Re-attaching through the running daemon repairs it.
    const a = await attach();
    assert.equal(a.code, 0, a.output);
    assert.deepEqual(await d.stop(10_000), { code: 0, signal: null });
  });
});
