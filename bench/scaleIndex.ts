/**
 * bench/scale.ts, part (a): the sector index of a 32 PiB miner (1,000,000 sectors of 32 GiB) on one
 * machine, on the embedded LMDB index and on PostgreSQL (a throwaway server, as bench/cluster.ts).
 *
 * Attach: there are no sector files, so the records go through the indexer port exactly as
 * `vsm util storage attach` sends them once its scan is done (src/cli/commands/storage.ts,
 * `writeGuarded`): per batch of 10,000, the look-up that refuses moves between instances
 * (`findMany`), then the write (`update`). 100 storage instances of 10,000 sectors (320 TiB each).
 *
 * Lookups after a warm-up: single `find`s of random sectors (p50, p99, max in µs), and `findMany` of
 * a partition of 2,349 random sectors in ascending order (as the partition's bitfield lists them).
 * `counts` (what `vsm util storage list` asks for) is timed with the event-loop delay during it: the
 * embedded index answers on the node's event loop, so its duration is a stall of the node.
 *
 * The node's side: a real `daemon run` on the LMDB home with the million records, asked what an
 * operator and the PoSter ask (batched lookups of full partitions, single lookups, counts); its peak
 * RSS (VmHWM) is the figure for the goal "≤ 512 MiB with a million sectors in the index".
 */
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { readApiFile, readToken } from "../src/daemon/home.js";
import { nullLogger } from "../src/log/logger.js";
import { RpcClient } from "../src/rpc/client.js";
import type { IndexRecord, SectorIndexer, SectorRef } from "../src/sectors/interface.js";
import { LocalIndexer } from "../src/sectors/localIndexer.js";
import { PgIndexer } from "../src/sectors/pgIndexer.js";
import { openLmdbStore } from "../src/store/lmdb.js";
import { openPg } from "../src/store/pg/db.js";
import { migrate } from "../src/store/pg/migrations.js";
import { type Proc, runCli, startCli } from "../src/util/childProcess.js";
import { startPg } from "../test/helpers/pgServer.js";
import { diskBytes, peakRssMb, procRssMb, progress, quantile } from "./scaleProgress.js";

export const MINER = 1000;
/** A full 32 GiB partition. */
export const PARTITION_SECTORS = 2349;
/** attach's records per write call (WRITE_BATCH in src/cli/commands/storage.ts). */
const ATTACH_BATCH = 10_000;
/** Sectors per storage instance: 100 instances for a million sectors. */
const PER_INSTANCE = 10_000;

export interface IndexFigures {
  backend: "lmdb" | "postgres";
  sectors: number;
  attach_s: number;
  attach_sectors_per_s: number;
  lookup_samples: number;
  lookup_p50_us: number;
  lookup_p99_us: number;
  lookup_max_us: number;
  batch_2349_p50_ms: number;
  batch_2349_p99_ms: number;
  counts_ms: number;
  /** Longest event-loop delay seen while `counts` ran. */
  counts_loop_stall_ms: number;
  /** Table and index (PostgreSQL) or data file (LMDB), allocated bytes. */
  db_mb: number;
  /** This bench process's peak RSS once the backend was measured (cumulative). */
  bench_rss_mb: number;
}

export interface NodeFigures {
  /** `daemon run` on the million-sector LMDB home: peak and current RSS after the calls. */
  node_rss_peak_mb: number;
  node_rss_mb: number;
  /** One Venus.SectorIndexerFindMany of a full partition through the node's RPC, p50. */
  node_batch_2349_p50_ms: number;
  node_counts_ms: number;
}

export interface IndexRunOptions {
  sectors: number;
  /** Single lookups measured (after as many again / 10 for warm-up). */
  lookups: number;
  batches: number;
}

const instanceOf = (n: number) => `store-${String(Math.floor(n / PER_INSTANCE)).padStart(3, "0")}`;

/** Random distinct sector numbers below `max`, ascending. */
function randomPartition(max: number, size: number): SectorRef[] {
  const picked = new Set<number>();
  while (picked.size < Math.min(size, max)) picked.add(Math.floor(Math.random() * max));
  return [...picked].sort((a, b) => a - b).map((number) => ({ miner: MINER, number }));
}

async function attach(idx: SectorIndexer, sectors: number, label: string): Promise<number> {
  const p = progress(`${label} attach`, sectors);
  const t0 = performance.now();
  for (let start = 0; start < sectors; start += ATTACH_BATCH) {
    const recs: IndexRecord[] = [];
    for (let n = start; n < Math.min(sectors, start + ATTACH_BATCH); n++)
      recs.push({ miner: MINER, number: n, sealedFile: instanceOf(n), cacheDir: instanceOf(n) });
    const before = await idx.findMany("normal", recs);
    if (before.some((l) => l.found)) throw new Error(`${label}: sectors indexed before attach`);
    await idx.update("normal", recs);
    p.tick(start + recs.length);
  }
  const s = (performance.now() - t0) / 1000;
  p.end();
  return s;
}

async function singleLookups(idx: SectorIndexer, sectors: number, n: number): Promise<number[]> {
  const warm = Math.max(100, Math.floor(n / 10));
  const out: number[] = [];
  for (let i = 0; i < warm + n; i++) {
    const ref = { miner: MINER, number: Math.floor(Math.random() * sectors) };
    const t = process.hrtime.bigint();
    const l = await idx.find("normal", ref);
    const us = Number(process.hrtime.bigint() - t) / 1000;
    if (!l.found || l.instance.sealedFile !== instanceOf(ref.number))
      throw new Error(`sector ${ref.number}: wrong answer ${JSON.stringify(l)}`);
    if (i >= warm) out.push(us);
  }
  return out;
}

async function batchLookups(idx: SectorIndexer, sectors: number, rounds: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < rounds + 3; i++) {
    const refs = randomPartition(sectors, PARTITION_SECTORS);
    const t = performance.now();
    const ls = await idx.findMany("normal", refs);
    const ms = performance.now() - t;
    ls.forEach((l, j) => {
      if (!l.found || l.instance.sealedFile !== instanceOf(refs[j]!.number))
        throw new Error(`batched lookup: sector ${refs[j]?.number} answered ${JSON.stringify(l)}`);
    });
    if (i >= 3) out.push(ms);
  }
  return out;
}

/**
 * `counts` timed, with the longest gap between ticks of a 1 ms timer while it ran: how long it held
 * the event loop in one piece (monitorEventLoopDelay does not see a loop held by a chain of promise
 * jobs, which is what an async scan is).
 */
async function timedCounts(idx: SectorIndexer, sectors: number): Promise<{ ms: number; stallMs: number }> {
  let last = performance.now();
  let stall = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 10));
  const t = performance.now();
  const c = await idx.counts();
  const ms = performance.now() - t;
  // One more tick after the last slice, so a final stall is seen.
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(timer);
  const total = Object.values(c.normal).reduce((a, b) => a + b, 0);
  if (total !== sectors) throw new Error(`counts: ${total} sectors instead of ${sectors}`);
  return { ms, stallMs: stall };
}

async function measure(
  idx: SectorIndexer,
  backend: IndexFigures["backend"],
  o: IndexRunOptions,
  lookups: number,
  dbBytes: () => Promise<number>,
): Promise<IndexFigures> {
  const attachS = await attach(idx, o.sectors, backend);
  const single = await singleLookups(idx, o.sectors, lookups);
  const batch = await batchLookups(idx, o.sectors, o.batches);
  const counts = await timedCounts(idx, o.sectors);
  const f: IndexFigures = {
    backend,
    sectors: o.sectors,
    attach_s: round(attachS, 2),
    attach_sectors_per_s: Math.round(o.sectors / attachS),
    lookup_samples: single.length,
    lookup_p50_us: round(quantile(single, 0.5), 1),
    lookup_p99_us: round(quantile(single, 0.99), 1),
    lookup_max_us: round(Math.max(...single), 1),
    batch_2349_p50_ms: round(quantile(batch, 0.5), 2),
    batch_2349_p99_ms: round(quantile(batch, 0.99), 2),
    counts_ms: round(counts.ms, 1),
    counts_loop_stall_ms: round(counts.stallMs, 1),
    db_mb: round((await dbBytes()) / 2 ** 20, 1),
    bench_rss_mb: round(peakRssMb(), 1),
  };
  console.log(
    `  ${backend}: attach ${f.attach_sectors_per_s.toLocaleString("en-US")} sectors/s (${f.attach_s} s); find p50 ${f.lookup_p50_us} µs, p99 ${f.lookup_p99_us} µs, max ${f.lookup_max_us} µs (${f.lookup_samples} random); findMany of ${PARTITION_SECTORS} p50 ${f.batch_2349_p50_ms} ms, p99 ${f.batch_2349_p99_ms} ms; counts ${f.counts_ms} ms (event loop held ${f.counts_loop_stall_ms} ms); on disk ${f.db_mb} MiB; bench RSS peak ${f.bench_rss_mb} MiB`,
  );
  return f;
}

export function round(x: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}

/** The LMDB index in the home `home` (made with `daemon init`), then closed for the daemon to open. */
export async function lmdbIndex(home: string, o: IndexRunOptions): Promise<IndexFigures> {
  const dir = path.join(home, "db");
  const store = await openLmdbStore(dir);
  try {
    return await measure(new LocalIndexer(store), "lmdb", o, o.lookups, async () => diskBytes(dir));
  } finally {
    await store.close();
  }
}

export async function pgIndex(o: IndexRunOptions): Promise<IndexFigures> {
  const server = await startPg();
  try {
    const pg = openPg(await server.createDatabase("scale"), {
      logger: nullLogger,
      applicationName: "vsm bench scale",
    });
    try {
      await migrate(pg, { logger: nullLogger, node: "bench" });
      // A network round trip per single lookup: fewer samples keep the run short; p99 holds.
      const lookups = Math.max(1000, Math.floor(o.lookups / 5));
      return await measure(new PgIndexer(pg), "postgres", o, lookups, async () => {
        await pg.query("VACUUM ANALYZE sector_index");
        const [r] = await pg.query<{ n: string }>("SELECT pg_total_relation_size('sector_index') AS n");
        return Number(r?.n ?? Number.NaN);
      });
    } finally {
      await pg.close();
    }
  } finally {
    await server.destroy();
  }
}

/**
 * A real node on the million-sector home: `daemon run` (no PoSter: the index and its RPC methods are
 * what is measured), asked for `rounds` full-partition batches, 1,000 single lookups and the counts.
 */
export async function nodeOnIndex(home: string, sectors: number, rounds: number): Promise<NodeFigures> {
  let proc: Proc | undefined;
  try {
    proc = startCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0"], {
      env: { ...process.env, VSM_LOG_LEVEL: "warn" },
    });
    let api: string | undefined;
    for (let i = 0; i < 400 && !api; i++) {
      await new Promise((r) => setTimeout(r, 50));
      api = await readApiFile(home);
    }
    if (!api) throw new Error(`the daemon did not start:\n${proc.lines.join("\n")}`);
    const client = new RpcClient({ url: `http://${api}/rpc/v0`, token: await readToken(home) });
    const batch: number[] = [];
    for (let i = 0; i < rounds + 3; i++) {
      const wire = randomPartition(sectors, PARTITION_SECTORS).map((r) => ({
        Miner: r.miner,
        Number: r.number,
      }));
      const t = performance.now();
      const ls = await client.call<{ Found: boolean }[]>("Venus.SectorIndexerFindMany", ["normal", wire]);
      if (i >= 3) batch.push(performance.now() - t);
      if (ls.length !== wire.length || !ls.every((l) => l.Found))
        throw new Error("the node's batched lookup is incomplete");
    }
    for (let i = 0; i < 1000; i++) {
      const l = await client.call<{ Found: boolean }>("Venus.SectorIndexerFind", [
        "normal",
        { Miner: MINER, Number: Math.floor(Math.random() * sectors) },
      ]);
      if (!l.Found) throw new Error("the node's single lookup missed");
    }
    const t = performance.now();
    await client.call("Venus.SectorIndexerCounts", []);
    const countsMs = performance.now() - t;
    const rss = procRssMb(proc.pid);
    const f: NodeFigures = {
      node_rss_peak_mb: round(rss.peak, 1),
      node_rss_mb: round(rss.now, 1),
      node_batch_2349_p50_ms: round(quantile(batch, 0.5), 2),
      node_counts_ms: round(countsMs, 1),
    };
    console.log(
      `  node (daemon run on the LMDB home): FindMany of ${PARTITION_SECTORS} over RPC p50 ${f.node_batch_2349_p50_ms} ms; Counts ${f.node_counts_ms} ms; RSS ${f.node_rss_mb} MiB, peak ${f.node_rss_peak_mb} MiB`,
    );
    return f;
  } finally {
    await proc?.stop(5000);
  }
}

/** `daemon init` into a fresh home under `dir`. */
export async function initHome(dir: string): Promise<string> {
  const home = path.join(dir, "home");
  await runCli(["--home", home, "daemon", "init"]);
  if (!fs.existsSync(home)) throw new Error(`daemon init did not create ${home}`);
  return home;
}
