/**
 * JSON-RPC client over HTTP POST (what damocles proxies and workers use against `/rpc/v0`).
 *
 * Every failure is an SmError that says which peer and what to do: unreachable (connection refused,
 * DNS, timeout), a non-JSON answer, or the peer's own JSON-RPC error (RpcError, with the peer's code).
 * Node's fetch keeps connections alive, so a burst of calls reuses one socket.
 */
import { errorMessage, SmError, TimeoutError } from "../util/errors.js";
import { RPC_METHOD_NOT_FOUND, RpcError } from "./errors.js";

export interface RpcClientOptions {
  /** Full URL, e.g. http://127.0.0.1:1789/rpc/v0 */
  url: string;
  token?: string;
  /** Per-call time limit (default 30 s). */
  timeoutMs?: number;
  /** Who the peer is, for messages ("source node 127.0.0.1:1789"). */
  peerName?: string;
}

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

function causeCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === "string") return c;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

export class RpcClient {
  private nextId = 1;
  readonly url: string;
  readonly peerName: string;

  constructor(private readonly opts: RpcClientOptions) {
    this.url = opts.url;
    this.peerName = opts.peerName ?? opts.url;
  }

  async call<T = unknown>(method: string, params: readonly unknown[], opts: CallOptions = {}): Promise<T> {
    const id = this.nextId++;
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs ?? 30_000;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.url, {
        method: "POST",
        headers,
        body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
        signal,
      });
      text = await res.text();
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? e;
      if (timeout.aborted) {
        throw new TimeoutError(`${this.peerName} did not answer ${method} within ${timeoutMs} ms`, {
          peer: this.peerName,
          method,
        });
      }
      const code = causeCode(e);
      const why =
        code === "ECONNREFUSED"
          ? "connection refused (is the node running and listening there?)"
          : code === "ENOTFOUND" || code === "EAI_AGAIN"
            ? "host name does not resolve"
            : code === "ECONNRESET" || code === "UND_ERR_SOCKET"
              ? "connection reset"
              : errorMessage(e);
      throw new SmError("RPC_UNREACHABLE", `cannot reach ${this.peerName}: ${why}`, {
        peer: this.peerName,
        method,
        cause: code,
      });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new SmError(
        "RPC_BAD_RESPONSE",
        `${this.peerName} answered ${method} with HTTP ${res.status} and a body that is not JSON: ${text.slice(0, 120)}`,
      );
    }
    const b = body as {
      result?: unknown;
      error?: { code?: unknown; message?: unknown; data?: { code?: unknown } };
    };
    if (b && typeof b === "object" && b.error) {
      const rpcCode = typeof b.error.code === "number" ? b.error.code : 0;
      const msg = typeof b.error.message === "string" ? b.error.message : "unknown error";
      const dataCode = typeof b.error.data?.code === "string" ? b.error.data.code : undefined;
      const code = dataCode ?? (rpcCode === RPC_METHOD_NOT_FOUND ? "RPC_METHOD_NOT_FOUND" : undefined);
      throw new RpcError(rpcCode, msg, code, { peer: this.peerName, method });
    }
    if (!b || typeof b !== "object" || !("result" in b)) {
      throw new SmError(
        "RPC_BAD_RESPONSE",
        `${this.peerName} answered ${method} with HTTP ${res.status} but no JSON-RPC result`,
      );
    }
    return b.result as T;
  }
}
