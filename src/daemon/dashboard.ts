/**
 * The dashboard of `daemon run` (issue 14): the model built from the node's parts and its routes on
 * the RPC server's address. Kept out of node.ts, which only calls `startDashboard` and hands the
 * routes to the server and the run observer to the PoSter.
 */
import type { ChainPort } from "../chain/interface.js";
import type { SectorManagerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/metrics.js";
import type { ExtProvers } from "../prover/ext/index.js";
import type { ExtraRoutes } from "../rpc/server.js";
import type { GatewayRow } from "../ui/gateways.js";
import { uiRoutes } from "../ui/routes.js";
import { DashboardModel, type DashboardOptions } from "../ui/state.js";
import { VERSION } from "../version.js";
import type { ClusterDb } from "./clusterDb.js";

export interface Dashboard {
  model: DashboardModel;
  routes: ExtraRoutes;
  /** Ends the event streams and stops the refresh; run before the server closes. */
  close(): Promise<void>;
}

export function startDashboard(
  config: SectorManagerConfig,
  deps: {
    name: () => string;
    modules: string[];
    /** The chain client, when this node follows the chain (--poster with miners). */
    chain: (() => ChainPort) | undefined;
    ext: () => ExtProvers | undefined;
    /** The --miner module's sophon-gateway registrations. */
    gateways?: () => readonly GatewayRow[];
    db: ClusterDb | undefined;
    metrics: Metrics;
    logger: Logger;
    options?: Partial<DashboardOptions>;
  },
): Dashboard {
  const log = deps.logger.named("ui");
  const model = new DashboardModel({
    name: deps.name,
    version: VERSION,
    modules: deps.modules,
    miners: config.Miners.filter((m) => m.PoSt.Enabled).map((m) => `f0${m.Actor}`),
    chain: deps.chain,
    provers: () => deps.ext()?.status() ?? [],
    ...(deps.gateways ? { gateways: deps.gateways } : {}),
    cluster: deps.db && { pg: deps.db.pg },
    onSenderNeed: (miner, fil) => deps.metrics.senderNeed.set({ miner }, Number(fil)),
    logger: log,
    options: {
      atRiskEpochs: config.Common.Dashboard.AtRiskEpochs || null,
      minBalanceAtto: config.Common.Dashboard.MinSenderBalance,
      ...deps.options,
    },
  });
  model.start();
  const routes = uiRoutes({ model, logger: log });
  return {
    model,
    routes: routes.handle,
    async close() {
      routes.close();
      await model.close();
    },
  };
}
