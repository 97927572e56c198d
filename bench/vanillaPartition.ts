/**
 * Issue 3 benchmark: the CPU cost of the vanilla proofs of one full 32 GiB partition
 * (2349 sectors × 10 challenges).
 *
 * Measured directly: proveSector (partial rebuild of 73 nodes per challenge, path assembly, the
 * prover's own re-verification, comm_r check) on real 32 GiB-shaped sectors: sparse replicas whose
 * challenged 16 KiB segments hold random data and real 9.1 MiB tree-r-last files (see
 * test/unit/proofs/sparseSector.ts). One thread, so the figure is per core; then extrapolated to 2349
 * sectors. Replica reads come from the page cache here: this measures compute, not disks.
 *
 * Native rust-fil-proofs is not run here. Its cost is known only as a cited estimate (≈ 68
 * core-seconds per partition, from a published per-hash figure on other hardware; see
 * bench/citedReferences.ts), printed as such and never divided into this run's numbers. Issue 3's
 * goal, "within 10× of native per core", is checked as the absolute budget it sets: ≤ 680
 * core-seconds per partition.
 *
 * Hashing goes through the WebAssembly Poseidon (src/proofs/poseidon/wasm/): the partial rebuild
 * hashes the segment's rows as bytes (nodes.hashRowBytes), path checks use nodes.hashNodes. The
 * per-hash line below times `poseidonHash` (the same WebAssembly code, one call per hash).
 *
 * `--zero-partition` also proves a WHOLE partition for real, on one thread: 2,349 sparse 32 GiB sectors
 * of zeros (`devnet seal --sparse`, src/proofs/sparseSeal.ts). Their challenged segments are all zero,
 * so the prover takes the rebuilt rows from the zero tree instead of hashing them (inclusion.ts); what
 * remains is the file reads and the re-verification of every path, a floor under the figure above.
 * That is the cost the issue 15 e2e test and bench:scale pay per partition.
 *
 * Run: node --import tsx bench/vanillaPartition.ts [--sectors 4] [--zero-partition]
 */
import os from "node:os";
import { performance } from "node:perf_hooks";
import { poseidonHash } from "../src/proofs/poseidon.js";
import { shapeByName } from "../src/proofs/sectorShapes.js";
import { writeSparseSectors } from "../src/proofs/sparseSeal.js";
import { seededRandom } from "../src/proofs/syntheticSector.js";
import { treeGeometry } from "../src/proofs/treeRLast.js";
import { proveSector, sectorChallenges, verifySector } from "../src/proofs/vanilla.js";
import { tempDir } from "../test/helpers/tmp.js";
import { writeSparseSector } from "../test/unit/proofs/sparseSector.js";
import { citedLines, NATIVE_PARTITION, NEPTUNE_ARITY8 } from "./citedReferences.js";

const SECTORS_PER_PARTITION = 2349;
/** Issue 3's goal, 10× the cited native estimate, as the budget it fixes. */
const BUDGET_CORE_SECONDS = 10 * NATIVE_PARTITION.value;
const arg = process.argv.indexOf("--sectors");
const SAMPLE = arg > 0 ? Number(process.argv[arg + 1]) : 4;
const ZERO_PARTITION = process.argv.includes("--zero-partition");

/** Prove every sector of a full partition of sparse zero sectors on this thread; ms per sector. */
async function zeroPartition(
  dir: string,
  randomness: Uint8Array,
): Promise<{ totalMs: number; perSectorMs: number }> {
  const shape = shapeByName("32GiB")!;
  const { sectors } = await writeSparseSectors({
    storeDir: dir,
    miner: 1000,
    start: 1,
    count: SECTORS_PER_PARTITION,
    shape,
  });
  const t0 = performance.now();
  for (const [i, s] of sectors.entries()) {
    const input = {
      shape,
      sectorNumber: s.number,
      randomness,
      apiVersion: "V1_2_0" as const,
      sectorIndex: i,
      challengeCount: 10,
    };
    const proof = await proveSector({
      ...input,
      commR: s.commR,
      sealedFile: s.sealedFile,
      cacheDir: s.cacheDir,
    });
    if (i % 500 === 0) {
      const v = await verifySector({ ...input, commR: s.commR, proof });
      if (!v.ok) throw new Error(`proof of sparse sector ${s.number} does not verify: ${v.reason}`);
    }
  }
  const totalMs = performance.now() - t0;
  return { totalMs, perSectorMs: totalMs / sectors.length };
}

async function main() {
  const shape = shapeByName("32GiB")!;
  const geom = treeGeometry(shape);
  const t = await tempDir("vsm-bench-vanilla-");
  try {
    // Per-hash cost on this machine, same run.
    const el = Array.from({ length: 8 }, (_, i) => BigInt(i + 1) * 0x1234567890abcdefn);
    poseidonHash(8, el);
    let n = 0;
    const h0 = performance.now();
    while (performance.now() - h0 < 1500) {
      el[0] = poseidonHash(8, el);
      n++;
    }
    const hashUs = ((performance.now() - h0) * 1000) / n;

    const randomness = Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + 3) & 0xff);
    randomness[31] = (randomness[31] ?? 0) & 0x3f;
    let proveMs = 0;
    let verifyMs = 0;
    for (let s = 0; s < SAMPLE; s++) {
      const sectorNumber = 1000 + s;
      const input = {
        shape,
        sectorNumber,
        randomness,
        apiVersion: "V1_2_0" as const,
        sectorIndex: s,
        challengeCount: 10,
      };
      const segments = sectorChallenges(input).map((c) => Math.floor(c / geom.segmentLeaves));
      const sector = await writeSparseSector(`${t.dir}/s${s}`, shape, segments, seededRandom(s));
      const p0 = performance.now();
      const proof = await proveSector({
        ...input,
        commR: sector.commR,
        sealedFile: sector.sealedFile,
        cacheDir: sector.cacheDir,
      });
      const p1 = performance.now();
      const v = await verifySector({ ...input, commR: sector.commR, proof });
      const p2 = performance.now();
      if (!v.ok) throw new Error(`proof of sector ${sectorNumber} does not verify: ${v.reason}`);
      if (s > 0 || SAMPLE === 1) {
        // the first sector warms up the JIT and constant tables
        proveMs += p1 - p0;
        verifyMs += p2 - p1;
      }
    }
    const measured = SAMPLE > 1 ? SAMPLE - 1 : 1;
    const perSectorMs = proveMs / measured;
    const coreSeconds = (perSectorMs * SECTORS_PER_PARTITION) / 1000;
    const cores = os.availableParallelism();
    console.log(
      `Vanilla proofs of one 32 GiB partition (${SECTORS_PER_PARTITION} sectors × 10 challenges), Node ${process.version}`,
    );
    console.log(`  Poseidon arity 8 (WASM), here   : ${hashUs.toFixed(0)} µs/hash`);
    console.log(
      `  prove one sector (measured, ${measured} sectors, 1 thread): ${perSectorMs.toFixed(0)} ms  (${(perSectorMs / 10).toFixed(1)} ms per challenge)`,
    );
    console.log(`  verify one sector               : ${(verifyMs / measured).toFixed(0)} ms`);
    console.log(
      `  partition, extrapolated         : ${coreSeconds.toFixed(0)} core-seconds = ${perSectorMs.toFixed(0)} ms × ${SECTORS_PER_PARTITION}`,
    );
    console.log(
      `                                    ≈ ${(coreSeconds / cores / 60).toFixed(1)} min on this machine's ${cores} cores, ${(coreSeconds / 16 / 60).toFixed(1)} min on 16`,
    );
    console.log(
      `  issue 3 budget                  : ≤ ${BUDGET_CORE_SECONDS} core-seconds per partition: ${coreSeconds <= BUDGET_CORE_SECONDS ? "met" : "NOT met"}`,
    );
    for (const l of [...citedLines(NEPTUNE_ARITY8), ...citedLines(NATIVE_PARTITION)]) console.log(l);
    let zero: { totalMs: number; perSectorMs: number } | undefined;
    if (ZERO_PARTITION) {
      zero = await zeroPartition(`${t.dir}/zero`, randomness);
      console.log(
        `  whole partition of sparse zero sectors, proven (1 thread): ${(zero.totalMs / 1000).toFixed(1)} s = ${zero.perSectorMs.toFixed(1)} ms × ${SECTORS_PER_PARTITION}`,
      );
    }
    console.log(
      JSON.stringify({
        bench: "vanillaPartition",
        hashUs,
        perSectorMs,
        coreSeconds,
        budgetCoreSeconds: BUDGET_CORE_SECONDS,
        citedNativeCoreSeconds: NATIVE_PARTITION.value,
        ...(zero ? { zeroPartitionSeconds: zero.totalMs / 1000, zeroPerSectorMs: zero.perSectorMs } : {}),
      }),
    );
  } finally {
    await t.cleanup();
  }
}

await main();
