/**
 * What the command line says about a bad global flag or config location, through the real CLI
 * (dist/cli/main.js): an unknown --log-level (or VSM_LOG_LEVEL) is refused by every command, also
 * those that never log, before they do anything; a --conf-dir that does not exist is quoted and
 * called a possible typo (it is someone else's home, not one to `daemon init`).
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "../../src/util/childProcess.js";
import { tempDir } from "../helpers/tmp.js";

describe("config and flag messages from the CLI", () => {
  let dir = "";
  let cleanup = async () => {};
  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-config-messages-"));
  });
  after(() => cleanup());

  test("an unknown --log-level is refused by every command, before it runs", async () => {
    const home = path.join(dir, "home-loglevel");
    for (const args of [
      ["daemon", "init"],
      ["util", "storage", "list"],
      ["util", "sealer", "proving", "info"],
    ]) {
      const r = await runCli(["--home", home, "--log-level", "verbose", ...args], { timeoutMs: 20_000 });
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.output}`);
      assert.match(
        r.output,
        /error: --log-level "verbose" is not a log level; use one of debug, info, warn, error/,
        args.join(" "),
      );
    }
    await assert.rejects(fs.stat(home), "daemon init did not run");
    const env = await runCli(["--home", home, "util", "storage", "list"], {
      env: { ...process.env, VSM_LOG_LEVEL: "loud" },
      timeoutMs: 20_000,
    });
    assert.equal(env.code, 1);
    assert.match(env.output, /error: VSM_LOG_LEVEL "loud" is not a log level/);
    const ok = await runCli(["--home", home, "--log-level", "WARN", "daemon", "init"], { timeoutMs: 20_000 });
    assert.equal(ok.code, 0, ok.output);
  });

  test("GOLOG_LOG_LEVEL set for Lotus (per-subsystem levels, dpanic, junk) never stops a command", async () => {
    const home = path.join(dir, "home-golog");
    const { VSM_LOG_LEVEL: _drop, ...base } = process.env;
    for (const v of ["info,chain=debug", "dpanic", "chain=debug", "loud"]) {
      const r = await runCli(["--home", path.join(home, String(v.length)), "daemon", "init"], {
        env: { ...base, GOLOG_LOG_LEVEL: v },
        timeoutMs: 20_000,
      });
      assert.equal(r.code, 0, `GOLOG_LOG_LEVEL=${v}: ${r.output}`);
      assert.doesNotMatch(r.output, /error:/, v);
    }
    // Ours is still strict when both are set: --log-level wins and is checked.
    const r = await runCli(["--home", home, "--log-level", "verbose", "daemon", "init"], {
      env: { ...base, GOLOG_LOG_LEVEL: "info" },
      timeoutMs: 20_000,
    });
    assert.equal(r.code, 1);
  });

  test("an empty ext-prover.cfg stops no command; only --ext-prover says it has no block", async () => {
    const home = path.join(dir, "home-empty-ext");
    assert.equal((await runCli(["--home", home, "daemon", "init"], { timeoutMs: 20_000 })).code, 0);
    await fs.writeFile(path.join(home, "ext-prover.cfg"), "");
    // A command that loads the config goes on to its own business (here: no chain configured).
    const info = await runCli(["--home", home, "util", "sealer", "proving", "info"], { timeoutMs: 20_000 });
    assert.equal(info.code, 1, info.output);
    assert.doesNotMatch(info.output, /is empty/);
    assert.match(info.output, /no chain node/);
    const run = await runCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0", "--ext-prover"], {
      timeoutMs: 20_000,
    });
    assert.equal(run.code, 1, run.output);
    assert.match(
      run.output,
      /--ext-prover is set but .*ext-prover\.cfg is empty, so it has no \[\[WdPost\]\] or \[\[WinPost\]\] block/,
    );
  });

  test("a --conf-dir that does not exist is quoted and called a typo, without suggesting daemon init", async () => {
    const home = path.join(dir, "home-confdir");
    assert.equal((await runCli(["--home", home, "daemon", "init"], { timeoutMs: 20_000 })).code, 0);
    const typo = path.join(dir, "venus-sector-manger");
    const r = await runCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0", `--conf-dir=${typo}`], {
      timeoutMs: 20_000,
    });
    assert.equal(r.code, 1, r.output);
    assert.ok(
      r.output.includes(`--conf-dir ${JSON.stringify(typo)} does not exist; check the path for a typo`),
      r.output,
    );
    assert.doesNotMatch(r.output, /daemon init/);
  });
});
