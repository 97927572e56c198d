/**
 * JSON-RPC over one WebSocket, opened lazily and shared by all calls.
 *
 * When the socket drops, calls in flight fail with the `lost` failure (they are not replayed: a
 * MpoolPushMessage must not be sent twice) and the next call reconnects. After a failed attempt a new
 * one is made only once `retryAt` has passed: a backoff (0.5 s doubling to 5 s in the chain client),
 * or `refusedRetryMs` when the peer answered the upgrade without 101 (an HTTP-only gateway or proxy),
 * so callers that have an HTTP fallback do not wait for a failing handshake on every call. Client
 * pings detect a dead peer: no pong within one interval and the socket is dropped.
 *
 * Frames above `maxFrameBytes` are refused by `ws` (the socket closes with 1009). A frame that is not
 * a JSON-RPC message fails every call on its socket, since which call it belonged to is unknowable,
 * and the socket is dropped. Notifications from the server (go-jsonrpc's channel values) go to
 * `onNotification`; channels.ts builds subscriptions on that hook.
 */
import WebSocket from "ws";
import type { Logger } from "../log/logger.js";
import { nullLogger } from "../log/logger.js";
import { errorMessage } from "../util/errors.js";
import {
  causeText,
  type RpcCallOptions,
  type RpcFailure,
  type RpcTransport,
  readAnswer,
  requestHeaders,
  type TransportOptions,
} from "./transport.js";

export interface WsTransportOptions extends TransportOptions {
  /** Handshake limit in ms. */
  connectTimeoutMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  /** After an upgrade answered without 101, the next attempt waits this long. */
  refusedRetryMs: number;
  /** Ping period; a socket with no pong for one period is dropped (0 = off). */
  pingIntervalMs: number;
  maxFrameBytes: number;
  /** Who the peer is, for the log. */
  label: string;
  logger?: Logger;
  /** Sent with `[requestId]` when a call is given up (go-jsonrpc: `xrpc.cancel`); absent: nothing. */
  cancelMethod?: string;
  /** A request from the server (no id); go-jsonrpc sends channel values this way. */
  onNotification?: (method: string, params: unknown, socket: number) => void;
  /** The socket `socket` is gone; `err` is what its calls failed with. */
  onDrop?: (err: Error, socket: number) => void;
}

/**
 * Checks a result when its answer arrives, before any later frame is read: a problem string fails the
 * call with `badResult`. channels.ts registers a channel here, so values sent right behind the answer
 * find it.
 */
export type AcceptResult = (result: unknown, requestId: number, socket: number) => string | null;

interface Pending {
  method: string;
  socket: number;
  voidResult: boolean;
  accept: AcceptResult | null;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

export class WsTransport implements RpcTransport {
  readonly url: string;
  readonly label: string;
  private readonly log: Logger;
  private ws: WebSocket | null = null;
  /** Counts sockets, so a late event of an old one is told apart from the current one's. */
  private socketNo = 0;
  /** The socket whose handshake is under way: close() ends it rather than wait out its timeout. */
  private handshaking: WebSocket | null = null;
  private connecting: Promise<void> | null = null;
  private retryAtMs = 0;
  private backoffMs: number;
  private nextId = 1;
  private closed = false;
  private pingTimer: NodeJS.Timeout | null = null;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly opts: WsTransportOptions) {
    this.url = opts.url;
    this.label = opts.label;
    this.log = opts.logger ?? nullLogger;
    this.backoffMs = opts.backoffMinMs;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Whether a socket is open now. */
  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** The number of the open socket (callOn's `socket`); null while none is open. */
  get socket(): number | null {
    return this.isOpen ? this.socketNo : null;
  }

  /** When (ms since the epoch) a new connection may be tried; 0 = now. */
  get retryAt(): number {
    return this.retryAtMs;
  }

  /** Makes no new connection attempt for the next `ms` (a peer whose WebSocket fails while HTTP answers). */
  holdOff(ms: number): void {
    this.retryAtMs = Math.max(this.retryAtMs, Date.now() + ms);
  }

  private fail(f: RpcFailure, method: string | null): Error {
    return this.opts.failures(f, method);
  }

  /** Opens the socket unless it is open; a handshake under way is shared by all callers. */
  connect(signal?: AbortSignal): Promise<void> {
    if (this.closed) return Promise.reject(this.fail({ kind: "closed" }, null));
    if (this.isOpen) return Promise.resolve();
    if (this.connecting === null) {
      let refused = false;
      const p = this.openSocket(() => {
        refused = true;
      });
      this.connecting = p;
      p.then(
        () => {
          this.backoffMs = this.opts.backoffMinMs;
          this.retryAtMs = 0;
        },
        () => {
          // A peer that refuses upgrades (an HTTP-only gateway) is asked again only now and then.
          this.retryAtMs = Date.now() + (refused ? this.opts.refusedRetryMs : this.backoffMs);
          this.backoffMs = Math.min(this.backoffMs * 2, this.opts.backoffMaxMs);
        },
      ).finally(() => {
        if (this.connecting === p) this.connecting = null;
      });
    }
    const p = this.connecting;
    if (!signal) return p;
    // The shared handshake goes on for other callers; only this caller stops waiting.
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(this.fail({ kind: "aborted", signal }, null));
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  /** `onRefused` is called when the upgrade was answered without 101, and not for a refused token. */
  private openSocket(onRefused: () => void): Promise<void> {
    const { url, connectTimeoutMs } = this.opts;
    const headers = requestHeaders(this.opts);
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        headers,
        handshakeTimeout: connectTimeoutMs,
        maxPayload: this.opts.maxFrameBytes,
        perMessageDeflate: false,
      });
      this.handshaking = ws;
      /** The HTTP status of an answer that refused the upgrade (a gateway answering 501), if any. */
      let status: number | null = null;
      const onError = (e: Error): void => {
        if (this.handshaking === ws) this.handshaking = null;
        ws.off("open", onOpen);
        ws.on("error", () => {}); // a late second error must not become an uncaught exception
        ws.terminate();
        if (status !== null && status !== 401 && status !== 403) onRefused();
        if (status === null && this.closed) {
          reject(this.fail({ kind: "closed" }, null));
          return;
        }
        // ws says only "Opening handshake has timed out": the failure says after how long.
        const handshakeTimedOut = /handshake has timed out/i.test(e.message);
        reject(
          this.fail({ kind: "connect", url, status, cause: e, handshakeTimedOut, connectTimeoutMs }, null),
        );
      };
      const onOpen = (): void => {
        if (this.handshaking === ws) this.handshaking = null;
        ws.off("error", onError);
        if (this.closed) {
          ws.terminate();
          reject(this.fail({ kind: "closed" }, null));
          return;
        }
        this.attach(ws);
        resolve();
      };
      // Answered, but not with 101: an HTTP-only gateway or proxy. Aborting the handshake here
      // ends in onError, which tells it apart from a peer that cannot be reached.
      ws.once("unexpected-response", (_req, res) => {
        status = res.statusCode ?? 0;
        res.resume();
        ws.terminate();
      });
      ws.once("open", onOpen);
      ws.once("error", onError);
    });
  }

  private attach(ws: WebSocket): void {
    this.ws = ws;
    const socket = ++this.socketNo;
    this.log.debug("connected", { peer: this.opts.label, url: this.url });
    let lastError = "";
    let alive = true;
    ws.on("message", (data) =>
      this.onFrame(ws, socket, Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer)),
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
      this.drop(ws, socket, this.fail({ kind: "lost", url: this.url, why }, null));
    });
    const every = this.opts.pingIntervalMs;
    // The socket this one replaces may still be closing, its close event (and drop) not yet come:
    // its pings end here, not with it.
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
    if (every > 0) {
      this.pingTimer = setInterval(() => {
        if (!alive) {
          lastError = `no pong within ${every} ms`;
          ws.terminate();
          return;
        }
        alive = false;
        ws.ping();
      }, every);
      this.pingTimer.unref();
    }
  }

  /** Forgets `ws` and fails everything that depended on it with `err`. */
  private drop(ws: WebSocket, socket: number, err: Error): void {
    if (this.ws !== ws) return;
    this.ws = null;
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
    if (!this.closed) this.log.warn("connection lost", { peer: this.opts.label, error: err.message });
    for (const p of [...this.pending.values()]) if (p.socket === socket) p.reject(err);
    this.opts.onDrop?.(err, socket);
  }

  /** Sends a notification on socket `socket` if it is still the open one; else there is no one to tell. */
  notify(method: string, params: readonly unknown[], socket: number): void {
    const ws = this.ws;
    if (ws === null || socket !== this.socketNo || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ jsonrpc: "2.0", method, params }), () => {});
  }

  /** Calls `method`, connecting first when no socket is open. */
  async call(
    method: string,
    params: readonly unknown[],
    opts: RpcCallOptions = {},
    accept: AcceptResult | null = null,
  ): Promise<unknown> {
    await this.connect(opts.signal);
    const ws = this.ws;
    if (ws === null) throw this.fail({ kind: "lost", url: this.url, why: "closed before the call" }, method);
    return this.send(ws, this.socketNo, method, params, opts, accept);
  }

  /**
   * Calls `method` on socket `socket` only: it never connects, and fails with the `lost` failure when
   * that socket is no longer the open one. For an answer that means something only on the connection
   * its question came on: sophon-gateway forgets a proof event's request when its channel's
   * connection ends, so an answer sent on a later connection reaches no one.
   */
  callOn(
    socket: number,
    method: string,
    params: readonly unknown[],
    opts: RpcCallOptions = {},
  ): Promise<unknown> {
    if (this.closed) return Promise.reject(this.fail({ kind: "closed" }, method));
    const ws = this.ws;
    if (ws === null || socket !== this.socketNo || ws.readyState !== WebSocket.OPEN)
      return Promise.reject(
        this.fail({ kind: "lost", url: this.url, why: "the connection closed before the call" }, method),
      );
    return this.send(ws, socket, method, params, opts, null);
  }

  private send(
    ws: WebSocket,
    socket: number,
    method: string,
    params: readonly unknown[],
    opts: RpcCallOptions,
    accept: AcceptResult | null,
  ): Promise<unknown> {
    const { signal } = opts;
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs;
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      let timer: NodeJS.Timeout | null = null;
      const finish = (): void => {
        if (timer !== null) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.pending.delete(id);
      };
      const giveUp = (f: RpcFailure): void => {
        finish();
        if (this.opts.cancelMethod !== undefined) this.notify(this.opts.cancelMethod, [id], socket);
        reject(this.fail(f, method));
      };
      const onAbort = (): void => giveUp({ kind: "aborted", signal: signal as AbortSignal });
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs > 0) timer = setTimeout(() => giveUp({ kind: "timeout", timeoutMs }), timeoutMs);
      const entry: Pending = {
        method,
        socket,
        voidResult: opts.voidResult === true,
        accept,
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
        if (err) entry.reject(this.fail({ kind: "send", cause: err }, method));
      });
    });
  }

  private onFrame(ws: WebSocket, socket: number, data: Buffer): void {
    if (ws !== this.ws) return;
    let m: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(data.toString("utf8"));
      if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not a JSON object");
      m = v as Record<string, unknown>;
    } catch (e) {
      this.drop(ws, socket, this.fail({ kind: "badFrame", url: this.url, detail: errorMessage(e) }, null));
      ws.terminate();
      return;
    }
    if (typeof m.method === "string") {
      if (this.opts.onNotification) this.opts.onNotification(m.method, m.params, socket);
      else this.log.debug("ignoring a call from the server", { peer: this.opts.label, method: m.method });
      return;
    }
    const p = typeof m.id === "number" ? this.pending.get(m.id) : undefined;
    if (p === undefined) return; // an answer after our timeout/abort, or not ours
    const a = readAnswer(m, null, p.voidResult);
    if (!a.ok) {
      p.reject(this.fail(a.failure, p.method));
      return;
    }
    const problem = p.accept?.(a.result, m.id as number, socket) ?? null;
    if (problem !== null) p.reject(this.fail({ kind: "badResult", why: problem }, p.method));
    else p.resolve(a.result);
  }

  /** Closes the socket; calls in flight fail with the `closed` failure. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handshaking?.terminate();
    this.handshaking = null;
    const ws = this.ws;
    if (ws !== null) {
      this.drop(ws, this.socketNo, this.fail({ kind: "closed" }, null));
      ws.terminate();
    }
  }
}
