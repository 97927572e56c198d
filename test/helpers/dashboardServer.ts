/**
 * A stand-in for the node's dashboard endpoints (dash14.md), for the page's browser test while the
 * real backend is developed alongside: it serves the built page from dist/web (`/` and
 * `/assets/<file>`), `GET /api/dashboard` and `GET /api/events` (SSE, `event: state`) with the same
 * token rules (Bearer header, or `?token=` on the event stream; 401 with `{error}`). The test sets
 * the state and the server pushes it to every open stream at once.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { DashboardState } from "../../ui/src/state.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
};

export interface DashboardServerOptions {
  /** The built page; dist/web by default. */
  root?: string;
  /** When set, every /api call needs this token. */
  token?: string;
  /**
   * false: /api/events answers 503, so the page must poll. "silent": the stream opens but never
   * carries an event (a buffering proxy), so the page must notice the silence and poll.
   */
  sse?: boolean | "silent";
}

export interface DashboardServer {
  url: string;
  setState(s: DashboardState): void;
  /** Every request seen: method, path with query, and whether it carried the right Bearer header. */
  requests: { path: string; bearer: boolean }[];
  close(): Promise<void>;
}

export async function startDashboardServer(
  initial: DashboardState,
  opts: DashboardServerOptions = {},
): Promise<DashboardServer> {
  const root = opts.root ?? path.resolve("dist", "web");
  if (!fs.existsSync(path.join(root, "index.html"))) {
    throw new Error(`${root}/index.html is missing: build the dashboard first (npm run build)`);
  }
  let state = initial;
  const streams = new Set<http.ServerResponse>();
  const silent = new Set<http.ServerResponse>();
  const requests: DashboardServer["requests"] = [];

  const send = (res: http.ServerResponse) => res.write(`event: state\ndata: ${JSON.stringify(state)}\n\n`);
  const keepAlive = setInterval(() => {
    for (const res of streams) send(res);
  }, 5000);

  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    const bearer = opts.token !== undefined && req.headers.authorization === `Bearer ${opts.token}`;
    requests.push({ path: u.pathname + u.search, bearer });
    const authorized = opts.token === undefined || bearer || u.searchParams.get("token") === opts.token;
    const file = (name: string) => {
      const p = path.join(root, name);
      if (!fs.existsSync(p)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": TYPES[path.extname(p)] ?? "application/octet-stream" });
      res.end(fs.readFileSync(p));
    };
    if (u.pathname === "/") return file("index.html");
    const asset = /^\/assets\/([A-Za-z0-9._-]+)$/.exec(u.pathname);
    if (asset) return file(path.join("assets", asset[1]!));
    if (u.pathname === "/api/dashboard" || u.pathname === "/api/events") {
      if (!authorized) {
        res.writeHead(401, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "this call needs a token with read permission" }));
        return;
      }
      if (u.pathname === "/api/dashboard") {
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
        res.end(JSON.stringify(state));
        return;
      }
      if (opts.sse === false) {
        res.writeHead(503, { "content-type": "application/json" }).end('{"error":"no events here"}');
        return;
      }
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        connection: "keep-alive",
      });
      res.flushHeaders();
      if (opts.sse === "silent") {
        silent.add(res);
        req.on("close", () => silent.delete(res));
        return;
      }
      streams.add(res);
      req.on("close", () => streams.delete(res));
      send(res);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    setState(s) {
      state = s;
      for (const res of streams) send(res);
    },
    async close() {
      clearInterval(keepAlive);
      for (const res of [...streams, ...silent]) res.end();
      streams.clear();
      silent.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
