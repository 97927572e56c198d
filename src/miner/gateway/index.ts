/**
 * `--miner` in a Venus deployment: sophon-miner asks sophon-gateway for a block's WinningPoSt
 * (`Gateway.ComputeProof`), and the gateway forwards it as a proof event to whichever node registered
 * for that miner. This registers every `[[Miners]]` block with `[Miners.Proof] Enabled` at every
 * `[Common.API] Gateway` entry (damocles-manager `dep/gateway.go` StartProofEvent does the same, one
 * listener per gateway and miner) and answers through the same WinningPoSt service as
 * `Venus.ComputeProof`. One GatewayLink per gateway (link.ts); the event shapes are in events.ts.
 *
 * Several gateways, one proof: the same request (same miner, sector, randomness and height) reaching
 * this node twice, through two gateways or twice through one under new Ids, is proven once and its
 * proof given to each; each Id is answered once.
 */
import { type ApiEndpoint, GATEWAY_API_PATH, parseApiEndpoint } from "../../chain/lotus/endpoint.js";
import type { MinerConfig, SectorManagerConfig } from "../../config/types.js";
import type { Logger } from "../../log/logger.js";
import type { Metrics } from "../../metrics/metrics.js";
import type { ComputeProofRequest } from "../computeProof.js";
import type { WinningPoSt, WinningPoStProof } from "../winningPost.js";
import { GatewayLink, type ProveFn } from "./link.js";
import type { GatewayRegistration } from "./status.js";

export type { GatewayRegistration } from "./status.js";

export interface Gateways {
  /** One row per gateway and miner, in config order. */
  status(): GatewayRegistration[];
  close(): Promise<void>;
}

export interface GatewaysDeps {
  service: Pick<WinningPoSt, "compute">;
  /** Whether this node's answers are vanilla proofs (no SNARK-capable [[WinPost]] Bin): said per gateway. */
  vanilla: boolean;
  logger: Logger;
  metrics?: Metrics;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** How long an identical registration warning stays quiet (default 1 min). */
  repeatWarnMs?: number;
}

/** The gateways of `[Common.API]`, parsed (a bad entry stops the start with the key and the accepted forms). */
export function gatewayEndpoints(
  api: Pick<SectorManagerConfig["Common"]["API"], "Gateway" | "Token">,
): ApiEndpoint[] {
  const out: ApiEndpoint[] = [];
  api.Gateway.forEach((raw, i) => {
    if (raw.trim() === "") return;
    out.push(
      parseApiEndpoint(raw, {
        key: `Common.API.Gateway[${i}]`,
        path: GATEWAY_API_PATH,
        defaultToken: api.Token,
      }),
    );
  });
  return out;
}

/** host:port of an endpoint; a second entry with the same host:port gets its index appended. */
function labels(endpoints: readonly ApiEndpoint[]): string[] {
  const seen = new Set<string>();
  return endpoints.map((e, i) => {
    const host = new URL(e.wsUrl).host;
    const label = seen.has(host) ? `${host}#${i}` : host;
    seen.add(host);
    return label;
  });
}

/** How long a computed proof is kept for the same request arriving again (through another gateway). */
const SHARE_FOR_MS = 30_000;

function requestKey(miner: number, req: ComputeProofRequest): string {
  const sectors = req.sectors.map((s) => `${s.sectorNumber}:${s.sealedCid}:${s.sectorKey ?? ""}`).join(",");
  return `${miner}/${sectors}/${Buffer.from(req.randomness).toString("hex")}/${req.height}`;
}

export function startGateways(
  api: Pick<SectorManagerConfig["Common"]["API"], "Gateway" | "Token">,
  miners: readonly MinerConfig[],
  deps: GatewaysDeps,
): Gateways {
  const log = deps.logger.named("gateway");
  const endpoints = gatewayEndpoints(api);
  const enabled = miners.filter((m) => m.Proof.Enabled).map((m) => m.Actor);
  if (endpoints.length === 0 || enabled.length === 0) {
    if (endpoints.length > 0)
      log.info("no [[Miners]] block has [Miners.Proof] Enabled = true; registering with no gateway");
    return { status: () => [], close: async () => {} };
  }
  const stop = new AbortController();
  const shared = new Map<string, Promise<WinningPoStProof[]>>();
  const prove: ProveFn = (miner, req) => {
    const key = requestKey(miner, req);
    let p = shared.get(key);
    if (p === undefined) {
      // Proven for whoever asks first and kept for the others; a failure is forgotten at once so
      // that the next request tries again.
      const made = deps.service.compute(req, { signal: stop.signal });
      p = made;
      shared.set(key, made);
      made.then(
        () => setTimeout(() => shared.delete(key), SHARE_FOR_MS).unref(),
        () => shared.delete(key),
      );
    }
    return p;
  };
  const names = labels(endpoints);
  const links = endpoints.map(
    (endpoint, i) =>
      new GatewayLink({
        endpoint,
        label: names[i] as string,
        miners: enabled,
        prove,
        logger: log,
        metrics: deps.metrics,
        backoffMinMs: deps.backoffMinMs,
        backoffMaxMs: deps.backoffMaxMs,
        repeatWarnMs: deps.repeatWarnMs,
      }),
  );
  for (const link of links) {
    log.info("registering for WinningPoSt proof events", {
      gateway: link.label,
      miners: enabled.map((m) => `f0${m}`),
    });
    // Honesty, once per gateway: its miners will be given proofs a real chain rejects.
    if (deps.vanilla)
      log.warn(
        "this node answers the gateway's ComputeProof with vanilla proofs (built-in prover, or [[WinPost]] blocks without Bin): a real chain will not accept a block carrying them, only the vsm devnet does; set Bin in each [[WinPost]] block of ext-prover.cfg to a SNARK-capable winning_post processor and run with --ext-prover",
        { gateway: link.label },
      );
    link.start();
  }
  return {
    status: () => links.flatMap((l) => l.status()),
    async close() {
      stop.abort();
      await Promise.all(links.map((l) => l.close()));
    },
  };
}
