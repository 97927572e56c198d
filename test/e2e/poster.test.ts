/**
 * The seed's deployment practice with proving, as real processes on loopback: the devnet chain, a
 * source node (`--miner`) with synthetic sectors attached, and a standalone PoSter node (`--proxy`,
 * `--conf-dir`, `--poster`, `--ext-prover` with two [[WdPost]] children) proving deadline after
 * deadline. The devnet judges every proof; a deleted sector file is skipped and becomes faulty.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { readApiFile } from "../../src/daemon/home.js";
import type { DeadlineRecord } from "../../src/devnet/miner.js";
import { sealedFilePath } from "../../src/proofs/sectorFiles.js";
import { runCli } from "../../src/util/childProcess.js";
import { PosterStack } from "../helpers/posterStack.js";
import { tempDir } from "../helpers/tmp.js";

describe("devnet + source node + standalone PoSter with ext-prover children", () => {
  let cleanup = async () => {};
  let stack: PosterStack;
  let store = "";
  let srcHome = "";
  let posterHome = "";
  const records = () => stack.records(1000);
  const epoch = () => stack.epoch();

  before(async () => {
    let dir: string;
    ({ dir, cleanup } = await tempDir("vsm-poster-"));
    stack = new PosterStack({
      dir,
      // A window of 12 epochs of 250 ms (3 s): at 150 ms (1.8 s) a deadline was missed now and then
      // when the machine was busy with other tests, the code of before and after alike.
      blockTimeMs: 250,
      policy: { deadlines: 4, window: 12, lookback: 4, cutoff: 6 },
      miners: [{ actor: 1000, challengeConfidence: 1, submitConfidence: 1 }],
      extProverCfg:
        '[[WdPost]]\n[WdPost.Envs]\nCUDA_VISIBLE_DEVICES = "0"\n\n[[WdPost]]\n[WdPost.Envs]\nCUDA_VISIBLE_DEVICES = "1"\n',
      readyTimeoutMs: 30_000,
    });
    ({ store, srcHome, posterHome } = stack);
    // Sectors are on chain and indexed before the PoSter starts: none of them may look missing.
    await stack.startDevnet();
    await stack.seal(1000, 6, { threads: 2 });
    await stack.initSource();
    await stack.startSource();
    await stack.attach();
    await stack.initPoster();
    await stack.startPoster();
  });
  after(async () => {
    await stack?.stop();
    await cleanup();
  });

  test("a full proving period: every deadline with sectors proven, no faults, no rejections", async () => {
    const from = await epoch();
    // One proving period is 4 × 12 epochs; wait until every deadline has closed once after `from`.
    let mine: DeadlineRecord[] = [];
    for (let i = 0; i < 400; i++) {
      mine = (await records()).filter((r) => r.open > from && r.partitions > 0);
      if (new Set(mine.map((r) => r.index)).size >= 2 && mine.length >= 3) break;
      await sleep(250);
    }
    assert.ok(mine.length >= 3, `deadlines judged: ${JSON.stringify(mine)}`);
    for (const r of mine) {
      assert.deepEqual(r.missed, [], `deadline ${r.index} at ${r.open}: ${JSON.stringify(r)}`);
      assert.equal(r.proven.length, r.partitions, `deadline ${r.index} at ${r.open}`);
      assert.deepEqual(r.newFaults, [], `deadline ${r.index} at ${r.open}`);
      assert.deepEqual(r.rejections, [], `deadline ${r.index} at ${r.open}`);
    }
    // The PoSter's Prometheus view of the same deadlines.
    const metrics = await (await fetch(`http://${await readApiFile(posterHome)}/metrics`)).text();
    const value = (re: RegExp) => Number(metrics.match(re)?.[1] ?? "0");
    assert.ok(value(/^vsm_wdpost_deadlines_total\{miner="f01000",result="proven"\} (\d+)$/m) >= 2, metrics);
    assert.ok(value(/^vsm_wdpost_partitions_total\{miner="f01000",source="proved"\} (\d+)$/m) >= 2);
    assert.ok(value(/^vsm_wdpost_messages_total\{miner="f01000",result="ok"\} (\d+)$/m) >= 2);
    assert.ok(value(/^vsm_wdpost_partition_prove_seconds_count\{miner="f01000"\} (\d+)$/m) >= 2);
    assert.ok(value(/^vsm_wdpost_close_margin_epochs\{miner="f01000"\} (\d+)$/m) > 0, "proven before Close");
    // Deadlines without sectors are counted as such, not as proven.
    assert.ok(value(/^vsm_wdpost_deadlines_total\{miner="f01000",result="empty"\} (\d+)$/m) >= 1, metrics);
    // Every sector the PoSter checked was looked up through its proxy indexer, and by the source's
    // own local index on the other side.
    assert.ok(
      value(/^vsm_sector_index_lookups_total\{indexer="proxy",result="found"\} (\d+)$/m) >= 4,
      metrics,
    );
    const source = await (await fetch(`http://${await readApiFile(srcHome)}/metrics`)).text();
    assert.ok(
      Number(
        source.match(/^vsm_sector_index_lookups_total\{indexer="local",result="found"\} (\d+)$/m)?.[1] ?? 0,
      ) >= 4,
      source,
    );
  });

  let saved: Buffer | undefined;
  let original3: Buffer | undefined;
  test("a deleted and a corrupted sector file are skipped in the proof and become faulty; their partitions are still proven", async () => {
    saved = await fs.readFile(sealedFilePath(store, "normal", 1000, 1));
    await fs.rm(sealedFilePath(store, "normal", 1000, 1));
    // Sector 3 (another deadline, see the onboarding rules) keeps its size but not its data: every
    // byte's low bit flipped, every node still a valid field element, so only a proof can tell.
    original3 = await fs.readFile(sealedFilePath(store, "normal", 1000, 3));
    await fs.writeFile(
      sealedFilePath(store, "normal", 1000, 3),
      original3.map((b) => b ^ 1),
    );
    const from = await epoch();
    let hit: DeadlineRecord | undefined;
    let hit3: DeadlineRecord | undefined;
    for (let i = 0; i < 400 && !(hit && hit3); i++) {
      const recs = (await records()).filter((r) => r.open > from + 12);
      hit = recs.find((r) => r.newFaults.includes(1));
      hit3 = recs.find((r) => r.newFaults.includes(3));
      if (!(hit && hit3)) await sleep(250);
    }
    assert.ok(hit, "sector 1 became faulty");
    assert.ok(hit3, "sector 3 (corrupted) became faulty");
    for (const [r, n] of [
      [hit, 1],
      [hit3, 3],
    ] as const) {
      assert.deepEqual(r.newFaults, [n], `only sector ${n} in deadline ${r.index}`);
      assert.deepEqual(r.missed, [], "its partition was proven without it (Skipped), not missed");
      assert.deepEqual(r.rejections, []);
    }
    // The PoSter's Prometheus view: the skipped sectors, and the missing file as a failed check.
    const metrics = await (await fetch(`http://${await readApiFile(posterHome)}/metrics`)).text();
    assert.ok(
      Number(metrics.match(/^vsm_wdpost_skipped_sectors_total\{miner="f01000"\} (\d+)$/m)?.[1] ?? 0) >= 2,
      metrics,
    );
    // The operator's view, in lotus-miner's vocabulary, read from the chain of the source's config.
    const faults = await runCli(["--home", srcHome, "util", "sealer", "proving", "faults"]);
    assert.equal(faults.code, 0, faults.output);
    assert.match(faults.output, new RegExp(`^${hit.index}\\s+\\d+\\s+1\\s+no$`, "m"), faults.output);
    const info = await runCli(["--home", srcHome, "util", "sealer", "proving", "info"]);
    assert.match(info.output, /Faulty sectors:\s+2$/m, info.output);
    assert.match(info.output, /Sectors:\s+6 /m);
    const deadlines = await runCli(["--home", srcHome, "util", "sealer", "proving", "deadlines"]);
    assert.match(deadlines.output, /DEADLINE\s+OPEN\s+PARTITIONS\s+SECTORS\s+FAULTY/);
    const one = await runCli(["--home", srcHome, "util", "sealer", "proving", "deadline", String(hit.index)]);
    assert.match(one.output, /\s1$/m, one.output);
    // `proving check` runs on the PoSter node, through its proxy index, as its proofs would.
    const check = await runCli(
      ["--home", posterHome, "util", "sealer", "proving", "check", "--only-bad", String(hit.index)],
      { timeoutMs: 60_000 },
    );
    assert.equal(check.code, 1, `a bad sector makes the command fail: ${check.output}`);
    assert.match(
      check.output,
      new RegExp(`^${hit.index}\\s+\\d+\\s+1\\s+bad \\(.*sealed.*\\)$`, "m"),
      check.output,
    );
    assert.doesNotMatch(check.output, /\sgood$/m, "--only-bad lists bad sectors only");
    assert.match(check.output, /1 bad \(files and sizes only/);
    // The corrupted sector has the right files and sizes: only the strict check (--slow) finds it.
    const fast = await runCli(
      ["--home", posterHome, "util", "sealer", "proving", "check", "--only-bad", String(hit3.index)],
      { timeoutMs: 60_000 },
    );
    assert.equal(fast.code, 0, fast.output);
    const slow = await runCli(
      [
        "--home",
        posterHome,
        "util",
        "sealer",
        "proving",
        "check",
        "--slow",
        "--only-bad",
        String(hit3.index),
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(slow.code, 1, slow.output);
    assert.match(slow.output, new RegExp(`^${hit3.index}\\s+\\d+\\s+3\\s+bad \\(.+\\)$`, "m"), slow.output);
    assert.match(slow.output, /1 bad \(strict check\)/);
  });

  test("after the files are repaired, the sectors are declared recovered and proven again", async () => {
    assert.ok(saved && original3);
    await fs.writeFile(sealedFilePath(store, "normal", 1000, 1), saved);
    await fs.writeFile(sealedFilePath(store, "normal", 1000, 3), original3);
    const from = await epoch();
    let hit: DeadlineRecord | undefined;
    let hit3: DeadlineRecord | undefined;
    for (let i = 0; i < 600 && !(hit && hit3); i++) {
      const recs = (await records()).filter((r) => r.open > from);
      hit = recs.find((r) => r.recovered.includes(1));
      hit3 = recs.find((r) => r.recovered.includes(3));
      if (!(hit && hit3)) await sleep(250);
    }
    assert.ok(hit, "sector 1 recovered");
    assert.ok(hit3, "sector 3 recovered");
    assert.deepEqual(hit.missed, []);
    assert.deepEqual(hit3.missed, []);
    const status = await stack.devnet.call<{ Miners: { Faulty: number; Recovering: number }[] }>(
      "Devnet.Status",
      [],
    );
    assert.equal(status.Miners[0]?.Faulty, 0, "no faulty sector left");
  });

  test("proving check --slow and proving compute on the PoSter node: every sector good, every partition proven, nothing sent", async () => {
    const recs = await records();
    const index = recs.find((r) => r.partitions > 0)?.index ?? 0;
    const check = await runCli(
      ["--home", posterHome, "util", "sealer", "proving", "check", "--slow", String(index)],
      { timeoutMs: 60_000 },
    );
    assert.equal(check.code, 0, check.output);
    assert.match(check.output, /0 bad \(strict check\)/, check.output);
    assert.match(check.output, /\sgood$/m);
    const compute = await runCli(
      ["--home", posterHome, "util", "sealer", "proving", "compute", String(index), "--json"],
      { timeoutMs: 120_000 },
    );
    assert.equal(compute.code, 0, compute.output);
    const r = JSON.parse(compute.output) as {
      Deadline: number;
      Format: string;
      Prover: string;
      Partitions: { Source: string; Sectors: number }[];
      Messages: { Partitions: number[]; ParamsBytes: number }[];
    };
    assert.equal(r.Deadline, index);
    assert.equal(r.Format, "vanilla-bundle");
    assert.match(r.Prover, /ext-prover/);
    assert.ok(r.Partitions.length > 0);
    for (const p of r.Partitions) assert.equal(p.Source, "proved");
    assert.deepEqual(
      r.Messages.flatMap((m) => m.Partitions).sort(),
      r.Partitions.map((_, i) => i),
    );
    const bad = await runCli(["--home", posterHome, "util", "sealer", "proving", "compute", "99"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.output, /deadline 99 out of range \(0\.\.3\)/);
  });

  test("proving info on the PoSter home, whose config has no chain, points to --conf-dir", async () => {
    const info = await runCli(["--home", posterHome, "util", "sealer", "proving", "info"]);
    assert.equal(info.code, 1, info.output);
    assert.match(
      info.output,
      /^error: no chain node in .*sector-manager\.cfg: set \[Common\.API\] Chain; on a PoSter home whose daemon runs with --conf-dir=<source home>, give this command the same --conf-dir=<source home>$/m,
    );
    const fixed = await runCli([
      "--home",
      posterHome,
      "util",
      "sealer",
      "proving",
      "info",
      `--conf-dir=${srcHome}`,
    ]);
    assert.equal(fixed.code, 0, fixed.output);
    assert.match(fixed.output, /Faulty sectors:/);
  });
});
