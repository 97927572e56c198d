/**
 * The node's HTTP server: JSON-RPC at `/rpc/v0` (HTTP POST and WebSocket), `/healthcheck`, `/metrics`.
 *
 * Authentication: `Authorization: Bearer <token>` (or `?token=` on a WebSocket upgrade, which browsers
 * and some clients need; a `?token=` on anything else is refused, so a token is not left in proxy and
 * access logs by a call that would not have used it). No token: read permission if `anonymousRead`,
 * nothing otherwise. A token that is present but invalid is refused outright (HTTP 401), so a typo is
 * not silently downgraded to anonymous.
 *
 * Nothing a client sends may take the process down: the request target is parsed without throwing (a
 * target that is not a path answers 400), and every request and upgrade handler runs under a guard
 * that turns any exception into a 500 for that request and a log line.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/metrics.js";
import { errorMessage, SmError } from "../util/errors.js";
import { linkSignals } from "../util/signal.js";
import { verifyToken } from "./auth.js";
import type { Dispatcher, JsonRpcResponse } from "./dispatch.js";
import { RPC_INTERNAL_ERROR, RPC_INVALID_REQUEST, rpcCodeFor } from "./errors.js";
import type { MethodContext, Permission } from "./method.js";

/** Largest request body or WebSocket message: a batched lookup of 100k sectors is ~4 MiB. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

/**
 * Most request-body bytes held at once across all HTTP requests (a body is held from its first byte
 * until its answer is sent), and per client address. Past either a request is answered 503, so many
 * clients sending large bodies together cannot grow the node without bound, and one client (however
 * slowly it sends) cannot take the whole budget from the others: 8 bodies of the largest size fit
 * in all, 2 per address.
 */
export const MAX_BUFFERED_BYTES = 8 * MAX_BODY_BYTES;
export const MAX_BUFFERED_BYTES_PER_CLIENT = 2 * MAX_BODY_BYTES;

export interface ListenAddress {
  host: string;
  port: number;
}

export interface RpcServerOptions {
  listen: ListenAddress;
  dispatcher: Dispatcher;
  secret: Buffer;
  anonymousRead: boolean;
  logger: Logger;
  metrics?: Metrics;
  /** Extra fields for /healthcheck. */
  health?: () => Record<string, unknown>;
  /** JSON-RPC paths (default ["/rpc/v0"]; the devnet serves Lotus's "/rpc/v1"). */
  paths?: readonly string[];
  /**
   * Largest request body or WebSocket message (default MAX_BODY_BYTES). The devnet raises it: a
   * SubmitWindowedPoSt carrying the vanilla proofs of 3 full 32 GiB partitions is ~235 MB of JSON.
   */
  maxBodyBytes?: number;
  /** Defaults MAX_BUFFERED_BYTES and MAX_BUFFERED_BYTES_PER_CLIENT (tests set them lower). */
  maxBufferedBytes?: number;
  maxBufferedBytesPerClient?: number;
  /**
   * Other HTTP routes (the dashboard, src/ui): asked before the JSON-RPC paths; returns true when it
   * answered the request. `authenticate(queryAllowed)` applies this server's token rules (with
   * `?token=` accepted when queryAllowed, for EventSource, which cannot set headers).
   */
  extraRoutes?: ExtraRoutes;
}

export type ExtraRoutes = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: RequestTarget,
  authenticate: (queryAllowed: boolean) => ReadonlySet<Permission> | SmError,
) => boolean;

export interface RpcServer {
  readonly address: ListenAddress;
  /** Bound to the wildcard address (every network interface), e.g. by `--listen=:1789`. */
  readonly allInterfaces: boolean;
  close(): Promise<void>;
}

const NO_PERMS: ReadonlySet<Permission> = new Set();
const READ_ONLY: ReadonlySet<Permission> = new Set(["read"]);

/** Path and query of a request target. */
export interface RequestTarget {
  pathname: string;
  query: URLSearchParams;
}

/**
 * The path and query of a request target, or undefined when it is neither a path (`/rpc/v0?x`, the
 * origin form) nor an absolute http(s)/ws(s) URL (the absolute form proxies send). Never throws: the
 * target is whatever bytes the client put on the request line (`//`, `http://[::1`, `//a:99999/x`).
 */
export function parseRequestTarget(raw: string | undefined): RequestTarget | undefined {
  const t = raw ?? "";
  try {
    if (t.startsWith("/")) {
      // Origin form: always a path, even when it starts with "//" (which `new URL(t, base)` would
      // read as a host).
      const u = new URL(`http://x${t}`);
      return { pathname: u.pathname, query: u.searchParams };
    }
    if (/^(https?|wss?):\/\//i.test(t)) {
      const u = new URL(t);
      return { pathname: u.pathname, query: u.searchParams };
    }
  } catch {
    // not a URL at all
  }
  return undefined;
}

/** A client's text in a message, cut short: a request line can be kilobytes. */
function clip(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function badTargetText(req: http.IncomingMessage, paths: string): string {
  return `bad request target ${JSON.stringify(clip(req.url ?? ""))}: use a path such as ${paths}, /healthcheck or /metrics\n`;
}

/** The token of a request: the Authorization header, or `?token=` where `queryAllowed` (WebSocket upgrades). */
function tokenFrom(
  req: http.IncomingMessage,
  target: RequestTarget,
  queryAllowed: boolean,
): string | undefined | SmError {
  const h = req.headers.authorization;
  if (h) {
    const m = /^Bearer\s+(.+)$/i.exec(h.trim());
    return m ? m[1] : h.trim();
  }
  const q = target.query.get("token");
  if (q === null) return undefined;
  if (!queryAllowed)
    return new SmError(
      "RPC_UNAUTHENTICATED",
      "a token in the URL (?token=) is accepted only on a WebSocket upgrade; send it as the header Authorization: Bearer <token>",
    );
  return q;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export async function startRpcServer(opts: RpcServerOptions): Promise<RpcServer> {
  const log = opts.logger;
  const paths = new Set(opts.paths ?? ["/rpc/v0"]);
  const pathList = [...paths].join(" or ");
  const shutdown = new AbortController();
  const maxBuffered = opts.maxBufferedBytes ?? MAX_BUFFERED_BYTES;
  const maxPerClient = opts.maxBufferedBytesPerClient ?? MAX_BUFFERED_BYTES_PER_CLIENT;
  const maxBody = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  /** Request-body bytes held right now, across all requests and per remote address. */
  let buffered = 0;
  const bufferedBy = new Map<string, number>();

  const authenticate = (
    req: http.IncomingMessage,
    target: RequestTarget,
    upgrade: boolean,
  ): ReadonlySet<Permission> | SmError => {
    const token = tokenFrom(req, target, upgrade);
    if (token instanceof SmError) return token;
    if (token === undefined || token === "") return opts.anonymousRead ? READ_ONLY : NO_PERMS;
    try {
      return verifyToken(opts.secret, token);
    } catch (e) {
      return e instanceof SmError ? e : new SmError("RPC_UNAUTHENTICATED", errorMessage(e));
    }
  };

  const unauthorized = (e: SmError): JsonRpcResponse => ({
    jsonrpc: "2.0",
    id: null,
    error: { code: rpcCodeFor(e.code), message: e.message, data: { code: e.code } },
  });

  /** Logs an exception of a handler; answers 500 if nothing was sent yet, else drops the connection. */
  const failed = (req: http.IncomingMessage, res: http.ServerResponse, e: unknown) => {
    log.error("rpc request handler failed", {
      method: req.method,
      target: clip(req.url ?? ""),
      err: errorMessage(e),
    });
    try {
      if (!res.headersSent)
        sendJson(res, 500, {
          jsonrpc: "2.0",
          id: null,
          error: { code: RPC_INTERNAL_ERROR, message: `internal error: ${errorMessage(e)}` },
        });
      else res.destroy();
    } catch {
      res.destroy();
    }
  };
  /** `fn` with any exception it throws turned into a 500 for this request. */
  const guarded =
    <A extends unknown[]>(req: http.IncomingMessage, res: http.ServerResponse, fn: (...a: A) => void) =>
    (...a: A) => {
      try {
        fn(...a);
      } catch (e) {
        failed(req, res, e);
      }
    };

  const server = http.createServer((req, res) => guarded(req, res, handleRequest)(req, res));
  function handleRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = parseRequestTarget(req.url);
    if (!url) {
      req.resume();
      res
        .writeHead(400, { "content-type": "text/plain", connection: "close" })
        .end(badTargetText(req, pathList));
      return;
    }
    if (url.pathname === "/healthcheck" && (req.method === "GET" || req.method === "HEAD")) {
      sendJson(res, 200, { ok: true, ...(opts.health?.() ?? {}) });
      return;
    }
    if (url.pathname === "/metrics" && req.method === "GET") {
      if (!opts.metrics) {
        res.writeHead(404).end();
        return;
      }
      opts.metrics.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { "content-type": opts.metrics?.registry.contentType ?? "text/plain" });
          res.end(text);
        })
        .catch((e) => failed(req, res, e));
      return;
    }
    if (opts.extraRoutes?.(req, res, url, (q) => authenticate(req, url, q))) return;
    if (!paths.has(url.pathname)) {
      res
        .writeHead(404, { "content-type": "text/plain" })
        .end(`not found: the JSON-RPC endpoint is ${pathList}\n`);
      return;
    }
    if (req.method !== "POST") {
      res
        .writeHead(405, { allow: "POST", "content-type": "text/plain" })
        .end(`use POST (or a WebSocket upgrade) on ${url.pathname}\n`);
      return;
    }
    const perms = authenticate(req, url, false);
    if (perms instanceof SmError) {
      req.resume();
      sendJson(res, 401, unauthorized(perms));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    let held = 0;
    const client = req.socket.remoteAddress ?? "?";
    const release = () => {
      buffered -= held;
      const left = (bufferedBy.get(client) ?? 0) - held;
      if (left > 0) bufferedBy.set(client, left);
      else bufferedBy.delete(client);
      held = 0;
    };
    res.on("close", release);
    req.on(
      "data",
      guarded(req, res, (c: Buffer) => {
        if (tooBig) return;
        const mine = bufferedBy.get(client) ?? 0;
        if (buffered + c.length > maxBuffered || mine + c.length > maxPerClient) {
          tooBig = true;
          chunks.length = 0;
          const why =
            mine + c.length > maxPerClient
              ? `this client (${client}) already has ${Math.round(mine / 2 ** 20)} MiB of requests being read`
              : `the node is busy reading ${Math.round(buffered / 2 ** 20)} MiB of other requests`;
          release();
          log.warn("request refused: too many request bytes held at once", {
            remote: client,
            held_bytes: buffered,
            client_bytes: mine,
          });
          res.setHeader("retry-after", "1");
          sendJson(res, 503, {
            jsonrpc: "2.0",
            id: null,
            error: { code: RPC_INTERNAL_ERROR, message: `${why}; retry in a moment, with smaller batches` },
          });
          req.destroy();
          return;
        }
        buffered += c.length;
        bufferedBy.set(client, mine + c.length);
        held += c.length;
        size += c.length;
        if (size > maxBody) {
          tooBig = true;
          chunks.length = 0;
          release();
          sendJson(res, 413, {
            jsonrpc: "2.0",
            id: null,
            error: {
              code: RPC_INVALID_REQUEST,
              message: `request body over ${maxBody} bytes; split the call into smaller batches`,
            },
          });
          req.destroy();
          return;
        }
        chunks.push(c);
      }),
    );
    req.on("error", () => {});
    req.on(
      "end",
      guarded(req, res, () => {
        if (tooBig) return;
        const callAbort = new AbortController();
        // One per request, on the server's long-lived shutdown signal: unlinked when the answer is
        // out (util/signal.ts says why not AbortSignal.any).
        const call = linkSignals([shutdown.signal, callAbort.signal]);
        res.on("close", () => {
          callAbort.abort();
          call.done();
        });
        const ctx: MethodContext = {
          perms,
          signal: call.signal,
          remote: req.socket.remoteAddress ?? "?",
        };
        opts.dispatcher
          .handleText(Buffer.concat(chunks).toString("utf8"), ctx)
          .then((out) => {
            if (res.writableEnded || res.destroyed) return;
            if (out === undefined) res.writeHead(204).end();
            else sendJson(res, 200, out);
          })
          .catch((e) => {
            if (!res.writableEnded && !res.destroyed) failed(req, res, e);
          });
      }),
    );
  }
  server.headersTimeout = 30_000;
  server.requestTimeout = 120_000;
  server.keepAliveTimeout = 60_000;

  const wss = new WebSocketServer({ noServer: true, maxPayload: maxBody });
  /** Refuses an upgrade with a plain HTTP answer and closes the socket. */
  const refuseUpgrade = (socket: Duplex, status: string, text: string) => {
    if (socket.destroyed) return;
    const body = Buffer.from(text);
    socket.end(
      `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n${text}`,
    );
  };
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => {});
    try {
      handleUpgrade(req, socket, head);
    } catch (e) {
      log.error("rpc upgrade handler failed", { target: clip(req.url ?? ""), err: errorMessage(e) });
      try {
        refuseUpgrade(socket, "500 Internal Server Error", `internal error: ${errorMessage(e)}\n`);
      } catch {
        socket.destroy();
      }
    }
  });
  function handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = parseRequestTarget(req.url);
    if (!url) {
      refuseUpgrade(socket, "400 Bad Request", badTargetText(req, pathList));
      return;
    }
    if (!paths.has(url.pathname)) {
      refuseUpgrade(socket, "404 Not Found", `not found: the JSON-RPC endpoint is ${pathList}\n`);
      return;
    }
    const perms = authenticate(req, url, true);
    if (perms instanceof SmError) {
      refuseUpgrade(socket, "401 Unauthorized", `${perms.message}\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connAbort = new AbortController();
      const connSignal = AbortSignal.any([shutdown.signal, connAbort.signal]);
      const channels = new Map<number, { requestId: unknown; stop: AbortController }>();
      let nextChannel = 1;
      const sendJson = (o: unknown) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(o));
      };
      const ctx: MethodContext = {
        perms,
        signal: connSignal,
        remote: req.socket.remoteAddress ?? "?",
        openChannel(requestId, channel) {
          const id = nextChannel++;
          const stop = new AbortController();
          const signal = AbortSignal.any([connSignal, stop.signal]);
          channels.set(id, { requestId, stop });
          // Start after the response carrying the channel id has been written.
          setImmediate(() => {
            channel
              .run(
                (value) => sendJson({ jsonrpc: "2.0", method: "xrpc.ch.val", params: [id, value] }),
                signal,
              )
              .catch((e) => {
                if (!signal.aborted) log.warn("rpc channel failed", { channel: id, err: errorMessage(e) });
              })
              .finally(() => {
                channels.delete(id);
                sendJson({ jsonrpc: "2.0", method: "xrpc.ch.close", params: [id] });
              });
          });
          return id;
        },
        cancelRequest(requestId) {
          for (const c of channels.values()) if (c.requestId === requestId) c.stop.abort();
        },
      };
      ws.on("message", (data, isBinary) => {
        try {
          const text = isBinary ? Buffer.from(data as Buffer).toString("utf8") : data.toString();
          opts.dispatcher
            .handleText(text, ctx)
            .then((out) => {
              if (out !== undefined && ws.readyState === ws.OPEN) ws.send(JSON.stringify(out));
            })
            .catch((e) => log.error("rpc ws dispatch failed", { err: errorMessage(e) }));
        } catch (e) {
          log.error("rpc ws message handler failed", { err: errorMessage(e) });
          ws.close(1011, "internal error");
        }
      });
      ws.on("close", () => connAbort.abort());
      ws.on("error", (e) => log.debug("rpc ws connection error", { err: e.message }));
    });
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once("error", onError);
    server.listen(opts.listen.port, opts.listen.host === "" ? undefined : opts.listen.host, () => {
      server.off("error", onError);
      resolve();
    });
  }).catch((e) => {
    const code = (e as { code?: string }).code;
    const where = `${opts.listen.host || "*"}:${opts.listen.port}`;
    if (code === "EADDRINUSE")
      throw new SmError(
        "RPC_LISTEN_FAILED",
        `cannot listen on ${where}: the address is already in use; stop the other process or choose another --listen`,
      );
    if (code === "EADDRNOTAVAIL")
      throw new SmError(
        "RPC_LISTEN_FAILED",
        `cannot listen on ${where}: no such local address; fix --listen`,
      );
    if (code === "EACCES")
      throw new SmError(
        "RPC_LISTEN_FAILED",
        `cannot listen on ${where}: permission denied (ports below 1024 need privileges); choose another --listen`,
      );
    throw new SmError("RPC_LISTEN_FAILED", `cannot listen on ${where}: ${errorMessage(e)}`);
  });
  const addr = server.address() as AddressInfo;
  server.on("error", (e) => log.error("rpc server error", { err: e.message }));

  let closed: Promise<void> | undefined;
  return {
    address: { host: opts.listen.host, port: addr.port },
    // What the socket is bound to, not what was asked: "0", "[::0]" or "" all end up here.
    allInterfaces: addr.address === "::" || addr.address === "0.0.0.0" || addr.address === "::ffff:0.0.0.0",
    close() {
      closed ??= new Promise<void>((resolve) => {
        shutdown.abort();
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
