/**
 * The per-deadline series move where the events happen: a real devnet with 2 KiB sectors, a Poster
 * with the real built-in prover and a metrics registry, blocks produced by the test. After a deadline
 * with sectors is proven, its check time, per-partition proving figures, message exit code, gas and
 * Close margins, the faulty count, the chain head and the sender balance must all be there; while a
 * run goes on its Close epoch is exported, and the series goes when it is judged.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { memoryLogger } from "../../../src/log/logger.js";
import { createMetrics } from "../../../src/metrics/metrics.js";
import { Poster } from "../../../src/poster/poster.js";
import type { RunnerDeps } from "../../../src/poster/types.js";
import { createVanillaProver } from "../../../src/prover/vanillaProver.js";
import { AbortedError } from "../../../src/util/errors.js";
import { RunnerFixture } from "../../helpers/runnerFixture.js";

const MINER = "f01000";

/** The value of one sample of the exposition text (NaN when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return Number.NaN;
}

describe("metrics recorded by a PoSter run", () => {
  let fx: RunnerFixture;
  let deps: Omit<RunnerDeps, "chain" | "logger">;

  before(async () => {
    fx = await RunnerFixture.start({
      prefix: "vsm-metrics-recorded-",
      sectors: 4,
      lines: { post: "ChallengeConfidence = 1\nSubmitConfidence = 1\nConfidence = 1" },
      producer: {},
      chain: { pingIntervalMs: 0 },
    });
    const local = createVanillaProver("window_post", fx.pool, memoryLogger("warn").logger);
    deps = { ...fx.deps, prove: (task, o) => local(task, o.signal) };
  });
  after(async () => {
    await fx?.close();
  });

  test("a proven deadline moves the per-deadline, per-partition, message, head and sender series", async () => {
    const metrics = createMetrics({ defaults: false });
    const { logger, lines } = memoryLogger("info");
    const poster = new Poster({ ...deps, chain: fx.producer.producingChain(fx.chain), logger, metrics }, [
      fx.config.Miners[0]!,
    ]);
    const stop = new AbortController();
    const running = poster.run(stop.signal);
    let sawRunning = false;
    try {
      fx.producer.everyMs = 150;
      const end = Date.now() + 40_000;
      let text = "";
      for (;;) {
        text = await metrics.registry.metrics();
        if (/^vsm_wdpost_deadline_running_close_epoch\{/m.test(text)) sawRunning = true;
        if (sample(text, "vsm_wdpost_deadlines_total", { miner: MINER, result: "proven" }) >= 1) break;
        if (Date.now() > end) assert.fail(`no deadline proven within 40 s\n${text}`);
        await sleep(20);
      }
      assert.ok(sawRunning, "a running deadline's Close epoch was exported while it ran");
      assert.ok(sample(text, "vsm_wdpost_sector_check_seconds_count", { miner: MINER }) >= 1, "check timed");
      assert.ok(
        sample(text, "vsm_wdpost_partition_last_prove_seconds", { miner: MINER, partition: "0" }) > 0,
        "per-partition proving time",
      );
      assert.equal(sample(text, "vsm_wdpost_partition_skipped_sectors", { miner: MINER, partition: "0" }), 0);
      assert.ok(sample(text, "vsm_wdpost_message_exit_codes_total", { miner: MINER, exit_code: "0" }) >= 1);
      assert.ok(sample(text, "vsm_wdpost_message_gas_used_count", { miner: MINER }) >= 1, "gas observed");
      assert.ok(sample(text, "vsm_wdpost_message_close_margin_epochs_count", { miner: MINER }) >= 1);
      assert.ok(
        sample(text, "vsm_wdpost_deadline_close_margin_epochs", { miner: MINER }) > 0,
        "proven before Close",
      );
      assert.equal(sample(text, "vsm_wdpost_faulty_sectors", { miner: MINER }), 0, "nothing faulty on chain");
      assert.ok(sample(text, "vsm_chain_head_height") > 0, "head height");
      assert.ok(sample(text, "vsm_chain_head_lag_seconds") >= 0, "head lag computed at scrape");
      assert.ok(sample(text, "vsm_chain_head_timestamp_seconds") > 1e9, "head timestamp in Unix seconds");
      assert.ok(
        sample(text, "vsm_sender_balance_fil", { miner: MINER, role: "worker" }) > 0,
        "worker balance",
      );
      // The "deadline done" line says where the node's own time went, stage by stage.
      const done = lines
        .map((l) => JSON.parse(l) as { msg: string; stage_ms?: Record<string, number>; cpu_ms?: number })
        .find((l) => l.msg === "deadline done" && l.stage_ms);
      assert.ok(done?.stage_ms, "a deadline done line with stage_ms");
      assert.deepEqual(Object.keys(done.stage_ms).sort(), [
        "build",
        "chain",
        "check",
        "group",
        "lookup",
        "push",
      ]);
      for (const [k, v] of Object.entries(done.stage_ms))
        assert.ok(Number.isInteger(v) && v >= 0, `${k}: ${v}`);
      assert.ok((done.stage_ms.chain ?? 0) > 0, "the chain reads take some time");
      // And the CPU the process spent over the run (the proofs here are proven in this process).
      assert.ok(Number.isInteger(done.cpu_ms) && (done.cpu_ms ?? 0) > 0, `cpu_ms: ${done.cpu_ms}`);
      // Once no run is going on, no Close epoch is left exported (every run judged).
      fx.producer.everyMs = 0;
    } finally {
      stop.abort(new AbortedError("test over"));
      await running;
    }
    const left = await metrics.registry.getSingleMetric("vsm_wdpost_deadline_running_close_epoch")?.get();
    assert.deepEqual(left?.values ?? [], [], "runs stopped at shutdown leave no Close epoch behind");
  });
});
