/**
 * The seed's "ext-prover executor" section as real processes: `daemon run --ext-prover` with the
 * seed's 8-GPU ext-prover.cfg, verbatim (no Bin: our own `wdpost` children), the seed's log lines for
 * every child, each child with its own CUDA_VISIBLE_DEVICES and TMPDIR, `util sealer proving
 * provers`, reload on SIGHUP, and a clean stop that leaves no child behind.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { ChildStatus } from "../../src/prover/ext/pool.js";
import { type Proc, runCli, startCli } from "../../src/util/childProcess.js";
import { proverRows } from "../helpers/provers.js";
import { tempDir } from "../helpers/tmp.js";

/** The seed document's ext-prover.cfg for a machine with 8 GPUs, as printed there. */
const SEED_EXT_PROVER_CFG = Array.from(
  { length: 8 },
  (_, i) => `[[WdPost]]\n[WdPost.Envs]\nCUDA_VISIBLE_DEVICES = "${i}"\nTMPDIR = "/tmp/ext-prover${i}/"\n`,
).join("\n");

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("daemon run --ext-prover with the seed's 8 [[WdPost]] blocks", () => {
  let dir = "";
  let cleanup = async () => {};
  let home = "";
  let daemon: Proc | undefined;
  const env = { ...process.env, VSM_LOG_LEVEL: "info", VSM_PROVER_THREADS: "1" };

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-ext-"));
    home = path.join(dir, ".venus-individual-poster");
    assert.equal((await runCli(["--home", home, "daemon", "init"])).code, 0);
    await fs.writeFile(path.join(home, "ext-prover.cfg"), SEED_EXT_PROVER_CFG);
  });
  after(async () => {
    await daemon?.stop(5000);
    await cleanup();
  });

  test("eight children start, each with its own GPU and TMPDIR, and the seed's log lines appear for each", async () => {
    daemon = startCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0", "--poster", "--ext-prover"], {
      env,
    });
    await daemon.waitForLine(/node ready/, 60_000);
    const rows = await proverRows(home, env);
    assert.equal(rows.length, 8);
    for (const [i, row] of rows.entries()) {
      assert.equal(row.block, `WdPost[${i}]`);
      assert.equal(row.state, "ready", `block ${i}`);
      assert.deepEqual(row.envs, { CUDA_VISIBLE_DEVICES: String(i), TMPDIR: `/tmp/ext-prover${i}/` });
      const mine = daemon.lines.filter((l) => l.includes(`"pid": ${row.pid}`));
      for (const re of [
        new RegExp(
          `\\tINFO\\text-prover\\t\\S+\\tresponse loop start\\t\\{"pid": ${row.pid}, "ppid": ${daemon.pid}, "loop": "resp"\\}`,
        ),
        new RegExp(
          `\\tINFO\\text-prover\\t\\S+\\trequest loop start\\t\\{"pid": ${row.pid}, "ppid": ${daemon.pid}, "loop": "req"\\}`,
        ),
        new RegExp(
          `\\tINFO\\text-prover\\t\\S+\\tready\\t\\{"pid": ${row.pid}, "ppid": ${daemon.pid}, "proc": "wdpost"`,
        ),
      ]) {
        assert.ok(
          mine.some((l) => re.test(l)),
          `block ${i}: ${re}\n${mine.join("\n")}`,
        );
      }
      // The child itself, relayed with its pid and block: what it sees in its environment. Its stderr
      // travels on another pipe than its ready line, so the relay may trail "node ready" a little.
      const env = new RegExp(
        `processor starting.*"cuda_visible_devices": "${i}", "tmpdir": "/tmp/ext-prover${i}/".*"pid": ${row.pid}`,
      );
      for (let k = 0; k < 100 && !daemon.lines.some((l) => env.test(l)); k++) await sleep(50);
      assert.ok(
        daemon.lines.some((l) => env.test(l)),
        `block ${i} child environment\n${mine.join("\n")}`,
      );
    }
  });

  test("SIGHUP applies an edited ext-prover.cfg; a broken edit keeps the running children", async () => {
    assert.ok(daemon);
    const before = (await proverRows(home)).map((r) => r.pid);
    const three = SEED_EXT_PROVER_CFG.split("\n\n")
      .slice(0, 3)
      .join("\n\n")
      .replace('CUDA_VISIBLE_DEVICES = "2"', 'CUDA_VISIBLE_DEVICES = "2,3"');
    await fs.writeFile(path.join(home, "ext-prover.cfg"), three);
    daemon.kill("SIGHUP");
    await daemon.waitForLine(/ext-prover\.cfg applied.*"removed":5,"changed":1/, 20_000);
    let rows: ChildStatus[] = [];
    for (let i = 0; i < 100; i++) {
      rows = await proverRows(home);
      if (rows.length === 3 && rows.every((r) => r.state === "ready")) break;
      await sleep(100);
    }
    assert.deepEqual(
      rows.map((r) => r.envs.CUDA_VISIBLE_DEVICES),
      ["0", "1", "2,3"],
    );
    assert.equal(rows[0]?.pid, before[0], "unchanged block kept its child");
    assert.notEqual(rows[2]?.pid, before[2], "changed block restarted");
    for (const pid of before.slice(3)) {
      for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
      assert.equal(alive(pid), false, `removed child ${pid} stopped`);
    }
    await fs.appendFile(path.join(home, "ext-prover.cfg"), "\nConcurrent = \n");
    const bad = await runCli(["--home", home, "util", "sealer", "proving", "provers", "--reload"]);
    assert.equal(bad.code, 1);
    assert.match(bad.output, /^error: .*ext-prover\.cfg:\d+:\d+: TOML syntax error/m);
    const count = async () => (await proverRows(home)).length;
    assert.equal(await count(), 3);
    // An emptied file (a write that failed) is not "no blocks": the children stay.
    await fs.writeFile(path.join(home, "ext-prover.cfg"), "");
    const empty = await runCli(["--home", home, "util", "sealer", "proving", "provers", "--reload"]);
    assert.equal(empty.code, 1);
    assert.match(empty.output, /^error: .*ext-prover\.cfg is empty; the running children were kept/m);
    assert.equal(await count(), 3);
  });

  test("stopping the daemon stops every child", async () => {
    assert.ok(daemon);
    const pids = (await proverRows(home)).map((r) => r.pid);
    const r = await daemon.stop(10_000);
    assert.equal(r.code, 0, daemon.lines.slice(-5).join("\n"));
    for (const pid of pids) assert.equal(alive(pid), false, `child ${pid} is gone`);
  });
});

describe("daemon run --ext-prover with children that cannot start", () => {
  test("the daemon refuses to start and says which block and why", async () => {
    const t = await tempDir("vsm-ext-bad-");
    try {
      const home = path.join(t.dir, "h");
      await runCli(["--home", home, "daemon", "init"]);
      await fs.writeFile(
        path.join(home, "ext-prover.cfg"),
        '[[WdPost]]\nBin = "/bin/false"\nReadyTimeoutSecs = 2\n',
      );
      const r = await runCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0", "--ext-prover"], {
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 1);
      assert.match(
        r.output,
        /^error: no window_post ext-prover child became ready: WdPost\[0\] \(\/bin\/false\) exited with code 1; fix ext-prover\.cfg/m,
      );
    } finally {
      await t.cleanup();
    }
  });
});
