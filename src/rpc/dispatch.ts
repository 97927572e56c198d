/**
 * JSON-RPC 2.0 dispatch: one request or a batch in, responses out. Transport-free (HTTP and WebSocket
 * both use it). Never throws: every failure becomes a JSON-RPC error object, so bad input from the
 * network cannot take the daemon down.
 */
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/metrics.js";
import { type ErrorCode, errorMessage, SmError } from "../util/errors.js";
import { hasPermission } from "./auth.js";
import {
  RPC_INTERNAL_ERROR,
  RPC_INVALID_PARAMS,
  RPC_INVALID_REQUEST,
  RPC_METHOD_NOT_FOUND,
  RPC_PARSE_ERROR,
  rpcCodeFor,
} from "./errors.js";
import { ChannelResult, type MethodContext, type MethodTable } from "./method.js";

type Id = string | number | null;

export interface JsonRpcError {
  code: number;
  message: string;
  data?: { code: string };
}

export interface JsonRpcResponse {
  jsonrpc: "2.0";
  id: Id;
  result?: unknown;
  error?: JsonRpcError;
}

/** Most requests in one batch; a larger batch is refused whole. */
export const MAX_BATCH = 1000;

/**
 * Deepest nesting of arrays and objects a request may have. Real requests nest a handful of levels (a
 * batch of Lotus messages with CIDs: 6); deeper input is refused before it is parsed, so no later
 * recursion over it (JSON.stringify of a parameter in an error message, a handler walking it) can
 * exhaust the stack.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether `text` nests arrays/objects deeper than `max`, counting brackets outside strings. Linear and
 * allocation-free; on malformed JSON the answer is only a bound, and JSON.parse reports the error.
 */
export function jsonDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \\ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  return false;
}

function errorResponse(id: Id, code: number, message: string, dataCode?: ErrorCode): JsonRpcResponse {
  return { jsonrpc: "2.0", id, error: { code, message, ...(dataCode ? { data: { code: dataCode } } : {}) } };
}

export interface Dispatcher {
  /** Handle a raw request body; undefined when nothing is to be sent back (only notifications). */
  handleText(text: string, ctx: MethodContext): Promise<JsonRpcResponse | JsonRpcResponse[] | undefined>;
}

export function createDispatcher(
  methods: MethodTable,
  deps: { logger: Logger; metrics?: Metrics },
): Dispatcher {
  const log = deps.logger;

  async function one(req: unknown, ctx: MethodContext): Promise<JsonRpcResponse | undefined> {
    if (typeof req !== "object" || req === null || Array.isArray(req)) {
      return errorResponse(
        null,
        RPC_INVALID_REQUEST,
        "invalid request: expected a JSON-RPC 2.0 request object",
      );
    }
    const r = req as Record<string, unknown>;
    const hasId = "id" in r;
    const id: Id = typeof r.id === "string" || typeof r.id === "number" ? r.id : null;
    if (hasId && r.id !== null && typeof r.id !== "string" && typeof r.id !== "number") {
      return errorResponse(
        null,
        RPC_INVALID_REQUEST,
        "invalid request: id must be a string, a number or null",
      );
    }
    if (r.jsonrpc !== "2.0")
      return errorResponse(id, RPC_INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"');
    if (typeof r.method !== "string")
      return errorResponse(id, RPC_INVALID_REQUEST, 'invalid request: "method" must be a string');
    const name = r.method;
    let params: unknown[];
    if (r.params === undefined || r.params === null) params = [];
    else if (Array.isArray(r.params)) params = r.params;
    else
      return errorResponse(
        id,
        RPC_INVALID_PARAMS,
        `${name}: params must be a positional array (named params are not supported)`,
      );

    if (name === "xrpc.cancel") {
      // go-jsonrpc's cancellation notification: stop the request's channel, if it opened one.
      ctx.cancelRequest?.(params[0]);
      return undefined;
    }
    const def = Object.hasOwn(methods, name) ? methods[name] : undefined;
    if (!def) {
      deps.metrics?.rpcRequests.inc({ method: "unknown", result: "not_found" });
      return hasId ? errorResponse(id, RPC_METHOD_NOT_FOUND, `method ${name} not found`) : undefined;
    }
    const end = deps.metrics?.rpcDuration.startTimer({ method: name });
    let response: JsonRpcResponse;
    let result = "ok";
    if (!hasPermission(ctx.perms, def.perm)) {
      result = "denied";
      response = errorResponse(
        id,
        rpcCodeFor("RPC_PERMISSION_DENIED"),
        `permission denied: ${name} needs the '${def.perm}' permission; call it with a token that has it (Authorization: Bearer, see <home>/token)`,
        "RPC_PERMISSION_DENIED",
      );
    } else {
      try {
        const value = await def.handler(params, ctx);
        if (value instanceof ChannelResult) {
          if (!ctx.openChannel) {
            throw new SmError(
              "RPC_NEEDS_WEBSOCKET",
              `${name} returns a channel: call it over a WebSocket connection to /rpc/v0 (or /rpc/v1)`,
            );
          }
          response = { jsonrpc: "2.0", id, result: ctx.openChannel(id, value) };
        } else {
          response = { jsonrpc: "2.0", id, result: value === undefined ? null : value };
        }
      } catch (e) {
        if (e instanceof SmError) {
          result = e.code === "RPC_INVALID_PARAMS" ? "invalid_params" : "error";
          const prefix = e.code === "RPC_INVALID_PARAMS" ? `${name}: invalid params: ` : "";
          response = errorResponse(id, rpcCodeFor(e.code), prefix + e.message, e.code);
        } else {
          result = "internal";
          log.error("rpc method failed", { method: name, err: errorMessage(e) });
          response = errorResponse(id, RPC_INTERNAL_ERROR, `internal error in ${name}: ${errorMessage(e)}`);
        }
      }
    }
    end?.();
    deps.metrics?.rpcRequests.inc({ method: name, result });
    return hasId ? response : undefined;
  }

  return {
    async handleText(text, ctx) {
      if (jsonDeeperThan(text, MAX_JSON_DEPTH)) {
        return errorResponse(
          null,
          RPC_INVALID_REQUEST,
          `invalid request: arrays and objects nested deeper than ${MAX_JSON_DEPTH} levels; no method takes such params`,
        );
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (e) {
        return errorResponse(null, RPC_PARSE_ERROR, `parse error: ${errorMessage(e)}`);
      }
      if (Array.isArray(body)) {
        if (body.length === 0)
          return errorResponse(null, RPC_INVALID_REQUEST, "invalid request: empty batch");
        if (body.length > MAX_BATCH) {
          return errorResponse(
            null,
            RPC_INVALID_REQUEST,
            `invalid request: batch of ${body.length} requests; at most ${MAX_BATCH}`,
          );
        }
        const out = (await Promise.all(body.map((r) => one(r, ctx)))).filter(
          (r): r is JsonRpcResponse => r !== undefined,
        );
        return out.length > 0 ? out : undefined;
      }
      return one(body, ctx);
    },
  };
}
