/**
 * `vsm demo --cluster`: the seed's deployment as a PoSter cluster (issue 13) on one machine, with real
 * processes on loopback and a throwaway PostgreSQL server (demoPg.ts):
 *
 *   1. PostgreSQL in a temp directory, a devnet chain, a source node (`--miner`) whose sector index is
 *      the database, three PoSter nodes (`--poster --ext-prover --name n1|n2|n3`) sharing its config
 *      through `--conf-dir`;
 *   2. synthetic sectors sealed into one deadline, so it has six partitions;
 *   3. at the deadline's challenge the nodes create its partition tasks in the database and share
 *      them; the demo SIGKILLs a node while it holds a task, and another node takes the task over
 *      when the lease runs out;
 *   4. the demo shows which node proved which partition (from the database) and the devnet's verdict
 *      on the deadline, then stops everything: nodes, chain, server; nothing is left running.
 *
 * Each ext-prover child answers no sooner than PROOF_MS after a request (`VSM_PROVER_MIN_MS`,
 * prover/minProofTime.ts): a 2KiB proof takes milliseconds, and a node must hold its task long
 * enough to be caught holding it. Leases are shortened to 3 s (the default is 8 s) so the takeover
 * fits in the demo's 12 s windows with room to spare.
 */
import { readdirSync, readFileSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { DeadlineInfo } from "../chain/interface.js";
import { listTasks, type TaskInfo, taskHistory } from "../cluster/taskViews.js";
import type { DeadlineRecord } from "../devnet/miner.js";
import { type DevnetPolicy, deadlineIsMutable, provingDeadlineAt, provingPeriod } from "../devnet/policy.js";
import { nullLogger } from "../log/logger.js";
import { RpcClient } from "../rpc/client.js";
import { openPg, type Pg } from "../store/pg/db.js";
import { type Proc, runCli, startCli } from "../util/childProcess.js";
import { errorMessage, SmError } from "../util/errors.js";
import { sleep } from "../util/time.js";
import type { DemoOptions } from "./demo.js";
import { type DemoPg, findPgBinDir, startDemoPg } from "./demoPg.js";
import { homePaths, readApiFile, readToken } from "./home.js";

const MINER = 1000;
const NODES = ["n1", "n2", "n3"] as const;
/** Six partitions of two 2KiB sectors each. */
const PARTITIONS = 6;
const SECTORS_PER_PARTITION = 2;
const PROOF_MS = 2000;
const BLOCK_MS = 300;
const POLICY: DevnetPolicy = {
  wPoStPeriodDeadlines: 3,
  wPoStChallengeWindow: 40,
  wPoStChallengeLookback: 20,
  faultDeclarationCutoff: 21,
  postedPartitionsMax: 3,
};
const LEASES = { LeaseTimeout: "3s", LeaseRenewInterval: "1s", HeartbeatInterval: "1s", NodeDeadAfter: "3s" };
/** Epochs the target deadline must stay open to new sectors: time for `devnet seal --onboard`. */
const ONBOARD_ROOM = 25;

/**
 * Processes (other than this one) whose command line or environment names one of `dirs`; empty where
 * /proc cannot be read. A process of another user whose environment is unreadable is judged by its
 * command line alone.
 */
export function leftovers(dirs: readonly string[]): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const e of entries) {
    let text = "";
    for (const f of ["cmdline", "environ"]) {
      try {
        text += readFileSync(`/proc/${e}/${f}`, "latin1");
      } catch {
        // ended meanwhile, or not ours to read
      }
    }
    try {
      // A zombie has run its course; only its parent's wait is missing.
      const stat = readFileSync(`/proc/${e}/stat`, "latin1");
      if (stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z") continue;
    } catch {
      continue;
    }
    if (dirs.some((d) => text.includes(d))) out.push(Number(e));
  }
  return out;
}

export async function runClusterDemo(opts: DemoOptions): Promise<void> {
  const say = opts.out;
  const t0 = Date.now();
  const step = (n: number, text: string) =>
    say(`\n[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${n}. ${text}`);
  const at = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;

  // Before anything is created: without server binaries the demo cannot run, say how to get them.
  const binDir = findPgBinDir();

  const root = await fs.mkdtemp(path.join(os.tmpdir(), "vsm-demo-"));
  const sourceHome = path.join(root, "venus-sector-manager");
  const devnetHome = path.join(root, "devnet");
  const storeDir = path.join(root, "store1");
  const procs: Proc[] = [];
  const nodes = new Map<string, Proc>();
  const nodeLines = new Map<string, string[]>();
  let server: DemoPg | undefined;
  let pg: Pg | undefined;

  // An interrupted demo still stops its server and processes: a PostgreSQL left running would hold
  // a port and a temp directory until someone found it.
  const onSignal = (sig: NodeJS.Signals) => {
    for (const p of procs) p.kill("SIGKILL");
    server?.stop();
    if (!opts.keep) void fs.rm(root, { recursive: true, force: true });
    process.stderr.write(`\ninterrupted (${sig}): PostgreSQL stopped, demo processes killed\n`);
    process.exit(sig === "SIGINT" ? 130 : 143);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const vsm = async (args: string[], show = true) => {
    say(`   $ vsm ${args.join(" ")}`);
    const r = await runCli(args, { timeoutMs: 90_000 });
    if (show || r.code !== 0) for (const l of r.lines) say(`     ${l}`);
    if (r.code !== 0) throw new SmError("DEMO_FAILED", `vsm ${args.join(" ")} exited with ${r.code}`);
    return r;
  };
  const start = async (args: string[], ready: RegExp, lines?: string[]): Promise<Proc> => {
    say(`   $ vsm ${args.join(" ")} &`);
    const p = startCli(args, {
      env: { ...process.env, VSM_LOG_LEVEL: "info", VSM_PROVER_THREADS: "1" },
      onLine: lines ? (l) => lines.push(l) : undefined,
    });
    procs.push(p);
    await p.waitForLine(ready, 90_000);
    return p;
  };

  try {
    say(
      "PoSter cluster demo: three PoSter nodes share one miner's deadlines through a local PostgreSQL; one of them is killed mid-deadline.",
    );
    say(`working directory: ${root}`);

    step(1, `start a throwaway PostgreSQL server (binaries in ${binDir})`);
    server = await startDemoPg(binDir);
    say(`   PostgreSQL listening on 127.0.0.1:${server.port}, data in ${server.dir}`);
    pg = openPg(server.dsn, { logger: nullLogger, applicationName: "vsm demo", maxConnections: 2 });

    step(
      2,
      `start the devnet chain (${POLICY.wPoStPeriodDeadlines} deadlines of ${POLICY.wPoStChallengeWindow} epochs, ${BLOCK_MS} ms blocks: a window lasts ${(POLICY.wPoStChallengeWindow * BLOCK_MS) / 1000} s)`,
    );
    const dn = await start(
      [
        "--home",
        devnetHome,
        "devnet",
        "run",
        "--listen",
        "127.0.0.1:0",
        "--block-time",
        `${BLOCK_MS}ms`,
        "--deadlines",
        String(POLICY.wPoStPeriodDeadlines),
        "--window",
        String(POLICY.wPoStChallengeWindow),
        "--lookback",
        String(POLICY.wPoStChallengeLookback),
        "--cutoff",
        String(POLICY.faultDeclarationCutoff),
      ],
      /devnet ready/,
    );
    const chainLine = await dn.waitForLine(/^Chain = /, 10_000);
    const devnet = new RpcClient({
      url: `http://${await readApiFile(devnetHome)}/rpc/v1`,
      token: await readToken(devnetHome),
      peerName: "devnet",
    });
    const epoch = async () => (await devnet.call<{ Epoch: number }>("Devnet.Status", [])).Epoch;
    say(`   devnet ready (pid ${dn.pid})`);

    step(3, "the source node's config: the database, short leases, the chain, the store and the miner");
    await vsm(["--home", sourceHome, "daemon", "init"], false);
    await fs.mkdir(storeDir, { recursive: true });
    const cfgFile = homePaths(sourceHome).sectorManagerCfg;
    let cfg = (await fs.readFile(cfgFile, "utf8"))
      .replace('#Chain = ""', chainLine)
      .replace('#Driver = "lmdb"', 'Driver = "postgres"')
      .replace(/#DSN = "[^"]*"/, `DSN = ${JSON.stringify(server.dsn)}`);
    for (const [k, v] of Object.entries(LEASES))
      cfg = cfg.replace(new RegExp(`#${k} = "[^"]*"`), `${k} = "${v}"`);
    const extra = `\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(storeDir)}\n\n[[Miners]]\nActor = ${MINER}\n[Miners.PoSt]\nChallengeConfidence = 1\nSubmitConfidence = 1\nConfidence = 1\n`;
    await fs.writeFile(cfgFile, cfg + extra);
    say(
      `     [Common.DB] Driver = "postgres"; [Common.DB.Postgres] DSN = "${server.dsn}"; ${Object.entries(
        LEASES,
      )
        .map(([k, v]) => `${k} = "${v}"`)
        .join(", ")} (default lease 8s)`,
    );
    for (const l of extra.trim().split("\n")) say(`     ${l}`);
    const proverTmp = path.join(root, "ext-prover-tmp");
    await fs.mkdir(proverTmp, { recursive: true });
    const wdpost = `[[WdPost]]\n[WdPost.Envs]\nCUDA_VISIBLE_DEVICES = "0"\nTMPDIR = ${JSON.stringify(`${proverTmp}/`)}\nVSM_PROVER_MIN_MS = "${PROOF_MS}"\nVSM_PROVER_THREADS = "1"\n`;
    await fs.writeFile(homePaths(sourceHome).extProverCfg, wdpost);
    say(
      `   ext-prover.cfg, shared by the PoSter nodes through --conf-dir (one child per node; each proof takes at least ${PROOF_MS / 1000} s, standing in for a GPU's time):`,
    );
    for (const l of wdpost.trimEnd().split("\n")) say(`     ${l}`);

    step(
      4,
      "start the source node (`daemon run --miner`): it applies the schema; its sector index is the database",
    );
    await start(["--home", sourceHome, "daemon", "run", "--miner", "--listen=127.0.0.1:0"], /node ready/);

    step(5, `start three PoSter nodes (--poster --ext-prover --name): each joins the cluster`);
    for (const name of NODES) {
      const home = path.join(root, `node-${name}`);
      await vsm(["--home", home, "daemon", "init"], false);
      const lines: string[] = [];
      nodeLines.set(name, lines);
      const p = await start(
        [
          "--home",
          home,
          "daemon",
          "run",
          "--listen=127.0.0.1:0",
          `--conf-dir=${sourceHome}`,
          "--poster",
          "--ext-prover",
          `--name=${name}`,
        ],
        /joined the cluster/,
        lines,
      );
      nodes.set(name, p);
      const joined = lines.find((l) => /joined the cluster/.test(l)) ?? "";
      say(`     ${name} (pid ${p.pid}): ${joined.split("\t").slice(4).join(" ")}`);
    }
    await vsm(["--home", sourceHome, "util", "cluster", "nodes"]);

    step(
      6,
      `seal ${PARTITIONS * SECTORS_PER_PARTITION} synthetic 2KiB sectors of f0${MINER} into one deadline (${PARTITIONS} partitions of ${SECTORS_PER_PARTITION}) and index them in the database`,
    );
    const offset = MINER % provingPeriod(POLICY);
    let target = -1;
    for (let e = (await epoch()) + 1; target < 0; e++) {
      // With three deadlines one only is open to new sectors at a time: all of them land there.
      const stays = (i: number) =>
        Array.from({ length: ONBOARD_ROOM + 1 }, (_, k) => e + k).every((x) =>
          deadlineIsMutable(offset, i, x, POLICY),
        );
      const ok = [0, 1, 2].filter(stays);
      if (ok.length === 1) {
        say(`   waiting for epoch ${e}, from which deadline ${ok[0]} stays open to new sectors long enough`);
        while ((await epoch()) < e) await sleep(100);
        target = ok[0] ?? -1;
      }
    }
    const sealed = await runCli(
      [
        "--home",
        devnetHome,
        "devnet",
        "seal",
        "--miner",
        String(MINER),
        "--store",
        storeDir,
        "--count",
        String(PARTITIONS * SECTORS_PER_PARTITION),
        "--onboard",
        "--threads",
        "1",
      ],
      { env: { ...process.env, VSM_LOG_LEVEL: "info" }, timeoutMs: 90_000 },
    );
    const placed = new Set(
      sealed.lines
        .filter((l) => /\tonboarded\t/.test(l))
        .map((l) => Number(/"deadline": (\d+)/.exec(l)?.[1])),
    );
    if (sealed.code !== 0 || placed.size !== 1) {
      for (const l of sealed.lines.slice(-10)) say(`     ${l}`);
      throw new SmError(
        "DEMO_FAILED",
        `devnet seal exited with ${sealed.code}, sectors in deadlines [${[...placed]}]`,
      );
    }
    const index = [...placed][0] ?? target;
    say(
      `   $ vsm --home ${devnetHome} devnet seal --miner ${MINER} --store ${storeDir} --count ${PARTITIONS * SECTORS_PER_PARTITION} --onboard`,
    );
    say(`     ${PARTITIONS * SECTORS_PER_PARTITION} sectors onboarded into deadline ${index}`);
    await vsm(["--home", sourceHome, "util", "storage", "attach", "--name", "store1", storeDir], false);
    say("     store1 attached: the sector index rows are in the database, every node reads them from there");

    const now = await epoch();
    let dl: DeadlineInfo | undefined;
    for (let e = now + 1; !dl; e++) {
      const d = provingDeadlineAt(offset, e, POLICY);
      if (d.index === index && d.open > now) dl = d;
    }
    if (now >= dl.challenge)
      throw new SmError("DEMO_FAILED", `the sectors came too late for deadline ${index}`);

    step(
      7,
      `deadline ${index} (open ${dl.open}, close ${dl.close}): at its challenge (epoch ${dl.challenge}, ~${(((dl.challenge - now) * BLOCK_MS) / 1000).toFixed(0)} s from now) the nodes create its ${PARTITIONS} partition tasks and claim them, earliest Close first`,
    );
    const shown = new Map<number, string>();
    const show = (t: TaskInfo) => {
      const text = `${t.state}${t.node ? ` on ${t.node}` : ""} (attempt ${t.attempts})`;
      if (shown.get(t.partition) === text) return;
      shown.set(t.partition, text);
      say(`   ${at()} partition ${t.partition}: ${text}${t.error ? `: ${t.error}` : ""}`);
    };
    const tasksOf = async () =>
      (await listTasks(pg as Pg, { miner: MINER, deadline: index })).filter((t) => t.open === dl.open);
    const until = Date.now() + ((dl.close - now) * BLOCK_MS + 30_000);
    let victim: { name: string; partition: number; at: number } | undefined;
    let takeover: { by: string; ms: number } | undefined;
    for (;;) {
      if (Date.now() > until)
        throw new SmError("DEMO_FAILED", `deadline ${index}'s tasks were not all done by its close`);
      const tasks = await tasksOf();
      for (const t of tasks.sort((a, b) => a.partition - b.partition)) show(t);
      if (!victim) {
        const held = tasks.find((t) => t.state === "running" && t.node !== null);
        if (held?.node) {
          victim = { name: held.node, partition: held.partition, at: Date.now() };
          step(
            8,
            `SIGKILL ${held.node} (pid ${nodes.get(held.node)?.pid}) while it holds partition ${held.partition}`,
          );
          nodes.get(held.node)?.kill("SIGKILL");
          await nodes.get(held.node)?.exited;
          say(
            `   ${at()} ${held.node} is dead; its lease on partition ${held.partition} runs out within ${LEASES.LeaseTimeout}`,
          );
        }
      } else if (!takeover) {
        const t = tasks.find((x) => x.partition === victim?.partition);
        if (t?.node && t.node !== victim.name && t.attempts >= 2) {
          takeover = { by: t.node, ms: Date.now() - victim.at };
          say(
            `   ${at()} TAKEOVER: partition ${t.partition} taken over by ${t.node} ${(takeover.ms / 1000).toFixed(1)} s after the kill (attempt ${t.attempts})`,
          );
          const line = nodeLines.get(t.node)?.find((l) => /took over a partition task/.test(l));
          if (line) say(`     ${t.node}: ${line.split("\t").slice(4).join(" ")}`);
        }
      }
      if (tasks.length === PARTITIONS && tasks.every((t) => t.state === "done")) break;
      if (tasks.some((t) => t.state === "failed"))
        throw new SmError("DEMO_FAILED", "a partition task failed");
      await sleep(100);
    }
    if (!victim || !takeover)
      throw new SmError("DEMO_FAILED", "no node was killed while holding a task, or no takeover was seen");

    step(9, "who proved what, from the database (partition_tasks and task_history)");
    const final = (await tasksOf()).sort((a, b) => a.partition - b.partition);
    for (const t of final) {
      const hist = (await taskHistory(pg, { miner: MINER, open: dl.open, partition: t.partition })).reverse();
      const attempts = hist
        .map((h) => `${h.node} ${h.state}${h.error ? ` (${h.error})` : ""}`)
        .join(", then ");
      say(
        `   partition ${t.partition}: proven by ${t.node} in ${t.attempts} attempt(s)${t.attempts > 1 ? `: ${attempts}` : ""}`,
      );
    }
    const by = new Set(final.map((t) => t.node));
    say(`   ${by.size} node(s) proved this deadline: ${[...by].sort().join(", ")}`);
    await vsm([
      "--home",
      sourceHome,
      "util",
      "cluster",
      "tasks",
      "--miner",
      String(MINER),
      "--deadline",
      String(index),
    ]);
    await vsm(["--home", sourceHome, "util", "cluster", "nodes"]);

    step(10, `the devnet judges deadline ${index} at its close (epoch ${dl.close})`);
    let rec: DeadlineRecord | undefined;
    const recUntil = Date.now() + (dl.close - (await epoch())) * BLOCK_MS + 30_000;
    while (!rec) {
      if (Date.now() > recUntil)
        throw new SmError("DEMO_FAILED", `no devnet record of deadline ${index} after its close`);
      rec = (await devnet.call<DeadlineRecord[]>("Devnet.Records", [`f0${MINER}`, 50])).find(
        (r) => r.open === dl.open,
      );
      if (!rec) await sleep(300);
    }
    say(
      `   deadline ${rec.index} (epochs ${rec.open}-${rec.close}): ${rec.partitions} partition(s), proven [${rec.proven.join(",")}], missed [${rec.missed.join(",")}], rejected proofs: ${rec.rejections.length ? rec.rejections.join("; ") : "none"}`,
    );
    if (rec.missed.length > 0 || rec.rejections.length > 0 || rec.proven.length !== PARTITIONS) {
      throw new SmError("DEMO_FAILED", `deadline ${index} was not fully proven: ${JSON.stringify(rec)}`);
    }
    say(`   DEADLINE PROVEN: all ${PARTITIONS} partitions on time, with ${victim.name} killed mid-deadline`);

    step(11, "shut everything down: nodes, source, devnet (SIGTERM), then PostgreSQL");
    await pg.close();
    pg = undefined;
    for (const p of [...procs].reverse()) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
      await p.stop(10_000);
    }
    const pgDir = server.dir;
    server.stop();
    // Every process of the demo names its directory (a --home, a data directory, an ext-prover
    // child's TMPDIR): none may be left, the killed node's child included.
    const left = leftovers([root, pgDir]);
    say(
      `   ${procs.length} processes stopped, PostgreSQL stopped and its directory removed; ${left.length === 0 ? "nothing left running" : `STILL RUNNING: pids ${left.join(", ")}`}`,
    );
    if (left.length > 0)
      throw new SmError("DEMO_FAILED", `processes of the demo still run: ${left.join(", ")}`);
    say(
      `\ndemo finished in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${PARTITIONS} partitions shared by ${NODES.length} PoSter nodes through PostgreSQL; ${victim.name} killed while proving partition ${victim.partition}, taken over by ${takeover.by} in ${(takeover.ms / 1000).toFixed(1)} s; the deadline proven.`,
    );
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await pg?.close().catch((e: unknown) => say(`   closing the database client: ${errorMessage(e)}`));
    await Promise.all(procs.map((p) => p.stop(5000)));
    server?.stop();
    if (opts.keep) say(`kept ${root}`);
    else await fs.rm(root, { recursive: true, force: true });
  }
}
