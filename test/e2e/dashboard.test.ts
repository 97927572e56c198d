/**
 * The dashboard on `daemon run --poster` as a real process (dist/cli/main.js) against a manual devnet:
 * with `AnonymousRead = false` the API refuses a request without a token (401, JSON), /api/events
 * takes `?token=` and sends a state at once and another once a block is produced, and SIGTERM with a
 * page still open ends the node promptly (the stream is closed, nothing hangs).
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { homePaths, readApiFile, readToken } from "../../src/daemon/home.js";
import type { DashboardState } from "../../src/ui/state.js";
import { type Proc, runCli, startCli } from "../../src/util/childProcess.js";
import { type ManualDevnet, manualDevnetConfig, startManualDevnet } from "../helpers/manualDevnet.js";
import { tempDir } from "../helpers/tmp.js";

describe("dashboard of a running node", { timeout: 55_000 }, () => {
  let cleanup = async () => {};
  let m: ManualDevnet | undefined;
  let p: Proc | undefined;
  let api = "";
  let token = "";

  before(async () => {
    let dir: string;
    ({ dir, cleanup } = await tempDir("vsm-e2e-dash-"));
    m = await startManualDevnet(dir, 2);
    const home = path.join(dir, "node");
    assert.equal((await runCli(["--home", home, "daemon", "init"])).code, 0);
    await fs.writeFile(
      homePaths(home).sectorManagerCfg,
      `[Common.RPC]\nAnonymousRead = false\n${manualDevnetConfig(m)}`,
    );
    p = startCli(["--home", home, "daemon", "run", "--poster", "--listen=127.0.0.1:0"], {
      env: { ...process.env, VSM_LOG_LEVEL: "info", VSM_PROVER_THREADS: "1" },
    });
    await p.waitForLine(/node ready/, 30_000);
    api = (await readApiFile(home)) ?? "";
    token = (await readToken(home)) ?? "";
    assert.ok(api && token);
  });
  after(async () => {
    await p?.stop(1000);
    await m?.devnet.close();
    await cleanup();
  });

  test("401 without a token; events with ?token=; SIGTERM with a stream open exits promptly", async () => {
    const anon = await fetch(`http://${api}/api/dashboard`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(anon.status, 401);
    assert.equal(typeof ((await anon.json()) as { error: unknown }).error, "string");

    const res = await fetch(`http://${api}/api/events?token=${encodeURIComponent(token)}`, {
      signal: AbortSignal.timeout(40_000),
    });
    assert.equal(res.status, 200);
    assert.ok(res.body);
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    const next = async (): Promise<DashboardState | null> => {
      for (;;) {
        const end = buf.indexOf("\n\n");
        if (end >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const data = block.split("\n").find((l) => l.startsWith("data: "));
          assert.ok(block.startsWith("event: state") && data, block.slice(0, 80));
          return JSON.parse(data.slice(6)) as DashboardState;
        }
        const r = await reader.read();
        if (r.done) return null;
        buf += dec.decode(r.value, { stream: true });
      }
    };
    let s = await next();
    // The first refresh may still be under way when the page connects: wait for the head.
    while (s && s.chain.head === null) s = await next();
    assert.ok(s && s.chain.head !== null);
    assert.equal(s.miners[0]?.miner, "f01000");
    const h0 = s.chain.head;
    await m?.devnet.node.produceBlock();
    while (s && (s.chain.head ?? 0) <= h0) s = await next();
    assert.ok(s && (s.chain.head ?? 0) > h0, "a state after the new head");

    assert.ok(p);
    const t0 = performance.now();
    p.kill("SIGTERM");
    const r = await p.exited;
    const ms = Math.round(performance.now() - t0);
    assert.equal(r.code, 0, p.lines.slice(-10).join("\n"));
    assert.ok(ms < 5_000, `exited ${ms} ms after SIGTERM with a dashboard stream open`);
    while ((await next().catch(() => null)) !== null) {}
  });
});
