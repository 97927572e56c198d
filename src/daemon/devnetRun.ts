/**
 * Composition root of `vsm devnet run`: the devnet chain in its own home (lock, API secret and admin
 * token, snapshot, api file), served over JSON-RPC at /rpc/v1 (Lotus's path) and /rpc/v0. Built in
 * this order, torn down in reverse: home lock → worker pool (proof verification) → chain → RPC server
 * → api file.
 */
import fs from "node:fs/promises";
import { devnetMethods } from "../devnet/api.js";
import { DevnetNode } from "../devnet/node.js";
import type { DevnetPolicy } from "../devnet/policy.js";
import type { Logger } from "../log/logger.js";
import { createWorkerPool } from "../prover/workerPool.js";
import { createDispatcher } from "../rpc/dispatch.js";
import { startRpcServer } from "../rpc/server.js";
import { SmError } from "../util/errors.js";
import type { HostPort } from "./flags.js";
import {
  acquireHomeLock,
  ensureAuth,
  formatHostPort,
  readSecret,
  readToken,
  removeApiFile,
  writeApiFile,
} from "./home.js";

export interface DevnetRunOptions {
  home: string;
  listen: HostPort;
  blockTimeMs: number;
  policy?: DevnetPolicy;
  /** Sector proofs verified per partition (`--verify-sample`); absent: all. */
  verifySample?: number;
  logger: Logger;
}

/**
 * Request bodies the devnet accepts: a SubmitWindowedPoSt with 3 full 32 GiB partitions carries
 * 7,047 vanilla sector proofs of ~25 KB, ~176 MB of bundle and ~235 MB as base64 JSON.
 */
export const DEVNET_MAX_BODY_BYTES = 320 << 20;

export interface RunningDevnet {
  readonly api: string;
  readonly node: DevnetNode;
  /** `[Common.API] Chain` value a node on this machine uses: "<token>:/ip4/…/tcp/…/http". */
  readonly chainConfig: string;
  close(): Promise<void>;
}

export async function startDevnet(opts: DevnetRunOptions): Promise<RunningDevnet> {
  const log = opts.logger.named("devnet");
  try {
    await fs.mkdir(opts.home, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new SmError("HOME_UNWRITABLE", `cannot create devnet home ${opts.home}: ${(e as Error).message}`);
  }
  await ensureAuth(opts.home);
  const lock = await acquireHomeLock(opts.home, "devnet run");
  const cleanups: (() => Promise<void>)[] = [() => lock.release()];
  const teardown = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    const pool = createWorkerPool("devnet", { logger: log });
    cleanups.push(() => pool.close());
    const node = await DevnetNode.open(
      {
        home: opts.home,
        blockTimeMs: opts.blockTimeMs,
        policy: opts.policy,
        verifySample: opts.verifySample,
        logger: log,
      },
      { pool },
    );
    cleanups.push(() => node.close());
    const server = await startRpcServer({
      listen: opts.listen,
      paths: ["/rpc/v1", "/rpc/v0"],
      dispatcher: createDispatcher(devnetMethods(node), { logger: log }),
      secret: await readSecret(opts.home),
      anonymousRead: true,
      maxBodyBytes: DEVNET_MAX_BODY_BYTES,
      // Two such messages may be read at once (a PoSter sends a deadline's messages together).
      maxBufferedBytes: 2 * DEVNET_MAX_BODY_BYTES,
      maxBufferedBytesPerClient: 2 * DEVNET_MAX_BODY_BYTES,
      logger: log,
      health: () => ({ network: "vsm-devnet", epoch: node.state.epoch }),
    });
    cleanups.push(() => server.close());
    const api = await writeApiFile(opts.home, opts.listen.host, server.address.port);
    cleanups.push(() => removeApiFile(opts.home, api));
    node.start();
    const [host, port] = [api.slice(0, api.lastIndexOf(":")), api.slice(api.lastIndexOf(":") + 1)];
    const ip = host.startsWith("[") ? `/ip6/${host.slice(1, -1)}` : `/ip4/${host}`;
    const chainConfig = `${(await readToken(opts.home)) ?? ""}:${ip}/tcp/${port}/http`;
    log.info("devnet ready", {
      listen: formatHostPort(opts.listen.host || "0.0.0.0", server.address.port),
      epoch: node.state.epoch,
      block_time_ms: opts.blockTimeMs,
      deadlines: node.state.policy.wPoStPeriodDeadlines,
      challenge_window: node.state.policy.wPoStChallengeWindow,
      verify_sample: opts.verifySample ?? "all",
      home: opts.home,
    });
    let closing: Promise<void> | undefined;
    return {
      api,
      node,
      chainConfig,
      close() {
        closing ??= teardown().then(() => log.info("devnet stopped", { epoch: node.state.epoch }));
        return closing;
      },
    };
  } catch (e) {
    await teardown();
    throw e;
  }
}
