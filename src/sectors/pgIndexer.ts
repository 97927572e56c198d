/**
 * Sector index in the cluster's database (`sector_index`, src/store/pg/schema.ts), so that every node
 * of a cluster reads sector locations directly, without a `--proxy` source node. Same behaviour as
 * `LocalIndexer`: instance names, never paths; an empty cache instance means the sealed file's.
 *
 * The schema cannot store a row without names, but a row written by hand may have an empty sealed
 * instance: that record is damaged and fails only its own sector, as in the embedded index.
 *
 * Reads take one statement per miner (`number = ANY(array)`, READ_CHUNK numbers at most), so a
 * partition's lookup is one round trip. Writes are cut into chunks (a statement has at most 65535
 * parameters, and smaller statements keep each round trip short). A read of several statements or a
 * multi-chunk write runs in one transaction, so `findMany` answers from one snapshot and `update` is
 * atomic for the whole batch.
 */
import type { Pg, PgQuery } from "../store/pg/db.js";
import { SmError } from "../util/errors.js";
import { untilAborted } from "../util/time.js";
import {
  type IndexCounts,
  type IndexerOptions,
  type IndexRecord,
  type IndexType,
  NOT_FOUND,
  type SectorAccess,
  type SectorIndexer,
  type SectorLocation,
  type SectorRef,
} from "./interface.js";

/**
 * A lookup stops waiting when its caller gives up (a deadline closed, a cluster lease lost): the
 * database may be the very thing that does not answer, and its own timeout is longer. A read left
 * running is harmless; its late answer or error is dropped.
 */
function untilDone<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  return signal ? untilAborted(p, signal, "sector lookup stopped") : p;
}

/** Records per statement; also the most `merge` takes per call. */
export const CHUNK = 500;

interface Row {
  miner: string;
  number: string;
  sealed_instance: string;
  cache_instance: string;
}

function damagedText(type: IndexType, s: SectorRef): string {
  return `the ${type} sector index record of sector ${s.miner}-${s.number} in the cluster database is damaged (it has no sealed instance name); re-attach the store that holds this sector with \`vsm util storage attach --name NAME PATH\` to rewrite it`;
}

function locate(type: IndexType, s: SectorRef, row: Row | undefined): SectorLocation {
  if (row === undefined) return NOT_FOUND;
  if (row.sealed_instance === "") {
    return { found: false, instance: { sealedFile: "", cacheDir: "" }, error: damagedText(type, s) };
  }
  const cache = row.cache_instance !== "" ? row.cache_instance : row.sealed_instance;
  return { found: true, instance: { sealedFile: row.sealed_instance, cacheDir: cache } };
}

/**
 * Sector numbers per statement of `findMany`: a full 32 GiB partition (2,349) is one statement; an
 * attach's batch of 10,000 is one; more are cut so a statement's array stays a few hundred KiB.
 */
export const READ_CHUNK = 10_000;

/** The numbers to look up, per miner (distinct, in the order first asked), cut into READ_CHUNKs. */
function readParts(sectors: readonly SectorRef[]): { miner: number; numbers: number[] }[] {
  const byMiner = new Map<number, Set<number>>();
  for (const s of sectors) {
    const set = byMiner.get(s.miner) ?? new Set<number>();
    if (set.size === 0) byMiner.set(s.miner, set);
    set.add(s.number);
  }
  const out: { miner: number; numbers: number[] }[] = [];
  for (const [miner, set] of byMiner) {
    const all = [...set];
    for (let i = 0; i < all.length; i += READ_CHUNK)
      out.push({ miner, numbers: all.slice(i, i + READ_CHUNK) });
  }
  return out;
}

/** The rows of `parts`, keyed `miner-number`. */
async function selectRows(
  q: PgQuery,
  type: IndexType,
  parts: readonly { miner: number; numbers: number[] }[],
): Promise<Map<string, Row>> {
  const found = new Map<string, Row>();
  for (const { miner, numbers } of parts) {
    // One statement per miner: `number = ANY(array)` is an index scan on the primary key (a list of
    // row values `(miner, number) IN (...)` was planned as a scan of the whole table, so a partition's
    // lookup took seconds at a million rows). The array goes as one text parameter cast on the
    // server, which PostgreSQL, YugabyteDB and CockroachDB all accept.
    const rows = await q.query<Row>(
      "SELECT miner, number, sealed_instance, cache_instance FROM sector_index WHERE miner = $1 AND kind = $2 AND number = ANY($3::BIGINT[])",
      [miner, type, `{${numbers.join(",")}}`],
    );
    for (const r of rows) found.set(`${r.miner}-${r.number}`, r);
  }
  return found;
}

function chunks<T>(xs: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += CHUNK) out.push(xs.slice(i, i + CHUNK));
  return out;
}

/** Records written by this indexer between two ANALYZEs of the table (see `afterWrite`). */
export const ANALYZE_AFTER = 50_000;

export class PgIndexer implements SectorIndexer {
  readonly description: string;
  readonly readOnly = false;
  private written = 0;

  constructor(private readonly pg: Pg) {
    this.description = `postgres ${pg.description}`;
  }

  async find(type: IndexType, sector: SectorRef, opts?: IndexerOptions): Promise<SectorLocation> {
    opts?.signal?.throwIfAborted();
    const [row] = await untilDone(
      this.pg.query<Row>(
        "SELECT miner, number, sealed_instance, cache_instance FROM sector_index WHERE miner = $1 AND kind = $2 AND number = $3",
        [sector.miner, type, sector.number],
      ),
      opts?.signal,
    );
    const loc = locate(type, sector, row);
    if (loc.error !== undefined) {
      throw new SmError("STORE_CORRUPT", loc.error, {
        miner: sector.miner,
        number: sector.number,
        index: type,
      });
    }
    return loc;
  }

  async findMany(
    type: IndexType,
    sectors: readonly SectorRef[],
    opts?: IndexerOptions,
  ): Promise<SectorLocation[]> {
    opts?.signal?.throwIfAborted();
    if (sectors.length === 0) return [];
    const parts = readParts(sectors);
    const read = (q: PgQuery) => selectRows(q, type, parts);
    const found = await untilDone(
      parts.length === 1 ? read(this.pg) : this.pg.tx(read, { isolation: "repeatable read" }),
      opts?.signal,
    );
    return sectors.map((s) => locate(type, s, found.get(`${s.miner}-${s.number}`)));
  }

  async update(type: IndexType, records: readonly IndexRecord[], opts?: IndexerOptions): Promise<void> {
    opts?.signal?.throwIfAborted();
    for (const r of records) {
      if (r.sealedFile === "") {
        throw new SmError(
          "SECTORS_INVALID_RECORD",
          `sector ${r.miner}-${r.number}: empty sealed instance name`,
        );
      }
    }
    if (records.length === 0) return;
    // The last record of a sector wins, as in one LMDB transaction; a statement may not name a key twice.
    const last = new Map<string, IndexRecord>();
    for (const r of records) last.set(`${r.miner}-${r.number}`, r);
    const unique = [...last.values()];
    await this.pg.tx(async (q) => {
      for (const part of chunks(unique)) {
        const values = part
          .map((_, i) => `($1, $${4 * i + 2}, $${4 * i + 3}, $${4 * i + 4}, $${4 * i + 5}, now())`)
          .join(", ");
        const params = [
          type,
          ...part.flatMap((r) => [r.miner, r.number, r.sealedFile, r.cacheDir || r.sealedFile]),
        ];
        await q.query(
          `INSERT INTO sector_index (kind, miner, number, sealed_instance, cache_instance, updated_at) VALUES ${values}
           ON CONFLICT (miner, kind, number) DO UPDATE
           SET sealed_instance = excluded.sealed_instance, cache_instance = excluded.cache_instance, updated_at = excluded.updated_at`,
          params,
        );
      }
    });
    await this.afterWrite(unique.length);
  }

  /**
   * After every ANALYZE_AFTER records written, the table's statistics are refreshed. Without them, a
   * table filled by one large attach is still planned as the nearly empty table it was: a partition's
   * `number = ANY(...)` lookup then reads every row of the miner (450 ms at a million rows) instead of
   * probing the primary key (30 ms), until autovacuum's own ANALYZE comes round, a minute or more
   * later. Best effort: a database that refuses ANALYZE (a role without the right) plans as before.
   */
  private async afterWrite(records: number): Promise<void> {
    this.written += records;
    if (this.written < ANALYZE_AFTER) return;
    this.written = 0;
    try {
      await this.pg.query("ANALYZE sector_index");
    } catch {
      // Only the plan of later lookups depends on it; the write itself succeeded.
    }
  }

  /**
   * Copies records in (`util db migrate`), in one transaction per call: a record the database lacks is
   * inserted; one it holds with the same names is left alone; one it holds with other names is left
   * alone and returned in `differing`, unless `force`, which overwrites it. Running it again changes
   * nothing. Under SERIALIZABLE a node writing the same rows meanwhile makes the transaction retry.
   */
  async merge(
    type: IndexType,
    records: readonly IndexRecord[],
    opts: { force: boolean },
  ): Promise<{ copied: number; same: number; differing: (IndexRecord & { database: SectorAccess })[] }> {
    const unique = new Map<string, IndexRecord>();
    for (const r of records) {
      if (r.sealedFile === "")
        throw new SmError(
          "SECTORS_INVALID_RECORD",
          `sector ${r.miner}-${r.number}: empty sealed instance name`,
        );
      unique.set(`${r.miner}-${r.number}`, { ...r, cacheDir: r.cacheDir || r.sealedFile });
    }
    const list = [...unique.values()];
    if (list.length > CHUNK) throw new Error(`PgIndexer.merge takes at most ${CHUNK} records per call`);
    if (list.length === 0) return { copied: 0, same: 0, differing: [] };
    const result = await this.pg.tx(async (q) => {
      const have = await selectRows(q, type, readParts(list));
      const missing: IndexRecord[] = [];
      const differing: (IndexRecord & { database: SectorAccess })[] = [];
      let same = 0;
      for (const r of list) {
        const row = have.get(`${r.miner}-${r.number}`);
        if (row === undefined) missing.push(r);
        else if (row.sealed_instance === r.sealedFile && row.cache_instance === r.cacheDir) same++;
        else
          differing.push({
            ...r,
            database: { sealedFile: row.sealed_instance, cacheDir: row.cache_instance },
          });
      }
      const write = opts.force ? [...missing, ...differing] : missing;
      if (write.length > 0) {
        const values = write
          .map((_, i) => `($1, $${4 * i + 2}, $${4 * i + 3}, $${4 * i + 4}, $${4 * i + 5}, now())`)
          .join(", ");
        await q.query(
          `INSERT INTO sector_index (kind, miner, number, sealed_instance, cache_instance, updated_at) VALUES ${values}
           ON CONFLICT (miner, kind, number) DO UPDATE
           SET sealed_instance = excluded.sealed_instance, cache_instance = excluded.cache_instance, updated_at = excluded.updated_at`,
          [type, ...write.flatMap((r) => [r.miner, r.number, r.sealedFile, r.cacheDir])],
        );
      }
      return { copied: missing.length, same, differing };
    });
    await this.afterWrite(result.copied + (opts.force ? result.differing.length : 0));
    return result;
  }

  /** Whether the index holds no record at all: one row read, where `counts` reads them all. */
  async isEmpty(): Promise<boolean> {
    return (await this.pg.query("SELECT 1 FROM sector_index LIMIT 1")).length === 0;
  }

  async counts(opts?: IndexerOptions): Promise<IndexCounts> {
    opts?.signal?.throwIfAborted();
    const rows = await this.pg.query<{ kind: string; sealed_instance: string; n: string }>(
      "SELECT kind, sealed_instance, count(*) AS n FROM sector_index GROUP BY kind, sealed_instance",
    );
    const out: IndexCounts = { normal: {}, upgrade: {} };
    const damaged: Record<IndexType, number> = { normal: 0, upgrade: 0 };
    for (const r of rows) {
      const type: IndexType = r.kind === "upgrade" ? "upgrade" : "normal";
      if (r.sealed_instance === "") damaged[type] += Number(r.n);
      else out[type][r.sealed_instance] = Number(r.n);
    }
    if (damaged.normal + damaged.upgrade > 0) out.damaged = damaged;
    return out;
  }
}
