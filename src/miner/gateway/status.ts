/**
 * The state of one gateway's registrations, per miner, as `util miner gateways`, `Venus.MinerGateways`
 * and the dashboard show it, kept in step with the `vsm_gateway_connected` and
 * `vsm_gateway_errors_total` series.
 */
import type { Metrics } from "../../metrics/metrics.js";

/** What `util miner gateways` shows for one miner at one gateway. */
export interface GatewayRegistration {
  /** host:port of the gateway (never its token). */
  gateway: string;
  miner: string;
  /** Registered: ListenProofEvent returned its channel and the channel is open. */
  connected: boolean;
  /** ISO time `connected` took its current value (null: never tried yet). */
  since: string | null;
  /** The gateway's id of the registration, from InitConnect. */
  channelId: string | null;
  requests: number;
  answered: number;
  failed: number;
  lastRequest: {
    id: string;
    method: string;
    at: string;
    /**
     * computing, ok, error (a proof failure answered as such), invalid, undelivered (sent but not
     * taken, or not sent at shutdown), channel_closed (the channel it came on ended first: not sent).
     */
    result: string;
    /** Arrival to answer accepted by the gateway; null while computing or when not delivered. */
    ms: number | null;
  } | null;
  lastError: { at: string; message: string } | null;
}

export class Registrations {
  private readonly rows = new Map<number, GatewayRegistration>();

  constructor(
    private readonly gateway: string,
    miners: readonly number[],
    private readonly metrics?: Metrics,
  ) {
    for (const m of miners) {
      this.rows.set(m, {
        gateway,
        miner: `f0${m}`,
        connected: false,
        since: null,
        channelId: null,
        requests: 0,
        answered: 0,
        failed: 0,
        lastRequest: null,
        lastError: null,
      });
    }
  }

  /** Copies, so a caller cannot change the live rows. */
  list(): GatewayRegistration[] {
    return [...this.rows.values()].map((r) => ({ ...r, lastRequest: r.lastRequest && { ...r.lastRequest } }));
  }

  row(miner: number): GatewayRegistration {
    return this.rows.get(miner) as GatewayRegistration;
  }

  setConnected(miner: number, connected: boolean): void {
    const r = this.row(miner);
    if (r.connected !== connected || r.since === null) r.since = new Date().toISOString();
    r.connected = connected;
    if (!connected) r.channelId = null;
    this.metrics?.gatewayConnected.set({ gateway: this.gateway, miner: r.miner }, connected ? 1 : 0);
  }

  /** The miner's last error; counted in `vsm_gateway_errors_total` under `kind` unless it is null. */
  noteError(miner: number, kind: string | null, message: string): void {
    this.row(miner).lastError = { at: new Date().toISOString(), message };
    if (kind !== null) this.metrics?.gatewayErrors.inc({ gateway: this.gateway, kind });
  }
}
