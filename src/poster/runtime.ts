/**
 * What WindowPoSt work needs from a node, shared by the PoSter loop (`--poster`) and the
 * `proving check` / `proving compute` RPC methods: the chain client of [Common.API], and the WindowPoSt
 * prover (the ext-prover WdPost children when --ext-prover has them, else the built-in vanilla prover
 * in the node's worker threads). The node builds the chain client and the worker pool and owns them;
 * this asks for each only when it is used, so a node that never proves starts no threads and opens
 * no chain connection.
 */
import type { LotusChainClient } from "../chain/lotus/client.js";
import { VANILLA_NETWORKS } from "../chain/proofGuard.js";
import type { SectorManagerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import type { ExtProvers } from "../prover/ext/index.js";
import { createStrictProbe } from "../prover/strictProbe.js";
import { createVanillaProver } from "../prover/vanillaProver.js";
import type { WorkerPool } from "../prover/workerPool.js";
import type { StrictProbe } from "../sectors/check.js";
import { SmError } from "../util/errors.js";
import type { ProofFormat } from "./batch.js";
import type { ProveFn } from "./types.js";

export interface WindowProver {
  prove: ProveFn;
  strictProbe: StrictProbe;
  /** For logs: which prover this is. */
  kind: string;
  /**
   * Partitions it proves at once: the sum of the WdPost children's `Concurrent`, or the worker
   * threads (a cluster member claims this many tasks).
   */
  capacity: number;
}

export interface PostRuntimeOptions {
  /** [Common.API]: whether a chain node is configured at all. */
  api: SectorManagerConfig["Common"]["API"];
}

export interface PostRuntimeDeps {
  /** The node's chain client of [Common.API], built on first call. */
  chain: () => LotusChainClient;
  /** The node's worker pool, built on first call. */
  workerPool: () => WorkerPool;
  /** The ext-prover children, when --ext-prover is on. */
  ext: () => ExtProvers | undefined;
  logger: Logger;
}

export class PostRuntime {
  private network: string | undefined;

  constructor(
    private readonly opts: PostRuntimeOptions,
    private readonly deps: PostRuntimeDeps,
  ) {}

  /** The chain client; a clear error naming `what` needs it when [Common.API] names no chain node. */
  chain(what = "this"): LotusChainClient {
    const api = this.opts.api;
    if (!api.Chain && api.Gateway.length === 0) {
      throw new SmError(
        "POSTER_NO_CHAIN",
        `${what} needs a chain node: set [Common.API] Chain (a Lotus/Venus endpoint, or the line \`vsm devnet run\` prints)`,
      );
    }
    return this.deps.chain();
  }

  /**
   * The WindowPoSt prover, looked up on every call so that an ext-prover reload that adds or removes
   * the WdPost blocks takes effect. The strict sector check always runs in the built-in worker threads
   * (one challenge per sector, cheap), never on the GPU children.
   */
  prover(): WindowProver {
    const wd = this.deps.ext()?.pool("window_post");
    const strictProbe = createStrictProbe(this.deps.workerPool());
    if (wd)
      return {
        prove: (task, o) => wd.submit(task, o),
        strictProbe,
        kind: "ext-prover WdPost children",
        capacity: wd
          .status()
          .filter((c) => c.state !== "retired")
          .reduce((n, c) => n + c.concurrent, 0),
      };
    const local = createVanillaProver(
      "window_post",
      this.deps.workerPool(),
      this.deps.logger.named("prover"),
    );
    return {
      prove: (task, o) => {
        o.onStart?.("built-in");
        return local(task, o.signal, o.priority);
      },
      strictProbe,
      kind: "built-in vanilla prover (worker threads)",
      capacity: this.deps.workerPool().size,
    };
  }

  /**
   * Get the built-in worker threads ready before the first deadline: each compiles the Poseidon
   * WebAssembly modules (arity 8 and 2) on first use, a few hundred milliseconds that would otherwise
   * land on the first strict sector check. Failures are ignored: the real work reports its own.
   */
  warmUp(): void {
    const pool = this.deps.workerPool();
    for (let i = 0; i < pool.size; i++) {
      void pool.run("hashRow", [8, new Uint8Array(8 * 32 * 2)]).catch(() => {});
      void pool.run("hashRow", [2, new Uint8Array(2 * 32 * 2)]).catch(() => {});
    }
  }

  /** The network's name (asked once) and the proof format it takes: vanilla bundles only on the devnet. */
  async proofFormat(signal?: AbortSignal): Promise<{ network: string; format: ProofFormat }> {
    this.network ??= await this.chain().networkName({ signal });
    return { network: this.network, format: VANILLA_NETWORKS.has(this.network) ? "vanilla-bundle" : "snark" };
  }
}
