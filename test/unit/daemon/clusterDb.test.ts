/**
 * `daemon run` with [Common.DB] Driver = "postgres", on a real PostgreSQL server: the node migrates the
 * database and uses it as its sector index, so what one node records another reads directly; the node
 * shows its --name; a database that is down at start does not stop the node, and lookups recover by
 * themselves once it is back; --poster on the database is refused until the cluster's task engine is in.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { defaultSectorManagerConfig } from "../../../src/config/load.js";
import { startClusterDb } from "../../../src/daemon/clusterDb.js";
import { homePaths, initHome } from "../../../src/daemon/home.js";
import { type DaemonFlags, startNode } from "../../../src/daemon/node.js";
import { createLogger, nullLogger } from "../../../src/log/logger.js";
import { RpcClient } from "../../../src/rpc/client.js";
import { SmError } from "../../../src/util/errors.js";
import { type PgServer, startPg } from "../../helpers/pgServer.js";
import { tempDir } from "../../helpers/tmp.js";

const flags = (o: Partial<DaemonFlags>): DaemonFlags => ({
  listen: { host: "127.0.0.1", port: 0 },
  miner: false,
  poster: false,
  proxy: undefined,
  proxyIndexerOff: false,
  confDir: undefined,
  extProver: false,
  proxyToken: undefined,
  ...o,
});

async function pgHome(dir: string, name: string, dsn: string): Promise<string> {
  const home = path.join(dir, name);
  await initHome(home);
  await fs.writeFile(
    homePaths(home).sectorManagerCfg,
    `[Common.DB]\nDriver = "postgres"\n[Common.DB.Postgres]\nDSN = ${JSON.stringify(dsn)}\n`,
  );
  return home;
}

describe("daemon on the cluster database", { timeout: 60_000 }, () => {
  let server: PgServer;
  let dir = "";
  let cleanup = async () => {};

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-clusterdb-"));
    server = await startPg();
  });
  after(async () => {
    await server?.destroy();
    await cleanup();
  });

  test("two nodes share one sector index in the database; the node's name is in Venus.Version", async () => {
    const dsn = await server.createDatabase("shared");
    const a = await startNode(await pgHome(dir, "a", dsn), flags({ name: "node-a" }), { logger: nullLogger });
    const b = await startNode(await pgHome(dir, "b", dsn), flags({}), { logger: nullLogger });
    try {
      assert.match(a.indexer.description, /^postgres 127\.0\.0\.1:/);
      await a.indexer.update("normal", [{ miner: 1000, number: 7, sealedFile: "s1", cacheDir: "s1" }]);
      await a.indexer.update("upgrade", [{ miner: 1000, number: 8, sealedFile: "s2", cacheDir: "c2" }]);
      assert.deepEqual(await b.indexer.find("normal", { miner: 1000, number: 7 }), {
        found: true,
        instance: { sealedFile: "s1", cacheDir: "s1" },
      });
      assert.deepEqual(await b.indexer.find("upgrade", { miner: 1000, number: 8 }), {
        found: true,
        instance: { sealedFile: "s2", cacheDir: "c2" },
      });
      assert.equal(server.psql("shared", "SELECT version FROM vsm_schema").trim().length > 0, true);
      assert.equal(a.name, "node-a");
      assert.match(b.name, /^[^:]+:\d+$/, "default name <hostname>:<port>");
      assert.equal(b.name.split(":")[1], b.api.split(":").at(-1), "the port is the one the node listens on");
      const client = new RpcClient({ url: `http://${a.api}/rpc/v0` });
      try {
        const v = await client.call<{ Name: string }>("Venus.Version", []);
        assert.equal(v.Name, "node-a");
      } finally {
        client.close();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("a database down at start: the node starts, lookups fail as transient, then recover by themselves", async () => {
    const dsn = await server.createDatabase("late");
    await server.stop();
    let node: Awaited<ReturnType<typeof startNode>> | undefined;
    try {
      node = await startNode(await pgHome(dir, "late", dsn), flags({}), { logger: nullLogger });
      const n = node;
      await assert.rejects(
        n.indexer.find("normal", { miner: 1000, number: 1 }),
        (e: unknown) => e instanceof SmError && e.code === "STORE_DB_UNREACHABLE",
      );
      await server.start();
      // No restart of the node: the next lookup migrates the schema and answers.
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          assert.deepEqual(await n.indexer.find("normal", { miner: 1000, number: 1 }), {
            found: false,
            instance: { sealedFile: "", cacheDir: "" },
          });
          break;
        } catch (e) {
          if (!(e instanceof SmError && e.code === "STORE_DB_UNREACHABLE") || Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      // And the database going away again while running is a transient failure, not a crash.
      await server.stop();
      await assert.rejects(
        n.indexer.find("normal", { miner: 1000, number: 1 }),
        (e: unknown) => e instanceof SmError && e.code === "STORE_DB_UNREACHABLE",
      );
      await server.start();
    } finally {
      await node?.close();
    }
  });

  test("a lookup that migrates before the retry loop still logs the ready line and the empty-index warning", async () => {
    const dsn = await server.createDatabase("late_ready");
    const cfg = defaultSectorManagerConfig();
    cfg.Common.DB.Driver = "postgres";
    cfg.Common.DB.Postgres.DSN = dsn;
    cfg.Common.PersistStores.push({
      Name: "s1",
      Path: path.join(dir, "s1"),
    } as (typeof cfg.Common.PersistStores)[number]);
    const lines: string[] = [];
    const logger = createLogger({ level: "info", format: "json", sink: (l) => lines.push(l) });
    await server.stop();
    const shutdown = new AbortController();
    let db: Awaited<ReturnType<typeof startClusterDb>> | undefined;
    try {
      db = await startClusterDb(cfg, {
        logger,
        name: "late",
        home: path.join(dir, "late_ready"),
        shutdown: shutdown.signal,
      });
      // The retry loop is stopped, so only the lookup can bring the schema up.
      shutdown.abort();
      await server.start();
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          await db.indexer.find("normal", { miner: 1000, number: 1 });
          break;
        } catch (e) {
          if (!(e instanceof SmError && e.code === "STORE_DB_UNREACHABLE") || Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      const until = Date.now() + 10_000;
      while (!lines.some((l) => /sector index is empty/.test(l)) && Date.now() < until)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal(lines.filter((l) => /"msg":"cluster database ready"/.test(l)).length, 1, lines.join(""));
      assert.ok(
        lines.some((l) => /sector index is empty/.test(l)),
        lines.join(""),
      );
    } finally {
      await db?.close();
    }
  });

  test("close() does not wait for a migration attempt stuck on a silent database", async () => {
    const dsn = await server.createDatabase("silent_close");
    const cfg = defaultSectorManagerConfig();
    cfg.Common.DB.Driver = "postgres";
    cfg.Common.DB.Postgres.DSN = dsn;
    server.freeze(true);
    let db: Awaited<ReturnType<typeof startClusterDb>> | undefined;
    try {
      db = await startClusterDb(cfg, { logger: nullLogger, name: "silent", home: path.join(dir, "silent") });
      // The first retry starts after 1 s and then waits on the silent server.
      await new Promise((r) => setTimeout(r, 1500));
      const t0 = Date.now();
      await db.close();
      db = undefined;
      assert.ok(Date.now() - t0 < 3000, `close() took ${Date.now() - t0} ms`);
    } finally {
      server.freeze(false);
      await db?.close();
    }
  });

  test("an empty database index with stores configured is warned about, with the migrate command", async () => {
    const home = await pgHome(dir, "empty", await server.createDatabase("empty_idx"));
    await fs.appendFile(
      homePaths(home).sectorManagerCfg,
      `[[Common.PersistStores]]\nName = "s1"\nPath = ${JSON.stringify(path.join(dir, "s1"))}\n`,
    );
    const lines: string[] = [];
    const logger = createLogger({ level: "info", format: "json", sink: (l) => lines.push(l) });
    const node = await startNode(home, flags({}), { logger });
    try {
      const deadline = Date.now() + 10_000;
      while (!lines.some((l) => /sector index is empty/.test(l)) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const warn = lines.find((l) => /sector index is empty/.test(l));
      assert.ok(warn, lines.join(""));
      assert.match(warn, /util db migrate --from-lmdb/);
      assert.ok(
        lines.some((l) => /"msg":"node ready".*"name":"[^"]+:\d+"/.test(l)),
        "the ready line names the node",
      );
    } finally {
      await node.close();
    }
  });

  test("a database that does not exist is refused at start (no retry can mend it)", async () => {
    const home = await pgHome(dir, "nodb", server.dsn("no_such_db"));
    await assert.rejects(
      startNode(home, flags({}), { logger: nullLogger }),
      (e: unknown) => e instanceof SmError && e.code === "STORE_DB_ERROR" && /no_such_db/.test(e.message),
    );
  });
});
