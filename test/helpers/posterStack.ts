/**
 * The seed's standalone PoSter deployment as real processes on loopback, for scheduling tests and the
 * full-path benchmark: a devnet chain (`devnet run` with a short policy), a source node (`--miner`)
 * owning the sector index, and a standalone PoSter (`--proxy`, `--conf-dir`, `--poster`,
 * `--ext-prover`) with the [[WdPost]] children the caller writes. Miners get sectors when the caller
 * says (`devnet seal --onboard`), so it can choose which deadline they land in.
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
  challengeConfidence: number;
  submitConfidence: number;
}

export interface StackOptions {
  dir: string;
  blockTimeMs: number;
  policy: StackPolicy;
  miners: StackMiner[];
  /** ext-prover.cfg of the PoSter (read through --conf-dir from the source's home). */
  extProverCfg: string;
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
  readonly procs: Proc[] = [];
  readonly devnetHome: string;
  readonly srcHome: string;
  readonly posterHome: string;
  readonly store: string;
  readonly policy: DevnetPolicy;
  devnet!: RpcClient;
  /** `Chain = "<token>:/ip4/…/http"`, as `devnet run` prints it. */
  chainLine = "";
  poster!: Proc;
  private readonly env = { ...process.env, VSM_LOG_LEVEL: "info", VSM_PROVER_THREADS: "1" };

  constructor(private readonly opts: StackOptions) {
    this.devnetHome = path.join(opts.dir, "devnet");
    this.srcHome = path.join(opts.dir, ".venus-sector-manager");
    this.posterHome = path.join(opts.dir, ".venus-individual-poster");
    this.store = path.join(opts.dir, "store1");
    this.policy = {
      wPoStPeriodDeadlines: opts.policy.deadlines,
      wPoStChallengeWindow: opts.policy.window,
      wPoStChallengeLookback: opts.policy.lookback,
      faultDeclarationCutoff: opts.policy.cutoff,
      postedPartitionsMax: 3,
    };
  }

  private async start(args: string[], ready: RegExp, onLine?: (l: string) => void): Promise<Proc> {
    const p = startCli(args, { env: this.env, onLine });
    this.procs.push(p);
    await p.waitForLine(ready, 60_000);
    return p;
  }

  /** Devnet, source node and PoSter, in that order; the store is empty until `seal` + `attach`. */
  async startAll(): Promise<void> {
    const { policy } = this.opts;
    const dn = await this.start(
      [
        "--home",
        this.devnetHome,
        "devnet",
        "run",
        "--listen",
        "127.0.0.1:0",
        "--block-time",
        `${this.opts.blockTimeMs}ms`,
        "--deadlines",
        String(policy.deadlines),
        "--window",
        String(policy.window),
        "--lookback",
        String(policy.lookback),
        "--cutoff",
        String(policy.cutoff),
      ],
      /devnet ready/,
    );
    this.chainLine = await dn.waitForLine(/^Chain = /, 10_000);
    this.devnet = new RpcClient({
      url: `http://${await readApiFile(this.devnetHome)}/rpc/v1`,
      token: await readToken(this.devnetHome),
    });
    await fs.mkdir(this.store, { recursive: true });
    const init = await runCli(["--home", this.srcHome, "daemon", "init"]);
    if (init.code !== 0) throw new Error(init.output);
    const cfg = homePaths(this.srcHome).sectorManagerCfg;
    const miners = this.opts.miners
      .map(
        (m) =>
          `[[Miners]]\nActor = ${m.actor}\n[Miners.PoSt]\nChallengeConfidence = ${m.challengeConfidence}\nSubmitConfidence = ${m.submitConfidence}\nConfidence = 1\n`,
      )
      .join("\n");
    await fs.writeFile(
      cfg,
      `${(await fs.readFile(cfg, "utf8")).replace('#Chain = ""', this.chainLine)}\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(this.store)}\n\n${miners}`,
    );
    await this.writeExtProverCfg(this.opts.extProverCfg);
    await this.start(
      ["--home", this.srcHome, "daemon", "run", "--miner", "--listen=127.0.0.1:0"],
      /node ready/,
    );
    const pinit = await runCli(["--home", this.posterHome, "daemon", "init"]);
    if (pinit.code !== 0) throw new Error(pinit.output);
    this.poster = await this.start(
      [
        "--home",
        this.posterHome,
        "daemon",
        "run",
        `--proxy=${await readApiFile(this.srcHome)}`,
        "--listen=127.0.0.1:0",
        `--conf-dir=${this.srcHome}`,
        "--poster",
        "--ext-prover",
      ],
      /node ready/,
      this.opts.onPosterLine,
    );
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
  async seal(actor: number, count: number): Promise<Set<number>> {
    const r = await runCli(
      [
        "devnet",
        "seal",
        "--miner",
        String(actor),
        "--store",
        this.store,
        "--count",
        String(count),
        "--onboard",
        "--home",
        this.devnetHome,
        "--threads",
        "1",
      ],
      { env: this.env, timeoutMs: 60_000 },
    );
    if (r.code !== 0) throw new Error(r.output);
    return new Set(
      r.lines.filter((l) => /\tonboarded\t/.test(l)).map((l) => Number(/"deadline": (\d+)/.exec(l)?.[1])),
    );
  }

  /** Index the store on the source node (the PoSter reads it through its proxy). */
  async attach(): Promise<void> {
    const r = await runCli(
      ["--home", this.srcHome, "util", "storage", "attach", "--name", "store1", this.store],
      {
        timeoutMs: 60_000,
      },
    );
    if (r.code !== 0) throw new Error(r.output);
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
