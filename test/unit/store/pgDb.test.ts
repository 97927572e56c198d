/**
 * The database client on a real PostgreSQL server: `tx` retries real serialization failures and gives
 * up after its limit with STORE_DB_CONFLICT; after the server stops hard and starts again, the same
 * `Pg` works again by itself, and while it is down calls fail quickly with a transient code.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createLogger, nullLogger } from "../../../src/log/logger.js";
import { isTransient } from "../../../src/poster/retry.js";
import { openPg, type Pg } from "../../../src/store/pg/db.js";
import { SmError } from "../../../src/util/errors.js";
import { type PgServer, startPg } from "../../helpers/pgServer.js";

/** Retries `fn` every 100 ms until it succeeds or `ms` pass; the last error otherwise. */
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

describe("pg client", { timeout: 60_000 }, () => {
  let server: PgServer;
  const clients: Pg[] = [];
  const open = (dsn: string, o: { queryTimeoutMs?: number } = {}): Pg => {
    const pg = openPg(dsn, { logger: nullLogger, applicationName: "vsm-test", connectTimeoutMs: 1000, ...o });
    clients.push(pg);
    return pg;
  };

  before(async () => {
    server = await startPg();
  });
  after(async () => {
    for (const c of clients) await c.close();
    await server?.destroy();
  });

  test("tx runs again after a real serialization failure (40001) and both increments land", async () => {
    const pg = open(await server.createDatabase("conflict"));
    await pg.query("CREATE TABLE counter (id INT PRIMARY KEY, v BIGINT NOT NULL)");
    await pg.query("INSERT INTO counter VALUES (1, 0)");
    // Both transactions read before either writes, so one of them must fail to serialize.
    let readers = 0;
    let release: () => void = () => {};
    const bothRead = new Promise<void>((r) => {
      release = r;
    });
    let runs = 0;
    const increment = () =>
      pg.tx(async (q) => {
        runs++;
        const [row] = await q.query<{ v: string }>("SELECT v FROM counter WHERE id = 1");
        if (++readers === 2) release();
        await bothRead;
        await q.query("UPDATE counter SET v = $1 WHERE id = 1", [Number(row?.v) + 1]);
      });
    await Promise.all([increment(), increment()]);
    const [row] = await pg.query<{ v: string }>("SELECT v FROM counter WHERE id = 1");
    assert.equal(Number(row?.v), 2, "no increment lost");
    assert.equal(runs, 3, "the loser ran once more");
  });

  test("tx gives up after its attempts with STORE_DB_CONFLICT, a transient code", async () => {
    const pg = open(await server.createDatabase("giveup"));
    await pg.query("CREATE TABLE counter (id INT PRIMARY KEY, v BIGINT NOT NULL)");
    await pg.query("INSERT INTO counter VALUES (1, 0)");
    let runs = 0;
    const always = pg.tx(
      async (q) => {
        runs++;
        await q.query("SELECT v FROM counter WHERE id = 1");
        // Another connection changes the row after this transaction's snapshot: every try conflicts.
        await pg.query("UPDATE counter SET v = v + 100 WHERE id = 1");
        await q.query("UPDATE counter SET v = v + 1 WHERE id = 1");
      },
      { attempts: 3 },
    );
    await assert.rejects(always, (e: unknown) => {
      assert.ok(e instanceof SmError);
      assert.equal(e.code, "STORE_DB_CONFLICT");
      assert.equal(e.fields.sqlstate, "40001");
      assert.equal(e.fields.attempts, 3);
      assert.ok(isTransient(e));
      return true;
    });
    assert.equal(runs, 3);
    const [row] = await pg.query<{ v: string }>("SELECT v FROM counter WHERE id = 1");
    assert.equal(Number(row?.v), 300, "none of the failed tries committed");
  });

  test("an error of the transaction body reaches the caller unchanged and rolls back", async () => {
    const pg = open(await server.createDatabase("body"));
    await pg.query("CREATE TABLE t (id INT PRIMARY KEY)");
    const mine = new Error("body failed");
    await assert.rejects(
      pg.tx(async (q) => {
        await q.query("INSERT INTO t VALUES (1)");
        throw mine;
      }),
      (e: unknown) => e === mine,
    );
    assert.deepEqual(await pg.query("SELECT id FROM t"), []);
  });

  test("a body that swallows a failed statement does not pass for committed", async () => {
    const pg = open(await server.createDatabase("swallow"));
    await pg.query("CREATE TABLE t (id INT PRIMARY KEY)");
    await assert.rejects(
      pg.tx(async (q) => {
        await q.query("INSERT INTO t VALUES (1)");
        await q.query("SELECT * FROM no_such_table").catch(() => []);
      }),
      (e: unknown) => e instanceof SmError && e.code === "STORE_DB_ERROR" && e.fields.sqlstate === "42P01",
    );
    assert.deepEqual(await pg.query("SELECT id FROM t"), []);
  });

  test("an SQL error is STORE_DB_ERROR with its SQLSTATE", async () => {
    const pg = open(await server.createDatabase("sqlerr"));
    await assert.rejects(pg.query("SELECT * FROM no_such_table"), (e: unknown) => {
      assert.ok(e instanceof SmError);
      assert.equal(e.code, "STORE_DB_ERROR");
      assert.equal(e.fields.sqlstate, "42P01");
      assert.ok(!isTransient(e));
      return true;
    });
  });

  test("the same Pg works again after the server stops hard and starts again", async () => {
    const pg = open(await server.createDatabase("restart"), { queryTimeoutMs: 3000 });
    await pg.query("CREATE TABLE t (id INT PRIMARY KEY)");
    await pg.query("INSERT INTO t VALUES (1)");
    await server.stop({ mode: "immediate" });
    try {
      const t0 = Date.now();
      await assert.rejects(pg.query("SELECT id FROM t"), (e: unknown) => {
        assert.ok(e instanceof SmError);
        assert.equal(e.code, "STORE_DB_UNREACHABLE");
        assert.ok(isTransient(e));
        return true;
      });
      await assert.rejects(
        pg.tx((q) => q.query("SELECT id FROM t")),
        (e: unknown) => e instanceof SmError && e.code === "STORE_DB_UNREACHABLE",
      );
      assert.ok(Date.now() - t0 < 5000, "a call to a stopped server fails quickly");
    } finally {
      await server.start();
    }
    const rows = await eventually(10_000, () => pg.query<{ id: number }>("SELECT id FROM t"));
    assert.deepEqual(rows, [{ id: 1 }]);
    await pg.tx((q) => q.query("INSERT INTO t VALUES (2)"));
  });

  test("a slow statement or a lock wait is cancelled by the server; the client is kept for the others", async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: "info", format: "json", sink: (l) => lines.push(l) });
    const pg = openPg(await server.createDatabase("slow"), {
      logger,
      applicationName: "vsm-test",
      connectTimeoutMs: 1000,
      queryTimeoutMs: 1000,
    });
    clients.push(pg);
    await pg.query("CREATE TABLE t (id INT PRIMARY KEY, v INT)");
    await pg.query("INSERT INTO t VALUES (1, 0)");
    const slow = pg.query("SELECT pg_sleep(3)");
    // Runs past the moment the client's own timer would have replaced the whole client.
    await new Promise((r) => setTimeout(r, 500));
    const healthy = pg.query<{ ok: number }>("SELECT 1 AS ok FROM pg_sleep(0.6)");
    await assert.rejects(slow, (e: unknown) => {
      assert.ok(e instanceof SmError);
      assert.equal(e.fields.sqlstate, "57014");
      assert.ok(isTransient(e));
      return true;
    });
    assert.deepEqual(await healthy, [{ ok: 1 }]);

    let locked: () => void = () => {};
    const held = new Promise<void>((r) => {
      locked = r;
    });
    let release: () => void = () => {};
    const done = new Promise<void>((r) => {
      release = r;
    });
    const holder = pg.tx(async (q) => {
      await q.query("SELECT v FROM t WHERE id = 1 FOR UPDATE");
      locked();
      await done;
    });
    await held;
    await assert.rejects(
      pg.query("UPDATE t SET v = 1 WHERE id = 1"),
      (e: unknown) => e instanceof SmError && e.fields.sqlstate === "55P03" && isTransient(e),
    );
    release();
    await holder;
    await pg.query("UPDATE t SET v = 1 WHERE id = 1");
    assert.ok(!lines.some((l) => /connections replaced/.test(l)), lines.join(""));
  });

  test("a DSN that is not a postgres URL is refused at once", () => {
    assert.throws(
      () => openPg("mysql://h/db", { logger: nullLogger, applicationName: "t" }),
      (e: unknown) => e instanceof SmError && e.code === "STORE_DB_DSN_INVALID",
    );
    assert.throws(
      () =>
        openPg("postgres://h/db?target_session_attrs=bogus", { logger: nullLogger, applicationName: "t" }),
      (e: unknown) => e instanceof SmError && e.code === "STORE_DB_DSN_INVALID",
    );
    assert.throws(
      () => openPg("postgres://u:p@ss@h/db", { logger: nullLogger, applicationName: "t" }),
      (e: unknown) => e instanceof SmError && e.code === "STORE_DB_DSN_INVALID" && !/p@|ss@/.test(e.message),
    );
    assert.equal(
      openPg("postgres://u:p%40ss@h,[::1]:6000/db", { logger: nullLogger, applicationName: "t" }).description,
      "h:5432,[::1]:6000",
    );
  });
});

describe("pg client on a silent server", { timeout: 60_000 }, () => {
  let server: PgServer;
  let pg: Pg | undefined;
  before(async () => {
    server = await startPg();
  });
  after(async () => {
    await pg?.close();
    await server?.destroy();
  });

  test("a server that stops answering fails calls after the statement bound, and the same Pg recovers", async () => {
    pg = openPg(await server.createDatabase("frozen"), {
      logger: nullLogger,
      applicationName: "vsm-test",
      connectTimeoutMs: 1000,
      queryTimeoutMs: 1000,
    });
    await pg.query("CREATE TABLE t (id INT PRIMARY KEY)");
    server.freeze(true);
    try {
      const t0 = Date.now();
      await assert.rejects(pg.query("SELECT id FROM t"), (e: unknown) => {
        assert.ok(e instanceof SmError);
        assert.equal(e.code, "STORE_DB_UNREACHABLE");
        assert.ok(isTransient(e));
        return true;
      });
      await assert.rejects(
        pg.tx((q) => q.query("INSERT INTO t VALUES (1)")),
        (e: unknown) => e instanceof SmError && e.code === "STORE_DB_UNREACHABLE",
      );
      assert.ok(Date.now() - t0 < 5000, `bounded: ${Date.now() - t0} ms`);
    } finally {
      server.freeze(false);
    }
    await eventually(
      10_000,
      () =>
        pg?.tx((q) => q.query("INSERT INTO t VALUES (1) ON CONFLICT (id) DO NOTHING")) ?? Promise.resolve([]),
    );
    assert.deepEqual(await pg.query("SELECT id FROM t"), [{ id: 1 }]);
  });
});
