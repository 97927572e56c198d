/**
 * The dashboard's view of a `--miner` node's sophon-gateway registrations (docs/winning-post.md).
 * The rows come from the miner module (`MinerModule.gateways.status()`, the same as `util miner
 * gateways`); the input is typed by shape so that ui/ needs no import from miner/.
 */
import type { GatewayView } from "./types.js";

/** What `gatewayViews` reads of one registration (miner/gateway's GatewayRegistration fits, extra fields and all). */
export type GatewayRow = GatewayView;

/** The page's rows, in the order given (config order: gateway, then miner). */
export function gatewayViews(rows: readonly GatewayRow[]): GatewayView[] {
  return rows.map((r) => ({
    gateway: r.gateway,
    miner: r.miner,
    connected: r.connected,
    since: r.since,
    requests: r.requests,
    answered: r.answered,
    failed: r.failed,
    lastRequest: r.lastRequest && {
      at: r.lastRequest.at,
      method: r.lastRequest.method,
      result: r.lastRequest.result,
      ms: r.lastRequest.ms,
    },
    lastError: r.lastError && { at: r.lastError.at, message: r.lastError.message },
  }));
}
