/**
 * The cluster's connection to a PostgreSQL-compatible database: a small wrapper over postgres.js
 * (the choice and its reasons: docs/cluster.md, "Client") that the cluster code uses and nothing else.
 *
 * What it adds to the client, because a late proof costs money and the database is shared:
 * - every failure becomes an SmError with a code (`errors.ts`): STORE_DB_UNREACHABLE when the server is
 *   down, restarting, failing over or silent (transient: retry), STORE_DB_CONFLICT when a transaction
 *   kept conflicting, STORE_DB_ERROR for anything else;
 * - `tx` retries serialization failures and deadlocks (SQLSTATE 40001, 40P01) with jittered backoff, a
 *   bounded number of times, as CockroachDB requires of every client and SERIALIZABLE needs anywhere;
 * - every statement has a time bound: a server or network that goes silent (a partition, a frozen
 *   host) would otherwise leave a query waiting for as long as TCP takes to notice, many minutes. The
 *   server is told the bound, a little lower (`statement_timeout`, `lock_timeout`), so a statement
 *   that is merely slow or waits on a lock is cancelled by the server on its own connection, and the
 *   client's own timer fires only when the server does not answer at all;
 * - reconnection: the client connects lazily, so after a restart or a failover the next call connects
 *   again (to whichever host of a multi-host DSN is now the primary). When a call gets no answer, or lands
 *   on a read-only standby, the whole client is replaced, because its connections cannot be trusted
 *   and postgres.js 3.x cannot close one connection by itself.
 *
 * A statement that fails with STORE_DB_UNREACHABLE may or may not have been applied (a COMMIT whose
 * answer was lost): callers retry only what is idempotent, which every cluster write is designed to be.
 */
import { performance } from "node:perf_hooks";
import postgres from "postgres";
import { parsePostgresDsn } from "../../config/dsn.js";
import type { Logger } from "../../log/logger.js";
import { errorMessage, SmError, sysCode } from "../../util/errors.js";
import { sleep } from "../../util/time.js";
import "./errors.js";

export type PgRow = Record<string, unknown>;

/** What a transaction body may run. */
export interface PgQuery {
  /** One statement with `$1`-style parameters; the rows it returns. */
  query<T = PgRow>(text: string, params?: readonly unknown[]): Promise<T[]>;
}

export type PgIsolation = "serializable" | "repeatable read" | "read committed";

export interface TxOptions {
  /** Default "serializable": the one level PostgreSQL, YugabyteDB and CockroachDB all give with the same meaning. */
  isolation?: PgIsolation;
  /** Tries in all, for serialization failures and deadlocks; default PgOptions.txAttempts. */
  attempts?: number;
  /**
   * Bound on this transaction and on each of its statements, for work known to be long (schema
   * migrations), in place of txTimeoutMs and queryTimeoutMs; the server's statement_timeout and
   * lock_timeout are raised to match for this transaction only (SET LOCAL).
   */
  timeoutMs?: number;
}

export interface Pg extends PgQuery {
  /**
   * Runs `fn` in a transaction and commits. A serialization failure or deadlock, in a statement or at
   * COMMIT, rolls back and runs `fn` again (so `fn` must have no effect outside the database), after a
   * jittered backoff, up to `attempts` times; then STORE_DB_CONFLICT. `fn` runs only statements: a
   * transaction past `txTimeoutMs` is taken for a silent server, and the client is replaced.
   */
  tx<T>(fn: (q: PgQuery) => Promise<T>, opts?: TxOptions): Promise<T>;
  /** Closes every connection; later calls fail. */
  close(): Promise<void>;
  /** Host list of the DSN, without credentials, for logs. */
  readonly description: string;
}

export interface PgOptions {
  logger: Logger;
  /** Shown in pg_stat_activity: which node holds which connection. */
  applicationName: string;
  /** Connections kept at most; default 4 (the cluster's traffic is a few small statements a second). */
  maxConnections?: number;
  /**
   * Bound on one statement, waiting for a connection included; default 10 s. The server gets it as
   * `statement_timeout` and `lock_timeout`, a little lower (see serverTimeoutMs).
   */
  queryTimeoutMs?: number;
  /** Bound on opening one connection (per host of the DSN); default 5 s. */
  connectTimeoutMs?: number;
  /** Bound on a whole transaction, body and COMMIT included; default 30 s. */
  txTimeoutMs?: number;
  /** Tries of a transaction on serialization failures; default 10. */
  txAttempts?: number;
  /**
   * Sent as `idle_in_transaction_session_timeout` (default 30 s; 0: not sent), so the server ends the
   * transaction of a node frozen or cut off in its middle and frees its row locks. PgBouncer refuses
   * startup parameters it does not know: list it in its `ignore_startup_parameters`, or set 0 and the
   * same timeout on the database.
   */
  idleInTransactionTimeoutMs?: number;
  /**
   * Named prepared statements (default true). Turn off behind PgBouncer in transaction mode older than
   * 1.21, which cannot route them.
   */
  prepare?: boolean;
}

/**
 * The server-side bound for a client-side one: lower by a fifth, at most 1 s, so the server's
 * cancellation reaches the client before the client's own timer takes the silence for a dead server.
 */
export function serverTimeoutMs(clientMs: number): number {
  return Math.max(1, Math.round(clientMs - Math.min(1000, clientMs / 5)));
}

const SERIALIZATION_FAILURE = "40001";
const DEADLOCK_DETECTED = "40P01";

/** SQLSTATEs that say the server went away or is not the writable primary: try again later, elsewhere. */
const UNREACHABLE_SQLSTATES = new Set([
  "57P01", // admin_shutdown: the server is stopping (pg_ctl stop -m fast)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now: starting up, or a standby not yet accepting connections
  "53300", // too_many_connections
  "25006", // read_only_sql_transaction: we reached a standby
  "40003", // statement_completion_unknown (CockroachDB): the outcome is unknown, as with a lost connection
  // Our statement_timeout or lock_timeout: the server is alive but busy or the rows are locked;
  // the statement was cancelled (not applied) and can be tried again.
  "57014", // query_canceled
  "55P03", // lock_not_available
]);
/** Client-side codes of postgres.js for a connection that closed, ended or never opened. */
const CLIENT_CONNECTION_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);
const NET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNABORTED",
]);

function sqlstateOf(e: unknown): string | undefined {
  return e instanceof postgres.PostgresError ? e.code : undefined;
}

function isRetryableConflict(e: unknown): boolean {
  const s = sqlstateOf(e);
  return s === SERIALIZATION_FAILURE || s === DEADLOCK_DETECTED;
}

/**
 * Whether `e` says a connection that was open is gone: the server closed or reset it, or told it so
 * before closing (57P01 admin_shutdown, 57P02 crash_shutdown, class 08). Not a connection that could
 * not be opened (ECONNREFUSED, CONNECT_TIMEOUT), nor one this client ended itself.
 *
 * Such a connection must see no statement again. postgres.js 3.4.10 (porsager/postgres issues #1208,
 * #1154, fix not released) writes a statement on a connection whose socket is gone from a
 * setImmediate, where the TypeError cannot be caught and kills the process; and a write pending when
 * the socket closes leaves the connection unable to send anything after it reconnects (its write
 * timer is cleared but never reset), so every later use of it waits for the connect timeout.
 */
function connectionLost(e: unknown): boolean {
  const s = sqlstateOf(e);
  if (s !== undefined) return s === "57P01" || s === "57P02" || s.startsWith("08");
  const code = sysCode(e);
  return code === "CONNECTION_CLOSED" || code === "ECONNRESET" || code === "EPIPE" || code === "ECONNABORTED";
}

/** Whether `e` came from the client or the server rather than from a transaction body. */
function isClientError(e: unknown): boolean {
  if (e instanceof postgres.PostgresError || e instanceof SmError) return true;
  const code = sysCode(e);
  return code !== undefined && (NET_CODES.has(code) || CLIENT_CONNECTION_CODES.has(code));
}

/** Our error for whatever the client threw; `what` says which call. */
export function pgError(e: unknown, what: string): SmError {
  if (e instanceof SmError) return e;
  const sqlstate = sqlstateOf(e);
  const msg = errorMessage(e);
  if (sqlstate !== undefined) {
    if (UNREACHABLE_SQLSTATES.has(sqlstate) || sqlstate.startsWith("08")) {
      return new SmError(
        "STORE_DB_UNREACHABLE",
        `${what}: the database is not available (${sqlstate}: ${msg})`,
        { sqlstate },
        { cause: e },
      );
    }
    if (sqlstate === SERIALIZATION_FAILURE || sqlstate === DEADLOCK_DETECTED) {
      return new SmError(
        "STORE_DB_CONFLICT",
        `${what}: conflicting concurrent transactions (${sqlstate}: ${msg})`,
        { sqlstate },
        { cause: e },
      );
    }
    return new SmError(
      "STORE_DB_ERROR",
      `${what}: ${msg} (SQLSTATE ${sqlstate})`,
      { sqlstate },
      { cause: e },
    );
  }
  const code = sysCode(e);
  if (code !== undefined && (NET_CODES.has(code) || CLIENT_CONNECTION_CODES.has(code))) {
    return new SmError(
      "STORE_DB_UNREACHABLE",
      `${what}: cannot reach the database (${code}: ${msg})`,
      { errno: code },
      { cause: e },
    );
  }
  return new SmError("STORE_DB_ERROR", `${what}: ${msg}`, {}, { cause: e });
}

interface ParsedDsn {
  dsn: string;
  hosts: string;
  targetSessionAttrs: string | undefined;
}

/**
 * Checks the DSN and finds its `target_session_attrs`. postgres.js 3.4 decides "read-only" from
 * `default_transaction_read_only` alone, which a PostgreSQL 14+ hot standby reports as off, so with
 * `read-write` it would settle on a standby (libpq also looks at `in_hot_standby`). `primary` asks the
 * right question there, so `read-write` is passed on as `primary`; a primary set read-only by hand is
 * still caught by its first write (25006), which replaces the client.
 */
function parseDsn(dsn: string): ParsedDsn {
  // The config's parser, so the hosts shown in logs and /healthcheck are cut where the config check
  // cut them (at the last @ of the authority), and a password with raw reserved characters is
  // refused here too for a DSN that did not come through the config.
  const p = parsePostgresDsn(dsn);
  if (typeof p === "string") throw new SmError("STORE_DB_DSN_INVALID", `the database DSN ${p}`);
  const hosts = p.hosts.map((h) => `${h.host.includes(":") ? `[${h.host}]` : h.host}:${h.port}`).join(",");
  return { dsn, hosts, targetSessionAttrs: p.params.get("target_session_attrs") ?? undefined };
}

class PgClient implements Pg {
  readonly description: string;
  private sql: postgres.Sql;
  /** Bumped each time the client is replaced, so calls that fail together replace it once. */
  private generation = 0;
  private closed = false;
  private readonly log: Logger;
  private readonly queryTimeoutMs: number;
  private readonly txAttempts: number;
  private readonly txTimeoutMs: number;
  /** performance.now() when a call first found the database unreachable; undefined while it answers. */
  private unreachableSince: number | undefined;

  constructor(
    private readonly parsed: ParsedDsn,
    private readonly opts: PgOptions,
  ) {
    this.description = parsed.hosts;
    this.log = opts.logger.named("db");
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 10_000;
    this.txAttempts = opts.txAttempts ?? 10;
    this.txTimeoutMs = opts.txTimeoutMs ?? 30_000;
    this.sql = this.makeClient();
  }

  private makeClient(): postgres.Sql {
    const tsa = this.parsed.targetSessionAttrs;
    const o = this.opts;
    const idleTx = o.idleInTransactionTimeoutMs ?? 30_000;
    return postgres(this.parsed.dsn, {
      max: o.maxConnections ?? 4,
      connect_timeout: Math.max(1, Math.ceil((o.connectTimeoutMs ?? 5000) / 1000)),
      prepare: o.prepare ?? true,
      // Reconnect quickly: the default backoff grows to 20 s, longer than a deadline can wait.
      backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2),
      // A connection held idle for long by a NAT or a proxy may be dropped silently; renew it.
      idle_timeout: 60,
      ...(tsa === "read-write" ? { target_session_attrs: "primary" as const } : {}),
      onnotice: () => {},
      connection: {
        application_name: o.applicationName,
        // A node frozen (SIGSTOP) or cut off inside a transaction must not hold its row locks for ever.
        ...(idleTx > 0 ? { idle_in_transaction_session_timeout: idleTx } : {}),
        statement_timeout: serverTimeoutMs(this.queryTimeoutMs),
        // Lower still, so a statement stuck behind a lock says so (55P03) rather than "timeout".
        lock_timeout: Math.round(serverTimeoutMs(this.queryTimeoutMs) * 0.9),
      },
    });
  }

  /** Replaces the client after a call found its connections untrustworthy (silent, on a standby). */
  private replace(generation: number, why: string): void {
    if (this.closed || generation !== this.generation) return;
    this.generation++;
    const old = this.sql;
    this.sql = this.makeClient();
    this.log.warn("database connections replaced", { reason: why, hosts: this.description });
    old.end({ timeout: 0 }).catch(() => {});
  }

  /** `p` bounded by the statement timeout; on timeout the client is replaced (which also ends `p`). */
  private bounded<T>(p: Promise<T>, generation: number, what: string, ms = this.queryTimeoutMs): Promise<T> {
    // The losing side of the race must never become an unhandled rejection.
    p.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.replace(generation, `${what} got no answer in ${ms} ms`);
        reject(
          new SmError("STORE_DB_UNREACHABLE", `${what}: the database did not answer within ${ms} ms`, {
            timeoutMs: ms,
          }),
        );
      }, ms);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  private failed(e: unknown, generation: number, what: string): SmError {
    if (sqlstateOf(e) === "25006") this.replace(generation, "a write reached a read-only server (standby)");
    // Its connections may be unusable after a lost one (connectionLost); a new client costs little.
    else if (connectionLost(e)) this.replace(generation, "a connection to the database was lost");
    const err = pgError(e, what);
    this.noteOutage(err);
    return err;
  }

  /**
   * The first call to find the database gone says so once, and the first call started after that
   * which succeeds says it is back and how long it was away: an operator reading the log of a restart
   * or a failover sees when each node lost the database and when it reached it again (by itself:
   * postgres.js connects again on the next call). A statement the server cancelled (57014, 55P03) is
   * no outage: the server answered.
   */
  private noteOutage(err: SmError): void {
    if (err.code !== "STORE_DB_UNREACHABLE" || this.unreachableSince !== undefined) return;
    const sqlstate = err.fields.sqlstate;
    if (sqlstate === "57014" || sqlstate === "55P03") return;
    this.unreachableSince = performance.now();
    this.log.warn("database unreachable", {
      err: err.message,
      hosts: this.description,
    });
  }

  /** A call started at `startedAt` (performance.now()) succeeded. */
  private answered(startedAt: number): void {
    const since = this.unreachableSince;
    // A call that started before the outage was noticed proves nothing about the server now.
    if (since === undefined || startedAt < since) return;
    this.unreachableSince = undefined;
    this.log.info("database reachable again", {
      unreachable_ms: Math.round(performance.now() - since),
      hosts: this.description,
    });
  }

  private checkOpen(): void {
    if (this.closed)
      throw new SmError("STORE_DB_UNREACHABLE", "the database client is closed (the node is shutting down)");
  }

  async query<T = PgRow>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    this.checkOpen();
    const generation = this.generation;
    const startedAt = performance.now();
    try {
      const rows = await this.bounded(
        this.sql.unsafe(text, params as postgres.ParameterOrJSON<never>[]),
        generation,
        "query",
      );
      this.answered(startedAt);
      // A plain array: callers never see the client's Result type.
      return Array.from(rows) as unknown as T[];
    } catch (e) {
      throw this.failed(e, generation, "query");
    }
  }

  async tx<T>(fn: (q: PgQuery) => Promise<T>, opts: TxOptions = {}): Promise<T> {
    const attempts = opts.attempts ?? this.txAttempts;
    const isolation = opts.isolation ?? "serializable";
    let last: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      this.checkOpen();
      const generation = this.generation;
      const startedAt = performance.now();
      try {
        const out = await this.once(fn, isolation, generation, opts.timeoutMs);
        this.answered(startedAt);
        return out;
      } catch (e) {
        // An error of the body's own (not the client's) reaches the caller unchanged.
        if (!isClientError(e)) throw e;
        if (!isRetryableConflict(e)) throw this.failed(e, generation, "transaction");
        last = e;
        if (attempt < attempts) {
          // Full jitter, 10 ms doubling to 1 s: conflicting nodes must not retry in lock step.
          await sleep(Math.random() * Math.min(10 * 2 ** (attempt - 1), 1000));
        }
      }
    }
    const err = pgError(last, "transaction");
    throw new SmError(
      "STORE_DB_CONFLICT",
      `${err.message}; gave up after ${attempts} tries`,
      { ...err.fields, attempts },
      { cause: last },
    );
  }

  private async once<T>(
    fn: (q: PgQuery) => Promise<T>,
    isolation: PgIsolation,
    generation: number,
    timeoutMs: number | undefined,
  ): Promise<T> {
    const statementMs = timeoutMs ?? this.queryTimeoutMs;
    // The body's own errors must reach the caller unchanged; only client errors are translated.
    const result = this.sql.begin(`isolation level ${isolation}`, async (t) => {
      // The first statement that failed. A body that catches it and returns normally must not pass
      // for committed: the server answers that COMMIT with ROLLBACK. postgres.js 3.4 already throws
      // such a failure itself; the rule is ours, so it is kept here too, independent of the client's
      // version (the test "a body that swallows a failed statement" checks the outcome).
      let broken: unknown;
      const q: PgQuery = {
        query: async <R = PgRow>(text: string, params: readonly unknown[] = []): Promise<R[]> => {
          try {
            const rows = await this.bounded(
              t.unsafe(text, params as postgres.ParameterOrJSON<never>[]),
              generation,
              "transaction statement",
              statementMs,
            );
            return Array.from(rows) as unknown as R[];
          } catch (e) {
            broken ??= e;
            // On a lost connection the body must not end: postgres.js would send ROLLBACK (or, if the
            // body went on, its next statement) on that connection, and crash the process
            // (connectionLost). The transaction's own promise still settles: postgres.js rejects it
            // when the connection closes, and the bound below rejects it if that never comes. The
            // body is then left pending, unreferenced, and collected.
            if (connectionLost(e)) await new Promise<never>(() => {});
            throw e;
          }
        },
      };
      if (timeoutMs !== undefined) {
        const ms = serverTimeoutMs(timeoutMs);
        await q.query(`SET LOCAL statement_timeout = ${ms}`);
        await q.query(`SET LOCAL lock_timeout = ${Math.round(ms * 0.9)}`);
      }
      const out = await fn(q);
      if (broken !== undefined) throw broken;
      return out;
    });
    return (await this.bounded(
      result as Promise<T>,
      generation,
      "transaction",
      timeoutMs ?? this.txTimeoutMs,
    )) as T;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Statements in flight get one second. The bound matters: a connection a crashed server left
    // behind can keep postgres.js 3.4's end() from finishing on its own (seen in the restart test).
    await this.sql.end({ timeout: 1 }).catch(() => {});
  }
}

/**
 * Opens the database named by `dsn` (nothing connects until the first call). A DSN the client cannot
 * use throws STORE_DB_DSN_INVALID at once.
 */
export function openPg(dsn: string, opts: PgOptions): Pg {
  return new PgClient(parseDsn(dsn), opts);
}
