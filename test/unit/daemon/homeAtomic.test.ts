/**
 * Home files are written whole or not at all (finding 9), and a home that is not a directory is named
 * as such (finding 10's class).
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { homePaths, initHome, writeFileAtomic } from "../../../src/daemon/home.js";
import { tempDir } from "../../helpers/tmp.js";

describe("atomic home files", () => {
  let dir = "";
  let cleanup = async () => {};
  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-home-atomic-"));
  });
  after(() => cleanup());

  test("writeFileAtomic: no overwrite unless asked, mode kept, no temp file left", async () => {
    const f = path.join(dir, "a.cfg");
    await writeFileAtomic(f, "one\n", 0o600, { replace: false });
    await assert.rejects(writeFileAtomic(f, "two\n", 0o600, { replace: false }), { code: "EEXIST" });
    assert.equal(await fs.readFile(f, "utf8"), "one\n");
    await writeFileAtomic(f, "three\n", 0o600, { replace: true });
    assert.equal(await fs.readFile(f, "utf8"), "three\n");
    assert.equal((await fs.stat(f)).mode & 0o777, 0o600);
    assert.deepEqual(await fs.readdir(dir), ["a.cfg"]);
  });

  test("writeFileAtomic on a filesystem without hard links (FUSE, CIFS): created exclusively instead, EEXIST kept", async () => {
    const sub = path.join(dir, "nolinks");
    await fs.mkdir(sub);
    for (const code of ["EPERM", "ENOTSUP", "ENOSYS"]) {
      const f = path.join(sub, `daemon.lock.${code}`);
      let tried = 0;
      // What link(2) answers on such a mount.
      const link = async () => {
        tried++;
        throw Object.assign(new Error(`${code}: operation not permitted, link`), { code });
      };
      await writeFileAtomic(f, '{"pid":1}', 0o644, { replace: false, link });
      assert.equal(tried, 1);
      assert.equal(await fs.readFile(f, "utf8"), '{"pid":1}');
      assert.equal((await fs.stat(f)).mode & 0o777, 0o644);
      // A lock stays a lock: the name that exists is never overwritten.
      await assert.rejects(writeFileAtomic(f, '{"pid":2}', 0o644, { replace: false, link }), {
        code: "EEXIST",
      });
      assert.equal(await fs.readFile(f, "utf8"), '{"pid":1}');
    }
    assert.deepEqual(
      (await fs.readdir(sub)).sort(),
      ["daemon.lock.ENOSYS", "daemon.lock.ENOTSUP", "daemon.lock.EPERM"],
      "no temp file left",
    );
    // Any other link failure is still an error.
    await assert.rejects(
      writeFileAtomic(path.join(sub, "x"), "x", 0o644, {
        replace: false,
        link: async () => {
          throw Object.assign(new Error("EIO"), { code: "EIO" });
        },
      }),
      { code: "EIO" },
    );
    await assert.rejects(fs.stat(path.join(sub, "x")));
  });

  test("init replaces a 0-byte config left by an old failed write, keeps a real one", async () => {
    const home = path.join(dir, "h");
    await initHome(home);
    const p = homePaths(home);
    await fs.writeFile(p.sectorManagerCfg, "");
    await fs.writeFile(p.extProverCfg, "# mine\n");
    const r = await initHome(home);
    assert.ok(r.created.includes(p.sectorManagerCfg), JSON.stringify(r));
    assert.ok(r.kept.includes(p.extProverCfg), JSON.stringify(r));
    assert.match(await fs.readFile(p.sectorManagerCfg, "utf8"), /^# Default config:/);
    assert.equal(await fs.readFile(p.extProverCfg, "utf8"), "# mine\n");
  });

  test("a --home that is a file or a device says it must be a directory", async () => {
    const f = path.join(dir, "file");
    await fs.writeFile(f, "x");
    await assert.rejects(
      initHome(f),
      /home .*file \(or a parent\) exists and is not a directory; --home must be a directory/,
    );
    await assert.rejects(initHome("/dev/null"), /--home must be a directory/);
    await assert.rejects(initHome(path.join(f, "sub")), /--home must be a directory/);
  });
});
