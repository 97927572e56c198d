/**
 * `npm run demo` / `vsm demo`: the seed document's standalone-PoSter practice on one machine, with
 * real processes on loopback:
 *
 *   1. a source node (`daemon run --miner`) with a persist store of synthetic sectors attached;
 *   2. a PoSter node in proxy mode sharing the source's config
 *      (`daemon run --proxy=SRC --listen=... --conf-dir=<source home> --poster`);
 *   3. both answer every lookup identically; a sector attached on the source is visible through the
 *      proxy at once; the proxy refuses writes;
 *   4. the source is killed: the proxy reports clear errors and keeps running; the source comes back
 *      on the same port and the proxy recovers by itself.
 *
 * The sectors are synthetic (`devnet seal`): real layout and a real TreeRLast over random data, with
 * PoRep sealing skipped; `attach --strict` proves one challenge of each from its files.
 * The PoSter runs the seed's ext-prover children (one [[WdPost]] block per GPU); WindowPoSt proving on
 * the devnet joins this demo with the scheduler.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { DeadlineRecord } from "../devnet/miner.js";
import { sealedFilePath } from "../proofs/sectorFiles.js";
import { shapeByName } from "../proofs/sectorShapes.js";
import { writeSyntheticSector } from "../proofs/syntheticSector.js";
import { RpcClient } from "../rpc/client.js";
import { type Proc, runCli, startCli } from "../util/childProcess.js";
import { errorMessage, SmError } from "../util/errors.js";
import { sleep } from "../util/time.js";
import { homePaths, readApiFile, readToken } from "./home.js";

export interface DemoOptions {
  keep: boolean;
  out: (line: string) => void;
  /** Sectors in the store (default 8). */
  sectors?: number;
}

const MINER = 1000;

const READY = /node ready/;

export async function runDemo(opts: DemoOptions): Promise<void> {
  const say = opts.out;
  const t0 = Date.now();
  const step = (n: number, text: string) =>
    say(`\n[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${n}. ${text}`);
  const root = await fs.mkdtemp(path.join(os.tmpdir(), "vsm-demo-"));
  const sourceHome = path.join(root, "venus-sector-manager");
  const posterHome = path.join(root, "venus-individual-poster");
  const storeDir = path.join(root, "store1");
  const procs: Proc[] = [];
  const shape = shapeByName("2KiB");
  if (!shape) throw new Error("2KiB shape missing");
  const count = opts.sectors ?? 8;

  const vsm = async (args: string[]) => {
    say(`   $ vsm ${args.join(" ")}`);
    const r = await runCli(args);
    for (const l of r.lines) say(`     ${l}`);
    if (r.code !== 0) throw new SmError("DEMO_FAILED", `vsm ${args.join(" ")} exited with ${r.code}`);
    return r;
  };
  const daemon = async (home: string, args: string[]) => {
    const full = ["--home", home, "daemon", "run", ...args];
    say(`   $ vsm ${full.join(" ")} &`);
    const p = startCli(full, { env: { ...process.env, VSM_LOG_LEVEL: "info" } });
    procs.push(p);
    const line = await p.waitForLine(READY, 20_000);
    say(`     ${line.split("\t").slice(0, 2).join(" ")} ... node ready (pid ${p.pid})`);
    return p;
  };

  try {
    say(
      "Standalone PoSter node demo: the devnet chain, a source node, and a standalone PoSter node (proxy mode, shared config, ext-prover children), all on loopback.",
    );
    say(`working directory: ${root}`);

    step(
      0,
      "start the devnet chain (Lotus API on loopback; 4 deadlines of 12 epochs, 150 ms blocks, so a proving period takes ~7 s)",
    );
    const devnetHome = path.join(root, "devnet");
    const dnArgs = [
      "--home",
      devnetHome,
      "devnet",
      "run",
      "--listen",
      "127.0.0.1:0",
      "--block-time",
      "150ms",
      "--deadlines",
      "4",
      "--window",
      "12",
      "--lookback",
      "4",
      "--cutoff",
      "6",
    ];
    say(`   $ vsm ${dnArgs.join(" ")} &`);
    const dn = startCli(dnArgs, { env: { ...process.env, VSM_LOG_LEVEL: "info" } });
    procs.push(dn);
    const chainLine = await dn.waitForLine(/^Chain = /, 20_000);
    const devnet = new RpcClient({
      url: `http://${await readApiFile(devnetHome)}/rpc/v1`,
      token: await readToken(devnetHome),
      peerName: "devnet",
    });
    say(
      `   devnet ready (pid ${dn.pid}); nodes reach it with [Common.API] ${chainLine.replace(/"[^:"]+:/, '"<token>:')}`,
    );

    step(
      1,
      `synthetic sectors: ${count} 2KiB sectors of miner f0${MINER} (real layout and TreeRLast over random data; PoRep sealing skipped), onboarded on the devnet`,
    );
    await vsm([
      "--home",
      devnetHome,
      "devnet",
      "seal",
      "--miner",
      String(MINER),
      "--store",
      storeDir,
      "--count",
      String(count),
      "--onboard",
      "--log-level",
      "warn",
    ]);
    const broken = await writeSyntheticSector({ storeDir, miner: MINER, number: 99, shape });
    await fs.truncate(path.join(broken.cacheDir, "sc-02-data-tree-r-last.dat"), 0);
    say(`   ${count} good sectors in ${storeDir}, plus sector 99 with a truncated tree-r-last file`);

    step(2, "initialise the source node and point its config at the devnet, the store and the miner");
    await vsm(["--home", sourceHome, "daemon", "init"]);
    const cfgFile = homePaths(sourceHome).sectorManagerCfg;
    const extra = `\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(storeDir)}\n\n[[Miners]]\nActor = ${MINER}\n[Miners.PoSt]\nChallengeConfidence = 1\nSubmitConfidence = 1\nConfidence = 1\n`;
    await fs.writeFile(
      cfgFile,
      (await fs.readFile(cfgFile, "utf8")).replace('#Chain = ""', chainLine) + extra,
    );
    for (const l of extra.trim().split("\n")) say(`     ${l}`);

    step(3, "start the source node (seed: `venus-sector-manager daemon run --miner`)");
    const sourceProc = await daemon(sourceHome, ["--miner", "--listen=127.0.0.1:0"]);
    const sourceApi = await readApiFile(sourceHome);
    if (!sourceApi) throw new SmError("DEMO_FAILED", "source node wrote no api file");
    say(`   source node answers on ${sourceApi}`);

    step(
      4,
      "attach the store on the source: strict check (one vanilla proof per sector), recorded through its API",
    );
    await vsm(["--home", sourceHome, "util", "storage", "attach", "--strict", "--name", "store1", storeDir]);

    step(
      5,
      "the seed's deployment practice: one [[WdPost]] block per GPU in ext-prover.cfg (two here), shared through --conf-dir",
    );
    const gpus = [0, 1].map(
      (i) =>
        `[[WdPost]]\n[WdPost.Envs]\nCUDA_VISIBLE_DEVICES = "${i}"\nTMPDIR = "${path.join(root, `ext-prover${i}`)}/"\n`,
    );
    await fs.writeFile(homePaths(sourceHome).extProverCfg, gpus.join("\n"));
    for (const l of gpus.join("\n").trimEnd().split("\n")) say(`     ${l}`);

    step(
      6,
      "initialise and start the standalone PoSter node: proxy mode, the source's config, ext-prover children",
    );
    await vsm(["--home", posterHome, "daemon", "init"]);
    const poster = await daemon(posterHome, [
      `--proxy=${sourceApi}`,
      "--listen=127.0.0.1:0",
      `--conf-dir=${sourceHome}`,
      "--poster",
      "--ext-prover",
    ]);
    const posterApi = await readApiFile(posterHome);
    if (!posterApi) throw new SmError("DEMO_FAILED", "poster node wrote no api file");
    for (const l of poster.lines.filter((x) => /response loop start|request loop start|\tready\t/.test(x))) {
      say(`     ${l.split("\t").slice(1).join(" ")}`);
    }
    await vsm(["--home", posterHome, "util", "sealer", "proving", "provers"]);

    step(7, "the proxy answers exactly as the source (one batched call for all sectors)");
    const src = new RpcClient({ url: `http://${sourceApi}/rpc/v0`, peerName: "source" });
    const prx = new RpcClient({ url: `http://${posterApi}/rpc/v0`, peerName: "poster" });
    const refs = Array.from({ length: count + 1 }, (_, i) => ({ Miner: MINER, Number: i + 1 }));
    const a = await src.call<unknown[]>("Venus.SectorIndexerFindMany", ["normal", refs]);
    const b = await prx.call<unknown[]>("Venus.SectorIndexerFindMany", ["normal", refs]);
    const same = JSON.stringify(a) === JSON.stringify(b);
    say(
      `   source: ${a.filter((x) => (x as { Found: boolean }).Found).length}/${refs.length} found; proxy: ${b.filter((x) => (x as { Found: boolean }).Found).length}/${refs.length} found; identical answers: ${same ? "yes" : "NO"}`,
    );
    if (!same) throw new SmError("DEMO_FAILED", "the proxy's answers differ from the source's");
    await vsm(["--home", posterHome, "util", "storage", "find", `f0${MINER}`, "3"]);

    step(8, "a sector attached on the source is visible through the proxy at once");
    await writeSyntheticSector({ storeDir, miner: MINER, number: count + 1, shape });
    await vsm(["--home", sourceHome, "util", "storage", "attach", "--name", "store1", storeDir]);
    const fresh = await prx.call<{ Found: boolean }>("Venus.SectorIndexerFind", [
      "normal",
      { Miner: MINER, Number: count + 1 },
    ]);
    say(`   proxy lookup of sector ${count + 1}: ${fresh.Found ? "found" : "NOT FOUND"}`);
    if (!fresh.Found) throw new SmError("DEMO_FAILED", "the new sector is not visible through the proxy");

    step(9, "writes through the proxy are refused (its index is the source's, read-only)");
    const r = await runCli(["--home", posterHome, "util", "storage", "attach", "--name", "store1", storeDir]);
    say(`   $ vsm --home ${posterHome} util storage attach --name store1 ${storeDir}`);
    say(`     ${r.lines.filter((l) => l.startsWith("error")).join(" ") || "(no error?)"} (exit ${r.code})`);
    if (r.code === 0) throw new SmError("DEMO_FAILED", "the proxy accepted a write");

    step(10, "the source node dies: the proxy reports it clearly and keeps running");
    const source = sourceProc;
    source?.kill("SIGKILL");
    await source?.exited;
    try {
      await prx.call("Venus.SectorIndexerFind", ["normal", { Miner: MINER, Number: 1 }]);
      throw new SmError("DEMO_FAILED", "the lookup succeeded with the source down");
    } catch (e) {
      if (e instanceof SmError && e.code === "DEMO_FAILED") throw e;
      say(`   proxy lookup while the source is down: ${errorMessage(e)}`);
    }
    const health = await fetch(`http://${posterApi}/healthcheck`).then((res) => res.status);
    say(
      `   proxy /healthcheck: HTTP ${health}; proxy process alive: ${poster.child.exitCode === null ? "yes" : "no"}`,
    );

    step(11, "the source comes back on the same address; the proxy recovers by itself");
    await daemon(sourceHome, ["--miner", `--listen=${sourceApi}`]);
    const back = await prx.call<{ Found: boolean }>("Venus.SectorIndexerFind", [
      "normal",
      { Miner: MINER, Number: 1 },
    ]);
    say(`   proxy lookup of sector 1 after the restart: ${back.Found ? "found" : "NOT FOUND"}`);
    if (!back.Found) throw new SmError("DEMO_FAILED", "the proxy did not recover");

    const seen = new Set<string>();
    const watch = async (
      until: (r: DeadlineRecord) => boolean,
      maxMs: number,
    ): Promise<DeadlineRecord | undefined> => {
      const t = Date.now();
      while (Date.now() - t < maxMs) {
        for (const r of await devnet.call<DeadlineRecord[]>("Devnet.Records", [`f0${MINER}`, 50])) {
          const key = `${r.index}@${r.open}`;
          if (r.partitions === 0 || seen.has(key)) continue;
          seen.add(key);
          say(
            `   deadline ${r.index} (epochs ${r.open}-${r.close}): ${r.partitions} partition(s), proven [${r.proven.join(",")}]${r.missed.length ? `, MISSED [${r.missed.join(",")}]` : ""}${r.newFaults.length ? `, new faults [${r.newFaults.join(",")}]` : ""}${r.recovered.length ? `, recovered [${r.recovered.join(",")}]` : ""}${r.rejections.length ? `, rejected: ${r.rejections.join("; ")}` : ""}`,
          );
          if (until(r)) return r;
        }
        await sleep(300);
      }
      return undefined;
    };

    step(
      12,
      "the PoSter proves deadline after deadline through its ext-prover children; the devnet judges every proof",
    );
    const start = (await devnet.call<{ Epoch: number }>("Devnet.Status", [])).Epoch;
    await watch((r) => r.open > start + 48, 30_000);
    await vsm(["--home", posterHome, "util", "sealer", "proving", "provers"]);

    step(
      13,
      "a disk fails: sector 1's sealed file disappears; the PoSter skips it, the rest is proven, the chain marks it faulty",
    );
    const victim = sealedFilePath(storeDir, "normal", MINER, 1);
    const copy = await fs.readFile(victim);
    await fs.rm(victim);
    const fault = await watch((r) => r.newFaults.includes(1), 40_000);
    if (!fault) throw new SmError("DEMO_FAILED", "sector 1 did not become faulty");

    step(
      14,
      "the disk is repaired: the PoSter declares sector 1 recovered two deadlines ahead and proves it again",
    );
    await fs.writeFile(victim, copy);
    const recovered = await watch((r) => r.recovered.includes(1), 60_000);
    if (!recovered) throw new SmError("DEMO_FAILED", "sector 1 was not recovered");
    const status = await devnet.call<{ Miners: { Sectors: number; Faulty: number }[] }>("Devnet.Status", []);
    say(`   miner f0${MINER}: ${status.Miners[0]?.Sectors} sectors, ${status.Miners[0]?.Faulty} faulty`);

    step(15, "shut everything down (SIGTERM)");
    for (const p of [...procs].reverse()) {
      // The source killed in step 10 is already gone; only the processes running now are reported.
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
      const res = await p.stop();
      if (p.child.exitCode !== null || res.signal)
        say(`   pid ${p.pid} exited (${res.signal ?? `code ${res.code}`})`);
    }
    say(
      `\ndemo finished in ${((Date.now() - t0) / 1000).toFixed(1)} s: the seed's standalone PoSter deployment (proxy node, shared config, ext-prover children) proves WindowPoSt end to end.`,
    );
    say(
      `summary: ${seen.size} deadlines with sectors judged by the devnet, one fault injected and recovered; WindowPoSt proofs here are vanilla proofs (a real network needs a SNARK-capable ext-prover Bin).`,
    );
  } finally {
    await Promise.all(procs.map((p) => p.stop(2000)));
    if (opts.keep) say(`kept ${root}`);
    else await fs.rm(root, { recursive: true, force: true });
  }
}
