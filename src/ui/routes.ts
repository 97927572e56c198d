/**
 * The dashboard's HTTP routes, served through the RPC server's `extraRoutes` hook:
 * - `GET /api/dashboard`: the state as JSON;
 * - `GET /api/events`: Server-Sent Events, `event: state` at once, then on change (at most every
 *   500 ms) and at least every 5 s as a keep-alive; `?token=` accepted (EventSource sets no header);
 * - `GET /` and `GET /assets/<file>`: the page built into `dist/web/` (when that directory exists).
 *
 * The API needs read permission: anonymous when `[Common.RPC] AnonymousRead = true`, else a token.
 * The page itself holds no data and is served to anyone. Streams end when the client goes away and
 * when `close()` runs (before the server closes), so a shutdown never waits on an open page.
 */
import fs from "node:fs";
import type http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "../log/logger.js";
import { hasPermission } from "../rpc/auth.js";
import type { ExtraRoutes } from "../rpc/server.js";
import { errorMessage, SmError } from "../util/errors.js";
import type { DashboardModel } from "./state.js";
import type { DashboardState } from "./types.js";

/** The page's build output: dist/web beside the package (one level above both src/ and dist/). */
export const DEFAULT_UI_DIR = fileURLToPath(new URL("../../dist/web/", import.meta.url));

export interface UiRoutesOptions {
  model: DashboardModel;
  logger: Logger;
  /** Where the built page is; default DEFAULT_UI_DIR; null: no page. */
  staticDir?: string | null;
  /** Least time between two change events, and longest time without any (keep-alive). */
  minIntervalMs?: number;
  keepAliveMs?: number;
  /** Most streams open at once; more are answered 503. */
  maxStreams?: number;
}

export interface UiRoutes {
  handle: ExtraRoutes;
  /** Open event streams (tests). */
  readonly streams: number;
  /** Ends every stream and stops answering. */
  close(): void;
}

/** Bytes an event stream may have waiting to be sent before the client is let go. */
const MAX_UNSENT_BYTES = 1024 * 1024;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

/** The state without the fields that change on every snapshot (clock and lag): what a change is. */
function changeKey(s: DashboardState): string {
  return JSON.stringify({ ...s, node: { ...s.node, now: "" }, chain: { ...s.chain, lagSeconds: null } });
}

export function uiRoutes(opts: UiRoutesOptions): UiRoutes {
  const minInterval = opts.minIntervalMs ?? 500;
  const keepAlive = opts.keepAliveMs ?? 5_000;
  const maxStreams = opts.maxStreams ?? 64;
  const staticDir = opts.staticDir === undefined ? DEFAULT_UI_DIR : opts.staticDir;
  const streams = new Set<() => void>();
  let closed = false;

  const allowed = (
    res: http.ServerResponse,
    authenticate: Parameters<ExtraRoutes>[3],
    queryAllowed: boolean,
  ): boolean => {
    const perms = authenticate(queryAllowed);
    if (perms instanceof SmError) {
      sendJson(res, 401, { error: perms.message });
      return false;
    }
    if (!hasPermission(perms, "read")) {
      sendJson(res, 401, {
        error:
          "the dashboard needs a token with read permission (Authorization: Bearer <token>, or ?token= on /api/events), or [Common.RPC] AnonymousRead = true",
      });
      return false;
    }
    return true;
  };

  const events = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (streams.size >= maxStreams) {
      res.setHeader("retry-after", "5");
      sendJson(res, 503, {
        error: `too many open dashboards (${maxStreams}); close one or poll /api/dashboard`,
      });
      return;
    }
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      // A reverse proxy (nginx) would otherwise hold the events back.
      "x-accel-buffering": "no",
    });
    req.socket.setTimeout(0);
    let lastKey = "";
    let lastSent = 0;
    let pending: NodeJS.Timeout | undefined;
    const send = () => {
      pending = undefined;
      if (res.destroyed || res.writableEnded) return;
      try {
        const s = opts.model.snapshot();
        lastKey = changeKey(s);
        lastSent = Date.now();
        // A client that reads slower than the node writes would have states pile up in memory:
        // past 1 MiB unsent it is let go (the page reconnects, or polls).
        if (res.writableLength > MAX_UNSENT_BYTES) {
          opts.logger.warn("dashboard stream closed: the client does not keep up", {
            remote: req.socket.remoteAddress,
            unsent_bytes: res.writableLength,
          });
          res.destroy();
          return;
        }
        res.write(`event: state\ndata: ${JSON.stringify(s)}\n\n`);
      } catch (e) {
        opts.logger.warn("dashboard event failed", { err: errorMessage(e) });
      }
    };
    const onChange = () => {
      if (pending || res.destroyed) return;
      let key: string;
      try {
        key = changeKey(opts.model.snapshot());
      } catch {
        return;
      }
      if (key === lastKey) return;
      pending = setTimeout(send, Math.max(0, lastSent + minInterval - Date.now()));
    };
    const off = opts.model.onChange(onChange);
    const tick = setInterval(
      () => {
        if (Date.now() - lastSent >= keepAlive - 50) send();
      },
      Math.max(50, Math.floor(keepAlive / 5)),
    );
    const end = () => {
      if (!streams.delete(end)) return;
      off();
      clearInterval(tick);
      if (pending) clearTimeout(pending);
      if (!res.writableEnded) res.end();
    };
    streams.add(end);
    res.on("close", end);
    req.on("error", end);
    send();
  };

  /**
   * `rel` under `sub` of the page directory (dist/web: the page only; the node's own code compiles to
   * dist/ui). Only index.html and assets/ are ever served.
   */
  const serveFile = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    sub: "" | "assets",
    rel: string,
  ): boolean => {
    if (!staticDir) return false;
    const root = path.resolve(staticDir, sub);
    const file = path.resolve(root, rel);
    // No way out of the directory: "..", encoded or not, absolute paths, backslashes, NUL.
    if (!file.startsWith(root + path.sep) || rel.includes("\0") || rel.includes("\\")) return false;
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      return false;
    }
    if (!st.isFile()) return false;
    const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    const headers = {
      "content-type": TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream",
      // Revalidated on each load (cheap: a 304), so a node upgrade never leaves an old page running.
      "cache-control": "no-cache",
      etag,
      "x-content-type-options": "nosniff",
    };
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, headers).end();
      return true;
    }
    res.writeHead(200, { ...headers, "content-length": st.size });
    if (req.method === "HEAD") {
      res.end();
      return true;
    }
    fs.createReadStream(file)
      .on("error", (e) => {
        opts.logger.warn("dashboard file read failed", { file, err: e.message });
        res.destroy();
      })
      .pipe(res);
    return true;
  };

  const handle: ExtraRoutes = (req, res, url, authenticate) => {
    const p = url.pathname;
    if (p === "/api/dashboard" || p === "/api/events") {
      if (req.method !== "GET") {
        res.writeHead(405, { allow: "GET", "content-type": "text/plain" }).end(`use GET on ${p}\n`);
        return true;
      }
      if (closed) {
        sendJson(res, 503, { error: "the node is shutting down" });
        return true;
      }
      if (!allowed(res, authenticate, p === "/api/events")) return true;
      if (p === "/api/dashboard") sendJson(res, 200, opts.model.snapshot());
      else events(req, res);
      return true;
    }
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    if (p === "/" || p === "/index.html") {
      if (!serveFile(req, res, "", "index.html"))
        res
          .writeHead(404, { "content-type": "text/plain" })
          .end(
            `the dashboard page is not built (no ${staticDir ? path.join(staticDir, "index.html") : "page directory"}): run \`npm run build\`; the data is at /api/dashboard\n`,
          );
      return true;
    }
    if (p.startsWith("/assets/")) {
      let rel: string;
      try {
        rel = decodeURIComponent(p.slice("/assets/".length));
      } catch {
        return false;
      }
      if (!serveFile(req, res, "assets", rel)) {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      }
      return true;
    }
    return false;
  };

  return {
    handle,
    get streams() {
      return streams.size;
    },
    close() {
      closed = true;
      for (const end of [...streams]) end();
    },
  };
}
