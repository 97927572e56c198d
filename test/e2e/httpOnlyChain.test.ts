/**
 * A standalone PoSter behind an HTTP-only chain endpoint, as real processes on loopback: the devnet,
 * and between it and the PoSter a small proxy that forwards HTTP POSTs and refuses every WebSocket
 * upgrade with HTTP 501 (what an HTTP-only gateway does). The PoSter cannot subscribe to ChainNotify,
 * so it follows the head by polling ChainHead every `[Common.API] ChainEventInterval`, and must still
 * prove its deadlines: the devnet judges every proof.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { homePaths, readApiFile, readToken } from "../../src/daemon/home.js";
import { RpcClient } from "../../src/rpc/client.js";
import { type Proc, runCli, startCli } from "../../src/util/childProcess.js";
import { tempDir } from "../helpers/tmp.js";

interface Rec {
  index: number;
  open: number;
  partitions: number;
  proven: number[];
  missed: number[];
  rejections: string[];
}

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
  let dir = "";
  let cleanup = async () => {};
  const procs: Proc[] = [];
  let devnet: RpcClient;
  let proxy: Awaited<ReturnType<typeof httpOnlyProxy>>;
  let poster: Proc;
  const env = { ...process.env, VSM_LOG_LEVEL: "info", VSM_PROVER_THREADS: "1" };
  const start = async (args: string[], ready: RegExp) => {
    const p = startCli(args, { env });
    procs.push(p);
    await p.waitForLine(ready, 30_000);
    return p;
  };
  const records = () => devnet.call<Rec[]>("Devnet.Records", ["f01000", 200]);
  const epoch = async () => (await devnet.call<{ Epoch: number }>("Devnet.Status", [])).Epoch;

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-httponly-"));
    const dnHome = path.join(dir, "devnet");
    const home = path.join(dir, "poster");
    const store = path.join(dir, "store1");
    // 0.5 s epochs, 20-epoch windows: polling every 1 s sees every second epoch.
    await start(
      [
        "--home",
        dnHome,
        "devnet",
        "run",
        "--listen",
        "127.0.0.1:0",
        "--block-time",
        "500ms",
        "--deadlines",
        "4",
        "--window",
        "20",
        "--lookback",
        "4",
        "--cutoff",
        "6",
      ],
      /devnet ready/,
    );
    const api = await readApiFile(dnHome);
    assert.ok(api, "the devnet wrote its api file");
    const token = await readToken(dnHome);
    devnet = new RpcClient({ url: `http://${api}/rpc/v1`, token });
    proxy = await httpOnlyProxy(api);
    const seal = await runCli(
      ["devnet", "seal", "--miner", "1000", "--store", store, "--count", "4", "--onboard", "--home", dnHome],
      { timeoutMs: 60_000 },
    );
    assert.equal(seal.code, 0, seal.output);

    assert.equal((await runCli(["--home", home, "daemon", "init"])).code, 0);
    const cfg = homePaths(home).sectorManagerCfg;
    const text = (await fs.readFile(cfg, "utf8"))
      .replace('#Chain = ""', `Chain = "${token}:/ip4/127.0.0.1/tcp/${proxy.port}/http"`)
      .replace('#ChainEventInterval = "10s"', 'ChainEventInterval = "1s"');
    await fs.writeFile(
      cfg,
      `${text}\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(store)}\n\n[[Miners]]\nActor = 1000\n[Miners.PoSt]\nChallengeConfidence = 1\nSubmitConfidence = 1\nConfidence = 1\n`,
    );
    const attach = await runCli(["--home", home, "util", "storage", "attach", "--name", "store1", store]);
    assert.equal(attach.code, 0, attach.output);
    poster = await start(["--home", home, "daemon", "run", "--poster", "--listen=127.0.0.1:0"], /node ready/);
  });
  after(async () => {
    await Promise.all(procs.reverse().map((p) => p.stop(5000)));
    await proxy?.close();
    await cleanup();
  });

  test("deadlines are proven with every head learned by polling; no WebSocket ever opened", async () => {
    const from = await epoch();
    let mine: Rec[] = [];
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
    const polling = poster.lines.filter((l) => l.includes("following the head by polling ChainHead"));
    assert.equal(polling.length, 1, "one WARN says the head is polled");
    assert.match(polling[0]!, /HTTP 501/);
    assert.match(polling[0]!, /"every_ms": 1000/);
    assert.ok(proxy.stats.forwarded > 10, "and then spoke HTTP");
  });
});
