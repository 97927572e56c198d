/**
 * JSON-RPC over HTTP POST: one request per call (what damocles proxies and workers use against
 * `/rpc/v0`, and the chain client's fallback when no WebSocket can be had). Node's fetch keeps
 * connections alive, so a burst of calls reuses one socket.
 *
 * The body is read whatever the status: go-jsonrpc (server.go `rpcError`) answers method errors with
 * HTTP 500 and a JSON-RPC error body, and so does our server for its own errors. It is read as a
 * stream and dropped as soon as it passes `maxAnswerBytes`, so a peer that sends hundreds of megabytes
 * costs at most that much memory. Long waits are bounded by Node's fetch (undici) header timeout of
 * 300 s, which is why the chain client prefers the WebSocket for StateWaitMsg/WaitMessage.
 */
import {
  callSignal,
  type RpcCallOptions,
  type RpcFailure,
  type RpcTransport,
  readAnswer,
  requestHeaders,
  type TransportOptions,
} from "./transport.js";

export interface HttpTransportOptions extends TransportOptions {
  /** Largest answer body read, in bytes; a larger one is the `tooLarge` failure. */
  maxAnswerBytes: number;
  /** Statuses that are an answer by themselves, the body unread (Lotus' bare 401 for a bad token). */
  statusIsFailure?: (status: number) => boolean;
}

/** Thrown inside a call to carry a failure to the one place that words it. */
class Failed {
  constructor(readonly failure: RpcFailure) {}
}

/** The body of `res`, read chunk by chunk; the `tooLarge` failure past `max` bytes, without reading on. */
async function readBounded(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => {});
    throw new Failed({ kind: "tooLarge", declared, limit: max });
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
      throw new Failed({ kind: "tooLarge", declared: null, limit: max });
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total).toString("utf8");
}

export class HttpTransport implements RpcTransport {
  readonly url: string;
  private nextId = 1;
  /** Aborts the calls in flight when the transport is closed. */
  private readonly closing = new AbortController();
  private readonly headers: Record<string, string>;

  constructor(private readonly opts: HttpTransportOptions) {
    this.url = opts.url;
    this.headers = { ...requestHeaders(opts), "content-type": "application/json" };
  }

  get isClosed(): boolean {
    return this.closing.signal.aborted;
  }

  close(): void {
    this.closing.abort();
  }

  /**
   * Calls `method`. `note` says what was tried before (the chain client's failed WebSocket) and goes
   * into the `unreachable` failure.
   */
  async call(
    method: string,
    params: readonly unknown[],
    opts: RpcCallOptions = {},
    note: string | null = null,
  ): Promise<unknown> {
    const fail = (f: RpcFailure): Error => this.opts.failures(f, method);
    if (this.isClosed) throw fail({ kind: "closed" });
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs;
    const { signal, timedOut, done } = callSignal(opts.signal, timeoutMs, this.closing.signal);
    let status: number;
    let text: string;
    try {
      const res = await fetch(this.url, {
        method: "POST",
        headers: this.headers,
        body: JSON.stringify({ jsonrpc: "2.0", id: this.nextId++, method, params }),
        signal,
      });
      status = res.status;
      if (this.opts.statusIsFailure?.(status)) {
        await res.body?.cancel().catch(() => {});
        throw new Failed({ kind: "status", url: this.url, status });
      }
      text = await readBounded(res, this.opts.maxAnswerBytes);
    } catch (e) {
      if (e instanceof Failed) throw fail(e.failure);
      if (opts.signal?.aborted) throw fail({ kind: "aborted", signal: opts.signal });
      if (this.isClosed) throw fail({ kind: "closed" });
      if (timedOut()) throw fail({ kind: "timeout", timeoutMs });
      throw fail({ kind: "unreachable", url: this.url, cause: e, note });
    } finally {
      done();
    }
    let m: unknown;
    try {
      m = JSON.parse(text);
    } catch {
      throw fail({ kind: "notJson", url: this.url, status, text });
    }
    const a = readAnswer(m, status, opts.voidResult === true);
    if (!a.ok) throw fail(a.failure);
    return a.result;
  }
}
