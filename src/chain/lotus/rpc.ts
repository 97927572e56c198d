/**
 * JSON-RPC 2.0 client for Lotus/Venus/venus-messager, speaking go-jsonrpc's dialect.
 *
 * Transport: one WebSocket per endpoint, opened lazily and shared by all calls (go-jsonrpc serves WS
 * and HTTP POST on the same path). Plain calls fall back to HTTP POST when the WebSocket cannot be
 * opened; subscriptions (ChainNotify) need the WebSocket (client.ts polls the head without one). After
 * a failed WebSocket attempt, calls go straight to HTTP until the backoff (0.5 s doubling to 5 s by
 * default) has passed, or for WS_REFUSED_RETRY_MS when the peer answered the upgrade without 101 (an
 * HTTP-only gateway or proxy: isWsRefused) or the client found HTTP answering where the WebSocket
 * fails (holdOffWebSocket).
 *
 * go-jsonrpc channel protocol (`websocket.go`, filecoin-project/go-jsonrpc v0.10): a method that
 * returns a Go channel answers with a channel id as its result, then sends notifications
 * `{"method":"xrpc.ch.val","params":[chanId, value]}` and finally `xrpc.ch.close` `[chanId]`. The
 * client stops a channel (or any in-flight call) with the notification `xrpc.cancel` `[requestId]`,
 * which cancels the server-side context of that request.
 *
 * When the socket drops, in-flight calls fail with CHAIN_UNREACHABLE (they are not replayed: a
 * MpoolPushMessage must not be sent twice) and open channels end with the same error; the next call
 * reconnects. Client pings detect a dead peer (no pong within one interval ⇒ the socket is dropped).
 *
 * Errors: CHAIN_UNREACHABLE (cannot connect, connection lost, timeout: says which endpoint and why),
 * CHAIN_RPC_ERROR (the node's own error: its message and code; also HTTP 401/403), CHAIN_BAD_RESPONSE
 * (not JSON-RPC). Tokens go only into the Authorization header, never into messages or logs.
 */
import WebSocket from "ws";
import type { Logger } from "../../log/logger.js";
import { nullLogger } from "../../log/logger.js";
import { abortError, errorMessage, SmError } from "../../util/errors.js";
import { badResponse } from "./decode.js";
import type { ApiEndpoint } from "./endpoint.js";
import { httpCall } from "./httpTransport.js";
import { RpcChannel } from "./rpcChannel.js";
import { causeText, rpcErrorOf, unreachableError } from "./rpcErrors.js";

export { RpcChannel } from "./rpcChannel.js";

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

export interface RpcCallOptions {
  signal?: AbortSignal;
  /** Overrides the default limit; 0 = none (StateWaitMsg, WaitMessage). */
  timeoutMs?: number;
}

interface Pending {
  method: string;
  ws: WebSocket;
  channel: RpcChannel | null;
  resolve(v: unknown): void;
  reject(e: unknown): void;
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

/** `fields.reason` of the CHAIN_UNREACHABLE raised when the peer answered the upgrade without 101. */
export const WS_REFUSED = "websocket-refused";

/** After a refused upgrade, calls go over HTTP for this long before the WebSocket is tried again. */
export const WS_REFUSED_RETRY_MS = 5 * 60_000;

/** Whether `e` says the peer answers HTTP but refused the WebSocket upgrade (see openSocket). */
export const isWsRefused = (e: unknown): boolean =>
  e instanceof SmError && e.code === "CHAIN_UNREACHABLE" && e.fields.reason === WS_REFUSED;

/** Frames above this are refused; a 2349-sector StateMinerSectors answer is ~1.5 MB. */
const MAX_FRAME = 256 << 20;

export class LotusRpc {
  readonly endpoint: ApiEndpoint;
  readonly label: string;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly backoffMinMs: number;
  private readonly backoffMaxMs: number;
  private readonly pingIntervalMs: number;
  private readonly extraHeaders: Readonly<Record<string, string>>;
  private ws: WebSocket | null = null;
  /** The socket whose handshake is under way: close() ends it rather than wait out its timeout. */
  private handshaking: WebSocket | null = null;
  private connecting: Promise<WebSocket> | null = null;
  private wsRetryAt = 0;
  private backoffMs: number;
  private nextId = 1;
  private closed = false;
  /** Aborts HTTP calls in flight when the client is closed. */
  private readonly closing = new AbortController();
  private pingTimer: NodeJS.Timeout | null = null;
  private readonly pending = new Map<number, Pending>();
  private readonly channels = new Map<number, RpcChannel>();

  constructor(opts: LotusRpcOptions) {
    this.endpoint = opts.endpoint;
    this.label = opts.label;
    this.log = opts.logger ?? nullLogger;
    this.timeoutMs = opts.timeoutMs ?? RPC_DEFAULTS.timeoutMs;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? RPC_DEFAULTS.connectTimeoutMs;
    this.backoffMinMs = opts.backoffMinMs ?? RPC_DEFAULTS.backoffMinMs;
    this.backoffMaxMs = opts.backoffMaxMs ?? RPC_DEFAULTS.backoffMaxMs;
    this.pingIntervalMs = opts.pingIntervalMs ?? RPC_DEFAULTS.pingIntervalMs;
    this.extraHeaders = opts.headers ?? {};
    this.backoffMs = this.backoffMinMs;
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { ...this.extraHeaders };
    if (this.endpoint.token !== null) h.Authorization = `Bearer ${this.endpoint.token}`;
    return h;
  }

  private unreachable(message: string, fields: Record<string, unknown> = {}): SmError {
    return unreachableError(this.endpoint.key, message, fields);
  }

  /** Calls `method`; WebSocket when it can be opened, else HTTP POST. */
  async call(method: string, params: readonly unknown[], opts: RpcCallOptions = {}): Promise<unknown> {
    if (this.closed) throw this.unreachable(`${this.label} client is closed`);
    if (opts.signal?.aborted) throw abortError(opts.signal, `${method} aborted`);
    let wsProblem: string | null = null;
    if (this.ws?.readyState === WebSocket.OPEN || Date.now() >= this.wsRetryAt) {
      let ws: WebSocket | null = null;
      try {
        ws = await this.connect(opts.signal);
      } catch (e) {
        if (opts.signal?.aborted) throw abortError(opts.signal, `${method} aborted`);
        wsProblem = errorMessage(e);
      }
      if (ws !== null) return this.wsCall(ws, method, params, opts, null);
    }
    return this.httpCall(method, params, opts, wsProblem);
  }

  /** Calls `method` over HTTP POST, whatever the WebSocket (client.ts asks whether HTTP answers). */
  callHttp(method: string, params: readonly unknown[], opts: RpcCallOptions = {}): Promise<unknown> {
    if (this.closed) return Promise.reject(this.unreachable(`${this.label} client is closed`));
    return this.httpCall(method, params, opts, null);
  }

  /**
   * Sends calls over HTTP for the next `ms` unless a WebSocket is open, as after a refused upgrade:
   * for a peer whose WebSocket fails (reset, closed, no handshake) while HTTP answers, so each call
   * does not first wait for another failing handshake.
   */
  holdOffWebSocket(ms: number): void {
    this.wsRetryAt = Math.max(this.wsRetryAt, Date.now() + ms);
  }

  /** Calls a channel-returning method (WebSocket only); values arrive through the RpcChannel. */
  async subscribe(
    method: string,
    params: readonly unknown[],
    opts: RpcCallOptions = {},
  ): Promise<RpcChannel> {
    if (this.closed) throw this.unreachable(`${this.label} client is closed`);
    const ws = await this.connect(opts.signal);
    const ch = new RpcChannel(method, () => this.cancelChannel(ch));
    await this.wsCall(ws, method, params, opts, ch);
    if (opts.signal) {
      const signal = opts.signal;
      const onAbort = (): void => ch.close();
      if (signal.aborted) ch.close();
      else {
        signal.addEventListener("abort", onAbort, { once: true });
        ch.onEnd(() => signal.removeEventListener("abort", onAbort));
      }
    }
    return ch;
  }

  private connect(signal?: AbortSignal): Promise<WebSocket> {
    if (this.ws?.readyState === WebSocket.OPEN) return Promise.resolve(this.ws);
    if (this.connecting === null) {
      const p = this.openSocket();
      this.connecting = p;
      p.then(
        () => {
          this.backoffMs = this.backoffMinMs;
          this.wsRetryAt = 0;
        },
        (e: unknown) => {
          // A peer that refuses upgrades (an HTTP-only gateway) is asked again only now and then.
          this.wsRetryAt = Date.now() + (isWsRefused(e) ? WS_REFUSED_RETRY_MS : this.backoffMs);
          this.backoffMs = Math.min(this.backoffMs * 2, this.backoffMaxMs);
        },
      ).finally(() => {
        if (this.connecting === p) this.connecting = null;
      });
    }
    const p = this.connecting;
    if (!signal) return p;
    // The shared handshake goes on for other callers; only this caller stops waiting.
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(abortError(signal, "connect aborted"));
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  private openSocket(): Promise<WebSocket> {
    const url = this.endpoint.wsUrl;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        headers: this.headers(),
        handshakeTimeout: this.connectTimeoutMs,
        maxPayload: MAX_FRAME,
        perMessageDeflate: false,
      });
      this.handshaking = ws;
      /** The HTTP status of an answer that refused the upgrade (a gateway answering 501), if any. */
      let refused: number | null = null;
      const onError = (e: Error): void => {
        if (this.handshaking === ws) this.handshaking = null;
        ws.off("open", onOpen);
        ws.on("error", () => {}); // a late second error must not become an uncaught exception
        ws.terminate();
        if (refused === 401 || refused === 403) {
          reject(
            this.unreachable(
              `${this.label} at ${url} refused the WebSocket with HTTP ${refused}: check the API token ` +
                `(the TOKEN: prefix of ${this.endpoint.key} or Common.API.Token)`,
              { httpStatus: refused },
            ),
          );
        } else if (refused !== null) {
          reject(
            this.unreachable(
              `${this.label} at ${url} refused the WebSocket upgrade (HTTP ${refused}); it answers over HTTP only`,
              { reason: WS_REFUSED, httpStatus: refused },
            ),
          );
        } else if (this.closed) {
          reject(this.unreachable(`${this.label} client is closed`));
        } else {
          // ws says only "Opening handshake has timed out": say after how long, and what it means.
          const why = /handshake has timed out/i.test(e.message)
            ? `no answer to the upgrade within ${this.connectTimeoutMs} ms`
            : causeText(e);
          reject(this.unreachable(`cannot open a WebSocket to ${this.label} at ${url}: ${why}`));
        }
      };
      const onOpen = (): void => {
        if (this.handshaking === ws) this.handshaking = null;
        ws.off("error", onError);
        if (this.closed) {
          ws.terminate();
          reject(this.unreachable(`${this.label} client is closed`));
          return;
        }
        this.attach(ws);
        resolve(ws);
      };
      // Answered, but not with 101: an HTTP-only gateway or proxy. Aborting the handshake here
      // ends in onError, which tells it apart from a node that cannot be reached.
      ws.once("unexpected-response", (_req, res) => {
        refused = res.statusCode ?? 0;
        res.resume();
        ws.terminate();
      });
      ws.once("open", onOpen);
      ws.once("error", onError);
    });
  }

  private attach(ws: WebSocket): void {
    this.ws = ws;
    this.log.debug("connected", { peer: this.label, url: this.endpoint.wsUrl });
    let lastError = "";
    let alive = true;
    ws.on("message", (data) =>
      this.onFrame(ws, Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer)),
    );
    ws.on("error", (e) => {
      lastError = causeText(e);
    });
    ws.on("pong", () => {
      alive = true;
    });
    ws.on("close", (code, reason) => {
      const why =
        lastError || `closed with code ${code}${reason.length > 0 ? ` (${reason.toString()})` : ""}`;
      this.drop(ws, this.unreachable(`connection to ${this.label} at ${this.endpoint.wsUrl} lost: ${why}`));
    });
    if (this.pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => {
        if (!alive) {
          lastError = `no pong within ${this.pingIntervalMs} ms`;
          ws.terminate();
          return;
        }
        alive = false;
        ws.ping();
      }, this.pingIntervalMs);
      this.pingTimer.unref();
    }
  }

  /** Forgets `ws` and fails everything that depended on it with `err`. */
  private drop(ws: WebSocket, err: SmError): void {
    if (this.ws !== ws) return;
    this.ws = null;
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
    if (!this.closed) this.log.warn("connection lost", { peer: this.label, error: err.message });
    for (const p of [...this.pending.values()]) if (p.ws === ws) p.reject(err);
    for (const ch of this.channels.values()) ch.end(err);
    this.channels.clear();
  }

  private wsCall(
    ws: WebSocket,
    method: string,
    params: readonly unknown[],
    opts: RpcCallOptions,
    channel: RpcChannel | null,
  ): Promise<unknown> {
    const { signal } = opts;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      let timer: NodeJS.Timeout | null = null;
      const finish = (): void => {
        if (timer !== null) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.pending.delete(id);
      };
      const onAbort = (): void => {
        finish();
        this.sendCancel(ws, id);
        reject(abortError(signal, `${method} aborted`));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          finish();
          this.sendCancel(ws, id);
          reject(
            this.unreachable(`${this.label} did not answer ${method} within ${timeoutMs} ms`, {
              reason: "timeout",
              method,
            }),
          );
        }, timeoutMs);
      }
      const entry: Pending = {
        method,
        ws,
        channel,
        resolve: (v) => {
          finish();
          resolve(v);
        },
        reject: (e) => {
          finish();
          reject(e);
        },
      };
      this.pending.set(id, entry);
      ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }), (err) => {
        if (err) entry.reject(this.unreachable(`cannot send ${method} to ${this.label}: ${causeText(err)}`));
      });
    });
  }

  private sendCancel(ws: WebSocket, id: number): void {
    if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ jsonrpc: "2.0", method: "xrpc.cancel", params: [id] }), () => {});
  }

  private cancelChannel(ch: RpcChannel): void {
    if (ch.chanId !== null && this.channels.get(ch.chanId) === ch) this.channels.delete(ch.chanId);
    if (ch.ws !== null && ch.requestId !== null) this.sendCancel(ch.ws as WebSocket, ch.requestId);
  }

  private onFrame(ws: WebSocket, data: Buffer): void {
    if (ws !== this.ws) return;
    let m: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(data.toString("utf8"));
      if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not a JSON object");
      m = v as Record<string, unknown>;
    } catch (e) {
      // Which call the garbage belonged to is unknowable: fail them all and start afresh.
      const err = new SmError(
        "CHAIN_BAD_RESPONSE",
        `${this.label} at ${this.endpoint.wsUrl} sent a frame that is not a JSON-RPC message (${errorMessage(e)})`,
        { endpoint: this.endpoint.key },
      );
      this.drop(ws, err);
      ws.terminate();
      return;
    }
    if (typeof m.method === "string") this.onNotification(m.method, m.params);
    else this.onResponse(ws, m);
  }

  private onResponse(ws: WebSocket, m: Record<string, unknown>): void {
    const p = typeof m.id === "number" ? this.pending.get(m.id) : undefined;
    if (p === undefined) return; // an answer after our timeout/abort, or not ours
    if (m.error !== undefined && m.error !== null) {
      p.reject(this.rpcError(p.method, m.error));
    } else if (!Object.hasOwn(m, "result")) {
      p.reject(badResponse(p.method, "", "has neither result nor error"));
    } else if (p.channel === null) {
      p.resolve(m.result);
    } else {
      const chanId = m.result;
      if (typeof chanId !== "number" || !Number.isSafeInteger(chanId) || chanId < 0) {
        p.reject(badResponse(p.method, "", "is not a channel id (expected a non-negative integer)"));
        return;
      }
      p.channel.bind(chanId, m.id as number, ws);
      this.channels.set(chanId, p.channel);
      p.resolve(chanId);
    }
  }

  private onNotification(method: string, params: unknown): void {
    const args = Array.isArray(params) ? params : [];
    const ch = typeof args[0] === "number" ? this.channels.get(args[0]) : undefined;
    if (method === "xrpc.ch.val") {
      if (ch !== undefined && args.length >= 2) ch.push(args[1]);
    } else if (method === "xrpc.ch.close") {
      if (ch !== undefined) {
        this.channels.delete(args[0] as number);
        ch.end(null);
      }
    } else {
      this.log.debug("ignoring a call from the server", { peer: this.label, method });
    }
  }

  private rpcError(method: string, e: unknown): SmError {
    return rpcErrorOf(this.label, this.endpoint.key, method, e);
  }

  private httpCall(
    method: string,
    params: readonly unknown[],
    opts: RpcCallOptions,
    wsProblem: string | null,
  ): Promise<unknown> {
    return httpCall(
      {
        endpoint: this.endpoint,
        label: this.label,
        headers: this.headers(),
        timeoutMs: opts.timeoutMs ?? this.timeoutMs,
        closing: this.closing.signal,
        wsProblem,
      },
      { jsonrpc: "2.0", id: this.nextId++, method, params },
      opts.signal,
    );
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the socket; in-flight calls and channels fail with CHAIN_UNREACHABLE. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    this.handshaking?.terminate();
    this.handshaking = null;
    const ws = this.ws;
    if (ws !== null) {
      this.drop(ws, this.unreachable(`${this.label} client is closed`));
      ws.terminate();
    }
  }
}
