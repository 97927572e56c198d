/**
 * JSON-RPC client over HTTP POST (what damocles proxies and workers use against `/rpc/v0`).
 *
 * Every failure is an SmError that says which peer and what to do: unreachable (connection refused,
 * DNS, timeout), a non-JSON answer, an answer larger than `maxAnswerBytes`, or the peer's own JSON-RPC
 * error (RpcError, with the peer's code). Node's fetch keeps connections alive, so a burst of calls
 * reuses one socket.
 *
 * The answer is read as a stream and dropped as soon as it passes `maxAnswerBytes`, so a peer that
 * sends hundreds of megabytes costs at most that much memory, never the whole answer. The peer's error
 * text is kept (bounded to MAX_PEER_MESSAGE characters); callers that relay a peer's errors to their own
 * callers (the proxy) must wrap them, not forward them.
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
  /** Largest answer body read, in bytes (default DEFAULT_MAX_ANSWER_BYTES); a larger one is an error. */
  maxAnswerBytes?: number;
}

/** 64 MiB: ten times the largest answer of our own methods in normal use (a 100k-sector FindMany). */
export const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024 * 1024;
/** A peer's error message is cut to this many characters. */
export const MAX_PEER_MESSAGE = 2000;

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** The body of `res`, read chunk by chunk; throws RPC_ANSWER_TOO_LARGE past `max` bytes without reading on. */
async function readBounded(res: Response, max: number, peer: string, method: string): Promise<string> {
  const tooLarge = (what: string) =>
    new SmError(
      "RPC_ANSWER_TOO_LARGE",
      `${peer} answered ${method} with ${what}, more than the ${max}-byte limit of this client; the answer was dropped`,
      { peer, method, limit: max },
    );
  const declared = Number(res.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge(`${declared} bytes`);
  }
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw tooLarge(`over ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total).toString("utf8");
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
      text = await readBounded(
        res,
        this.opts.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES,
        this.peerName,
        method,
      );
    } catch (e) {
      if (e instanceof SmError && e.code === "RPC_ANSWER_TOO_LARGE") throw e;
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
        `${this.peerName} answered ${method} with HTTP ${res.status} and a body that is not JSON: ${JSON.stringify(text.slice(0, 120))}`,
        { peer: this.peerName, method, status: res.status },
      );
    }
    const b = body as {
      result?: unknown;
      error?: { code?: unknown; message?: unknown; data?: { code?: unknown } };
    };
    if (b && typeof b === "object" && b.error) {
      const rpcCode = typeof b.error.code === "number" ? b.error.code : 0;
      const raw = typeof b.error.message === "string" ? b.error.message : "unknown error";
      const msg = raw.length > MAX_PEER_MESSAGE ? `${raw.slice(0, MAX_PEER_MESSAGE)}…` : raw;
      const dataCode = typeof b.error.data?.code === "string" ? b.error.data.code : undefined;
      const code = dataCode ?? (rpcCode === RPC_METHOD_NOT_FOUND ? "RPC_METHOD_NOT_FOUND" : undefined);
      throw new RpcError(rpcCode, msg, code, { peer: this.peerName, method });
    }
    if (!b || typeof b !== "object" || !("result" in b)) {
      throw new SmError(
        "RPC_BAD_RESPONSE",
        `${this.peerName} answered ${method} with HTTP ${res.status} but no JSON-RPC result`,
        { peer: this.peerName, method, status: res.status },
      );
    }
    return b.result as T;
  }
}
