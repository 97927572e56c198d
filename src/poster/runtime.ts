/**
 * What WindowPoSt work needs from a node, built once and shared by the PoSter loop (`--poster`) and the
 * `proving check` / `proving compute` RPC methods: the chain client of [Common.API], and the WindowPoSt
 * prover (the ext-prover WdPost children when --ext-prover has them, else the built-in vanilla prover
 * in worker threads). Each part is created on first use, so a node that never proves starts no threads
 * and opens no chain connection.
 */
import { LotusChainClient } from "../chain/lotus/client.js";
import { VANILLA_NETWORKS } from "../chain/proofGuard.js";
import type { SectorManagerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import type { ExtProvers } from "../prover/ext/index.js";
import { createStrictProbe } from "../prover/strictProbe.js";
import { createVanillaProver } from "../prover/vanillaProver.js";
import { WorkerPool } from "../prover/workerPool.js";
import type { StrictProbe } from "../sectors/check.js";
import { SmError } from "../util/errors.js";
import type { ProofFormat } from "./batch.js";
import type { ProveFn } from "./runner.js";

export interface WindowProver {
  prove: ProveFn;
  strictProbe: StrictProbe;
  /** For logs: which prover this is. */
  kind: string;
}

export class PostRuntime {
  private chainClient: LotusChainClient | undefined;
  private pool: WorkerPool | undefined;
  private network: string | undefined;

  constructor(
    private readonly api: SectorManagerConfig["Common"]["API"],
    private readonly ext: () => ExtProvers | undefined,
    private readonly logger: Logger,
  ) {}

  /** The chain client; a clear error naming `what` needs it when [Common.API] names no chain node. */
  chain(what = "this"): LotusChainClient {
    if (!this.api.Chain && this.api.Gateway.length === 0) {
      throw new SmError(
        "POSTER_NO_CHAIN",
        `${what} needs a chain node: set [Common.API] Chain (a Lotus/Venus endpoint, or the line \`vsm devnet run\` prints)`,
      );
    }
    this.chainClient ??= LotusChainClient.fromConfig(this.api, { logger: this.logger.named("chain") });
    return this.chainClient;
  }

  private workerPool(): WorkerPool {
    this.pool ??= new WorkerPool({ logger: this.logger.named("prover") });
    return this.pool;
  }

  /**
   * The WindowPoSt prover, looked up on every call so that an ext-prover reload that adds or removes
   * the WdPost blocks takes effect. The strict sector check always runs in the built-in worker threads
   * (one challenge per sector, cheap), never on the GPU children.
   */
  prover(): WindowProver {
    const wd = this.ext()?.pool("window_post");
    const strictProbe = createStrictProbe(this.workerPool());
    if (wd)
      return { prove: (task, o) => wd.submit(task, o), strictProbe, kind: "ext-prover WdPost children" };
    const local = createVanillaProver("window_post", this.workerPool(), this.logger.named("prover"));
    return {
      prove: (task, o) => local(task, o.signal, o.priority),
      strictProbe,
      kind: "built-in vanilla prover (worker threads)",
    };
  }

  /**
   * Get the built-in worker threads ready before the first deadline: each compiles the Poseidon
   * WebAssembly modules (arity 8 and 2) on first use, a few hundred milliseconds that would otherwise
   * land on the first strict sector check. Failures are ignored: the real work reports its own.
   */
  warmUp(): void {
    const pool = this.workerPool();
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

  async close(): Promise<void> {
    this.chainClient?.close();
    await this.pool?.close();
  }
}
