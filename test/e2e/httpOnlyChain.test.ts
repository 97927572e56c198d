/**
 * A standalone PoSter behind an HTTP-only chain endpoint, as real processes on loopback: the devnet,
 * and between it and the PoSter a small proxy that forwards HTTP POSTs and refuses every WebSocket
 * upgrade with HTTP 501 (what an HTTP-only gateway does). The PoSter cannot subscribe to ChainNotify,
 * so it follows the head by polling ChainHead every `[Common.API] ChainEventInterval`, and must still
 * prove its deadlines: the devnet judges every proof.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { DeadlineRecord } from "../../src/devnet/miner.js";
import { type Proc, startCli } from "../../src/util/childProcess.js";
import { attachStore, type DevnetRun, initNodeHome, runDevnet, sealSectors } from "../helpers/devnetSetup.js";
import { tempDir } from "../helpers/tmp.js";

/** Forwards HTTP requests to `target` (host:port); answers every upgrade with 501. */
async function httpOnlyProxy(target: string) {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(":")),
    Number(target.slice(target.lastIndexOf(":") + 1)),
  ];
  const stats = { refused: 0, forwarded: 0 };
  const server = http.createServer((req, res) => {
    stats.forwarded++;
    const up = http.request({ host, port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on("error", () => res.writeHead(502).end());
    req.pipe(up);
  });
  server.on("upgrade", (_req, socket) => {
    stats.refused++;
    socket.end("HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    stats,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe("a standalone PoSter on an HTTP-only chain endpoint (WebSocket upgrades refused with 501)", () => {
  let cleanup = async () => {};
  let devnet: DevnetRun | undefined;
  let proxy: Awaited<ReturnType<typeof httpOnlyProxy>>;
  let poster: Proc | undefined;
  const records = () => devnet!.rpc.call<DeadlineRecord[]>("Devnet.Records", ["f01000", 200]);
  const epoch = async () => (await devnet!.rpc.call<{ Epoch: number }>("Devnet.Status", [])).Epoch;

  before(async () => {
    let dir: string;
    ({ dir, cleanup } = await tempDir("vsm-httponly-"));
    const dnHome = path.join(dir, "devnet");
    const home = path.join(dir, "poster");
    const store = path.join(dir, "store1");
    const env = { ...process.env, VSM_LOG_LEVEL: "info", VSM_PROVER_THREADS: "1" };
    // 0.5 s epochs, 20-epoch windows: polling every 1 s sees every second epoch.
    devnet = await runDevnet({
      home: dnHome,
      blockTimeMs: 500,
      policy: { deadlines: 4, window: 20, lookback: 4, cutoff: 6 },
      env,
      readyTimeoutMs: 30_000,
    });
    proxy = await httpOnlyProxy(devnet.api);
    await sealSectors({ devnetHome: dnHome, store, miner: 1000, count: 4 });

    await initNodeHome(home, {
      chainLine: `Chain = "${devnet.token}:/ip4/127.0.0.1/tcp/${proxy.port}/http"`,
      edit: (cfg) => cfg.replace('#ChainEventInterval = "10s"', 'ChainEventInterval = "1s"'),
      store,
      miners: [{ actor: 1000, challengeConfidence: 1, submitConfidence: 1 }],
    });
    await attachStore(home, store);
    poster = startCli(["--home", home, "daemon", "run", "--poster", "--listen=127.0.0.1:0"], { env });
    await poster.waitForLine(/node ready/, 30_000);
  });
  after(async () => {
    await poster?.stop(5000);
    await devnet?.proc.stop(5000);
    await proxy?.close();
    await cleanup();
  });

  test("deadlines are proven with every head learned by polling; no WebSocket ever opened", async () => {
    const from = await epoch();
    let mine: DeadlineRecord[] = [];
    for (let i = 0; i < 360; i++) {
      mine = (await records()).filter((r) => r.open > from && r.partitions > 0);
      if (mine.length >= 2) break;
      await sleep(250);
    }
    assert.ok(mine.length >= 2, `deadlines judged: ${JSON.stringify(mine)}`);
    for (const r of mine) {
      assert.deepEqual(r.missed, [], `deadline ${r.index} at ${r.open}: ${JSON.stringify(r)}`);
      assert.equal(r.proven.length, r.partitions, `deadline ${r.index} at ${r.open}`);
      assert.deepEqual(r.rejections, [], `deadline ${r.index} at ${r.open}`);
    }
    assert.ok(proxy.stats.refused >= 1, "the PoSter tried the WebSocket first");
    const polling = poster!.lines.filter((l) => l.includes("following the head by polling ChainHead"));
    assert.equal(polling.length, 1, "one WARN says the head is polled");
    assert.match(polling[0]!, /HTTP 501/);
    assert.match(polling[0]!, /"every_ms": 1000/);
    assert.ok(proxy.stats.forwarded > 10, "and then spoke HTTP");
  });
});
