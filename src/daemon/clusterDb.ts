/**
 * The cluster database of a node whose `[Common.DB] Driver` is "postgres": opened from
 * `[Common.DB.Postgres] DSN`, brought to this build's schema (`migrate`), and its sector index
 * (`PgIndexer`) put behind a gate that migrates first.
 *
 * Why a gate: a database that cannot be reached at start (restarting, failing over, the network not up
 * yet) must not stop the node, and must not crash it later. So the start tries once; when the database
 * is unreachable the node starts anyway, retries the migration in the background, and each lookup
 * tries it too. Until the schema is in place, a lookup fails with STORE_DB_UNREACHABLE (transient:
 * callers retry), never with a missing table. What no retry can mend (a database newer than this
 * build, a wrong password or database name) is refused at start.
 */
import os from "node:os";
import { redactDsn } from "../config/dsn.js";
import type { SectorManagerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import type {
  IndexCounts,
  IndexerOptions,
  IndexRecord,
  IndexType,
  SectorIndexer,
  SectorLocation,
  SectorRef,
} from "../sectors/interface.js";
import { PgIndexer } from "../sectors/pgIndexer.js";
import { openPg, type Pg } from "../store/pg/db.js";
import { type MigrateResult, migrate } from "../store/pg/migrations.js";
import { errorMessage, SmError } from "../util/errors.js";
import { sleep } from "../util/time.js";

/** The configured DSN; throws when the config does not use the database (the loader guarantees one with "postgres"). */
export function configuredDsn(config: SectorManagerConfig): string {
  const dsn = config.Common.DB.Postgres.DSN;
  if (config.Common.DB.Driver !== "postgres" || dsn === undefined)
    throw new SmError(
      "CONFIG_INVALID",
      '[Common.DB] Driver is not "postgres" with a [Common.DB.Postgres] DSN; this needs the cluster database',
      { problems: [] },
    );
  return dsn;
}

/** Opens the configured database (nothing connects yet). `who` goes to pg_stat_activity. */
export function openConfiguredPg(config: SectorManagerConfig, logger: Logger, who: string): Pg {
  return openPg(configuredDsn(config), {
    logger,
    applicationName: `vsm ${who}`.slice(0, 63),
    // Every cluster transaction is a few statements sent back to back: one idle for half a lease
    // belongs to a node frozen or cut off in its middle, whose row locks would otherwise keep its
    // work from moving (a group claim waits on them) for longer than the lease.
    idleInTransactionTimeoutMs: Math.max(1000, Math.floor(config.Common.DB.Postgres.LeaseTimeoutMs / 2)),
  });
}

/** Hosts of the DSN and its user, without the password: for logs. */
export function dsnForLog(config: SectorManagerConfig): string {
  return redactDsn(config.Common.DB.Postgres.DSN ?? "");
}

/** Brings the schema up to date once; concurrent and later callers share the success, a failure is retried by the next call. */
export class SchemaGate {
  private done: MigrateResult | undefined;
  private running: Promise<MigrateResult> | undefined;

  constructor(
    private readonly pg: Pg,
    private readonly logger: Logger,
    private readonly node: string,
    /** Called once, by whichever caller (start, retry loop, lookup) brought the schema up to date. */
    private readonly onReady?: (r: MigrateResult) => void,
  ) {}

  get ready(): boolean {
    return this.done !== undefined;
  }

  ensure(): Promise<MigrateResult> {
    if (this.done) return Promise.resolve(this.done);
    this.running ??= migrate(this.pg, { logger: this.logger, node: this.node }).then(
      (r) => {
        this.done = r;
        this.running = undefined;
        this.onReady?.(r);
        return r;
      },
      (e) => {
        this.running = undefined;
        throw e;
      },
    );
    return this.running;
  }
}

/** Whether a failure of the database at start may pass by itself (then the node starts and retries). */
export function isTransientDbError(e: unknown): boolean {
  return e instanceof SmError && (e.code === "STORE_DB_UNREACHABLE" || e.code === "STORE_DB_CONFLICT");
}

/** A sector indexer that first makes sure the schema is in place (see the header). */
export class GatedIndexer implements SectorIndexer {
  readonly readOnly = false;
  readonly description: string;

  constructor(
    private readonly inner: PgIndexer,
    private readonly gate: SchemaGate,
  ) {
    this.description = inner.description;
  }

  private async ready(): Promise<void> {
    if (this.gate.ready) return;
    try {
      await this.gate.ensure();
    } catch (e) {
      if (e instanceof SmError && e.code === "STORE_DB_UNREACHABLE") throw e;
      // Whatever else kept the schema from being applied, the lookup must fail as retryable, with why.
      throw new SmError(
        "STORE_DB_UNREACHABLE",
        `the cluster database's schema is not ready yet: ${errorMessage(e)}`,
        {},
        { cause: e },
      );
    }
  }

  async find(type: IndexType, sector: SectorRef, opts?: IndexerOptions): Promise<SectorLocation> {
    await this.ready();
    return this.inner.find(type, sector, opts);
  }
  async findMany(
    type: IndexType,
    sectors: readonly SectorRef[],
    opts?: IndexerOptions,
  ): Promise<SectorLocation[]> {
    await this.ready();
    return this.inner.findMany(type, sectors, opts);
  }
  async update(type: IndexType, records: readonly IndexRecord[], opts?: IndexerOptions): Promise<void> {
    await this.ready();
    return this.inner.update(type, records, opts);
  }
  async counts(opts?: IndexerOptions): Promise<IndexCounts> {
    await this.ready();
    return this.inner.counts(opts);
  }
}

export interface ClusterDb {
  pg: Pg;
  gate: SchemaGate;
  indexer: SectorIndexer;
  close(): Promise<void>;
}

/**
 * Opens the database for `daemon run` and tries the migration once. Unreachable: a warning, a
 * background retry (1 s doubling to 30 s) until it works or `shutdown`; anything else: thrown.
 */
export async function startClusterDb(
  config: SectorManagerConfig,
  deps: { logger: Logger; name: string; home: string; shutdown?: AbortSignal },
): Promise<ClusterDb> {
  const log = deps.logger.named("db");
  const pg = openConfiguredPg(config, deps.logger, deps.name);
  const indexer = new PgIndexer(pg);
  const gate = new SchemaGate(pg, deps.logger, deps.name, (r) => {
    log.info("cluster database ready", { dsn: dsnForLog(config), schema: r.to });
    void warnIfEmpty(indexer, config, deps.home, log);
  });
  const stop = new AbortController();
  const signal = deps.shutdown ? AbortSignal.any([deps.shutdown, stop.signal]) : stop.signal;
  let retry: Promise<void> | undefined;
  try {
    await gate.ensure();
  } catch (e) {
    if (!isTransientDbError(e)) {
      await pg.close();
      throw e;
    }
    log.warn(
      "cluster database not reachable yet; sector lookups fail until it is, the node keeps running and retries",
      { dsn: dsnForLog(config), err: errorMessage(e) },
    );
    retry = (async () => {
      for (let delay = 1000; !signal.aborted; delay = Math.min(delay * 2, 30_000)) {
        await sleep(delay, signal).catch(() => {});
        if (signal.aborted || gate.ready) break;
        try {
          await gate.ensure();
          break;
        } catch (err) {
          if (signal.aborted) break;
          const level = isTransientDbError(err) ? "warn" : "error";
          log[level]("cluster database still not ready; retrying", {
            err: errorMessage(err),
            retry_ms: Math.min(delay * 2, 30_000),
          });
        }
      }
    })();
  }
  return {
    pg,
    gate,
    indexer: new GatedIndexer(indexer, gate),
    async close() {
      stop.abort();
      // Closing first ends a migration attempt in flight, which a silent database would otherwise
      // hold for the whole statement timeout.
      await pg.close();
      await retry;
    },
  };
}

/**
 * A database index with no sector while stores are configured is what a node switched to the database
 * before its embedded index was copied looks like: every sector would be reported missing. Say how to
 * copy it. Best effort: a failure here is only a missing warning.
 */
async function warnIfEmpty(
  indexer: PgIndexer,
  config: SectorManagerConfig,
  home: string,
  log: Logger,
): Promise<void> {
  if (config.Common.PersistStores.length === 0) return;
  try {
    if (!(await indexer.isEmpty())) return;
    log.warn(
      "the cluster database's sector index is empty but persist stores are configured: every sector is reported missing; copy an embedded index into it, or re-attach each store",
      {
        migrate: `vsm --home ${home} util db migrate --from-lmdb <home of the node that had the index>`,
        stores: config.Common.PersistStores.length,
      },
    );
  } catch {
    // The database went away again: lookups say so themselves.
  }
}

/** Name the database records for a command run by hand (migrate, offline attach). */
export function commandNodeName(command: string): string {
  return `${os.hostname()} (${command})`;
}
