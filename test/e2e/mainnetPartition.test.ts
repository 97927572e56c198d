/**
 * Issue 15, the e2e check: one full mainnet-shaped partition — 2,349 sparse 32 GiB sectors
 * (`devnet seal --sparse`) — proven by a standalone PoSter with an ext-prover child of fixed proving
 * time (test/fixtures/fixedTimeProcessor.mjs: the real wdpost processor behind a fixed delay, so the
 * proofs are real) and judged on the devnet with `--verify-sample` (every bundle entry decoded and
 * matched to its sector and comm_r, 64 sector proofs verified in full).
 *
 * Timing. 100 ms blocks, 3 deadlines of 260 epochs, lookback 250. Sectors go into the deadline two
 * ahead of the current one (the only mutable one until the current window ends), sealed 150 epochs
 * before the current window ends; the challenge comes 10 epochs after it ends, so seal, onboarding
 * and attach have 16 s. Then the PoSter has 510 epochs (51 s) before Close, twice what it needs on
 * an idle machine, as another test file runs beside this one in `npm test`; its message may land
 * from Open (challenge + 250). The test ends when the message is accepted, not at Close.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { DeadlineInfo } from "../../src/chain/interface.js";
import { MinerMethod } from "../../src/chain/message.js";
import { provingDeadlineAt } from "../../src/devnet/policy.js";
import { runCli } from "../../src/util/childProcess.js";
import { fixedTimeWdPostBlocks, PosterStack, parseLogLine, readTimeline } from "../helpers/posterStack.js";
import { tempDir } from "../helpers/tmp.js";

const BLOCK_MS = 100;
const WINDOW = 260;
const LOOKBACK = 250;
const POLICY = { deadlines: 3, window: WINDOW, lookback: LOOKBACK, cutoff: LOOKBACK + 1 };
/**
 * The devnet gives f0<id> the proving-period offset id mod 780, so windows end at epochs ≡ 40
 * (mod 260) for 1080: the first chance to seal (SEAL_BEFORE epochs before a window ends) comes at
 * epoch 150, just after the three processes have started (~13 s), instead of up to a window later.
 */
const MINER = 1080;
/**
 * Sealed this many epochs before the current window ends: the onboarding, at the end of the seal
 * (5 s idle, more under load), must come while the target deadline is still mutable.
 */
const SEAL_BEFORE = 150;
const SECTORS = 2349;
const SAMPLE = 64;
const PROVE_MS = 2000;

describe("a full 32 GiB partition (2,349 sparse sectors) proven by a standalone PoSter and judged on the devnet", () => {
  let dir = "";
  let cleanup = async () => {};
  let stack: PosterStack;
  let served = "";
  let target: DeadlineInfo;
  let attachedAt = 0;

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-mainnet-part-"));
    served = path.join(dir, "served.jsonl");
    stack = new PosterStack({
      dir,
      blockTimeMs: BLOCK_MS,
      policy: POLICY,
      verifySample: SAMPLE,
      // Strict checks (a one-challenge proof of each of the 2,349 sectors before proving) are left
      // to bench:scale (c): they would take a quarter of the window here.
      miners: [{ actor: MINER, challengeConfidence: 1, submitConfidence: 1, strictCheck: false }],
      // DEBUG_POSTER_LOG=<file>: the PoSter's lines (and its children's) appended there, to see why a
      // run missed its deadline.
      onPosterLine: process.env.DEBUG_POSTER_LOG
        ? (l) => fs.appendFileSync(process.env.DEBUG_POSTER_LOG as string, `${l}\n`)
        : undefined,
      // Two hashing threads in the real processor: the partition's 23,490 inclusion proofs are the
      // longest step of this test.
      extProverCfg: fixedTimeWdPostBlocks(1, { delayMs: PROVE_MS, timeline: served, threads: 2 }),
    });
    await stack.startAll();
  });
  after(async () => {
    await stack?.stop();
    await cleanup();
  });

  test("2,349 sparse 32 GiB sectors are sealed, onboarded into one partition and indexed", async (t) => {
    // The deadline two ahead of the current one is mutable until the current one ends; its challenge
    // is drawn WINDOW - LOOKBACK epochs later.
    const off = stack.offset(MINER);
    let e = await stack.epoch();
    let cur = provingDeadlineAt(off, e, stack.policy);
    if (e > cur.close - SEAL_BEFORE) {
      await stack.waitForEpoch(cur.close + 1, 60_000);
      cur = provingDeadlineAt(off, await stack.epoch(), stack.policy);
    }
    await stack.waitForEpoch(cur.close - SEAL_BEFORE, 60_000);
    e = await stack.epoch();
    const index = (cur.index + 2) % POLICY.deadlines;
    const t0 = Date.now();
    const placed = await stack.seal(MINER, SECTORS, { size: "32GiB", sparse: true });
    const sealMs = Date.now() - t0;
    assert.deepEqual([...placed], [index], `all sectors in deadline ${index}`);
    await stack.attach();
    attachedAt = await stack.epoch();
    target = stack.nextDeadline(MINER, index, e);
    t.diagnostic(
      `seal + onboard ${sealMs} ms, attach ${Date.now() - t0 - sealMs} ms; challenge at ${target.challenge}, attached at ${attachedAt}`,
    );
    assert.ok(
      attachedAt < target.challenge,
      `indexed (epoch ${attachedAt}) before the challenge ${target.challenge}`,
    );
    const parts = await stack.devnet.call<{ AllSectors: number[] }[]>("Filecoin.StateMinerPartitions", [
      `f0${MINER}`,
      index,
      null,
    ]);
    assert.equal(parts.length, 1, "one partition");
    const info = await stack.devnet.call<{ SectorSize: number; WindowPoStPartitionSectors: number }>(
      "Filecoin.StateMinerInfo",
      [`f0${MINER}`, null],
    );
    assert.equal(info.SectorSize, 32 * 2 ** 30);
    assert.equal(info.WindowPoStPartitionSectors, SECTORS);
  });

  test("the partition is proven, the devnet judges it on a sample and accepts it before Close", async (t) => {
    assert.ok(target, "set up by the previous test");
    const budget = (target.close - (await stack.epoch())) * BLOCK_MS * 3 + 20_000;
    const line = await stack.devnetProc.waitForLine(/window post accepted/, budget);
    const accepted = parseLogLine(line)?.fields ?? {};
    assert.equal(accepted.deadline, target.index, line);
    assert.deepEqual(accepted.partitions, [0], line);
    assert.equal(accepted.sector_proofs, SECTORS, `every sector has a proof in the bundle: ${line}`);
    assert.equal(accepted.verified, SAMPLE, `a sample of ${SAMPLE} verified in full: ${line}`);
    assert.deepEqual(accepted.new_faults, [], line);

    const msgs = await stack.devnet.call<{ to: string; method: number; height: number; exitCode: number }[]>(
      "Devnet.Messages",
      [50],
    );
    const ok = msgs.filter((m) => m.method === MinerMethod.SubmitWindowedPoSt && m.exitCode === 0);
    assert.equal(ok.length, 1, JSON.stringify(msgs));
    assert.ok(ok[0]!.height < target.close, `accepted at ${ok[0]!.height}, before Close ${target.close}`);

    const status = await runCli(["--home", stack.devnetHome, "devnet", "status"]);
    assert.match(
      status.output,
      new RegExp(`judgement: ${SAMPLE} random sector proofs verified per partition`),
    );

    const requests = await readTimeline(served);
    assert.equal(requests.length, 1, "one request for the one partition");
    const r = requests[0]!;
    assert.equal(r.sectors.length, SECTORS);
    assert.ok(r.ok, "the real processor proved the partition");
    t.diagnostic(
      `challenge ${target.challenge} → accepted at ${ok[0]!.height} (${(ok[0]!.height - target.challenge) * BLOCK_MS} ms of chain time); ` +
        `ext-prover request ${r.answered - r.started} ms (the longer of the fixed ${PROVE_MS} ms and the real proof)`,
    );
  });
});
