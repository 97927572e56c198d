/**
 * The `--miner` module: the WinningPoSt service, its RPC methods, and its registrations at the
 * `[Common.API] Gateway` entries for sophon-gateway's proof events (gateway/, docs/winning-post.md),
 * which answer through the same service. `daemon run` wires it with `startMiner`, adds `methods` to
 * the node's table and closes it at shutdown (which ends the registrations).
 *
 * Provers: the `[[WinPost]]` ext-prover pool when ext-prover.cfg has blocks (looked up per call, so a
 * reload that adds or removes blocks takes effect), else the built-in prover in the node's worker
 * pool, which it shares with the PoSter. A WinningPoSt has seconds, so its work is queued ahead of any
 * WindowPoSt work there and starts as soon as a thread has a free slot (a thread runs up to two
 * tasks, one hashing while the other reads the disk, so a win may share a thread with one sector
 * proof). At most BUILTIN_WINS_IN_FLIGHT built-in wins run at once, so callers of Venus.ComputeProof
 * can never take every thread from a deadline.
 */
import type { MinerConfig, SectorManagerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/metrics.js";
import type { ExtProvers } from "../prover/ext/index.js";
import type { StageProver } from "../prover/processor.js";
import { createVanillaProver } from "../prover/vanillaProver.js";
import type { WorkerPool } from "../prover/workerPool.js";
import type { MethodTable } from "../rpc/method.js";
import type { SectorIndexer } from "../sectors/interface.js";
import type { PersistStores } from "../sectors/stores.js";
import { cliEntry } from "../util/childProcess.js";
import { limitInFlight } from "../util/concurrency.js";
import { type Gateways, startGateways } from "./gateway/index.js";
import { winningPoStMethods } from "./rpcApi.js";
import { WinningPoSt } from "./winningPost.js";

export { WINNING_POST_TIMEOUT_MS, WinningPoSt } from "./winningPost.js";

/**
 * Queue priority of a WinningPoSt in the shared worker pool. WindowPoSt work is queued by its
 * deadline's Close epoch (≥ 0, lower first), so a win, due within seconds, goes before all of it.
 */
const WINNING_POST_PRIORITY = -1;

/**
 * Built-in WinningPoSt proofs running at once. One call proves one sector in one thread; two cover
 * two miners winning the same round, which is rare. More would let a flood of ComputeProof calls
 * (a misbehaving sophon-miner, or anyone with a write token) jump every WindowPoSt partition.
 */
const BUILTIN_WINS_IN_FLIGHT = 2;

export interface MinerModule {
  service: WinningPoSt;
  /** The sophon-gateway registrations ([Common.API] Gateway); none without gateways. */
  gateways: Gateways;
  methods: MethodTable;
  close(): Promise<void>;
}

export interface MinerDeps {
  indexer: SectorIndexer;
  stores: PersistStores;
  ext: () => ExtProvers | undefined;
  /** The node's worker pool for the built-in prover, built on first call; the node closes it. */
  workerPool: () => WorkerPool;
  configFile: string;
  /** [Common.API]: each Gateway entry gets every enabled miner's proof-event registration. */
  api?: Pick<SectorManagerConfig["Common"]["API"], "Gateway" | "Token">;
  logger: Logger;
  metrics?: Metrics;
}

export function startMiner(miners: readonly MinerConfig[], deps: MinerDeps): MinerModule {
  const log = deps.logger.named("miner");
  let builtin: StageProver | undefined;
  const makeBuiltin = (): StageProver => {
    if (!builtin) {
      const prove = createVanillaProver("winning_post", deps.workerPool(), log);
      const limited = limitInFlight(BUILTIN_WINS_IN_FLIGHT);
      builtin = (task, signal) => limited(() => prove(task, signal, WINNING_POST_PRIORITY), signal);
    }
    return builtin;
  };
  const service = new WinningPoSt({
    miners,
    indexer: deps.indexer,
    stores: deps.stores,
    extPool: () => deps.ext()?.pool("winning_post"),
    builtin: makeBuiltin,
    configFile: deps.configFile,
    logger: log,
    metrics: deps.metrics,
  });

  let gateways: Gateways = { status: () => [], close: async () => {} };
  const methods = winningPoStMethods(service, () => gateways.status());
  // The pool belongs to the node; the gateways' connections are the module's own.
  const close = () => gateways.close();
  const enabled = miners.filter((m) => m.Proof.Enabled).map((m) => `f0${m.Actor}`);
  if (enabled.length === 0) {
    // Nothing to prove for (e.g. a source that only serves its index): no threads, no proof warnings.
    log.info(
      "--miner: no [[Miners]] block has [Miners.Proof] Enabled = true; Venus.ComputeProof refuses every miner",
      { config: deps.configFile },
    );
    if (deps.api?.Gateway.some((g) => g.trim() !== ""))
      log.info("--miner: no miner to register at the [Common.API] Gateway entries");
    return { service, gateways, methods, close };
  }
  const kind = service.proverKind();
  // The node's threads start now, not on the first win, so that win does not pay for their start-up.
  if (kind === "builtin") makeBuiltin();
  log.info("WinningPoSt service ready (Venus.ComputeProof)", {
    miners: enabled,
    prover: kind === "ext" ? "ext-prover [[WinPost]] children" : "built-in vanilla prover (worker threads)",
  });
  // Honesty about the output: our own provers compute vanilla proofs, which no real network accepts.
  const ownChildren = (deps.ext()?.status() ?? []).filter(
    (c) => c.stage === "winning_post" && c.args[0] === cliEntry(),
  );
  const vanilla = kind === "builtin" || ownChildren.length > 0;
  if (vanilla)
    log.warn(
      "WinningPoSt proofs from the built-in prover and from [[WinPost]] blocks without Bin are vanilla proofs, not SNARKs: only the vsm devnet accepts them; for a real network set Bin in each [[WinPost]] block of ext-prover.cfg to a SNARK-capable winning_post processor",
      { builtin_children: ownChildren.map((c) => c.block) },
    );
  if (deps.api)
    gateways = startGateways(deps.api, miners, {
      service,
      vanilla,
      logger: deps.logger,
      metrics: deps.metrics,
    });

  return { service, gateways, methods, close };
}
