/**
 * The composition root builds one worker pool per node: `--miner --poster` with the built-in provers
 * (WinningPoSt for an enabled miner, WindowPoSt against a real devnet) hashes in one pool of the size
 * `workerPoolSize("node")` decides, not one pool per module. A node that proves nothing starts no
 * threads. The count is read where an operator reads it: `vsm_worker_threads` at /metrics.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { homePaths, initHome } from "../../../src/daemon/home.js";
import { type DaemonFlags, type RunningNode, startNode } from "../../../src/daemon/node.js";
import { nullLogger } from "../../../src/log/logger.js";
import { workerPoolSize } from "../../../src/prover/workerPool.js";
import { type ManualDevnet, manualDevnetConfig, startManualDevnet } from "../../helpers/manualDevnet.js";
import { tempDir } from "../../helpers/tmp.js";

const flags = (o: Partial<DaemonFlags>): DaemonFlags => ({
  listen: { host: "127.0.0.1", port: 0 },
  miner: false,
  poster: false,
  proxy: undefined,
  proxyIndexerOff: false,
  confDir: undefined,
  extProver: false,
  proxyToken: undefined,
  ...o,
});

async function workerThreads(node: RunningNode): Promise<number> {
  const res = await fetch(`http://${node.api}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const line = text.split("\n").find((l) => l.startsWith("vsm_worker_threads "));
  assert.ok(line, "vsm_worker_threads is exported");
  return Number(line.split(" ")[1]);
}

describe("daemon composition root", { timeout: 120_000 }, () => {
  let cleanup = async () => {};
  let m: ManualDevnet | undefined;
  let home = "";

  before(async () => {
    let dir: string;
    ({ dir, cleanup } = await tempDir("vsm-compose-"));
    m = await startManualDevnet(dir, 2);
    home = path.join(dir, "node");
    await initHome(home);
    // Miner f01000 with WindowPoSt (the default) and WinningPoSt enabled: both modules need threads.
    await fs.writeFile(
      homePaths(home).sectorManagerCfg,
      `${manualDevnetConfig(m)}[Miners.Proof]\nEnabled = true\n`,
    );
  });
  after(async () => {
    await m?.devnet.close();
    await cleanup();
  });

  test("--miner --poster: one pool for both, of the size decided for a node", async () => {
    const node = await startNode(home, flags({ miner: true, poster: true }), { logger: nullLogger });
    try {
      const threads = await workerThreads(node);
      assert.equal(threads, workerPoolSize("node").size);
      assert.ok(
        threads <= os.availableParallelism(),
        `${threads} threads on ${os.availableParallelism()} cores`,
      );
    } finally {
      await node.close();
      await node.close();
    }
  });

  test("a node that proves nothing starts no threads", async () => {
    const node = await startNode(home, flags({}), { logger: nullLogger });
    try {
      assert.equal(await workerThreads(node), 0);
    } finally {
      await node.close();
    }
  });
});
