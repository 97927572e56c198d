/**
 * Issue 2 benchmark: locating all 2349 sectors of a full 32 GiB partition through a proxy node.
 *
 * Real processes on loopback: a source node holding the index (LMDB) and a proxy node
 * (`--proxy`, `--conf-dir`). Measured in the same run:
 *   - per-sector: one `Venus.SectorIndexerFind` per sector, sequentially (what a damocles proxy does);
 *   - batched:    one `Venus.SectorIndexerFindMany` for the whole partition;
 * both (a) on the PoSter's own path, a ProxyIndexer talking to the source node, and (b) end to end
 * through the proxy node's RPC. Each figure is the median of several rounds. Goal: batched ≥ 20×.
 *
 * Run: npm run build && node --import tsx bench/proxyLookup.ts [--rounds 5]
 */

import fs from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { homePaths, readApiFile, readToken } from "../src/daemon/home.js";
import { nullLogger } from "../src/log/logger.js";
import { RpcClient } from "../src/rpc/client.js";
import type { SectorRef } from "../src/sectors/interface.js";
import { ProxyIndexer } from "../src/sectors/proxyIndexer.js";
import { type Proc, runCli, startCli } from "../src/util/childProcess.js";
import { tempDir } from "../test/helpers/tmp.js";

const SECTORS = 2349;
const MINER = 1000;
const roundsArg = process.argv.indexOf("--rounds");
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function main() {
  const t = await tempDir("vsm-bench-");
  const procs: Proc[] = [];
  try {
    const src = path.join(t.dir, "source");
    const prx = path.join(t.dir, "proxy");
    for (const h of [src, prx]) await runCli(["--home", h, "daemon", "init"]);
    await fs.appendFile(
      homePaths(src).sectorManagerCfg,
      `\n[[Common.PersistStores]]\nName = "store1"\nPath = "${t.dir}/store1"\n`,
    );
    const start = async (home: string, args: string[]) => {
      const p = startCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0", ...args], {
        env: { ...process.env, VSM_LOG_LEVEL: "warn" },
      });
      procs.push(p);
      for (let i = 0; i < 200 && !(await readApiFile(home)); i++) await new Promise((r) => setTimeout(r, 50));
      const api = await readApiFile(home);
      if (!api) throw new Error(`node in ${home} did not start:\n${p.lines.join("\n")}`);
      return api;
    };
    const srcApi = await start(src, ["--miner"]);
    const prxApi = await start(prx, [`--proxy=${srcApi}`, `--conf-dir=${src}`, "--poster"]);

    const admin = new RpcClient({ url: `http://${srcApi}/rpc/v0`, token: await readToken(src) });
    const recs = Array.from({ length: SECTORS }, (_, i) => ({
      Miner: MINER,
      Number: i,
      SealedFile: "store1",
      CacheDir: "store1",
    }));
    await admin.call("Venus.SectorIndexerStore", ["normal", recs]);
    const refs: SectorRef[] = recs.map((r) => ({ miner: r.Miner, number: r.Number }));
    const wire = recs.map((r) => ({ Miner: r.Miner, Number: r.Number }));

    const indexer = new ProxyIndexer(new RpcClient({ url: `http://${srcApi}/rpc/v0` }), srcApi, nullLogger);
    const viaProxyNode = new RpcClient({ url: `http://${prxApi}/rpc/v0` });

    // Warm up connections and JIT on both paths.
    await indexer.findMany("normal", refs);
    for (const r of refs.slice(0, 200)) await indexer.find("normal", r);

    const a = { single: [] as number[], batch: [] as number[] };
    const b = { single: [] as number[], batch: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      a.single.push(
        await time(async () => {
          for (const r of refs) {
            const l = await indexer.find("normal", r);
            if (!l.found) throw new Error(`sector ${r.number} missing`);
          }
        }),
      );
      a.batch.push(
        await time(async () => {
          const ls = await indexer.findMany("normal", refs);
          if (ls.length !== SECTORS || !ls.every((l) => l.found))
            throw new Error("batched lookup incomplete");
        }),
      );
      b.single.push(
        await time(async () => {
          for (const w of wire) await viaProxyNode.call("Venus.SectorIndexerFind", ["normal", w]);
        }),
      );
      b.batch.push(
        await time(async () => {
          const ls = await viaProxyNode.call<unknown[]>("Venus.SectorIndexerFindMany", ["normal", wire]);
          if (ls.length !== SECTORS) throw new Error("batched lookup incomplete");
        }),
      );
    }
    const line = (name: string, s: number[], bt: number[]) => {
      const ms = median(s);
      const mb = median(bt);
      console.log(`  ${name}`);
      console.log(
        `    per-sector (${SECTORS} RPCs, sequential): ${ms.toFixed(1)} ms  (${((ms * 1000) / SECTORS).toFixed(0)} µs/sector)`,
      );
      console.log(`    batched    (1 RPC):                  ${mb.toFixed(1)} ms`);
      console.log(
        `    ratio: batched is ${(ms / mb).toFixed(1)}× faster  (goal ≥ 20×: ${ms / mb >= 20 ? "met" : "NOT met"})`,
      );
      return ms / mb;
    };
    console.log(
      `Locating one full 32 GiB partition (${SECTORS} sectors) through a proxy; median of ${ROUNDS} rounds, Node ${process.version}`,
    );
    const r1 = line("PoSter path: ProxyIndexer → source node (LMDB)", a.single, a.batch);
    const r2 = line("end to end: client → proxy node → source node", b.single, b.batch);
    console.log(
      JSON.stringify({
        bench: "proxyLookup",
        sectors: SECTORS,
        rounds: ROUNDS,
        posterPathRatio: r1,
        endToEndRatio: r2,
      }),
    );
  } finally {
    await Promise.all(procs.map((p) => p.stop(3000)));
    await t.cleanup();
  }
}

await main();
