/**
 * Issue 6 benchmark (scheduling core): N partitions on K ext-prover children, each partition taking a
 * fixed simulated proving time T (test/fixtures/testProcessor.mjs in "slow" mode, real processes).
 *
 *  1. Makespan from the first request to the last answer vs the lower bound max(ceil(N/K)·T, T).
 *     Goal: within 10% of the bound.
 *  2. Two miners whose windows overlap, fewer provers than partitions: miner A's deadline closes
 *     soon, miner B's later, B's work arrives first. With earliest-Close-first (the pool's priority)
 *     A finishes before its close; with first-come-first-served (all priorities equal) it does not.
 *
 * This measures the prover pool's scheduling, not the chain round trips (see the e2e tests for those).
 * Run: node --import tsx bench/scheduling.ts [--n 24] [--k 4] [--ms 200]
 */
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { nullLogger } from "../src/log/logger.js";
import { ExtProverPool } from "../src/prover/ext/pool.js";
import type { ChildSpec } from "../src/prover/ext/specs.js";
import type { PoStTask } from "../src/prover/protocol.js";

const FIXTURE = fileURLToPath(new URL("../test/fixtures/testProcessor.mjs", import.meta.url));
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg("n", 24);
const K = arg("k", 4);
const T = arg("ms", 200);

const task = (n: number): PoStTask => ({
  minerId: 1000,
  proofType: "StackedDrgWindow32GiBV1_2",
  replicas: [{ sectorId: n, commR: new Uint8Array(32), cacheDir: "/c", sealedFile: "/s" }],
  seed: new Uint8Array(32),
});

async function withPool<R>(fn: (pool: ExtProverPool) => Promise<R>): Promise<R> {
  const specs: ChildSpec[] = Array.from({ length: K }, (_, i) => ({
    stage: "window_post",
    index: i,
    bin: process.execPath,
    args: [FIXTURE, "window_post"],
    envs: { MODE: "slow", SLOW_MS: String(T) },
    concurrent: 1,
    weight: 1,
    readyTimeoutMs: 10_000,
  }));
  const pool = new ExtProverPool("window_post", specs, { logger: nullLogger });
  await pool.start();
  try {
    return await fn(pool);
  } finally {
    await pool.close();
  }
}

async function main() {
  // 1. makespan vs bound
  const makespan = await withPool(async (pool) => {
    await Promise.all(Array.from({ length: K }, (_, i) => pool.submit(task(i), { priority: 0 }))); // warm up
    const t0 = performance.now();
    await Promise.all(Array.from({ length: N }, (_, i) => pool.submit(task(i), { priority: 100 })));
    return performance.now() - t0;
  });
  const bound = Math.max(Math.ceil(N / K) * T, T);

  // 2. EDF vs FCFS: B (close late) submits 2K partitions first, then A (close soon) submits K.
  const scenario = (edf: boolean) =>
    withPool(async (pool) => {
      const t0 = performance.now();
      const b = Array.from({ length: 2 * K }, (_, i) => pool.submit(task(i), { priority: edf ? 2000 : 1 }));
      await new Promise((r) => setTimeout(r, 5));
      const a = Array.from({ length: K }, (_, i) => pool.submit(task(100 + i), { priority: edf ? 1000 : 1 }));
      const aDone = await Promise.all(a).then(() => performance.now() - t0);
      await Promise.all(b);
      return aDone;
    });
  const aEdf = await scenario(true);
  const aFcfs = await scenario(false);
  // A's "close" in this scenario: enough time for its own K partitions plus one round already running.
  const aClose = 2.5 * T;

  console.log(
    `Scheduling on the ext-prover pool: ${N} partitions, ${K} provers, ${T} ms each (real child processes)`,
  );
  console.log(
    `  makespan ${makespan.toFixed(0)} ms vs lower bound ${bound} ms: ratio ${(makespan / bound).toFixed(3)} (goal ≤ 1.10: ${makespan / bound <= 1.1 ? "met" : "NOT met"})`,
  );
  console.log(`  overlapping miners, A (closes in ${aClose} ms) queued behind B's ${2 * K} partitions:`);
  console.log(
    `    earliest-Close-first: A done after ${aEdf.toFixed(0)} ms (${aEdf <= aClose ? "on time" : "LATE"})`,
  );
  console.log(
    `    first-come-first-served: A done after ${aFcfs.toFixed(0)} ms (${aFcfs <= aClose ? "on time" : "LATE"})`,
  );
  console.log(
    JSON.stringify({
      bench: "scheduling",
      n: N,
      k: K,
      ms: T,
      makespanMs: makespan,
      boundMs: bound,
      ratio: makespan / bound,
      aEdfMs: aEdf,
      aFcfsMs: aFcfs,
    }),
  );
}

await main();
