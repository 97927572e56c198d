/**
 * The seed's standalone PoSter deployment as real processes on loopback, the one set-up of the
 * end-to-end tests and benches that need it: a devnet chain (`devnet run`), a source node (`--miner`)
 * owning the sector index, and a standalone PoSter (`--proxy`, `--conf-dir`, `--poster`,
 * `--ext-prover`) with the [[WdPost]] children the caller writes. Built from the pieces of
 * devnetSetup.ts, in steps (`startDevnet`, `initSource`, `startSource`, `initPoster`, `startPoster`;
 * `startAll` runs them in that order), so a test can seal and attach before or after the nodes
 * start. Miners get sectors when the caller says (`seal`), so it can choose which deadline they land in.
 */

import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { DeadlineInfo } from "../../src/chain/interface.js";
import { LotusChainClient } from "../../src/chain/lotus/client.js";
import { homePaths, readApiFile } from "../../src/daemon/home.js";
import type { DeadlineRecord } from "../../src/devnet/miner.js";
import {
  type DevnetPolicy,
  deadlineIsMutable,
  provingDeadlineAt,
  provingPeriod,
} from "../../src/devnet/policy.js";
import { nullLogger } from "../../src/log/logger.js";
import type { RpcClient } from "../../src/rpc/client.js";
import { type Proc, runCli } from "../../src/util/childProcess.js";
import {
  attachStore,
  initNodeHome,
  NODE_ENV,
  runDevnet,
  type StackMiner,
  type StackPolicy,
  sealSectors,
  startReady,
} from "./devnetSetup.js";

export const FIXED_TIME_PROCESSOR = fileURLToPath(
  new URL("../fixtures/fixedTimeProcessor.mjs", import.meta.url),
);

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
  /** Changes the source's rendered sector-manager.cfg before the chain, store and miners are added. */
  srcConfig?: (cfg: string) => string;
  /** `devnet run --verify-sample`: sector proofs verified per partition; absent: all. */
  verifySample?: number;
  /** Node's flags for the PoSter process (`--cpu-prof --cpu-prof-dir=DIR`: a profile at its stop). */
  posterNodeArgs?: readonly string[];
  /** The same for the devnet process. */
  devnetNodeArgs?: readonly string[];
}

/** `[[WdPost]]` blocks running the fixed-time processor fixture (real proofs, fixed proving time). */
export function fixedTimeWdPostBlocks(
  count: number,
  o: {
    delayMs: number;
    slots?: number;
    concurrent?: number;
    timeline?: string;
    threads?: number;
    /** Niceness of the real processors (the fixture's NICE). */
    nice?: number;
  },
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
      // One hashing thread per real processor by default: the proofs are small, the machine has few cores.
      `VSM_PROVER_THREADS = "${o.threads ?? 1}"`,
      ...(o.timeline ? [`TIMELINE = ${JSON.stringify(o.timeline)}`] : []),
      ...(o.nice === undefined ? [] : [`NICE = "${o.nice}"`]),
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

  private async start(
    args: string[],
    ready: RegExp,
    onLine?: (l: string) => void,
    nodeArgs?: readonly string[],
  ): Promise<Proc> {
    const p = await startReady(args, ready, {
      env: this.env,
      timeoutMs: this.readyTimeoutMs,
      onLine,
      nodeArgs,
    });
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
      verifySample: this.opts.verifySample,
      nodeArgs: this.opts.devnetNodeArgs,
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
      edit: this.opts.srcConfig,
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
      this.opts.posterNodeArgs,
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

  /**
   * When each head reached this process, by height, as the PoSter is told by the same ChainNotify
   * (benches measure from there). `close()` ends the stream.
   */
  trackHeads(): { heads: Map<number, number>; close(): void } {
    const heads = new Map<number, number>();
    const stop = new AbortController();
    const chain = LotusChainClient.fromConfig(
      {
        Gateway: [],
        Chain: JSON.parse(this.chainLine.slice(this.chainLine.indexOf("=") + 1)) as string,
        Messager: "",
        Token: "",
      },
      { logger: nullLogger },
    );
    void (async () => {
      for await (const changes of chain.chainNotify({ signal: stop.signal }))
        for (const c of changes)
          if (c.type !== "revert" && !heads.has(c.tipset.height)) heads.set(c.tipset.height, Date.now());
    })().catch(() => {});
    return {
      heads,
      close() {
        stop.abort();
        chain.close();
      },
    };
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

  /**
   * `devnet seal --onboard`: `count` sectors for `actor`; returns the deadlines they were placed in.
   * `size` and `sparse` as `devnet seal` takes them: `{ size: "32GiB", sparse: true }` gives a
   * 32 GiB miner (the devnet makes the miner's proof type from its first sectors).
   */
  async seal(
    actor: number,
    count: number,
    o: { threads?: number; size?: string; sparse?: boolean } = {},
  ): Promise<Set<number>> {
    return sealSectors({
      devnetHome: this.devnetHome,
      store: this.store,
      miner: actor,
      count,
      threads: o.threads ?? 1,
      size: o.size,
      sparse: o.sparse,
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
