/**
 * The client of our own JSON-RPC API (and damocles'): the CLI against its daemon, the proxy against
 * its source node, tests against the devnet. HTTP POST for an `http(s)://` URL, one WebSocket for a
 * `ws(s)://` one (transport.ts has the stack both share).
 *
 * Every failure is an SmError that says which peer and what to do: unreachable (connection refused,
 * DNS, lost), a time-out, a non-JSON answer, an answer larger than `maxAnswerBytes`, or the peer's own
 * JSON-RPC error (RpcError, with the peer's code). The peer's error text is kept (bounded to
 * MAX_PEER_MESSAGE characters); callers that relay a peer's errors to their own callers (the proxy)
 * must wrap them, not forward them.
 */
import { AbortedError, errorMessage, SmError, TimeoutError } from "../util/errors.js";
import { RPC_METHOD_NOT_FOUND, RpcError } from "./errors.js";
import { HttpTransport } from "./http.js";
import { causeCode, type RpcCallOptions, type RpcFailure, type RpcTransport } from "./transport.js";
import { WsTransport } from "./ws.js";

export interface RpcClientOptions {
  /** Full URL, e.g. http://127.0.0.1:1789/rpc/v0 (or ws://… for a WebSocket). */
  url: string;
  token?: string;
  /** Per-call time limit (default 30 s). */
  timeoutMs?: number;
  /** Who the peer is, for messages ("source node 127.0.0.1:1789"). */
  peerName?: string;
  /** Largest answer read, in bytes (default DEFAULT_MAX_ANSWER_BYTES); a larger one is an error. */
  maxAnswerBytes?: number;
}

/** 64 MiB: ten times the largest answer of our own methods in normal use (a 100k-sector FindMany). */
export const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024 * 1024;
/** A peer's error message is cut to this many characters. */
export const MAX_PEER_MESSAGE = 2000;

export type CallOptions = RpcCallOptions;

/** What an unreachable peer's system error code means, in words. */
function unreachableWhy(e: unknown): { why: string; code: string | undefined } {
  const code = causeCode(e);
  const why =
    code === "ECONNREFUSED"
      ? "connection refused (is the node running and listening there?)"
      : code === "ENOTFOUND" || code === "EAI_AGAIN"
        ? "host name does not resolve"
        : code === "ECONNRESET" || code === "UND_ERR_SOCKET"
          ? "connection reset"
          : errorMessage(e);
  return { why, code };
}

/** The errors of a call to our own API (or damocles') at `peer`. */
export function nodeRpcError(peer: string, f: RpcFailure, m: string | null): Error {
  const method = m ?? "a call";
  const fields = { peer, method };
  const unreachable = (why: string, cause?: string) =>
    new SmError("RPC_UNREACHABLE", `cannot reach ${peer}: ${why}`, { ...fields, cause });
  const bad = (what: string, status: number | null) =>
    new SmError("RPC_BAD_RESPONSE", `${peer} answered ${method} with ${what}`, { ...fields, status });
  const via = (status: number | null) => (status === null ? "" : ` with HTTP ${status}`);
  switch (f.kind) {
    case "closed":
      return new SmError("RPC_UNREACHABLE", `the client of ${peer} is closed`, fields);
    case "aborted":
      return f.signal.reason ?? new AbortedError(`${m ?? "connect"} aborted`);
    case "timeout":
      return new TimeoutError(`${peer} did not answer ${method} within ${f.timeoutMs} ms`, fields);
    case "unreachable": {
      const { why, code } = unreachableWhy(f.cause);
      return unreachable(why, code);
    }
    case "connect": {
      if (f.status === 401 || f.status === 403)
        return new SmError(
          "RPC_UNAUTHENTICATED",
          `${peer} refused the WebSocket upgrade (HTTP ${f.status}): the token is missing or not accepted; pass the node's admin or write token`,
          fields,
        );
      if (f.status !== null) return unreachable(`it refused the WebSocket upgrade (HTTP ${f.status})`);
      if (f.handshakeTimedOut) return unreachable(`no answer to the upgrade within ${f.connectTimeoutMs} ms`);
      const { why, code } = unreachableWhy(f.cause);
      return unreachable(why, code);
    }
    case "lost":
      return unreachable(`connection lost: ${f.why}`);
    case "send":
      return unreachable(`cannot send ${method}: ${errorMessage(f.cause)}`);
    case "tooLarge": {
      const what = f.declared === null ? `over ${f.limit} bytes` : `${f.declared} bytes`;
      return new SmError(
        "RPC_ANSWER_TOO_LARGE",
        `${peer} answered ${method} with ${what}, more than the ${f.limit}-byte limit of this client; the answer was dropped`,
        { ...fields, limit: f.limit },
      );
    }
    case "status":
      return bad(`HTTP ${f.status}`, f.status);
    case "notJson":
      return bad(
        `HTTP ${f.status} and a body that is not JSON: ${JSON.stringify(f.text.slice(0, 120))}`,
        f.status,
      );
    case "badFrame":
      return new SmError(
        "RPC_BAD_RESPONSE",
        `${peer} sent a frame that is not a JSON-RPC message (${f.detail})`,
        {
          peer,
        },
      );
    case "notObject":
    case "noResult":
      return new SmError(
        "RPC_BAD_RESPONSE",
        `${peer} answered ${method}${via(f.status)} but no JSON-RPC result`,
        { ...fields, status: f.status },
      );
    case "badResult":
      return bad(`a result that ${f.why}`, null);
    case "peerError": {
      const e = (typeof f.error === "object" && f.error !== null ? f.error : {}) as {
        code?: unknown;
        message?: unknown;
        data?: { code?: unknown } | null;
      };
      const rpcCode = typeof e.code === "number" ? e.code : 0;
      const raw = typeof e.message === "string" ? e.message : "unknown error";
      const msg = raw.length > MAX_PEER_MESSAGE ? `${raw.slice(0, MAX_PEER_MESSAGE)}…` : raw;
      const dataCode = typeof e.data?.code === "string" ? e.data.code : undefined;
      const code = dataCode ?? (rpcCode === RPC_METHOD_NOT_FOUND ? "RPC_METHOD_NOT_FOUND" : undefined);
      return new RpcError(rpcCode, msg, code, fields);
    }
  }
}

/** WebSocket timings of the node client; its HTTP calls need none. */
const WS_TIMINGS = { connectTimeoutMs: 5_000, backoffMinMs: 500, backoffMaxMs: 5_000, pingIntervalMs: 5_000 };

export class RpcClient {
  readonly url: string;
  readonly peerName: string;
  private readonly transport: RpcTransport;

  constructor(opts: RpcClientOptions) {
    this.url = opts.url;
    this.peerName = opts.peerName ?? opts.url;
    const peer = this.peerName;
    const common = {
      url: opts.url,
      token: opts.token ?? null,
      timeoutMs: opts.timeoutMs ?? 30_000,
      failures: (f: RpcFailure, method: string | null) => nodeRpcError(peer, f, method),
    };
    const max = opts.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
    this.transport = /^wss?:/i.test(opts.url)
      ? new WsTransport({
          ...common,
          ...WS_TIMINGS,
          refusedRetryMs: WS_TIMINGS.backoffMaxMs,
          maxFrameBytes: max,
          label: peer,
        })
      : new HttpTransport({ ...common, maxAnswerBytes: max });
  }

  async call<T = unknown>(method: string, params: readonly unknown[], opts: CallOptions = {}): Promise<T> {
    return (await this.transport.call(method, params, opts)) as T;
  }

  /** Ends the WebSocket (if any) and the calls in flight; an HTTP client needs no closing. */
  close(): void {
    this.transport.close();
  }
}
