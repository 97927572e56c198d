import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import { loadConfigDir } from "../../../src/config/load.js";
import {
  acquireHomeLock,
  homePaths,
  initHome,
  lockHolder,
  readSecret,
  readToken,
  resolveHome,
} from "../../../src/daemon/home.js";
import { hasPermission, verifyToken } from "../../../src/rpc/auth.js";
import { SmError } from "../../../src/util/errors.js";
import { tempDir } from "../../helpers/tmp.js";

describe("home", () => {
  test("--home beats the environment, which beats the default", () => {
    assert.equal(resolveHome("/a", { VENUS_SECTOR_MANAGER_PATH: "/b" }), "/a");
    assert.equal(resolveHome(undefined, { VENUS_SECTOR_MANAGER_PATH: "/b" }), "/b");
    assert.match(resolveHome(undefined, {}), /\.venus-sector-manager$/);
  });

  test("init writes loadable defaults and an admin token, and never overwrites", async () => {
    const t = await tempDir();
    try {
      const home = path.join(t.dir, "h");
      const first = await initHome(home);
      assert.equal(first.created.length, 4);
      const p = homePaths(home);
      const loaded = await loadConfigDir(home);
      assert.deepEqual(loaded.sectorManager.warnings, []);
      assert.equal(loaded.extProver?.config.WdPost.length, 1);
      const perms = verifyToken(await readSecret(home), (await readToken(home)) ?? "");
      assert.ok(hasPermission(perms, "admin") && hasPermission(perms, "write"));
      assert.equal((await fs.stat(p.token)).mode & 0o777, 0o600);
      assert.equal((await fs.stat(p.secret)).mode & 0o777, 0o600);
      await fs.writeFile(p.sectorManagerCfg, "# mine\n");
      const token = await readToken(home);
      const again = await initHome(home);
      assert.equal(again.created.length, 0);
      assert.equal(again.kept.length, 4);
      assert.equal(await fs.readFile(p.sectorManagerCfg, "utf8"), "# mine\n");
      assert.equal(await readToken(home), token);
      // a home that lost only ext-prover.cfg gets it back (damocles could not do this)
      await fs.rm(p.extProverCfg);
      assert.deepEqual((await initHome(home)).created, [p.extProverCfg]);
    } finally {
      await t.cleanup();
    }
  });

  test("the lock refuses a second holder and is taken over from a dead one", async () => {
    const t = await tempDir();
    try {
      const lock = await acquireHomeLock(t.dir, "daemon run");
      await assert.rejects(
        acquireHomeLock(t.dir, "util storage attach"),
        (e: unknown) =>
          e instanceof SmError && e.code === "HOME_LOCKED" && e.message.includes(`pid ${process.pid}`),
      );
      await lock.release();
      assert.equal(await lockHolder(t.dir), undefined);
      // a lock file left by a process that has exited
      const child = spawn(process.execPath, ["-e", "0"]);
      const pid = child.pid;
      await new Promise((r) => child.on("exit", r));
      await fs.writeFile(
        homePaths(t.dir).lock,
        JSON.stringify({
          pid,
          purpose: "daemon run",
          startedAt: "x",
          host: (await import("node:os")).hostname(),
        }),
      );
      const again = await acquireHomeLock(t.dir, "daemon run");
      assert.equal((await lockHolder(t.dir))?.pid, process.pid);
      await again.release();
    } finally {
      await t.cleanup();
    }
  });
});
