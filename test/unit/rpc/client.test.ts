/**
 * The one JSON-RPC client stack (src/rpc/transport.ts): the same malformed answers, sent by a raw
 * loopback server over HTTP POST and over a WebSocket, through both clients built on it (RpcClient
 * for our own API, LotusRpc for the chain node). Each must fail the one call with the client's own
 * error and leave the client usable: the next call on it succeeds. Then the token, the time limit and
 * the caller's abort, through RpcClient over both transports against our real server.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { WebSocketServer } from "ws";
import { parseApiEndpoint } from "../../../src/chain/lotus/endpoint.js";
import { LotusRpc } from "../../../src/chain/lotus/rpc.js";
import { nullLogger } from "../../../src/log/logger.js";
import { newSecret, signToken } from "../../../src/rpc/auth.js";
import { MAX_PEER_MESSAGE, RpcClient } from "../../../src/rpc/client.js";
import { createDispatcher } from "../../../src/rpc/dispatch.js";
import { RpcError } from "../../../src/rpc/errors.js";
import type { MethodTable } from "../../../src/rpc/method.js";
import { type RpcServer, startRpcServer } from "../../../src/rpc/server.js";
import { AbortedError, SmError } from "../../../src/util/errors.js";

/** What one call must fail with: a code and patterns its message matches. null: the call succeeds. */
type Expect = { code: string; message?: RegExp; check?: (e: SmError) => void } | null;

interface Case {
  what: string;
  /** The raw body or frame, given the request's id. */
  answer: (id: unknown) => string;
  /** HTTP status of the answer (default 200). */
  status?: number;
  /** Per client and transport; absent: the row does not apply there. */
  node: { http?: Expect; ws?: Expect };
  chain: { http?: Expect; ws?: Expect };
}

/** The answer cap given to RpcClient here, so a "too large" answer stays small. */
const SMALL_CAP = 4096;
const env = (id: unknown, rest: string) => `{"jsonrpc":"2.0","id":${JSON.stringify(id)},${rest}}`;

const CASES: Case[] = [
  {
    what: "a body that is not JSON (a proxy's error page)",
    answer: () => "<html>oops</html>",
    node: {
      http: { code: "RPC_BAD_RESPONSE", message: /HTTP 200 and a body that is not JSON: "<html>oops/ },
      ws: { code: "RPC_BAD_RESPONSE", message: /sent a frame that is not a JSON-RPC message/ },
    },
    chain: {
      http: { code: "CHAIN_BAD_RESPONSE", message: /is not JSON \(HTTP 200/ },
      ws: { code: "CHAIN_BAD_RESPONSE", message: /sent a frame that is not a JSON-RPC message/ },
    },
  },
  {
    what: "a gateway's 502 page",
    answer: () => "Bad Gateway",
    status: 502,
    node: { http: { code: "RPC_BAD_RESPONSE", check: (e) => assert.equal(e.fields.status, 502) } },
    chain: { http: { code: "CHAIN_UNREACHABLE", message: /answered HTTP 502/ } },
  },
  {
    what: "JSON that is not an object",
    answer: () => "[1,2,3]",
    node: {
      http: { code: "RPC_BAD_RESPONSE", message: /no JSON-RPC result/ },
      ws: { code: "RPC_BAD_RESPONSE", message: /not a JSON object/ },
    },
    chain: {
      http: { code: "CHAIN_BAD_RESPONSE", message: /is not a JSON object/ },
      ws: { code: "CHAIN_BAD_RESPONSE", message: /not a JSON object/ },
    },
  },
  {
    what: "an answer with neither result nor error",
    answer: (id) => `{"jsonrpc":"2.0","id":${JSON.stringify(id)}}`,
    node: {
      http: { code: "RPC_BAD_RESPONSE", message: /Test\.Call with HTTP 200 but no JSON-RPC result/ },
      ws: { code: "RPC_BAD_RESPONSE", message: /Test\.Call but no JSON-RPC result/ },
    },
    chain: {
      http: { code: "CHAIN_BAD_RESPONSE", message: /Test\.Call: .*neither result nor error \(HTTP 200\)/ },
      ws: { code: "CHAIN_BAD_RESPONSE", message: /Test\.Call: .*neither result nor error$/ },
    },
  },
  {
    what: "an error that is a bare string",
    answer: (id) => env(id, `"error":"boom"`),
    node: {
      http: { code: "RPC_0", message: /unknown error/, check: (e) => assert.ok(e instanceof RpcError) },
      ws: { code: "RPC_0", message: /unknown error/, check: (e) => assert.ok(e instanceof RpcError) },
    },
    chain: {
      http: { code: "CHAIN_RPC_ERROR", message: /Test\.Call failed: "boom"/ },
      ws: { code: "CHAIN_RPC_ERROR", message: /Test\.Call failed: "boom"/ },
    },
  },
  {
    what: `an error with a message longer than ${MAX_PEER_MESSAGE} characters`,
    answer: (id) => env(id, `"error":{"code":1,"message":"${"x".repeat(MAX_PEER_MESSAGE + 1000)}"}`),
    node: {
      http: { code: "RPC_1", check: (e) => assert.ok(e.message.length <= MAX_PEER_MESSAGE + 1) },
      ws: { code: "RPC_1", check: (e) => assert.ok(e.message.length <= MAX_PEER_MESSAGE + 1) },
    },
    chain: {
      http: { code: "CHAIN_RPC_ERROR", check: (e) => assert.equal(e.fields.rpcCode, 1) },
      ws: { code: "CHAIN_RPC_ERROR", check: (e) => assert.equal(e.fields.rpcCode, 1) },
    },
  },
  {
    what: "method not found",
    answer: (id) => env(id, `"error":{"code":-32601,"message":"method 'Test.Call' not found"}`),
    node: { http: { code: "RPC_METHOD_NOT_FOUND" }, ws: { code: "RPC_METHOD_NOT_FOUND" } },
    chain: {
      http: { code: "CHAIN_RPC_ERROR", check: (e) => assert.equal(e.fields.rpcCode, -32601) },
      ws: { code: "CHAIN_RPC_ERROR", check: (e) => assert.equal(e.fields.rpcCode, -32601) },
    },
  },
  {
    what: `an answer over the ${SMALL_CAP}-byte cap`,
    answer: (id) => env(id, `"result":"${"y".repeat(3 * SMALL_CAP)}"`),
    node: {
      http: { code: "RPC_ANSWER_TOO_LARGE", message: /more than the 4096-byte limit/ },
      // ws refuses the frame and closes the socket (1009): the call's connection is lost.
      ws: { code: "RPC_UNREACHABLE", message: /connection lost: Max payload size exceeded/ },
    },
    chain: {},
  },
  {
    what: "an answer to another id (not ours): the call waits out its limit",
    answer: (id) => env(typeof id === "number" ? id + 1000 : "x", `"result":1`),
    node: { ws: { code: "TIMEOUT", message: /did not answer Test\.Call within 300 ms/ } },
    chain: { ws: { code: "CHAIN_UNREACHABLE", message: /did not answer Test\.Call within 300 ms/ } },
  },
  {
    what: "result null is a result",
    answer: (id) => env(id, `"result":null`),
    node: { http: null, ws: null },
    chain: { http: null, ws: null },
  },
];

describe("one client stack: malformed answers over HTTP and WebSocket", { timeout: 30_000 }, () => {
  let server: http.Server;
  let wss: WebSocketServer;
  let port = 0;
  /** The case the server answers Test.Call with. */
  let current: Case | undefined;

  const respond = (raw: string): { reply: string; status: number } => {
    let req: { id?: unknown; method?: unknown };
    try {
      req = JSON.parse(raw);
    } catch {
      return { reply: "", status: 400 };
    }
    // A notification (the chain client's xrpc.cancel) gets no answer, as in JSON-RPC.
    if (req.id === undefined) return { reply: "", status: 204 };
    if (req.method === "Test.Good" || current === undefined)
      return { reply: env(req.id, `"result":"good"`), status: 200 };
    return { reply: current.answer(req.id), status: current.status ?? 200 };
  };

  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const { reply, status } = respond(Buffer.concat(chunks).toString("utf8"));
        res.writeHead(status, { "content-type": "application/json" }).end(reply);
      });
    });
    wss = new WebSocketServer({ server });
    wss.on("connection", (ws) => {
      ws.on("message", (data) => {
        const { reply } = respond(String(data));
        if (reply !== "") ws.send(reply);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const check = (e: unknown, want: Exclude<Expect, null>, where: string): true => {
    assert.ok(e instanceof SmError, `${where}: an SmError, got ${String(e)}`);
    assert.equal(e.code, want.code, `${where}: ${e.message}`);
    if (want.message) assert.match(e.message, want.message, where);
    want.check?.(e);
    return true;
  };

  type Caller = {
    call(opts?: { timeoutMs?: number }): Promise<unknown>;
    good(): Promise<unknown>;
    close(): void;
  };
  const clients: Record<"node" | "chain", Record<"http" | "ws", () => Caller>> = {
    node: {
      http: () =>
        nodeCaller(new RpcClient({ url: `http://127.0.0.1:${port}/rpc/v0`, maxAnswerBytes: SMALL_CAP })),
      ws: () =>
        nodeCaller(new RpcClient({ url: `ws://127.0.0.1:${port}/rpc/v0`, maxAnswerBytes: SMALL_CAP })),
    },
    chain: {
      http: () => chainCaller(port, "http"),
      ws: () => chainCaller(port, "ws"),
    },
  };

  for (const c of CASES) {
    for (const kind of ["node", "chain"] as const) {
      for (const transport of ["http", "ws"] as const) {
        const want = c[kind][transport];
        if (want === undefined) continue;
        test(`${kind} client over ${transport}: ${c.what}`, async () => {
          const client = clients[kind][transport]();
          const where = `${kind}/${transport}/${c.what}`;
          try {
            assert.equal(await client.good(), "good", `${where}: a good call first`);
            current = c;
            const p = client.call({ timeoutMs: 300 });
            if (want === null) await p;
            else await assert.rejects(p, (e) => check(e, want, where));
            current = undefined;
            assert.equal(await client.good(), "good", `${where}: the client still works`);
          } finally {
            current = undefined;
            client.close();
          }
        });
      }
    }
  }
});

function nodeCaller(c: RpcClient) {
  return {
    call: (opts?: { timeoutMs?: number }) => c.call("Test.Call", [], opts),
    good: () => c.call("Test.Good", []),
    close: () => c.close(),
  };
}

function chainCaller(port: number, transport: "http" | "ws") {
  const rpc = new LotusRpc({
    endpoint: parseApiEndpoint(`http://127.0.0.1:${port}/rpc/v1`, { key: "test", path: "/rpc/v1" }),
    label: "test node",
    pingIntervalMs: 0,
    connectTimeoutMs: 1000,
  });
  const call = (method: string, opts?: { timeoutMs?: number }) =>
    transport === "http" ? rpc.callHttp(method, [], opts) : rpc.call(method, [], opts);
  return {
    call: (opts?: { timeoutMs?: number }) => call("Test.Call", opts),
    good: () => call("Test.Good"),
    close: () => rpc.close(),
  };
}

describe("RpcClient over HTTP and WebSocket against our server", { timeout: 30_000 }, () => {
  const secret = newSecret();
  let server: RpcServer;
  let port = 0;
  let slowStarted = 0;
  const methods: MethodTable = {
    "Test.Admin": { perm: "admin", doc: "admin only", handler: async () => "admin ok" },
    "Test.Slow": {
      perm: "read",
      doc: "answers only when its request is cancelled",
      handler: (_p, ctx) => {
        slowStarted++;
        return new Promise((resolve) => ctx.signal?.addEventListener("abort", () => resolve("late")));
      },
    },
  };

  before(async () => {
    server = await startRpcServer({
      listen: { host: "127.0.0.1", port: 0 },
      dispatcher: createDispatcher(methods, { logger: nullLogger }),
      secret,
      anonymousRead: true,
      logger: nullLogger,
    });
    port = server.address.port;
  });
  after(() => server.close());

  for (const scheme of ["http", "ws"] as const) {
    const url = () => `${scheme}://127.0.0.1:${port}/rpc/v0`;

    test(`${scheme}: the bearer token is sent; without it an admin method is refused`, async () => {
      const admin = new RpcClient({ url: url(), token: signToken(secret, "admin") });
      const anon = new RpcClient({ url: url() });
      try {
        assert.equal(await admin.call("Test.Admin", []), "admin ok");
        await assert.rejects(anon.call("Test.Admin", []), (e: unknown) => {
          assert.ok(e instanceof RpcError, String(e));
          assert.equal(e.code, "RPC_PERMISSION_DENIED");
          return true;
        });
      } finally {
        admin.close();
        anon.close();
      }
    });

    test(`${scheme}: a token the node does not accept is RPC_UNAUTHENTICATED, saying to check the token`, async () => {
      const bad = new RpcClient({ url: url(), token: signToken(Buffer.alloc(32, 7), "admin") });
      try {
        await assert.rejects(bad.call("Test.Admin", []), (e: unknown) => {
          assert.ok(e instanceof SmError, String(e));
          assert.equal(e.code, "RPC_UNAUTHENTICATED");
          assert.match(e.message, /token/);
          return true;
        });
      } finally {
        bad.close();
      }
    });

    test(`${scheme}: a call past its limit is TIMEOUT naming peer and method; an abort is the caller's`, async () => {
      const c = new RpcClient({ url: url(), timeoutMs: 5_000, peerName: "the test node" });
      try {
        const t0 = Date.now();
        await assert.rejects(c.call("Test.Slow", [], { timeoutMs: 200 }), (e: unknown) => {
          assert.ok(e instanceof SmError, String(e));
          assert.equal(e.code, "TIMEOUT");
          assert.match(e.message, /the test node did not answer Test\.Slow within 200 ms/);
          return true;
        });
        assert.ok(Date.now() - t0 < 2_000, "the limit, not the client's default");
        const ac = new AbortController();
        const started = slowStarted;
        const p = c.call("Test.Slow", [], { signal: ac.signal });
        for (let i = 0; i < 200 && slowStarted === started; i++) await new Promise((r) => setTimeout(r, 10));
        const reason = new AbortedError("the test gave up");
        ac.abort(reason);
        await assert.rejects(p, (e: unknown) => e === reason);
        assert.equal(await c.call("Test.Admin", []).catch((e: SmError) => e.code), "RPC_PERMISSION_DENIED");
      } finally {
        c.close();
      }
    });
  }
});
