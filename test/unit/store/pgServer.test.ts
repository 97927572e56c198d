/**
 * The test server helper itself (test/helpers/pgServer.ts): a restart whose port is briefly taken
 * waits for it instead of failing, and destroy() leaves no postmaster behind even when pg_ctl could
 * not stop it; `listen` adds an address, and one the host does not have fails the start.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { describe, test } from "node:test";
import { pgBinDir, startPg } from "../../helpers/pgServer.js";

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(port, "127.0.0.1", () => resolve(srv));
  });
}

/** Running, not a zombie waiting for a parent (a container's init may never reap it). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

describe("test PostgreSQL server helper", { timeout: 120_000 }, () => {
  test("start() on a port another process holds for a moment retries until it is free", async () => {
    const server = await startPg();
    try {
      await server.stop();
      const squatter = await listen(server.port);
      setTimeout(() => squatter.close(), 1000);
      await server.start();
      assert.equal(server.psql("postgres", "SELECT 1").trim(), "1");
    } finally {
      await server.destroy();
    }
  });

  test("listen on an address that is not local fails the start and leaves nothing", async () => {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this host.
    let dir = "";
    await assert.rejects(startPg({ listen: ["192.0.2.77"] }), (e: Error) => {
      dir = /\(its directory (\S+) was removed\)/.exec(e.message)?.[1] ?? "";
      return /could not listen on 192\.0\.2\.77/.test(e.message);
    });
    // Named by the error, not counted in the temp directory, where other test files' servers come and go.
    assert.match(dir, /vsm-pg-/);
    assert.equal(fs.existsSync(dir), false, `${dir} was left behind`);
  });

  test("listen: the server also answers on a listed address, and dsn() names it", async () => {
    // 127.0.0.2 is loopback, so this needs no namespace (the client's source address is still
    // 127.0.0.1: `trust` is proven by test/unit/helpers/netns.test.ts, from another address).
    const server = await startPg({ listen: ["127.0.0.2"] });
    try {
      assert.equal(
        server.dsn("postgres", "127.0.0.2"),
        `postgres://postgres@127.0.0.2:${server.port}/postgres`,
      );
      const r = spawnSync(
        path.join(pgBinDir(), "psql"),
        [
          "-h",
          "127.0.0.2",
          "-p",
          String(server.port),
          "-U",
          "postgres",
          "-d",
          "postgres",
          "-XAtc",
          "SELECT 1",
        ],
        { encoding: "utf8", timeout: 10_000 },
      );
      assert.equal(r.stdout.trim(), "1", r.stderr);
    } finally {
      await server.destroy();
    }
  });

  test("destroy() kills a postmaster pg_ctl could not stop before removing its directory", async () => {
    const server = await startPg();
    const pid = Number(
      fs.readFileSync(path.join(server.dir, "data", "postmaster.pid"), "utf8").split("\n")[0],
    );
    // As a pg_ctl stop that timed out: overriding stop() is the only way to make it fail at once.
    (server as unknown as { stop: () => Promise<void> }).stop = async () => {
      throw new Error("pg_ctl stop timed out (simulated)");
    };
    await assert.rejects(server.destroy(), /simulated/);
    assert.equal(fs.existsSync(server.dir), false);
    const deadline = Date.now() + 5000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(alive(pid), false, `postmaster ${pid} still runs`);
  });
});
