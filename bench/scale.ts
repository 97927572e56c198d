/**
 * Issue 15 benchmark: the node's own costs at mainnet shape, on one machine.
 *
 *  (a) the sector index of a 32 PiB miner, 1,000,000 sectors, on LMDB and on PostgreSQL
 *      (bench/scaleIndex.ts): attach throughput, single lookup p50/p99, a full partition's batched
 *      lookup, counts, size on disk, and a real node's RSS with that index;
 *  (b) one deadline of 10 full 32 GiB partitions (23,490 sparse sectors) proven by a standalone PoSter
 *      with K ext-prover children of fixed time T: makespan against max(⌈10/K⌉·T, T), the node's own
 *      time by stage, its peak RSS (bench/scaleDeadline.ts);
 *  (c) strict checks of a full 2,349-sector partition (bench/scaleStrict.ts): sectors per second per
 *      core, the partition on 2 worker threads, against PartitionCheckTimeout's default.
 *
 * Progress goes to stderr (one line rewritten on a terminal, a line every 5 s otherwise); the figures
 * to stdout, the last line one JSON object (`Result`). Keys a part does not measure stay null.
 *
 * Run: npm run bench:scale [-- --parts a,b,c --sectors 1000000 --lookups 50000 --batches 30 --no-pg
 *      --partitions 10 --k 2 --ms 45000 --poster-log FILE --poster-cpu-prof DIR --devnet-cpu-prof DIR --threads 2 --strict-sample 300]
 * On 2 cores: (a) about a minute, (b) 5-7 minutes (the deadline's proving alone is ⌈P/K⌉·T), (c) 1-2.
 */
import { tempDir } from "../test/helpers/tmp.js";
import { type DeadlineFigures, provenDeadline } from "./scaleDeadline.js";
import {
  type IndexFigures,
  initHome,
  lmdbIndex,
  type NodeFigures,
  nodeOnIndex,
  pgIndex,
} from "./scaleIndex.js";
import { peakRssMb } from "./scaleProgress.js";
import { type StrictFigures, strictChecks } from "./scaleStrict.js";

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
  /** (b): the PoSter's peak RSS while it proves the deadline, MiB. */
  poster_rss_mb: number | null;
  /** (b)'s details. */
  deadline: DeadlineFigures | null;
  /** (c)'s details. */
  strict: StrictFigures | null;
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
  const k = num("k", 2);
  const tMs = num("ms", 45_000);
  const partitions = num("partitions", 10);
  console.log(
    `(b) one deadline of ${partitions} full 32 GiB partitions, a standalone PoSter, ${k} ext-prover children of ${tMs / 1000} s (real proofs behind the delay)`,
  );
  const b = await provenDeadline({
    partitions,
    k,
    tMs,
    logFile: argOf("poster-log"),
    cpuProfDir: argOf("poster-cpu-prof"),
    devnetCpuProfDir: argOf("devnet-cpu-prof"),
  });
  r.deadline = b;
  r.sectors = b.sectors;
  r.partitions = b.partitions;
  r.bound_ratio = b.bound_ratio;
  r.node_overhead_s = b.node_overhead_s;
  r.poster_rss_mb = b.poster_rss_peak_mb;
  console.log(
    `  makespan ${b.makespan_s} s against the bound max(⌈${partitions}/${k}⌉·${tMs / 1000}, ${tMs / 1000}) = ${b.bound_s} s: ${b.bound_ratio}× (goal ≤ 1.10: ${b.bound_ratio <= 1.1 ? "met" : "NOT met"})`,
  );
  console.log(
    `  the node's own time: ${b.node_overhead_s} s (goal ≤ 3 s: ${b.node_overhead_s <= 3 ? "met" : "NOT met"}), by stage in ms: ${Object.entries(
      b.stage_ms,
    )
      .map(([s, v]) => `${s} ${v}`)
      .join(
        ", ",
      )}; messages waiting for their vanilla proofs to be compressed and stored (not a stage): ${b.proof_wait_ms} ms; on the critical path (head → first request, last answer → last push): ${b.critical_overhead_s} s; the PoSter's CPU over the run: ${b.node_cpu_s} s`,
  );
  console.log(
    `  head → "proving deadline" ${b.notify_ms} ms, → first child request ${b.before_proving_ms} ms, last answer → last push ${b.after_proving_ms} ms${b.open_wait_ms > 0 ? ` (counted from Open + 1, ${b.open_wait_ms} ms after the last answer)` : ""}; ` +
      `${b.slow_requests} of ${partitions} requests longer than T (longest ${b.longest_request_ms} ms); ${b.messages} messages, the last ${b.margin_epochs} epochs before Close`,
  );
  console.log(
    `  the PoSter's peak RSS: ${b.poster_rss_peak_mb} MiB (vanilla bundles of ~59 MB per partition pass through it)`,
  );
}

async function partC(r: Result): Promise<void> {
  console.log("(c) strict checks of a full 32 GiB partition (2,349 sparse sectors)");
  const c = await strictChecks({ threads: num("threads", 2), sample: num("strict-sample", 300) });
  r.strict = c;
  r.strict_sectors_per_core_s = c.strict_sectors_per_core_s;
  console.log(
    `  one core: ${c.ms_per_sector} ms per sector, ${c.strict_sectors_per_core_s} sectors/s (${c.per_core_sample} sectors)`,
  );
  console.log(
    `  the partition on ${c.threads} threads: ${c.partition_s} s (${c.partition_sectors_per_s} sectors/s), ` +
      `${(c.timeout_ratio * 100).toFixed(2)}% of PartitionCheckTimeout's default ${c.partition_check_timeout_s} s`,
  );
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
    poster_rss_mb: null,
    deadline: null,
    strict: null,
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
