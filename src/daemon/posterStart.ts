/**
 * The PoSter of `daemon run --poster`, started once the node's other parts are up: alone, or as a
 * member of the PoSter cluster when the node uses the cluster database (clusterPoster.ts).
 */
import type { ChainPort } from "../chain/interface.js";
import type { SectorManagerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/metrics.js";
import type { ProofFormat } from "../poster/batch.js";
import { Poster, type PosterHooks } from "../poster/poster.js";
import { ProofStore } from "../poster/proofStore.js";
import type { PostRuntime } from "../poster/runtime.js";
import { startFileCheckThreads } from "../sectors/fileCheckThread.js";
import type { SectorIndexer } from "../sectors/interface.js";
import type { PersistStores } from "../sectors/stores.js";
import type { KVStore } from "../store/interface.js";
import { errorMessage } from "../util/errors.js";
import { sleep } from "../util/time.js";
import type { ClusterDb } from "./clusterDb.js";
import { joinCluster } from "./clusterPoster.js";

/**
 * `--poster`: the WindowPoSt loop for every [[Miners]] with PoSt.Enabled, against [Common.API] Chain.
 * Proofs go to the ext-prover WdPost children when --ext-prover is on, else to the built-in prover in
 * worker threads. The proof format follows the network: vanilla bundles on the devnet, SNARKs elsewhere
 * (the chain client refuses to send vanilla proofs to a real network).
 */
export async function startPoster(
  config: SectorManagerConfig,
  deps: {
    kv: KVStore;
    indexer: SectorIndexer;
    stores: PersistStores;
    runtime: PostRuntime;
    metrics: Metrics;
    logger: Logger;
    shutdown: AbortSignal;
    /** The cluster database: the PoSter runs as a cluster member (clusterPoster.ts). */
    cluster?: { db: ClusterDb; name: string; address: string } | undefined;
    /** Observer of deadline runs (the dashboard). */
    onRun?: PosterHooks["onRun"];
    /** The PoSter's chain client as the dashboard watches it (its recovery messages). */
    watchChain?: (chain: ChainPort) => ChainPort;
  },
): Promise<{ done: Promise<void> }> {
  const log = deps.logger.named("poster");
  const miners = config.Miners.filter((m) => m.PoSt.Enabled);
  if (miners.length === 0) {
    log.warn("--poster: no [[Miners]] block with PoSt enabled; nothing to prove");
    return { done: Promise.resolve() };
  }
  const base = deps.runtime.chain("--poster");
  const chain = deps.watchChain ? deps.watchChain(base) : base;
  deps.runtime.warmUp();
  log.info("prover", { kind: deps.runtime.prover().kind });
  const run = (async () => {
    let format: ProofFormat | undefined;
    for (let delay = 500; !format && !deps.shutdown.aborted; delay = Math.min(delay * 2, 5_000)) {
      try {
        const n = await deps.runtime.proofFormat(deps.shutdown);
        format = n.format;
        log.info("chain", { network: n.network, proof_format: n.format });
      } catch (e) {
        if (deps.shutdown.aborted) break;
        log.warn("chain node not reachable yet; retrying", { err: errorMessage(e), retry_ms: delay });
        await sleep(delay, deps.shutdown).catch(() => {});
      }
    }
    if (!format) return;
    const member = deps.cluster
      ? await joinCluster(config, {
          ...deps.cluster,
          capacity: () => deps.runtime.prover().capacity,
          prove: {
            indexer: deps.indexer,
            stores: deps.stores,
            proving: config.Common.Proving,
            prove: (task, o) => deps.runtime.prover().prove(task, o),
            strictProbe: (input, signal) => deps.runtime.prover().strictProbe(input, signal),
            metrics: deps.metrics,
          },
          metrics: deps.metrics,
          logger: deps.logger,
          shutdown: deps.shutdown,
        }).catch((e) => {
          // What no retry mends (a refused write, a schema the database refuses): the node keeps
          // serving, and says loudly that it proves nothing.
          log.error("cannot join the PoSter cluster: this node proves nothing until it is restarted", {
            err: errorMessage(e),
          });
          return undefined;
        })
      : undefined;
    if (deps.cluster && !member) return;
    startFileCheckThreads();
    const poster = new Poster(
      {
        chain,
        indexer: deps.indexer,
        stores: deps.stores,
        proving: config.Common.Proving,
        // Looked up per task, so an ext-prover reload that adds or drops [[WdPost]] blocks applies.
        prove: (task, o) => deps.runtime.prover().prove(task, o),
        strictProbe: (input, signal) => deps.runtime.prover().strictProbe(input, signal),
        format,
        networkMaxPartitions: 3,
        proofs: new ProofStore(deps.kv, log),
        metrics: deps.metrics,
        logger: log,
      },
      miners,
      { ...member?.hooks, onRun: deps.onRun },
    );
    await poster.run(deps.shutdown).catch((e) => {
      if (!deps.shutdown.aborted) log.error("poster stopped", { err: errorMessage(e) });
    });
    await member?.done;
  })();
  // A handle, not the promise itself: an async function returning a promise would make its caller
  // wait for the whole run.
  return { done: run };
}
