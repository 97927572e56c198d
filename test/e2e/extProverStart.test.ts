/**
 * ext-prover children always come back (issue 11), against `daemon run --miner --ext-prover` as a
 * real process:
 * - a `[[WdPost]]` Bin that does not exist when the daemon starts is shown as failing (error, next
 *   try) and becomes a ready child once the file appears 2 s later, without a restart;
 * - another one, created later, is brought back at once by `proving provers --reload`;
 * - the directory named by TMPDIR in Envs is created (mode 0700) before the child starts;
 * - a silent `[[WinPost]]` child (`RequestTimeout = "2s"`) is killed and its request fails over to the
 *   working block: `Venus.ComputeProof` through the daemon returns a proof;
 * - each child's ready line is logged once, and a clean reload and shutdown log no WARN.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { homePaths, readApiFile, readToken } from "../../src/daemon/home.js";
import { shapeByName } from "../../src/proofs/sectorShapes.js";
import { sealedCid, writeSyntheticSector } from "../../src/proofs/syntheticSector.js";
import type { ChildStatus } from "../../src/prover/ext/pool.js";
import { RpcClient } from "../../src/rpc/client.js";
import { type Proc, runCli, startCli } from "../../src/util/childProcess.js";
import { proverRows } from "../helpers/provers.js";
import { tempDir } from "../helpers/tmp.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/testProcessor.mjs", import.meta.url));
const SCRIPT = `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(FIXTURE)} window_post\n`;
const MINER = 1000;

test("a Bin missing at start comes up without a restart; reload retries; TMPDIR made; a silent WinPost child fails over", async () => {
  const t = await tempDir("vsm-ext-start-e2e-");
  const home = path.join(t.dir, "h");
  const store = path.join(t.dir, "store1");
  const later = path.join(t.dir, "bin", "later-processor");
  const onReload = path.join(t.dir, "bin", "reload-processor");
  const tmpdir = path.join(t.dir, "gpu0-tmp", "ext-prover0");
  const env = { ...process.env, VSM_LOG_LEVEL: "info" };
  let daemon: Proc | undefined;
  const provers = () => proverRows(home, env);
  const waitRow = async (i: number, pred: (r: ChildStatus) => boolean, ms: number) => {
    let rows = await provers();
    for (const end = Date.now() + ms; Date.now() < end && !(rows[i] && pred(rows[i])); ) {
      await sleep(100);
      rows = await provers();
    }
    assert.ok(rows[i] && pred(rows[i]), JSON.stringify(rows[i]));
    return rows;
  };
  try {
    const sector = await writeSyntheticSector({
      storeDir: store,
      miner: MINER,
      number: 1,
      shape: shapeByName("2KiB")!,
    });
    assert.equal((await runCli(["--home", home, "daemon", "init"])).code, 0);
    await fs.appendFile(
      homePaths(home).sectorManagerCfg,
      `\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(store)}\n\n[[Miners]]\nActor = ${MINER}\n[Miners.PoSt]\nEnabled = false\n[Miners.Proof]\nEnabled = true\n`,
    );
    await fs.writeFile(
      homePaths(home).extProverCfg,
      [
        // Our own wdpost, with a TMPDIR that does not exist yet.
        "[[WdPost]]",
        "[WdPost.Envs]",
        `TMPDIR = ${JSON.stringify(tmpdir)}`,
        // A processor being installed: not there when the daemon starts.
        "[[WdPost]]",
        `Bin = ${JSON.stringify(later)}`,
        "[[WdPost]]",
        `Bin = ${JSON.stringify(onReload)}`,
        // WinningPoSt: a child that never answers, and our own winpost.
        "[[WinPost]]",
        `Bin = ${JSON.stringify(process.execPath)}`,
        `Args = [${JSON.stringify(FIXTURE)}, "winning_post"]`,
        'RequestTimeout = "2s"',
        "[WinPost.Envs]",
        'MODE = "silent"',
        "[[WinPost]]",
        "",
      ].join("\n"),
    );
    daemon = startCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0", "--miner", "--ext-prover"], {
      env,
    });
    await daemon.waitForLine(/node ready/, 60_000);
    const t0 = Date.now();
    const st = await fs.stat(tmpdir);
    assert.ok(
      st.isDirectory() && (st.mode & 0o777) === 0o700,
      `TMPDIR made 0700: ${(st.mode & 0o777).toString(8)}`,
    );

    // Both missing Bins are failing, with the error and the time of the next try.
    let rows = await waitRow(1, (r) => r.state === "failing", 10_000);
    rows = await waitRow(2, (r) => r.state === "failing", 10_000);
    for (const r of rows.slice(1, 3)) {
      assert.match(
        r.lastError ?? "",
        /could not be started: spawn \S+ ENOENT \(.* does not exist; check Bin/,
      );
      assert.equal(typeof r.nextRetryAt, "number");
    }
    const table = await runCli(["--home", home, "util", "sealer", "proving", "provers"], { env });
    assert.match(table.output, /NEXT TRY/);
    assert.match(
      table.output,
      /WdPost\[1\]\s+-\s+failing\s.*\sin \d+\.\ds \(\d\d:\d\d:\d\dZ\)\s+WdPost\[1\] .*ENOENT/,
    );

    // The first appears 2 s after the start and comes up by itself: no restart, no reload.
    await sleep(Math.max(0, 2000 - (Date.now() - t0)));
    await fs.mkdir(path.dirname(later), { recursive: true });
    await fs.writeFile(later, SCRIPT, { mode: 0o755 });
    rows = await waitRow(1, (r) => r.state === "ready", 20_000);
    assert.equal(rows[1]?.nextRetryAt, null);
    assert.equal(rows[2]?.state === "failing" || rows[2]?.state === "starting", true);

    // The second is retried at once by a reload.
    await fs.writeFile(onReload, SCRIPT, { mode: 0o755 });
    const reload = await runCli(["--home", home, "util", "sealer", "proving", "provers", "--reload"], {
      env,
    });
    assert.equal(reload.code, 0, reload.output);
    assert.match(reload.output, /window_post: 0 added, 0 restarted, 0 removed, [01] failing retried now/);
    await waitRow(2, (r) => r.state === "ready", 10_000);

    // WinningPoSt through the daemon: two at once with Concurrent = 1 each, so one lands on the
    // silent child; it is killed at its RequestTimeout and the request fails over.
    await runCli(["--home", home, "util", "storage", "attach", "--name", "store1", store], { env });
    const rpc = new RpcClient({
      url: `http://${await readApiFile(home)}/rpc/v0`,
      token: await readToken(home),
    });
    const rand = Buffer.alloc(32, 7).toString("base64");
    const info = {
      SealProof: 5,
      SectorNumber: 1,
      SectorKey: null,
      SealedCID: { "/": sealedCid(sector.commR) },
    };
    const c0 = Date.now();
    const outs = await Promise.all(
      [0, 1].map(() =>
        rpc.call<{ PoStProof: number; ProofBytes: string }[]>(
          "Venus.ComputeProof",
          [`f0${MINER}`, [info], rand],
          {
            timeoutMs: 30_000,
          },
        ),
      ),
    );
    for (const o of outs) assert.equal(o.length, 1);
    assert.ok(Date.now() - c0 < 20_000, `answered in ${Date.now() - c0} ms`);
    assert.ok(daemon.lines.some((l) => /ext-prover request failed over to another child/.test(l)));
    assert.ok(
      daemon.lines.some((l) => /did not answer request 1 within 2s \(RequestTimeout\); killed/.test(l)),
    );

    // Each child's ready line once; nothing from the reload or the shutdown is a warning.
    const readyStatus = await provers();
    for (const r of readyStatus.filter((x) => x.pid > 0 && x.state === "ready")) {
      const n: number = daemon.lines.filter(
        (l) => /\tready\t/.test(l) && l.includes(`"pid": ${r.pid},`),
      ).length;
      assert.equal(n, 1, `ready lines of pid ${r.pid}`);
    }
    const mark = daemon.lines.length;
    // A reload that really restarts a child (the last WinPost block changed), then the shutdown.
    await fs.appendFile(homePaths(home).extProverCfg, "Weight = 2\n");
    const changed = await runCli(["--home", home, "util", "sealer", "proving", "provers", "--reload"], {
      env,
    });
    assert.equal(changed.code, 0, changed.output);
    assert.match(changed.output, /winning_post: 0 added, 1 restarted, 0 removed/);
    for (
      let i = 0;
      !(await provers()).some((x) => x.stage === "winning_post" && x.weight === 2 && x.state === "ready");
      i++
    ) {
      assert.ok(i < 200, JSON.stringify(await provers()));
      await sleep(100);
    }
    const r = await daemon.stop(20_000);
    assert.equal(r.code, 0, daemon.lines.slice(-10).join("\n"));
    const warns = daemon.lines.slice(mark).filter((l) => /\tWARN\t|\tERROR\t/.test(l));
    assert.deepEqual(warns, [], "a clean reload and shutdown are not warnings");
  } finally {
    await daemon?.stop(20_000);
    await t.cleanup();
  }
});
