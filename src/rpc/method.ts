/**
 * JSON-RPC method definitions: each method is declared once with its permission, its parameter
 * checks and its handler. The server dispatches from this table; `Venus.` is the namespace, as in
 * damocles (go-jsonrpc namespace `Venus`, positional params, PascalCase struct keys).
 */
import { InvalidParamsError } from "./errors.js";

/** Permissions in increasing power; a token allowing one level allows the ones below it. */
export const PERMISSIONS = ["read", "write", "sign", "admin"] as const;
export type Permission = (typeof PERMISSIONS)[number];

/**
 * A method result that streams values to the caller, as go-jsonrpc channels do (Lotus `ChainNotify`):
 * over a WebSocket the caller receives a channel id, then `xrpc.ch.val [id, value]` notifications, and
 * `xrpc.ch.close [id]` when `run` returns, throws, or the channel is cancelled (the caller's
 * `xrpc.cancel [requestId]`, the socket closing, or the server shutting down: `signal` aborts).
 */
export class ChannelResult {
  constructor(readonly run: (send: (value: unknown) => void, signal: AbortSignal) => Promise<void>) {}
}

export interface MethodContext {
  /** Permissions of the caller's token (read only when anonymous and anonymous reads are allowed). */
  perms: ReadonlySet<Permission>;
  /** Aborted when the client goes away or the server shuts down. */
  signal: AbortSignal;
  /** Remote address, for logs. */
  remote: string;
  /** Present on WebSocket connections: start a channel for the request `requestId`, returning its id. */
  openChannel?: (requestId: string | number | null, channel: ChannelResult) => number;
  /** Present on WebSocket connections: `xrpc.cancel` of a request (stops its channel). */
  cancelRequest?: (requestId: unknown) => void;
}

export interface MethodDef {
  perm: Permission;
  /** One line, shown in docs and `Venus.Methods`-style listings. */
  doc: string;
  handler(params: readonly unknown[], ctx: MethodContext): Promise<unknown>;
}

export type MethodTable = Record<string, MethodDef>;

// Parameter checks: each throws InvalidParamsError naming the parameter and what is expected.
// Every type is checked as it is: no coercion ("yes" is not a boolean, "2" is not a number).

/** A parameter's value for a message, cut short: a client can send megabytes where a number belongs. */
export function showParam(v: unknown): string {
  if (v === undefined) return "nothing";
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

export function arity(params: readonly unknown[], min: number, max = min): void {
  if (params.length < min || params.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw new InvalidParamsError(`expected ${want} positional parameter(s), got ${params.length}`);
  }
}

export function uintParam(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new InvalidParamsError(`${what} must be a non-negative integer, got ${showParam(v)}`);
  }
  return v;
}

export function stringParam(v: unknown, what: string): string {
  if (typeof v !== "string") throw new InvalidParamsError(`${what} must be a string, got ${showParam(v)}`);
  return v;
}

export function objectParam(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new InvalidParamsError(`${what} must be an object, got ${showParam(v)}`);
  }
  return v as Record<string, unknown>;
}

export function arrayParam(v: unknown, what: string, maxLength: number): unknown[] {
  if (!Array.isArray(v)) throw new InvalidParamsError(`${what} must be an array, got ${showParam(v)}`);
  if (v.length > maxLength)
    throw new InvalidParamsError(`${what} has ${v.length} entries; at most ${maxLength} per call`);
  return v;
}

export function boolParam(v: unknown, what: string): boolean {
  if (typeof v !== "boolean")
    throw new InvalidParamsError(`${what} must be true or false, got ${showParam(v)}`);
  return v;
}

/**
 * An options object with only the given keys, matched case-insensitively as Go's encoding/json does
 * (`{"slow": true}` is `Slow`). An unknown key is refused, so a typo does not silently fall back to a
 * default. Returns the values under their canonical names; absent keys are undefined.
 */
export function optionsParam<K extends string>(
  v: unknown,
  what: string,
  keys: readonly K[],
): Partial<Record<K, unknown>> {
  const o = objectParam(v, what);
  const out: Partial<Record<K, unknown>> = {};
  for (const [k, value] of Object.entries(o)) {
    const key = keys.find((c) => c.toLowerCase() === k.toLowerCase());
    if (key === undefined)
      throw new InvalidParamsError(
        `${what} has an unknown key ${showParam(k)}; the keys are ${keys.join(", ")}`,
      );
    out[key] = value;
  }
  return out;
}
