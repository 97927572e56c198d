/**
 * A loopback JSON-RPC server that answers like Lotus/go-jsonrpc: HTTP POST and WebSocket on one port,
 * recorded answers per method, go-jsonrpc errors (HTTP 500 + JSON-RPC error body), and go-jsonrpc's
 * channel protocol (result = channel id, then `xrpc.ch.val` / `xrpc.ch.close`; the client's
 * `xrpc.cancel` is recorded). Tests can drop every socket, or stop and restart on the same port.
 */
import { EventEmitter } from "node:events";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import WebSocket, { WebSocketServer } from "ws";

/** Thrown by a handler: answered as a JSON-RPC error. */
export class RpcFault extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Returned by a handler: sent verbatim as the response body / frame (malformed answers). */
export class Raw {
  constructor(readonly text: string) {}
}

/** Returned by a handler (WebSocket only): the method's result is a channel. */
export class FakeChannel {
  ws: WebSocket | null = null;
  chanId = -1;
  requestId: unknown = null;
  cancelled = false;
  readonly cancelledP: Promise<void>;
  private markCancelled!: () => void;
  constructor(readonly initial: unknown[] = []) {
    this.cancelledP = new Promise((r) => {
      this.markCancelled = r;
    });
  }
  send(value: unknown): void {
    this.ws?.send(JSON.stringify({ jsonrpc: "2.0", method: "xrpc.ch.val", params: [this.chanId, value] }));
  }
  close(): void {
    this.ws?.send(JSON.stringify({ jsonrpc: "2.0", method: "xrpc.ch.close", params: [this.chanId] }));
  }
  cancel(): void {
    this.cancelled = true;
    this.markCancelled();
  }
}

export type Handler = (params: unknown[], req: RecordedRequest) => unknown;

export interface RecordedRequest {
  transport: "http" | "ws";
  method: string;
  params: unknown[];
  headers: http.IncomingHttpHeaders;
}

export class FakeLotus {
  readonly requests: RecordedRequest[] = [];
  readonly cancels: unknown[] = [];
  readonly events = new EventEmitter();
  readonly sockets = new Set<WebSocket>();
  /** How upgrades are answered (the `ws` option of start); a test may change it (a proxy fixed). */
  wsMode: boolean | "reset" | "close" | "silent" = true;
  /** Upgrade requests received (answered or not). */
  upgrades = 0;
  /** Upgrades left unanswered (`ws: "silent"`), destroyed by close(). */
  private readonly held = new Set<Duplex>();
  private readonly channels: FakeChannel[] = [];
  private nextChan = 1;

  private constructor(
    readonly server: http.Server,
    readonly wss: WebSocketServer,
    readonly handlers: Record<string, Handler>,
    /** Token required in `Authorization: Bearer`; null = no check. */
    readonly token: string | null,
  ) {}

  /**
   * `ws: false` refuses WebSocket upgrades with HTTP 501 (an HTTP-only gateway or proxy in front of
   * the node). A proxy that drops them, HTTP POST still working: "reset" resets the connection (TCP
   * RST), "close" closes it with no answer, "silent" reads the upgrade and never answers.
   */
  static async start(
    handlers: Record<string, Handler>,
    opts: { port?: number; token?: string; ws?: boolean | "reset" | "close" | "silent" } = {},
  ) {
    const server = http.createServer();
    const wss = new WebSocketServer({ noServer: true });
    const fake = new FakeLotus(server, wss, handlers, opts.token ?? null);
    fake.wsMode = opts.ws ?? true;
    server.on("request", (req, res) => fake.onHttp(req, res));
    server.on("upgrade", (req, socket, head) => {
      fake.upgrades++;
      if (fake.wsMode === false) {
        socket.end("HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      if (fake.wsMode === "reset") {
        (socket as Socket).resetAndDestroy();
        return;
      }
      if (fake.wsMode === "close") {
        socket.end();
        return;
      }
      if (fake.wsMode === "silent") {
        fake.held.add(socket);
        socket.on("close", () => fake.held.delete(socket));
        return;
      }
      if (!fake.authorized(req.headers)) {
        socket.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => fake.onWs(ws, req.headers));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
    });
    return fake;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get multiaddr(): string {
    return `/ip4/127.0.0.1/tcp/${this.port}`;
  }

  private authorized(h: http.IncomingHttpHeaders): boolean {
    return this.token === null || h.authorization === `Bearer ${this.token}`;
  }

  private async answer(rec: RecordedRequest, id: unknown, ws: WebSocket | null): Promise<string | null> {
    this.requests.push(rec);
    this.events.emit("request", rec);
    const h = this.handlers[rec.method];
    try {
      if (!h) throw new RpcFault(-32601, `method '${rec.method}' not found`);
      const result = await h(rec.params, rec);
      if (result instanceof Raw) return result.text;
      if (result instanceof FakeChannel) {
        if (ws === null) throw new RpcFault(-32603, "channels need a websocket");
        result.ws = ws;
        result.chanId = this.nextChan++;
        result.requestId = id;
        this.channels.push(result);
        // go-jsonrpc: the channel id answer first, then the values.
        ws.send(JSON.stringify({ jsonrpc: "2.0", id, result: result.chanId }));
        for (const v of result.initial) result.send(v);
        this.events.emit("channel", result);
        return null;
      }
      return JSON.stringify({ jsonrpc: "2.0", id, result: result === undefined ? null : result });
    } catch (e) {
      const code = e instanceof RpcFault ? e.code : 1;
      const message = e instanceof Error ? e.message : String(e);
      return JSON.stringify({ jsonrpc: "2.0", id, error: { code, message } });
    }
  }

  private onHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!this.authorized(req.headers)) {
      res.writeHead(401).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      const rec: RecordedRequest = {
        transport: "http",
        method: String(body.method),
        params: (body.params as unknown[]) ?? [],
        headers: req.headers,
      };
      void this.answer(rec, body.id, null).then((text) => {
        // go-jsonrpc answers errors with HTTP 500 and the JSON-RPC body (server.go rpcError).
        const status = text?.includes('"error"') ? 500 : 200;
        res.writeHead(status, { "Content-Type": "application/json" }).end(text ?? "");
      });
    });
  }

  private onWs(ws: WebSocket, headers: http.IncomingHttpHeaders): void {
    this.sockets.add(ws);
    ws.on("close", () => this.sockets.delete(ws));
    ws.on("message", (data) => {
      const m = JSON.parse(String(data)) as Record<string, unknown>;
      const params = (m.params as unknown[]) ?? [];
      if (m.method === "xrpc.cancel") {
        this.cancels.push(params[0]);
        for (const ch of this.channels) if (ch.ws === ws && ch.requestId === params[0]) ch.cancel();
        this.events.emit("cancel", params[0]);
        return;
      }
      const rec: RecordedRequest = { transport: "ws", method: String(m.method), params, headers };
      void this.answer(rec, m.id, ws).then((text) => {
        if (text !== null && ws.readyState === WebSocket.OPEN) ws.send(text);
      });
    });
    this.events.emit("connection", ws);
  }

  /** Drops every WebSocket abruptly (as a node restart or a network cut does). */
  dropSockets(): void {
    for (const ws of this.sockets) ws.terminate();
  }

  async close(): Promise<void> {
    this.dropSockets();
    for (const s of this.held) s.destroy();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Resolves with the first event `name` whose argument satisfies `pred`, or rejects after `ms`. */
export function nextEvent<T>(
  em: EventEmitter,
  name: string,
  ms = 3000,
  pred: (v: T) => boolean = () => true,
) {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      em.off(name, on);
      reject(new Error(`no '${name}' event within ${ms} ms`));
    }, ms);
    const on = (v: T): void => {
      if (!pred(v)) return;
      clearTimeout(t);
      em.off(name, on);
      resolve(v);
    };
    em.on(name, on);
  });
}
