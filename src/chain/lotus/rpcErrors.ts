/**
 * Error values shared by the WebSocket and HTTP transports (rpc.ts, httpTransport.ts).
 */
import { SmError } from "../../util/errors.js";

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

/** CHAIN_UNREACHABLE for the endpoint configured under `key`. */
export function unreachableError(
  key: string,
  message: string,
  fields: Record<string, unknown> = {},
): SmError {
  return new SmError("CHAIN_UNREACHABLE", message, { endpoint: key, ...fields });
}

/**
 * CHAIN_RPC_ERROR from a go-jsonrpc error object `{code, message, data?, meta?}` (go-jsonrpc
 * response.go JSONRPCError), keeping the node's text and code.
 */
export function rpcErrorOf(label: string, key: string, method: string, e: unknown): SmError {
  const o = typeof e === "object" && e !== null ? (e as Record<string, unknown>) : {};
  const message = typeof o.message === "string" ? o.message : JSON.stringify(e);
  const code = typeof o.code === "number" ? o.code : null;
  return new SmError("CHAIN_RPC_ERROR", `${label}: ${method} failed: ${message}`, {
    method,
    rpcCode: code,
    rpcMessage: message,
    endpoint: key,
  });
}
