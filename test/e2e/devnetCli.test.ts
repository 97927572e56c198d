/**
 * The devnet commands name the devnet's home one way: the global --home (env VSM_DEVNET_PATH,
 * default ~/.vsm-devnet), the flag every other command uses for its home. `devnet seal`'s old
 * `--devnet-home` still works for scripts, hidden from help, and is refused when it contradicts
 * --home. Help tells a new user how long a default (mainnet timing) devnet takes to the first proof.
 * Real CLI processes; no devnet is running, so every --onboard ends at "no devnet is running for
 * home H", which shows the home the command used.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "../../src/util/childProcess.js";
import { tempDir } from "../helpers/tmp.js";

describe("devnet commands: one home flag, honest help", () => {
  let dir = "";
  let cleanup = async () => {};
  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-devnet-cli-"));
  });
  after(async () => cleanup());

  const seal = (...extra: string[]) =>
    runCli(["devnet", "seal", "--miner", "1000", "--store", path.join(dir, "store"), "--onboard", ...extra], {
      timeoutMs: 30_000,
    });
  const noDevnetAt = (home: string) =>
    new RegExp(`no devnet is running for home ${home.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`);

  test("seal, run and status all take the devnet's home from --home, before or after the command", async () => {
    const a = path.join(dir, "a");
    for (const r of [
      await seal("--home", a),
      await runCli([
        "--home",
        a,
        "devnet",
        "seal",
        "--miner",
        "1000",
        "--store",
        path.join(dir, "store"),
        "--onboard",
      ]),
      await runCli(["devnet", "status", "--home", a]),
    ]) {
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, noDevnetAt(a));
    }
    const env = { ...process.env, VSM_DEVNET_PATH: path.join(dir, "env") };
    const r = await runCli(["devnet", "status"], { env });
    assert.match(r.output, noDevnetAt(path.join(dir, "env")));
  });

  test("--devnet-home: a hidden alias of --home for seal; contradicting --home is refused", async () => {
    const b = path.join(dir, "b");
    const alias = await seal("--devnet-home", b);
    assert.equal(alias.code, 1, alias.output);
    assert.match(alias.output, noDevnetAt(b));
    const same = await seal("--devnet-home", b, "--home", b);
    assert.match(same.output, noDevnetAt(b));
    const clash = await seal("--devnet-home", b, "--home", path.join(dir, "c"));
    assert.equal(clash.code, 1, clash.output);
    assert.match(clash.output, /--devnet-home ".*b" and --home ".*c" disagree; .* give only --home/);
    assert.equal(clash.lines.filter((l) => l.startsWith("error:")).length, 1, clash.output);
  });

  test("help names --home for the devnet's home, never --devnet-home; run's help warns of mainnet timing", async () => {
    for (const sub of ["seal", "run", "status"]) {
      const h = await runCli(["devnet", sub, "--help"]);
      assert.equal(h.code, 0, h.output);
      const text = h.output.replace(/\s+/g, " ");
      assert.ok(!text.includes("--devnet-home"), `devnet ${sub} --help shows --devnet-home:\n${h.output}`);
      assert.match(text, /devnet's home is --home \(env VSM_DEVNET_PATH; default ~\/\.vsm-devnet\)/, sub);
    }
    const run = (await runCli(["devnet", "run", "--help"])).output.replace(/\s+/g, " ");
    assert.match(run, /about 16 minutes/);
    assert.match(run, /--block-time 150ms --deadlines 4 --window 12 --lookback 4 --cutoff 6/);
  });
});
