/**
 * Migrations on a real PostgreSQL server: from an empty database, five nodes starting at once (each
 * migration applied once, every call succeeds), and a database newer than this build refused.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { nullLogger } from "../../../src/log/logger.js";
import { openPg, type Pg } from "../../../src/store/pg/db.js";
import { migrate } from "../../../src/store/pg/migrations.js";
import { MIGRATIONS, SCHEMA_VERSION } from "../../../src/store/pg/schema.js";
import { SmError } from "../../../src/util/errors.js";
import { type PgServer, startPg } from "../../helpers/pgServer.js";

describe("pg migrations", { timeout: 60_000 }, () => {
  let server: PgServer;
  const clients: Pg[] = [];
  const open = (dsn: string): Pg => {
    const pg = openPg(dsn, { logger: nullLogger, applicationName: "vsm-test" });
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

  test("an empty database gets every migration, and a second run finds nothing to do", async () => {
    const pg = open(await server.createDatabase("empty"));
    const first = await migrate(pg, { logger: nullLogger, node: "n1" });
    assert.deepEqual(first, { from: 0, to: SCHEMA_VERSION, applied: MIGRATIONS.map((m) => m.version) });
    const tables = await pg.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    assert.deepEqual(
      tables.map((t) => t.table_name),
      [
        "cluster_nodes",
        "message_groups",
        "partition_proofs",
        "partition_tasks",
        "recoveries",
        "sector_index",
        "task_history",
        "vsm_migrations",
        "vsm_schema",
      ],
    );
    const again = await migrate(pg, { logger: nullLogger, node: "n1" });
    assert.deepEqual(again, { from: SCHEMA_VERSION, to: SCHEMA_VERSION, applied: [] });
  });

  test("a migration slower than the client's statement bound is not cancelled (it has its own bound)", async () => {
    const pg = openPg(await server.createDatabase("slow"), {
      logger: nullLogger,
      applicationName: "vsm-test",
      queryTimeoutMs: 1000,
      txTimeoutMs: 1000,
    });
    clients.push(pg);
    const result = await migrate(pg, {
      logger: nullLogger,
      node: "n1",
      migrations: [
        { version: 1, name: "slow", statements: ["SELECT pg_sleep(1.5)", "CREATE TABLE slow (id INT)"] },
      ],
    });
    assert.deepEqual(result.applied, [1]);
    // The raised bounds were for that transaction only.
    await assert.rejects(
      pg.query("SELECT pg_sleep(1.5)"),
      (e: unknown) => e instanceof SmError && e.fields.sqlstate === "57014",
    );
  });

  test("five nodes migrating one database at once all succeed, and each migration is applied once", async () => {
    const dsn = await server.createDatabase("concurrent");
    // Separate clients: separate connections, as separate nodes would have.
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((i) => migrate(open(dsn), { logger: nullLogger, node: `n${i}` })),
    );
    const applied = results.flatMap((r) => r.applied).sort((a, b) => a - b);
    assert.deepEqual(
      applied,
      MIGRATIONS.map((m) => m.version),
    );
    for (const r of results) assert.equal(r.to, SCHEMA_VERSION);
    const log = await open(dsn).query<{ version: string; n: string }>(
      "SELECT version, count(*) AS n FROM vsm_migrations GROUP BY version ORDER BY version",
    );
    assert.deepEqual(
      log.map((r) => [Number(r.version), Number(r.n)]),
      MIGRATIONS.map((m) => [m.version, 1]),
    );
  });

  test("a database with a newer schema is refused with STORE_VERSION_MISMATCH", async () => {
    const pg = open(await server.createDatabase("newer"));
    await migrate(pg, { logger: nullLogger, node: "n1" });
    await pg.query("UPDATE vsm_schema SET version = $1 WHERE id = 1", [SCHEMA_VERSION + 1]);
    await assert.rejects(migrate(pg, { logger: nullLogger, node: "old" }), (e: unknown) => {
      assert.ok(e instanceof SmError);
      assert.equal(e.code, "STORE_VERSION_MISMATCH");
      assert.deepEqual(e.fields, { found: SCHEMA_VERSION + 1, known: SCHEMA_VERSION });
      assert.match(e.message, /newer than this build/);
      return true;
    });
  });
});
