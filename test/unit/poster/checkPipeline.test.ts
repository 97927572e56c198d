/**
 * Sector checks are per partition and pipelined with proving: a partition goes to the prover as soon as
 * its own sectors are checked, and PartitionCheckTimeout bounds each partition's check, not the whole
 * deadline's. runDeadline against a devnet served on loopback (blocks produced by hand), real synthetic
 * 2 KiB sectors in a real store, and a strict probe and prover that only record when they run (a dry
 * run: nothing is sent, so the proofs need not verify).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { DeadlineInfo, TipSetKey } from "../../../src/chain/interface.js";
import type { SectorManagerConfig } from "../../../src/config/types.js";
import { nullLogger } from "../../../src/log/logger.js";
import { runDeadline } from "../../../src/poster/runner.js";
import type { ProveFn, RunnerDeps } from "../../../src/poster/types.js";
import type { StrictProbe } from "../../../src/sectors/check.js";
import { SmError } from "../../../src/util/errors.js";
import { manualConfig, RunnerFixture } from "../../helpers/runnerFixture.js";

/** 2 KiB partitions hold 2 sectors: 4 partitions. */
const SECTORS = 8;
const PROBE_MS = 40;

describe("runDeadline: sector checks per partition, pipelined with proving", () => {
  let fx: RunnerFixture;
  let deps: Omit<RunnerDeps, "prove">;
  let di: DeadlineInfo;
  let tsk: TipSetKey;

  before(async () => {
    fx = await RunnerFixture.start({
      prefix: "vsm-checkpipe-",
      sectors: SECTORS,
      // 3 deadlines: only one is mutable at onboarding, so every sector lands in the same deadline.
      policy: { wPoStPeriodDeadlines: 3 },
      lines: { post: "StrictCheck = true" },
      // No pool: each test brings its own strict probe and [Common.Proving].
      threads: 0,
    });
    deps = { ...fx.deps, chain: fx.chain, logger: nullLogger };
    ({ di, tsk } = await fx.advanceToSectorsDeadline({
      partitions: SECTORS / 2,
      maxBlocks: 100,
    }));
  });
  after(async () => {
    await fx?.close();
  });

  function config(proving: string): SectorManagerConfig {
    return manualConfig(fx.manual, fx.dir, { proving, post: "StrictCheck = true" });
  }

  /** A strict probe that takes PROBE_MS per sector and a prover that answers at once; both log when. */
  function recording() {
    const t0 = performance.now();
    const probes: { sector: number; at: number }[] = [];
    const proofs: { sectors: number[]; at: number }[] = [];
    const concurrency = { now: 0, max: 0 };
    const strictProbe: StrictProbe = async (input) => {
      probes.push({ sector: input.target.number, at: performance.now() - t0 });
      concurrency.max = Math.max(concurrency.max, ++concurrency.now);
      await sleep(PROBE_MS);
      concurrency.now--;
    };
    const prove: ProveFn = async (task, o) => {
      // A prover names itself when it takes a task (an ext-prover block does); the run records it.
      o.onStart?.(`WdPost[${task.replicas[0]?.sectorId}]`);
      proofs.push({ sectors: task.replicas.map((r) => r.sectorId), at: performance.now() - t0 });
      return { proofs: task.replicas.map(() => new Uint8Array(32)), faults: [] };
    };
    return { probes, proofs, concurrency, strictProbe, prove };
  }

  const run = (cfg: SectorManagerConfig, r: ReturnType<typeof recording>) =>
    runDeadline(
      cfg.Miners[0]!,
      di,
      tsk,
      { ...deps, proving: cfg.Common.Proving, strictProbe: r.strictProbe, prove: r.prove },
      { signal: AbortSignal.timeout(30_000), submitAllowed: async () => {}, dryRun: true },
    );

  test("the first partition is proven while the later partitions' sectors are still being checked", async () => {
    // ParallelCheckLimit = one partition's sectors: partitions are checked one after another.
    const rec = recording();
    const r = await run(config("ParallelCheckLimit = 2"), rec);
    assert.equal(r.partitions.length, SECTORS / 2);
    assert.ok(
      r.partitions.every((p) => p.source === "proved"),
      JSON.stringify(r.partitions),
    );
    assert.deepEqual(r.skipped, []);
    const firstProof = Math.min(...rec.proofs.map((p) => p.at));
    const lastProbe = Math.max(...rec.probes.map((p) => p.at));
    assert.ok(
      firstProof < lastProbe,
      `first proof at ${firstProof.toFixed(0)} ms, last sector check started at ${lastProbe.toFixed(0)} ms`,
    );
    // In partition order: partition 0 (sectors 1, 2) first.
    assert.deepEqual(rec.proofs[0]?.sectors, [1, 2]);
    // Which prover took each partition, for the dashboard.
    assert.deepEqual(r.provers, { 0: "WdPost[1]", 1: "WdPost[3]", 2: "WdPost[5]", 3: "WdPost[7]" });
    // The node's own time by stage (a dry run builds no message): each partition's check lasts at
    // least one probe (its two sectors are probed together).
    const st = r.stageMs ?? {};
    assert.deepEqual(Object.keys(st).sort(), ["chain", "check", "group", "lookup"]);
    assert.ok((st.check ?? 0) >= (SECTORS / 2) * PROBE_MS * 0.9, `check ${st.check} ms`);
  });

  test("PartitionCheckTimeout bounds each partition's check, not the whole deadline's", async () => {
    // One sector at a time: 2 × 40 ms per partition fits in 150 ms, 8 × 40 ms for the deadline does not.
    const rec = recording();
    const r = await run(config('ParallelCheckLimit = 1\nPartitionCheckTimeout = "150ms"'), rec);
    assert.deepEqual(r.skipped, [], "no sector counted bad for want of time");
    assert.ok(
      r.partitions.every((p) => p.source === "proved" && p.skipped === 0),
      JSON.stringify(r.partitions),
    );
    assert.equal(rec.probes.length, SECTORS);
  });

  test("small partitions are checked together while their sectors fit in ParallelCheckLimit", async () => {
    const rec = recording();
    const r = await run(config("ParallelCheckLimit = 4"), rec);
    assert.deepEqual(r.skipped, []);
    assert.equal(rec.concurrency.max, 4, "two partitions of 2 sectors at once, never more");
    const unlimited = recording();
    await run(config("ParallelCheckLimit = 0"), unlimited);
    assert.equal(unlimited.concurrency.max, SECTORS, "0 = unlimited: every partition at once");
  });

  test("a dry run reports a prover that keeps failing after a few tries, instead of retrying until the call times out", async () => {
    const calls = new Map<number, number>();
    const prove: ProveFn = async (task) => {
      const first = task.replicas[0]?.sectorId ?? -1;
      calls.set(first, (calls.get(first) ?? 0) + 1);
      throw new SmError("EXT_PROVER_CHILD_EXITED", "ext-prover child 4242 exited with code 1 (test)");
    };
    const cfg = config("");
    const started = performance.now();
    const r = await runDeadline(
      cfg.Miners[0]!,
      di,
      tsk,
      { ...deps, proving: cfg.Common.Proving, strictProbe: recording().strictProbe, prove },
      { signal: AbortSignal.timeout(30_000), submitAllowed: async () => {}, dryRun: true },
    );
    const ms = performance.now() - started;
    assert.ok(ms < 15_000, `the dry run answered after ${ms.toFixed(0)} ms, not at its 30 s signal`);
    assert.equal(r.partitions.length, SECTORS / 2, JSON.stringify(r.partitions));
    for (const p of r.partitions) {
      assert.equal(p.source, "failed", JSON.stringify(p));
      assert.match(p.error ?? "", /exited with code 1 \(test\)/);
    }
    assert.deepEqual([...calls.values()], [3, 3, 3, 3], "three tries per partition");
    assert.deepEqual(r.dryRun, [], "no message is built from failed partitions");
  });

  test("a live run records a partition whose prover failed for good as failed, with the reason", async () => {
    const prove: ProveFn = async () => {
      throw new SmError("PROOF_UNKNOWN_TYPE", "the prover does not know this proof type (test)");
    };
    const cfg = config("");
    const r = await runDeadline(
      cfg.Miners[0]!,
      di,
      tsk,
      { ...deps, proving: cfg.Common.Proving, strictProbe: recording().strictProbe, prove },
      { signal: AbortSignal.timeout(30_000), submitAllowed: async () => {} },
    );
    assert.equal(r.partitions.length, SECTORS / 2, JSON.stringify(r.partitions));
    assert.ok(
      r.partitions.every((p) => p.source === "failed" && /proof type \(test\)/.test(p.error ?? "")),
      JSON.stringify(r.partitions),
    );
    assert.deepEqual(r.proven, []);
  });
});
