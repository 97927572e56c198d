/**
 * Re-attaching a path under another --name (or with none, which means the absolute path) would move
 * its sectors to the new instance name (issue 10, finding 13). attach refuses and names both instances
 * unless --force is given, offline (the home's store under its lock) and online (through the running
 * daemon) alike; the index is left as it was. And a record damaged on disk in the home's real LMDB
 * file fails only its sector in `util storage list/find`, and re-attaching repairs it. Real CLI and
 * daemon processes.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { homePaths } from "../../src/daemon/home.js";
import { shapeByName } from "../../src/proofs/sectorShapes.js";
import { type Proc, runCli, startCli } from "../../src/util/childProcess.js";
import { writeLayoutOnlySector } from "../helpers/layoutOnlySector.js";
import { tempDir } from "../helpers/tmp.js";

const k2 = shapeByName("2KiB")!;
const M = 1000;

describe("attach refuses to move sectors to another instance name without --force", () => {
  let root = "";
  let cleanup = async () => {};
  let home = "";
  let storeDir = "";
  let daemon: Proc | undefined;

  const attach = (...args: string[]) =>
    runCli(["--home", home, "util", "storage", "attach", ...args], { timeoutMs: 30_000 });
  const indexedAs = async (n: number) => {
    const r = await runCli(["--home", home, "util", "storage", "find", String(M), String(n), "--json"]);
    assert.equal(r.code, 0, r.output);
    return (JSON.parse(r.output) as { Instance: { SealedFile: string } }).Instance.SealedFile;
  };
  const refused = (
    r: { code: number | null; output: string; lines: string[] },
    name: string,
    from: string,
  ) => {
    assert.equal(r.code, 1, r.output);
    const errors = r.lines.filter((l) => l.startsWith("error"));
    assert.equal(errors.length, 1, r.output);
    assert.match(
      errors[0]!,
      new RegExp(
        `^error: refusing to attach ${storeDir.replace(/[/.]/g, "\\$&")} as instance ${JSON.stringify(name).replace(/[/.]/g, "\\$&")}: 3 of its sectors are already indexed in another instance: 3 in instance "${from}" \\(configured with this same path; e\\.g\\. sector ${M}-1\\); .*--name "${from}".*add --force$`,
      ),
    );
  };

  before(async () => {
    ({ dir: root, cleanup } = await tempDir("vsm-attach-move-"));
    home = path.join(root, "home");
    storeDir = path.join(root, "store1");
    for (const n of [1, 2, 3]) await writeLayoutOnlySector(storeDir, "normal", M, n, k2);
    assert.equal((await runCli(["--home", home, "daemon", "init"])).code, 0);
    await fs.appendFile(
      homePaths(home).sectorManagerCfg,
      `\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(storeDir)}\n`,
    );
  });
  after(async () => {
    await daemon?.stop(5000);
    await cleanup();
  });

  test("offline: attach as store1, then under another name or none is refused; the same name is fine", async () => {
    const first = await attach("--name", "store1", storeDir);
    assert.equal(first.code, 0, first.output);
    assert.match(first.output, /recorded offline/);
    refused(await attach("--name", "store2", storeDir), "store2", "store1");
    refused(await attach(storeDir), storeDir, "store1");
    const again = await attach("--name", "store1", storeDir);
    assert.equal(again.code, 0, again.output);
    assert.doesNotMatch(again.output, /moved/);
  });

  test("online: refused through the running daemon and the index is unchanged; --force moves them", async () => {
    daemon = startCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0"], {
      env: { ...process.env, VSM_LOG_LEVEL: "info" },
    });
    await daemon.waitForLine(/node ready/, 20_000);
    const r = await attach("--name", "store2", storeDir);
    refused(r, "store2", "store1");
    for (const n of [1, 2, 3]) assert.equal(await indexedAs(n), "store1", `sector ${n} stays in store1`);
    const forced = await attach("--name", "store2", "--force", storeDir);
    assert.equal(forced.code, 0, forced.output);
    assert.match(forced.output, /recorded through the running daemon/);
    assert.match(forced.output, /moved 3 sector\(s\) from instance "store1" to "store2" \(--force\)/);
    for (const n of [1, 2, 3]) assert.equal(await indexedAs(n), "store2");
    // A sector that is not indexed is a failed lookup: exit 1, with and without --json.
    const missing = await runCli(["--home", home, "util", "storage", "find", String(M), "4"]);
    assert.equal(missing.code, 1, missing.output);
    assert.match(
      missing.output,
      new RegExp(`^sector ${M}-4 is not in the normal index \\(--upgrade looks`, "m"),
    );
    const missingJson = await runCli(["--home", home, "util", "storage", "find", String(M), "4", "--json"]);
    assert.equal(missingJson.code, 1, missingJson.output);
    assert.equal((JSON.parse(missingJson.output) as { Found: boolean }).Found, false);
    await daemon.stop(5000);
    daemon = undefined;
  });

  test("offline --force moves them back, and says so in --json", async () => {
    const r = await attach("--name", "store1", "--force", "--json", storeDir);
    assert.equal(r.code, 0, r.output);
    const out = JSON.parse(r.output) as { via: string; moved: Record<string, number> };
    assert.equal(out.via, "offline");
    assert.deepEqual(out.moved, { store2: 3 });
    refused(await attach("--name", "store2", storeDir), "store2", "store1");
  });

  test("a damaged record on disk: list warns, find names the sector, others work, re-attach repairs", async () => {
    const victimDir = path.join(root, "store9");
    await writeLayoutOnlySector(victimDir, "normal", M, 9, k2);
    assert.equal((await attach("--name", "victim9", victimDir)).code, 0);
    const file = path.join(home, "db", "data.mdb");
    const bytes = await fs.readFile(file);
    const at = bytes.indexOf('{"s":"victim9"');
    assert.ok(at >= 0, "the record is in data.mdb");
    bytes.write("#", at, "latin1");
    await fs.writeFile(file, bytes);

    daemon = startCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0"], {
      env: { ...process.env, VSM_LOG_LEVEL: "info" },
    });
    await daemon.waitForLine(/node ready/, 20_000);
    const list = await runCli(["--home", home, "util", "storage", "list"]);
    assert.equal(list.code, 0, list.output);
    assert.match(list.output, /WARNING: 1 normal sector index record\(s\) are damaged and cannot be read/);
    assert.match(list.output, /store1\s+\S+\s+3\s/, "the other sectors are counted");
    const find = await runCli(["--home", home, "util", "storage", "find", String(M), "9"]);
    assert.equal(find.code, 1, find.output);
    assert.match(
      find.output,
      /^error: the normal sector index record of sector 1000-9 is damaged \(it is not valid JSON\); re-attach the store/m,
    );
    assert.equal(await indexedAs(1), "store1");
    // The repair: attach the store again (a damaged record is not a move, so no --force is needed).
    const again = await attach("--name", "victim9", victimDir);
    assert.equal(again.code, 0, again.output);
    assert.equal(await indexedAs(9), "victim9");
    await daemon.stop(5000);
    daemon = undefined;
  });
});
