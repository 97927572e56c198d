/**
 * The pieces of the end-to-end set-up on a devnet, as real processes on loopback: `runDevnet` (a
 * `devnet run` and how to reach it), `sealSectors` (`devnet seal --onboard`), `initNodeHome`
 * (`daemon init`, then the chain, the store and the miners written into sector-manager.cfg) and
 * `attachStore`. `PosterStack` (posterStack.ts) builds the standalone PoSter deployment from them;
 * tests that build something else on a devnet use them directly.
 */
import fs from "node:fs/promises";
import { homePaths, readApiFile, readToken } from "../../src/daemon/home.js";
import { RpcClient } from "../../src/rpc/client.js";
import { type Proc, runCli, startCli } from "../../src/util/childProcess.js";

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
  /** `[Miners.PoSt] StrictCheck` (written with the confidences; absent: the default, true). */
  strictCheck?: boolean;
}

/** What the nodes of the tests run with: INFO lines to wait for, one hashing thread per ext-prover child. */
export const NODE_ENV = { ...process.env, VSM_LOG_LEVEL: "info", VSM_PROVER_THREADS: "1" };

/** Start a CLI process and wait for its ready line. */
export async function startReady(
  args: string[],
  ready: RegExp,
  o: {
    env: NodeJS.ProcessEnv;
    timeoutMs: number;
    onLine?: (line: string) => void;
    nodeArgs?: readonly string[];
  },
): Promise<Proc> {
  const p = startCli(args, { env: o.env, onLine: o.onLine, nodeArgs: o.nodeArgs });
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
  /** `--verify-sample`: sector proofs verified per partition; absent: all. */
  verifySample?: number;
  /** Default: the environment with INFO lines. */
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
  /** Node's flags for the devnet process (`--cpu-prof --cpu-prof-dir=DIR`: a profile at its stop). */
  nodeArgs?: readonly string[];
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
      ...(o.verifySample === undefined ? [] : ["--verify-sample", String(o.verifySample)]),
    ],
    /devnet ready/,
    {
      env: o.env ?? { ...process.env, VSM_LOG_LEVEL: "info" },
      timeoutMs: o.readyTimeoutMs ?? 60_000,
      nodeArgs: o.nodeArgs,
    },
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
  /** `--size` (default 2KiB) and `--sparse` (sectors of zeros with shared tree files, for 32GiB/64GiB). */
  size?: string;
  sparse?: boolean;
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
      ...(o.size === undefined ? [] : ["--size", o.size]),
      ...(o.sparse ? ["--sparse"] : []),
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
        : `[[Miners]]\nActor = ${m.actor}\n[Miners.PoSt]\nChallengeConfidence = ${m.challengeConfidence ?? 1}\nSubmitConfidence = ${m.submitConfidence ?? 1}\nConfidence = 1\n${m.strictCheck === undefined ? "" : `StrictCheck = ${m.strictCheck}\n`}`,
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
