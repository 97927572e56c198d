/**
 * One JSON-RPC call over HTTP POST: the fallback when no WebSocket can be opened (rpc.ts).
 *
 * go-jsonrpc (server.go `rpcError`) answers method errors with HTTP 500 and a JSON-RPC error body,
 * so the body is read whatever the status. Lotus' auth handler answers a rejected token with a bare
 * 401. Long waits over HTTP are bounded by Node's fetch (undici) header timeout of 300 s, which is why
 * the WebSocket is preferred for StateWaitMsg/WaitMessage.
 */
import { abortError, SmError } from "../../util/errors.js";
import { badResponse } from "./decode.js";
import type { ApiEndpoint } from "./endpoint.js";
import { causeText, rpcErrorOf, unreachableError } from "./rpcErrors.js";

export interface HttpCallContext {
  endpoint: ApiEndpoint;
  label: string;
  headers: Record<string, string>;
  /** 0 = no limit. */
  timeoutMs: number;
  /** Aborted when the client is closed. */
  closing: AbortSignal;
  /** Why the WebSocket could not be used, added to an unreachable message. */
  wsProblem: string | null;
}

export async function httpCall(
  ctx: HttpCallContext,
  request: { jsonrpc: "2.0"; id: number; method: string; params: readonly unknown[] },
  callerSignal: AbortSignal | undefined,
): Promise<unknown> {
  const { endpoint, label, timeoutMs } = ctx;
  const { method } = request;
  const url = endpoint.httpUrl;
  const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : null;
  const signals = [callerSignal, timeout, ctx.closing].filter((s): s is AbortSignal => s != null);
  const unreachable = (message: string, fields: Record<string, unknown> = {}): SmError =>
    unreachableError(endpoint.key, message, { method, ...fields });
  const failed = (e: unknown): SmError => {
    if (callerSignal?.aborted) return abortError(callerSignal, `${method} aborted`);
    if (ctx.closing.aborted) return unreachable(`${label} client is closed`);
    if (timeout?.aborted) {
      return unreachable(`${label} did not answer ${method} within ${timeoutMs} ms`, { reason: "timeout" });
    }
    const ws = ctx.wsProblem === null ? "" : ` (WebSocket: ${ctx.wsProblem})`;
    return unreachable(`cannot reach ${label} at ${url}: ${causeText(e)}${ws}`);
  };
  let status: number;
  let text: string;
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { ...ctx.headers, "Content-Type": "application/json" },
      body: JSON.stringify(request),
      signal: AbortSignal.any(signals),
    });
    status = res.status;
    text = await res.text();
  } catch (e) {
    throw failed(e);
  }
  if (status === 401 || status === 403) {
    throw new SmError(
      "CHAIN_RPC_ERROR",
      `${label} at ${url} refused ${method} with HTTP ${status}: check the API token ` +
        `(the TOKEN: prefix of ${endpoint.key} or Common.API.Token)`,
      { method, httpStatus: status, endpoint: endpoint.key },
    );
  }
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    // A proxy's 502/503 page: the node behind it is what cannot be reached.
    if (status >= 500) throw unreachable(`${label} at ${url} answered HTTP ${status}`);
    throw badResponse(method, "", `is not JSON (HTTP ${status} from ${url})`);
  }
  if (typeof m !== "object" || m === null || Array.isArray(m))
    throw badResponse(method, "", "is not a JSON object");
  const r = m as Record<string, unknown>;
  if (r.error !== undefined && r.error !== null) throw rpcErrorOf(label, endpoint.key, method, r.error);
  if (!Object.hasOwn(r, "result"))
    throw badResponse(method, "", `has neither result nor error (HTTP ${status})`);
  return r.result;
}
