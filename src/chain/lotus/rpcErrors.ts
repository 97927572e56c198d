/**
 * The errors of a call to a Lotus/Venus node or venus-messager: CHAIN_UNREACHABLE (cannot connect,
 * connection lost, timeout: says which endpoint and why), CHAIN_RPC_ERROR (the node's own error: its
 * message and code; also HTTP 401/403), CHAIN_BAD_RESPONSE (not JSON-RPC). Tokens go only into the
 * Authorization header, never into messages or logs.
 */
import { causeText, type RpcFailure } from "../../rpc/transport.js";
import { abortError, SmError } from "../../util/errors.js";
import { badResponse } from "./decode.js";
import type { ApiEndpoint } from "./endpoint.js";

/** `fields.reason` of the CHAIN_UNREACHABLE raised when the peer answered the upgrade without 101. */
export const WS_REFUSED = "websocket-refused";

/** Whether `e` says the peer answers HTTP but refused the WebSocket upgrade. */
export const isWsRefused = (e: unknown): boolean =>
  e instanceof SmError && e.code === "CHAIN_UNREACHABLE" && e.fields.reason === WS_REFUSED;

/** CHAIN_UNREACHABLE for the endpoint configured under `key`. */
function unreachableError(key: string, message: string, fields: Record<string, unknown> = {}): SmError {
  return new SmError("CHAIN_UNREACHABLE", message, { endpoint: key, ...fields });
}

/**
 * CHAIN_RPC_ERROR from a go-jsonrpc error object `{code, message, data?, meta?}` (go-jsonrpc
 * response.go JSONRPCError), keeping the node's text and code.
 */
function rpcErrorOf(label: string, key: string, method: string, e: unknown): SmError {
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

/** The error of failure `f` of a call to `label` ("chain node") at `endpoint`. */
export function chainRpcError(
  label: string,
  endpoint: ApiEndpoint,
  f: RpcFailure,
  m: string | null,
): SmError {
  const key = endpoint.key;
  const method = m ?? "";
  const unreachable = (message: string, fields: Record<string, unknown> = {}) =>
    unreachableError(key, message, m === null ? fields : { method, ...fields });
  const tokenHint = `check the API token (the TOKEN: prefix of ${key} or Common.API.Token)`;
  switch (f.kind) {
    case "closed":
      return unreachable(`${label} client is closed`);
    case "aborted":
      return abortError(f.signal, `${m ?? "connect"} aborted`);
    case "timeout":
      return unreachable(`${label} did not answer ${method} within ${f.timeoutMs} ms`, {
        reason: "timeout",
        method,
      });
    case "unreachable":
      return unreachable(
        `cannot reach ${label} at ${f.url}: ${causeText(f.cause)}${f.note === null ? "" : ` (WebSocket: ${f.note})`}`,
      );
    case "connect":
      if (f.status === 401 || f.status === 403)
        return unreachable(`${label} at ${f.url} refused the WebSocket with HTTP ${f.status}: ${tokenHint}`, {
          httpStatus: f.status,
        });
      if (f.status !== null)
        return unreachable(
          `${label} at ${f.url} refused the WebSocket upgrade (HTTP ${f.status}); it answers over HTTP only`,
          { reason: WS_REFUSED, httpStatus: f.status },
        );
      return unreachable(
        `cannot open a WebSocket to ${label} at ${f.url}: ${
          f.handshakeTimedOut
            ? `no answer to the upgrade within ${f.connectTimeoutMs} ms`
            : causeText(f.cause)
        }`,
      );
    case "lost":
      return unreachable(`connection to ${label} at ${f.url} lost: ${f.why}`);
    case "send":
      return unreachable(`cannot send ${method} to ${label}: ${causeText(f.cause)}`);
    case "status":
      return new SmError(
        "CHAIN_RPC_ERROR",
        `${label} at ${f.url} refused ${method} with HTTP ${f.status}: ${tokenHint}`,
        { method, httpStatus: f.status, endpoint: key },
      );
    case "tooLarge":
      return badResponse(
        method,
        "",
        `is ${f.declared === null ? `over ${f.limit}` : f.declared} bytes, more than the ${f.limit}-byte limit (dropped unread)`,
      );
    case "notJson":
      // A proxy's 502/503 page: the node behind it is what cannot be reached.
      if (f.status >= 500) return unreachable(`${label} at ${f.url} answered HTTP ${f.status}`);
      return badResponse(method, "", `is not JSON (HTTP ${f.status} from ${f.url})`);
    case "badFrame":
      return new SmError(
        "CHAIN_BAD_RESPONSE",
        `${label} at ${f.url} sent a frame that is not a JSON-RPC message (${f.detail})`,
        { endpoint: key },
      );
    case "notObject":
      return badResponse(method, "", "is not a JSON object");
    case "noResult":
      return badResponse(
        method,
        "",
        `has neither result nor error${f.status === null ? "" : ` (HTTP ${f.status})`}`,
      );
    case "badResult":
      return badResponse(method, "", f.why);
    case "peerError":
      return rpcErrorOf(label, key, method, f.error);
  }
}
