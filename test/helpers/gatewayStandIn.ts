/**
 * A sophon-gateway stand-in on loopback: a WebSocket JSON-RPC server speaking go-jsonrpc's channel
 * dialect and the gateway's proof-event methods, as sophon-gateway a09e86b does them
 * (`proofevent/proof_event.go`, `types/base_event.go`) on its go-jsonrpc fork
 * (ipfs-force-community/go-jsonrpc v0.1.9, `handler.go`, `websocket.go`):
 *  - `Gateway.ListenProofEvent([{MinerAddress}])` answers a channel id, then sends on that channel
 *    (`xrpc.ch.val [chanId, RequestEvent]`) an `InitConnect` whose payload is `{"ChannelId": uuid}`;
 *  - `computeProof(miner, payload)` sends a `ComputeProof` RequestEvent with a fresh UUID to the
 *    miner's first channel (the gateway's `SendRequest` tries the first channel first) and waits for
 *    its `Gateway.ResponseProofEvent`. When that channel ends first (its socket closes, the client
 *    cancels it, kill()), the wait fails at once with "channel closed", as `sendOnce` returns
 *    ErrCloseChannel; the gateway keeps the Id's entry, so a later answer to it is taken without error
 *    and read by no one (kept in `responses` with `orphan: true`);
 *  - `Gateway.ResponseProofEvent([{Id, Payload, Error}])` resolves the waiting request and answers
 *    `{"jsonrpc":"2.0","id":N}` with no `result` (the fork's `result,omitempty` on a void method), or
 *    answers the gateway's error "request id … not exit" for an Id it never sent;
 *  - the client's `xrpc.cancel [requestId]` ends the channel that request opened.
 * Errors carry code 1: the fork's `LogicError`, the code its handler gives every error a method returns.
 * `kill()` drops every socket and stops listening; `restart()` listens again on the same port.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type WebSocket from "ws";
import { WebSocketServer } from "ws";

export interface StandInChannel {
  miner: string;
  chanId: number;
  requestId: unknown;
  channelId: string;
  ws: WebSocket;
  headers: http.IncomingHttpHeaders;
  /** The request path the socket was opened on (/rpc/v2). */
  path: string;
  open: boolean;
}

export interface ProofResponse {
  Id: string;
  Payload: string | null;
  Error: string;
  /** ms from sending the event to receiving this answer (-1: an Id this stand-in never sent). */
  ms: number;
  /** The answer came after its channel ended: the real gateway takes it and no one reads it. */
  orphan?: boolean;
}

export class GatewayStandIn {
  port = 0;
  readonly channels: StandInChannel[] = [];
  /** Every ResponseProofEvent received, in order (duplicates included). */
  readonly responses: ProofResponse[] = [];
  /** Miners whose ListenProofEvent is refused, with the gateway's error text. */
  readonly refuse = new Map<string, string>();
  private server: http.Server | null = null;
  private wss: WebSocketServer | null = null;
  private nextChan = 1;
  private readonly pending = new Map<
    string,
    { sent: number; ch: StandInChannel; resolve(r: ProofResponse): void; reject(e: Error): void }
  >();
  /** Ids whose channel ended before their answer: the gateway's idRequest entry outlives the wait. */
  private readonly orphans = new Map<string, number>();
  private readonly waiters: { miner: string; n: number; resolve(): void }[] = [];

  async start(port = 0): Promise<this> {
    const server = http.createServer((_req, res) => {
      res.writeHead(404).end();
    });
    const wss = new WebSocketServer({ server });
    wss.on("connection", (ws, req) => this.onConnection(ws, req.headers, req.url ?? ""));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    this.wss = wss;
    return this;
  }

  /** `token:multiaddr`, the [Common.API] Gateway form. */
  apiInfo(token: string): string {
    return `${token}:/ip4/127.0.0.1/tcp/${this.port}`;
  }

  /** Open channels of `miner`. */
  openChannels(miner: string): StandInChannel[] {
    return this.channels.filter((c) => c.miner === miner && c.open);
  }

  /** Resolves once `miner` has at least `n` open channels. */
  waitRegistered(miner: string, n = 1): Promise<void> {
    if (this.openChannels(miner).length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ miner, n, resolve }));
  }

  private onConnection(ws: WebSocket, headers: http.IncomingHttpHeaders, path: string): void {
    ws.on("message", (data) => {
      let m: { id?: unknown; method?: string; params?: unknown[] };
      try {
        m = JSON.parse(String(data));
      } catch {
        return;
      }
      const reply = (body: Record<string, unknown>) =>
        ws.send(JSON.stringify({ jsonrpc: "2.0", id: m.id, ...body }));
      const params = Array.isArray(m.params) ? m.params : [];
      if (m.method === "xrpc.cancel") {
        for (const c of this.channels) if (c.ws === ws && c.requestId === params[0]) this.endChannel(c);
        return;
      }
      if (m.method === "Gateway.ListenProofEvent") {
        const policy = params[0] as { MinerAddress?: unknown } | undefined;
        const miner = String(policy?.MinerAddress ?? "");
        const refused = this.refuse.get(miner);
        if (refused !== undefined) {
          // Code 1: the fork's LogicError (handler.go), what it sends for any error a method returns.
          reply({ error: { code: 1, message: refused } });
          return;
        }
        const chanId = this.nextChan++;
        const channelId = randomUUID();
        const ch: StandInChannel = {
          miner,
          chanId,
          requestId: m.id,
          channelId,
          ws,
          headers,
          path,
          open: true,
        };
        this.channels.push(ch);
        reply({ result: chanId });
        this.send(ch, {
          Id: randomUUID(),
          Method: "InitConnect",
          Payload: b64(JSON.stringify({ ChannelId: channelId })),
        });
        for (const w of [...this.waiters])
          if (w.miner === miner && this.openChannels(miner).length >= w.n) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve();
          }
        return;
      }
      if (m.method === "Gateway.ResponseProofEvent") {
        const r = params[0] as { Id: string; Payload: string | null; Error: string };
        const p = this.pending.get(r?.Id);
        const orphanSent = this.orphans.get(r?.Id);
        if (orphanSent !== undefined) {
          // base_event.go ResponseEvent: the entry is still there, so the answer is taken (and
          // deleted) without error, into a result channel whose reader is gone.
          this.orphans.delete(r.Id);
          this.responses.push({ ...r, ms: Date.now() - orphanSent, orphan: true });
          reply({});
          return;
        }
        this.responses.push({ ...r, ms: p ? Date.now() - p.sent : -1 });
        if (!p) {
          reply({ error: { code: 1, message: `request id ${r?.Id} not exit` } });
          return;
        }
        this.pending.delete(r.Id);
        // A void method's answer has no `result` key: the fork tags it omitempty.
        reply({});
        p.resolve({ ...r, ms: Date.now() - p.sent });
        return;
      }
      reply({ error: { code: -32601, message: `method '${m.method}' not found` } });
    });
    ws.on("close", () => {
      for (const c of this.channels) if (c.ws === ws) this.endChannel(c);
    });
  }

  /**
   * A channel's context ends (go-jsonrpc's closeInFlight on a dropped socket, or xrpc.cancel): every
   * request waiting on it fails at once with sendOnce's ErrCloseChannel.
   */
  private endChannel(c: StandInChannel): void {
    c.open = false;
    for (const [id, p] of [...this.pending])
      if (p.ch === c) {
        this.pending.delete(id);
        this.orphans.set(id, p.sent);
        p.reject(new Error(`channel closed (request ${id})`));
      }
  }

  /** Sends one RequestEvent (any JSON: tests send malformed ones too) on `ch`. */
  send(ch: StandInChannel, event: unknown): void {
    ch.ws.send(JSON.stringify({ jsonrpc: "2.0", method: "xrpc.ch.val", params: [ch.chanId, event] }));
  }

  /** A ComputeProof for `miner` on its first open channel; resolves with the node's answer. */
  computeProof(miner: string, payload: unknown, id: string = randomUUID()): Promise<ProofResponse> {
    const ch = this.openChannels(miner)[0];
    if (!ch) return Promise.reject(new Error(`no open channel for ${miner}`));
    return this.request(ch, { Id: id, Method: "ComputeProof", Payload: b64(JSON.stringify(payload)) });
  }

  /** Sends `event` and waits for the answer to its Id; rejects when the channel ends first. */
  request(
    ch: StandInChannel,
    event: { Id: string; Method: string; Payload: unknown },
  ): Promise<ProofResponse> {
    if (!ch.open) return Promise.reject(new Error("channel closed"));
    return new Promise((resolve, reject) => {
      this.pending.set(event.Id, { sent: Date.now(), ch, resolve, reject });
      this.send(ch, event);
    });
  }

  /** Drops every socket at once (no close handshake) and stops listening. */
  async kill(): Promise<void> {
    for (const c of this.wss?.clients ?? []) c.terminate();
    this.wss?.close();
    const s = this.server;
    this.server = null;
    this.wss = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
    for (const c of this.channels) this.endChannel(c);
  }

  /** Listens again on the same port, as a restarted gateway. */
  restart(): Promise<this> {
    return this.start(this.port);
  }
}

export const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
