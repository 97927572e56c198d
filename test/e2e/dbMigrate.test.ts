/**
 * `vsm util db migrate --from-lmdb HOME` through the built CLI, against a real PostgreSQL server and a
 * real embedded index (sectors attached offline with `util storage attach`): every record copied, a
 * second run changes nothing and says so, a record the database holds under other names is kept and
 * reported (exit 1) unless --force, a source home in use is refused, a config without the database is
 * refused. Also: offline attach on a home whose config says postgres writes to the database, and
 * `daemon run --poster` on the database is refused with the cluster message.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { acquireHomeLock, homePaths } from "../../src/daemon/home.js";
import { shapeByName } from "../../src/proofs/sectorShapes.js";
import { cliEntry, runCli, startCli } from "../../src/util/childProcess.js";
import { cliSplit } from "../helpers/cli.js";
import { writeLayoutOnlySector } from "../helpers/layoutOnlySector.js";
import { type PgServer, startPg } from "../helpers/pgServer.js";
import { tempDir } from "../helpers/tmp.js";

const k2 = shapeByName("2KiB")!;
const M = 1000;

const cli = (args: string[]) => cliSplit(args);

interface Summary {
  normal: { total: number; copied: number; same: number; differing: number };
  upgrade: { total: number; copied: number; same: number; differing: number };
  changed: boolean;
  differing: { type: string; miner: number; number: number; overwritten: boolean }[];
  damaged: unknown[];
}

describe("util db migrate --from-lmdb", { timeout: 60_000 }, () => {
  let root = "";
  let cleanup = async () => {};
  let server: PgServer;
  let src = "";
  let target = "";
  let dsn = "";
  const rows = () =>
    server
      .psql(
        "migr",
        "SELECT kind || ':' || number || ':' || sealed_instance FROM sector_index ORDER BY kind, number",
      )
      .trim();

  before(async () => {
    ({ dir: root, cleanup } = await tempDir("vsm-db-migrate-"));
    server = await startPg();
    dsn = await server.createDatabase("migr");
    src = path.join(root, "src");
    const store = path.join(root, "store1");
    for (const n of [1, 2, 3]) await writeLayoutOnlySector(store, "normal", M, n, k2);
    await writeLayoutOnlySector(store, "upgrade", M, 4, k2);
    assert.equal((await runCli(["--home", src, "daemon", "init"])).code, 0);
    const a = await runCli(["--home", src, "util", "storage", "attach", "--name", "store1", store]);
    assert.equal(a.code, 0, a.output);
    assert.match(a.output, /3 normal, 1 upgrade/);
    target = path.join(root, "target");
    assert.equal((await runCli(["--home", target, "daemon", "init"])).code, 0);
    // A file of its own: the one daemon init writes has live [Common.DB] headers already.
    await fs.writeFile(
      homePaths(target).sectorManagerCfg,
      `[Common.DB]\nDriver = "postgres"\n[Common.DB.Postgres]\nDSN = ${JSON.stringify(dsn)}\n`,
    );
  });
  after(async () => {
    await server?.destroy();
    await cleanup();
  });

  const migrate = (...extra: string[]) =>
    cli(["--home", target, "util", "db", "migrate", "--from-lmdb", src, ...extra]);

  test("copies every normal and upgrade record; a second run changes nothing and says so", async () => {
    const first = await migrate("--json");
    assert.equal(first.code, 0, first.stderr);
    const s = JSON.parse(first.stdout) as Summary;
    assert.deepEqual(s.normal, { total: 3, copied: 3, same: 0, differing: 0 });
    assert.deepEqual(s.upgrade, { total: 1, copied: 1, same: 0, differing: 0 });
    assert.equal(s.changed, true);
    assert.equal(rows(), "normal:1:store1\nnormal:2:store1\nnormal:3:store1\nupgrade:4:store1");

    const again = await migrate();
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /normal\s+3 record\(s\): copied 0, already there 3, differing 0/);
    assert.match(again.stdout, /upgrade\s+1 record\(s\): copied 0, already there 1, differing 0/);
    assert.match(again.stdout, /nothing changed: every record of .* was already in the database/);
    assert.match(again.stderr, /copying 4 record\(s\) from .*db into postgres:\/\/postgres@127\.0\.0\.1:/);
  });

  test("a record the database holds under another name is kept and reported (exit 1); --force overwrites it", async () => {
    server.psql(
      "migr",
      "UPDATE sector_index SET sealed_instance = 'elsewhere', cache_instance = 'elsewhere' WHERE number = 2",
    );
    const kept = await migrate("--json");
    assert.equal(kept.code, 1);
    const s = JSON.parse(kept.stdout) as Summary;
    assert.deepEqual(s.normal, { total: 3, copied: 0, same: 2, differing: 1 });
    assert.deepEqual(
      s.differing.map((d) => [d.type, d.miner, d.number, d.overwritten]),
      [["normal", M, 2, false]],
    );
    assert.match(
      kept.stderr,
      /error: 1 sector\(s\) are in the database under other instance names .*--force/,
    );
    assert.match(rows(), /normal:2:elsewhere/);

    const forced = await migrate("--force");
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /differing 1 \(overwritten, --force\)/);
    assert.match(
      forced.stdout,
      /normal sector 1000-2: embedded store1\/store1, database elsewhere\/elsewhere/,
    );
    assert.match(rows(), /normal:2:store1/);
  });

  test("on a terminal, progress shows done/total and an ETA; off a terminal, none of it on stdout", async () => {
    // util-linux `script` (Debian's essential bsdutils) runs the CLI on a pseudo-terminal.
    const cmd = [process.execPath, cliEntry(), "--home", target, "util", "db", "migrate", "--from-lmdb", src]
      .map((a) => `'${a.replace(/'/g, "'\\''")}'`)
      .join(" ");
    const tty = await new Promise<string>((resolve) => {
      const child = spawn("script", ["-qec", cmd, "/dev/null"], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (b: Buffer) => {
        out += b.toString();
      });
      const t = setTimeout(() => child.kill("SIGKILL"), 30_000);
      child.on("exit", () => {
        clearTimeout(t);
        resolve(out);
      });
    });
    assert.match(tty, /\r {2}3\/4 records \(75%\), \d+\/s, ETA \d+s/);
    assert.match(tty, /\r {2}4\/4 records \(100%\)/);
    const plain = await migrate();
    assert.doesNotMatch(plain.stdout + plain.stderr, /records \(\d+%\)/);
  });

  test("a source home in use is refused, and so is a config without the database", async () => {
    const lock = await acquireHomeLock(src, "test holding the home");
    try {
      const busy = await migrate();
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, /error: home .* is in use by another process .*test holding the home/);
    } finally {
      await lock.release();
    }
    const lmdbTarget = await cli(["--home", src, "util", "db", "migrate", "--from-lmdb", src]);
    assert.equal(lmdbTarget.code, 1);
    assert.match(
      lmdbTarget.stderr,
      /has \[Common\.DB\] Driver = "lmdb"; util db migrate copies into the cluster database/,
    );
    const missing = await cli([
      "--home",
      target,
      "util",
      "db",
      "migrate",
      "--from-lmdb",
      path.join(root, "nope"),
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /has no embedded sector index/);
  });

  test("offline attach on a postgres home writes to the database", async () => {
    const store2 = path.join(root, "store2");
    await writeLayoutOnlySector(store2, "normal", M, 9, k2);
    const a = await runCli(["--home", target, "util", "storage", "attach", "--name", "store2", store2]);
    assert.equal(a.code, 0, a.output);
    assert.match(a.output, /recorded offline in the cluster database/);
    assert.match(rows(), /normal:9:store2/);

    // A daemon on the database (no --poster) reads the sector from it, and shows its --name.
    // `npm test` runs with VSM_LOG_LEVEL=warn; the ready line is INFO.
    const d = startCli(["--home", target, "daemon", "run", "--listen=127.0.0.1:0", "--name=e2e-node"], {
      env: { ...process.env, VSM_LOG_LEVEL: "info" },
    });
    try {
      const ready = await d.waitForLine(/node ready/, 20_000);
      assert.match(ready, /e2e-node/);
      assert.match(ready, /postgres 127\.0\.0\.1:/);
      const f = await runCli(["--home", target, "util", "storage", "find", String(M), "9", "--json"]);
      assert.equal(f.code, 0, f.output);
      assert.equal(
        (JSON.parse(f.output) as { Instance: { SealedFile: string } }).Instance.SealedFile,
        "store2",
      );
      // attach through the running daemon writes into the database too.
      const store3 = path.join(root, "store3");
      await writeLayoutOnlySector(store3, "normal", M, 11, k2);
      const online = await runCli([
        "--home",
        target,
        "util",
        "storage",
        "attach",
        "--name",
        "store3",
        store3,
      ]);
      assert.equal(online.code, 0, online.output);
      assert.match(online.output, /recorded through the running daemon/);
      assert.match(rows(), /normal:11:store3/);
      const up = await runCli([
        "--home",
        target,
        "util",
        "storage",
        "find",
        "--upgrade",
        String(M),
        "4",
        "--json",
      ]);
      assert.equal(up.code, 0, up.output);
      assert.equal(
        (JSON.parse(up.output) as { Instance: { SealedFile: string } }).Instance.SealedFile,
        "store1",
      );
    } finally {
      assert.equal((await d.stop(5000)).code, 0);
    }
  });
});
