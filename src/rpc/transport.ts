/**
 * The JSON-RPC 2.0 client stack, shared by every client of the node: the node's own API
 * (cli/daemonClient.ts), the proxy indexer's source node (sectors/proxyIndexer.ts) and the Lotus/Venus
 * chain client (chain/lotus/rpc.ts).
 *
 * Two transports do the work: HttpTransport (one POST per call, http.ts) and WsTransport (one shared
 * socket with reconnects and pings, ws.ts). Both give every call an id, a time limit and the caller's
 * AbortSignal, cap the size of an answer, and never crash on what a peer sends. What they do not do is
 * word errors: each failure is first described as a plain fact (RpcFailure), and the client turns it
 * into its own error through RpcFailures. The node's client says RPC_UNREACHABLE / RPC_BAD_RESPONSE /
 * RpcError, the chain client CHAIN_UNREACHABLE / CHAIN_BAD_RESPONSE / CHAIN_RPC_ERROR with the config
 * key to fix; the mechanics behind those messages are the same code.
 *
 * go-jsonrpc's channel dialect (`xrpc.ch.val`, `xrpc.ch.close`, `xrpc.cancel`) is a layer on top of
 * the WebSocket transport's notification hook (channels.ts).
 */
import { type LinkedSignal, linkSignals } from "../util/signal.js";

/** Per-call options of every JSON-RPC client. */
export interface RpcCallOptions {
  signal?: AbortSignal;
  /** Overrides the client's limit, in ms; 0 = none (StateWaitMsg, WaitMessage). */
  timeoutMs?: number;
  /**
   * Called synchronously once the connection is ready, immediately before the request is handed to
   * it; throwing stops the call (the cluster's last-moment lease check: PushOptions.beforeSend).
   */
  beforeSend?: () => void;
  /**
   * The method returns nothing (in Go, only an error). A go-jsonrpc whose answer tags `result` with
   * omitempty (ipfs-force-community/go-jsonrpc v0.1.9 `handler.go`, the fork sophon-gateway runs)
   * answers such a call `{"jsonrpc":"2.0","id":N}`; with this set, that answer is the call's success
   * (null). Unset, an answer without `result` stays a bad response: a peer that drops the result of a
   * method that has one is named as broken, rather than a null handed to a decoder.
   */
  voidResult?: boolean;
}

/**
 * What went wrong with one call, as facts. `method` is given beside it where the failure belongs to
 * one call; a lost socket or a garbage frame fails every call on that socket at once.
 */
export type RpcFailure =
  /** The client was closed (before or during the call). */
  | { kind: "closed" }
  /** The caller's signal fired. */
  | { kind: "aborted"; signal: AbortSignal }
  /** No answer within the call's limit. */
  | { kind: "timeout"; timeoutMs: number }
  /** An HTTP request could not be made or its answer not read (refused, reset, DNS). */
  | { kind: "unreachable"; url: string; cause: unknown; note: string | null }
  /**
   * A WebSocket could not be opened. `status` is the HTTP status of an answer that refused the
   * upgrade (an HTTP-only gateway's 501, a refused token's 401), null when nothing answered.
   */
  | {
      kind: "connect";
      url: string;
      status: number | null;
      cause: unknown;
      handshakeTimedOut: boolean;
      connectTimeoutMs: number;
    }
  /** The socket a call was sent on went away before its answer. */
  | { kind: "lost"; url: string; why: string }
  /** The request could not be written to the socket. */
  | { kind: "send"; cause: unknown }
  /** The answer was larger than the client reads (`declared`: its Content-Length when that told). */
  | { kind: "tooLarge"; declared: number | null; limit: number }
  /** An HTTP status the client treats as an answer by itself (a refused token), body unread. */
  | { kind: "status"; url: string; status: number }
  /** An HTTP body that is not JSON (a proxy's error page, a web server). */
  | { kind: "notJson"; url: string; status: number; text: string }
  /** A WebSocket frame that is not a JSON-RPC message: which call it belonged to is unknowable. */
  | { kind: "badFrame"; url: string; detail: string }
  /** JSON, but not an object. */
  | { kind: "notObject"; status: number | null }
  /** A JSON-RPC answer with neither result nor error. */
  | { kind: "noResult"; status: number | null }
  /** A result the caller cannot use (a channel id that is not one). */
  | { kind: "badResult"; why: string }
  /** The peer's own JSON-RPC error object, as sent. */
  | { kind: "peerError"; error: unknown; status: number | null };

/** Turns a failure into what the call rejects with; `method` is null for socket-wide failures. */
export type RpcFailures = (failure: RpcFailure, method: string | null) => Error;

/** What every transport is built with. */
export interface TransportOptions {
  url: string;
  /** Sent as `Authorization: Bearer`; null or absent sends none. Never part of a message or log. */
  token?: string | null;
  /** Extra request headers (venus' X-VENUS-API-NAMESPACE). */
  headers?: Readonly<Record<string, string>>;
  /** Default per-call limit in ms; 0 = none. */
  timeoutMs: number;
  failures: RpcFailures;
}

/** The request headers of `opts`: its own, and the bearer token when there is one. */
export function requestHeaders(opts: TransportOptions): Record<string, string> {
  const h: Record<string, string> = { ...opts.headers };
  if (opts.token != null) h.authorization = `Bearer ${opts.token}`;
  return h;
}

/** A way to make calls; the clients pick one or combine both (chain/lotus/rpc.ts). */
export interface RpcTransport {
  call(method: string, params: readonly unknown[], opts?: RpcCallOptions): Promise<unknown>;
  /** Fails calls in flight with the `closed` failure; later calls fail the same way. */
  close(): void;
  readonly isClosed: boolean;
}

/** The message of an error and its causes ("fetch failed: connect ECONNREFUSED 127.0.0.1:1234"). */
export function causeText(e: unknown): string {
  let cur: unknown = e;
  const parts: string[] = [];
  for (let i = 0; i < 4 && cur; i++) {
    const msg = cur instanceof Error ? cur.message : String(cur);
    if (msg !== "" && !parts.includes(msg)) parts.push(msg);
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join(": ") || "unknown error";
}

/** The first system error code (ECONNREFUSED, ENOTFOUND, ...) in `e` or its causes. */
export function causeCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === "string") return c;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * One JSON-RPC answer read as far as a transport can without knowing the method: its result, or the
 * failure it is. `status` is the HTTP status (null on a WebSocket); `voidResult`: the call's
 * RpcCallOptions.voidResult, under which an answer with neither result nor error is a null result.
 */
export function readAnswer(
  m: unknown,
  status: number | null,
  voidResult = false,
): { ok: true; result: unknown } | { ok: false; failure: RpcFailure } {
  if (typeof m !== "object" || m === null || Array.isArray(m))
    return { ok: false, failure: { kind: "notObject", status } };
  const r = m as Record<string, unknown>;
  if (r.error !== undefined && r.error !== null)
    return { ok: false, failure: { kind: "peerError", error: r.error, status } };
  if (!Object.hasOwn(r, "result"))
    return voidResult ? { ok: true, result: null } : { ok: false, failure: { kind: "noResult", status } };
  return { ok: true, result: r.result };
}

/** The signal of one call: the caller's, the call's limit (0 = none) and the client's closing. */
export function callSignal(
  caller: AbortSignal | undefined,
  timeoutMs: number,
  closing: AbortSignal,
): LinkedSignal {
  return linkSignals([caller, closing], { timeoutMs });
}
