/**
 * Issue 10, finding 9: a full disk, for real. The home lives on a small tmpfs mounted in a temp dir,
 * and the disk is filled by a file. Mounting needs root: not root, the file runs itself again inside
 * a user + mount namespace (`unshare -rm`, where this user is root of its own mounts; the daemons it
 * starts are children, so they see the mount) and passes when every test passed there. Never skipped.
 *
 * - attach through a running daemon: the request fails with "disk is full", the daemon logs it, no
 *   unhandled rejection; SIGTERM afterwards logs "node stopped", exits 0 and removes daemon.lock;
 * - offline attach: the same refusal, the lock released; after space is freed, attach works;
 * - daemon init on a full disk fails without leaving a 0-byte config, and works once space is freed;
 * - a 0-byte sector-manager.cfg (what the old init left) is refused by daemon run, and replaced by init.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { homePaths } from "../../src/daemon/home.js";
import { shapeByName } from "../../src/proofs/sectorShapes.js";
import { type Proc, runCli, startCli } from "../../src/util/childProcess.js";
import { writeLayoutOnlySector } from "../helpers/layoutOnlySector.js";
import { tempDir } from "../helpers/tmp.js";

const MINER = 1000;
const SECTORS = 40;
const k2 = shapeByName("2KiB");

function mountTmpfs(dir: string): void {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", dir], { stdio: "pipe" });
  } catch (e) {
    throw new Error(
      `cannot mount a tmpfs at ${dir} (${(e as Error).message.split("\n")[0]}): the full-disk tests need root, or unprivileged user namespaces for \`unshare -rm\``,
    );
  }
}

function withoutTestContext(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _, ...rest } = env;
  return rest;
}

/** Set in the copy of this file that runs inside the namespace. */
const IN_NAMESPACE = process.env.VSM_DISKFULL_NAMESPACE === "1";
const NEEDS_NAMESPACE = !IN_NAMESPACE && process.getuid?.() !== 0;

/**
 * Fill the filesystem of `file` to the last block. `${file}.reserve` holds two pages that a test can
 * free to leave room for a small file (the home lock) but not for a database commit.
 */
async function fill(file: string): Promise<void> {
  await fs.writeFile(`${file}.reserve`, Buffer.alloc(8192));
  const fh = await fs.open(file, "w");
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) await fh.write(chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
  } finally {
    await fh.close().catch(() => {});
  }
  // Small writes may still find a partial block; take those too.
  const small = await fs.open(`${file}.2`, "w");
  try {
    for (;;) await small.write(Buffer.alloc(512));
  } catch {
    // full
  } finally {
    await small.close().catch(() => {});
  }
}

async function unfill(file: string): Promise<void> {
  await fs.rm(file, { force: true });
  await fs.rm(`${file}.2`, { force: true });
  await fs.rm(`${file}.reserve`, { force: true });
}

const exists = (p: string) =>
  fs.stat(p).then(
    () => true,
    () => false,
  );

if (NEEDS_NAMESPACE) {
  describe("disk full (real tmpfs, in a user + mount namespace)", () => {
    test("every full-disk test passes inside `unshare -rm`", async () => {
      const file = fileURLToPath(import.meta.url);
      const r = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
        const child = spawn(
          "unshare",
          ["-rm", process.execPath, "--import", "tsx", "--test", "--test-reporter=spec", file],
          {
            cwd: path.resolve(path.dirname(file), "../.."),
            // Without NODE_TEST_CONTEXT: the inner run is a test run of its own, not a subtest.
            env: { ...withoutTestContext(process.env), VSM_DISKFULL_NAMESPACE: "1" },
            stdio: ["ignore", "pipe", "pipe"],
          },
        );
        let out = "";
        child.stdout.on("data", (b: Buffer) => {
          out += b.toString();
        });
        child.stderr.on("data", (b: Buffer) => {
          out += b.toString();
        });
        const kill = setTimeout(() => child.kill("SIGKILL"), 240_000);
        child.on("error", reject);
        child.on("close", (code) => {
          clearTimeout(kill);
          resolve({ code, out });
        });
      });
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /ℹ pass [1-9]/, r.out);
      assert.match(r.out, /ℹ fail 0\b/, r.out);
      assert.match(r.out, /ℹ skipped 0\b/, r.out);
    });
  });
} else
  describe("disk full (real tmpfs)", () => {
    let root = "";
    let cleanup = async () => {};
    let mnt = "";
    let mounted = false;
    let storeDir = "";
    let home = "";
    let filler = "";
    const procs: Proc[] = [];

    before(async () => {
      ({ dir: root, cleanup } = await tempDir("vsm-diskfull-"));
      mnt = path.join(root, "mnt");
      await fs.mkdir(mnt);
      mountTmpfs(mnt);
      mounted = true;
      storeDir = path.join(root, "store1");
      home = path.join(mnt, "home");
      filler = path.join(mnt, "filler");
      if (!k2) throw new Error("no 2KiB shape");
      for (let n = 1; n <= SECTORS; n++) await writeLayoutOnlySector(storeDir, "normal", MINER, n, k2);
    });

    after(async () => {
      await Promise.all(procs.map((p) => p.stop(2000)));
      if (mounted) execFileSync("umount", [mnt], { stdio: "pipe" });
      await cleanup();
    });

    test("attach through the daemon on a full disk: an error of that request; SIGTERM then stops cleanly", async () => {
      const init = await runCli(["--home", home, "daemon", "init"]);
      assert.equal(init.code, 0, init.output);
      await fs.appendFile(
        homePaths(home).sectorManagerCfg,
        `\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(storeDir)}\n`,
      );
      const d = startCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0"], {
        env: { ...process.env, VSM_LOG_LEVEL: "info" },
      });
      procs.push(d);
      await d.waitForLine(/node ready/, 20_000);
      await fill(filler);

      const r = await runCli(["--home", home, "util", "storage", "attach", "--name", "store1", storeDir]);
      assert.equal(r.code, 1, r.output);
      assert.match(
        r.output,
        /^error: cannot write the sector index in .*\/db: the disk is full \(.*No space left on device.*\); nothing of this request was stored; free space on that disk and retry$/m,
      );
      assert.doesNotMatch(r.output, /internal error|Commit failed/);
      await d.waitForLine(/ERROR\tdaemon\t.*sector index write failed\t.*STORE_DISK_FULL/, 5000);

      // The node still answers, and stops cleanly.
      const list = await runCli(["--home", home, "util", "storage", "list"]);
      assert.equal(list.code, 0, list.output);
      const exit = await d.stop(15_000);
      assert.deepEqual(exit, { code: 0, signal: null }, d.lines.join("\n"));
      assert.ok(
        d.lines.some((l) => /\tnode stopped/.test(l)),
        d.lines.join("\n"),
      );
      assert.ok(!d.lines.some((l) => /unhandled rejection/.test(l)), d.lines.join("\n"));
      assert.equal(await exists(homePaths(home).lock), false, "daemon.lock removed");
    });

    test("offline attach on a full disk: refused with the cause, lock released; after freeing space it works", async () => {
      const r = await runCli(["--home", home, "util", "storage", "attach", "--name", "store1", storeDir]);
      assert.equal(r.code, 1, r.output);
      assert.match(
        r.output,
        /^error: cannot (write the sector index in .*: the disk is full|create .*daemon\.lock: .*ENOSPC)/m,
      );
      assert.doesNotMatch(r.output, /unhandled|Commit failed|internal error/);
      assert.equal(await exists(homePaths(home).lock), false, "no lock left behind");

      await unfill(filler);
      const ok = await runCli([
        "--home",
        home,
        "util",
        "storage",
        "attach",
        "--name",
        "store1",
        "--json",
        storeDir,
      ]);
      assert.equal(ok.code, 0, ok.output);
      assert.equal((JSON.parse(ok.output) as { attached: { normal: number } }).attached.normal, SECTORS);
    });

    test("daemon init on a full disk leaves no 0-byte config, and works once there is space", async () => {
      const home2 = path.join(mnt, "home2");
      await fill(filler);
      const r = await runCli(["--home", home2, "daemon", "init"]);
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, /^error: cannot (write|create) .*ENOSPC/m);
      for (const f of [homePaths(home2).sectorManagerCfg, homePaths(home2).extProverCfg]) {
        const st = await fs.stat(f).catch(() => undefined);
        assert.ok(st === undefined || st.size > 0, `${f} is ${st?.size} bytes`);
      }
      const left = (await fs.readdir(home2).catch(() => [] as string[])).filter((n) => n.includes(".tmp-"));
      assert.deepEqual(left, [], "no temp file left");

      await unfill(filler);
      const again = await runCli(["--home", home2, "daemon", "init"]);
      assert.equal(again.code, 0, again.output);
      assert.match(await fs.readFile(homePaths(home2).sectorManagerCfg, "utf8"), /^# Default config:/);
    });

    test("a 0-byte sector-manager.cfg is refused by daemon run and replaced by daemon init", async () => {
      const home3 = path.join(root, "home3");
      assert.equal((await runCli(["--home", home3, "daemon", "init"])).code, 0);
      const cfg = homePaths(home3).sectorManagerCfg;
      await fs.writeFile(cfg, "");
      const run = await runCli(["--home", home3, "daemon", "run", "--listen=127.0.0.1:0"]);
      assert.equal(run.code, 1, run.output);
      assert.match(run.output, /^error: .*sector-manager\.cfg is empty \(0 bytes\).*daemon init/m);
      const init = await runCli(["--home", home3, "daemon", "init"]);
      assert.equal(init.code, 0, init.output);
      assert.match(init.output, /created .*sector-manager\.cfg/);
      assert.match(await fs.readFile(cfg, "utf8"), /^# Default config:/);
    });
  });
