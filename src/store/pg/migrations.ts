/**
 * Applying the schema's migrations at start, safely when several nodes start at once.
 *
 * CockroachDB has no advisory locks, so the lock is a row: `vsm_schema` holds one row (id 1) with the
 * version applied, and a migration runs inside the transaction that holds that row `FOR UPDATE`. Nodes
 * that start together queue on the row; the first applies what is missing and raises the version, the
 * others then find nothing to do (under SERIALIZABLE they get a serialization failure when the first
 * commits, and `tx` runs them again, to the same end). The bootstrap (creating the two tables and the
 * row) is idempotent, and a race between two `CREATE TABLE IF NOT EXISTS` (which PostgreSQL can lose
 * with a duplicate-key error on its catalog) is retried.
 *
 * A database whose version is newer than this build knows is refused: an older node must not work on
 * rows whose meaning has changed under it.
 */
import type { Logger } from "../../log/logger.js";
import { SmError } from "../../util/errors.js";
import { sleep } from "../../util/time.js";
import type { Pg } from "./db.js";
import { MIGRATIONS, type Migration } from "./schema.js";

export interface MigrateResult {
  /** Version found. */
  from: number;
  /** Version after. */
  to: number;
  /** Versions this call applied (empty when another node did, or nothing was missing). */
  applied: number[];
}

export interface MigrateOptions {
  logger: Logger;
  /** This node's name, recorded with each migration it applies. */
  node: string;
  /** For tests; default the schema's list. */
  migrations?: readonly Migration[];
  /**
   * Bound on the migrating transaction and each of its statements; default 5 min. A migration may
   * rebuild an index over a large table, or wait for another node's migration to commit: neither is
   * a silent server, and the client's usual bounds (seconds) would cancel them.
   */
  timeoutMs?: number;
}

const MIGRATION_TIMEOUT_MS = 300_000;

const BOOTSTRAP = [
  "CREATE TABLE IF NOT EXISTS vsm_schema (id INT PRIMARY KEY, version BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL)",
  "INSERT INTO vsm_schema (id, version, updated_at) VALUES (1, 0, now()) ON CONFLICT (id) DO NOTHING",
  `CREATE TABLE IF NOT EXISTS vsm_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_by TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
  )`,
];

/** Catalog races of concurrent `CREATE ... IF NOT EXISTS`: unique_violation, duplicate_table, duplicate_object. */
const CREATE_RACE = new Set(["23505", "42P07", "42710"]);

function checkList(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`migration list out of order: entry ${i} has version ${m.version}`);
  });
}

function tooNew(found: number, known: number): SmError {
  return new SmError(
    "STORE_VERSION_MISMATCH",
    `the cluster database has schema version ${found}, newer than this build knows (${known}): a newer version of this program migrated it; upgrade this node instead of running an older one against it`,
    { found, known },
  );
}

async function bootstrap(pg: Pg): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      for (const s of BOOTSTRAP) await pg.query(s);
      return;
    } catch (e) {
      const sqlstate = e instanceof SmError ? e.fields.sqlstate : undefined;
      if (attempt >= 5 || typeof sqlstate !== "string" || !CREATE_RACE.has(sqlstate)) throw e;
      await sleep(20 * attempt * Math.random());
    }
  }
}

/** Brings the database to this build's schema version; see the header for the concurrency rules. */
export async function migrate(pg: Pg, opts: MigrateOptions): Promise<MigrateResult> {
  const migrations = opts.migrations ?? MIGRATIONS;
  checkList(migrations);
  const known = migrations.length;
  await bootstrap(pg);

  // Fast path without the lock: every start of every node after the first.
  const [row] = await pg.query<{ version: string }>("SELECT version FROM vsm_schema WHERE id = 1");
  const current = Number(row?.version ?? 0);
  if (current > known) throw tooNew(current, known);
  if (current === known) return { from: current, to: current, applied: [] };

  const result = await pg.tx(
    async (q) => {
      const [locked] = await q.query<{ version: string }>(
        "SELECT version FROM vsm_schema WHERE id = 1 FOR UPDATE",
      );
      const from = Number(locked?.version ?? 0);
      if (from > known) throw tooNew(from, known);
      const applied: number[] = [];
      for (const m of migrations) {
        if (m.version <= from) continue;
        for (const s of m.statements) await q.query(s);
        await q.query(
          "INSERT INTO vsm_migrations (version, name, applied_by, applied_at) VALUES ($1, $2, $3, now())",
          [m.version, m.name, opts.node],
        );
        applied.push(m.version);
      }
      if (applied.length > 0)
        await q.query("UPDATE vsm_schema SET version = $1, updated_at = now() WHERE id = 1", [known]);
      return { from, to: Math.max(from, known), applied };
    },
    { timeoutMs: opts.timeoutMs ?? MIGRATION_TIMEOUT_MS },
  );
  if (result.applied.length > 0) {
    opts.logger.info("database schema migrated", {
      from: result.from,
      to: result.to,
      applied: result.applied,
    });
  }
  return result;
}
