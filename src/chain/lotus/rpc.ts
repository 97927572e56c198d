/**
 * The JSON-RPC client for Lotus/Venus/venus-messager: the shared stack of src/rpc (transport.ts) with
 * go-jsonrpc's channels (rpc/channels.ts) and this client's choice between its two transports.
 *
 * One WebSocket per endpoint, opened lazily and shared by all calls (go-jsonrpc serves WS and HTTP
 * POST on the same path). Plain calls fall back to HTTP POST when the WebSocket cannot be opened;
 * subscriptions (ChainNotify) need the WebSocket (client.ts polls the head without one). After a
 * failed WebSocket attempt, calls go straight to HTTP until the backoff (0.5 s doubling to 5 s by
 * default) has passed, or for WS_REFUSED_RETRY_MS when the peer answered the upgrade without 101 (an
 * HTTP-only gateway or proxy: isWsRefused) or the client found HTTP answering where the WebSocket
 * fails (holdOffWebSocket).
 *
 * Errors are worded by rpcErrors.ts: CHAIN_UNREACHABLE, CHAIN_RPC_ERROR, CHAIN_BAD_RESPONSE.
 */
import type { Logger } from "../../log/logger.js";
import { nullLogger } from "../../log/logger.js";
import { GoChannels, type RpcChannel } from "../../rpc/channels.js";
import { HttpTransport } from "../../rpc/http.js";
import type { RpcCallOptions, RpcFailure } from "../../rpc/transport.js";
import type { WsTransport } from "../../rpc/ws.js";
import { abortError, errorMessage } from "../../util/errors.js";
import type { ApiEndpoint } from "./endpoint.js";
import { chainRpcError } from "./rpcErrors.js";

export type { RpcChannel } from "../../rpc/channels.js";
export type { RpcCallOptions } from "../../rpc/transport.js";
export { isWsRefused, WS_REFUSED } from "./rpcErrors.js";

export interface LotusRpcOptions {
  endpoint: ApiEndpoint;
  /** What the peer is, for messages: "chain node", "venus-messager". */
  label: string;
  /** Extra request headers (venus' X-VENUS-API-NAMESPACE). */
  headers?: Readonly<Record<string, string>>;
  /** Default per-call limit in ms (default 30 s); 0 = none. */
  timeoutMs?: number;
  /** WebSocket handshake limit (default 5 s). */
  connectTimeoutMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Ping period; a socket with no pong for one period is dropped (default 5 s; 0 = off). */
  pingIntervalMs?: number;
  logger?: Logger;
}

/**
 * Default timings. A chain node that hangs (a stopped process, a stuck proxy) is noticed by its
 * missing pong within two ping periods (10 s); a call it never answers fails after 30 s, about one
 * mainnet epoch, and is retried by the PoSter; reconnecting backs off to at most 5 s. Together they
 * let the PoSter resume within seconds of the node's return, not after a long backoff. A healthy
 * Lotus answers the largest read the PoSter makes (StateMinerSectors of one deadline) well within
 * the call limit.
 */
export const RPC_DEFAULTS = Object.freeze({
  timeoutMs: 30_000,
  connectTimeoutMs: 5_000,
  backoffMinMs: 500,
  backoffMaxMs: 5_000,
  pingIntervalMs: 5_000,
});

/** After a refused upgrade, calls go over HTTP for this long before the WebSocket is tried again. */
export const WS_REFUSED_RETRY_MS = 5 * 60_000;

/** Answers (frames or bodies) above this are refused; a 2349-sector StateMinerSectors answer is ~1.5 MB. */
const MAX_ANSWER_BYTES = 256 << 20;

export class LotusRpc {
  readonly endpoint: ApiEndpoint;
  readonly label: string;
  private readonly ws: WsTransport;
  private readonly channels: GoChannels;
  private readonly http: HttpTransport;
  private closed = false;

  constructor(opts: LotusRpcOptions) {
    this.endpoint = opts.endpoint;
    this.label = opts.label;
    const failures = (f: RpcFailure, method: string | null) =>
      chainRpcError(opts.label, opts.endpoint, f, method);
    const common = {
      token: opts.endpoint.token,
      headers: opts.headers ?? {},
      timeoutMs: opts.timeoutMs ?? RPC_DEFAULTS.timeoutMs,
      failures,
    };
    this.channels = new GoChannels({
      ...common,
      url: opts.endpoint.wsUrl,
      label: opts.label,
      logger: opts.logger ?? nullLogger,
      connectTimeoutMs: opts.connectTimeoutMs ?? RPC_DEFAULTS.connectTimeoutMs,
      backoffMinMs: opts.backoffMinMs ?? RPC_DEFAULTS.backoffMinMs,
      backoffMaxMs: opts.backoffMaxMs ?? RPC_DEFAULTS.backoffMaxMs,
      refusedRetryMs: WS_REFUSED_RETRY_MS,
      pingIntervalMs: opts.pingIntervalMs ?? RPC_DEFAULTS.pingIntervalMs,
      maxFrameBytes: MAX_ANSWER_BYTES,
    });
    this.ws = this.channels.transport;
    this.http = new HttpTransport({
      ...common,
      url: opts.endpoint.httpUrl,
      maxAnswerBytes: MAX_ANSWER_BYTES,
      // Lotus' auth handler answers a rejected token with a bare 401.
      statusIsFailure: (status) => status === 401 || status === 403,
    });
  }

  /** Calls `method`; WebSocket when it can be opened, else HTTP POST. */
  async call(method: string, params: readonly unknown[], opts: RpcCallOptions = {}): Promise<unknown> {
    if (this.closed) throw chainRpcError(this.label, this.endpoint, { kind: "closed" }, null);
    if (opts.signal?.aborted) throw abortError(opts.signal, `${method} aborted`);
    let wsProblem: string | null = null;
    if (this.ws.isOpen || Date.now() >= this.ws.retryAt) {
      try {
        await this.ws.connect(opts.signal);
      } catch (e) {
        if (opts.signal?.aborted) throw abortError(opts.signal, `${method} aborted`);
        wsProblem = errorMessage(e);
      }
      if (wsProblem === null) {
        opts.beforeSend?.();
        return this.ws.call(method, params, opts);
      }
    }
    opts.beforeSend?.();
    return this.http.call(method, params, opts, wsProblem);
  }

  /** Calls `method` over HTTP POST, whatever the WebSocket (client.ts asks whether HTTP answers). */
  callHttp(method: string, params: readonly unknown[], opts: RpcCallOptions = {}): Promise<unknown> {
    return this.http.call(method, params, opts);
  }

  /**
   * Sends calls over HTTP for the next `ms` unless a WebSocket is open, as after a refused upgrade:
   * for a peer whose WebSocket fails (reset, closed, no handshake) while HTTP answers, so each call
   * does not first wait for another failing handshake.
   */
  holdOffWebSocket(ms: number): void {
    this.ws.holdOff(ms);
  }

  /** Calls a channel-returning method (WebSocket only); values arrive through the RpcChannel. */
  subscribe(method: string, params: readonly unknown[], opts: RpcCallOptions = {}): Promise<RpcChannel> {
    return this.channels.subscribe(method, params, opts);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the socket; in-flight calls and channels fail with CHAIN_UNREACHABLE. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.http.close();
    this.ws.close();
  }
}
