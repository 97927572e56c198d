/**
 * What the commands on the cluster database share (`util db ...`, `util cluster ...`): the config is
 * read from the home or `--conf-dir`, its `[Common.DB] Driver` must be "postgres", and the database is
 * opened from its `[Common.DB.Postgres] DSN`. Every database failure is reported with the DSN it
 * concerns, redacted (the DSN may hold a password), so an operator sees which database and which
 * config file to look at.
 *
 * Read-only commands (`openClusterDbForReading`) never create or migrate the schema: applying
 * migrations is what a node does at start, and a listing run against the wrong database (a typo in
 * the DSN, a fresh server) must say so rather than quietly create an empty cluster there.
 */
import path from "node:path";
import type { Command } from "commander";
import { loadConfigDir } from "../config/load.js";
import { SECTOR_MANAGER_CFG } from "../config/schema.js";
import type { SectorManagerConfig } from "../config/types.js";
import { commandNodeName, dsnForLog, openConfiguredPg } from "../daemon/clusterDb.js";
import { type Logger, nullLogger } from "../log/logger.js";
import type { Pg } from "../store/pg/db.js";
import { SCHEMA_VERSION } from "../store/pg/schema.js";
import { SmError } from "../util/errors.js";
import { expandHome } from "../util/paths.js";
import { homeOf } from "./context.js";
import "./errors.js";

export interface DatabaseConfig {
  config: SectorManagerConfig;
  /** The sector-manager.cfg that was read, for messages. */
  cfgPath: string;
  /** The DSN without its password. */
  dsn: string;
}

/** The `--conf-dir` option of the database commands, with one help text. */
export function confDirOption(cmd: Command): Command {
  return cmd.option(
    "--conf-dir <dir>",
    "read sector-manager.cfg (with the DSN) from this directory instead of --home",
  );
}

/**
 * Reads the config of `--conf-dir` (or the home) and checks it names the cluster database. `need`
 * says, in the error, what the command wants the database for.
 */
export async function loadDatabaseConfig(
  cmd: Command,
  opts: Record<string, unknown>,
  need: string,
): Promise<DatabaseConfig> {
  const given = typeof opts.confDir === "string";
  const confDir = given ? expandHome(String(opts.confDir)) : homeOf(cmd);
  const config = (await loadConfigDir(confDir, { confDir: given })).sectorManager.config;
  const cfgPath = path.join(confDir, SECTOR_MANAGER_CFG);
  if (config.Common.DB.Driver !== "postgres" || config.Common.DB.Postgres.DSN === undefined)
    throw new SmError(
      "CONFIG_INVALID",
      `${cfgPath} has [Common.DB] Driver = "${config.Common.DB.Driver}"; ${need}, which needs [Common.DB] Driver = "postgres" and a [Common.DB.Postgres] DSN (postgres://user@host:port/database): set them there, or point --conf-dir at the config of a node of the cluster`,
      { problems: [] },
    );
  return { config, cfgPath, dsn: dsnForLog(config) };
}

/** Opens the database of `db` (nothing connects yet); `command` goes to pg_stat_activity. */
export function openDatabase(db: DatabaseConfig, logger: Logger, command: string): Pg {
  return openConfiguredPg(db.config, logger, commandNodeName(command));
}

/**
 * A database failure with the (redacted) DSN it concerns and where that DSN is configured; the code
 * is kept, so a transient failure stays transient. Anything else is returned unchanged.
 */
export function withDsn(e: unknown, db: DatabaseConfig): unknown {
  if (!(e instanceof SmError)) return e;
  const where = `[Common.DB.Postgres] DSN in ${db.cfgPath}`;
  if (e.code === "STORE_DB_UNREACHABLE")
    return new SmError(
      e.code,
      `cannot reach the cluster database ${db.dsn}: ${e.message}; check that it is running and that ${where} names it`,
      { ...e.fields, dsn: db.dsn },
      { cause: e },
    );
  if (e.code === "STORE_DB_ERROR" || e.code === "STORE_DB_CONFLICT" || e.code === "STORE_DB_DSN_INVALID")
    return new SmError(
      e.code,
      `the cluster database ${db.dsn} (${where}): ${e.message}`,
      { ...e.fields, dsn: db.dsn },
      { cause: e },
    );
  return e;
}

/**
 * Opens the database for a command that reads or edits what the nodes recorded, after checking that
 * its schema is this build's: missing (no node ever started on it) is CLUSTER_DB_EMPTY, older or
 * newer is STORE_VERSION_MISMATCH. Nothing is created or migrated. The caller closes the client.
 */
export async function openClusterDbForReading(db: DatabaseConfig, command: string): Promise<Pg> {
  // A one-shot command reports a database it cannot reach in its own error, once: the client's
  // outage lines (written for a daemon's log) would say it twice.
  const pg = openDatabase(db, nullLogger, command);
  try {
    const version = await schemaVersion(pg);
    if (version === undefined || version === 0)
      throw new SmError(
        "CLUSTER_DB_EMPTY",
        `the cluster database ${db.dsn} has no cluster schema: no node has started on this database yet. Start a node whose config names it (\`vsm daemon run\` with [Common.DB] Driver = "postgres"), which creates the schema; if the nodes use another database, fix [Common.DB.Postgres] DSN in ${db.cfgPath} (or --conf-dir)`,
        { dsn: db.dsn },
      );
    if (version < SCHEMA_VERSION)
      throw new SmError(
        "STORE_VERSION_MISMATCH",
        `the cluster database ${db.dsn} has schema version ${version}, older than this build's (${SCHEMA_VERSION}): its nodes run an older version. Use the vsm of that version, or upgrade the nodes (a node applies the migrations when it starts)`,
        { found: version, known: SCHEMA_VERSION },
      );
    if (version > SCHEMA_VERSION)
      throw new SmError(
        "STORE_VERSION_MISMATCH",
        `the cluster database ${db.dsn} has schema version ${version}, newer than this build knows (${SCHEMA_VERSION}): its nodes run a newer version; use the vsm of that version`,
        { found: version, known: SCHEMA_VERSION },
      );
    return pg;
  } catch (e) {
    await pg.close();
    throw withDsn(e, db);
  }
}

/** The applied schema version; undefined when the schema table does not exist. */
async function schemaVersion(pg: Pg): Promise<number | undefined> {
  // information_schema answers for a missing table instead of failing, on PostgreSQL, YugabyteDB and
  // CockroachDB alike, so "no schema" need not be told apart from other errors by SQLSTATE.
  const [t] = await pg.query<{ n: string }>(
    "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'vsm_schema'",
  );
  if (Number(t?.n ?? 0) === 0) return undefined;
  const [row] = await pg.query<{ version: string }>("SELECT version FROM vsm_schema WHERE id = 1");
  return row === undefined ? undefined : Number(row.version);
}
