/**
 * A connection the server drops while a call is on it (a crash, a restart, a failover, an operator's
 * pg_terminate_backend), on a real server: the call fails with a transient code, the process lives on,
 * and the same `Pg` answers again at once. postgres.js 3.4.10 alone fails both ways: a transaction
 * whose connection closes sends its ROLLBACK on the dead connection and kills the process with an
 * uncaught TypeError, and the lost connection, when reused, fails the calls after it (it waits out the
 * connect timeout, or returns the error its server sent before closing) (src/store/pg/db.ts,
 * connectionLost). One connection per client here, so the call after the loss
 * gets the very connection that was lost.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { memoryLogger } from "../../../src/log/logger.js";
import { isTransient } from "../../../src/poster/retry.js";
import { openPg, type Pg } from "../../../src/store/pg/db.js";
import { SmError } from "../../../src/util/errors.js";
import { type PgServer, startPg } from "../../helpers/pgServer.js";

const APP = "vsm-conn-loss";

describe("a connection lost under a call", { timeout: 60_000 }, () => {
  let server: PgServer;
  let pg: Pg | undefined;
  const log = memoryLogger("info");

  before(async () => {
    server = await startPg();
    const dsn = await server.createDatabase("loss");
    pg = openPg(dsn, {
      logger: log.logger,
      applicationName: APP,
      maxConnections: 1,
      connectTimeoutMs: 2000,
      queryTimeoutMs: 20_000,
    });
  });
  after(async () => {
    await pg?.close();
    await server?.destroy();
  });

  /** Terminates the backend running `marker` (from another connection) once it runs. */
  async function terminate(marker: string): Promise<void> {
    const until = Date.now() + 10_000;
    for (;;) {
      const pid = server
        .psql(
          "postgres",
          `SELECT pid FROM pg_stat_activity WHERE application_name = '${APP}' AND state = 'active' AND query LIKE '%${marker}%'`,
        )
        .trim();
      if (pid !== "") {
        server.psql("postgres", `SELECT pg_terminate_backend(${pid})`);
        return;
      }
      assert.ok(Date.now() < until, `the statement ${marker} is running`);
      await sleep(50);
    }
  }

  const transient = (e: unknown) => {
    assert.ok(e instanceof SmError, String(e));
    assert.equal(e.code, "STORE_DB_UNREACHABLE", e.message);
    assert.ok(isTransient(e));
    return true;
  };

  /** The next call answers well within the connect timeout (a stuck connection would wait it out). */
  async function answersAtOnce(db: Pg): Promise<void> {
    // Let whatever the lost connection left scheduled run first: a write on a dead socket would
    // kill this process here.
    await sleep(200);
    const t0 = Date.now();
    const rows = await db.tx((q) => q.query<{ one: number }>("SELECT 1 AS one"));
    assert.deepEqual(rows, [{ one: 1 }]);
    assert.ok(Date.now() - t0 < 1500, `answered in ${Date.now() - t0} ms`);
  }

  test("in a transaction: it fails transient, nothing is sent on the dead connection, the next call answers", async () => {
    assert.ok(pg);
    const db = pg;
    await db.query("SELECT 1");
    let afterLoss = false;
    const call = db.tx(async (q) => {
      await q.query("SELECT pg_sleep(20) AS tx_marker");
      // Never reached: the body does not go on after its connection is lost.
      afterLoss = true;
      await q.query("SELECT 2");
    });
    await terminate("tx_marker");
    await assert.rejects(call, transient);
    await answersAtOnce(db);
    assert.equal(afterLoss, false, "the body stopped at the lost statement");
    // The operator sees the loss, the client replaced, and the database back.
    const said = (msg: string) => log.lines.findIndex((l) => l.includes(msg));
    assert.ok(said("database unreachable") >= 0, log.lines.join("\n"));
    assert.ok(said("database connections replaced") >= 0, log.lines.join("\n"));
    assert.ok(said("database reachable again") > said("database unreachable"), log.lines.join("\n"));
  });

  test("in a single statement: it fails transient, the next call answers", async () => {
    assert.ok(pg);
    const db = pg;
    const call = db.query("SELECT pg_sleep(20) AS query_marker");
    await terminate("query_marker");
    await assert.rejects(call, transient);
    await answersAtOnce(db);
  });
});
