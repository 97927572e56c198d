/**
 * Failover through a multi-host DSN on real servers: a primary and its streaming standby, the standby
 * named first. `target_session_attrs=read-write` must reach the primary (never settle on the standby);
 * while the primary is down and the standby not yet promoted, calls fail with a transient code instead
 * of reading the standby; once the standby is promoted, the same `Pg` works again, writes included.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { nullLogger } from "../../../src/log/logger.js";
import { isTransient } from "../../../src/poster/retry.js";
import { openPg, type Pg } from "../../../src/store/pg/db.js";
import { SmError } from "../../../src/util/errors.js";
import { type PgServer, startPg } from "../../helpers/pgServer.js";

async function eventually<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe("pg failover", { timeout: 60_000 }, () => {
  let primary: PgServer;
  let standby: PgServer;
  let pg: Pg | undefined;

  before(async () => {
    primary = await startPg();
    await primary.createDatabase("cluster");
    standby = await startPg({ standbyOf: primary });
  });
  after(async () => {
    await pg?.close();
    await standby?.destroy();
    await primary?.destroy();
  });

  test("read-write reaches the primary, and the promoted standby after the primary dies", async () => {
    const dsn = `postgres://postgres@127.0.0.1:${standby.port},127.0.0.1:${primary.port}/cluster?target_session_attrs=read-write`;
    pg = openPg(dsn, {
      logger: nullLogger,
      applicationName: "vsm-test",
      connectTimeoutMs: 1000,
      queryTimeoutMs: 3000,
    });
    const [where] = await pg.query<{ port: number; standby: boolean }>(
      "SELECT inet_server_port() AS port, pg_is_in_recovery() AS standby",
    );
    assert.deepEqual(where, { port: primary.port, standby: false });
    await pg.query("CREATE TABLE t (id INT PRIMARY KEY)");
    await pg.tx((q) => q.query("INSERT INTO t VALUES (1)"));
    // The standby has the row before the primary dies (replication is asynchronous).
    await eventually(10_000, async () =>
      assert.equal(standby.psql("cluster", "SELECT count(*) FROM t").trim(), "1"),
    );

    await primary.stop({ mode: "immediate" });
    await assert.rejects(pg.query("SELECT id FROM t"), (e: unknown) => {
      assert.ok(e instanceof SmError, String(e));
      assert.equal(e.code, "STORE_DB_UNREACHABLE");
      assert.ok(isTransient(e));
      return true;
    });

    await standby.promote();
    const rows = await eventually(
      15_000,
      async () => (await pg?.query<{ id: number }>("SELECT id FROM t ORDER BY id")) ?? [],
    );
    assert.deepEqual(rows, [{ id: 1 }]);
    await pg.tx((q) => q.query("INSERT INTO t VALUES (2)"));
    const [now] = await pg.query<{ port: number; standby: boolean }>(
      "SELECT inet_server_port() AS port, pg_is_in_recovery() AS standby",
    );
    assert.deepEqual(now, { port: standby.port, standby: false });
  });
});
