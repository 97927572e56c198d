/**
 * The one set-up of the end-to-end tests that need a chain: a devnet chain (`devnet run`), sectors
 * sealed and onboarded on it (`devnet seal --onboard`), node homes made by `daemon init` with the chain,
 * the store and the miners written into their config, and the seed's standalone PoSter deployment as
 * real processes on loopback: a source node (`--miner`) owning the sector index, and a standalone
 * PoSter (`--proxy`, `--conf-dir`, `--poster`, `--ext-prover`) with the [[WdPost]] children the caller
 * writes.
 *
 * The pieces are functions (`runDevnet`, `sealSectors`, `initNodeHome`, `attachStore`) for tests that
 * build something else on a devnet, and steps of `PosterStack` (`startDevnet`, `initSource`,
 * `startSource`, `initPoster`, `startPoster`; `startAll` runs them in that order) for tests that need
 * the deployment, so each can seal and attach before or after the nodes start. Miners get sectors when
 * the caller says (`seal`), so it can choose which deadline they land in.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { DeadlineInfo } from "../../src/chain/interface.js";
import { homePaths, readApiFile, readToken } from "../../src/daemon/home.js";
import type { DeadlineRecord } from "../../src/devnet/miner.js";
import {
  type DevnetPolicy,
  deadlineIsMutable,
  provingDeadlineAt,
  provingPeriod,
} from "../../src/devnet/policy.js";
import { RpcClient } from "../../src/rpc/client.js";
import { type Proc, runCli, startCli } from "../../src/util/childProcess.js";

export const FIXED_TIME_PROCESSOR = fileURLToPath(
  new URL("../fixtures/fixedTimeProcessor.mjs", import.meta.url),
);

export interface StackPolicy {
  deadlines: number;
  window: number;
  lookback: number;
  cutoff: number;
}

export interface StackMiner {
  actor: number;
  /** With `submitConfidence`, written as `[Miners.PoSt]` (with `Confidence = 1`); both absent: no such section. */
  challengeConfidence?: number;
  submitConfidence?: number;
}

/** What the nodes of the tests run with: INFO lines to wait for, one hashing thread per prover. */
const NODE_ENV = { ...process.env, VSM_LOG_LEVEL: "info", VSM_PROVER_THREADS: "1" };

/** Start a CLI process and wait for its ready line. */
async function startReady(
  args: string[],
  ready: RegExp,
  o: { env: NodeJS.ProcessEnv; timeoutMs: number; onLine?: (line: string) => void },
): Promise<Proc> {
  const p = startCli(args, { env: o.env, onLine: o.onLine });
  try {
    await p.waitForLine(ready, o.timeoutMs);
  } catch (e) {
    await p.stop(5000);
    throw e;
  }
  return p;
}

export interface DevnetRunOptions {
  home: string;
  blockTimeMs: number;
  /** Written as `--deadlines/--window/--lookback/--cutoff`; absent: the devnet's own (or its home's). */
  policy?: StackPolicy;
  /** Default 127.0.0.1:0; a restart passes the first run's address, so the nodes' Chain line stays right. */
  listen?: string;
  /** Default: the environment with INFO lines. */
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
}

/** A running `devnet run` process and how to reach it. */
export interface DevnetRun {
  proc: Proc;
  /** host:port of its RPC server. */
  api: string;
  /** Its admin token. */
  token: string;
  /** `Chain = "<token>:/ip4/…/http"`, as `devnet run` prints it for sector-manager.cfg. */
  chainLine: string;
  /** A client of its /rpc/v1 with the admin token (Devnet.* and the Lotus methods). */
  rpc: RpcClient;
}

export async function runDevnet(o: DevnetRunOptions): Promise<DevnetRun> {
  const policy = o.policy
    ? [
        "--deadlines",
        String(o.policy.deadlines),
        "--window",
        String(o.policy.window),
        "--lookback",
        String(o.policy.lookback),
        "--cutoff",
        String(o.policy.cutoff),
      ]
    : [];
  const proc = await startReady(
    [
      "--home",
      o.home,
      "devnet",
      "run",
      "--listen",
      o.listen ?? "127.0.0.1:0",
      "--block-time",
      `${o.blockTimeMs}ms`,
      ...policy,
    ],
    /devnet ready/,
    { env: o.env ?? { ...process.env, VSM_LOG_LEVEL: "info" }, timeoutMs: o.readyTimeoutMs ?? 60_000 },
  );
  try {
    const chainLine = await proc.waitForLine(/^Chain = /, 10_000);
    const api = await readApiFile(o.home);
    if (!api) throw new Error(`the devnet wrote no api file in ${o.home}`);
    const token = (await readToken(o.home)) ?? "";
    return { proc, api, token, chainLine, rpc: new RpcClient({ url: `http://${api}/rpc/v1`, token }) };
  } catch (e) {
    await proc.stop(5000);
    throw e;
  }
}

/**
 * `devnet seal --onboard`: `count` synthetic sectors of miner f0`miner` written into `store` and
 * onboarded on the devnet of `devnetHome`. Returns the deadlines the devnet placed them in.
 */
export async function sealSectors(o: {
  devnetHome: string;
  store: string;
  miner: number;
  count: number;
  /** `--threads`; absent: the command's default (all cores). */
  threads?: number;
  env?: NodeJS.ProcessEnv;
}): Promise<Set<number>> {
  const r = await runCli(
    [
      "devnet",
      "seal",
      "--miner",
      String(o.miner),
      "--store",
      o.store,
      "--count",
      String(o.count),
      "--onboard",
      "--home",
      o.devnetHome,
      ...(o.threads === undefined ? [] : ["--threads", String(o.threads)]),
    ],
    // INFO: the "onboarded" lines carry the deadlines.
    { env: o.env ?? { ...process.env, VSM_LOG_LEVEL: "info" }, timeoutMs: 60_000 },
  );
  if (r.code !== 0) throw new Error(`devnet seal failed:\n${r.output}`);
  return new Set(
    r.lines.filter((l) => /\tonboarded\t/.test(l)).map((l) => Number(/"deadline": (\d+)/.exec(l)?.[1])),
  );
}

/** `[[Miners]]` blocks of sector-manager.cfg. */
export function minersConfig(miners: readonly StackMiner[]): string {
  return miners
    .map((m) =>
      m.challengeConfidence === undefined && m.submitConfidence === undefined
        ? `[[Miners]]\nActor = ${m.actor}\n`
        : `[[Miners]]\nActor = ${m.actor}\n[Miners.PoSt]\nChallengeConfidence = ${m.challengeConfidence ?? 1}\nSubmitConfidence = ${m.submitConfidence ?? 1}\nConfidence = 1\n`,
    )
    .join("\n");
}

/**
 * `daemon init` of `home`, then its sector-manager.cfg given the chain (`chainLine`, as `devnet run`
 * prints it), the persist store "store1" at `store` and the miners. `edit` changes the rendered
 * defaults before the additions (e.g. uncomment a key).
 */
export async function initNodeHome(
  home: string,
  o: { chainLine?: string; store?: string; miners?: readonly StackMiner[]; edit?: (cfg: string) => string },
): Promise<void> {
  const init = await runCli(["--home", home, "daemon", "init"]);
  if (init.code !== 0) throw new Error(`daemon init failed:\n${init.output}`);
  if (o.chainLine === undefined && o.store === undefined && !o.miners?.length && !o.edit) return;
  const cfg = homePaths(home).sectorManagerCfg;
  let text = await fs.readFile(cfg, "utf8");
  if (o.chainLine !== undefined) text = text.replace('#Chain = ""', o.chainLine);
  if (o.edit) text = o.edit(text);
  if (o.store !== undefined)
    text += `\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(o.store)}\n`;
  if (o.miners?.length) text += `\n${minersConfig(o.miners)}`;
  await fs.writeFile(cfg, text);
}

/** `util storage attach --name store1`: index the sectors of `store` into `home`'s sector index. */
export async function attachStore(home: string, store: string): Promise<void> {
  const r = await runCli(["--home", home, "util", "storage", "attach", "--name", "store1", store], {
    timeoutMs: 60_000,
  });
  if (r.code !== 0) throw new Error(`attach failed:\n${r.output}`);
}

export interface StackOptions {
  dir: string;
  blockTimeMs: number;
  policy: StackPolicy;
  miners: StackMiner[];
  /** ext-prover.cfg of the PoSter (read through --conf-dir from the source's home); absent: none written. */
  extProverCfg?: string;
  /** How long a process may take to print its ready line (default 60 s). */
  readyTimeoutMs?: number;
  /** Every line the PoSter prints (its log and its children's, relayed). */
  onPosterLine?: (line: string) => void;
}

/** `[[WdPost]]` blocks running the fixed-time processor fixture (real proofs, fixed proving time). */
export function fixedTimeWdPostBlocks(
  count: number,
  o: { delayMs: number; slots?: number; concurrent?: number; timeline?: string },
): string {
  const block = (i: number) =>
    [
      "[[WdPost]]",
      `Bin = ${JSON.stringify(process.execPath)}`,
      `Args = [${JSON.stringify(FIXED_TIME_PROCESSOR)}, "window_post"]`,
      `Concurrent = ${o.concurrent ?? 1}`,
      // The fixture starts a real processor behind it: two node start-ups on a busy machine.
      "ReadyTimeoutSecs = 60",
      "[WdPost.Envs]",
      `DELAY_MS = "${o.delayMs}"`,
      `SLOTS = "${o.slots ?? 1}"`,
      `CUDA_VISIBLE_DEVICES = "${i}"`,
      // One hashing thread per real processor: the proofs are small, the machine has few cores.
      'VSM_PROVER_THREADS = "1"',
      ...(o.timeline ? [`TIMELINE = ${JSON.stringify(o.timeline)}`] : []),
      "",
    ].join("\n");
  return Array.from({ length: count }, (_, i) => block(i)).join("\n");
}

/** A console log line: time (ms since the epoch), message and fields; undefined for other lines. */
export function parseLogLine(
  line: string,
): { t: number; msg: string; fields: Record<string, unknown> } | undefined {
  // `<ts>\tLEVEL\tsubsystem\tcaller\tmessage[\t{fields}]` (src/log/logger.ts)
  const parts = line.split("\t");
  const t = Date.parse(parts[0] ?? "");
  if (Number.isNaN(t) || parts.length < 5) return undefined;
  let fields: Record<string, unknown> = {};
  try {
    if (parts[5]) fields = JSON.parse(parts[5]) as Record<string, unknown>;
  } catch {
    // a relayed child line whose fields are not JSON: keep the message
  }
  return { t, msg: parts[4] ?? "", fields };
}

/** One request as the fixed-time processor served it (its TIMELINE file; times in ms since the epoch). */
export interface Served {
  pid: number;
  miner: number;
  sectors: number[];
  received: number;
  started: number;
  answered: number;
  ok: boolean;
}

export async function readTimeline(file: string): Promise<Served[]> {
  const text = await fs.readFile(file, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Served);
}

export class PosterStack {
  /** Every process started, replaced ones included, in start order; `stop()` stops them backwards. */
  readonly procs: Proc[] = [];
  readonly devnetHome: string;
  readonly srcHome: string;
  readonly posterHome: string;
  readonly store: string;
  readonly policy: DevnetPolicy;
  devnet!: RpcClient;
  /** The running `devnet run` (the latest, after a restart). */
  devnetProc!: Proc;
  /** host:port of the devnet's RPC server. */
  devnetApi = "";
  /** `Chain = "<token>:/ip4/…/http"`, as `devnet run` prints it. */
  chainLine = "";
  poster!: Proc;
  private readonly env = NODE_ENV;
  private readonly readyTimeoutMs: number;

  constructor(private readonly opts: StackOptions) {
    this.devnetHome = path.join(opts.dir, "devnet");
    this.srcHome = path.join(opts.dir, ".venus-sector-manager");
    this.posterHome = path.join(opts.dir, ".venus-individual-poster");
    this.store = path.join(opts.dir, "store1");
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
    this.policy = {
      wPoStPeriodDeadlines: opts.policy.deadlines,
      wPoStChallengeWindow: opts.policy.window,
      wPoStChallengeLookback: opts.policy.lookback,
      faultDeclarationCutoff: opts.policy.cutoff,
      postedPartitionsMax: 3,
    };
  }

  private async start(args: string[], ready: RegExp, onLine?: (l: string) => void): Promise<Proc> {
    const p = await startReady(args, ready, { env: this.env, timeoutMs: this.readyTimeoutMs, onLine });
    this.procs.push(p);
    return p;
  }

  /** Devnet, source node and PoSter, in that order; the store is empty until `seal` + `attach`. */
  async startAll(): Promise<void> {
    await this.startDevnet();
    await this.initSource();
    await this.startSource();
    await this.initPoster();
    await this.startPoster();
  }

  /**
   * `devnet run` with the stack's block time and policy. `listen` restarts it on the address of the
   * first run (same home: the chain goes on), so the nodes' Chain line stays right.
   */
  async startDevnet(listen?: string): Promise<Proc> {
    const dn = await runDevnet({
      home: this.devnetHome,
      blockTimeMs: this.opts.blockTimeMs,
      policy: this.opts.policy,
      listen,
      env: this.env,
      readyTimeoutMs: this.readyTimeoutMs,
    });
    this.procs.push(dn.proc);
    this.devnetProc = dn.proc;
    this.devnetApi = dn.api;
    this.chainLine = dn.chainLine;
    this.devnet = dn.rpc;
    return dn.proc;
  }

  /** The source's home: its config names the chain, store1 and the miners; the PoSter's ext-prover.cfg. */
  async initSource(): Promise<void> {
    await fs.mkdir(this.store, { recursive: true });
    await initNodeHome(this.srcHome, {
      chainLine: this.chainLine,
      store: this.store,
      miners: this.opts.miners,
    });
    if (this.opts.extProverCfg !== undefined) await this.writeExtProverCfg(this.opts.extProverCfg);
  }

  /** The source node: `daemon run --miner`, owning the sector index. */
  async startSource(): Promise<Proc> {
    return this.start(
      ["--home", this.srcHome, "daemon", "run", "--miner", "--listen=127.0.0.1:0"],
      /node ready/,
    );
  }

  async initPoster(): Promise<void> {
    await initNodeHome(this.posterHome, {});
  }

  /**
   * The standalone PoSter on the source's index (`--proxy`), reading the config of `confDir` (default:
   * the source's home); `globalArgs` go before the command (`--log-format=json`). Calling it again
   * starts another PoSter: stop the previous one first.
   */
  async startPoster(o: { confDir?: string; globalArgs?: string[] } = {}): Promise<Proc> {
    this.poster = await this.start(
      [
        "--home",
        this.posterHome,
        ...(o.globalArgs ?? []),
        "daemon",
        "run",
        `--proxy=${await readApiFile(this.srcHome)}`,
        "--listen=127.0.0.1:0",
        `--conf-dir=${o.confDir ?? this.srcHome}`,
        "--poster",
        "--ext-prover",
      ],
      /node ready/,
      this.opts.onPosterLine,
    );
    return this.poster;
  }

  async writeExtProverCfg(text: string): Promise<void> {
    await fs.writeFile(homePaths(this.srcHome).extProverCfg, text);
  }

  /** Apply the ext-prover.cfg written since, as an operator would (`provers --reload`). */
  async reloadProvers(): Promise<string> {
    const r = await runCli(["--home", this.posterHome, "util", "sealer", "proving", "provers", "--reload"]);
    if (r.code !== 0) throw new Error(r.output);
    return r.output;
  }

  async provers(): Promise<{ block: string; state: string; concurrent: number }[]> {
    const r = await runCli(["--home", this.posterHome, "util", "sealer", "proving", "provers", "--json"]);
    if (r.code !== 0) throw new Error(r.output);
    return JSON.parse(r.output.slice(r.output.indexOf("["))) as {
      block: string;
      state: string;
      concurrent: number;
    }[];
  }

  async epoch(): Promise<number> {
    return (await this.devnet.call<{ Epoch: number }>("Devnet.Status", [])).Epoch;
  }

  async waitForEpoch(epoch: number, timeoutMs: number): Promise<number> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const e = await this.epoch();
      if (e >= epoch) return e;
      if (Date.now() > until) throw new Error(`epoch ${epoch} not reached within ${timeoutMs} ms (at ${e})`);
      await new Promise((r) => setTimeout(r, Math.min(100, this.opts.blockTimeMs / 2)));
    }
  }

  /** The devnet gives miner f0<id> the proving-period offset id mod the period (src/devnet/api.ts). */
  offset(actor: number): number {
    return actor % provingPeriod(this.policy);
  }

  /**
   * The first epoch ≥ `from` from which deadline `index` of `actor` stays mutable (new sectors may go
   * there) for `room` epochs: time enough for `devnet seal` to write the sectors and onboard them.
   */
  onboardingEpoch(actor: number, index: number, from: number, room: number): number {
    const ok = (e: number) => deadlineIsMutable(this.offset(actor), index, e, this.policy);
    for (let e = from; ; e++) {
      let all = true;
      for (let i = 0; i <= room && all; i++) all = ok(e + i);
      if (all) return e;
    }
  }

  /** The first occurrence of deadline `index` of `actor` that opens after `epoch`. */
  nextDeadline(actor: number, index: number, epoch: number): DeadlineInfo {
    for (let e = epoch + 1; ; e += 1) {
      const d = provingDeadlineAt(this.offset(actor), e, this.policy);
      if (d.index === index && d.open > epoch) return d;
    }
  }

  /** `devnet seal --onboard`: `count` sectors for `actor`; returns the deadlines they were placed in. */
  async seal(actor: number, count: number, o: { threads?: number } = {}): Promise<Set<number>> {
    return sealSectors({
      devnetHome: this.devnetHome,
      store: this.store,
      miner: actor,
      count,
      threads: o.threads ?? 1,
      env: this.env,
    });
  }

  /** Index the store on the source node (the PoSter reads it through its proxy). */
  async attach(): Promise<void> {
    await attachStore(this.srcHome, this.store);
  }

  async records(actor: number): Promise<DeadlineRecord[]> {
    return this.devnet.call<DeadlineRecord[]>("Devnet.Records", [`f0${actor}`, 200]);
  }

  /** The record of the deadline of `actor` that opened at `open`, once it has closed. */
  async waitForRecord(actor: number, open: number, timeoutMs: number): Promise<DeadlineRecord> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = (await this.records(actor)).find((x) => x.open === open);
      if (r) return r;
      if (Date.now() > until)
        throw new Error(`no record of f0${actor}'s deadline opened at ${open} within ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.procs].reverse().map((p) => p.stop(5000)));
  }
}
