/**
 * Issue 15 benchmark: the node's own costs at mainnet shape, on one machine.
 *
 *  (a) the sector index of a 32 PiB miner, 1,000,000 sectors, on LMDB and on PostgreSQL
 *      (bench/scaleIndex.ts): attach throughput, single lookup p50/p99, a full partition's batched
 *      lookup, counts, size on disk, and a real node's RSS with that index;
 *  (b) one deadline of 10 full 32 GiB partitions (23,490 sparse sectors) proven by a standalone PoSter
 *      with K ext-prover children of fixed time T: makespan against max(⌈10/K⌉·T, T), the node's own
 *      time by stage, its peak RSS. TODO(issue 15, after the sparse-sealing merge): needs
 *      `vsm devnet seal --size 32GiB --sparse` and the devnet at mainnet shape;
 *  (c) strict checks of a full 2,349-sector partition: sectors per second per core, the partition on 2
 *      cores, against PartitionCheckTimeout's default. TODO(issue 15, after the same merge).
 *
 * Progress goes to stderr (one line rewritten on a terminal, a line every 5 s otherwise); the figures
 * to stdout, the last line one JSON object (`Result`). Keys a part does not measure stay null.
 *
 * Run: npm run bench:scale [-- --parts a --sectors 1000000 --lookups 50000 --batches 30 --no-pg]
 * Part (a) takes about a minute on 2 cores (55-70 s measured).
 */
import { tempDir } from "../test/helpers/tmp.js";
import {
  type IndexFigures,
  initHome,
  lmdbIndex,
  type NodeFigures,
  nodeOnIndex,
  pgIndex,
} from "./scaleIndex.js";
import { peakRssMb } from "./scaleProgress.js";

const argOf = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const num = (name: string, dflt: number) => {
  const v = argOf(name);
  const n = v === undefined ? dflt : Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} ${v}: expected a positive integer`);
  return n;
};
const flag = (name: string) => process.argv.includes(`--${name}`);

const PARTS = new Set((argOf("parts") ?? "a,b,c").split(","));
const SECTORS = num("sectors", 1_000_000);
const LOOKUPS = num("lookups", 50_000);
const BATCHES = num("batches", 30);

/** The last line printed. The issue names the first eight keys; the rest are (a)'s details. */
interface Result {
  /** (b): sectors of the deadline proven. */
  sectors: number | null;
  /** (b): partitions of the deadline. */
  partitions: number | null;
  /** (b): makespan / max(⌈P/K⌉·T, T). */
  bound_ratio: number | null;
  /** (b): the node's own time for the deadline (chain reads, lookups, checks, grouping, messages). */
  node_overhead_s: number | null;
  /** Peak RSS of the node: (a) a daemon on the million-sector index; (b) the PoSter's, when it runs. */
  rss_mb: number | null;
  /** (a): single lookup p99 on LMDB, µs. */
  lookup_p99_us: number | null;
  /** (a): sectors in the index measured. */
  index_sectors: number | null;
  /** (c): strict checks per second per core. */
  strict_sectors_per_core_s: number | null;
  index: { lmdb: IndexFigures | null; postgres: IndexFigures | null; node: NodeFigures | null };
  bench_rss_mb: number;
  not_measured: string[];
}

async function partA(r: Result): Promise<void> {
  console.log(`(a) sector index, ${SECTORS.toLocaleString("en-US")} sectors of miner f01000`);
  const t = await tempDir("vsm-scale-");
  try {
    const home = await initHome(t.dir);
    r.index.lmdb = await lmdbIndex(home, { sectors: SECTORS, lookups: LOOKUPS, batches: BATCHES });
    r.index_sectors = SECTORS;
    r.lookup_p99_us = r.index.lmdb.lookup_p99_us;
    if (!flag("no-node")) {
      r.index.node = await nodeOnIndex(home, SECTORS, BATCHES);
      r.rss_mb = r.index.node.node_rss_peak_mb;
    } else r.not_measured.push("a: node RSS (--no-node)");
  } finally {
    await t.cleanup();
  }
  if (!flag("no-pg"))
    r.index.postgres = await pgIndex({ sectors: SECTORS, lookups: LOOKUPS, batches: BATCHES });
  else r.not_measured.push("a: postgres (--no-pg)");
}

async function partB(r: Result): Promise<void> {
  // TODO(issue 15 part 3b): needs sparse 32 GiB sectors and the devnet at mainnet shape (the
  // seal15 branch). Fill sectors, partitions, bound_ratio, node_overhead_s and rss_mb (the PoSter's).
  console.log("(b) one deadline of 10 × 2,349 sectors: not yet (waits for sparse 32 GiB sealing)");
  r.not_measured.push("b: not yet");
}

async function partC(r: Result): Promise<void> {
  // TODO(issue 15 part 3c): strict checks over a sparse 32 GiB partition; fills strict_sectors_per_core_s.
  console.log("(c) strict checks of a 2,349-sector partition: not yet (waits for sparse 32 GiB sealing)");
  r.not_measured.push("c: not yet");
}

async function main(): Promise<void> {
  const r: Result = {
    sectors: null,
    partitions: null,
    bound_ratio: null,
    node_overhead_s: null,
    rss_mb: null,
    lookup_p99_us: null,
    index_sectors: null,
    strict_sectors_per_core_s: null,
    index: { lmdb: null, postgres: null, node: null },
    bench_rss_mb: 0,
    not_measured: [],
  };
  const started = Date.now();
  if (PARTS.has("a")) await partA(r);
  if (PARTS.has("b")) await partB(r);
  if (PARTS.has("c")) await partC(r);
  r.bench_rss_mb = Math.round(peakRssMb() * 10) / 10;
  console.log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  console.log(JSON.stringify(r));
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
