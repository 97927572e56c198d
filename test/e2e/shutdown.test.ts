/**
 * Shutdown is prompt: SIGTERM ends `daemon run --poster --ext-prover` within 2 s whatever the chain
 * node is doing, because every wait of the node (retry backoffs, poll intervals, the chain client's
 * resubscription, a WebSocket handshake) takes the shutdown signal through one interruptible sleep.
 * Each state is made for real on loopback: a closed port (the node is in its longest "not reachable
 * yet" backoff), a listener that accepts and never answers (a hung node: a WebSocket handshake and an
 * HTTP call in flight), and an HTTP-only gateway whose node is down (the PoSter polls ChainHead and
 * is in a poll retry wait). So do busy ext-prover children, however they take stdin EOF and SIGTERM:
 * each is given 0.5 s after EOF, then SIGTERM, then SIGKILL to its process group at 1.5 s, and none is
 * left running. The SIGTERM-to-exit time of each is printed.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { homePaths, readApiFile, readToken } from "../../src/daemon/home.js";
import { shapeByName } from "../../src/proofs/sectorShapes.js";
import { sealedCid, writeSyntheticSector } from "../../src/proofs/syntheticSector.js";
import { RpcClient } from "../../src/rpc/client.js";
import { type Proc, runCli, startCli } from "../../src/util/childProcess.js";
import { alive } from "../helpers/process.js";
import { tempDir } from "../helpers/tmp.js";

const LIMIT_MS = 2000;
const FIXTURE = fileURLToPath(new URL("../fixtures/testProcessor.mjs", import.meta.url));

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("SIGTERM ends the daemon within 2 s with the chain down", () => {
  let dir = "";
  let cleanup = async () => {};
  const servers: (net.Server | http.Server)[] = [];
  const procs: Proc[] = [];
  const sockets = new Set<net.Socket>();

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-shutdown-"));
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop(1000)));
    for (const s of sockets) s.destroy();
    for (const s of servers) {
      if (s instanceof http.Server) s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    await cleanup();
  });

  /** Starts a PoSter home pointed at `chain`, waits for `state`, SIGTERMs it and returns the exit time. */
  async function stopTime(
    name: string,
    chain: string,
    state: RegExp,
    o: { extProverCfg?: string; stoppedLine?: string } = {},
  ): Promise<number> {
    const home = path.join(dir, name);
    assert.equal((await runCli(["--home", home, "daemon", "init"])).code, 0);
    const cfg = homePaths(home).sectorManagerCfg;
    await fs.writeFile(
      cfg,
      `${(await fs.readFile(cfg, "utf8")).replace('#Chain = ""', `Chain = "${chain}"`).replace('#ChainEventInterval = "10s"', 'ChainEventInterval = "1m"')}\n[[Miners]]\nActor = 1000\n`,
    );
    // One built-in processor child: running children are stopped too.
    await fs.writeFile(homePaths(home).extProverCfg, o.extProverCfg ?? "[[WdPost]]\n");
    const p = startCli(
      ["--home", home, "daemon", "run", "--poster", "--ext-prover", "--listen=127.0.0.1:0"],
      {
        env: { ...process.env, VSM_LOG_LEVEL: "info", VSM_PROVER_THREADS: "1" },
      },
    );
    procs.push(p);
    await p.waitForLine(state, 30_000);
    // The daemon handles signals from its start; the wait only lets the state settle.
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    p.kill("SIGTERM");
    const r = await p.exited;
    const ms = Math.round(performance.now() - t0);
    console.log(`SIGTERM-to-exit (${name}): ${ms} ms`);
    assert.equal(r.code, 0, p.lines.slice(-10).join("\n"));
    assert.ok(
      p.lines.some((l) => l.includes(o.stoppedLine ?? "node stopped")),
      p.lines.slice(-10).join("\n"),
    );
    return ms;
  }

  test("chain port closed: in the longest 'not reachable yet' backoff", async () => {
    const port = await closedPort();
    // The fourth retry waits 4 s (0.5, 1, 2, 4): SIGTERM lands inside it.
    const ms = await stopTime(
      "refused",
      `/ip4/127.0.0.1/tcp/${port}`,
      /chain node not reachable yet; retrying.*"retry_ms": 4000/,
    );
    assert.ok(ms <= LIMIT_MS, `exited ${ms} ms after SIGTERM`);
  });

  test("chain node hung (accepts, never answers): a handshake and a call in flight", async () => {
    const hung = net.createServer((s) => {
      sockets.add(s);
      s.on("error", () => {});
    });
    servers.push(hung);
    await new Promise<void>((r) => hung.listen(0, "127.0.0.1", () => r()));
    const port = (hung.address() as AddressInfo).port;
    const ms = await stopTime("hung", `/ip4/127.0.0.1/tcp/${port}`, /node ready/);
    assert.ok(ms <= LIMIT_MS, `exited ${ms} ms after SIGTERM`);
  });

  test("while the ext-prover children are still starting (60 s ready timeout)", async () => {
    const port = await closedPort();
    const never = "process.stdin.resume(); process.stdin.on('end', () => process.exit(0));";
    const ms = await stopTime("starting", `/ip4/127.0.0.1/tcp/${port}`, /starting ext-prover children/, {
      extProverCfg: `[[WdPost]]\nBin = ${JSON.stringify(process.execPath)}\nArgs = ["-e", ${JSON.stringify(never)}]\nReadyTimeoutSecs = 60\n`,
      stoppedLine: "node stopped before it was ready",
    });
    assert.ok(ms <= LIMIT_MS, `exited ${ms} ms after SIGTERM`);
  });

  test("HTTP-only gateway with its node down: polling ChainHead, in a poll retry wait", async () => {
    const gw = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString();
      });
      req.on("end", () => {
        const m = JSON.parse(body) as { id: number; method: string };
        if (m.method === "Filecoin.StateNetworkName")
          res
            .writeHead(200, { "Content-Type": "application/json" })
            .end(JSON.stringify({ jsonrpc: "2.0", id: m.id, result: "calibrationnet" }));
        else res.writeHead(502).end("<html>502 Bad Gateway</html>");
      });
    });
    gw.on("upgrade", (_req, socket) =>
      socket.end("HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n\r\n"),
    );
    servers.push(gw);
    await new Promise<void>((r) => gw.listen(0, "127.0.0.1", () => r()));
    const port = (gw.address() as AddressInfo).port;
    const ms = await stopTime(
      "http-only-down",
      `http://127.0.0.1:${port}/rpc/v1`,
      /polling the chain head failed; retrying.*"retryInMs": 4000/,
    );
    assert.ok(ms <= LIMIT_MS, `exited ${ms} ms after SIGTERM`);
  });

  /**
   * A `--miner` home whose one [[WinPost]] child (the test processor in slow mode, a minute per
   * answer, plus `envs`; with a child of its own) has a Venus.ComputeProof in flight; SIGTERM. Returns
   * the SIGTERM-to-exit time after checking the daemon exited 0, did not answer, and left no process.
   */
  async function busyStopTime(name: string, envs: Record<string, string>): Promise<number> {
    const home = path.join(dir, name);
    const store = path.join(dir, `${name}-store`);
    const pidfile = path.join(dir, `${name}-grandchild.pid`);
    const sector = await writeSyntheticSector({
      storeDir: store,
      miner: 1000,
      number: 1,
      shape: shapeByName("2KiB")!,
    });
    assert.equal((await runCli(["--home", home, "daemon", "init"])).code, 0);
    const port = await closedPort();
    const cfg = homePaths(home).sectorManagerCfg;
    await fs.writeFile(
      cfg,
      `${(await fs.readFile(cfg, "utf8")).replace('#Chain = ""', `Chain = "/ip4/127.0.0.1/tcp/${port}"`)}\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(store)}\n\n[[Miners]]\nActor = 1000\n[Miners.PoSt]\nEnabled = false\n[Miners.Proof]\nEnabled = true\n`,
    );
    await fs.writeFile(
      homePaths(home).extProverCfg,
      `[[WinPost]]\nBin = ${JSON.stringify(process.execPath)}\nArgs = [${JSON.stringify(FIXTURE)}, "winning_post"]\n[WinPost.Envs]\nMODE = "slow"\nSLOW_MS = "60000"\nPIDFILE = ${JSON.stringify(pidfile)}\n${Object.entries(
        envs,
      )
        .map(([k, v]) => `${k} = ${JSON.stringify(v)}\n`)
        .join("")}`,
    );
    const env = { ...process.env, VSM_LOG_LEVEL: "info" };
    const p = startCli(["--home", home, "daemon", "run", "--miner", "--ext-prover", "--listen=127.0.0.1:0"], {
      env,
    });
    procs.push(p);
    await p.waitForLine(/node ready/, 30_000);
    const attach = await runCli(["--home", home, "util", "storage", "attach", "--name", "store1", store], {
      env,
    });
    assert.equal(attach.code, 0, attach.output);
    const rpc = new RpcClient({
      url: `http://${await readApiFile(home)}/rpc/v0`,
      token: await readToken(home),
    });
    const call = rpc
      .call("Venus.ComputeProof", [
        "f01000",
        [{ SealProof: 5, SectorNumber: 1, SectorKey: null, SealedCID: { "/": sealedCid(sector.commR) } }],
        Buffer.alloc(32, 7).toString("base64"),
      ])
      .then(
        () => "answered",
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      );
    // The request is with the child: the pool shows it in flight.
    let child = -1;
    for (let i = 0; ; i++) {
      const rows = await rpc.call<{ inFlight: number; pid: number }[]>("Venus.ExtProverStatus", []);
      if (rows[0]?.inFlight === 1) {
        child = rows[0].pid;
        break;
      }
      assert.ok(i < 100, `the request never reached the child: ${JSON.stringify(rows)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const pids = [child, Number(await fs.readFile(pidfile, "utf8"))];
    assert.ok(
      pids.every((pid) => alive(pid)),
      `running: ${pids.join(" ")}`,
    );
    const t0 = performance.now();
    p.kill("SIGTERM");
    const r = await p.exited;
    const ms = Math.round(performance.now() - t0);
    console.log(`SIGTERM-to-exit (${name}): ${ms} ms`);
    assert.equal(r.code, 0, p.lines.slice(-10).join("\n"));
    assert.notEqual(await call, "answered", "the in-flight request was not answered by a stopped node");
    assert.ok(
      p.lines.some((l) => l.includes("node stopped")),
      p.lines.slice(-10).join("\n"),
    );
    // The daemon waited for its child's exit: nothing of it is left (a SIGKILLed process is at most a
    // zombie for a moment, which alive() does not count).
    for (const pid of pids) {
      for (let i = 0; i < 50 && alive(pid); i++) await new Promise((res) => setTimeout(res, 20));
      assert.equal(alive(pid), false, `pid ${pid} is gone`);
    }
    return ms;
  }

  test("children busy: a WinningPoSt request in flight on a child that takes a minute", async () => {
    // A processor that ends on stdin EOF at once, as damocles' processors and ours do.
    const ms = await busyStopTime("busy", {});
    assert.ok(ms <= LIMIT_MS, `exited ${ms} ms after SIGTERM`);
  });

  test("children busy, the child finishes its proof before it exits on stdin EOF: SIGTERM at 0.5 s", async () => {
    const ms = await busyStopTime("busy-finish", { ON_EOF: "finish" });
    assert.ok(ms <= LIMIT_MS, `exited ${ms} ms after SIGTERM`);
  });

  test("children busy, the child ignores stdin EOF and SIGTERM: SIGKILL to its group at 1.5 s", async () => {
    const ms = await busyStopTime("busy-stubborn", { ON_EOF: "finish", ON_SIGTERM: "ignore" });
    assert.ok(ms <= LIMIT_MS, `exited ${ms} ms after SIGTERM`);
  });

  test("--proxy at a source that accepts and never answers: SIGTERM during the start-up probe", async () => {
    let connected = 0;
    const hung = net.createServer((s) => {
      connected++;
      sockets.add(s);
      s.on("error", () => {});
    });
    servers.push(hung);
    await new Promise<void>((r) => hung.listen(0, "127.0.0.1", () => r()));
    const port = (hung.address() as AddressInfo).port;
    const home = path.join(dir, "proxy-hung");
    assert.equal((await runCli(["--home", home, "daemon", "init"])).code, 0);
    const p = startCli(
      ["--home", home, "daemon", "run", `--proxy=127.0.0.1:${port}`, "--listen=127.0.0.1:0"],
      {
        env: { ...process.env, VSM_LOG_LEVEL: "info" },
      },
    );
    procs.push(p);
    // The probe of the source waits up to 3 s for an answer; the signal lands inside that wait.
    for (let i = 0; connected === 0; i++) {
      assert.ok(i < 300, "the proxy never connected to its source");
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    p.kill("SIGTERM");
    const r = await p.exited;
    const ms = Math.round(performance.now() - t0);
    console.log(`SIGTERM-to-exit (proxy probe of a hung source): ${ms} ms`);
    assert.equal(r.code, 0, p.lines.slice(-10).join("\n"));
    assert.ok(ms <= LIMIT_MS, `exited ${ms} ms after SIGTERM`);
    assert.ok(
      p.lines.some((l) => l.includes("node stopped before it was ready")),
      p.lines.slice(-10).join("\n"),
    );
  });
});
