/**
 * The node's HTTP/WebSocket JSON-RPC server, end to end over loopback: authentication and permissions,
 * JSON-RPC 2.0 error handling, batches and notifications, error mapping, body limits, the side
 * endpoints (/healthcheck, /metrics) and the real RpcClient against it.
 */

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { memoryLogger, nullLogger } from "../../../src/log/logger.js";
import { createMetrics, type Metrics } from "../../../src/metrics/metrics.js";
import { newSecret, signToken } from "../../../src/rpc/auth.js";
import { RpcClient } from "../../../src/rpc/client.js";
import { createDispatcher } from "../../../src/rpc/dispatch.js";
import { RpcError, rpcCodeFor } from "../../../src/rpc/errors.js";
import { arity, type MethodTable, uintParam } from "../../../src/rpc/method.js";
import { MAX_BODY_BYTES, type RpcServer, startRpcServer } from "../../../src/rpc/server.js";
import { SmError } from "../../../src/util/errors.js";

const secret = newSecret();
const tokens = {
  read: signToken(secret, "read"),
  write: signToken(secret, "write"),
  admin: signToken(secret, "admin"),
};
/** Well-formed JWT signed with another node's secret. */
const foreignToken = signToken(newSecret(), "admin");

/** A token allowing only `admin` (no explicit lower permissions), signed with the node's secret. */
function adminOnlyToken(): string {
  const b64 = (s: string) => Buffer.from(s).toString("base64url");
  const head = b64(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64(JSON.stringify({ Allow: ["admin"] }));
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

const READ_ONLY_MESSAGE = "the sector index is read-only on a proxy node; update it on the source node";

/** Values passed to Test.Put, to see that writes (and notifications) really ran. */
const puts: unknown[] = [];

const methods: MethodTable = {
  "Test.Echo": { perm: "read", doc: "returns its params", handler: async (params) => params },
  "Test.Perms": {
    perm: "read",
    doc: "the caller's permissions",
    handler: async (_params, ctx) => [...ctx.perms].sort(),
  },
  "Test.Void": { perm: "read", doc: "returns nothing", handler: async () => undefined },
  "Test.Put": {
    perm: "write",
    doc: "records one value",
    handler: async (params) => {
      arity(params, 1);
      puts.push(params[0]);
      return puts.length;
    },
  },
  "Test.Admin": { perm: "admin", doc: "admin only", handler: async () => "admin ok" },
  "Test.ReadOnly": {
    perm: "read",
    doc: "throws an SmError",
    handler: async () => {
      throw new SmError("SECTORS_READ_ONLY", READ_ONLY_MESSAGE);
    },
  },
  "Test.Boom": {
    perm: "read",
    doc: "throws a plain Error",
    handler: async () => {
      throw new Error("kaboom");
    },
  },
  "Test.Add": {
    perm: "read",
    doc: "adds two non-negative integers",
    handler: async (params) => {
      arity(params, 2);
      return uintParam(params[0], "a") + uintParam(params[1], "b");
    },
  },
};

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON-RPC answers are inspected structurally.
type Json = any;

describe("RPC server", { timeout: 20_000 }, () => {
  let server: RpcServer;
  let privateServer: RpcServer;
  let metrics: Metrics;
  const mem = memoryLogger("debug");
  let base: string;
  let url: string;
  let privateUrl: string;

  before(async () => {
    metrics = createMetrics({ defaults: false });
    server = await startRpcServer({
      listen: { host: "127.0.0.1", port: 0 },
      dispatcher: createDispatcher(methods, { logger: mem.logger, metrics }),
      secret,
      anonymousRead: true,
      logger: mem.logger,
      metrics,
      health: () => ({ role: "test-node" }),
    });
    privateServer = await startRpcServer({
      listen: { host: "127.0.0.1", port: 0 },
      dispatcher: createDispatcher(methods, { logger: nullLogger }),
      secret,
      anonymousRead: false,
      logger: nullLogger,
    });
    assert.ok(server.address.port > 0);
    assert.notEqual(server.address.port, privateServer.address.port);
    base = `http://127.0.0.1:${server.address.port}`;
    url = `${base}/rpc/v0`;
    privateUrl = `http://127.0.0.1:${privateServer.address.port}/rpc/v0`;
  });

  after(async () => {
    await server.close();
    await privateServer.close();
  });

  const client = (token?: string, target = url) =>
    new RpcClient({ url: target, timeoutMs: 5_000, ...(token ? { token } : {}) });

  async function post(body: string | Buffer, headers: Record<string, string> = {}): Promise<RawResponse> {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
      signal: AbortSignal.timeout(5_000),
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  async function postJson(body: string, headers: Record<string, string> = {}): Promise<Json> {
    const r = await post(body, headers);
    assert.equal(r.status, 200, `HTTP status for ${body.slice(0, 80)}`);
    return JSON.parse(r.text);
  }

  /** Asserts that `p` rejects with an RpcError carrying these codes; returns it for further checks. */
  async function rejectsRpc(p: Promise<unknown>, code: string, rpcCode: number): Promise<RpcError> {
    let caught: unknown;
    await assert.rejects(p, (e: unknown) => {
      caught = e;
      return true;
    });
    assert.ok(caught instanceof RpcError, `expected an RpcError, got ${String(caught)}`);
    assert.equal(caught.code, code, `error code (message: ${caught.message})`);
    assert.equal(caught.rpcCode, rpcCode, `JSON-RPC code (message: ${caught.message})`);
    return caught;
  }

  describe("authentication and permissions", () => {
    test("anonymous read is allowed when anonymousRead is true, with read permission only", async () => {
      assert.deepEqual(await client().call("Test.Echo", [1, "two", { three: 3 }]), [1, "two", { three: 3 }]);
      assert.deepEqual(await client().call("Test.Perms", []), ["read"]);
    });

    test("anonymous read is denied when anonymousRead is false", async () => {
      const e = await rejectsRpc(
        client(undefined, privateUrl).call("Test.Echo", [1]),
        "RPC_PERMISSION_DENIED",
        rpcCodeFor("RPC_PERMISSION_DENIED"),
      );
      assert.match(e.message, /Test\.Echo needs the 'read' permission/);
      // A token opens it.
      assert.deepEqual(await client(tokens.read, privateUrl).call("Test.Echo", [1]), [1]);
    });

    test("a write without a token is denied with RPC_PERMISSION_DENIED and does not run", async () => {
      const before = puts.length;
      const r = await postJson(JSON.stringify({ jsonrpc: "2.0", id: 7, method: "Test.Put", params: ["x"] }));
      assert.equal(r.id, 7);
      assert.equal(r.result, undefined);
      assert.equal(r.error.code, -32001);
      assert.equal(r.error.data.code, "RPC_PERMISSION_DENIED");
      assert.match(r.error.message, /needs the 'write' permission/);
      assert.equal(puts.length, before, "the handler did not run");
    });

    test("a read token cannot write", async () => {
      const before = puts.length;
      await rejectsRpc(client(tokens.read).call("Test.Put", ["r"]), "RPC_PERMISSION_DENIED", -32001);
      assert.equal(puts.length, before);
    });

    test("a write token can write and read, but not call admin methods", async () => {
      const c = client(tokens.write);
      const n = await c.call<number>("Test.Put", ["w"]);
      assert.equal(n, puts.length);
      assert.equal(puts[puts.length - 1], "w");
      assert.deepEqual(await c.call("Test.Echo", ["r"]), ["r"]);
      assert.deepEqual(await c.call("Test.Perms", []), ["read", "write"]);
      await rejectsRpc(c.call("Test.Admin", []), "RPC_PERMISSION_DENIED", -32001);
    });

    test("an admin token can call read, write and admin methods", async () => {
      const c = client(tokens.admin);
      assert.deepEqual(await c.call("Test.Echo", ["a"]), ["a"]);
      await c.call("Test.Put", ["a"]);
      assert.equal(puts[puts.length - 1], "a");
      assert.equal(await c.call("Test.Admin", []), "admin ok");
      assert.deepEqual(await c.call("Test.Perms", []), ["admin", "read", "sign", "write"]);
    });

    test("a token allowing only admin implies the lower permissions", async () => {
      const c = client(adminOnlyToken());
      assert.deepEqual(await c.call("Test.Perms", []), ["admin"]);
      assert.deepEqual(await c.call("Test.Echo", [1]), [1]);
      await c.call("Test.Put", ["admin-only"]);
      assert.equal(puts[puts.length - 1], "admin-only");
    });

    test("a forged or garbage token is refused with HTTP 401, not downgraded to anonymous", async () => {
      const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "Test.Echo", params: [] });
      const cases: [string, Record<string, string>][] = [
        ["foreign secret", { authorization: `Bearer ${foreignToken}` }],
        ["garbage", { authorization: "Bearer not-a-token" }],
        ["tampered payload", { authorization: `Bearer ${tamper(tokens.read)}` }],
        ["bare Bearer", { authorization: "Bearer " }],
      ];
      for (const [what, headers] of cases) {
        const r = await post(body, headers);
        assert.equal(r.status, 401, `${what}: HTTP status`);
        const j = JSON.parse(r.text);
        assert.equal(j.error.data.code, "RPC_UNAUTHENTICATED", `${what}: data.code`);
        assert.equal(j.error.code, rpcCodeFor("RPC_UNAUTHENTICATED"), `${what}: JSON-RPC code`);
        assert.match(j.error.message, /invalid API token/, `${what}: message`);
      }
      // The same through the real client: an RpcError the operator can read.
      await rejectsRpc(client(foreignToken).call("Test.Echo", []), "RPC_UNAUTHENTICATED", -32002);
    });
  });

  describe("JSON-RPC protocol errors", () => {
    test("malformed JSON gets a parse error (-32700) with a null id", async () => {
      for (const body of ["{", '{"jsonrpc": "2.0", "id": 1, "method": ', "not json at all", ""]) {
        const r = await postJson(body);
        assert.equal(r.error?.code, -32700, `parse error for ${JSON.stringify(body)}`);
        assert.equal(r.id, null, `id for ${JSON.stringify(body)}`);
        assert.match(r.error.message, /parse error/, `message for ${JSON.stringify(body)}`);
      }
    });

    test("valid JSON that is not a request gets -32600", async () => {
      const cases: [string, string | number | null][] = [
        ["42", null],
        ['"hello"', null],
        ["null", null],
        ['{"foo": 1}', null],
        ['{"id": 3, "method": "Test.Echo"}', 3],
        ['{"jsonrpc": "1.0", "id": 4, "method": "Test.Echo"}', 4],
        ['{"jsonrpc": "2.0", "id": 5, "method": 12}', 5],
        ['{"jsonrpc": "2.0", "id": {"x": 1}, "method": "Test.Echo"}', null],
      ];
      for (const [body, id] of cases) {
        const r = await postJson(body);
        assert.equal(r.error?.code, -32600, `invalid request for ${body}`);
        assert.equal(r.id, id, `id for ${body}`);
      }
    });

    test("an unknown method gets -32601 naming it; the client maps it to RPC_METHOD_NOT_FOUND", async () => {
      const r = await postJson(JSON.stringify({ jsonrpc: "2.0", id: "u1", method: "Test.Nope", params: [] }));
      assert.equal(r.id, "u1");
      assert.equal(r.error.code, -32601);
      assert.match(r.error.message, /Test\.Nope/);
      // Inherited Object properties are not methods.
      const proto = await postJson(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "toString", params: [] }));
      assert.equal(proto.error?.code, -32601);
      await rejectsRpc(client().call("Test.Nope", []), "RPC_METHOD_NOT_FOUND", -32601);
    });

    test("wrong params get -32602 with a message naming the problem", async () => {
      const cases: [unknown[], RegExp][] = [
        [[1], /expected 2 positional parameter\(s\), got 1/],
        [[1, 2, 3], /expected 2 positional parameter\(s\), got 3/],
        [[-1, 2], /a must be a non-negative integer, got -1/],
        [[1, "2"], /b must be a non-negative integer, got "2"/],
        [[1.5, 2], /a must be a non-negative integer, got 1\.5/],
      ];
      for (const [params, message] of cases) {
        const e = await rejectsRpc(client().call("Test.Add", params), "RPC_INVALID_PARAMS", -32602);
        assert.match(e.message, message, `message for ${JSON.stringify(params)}`);
        assert.match(e.message, /^Test\.Add: invalid params: /, `prefix for ${JSON.stringify(params)}`);
      }
      assert.equal(await client().call("Test.Add", [2, 3]), 5);
    });

    test("named params (an object) get -32602", async () => {
      const r = await postJson(
        JSON.stringify({ jsonrpc: "2.0", id: 9, method: "Test.Add", params: { a: 1, b: 2 } }),
      );
      assert.equal(r.id, 9);
      assert.equal(r.error.code, -32602);
      assert.match(r.error.message, /positional/);
    });

    test("omitted or null params are an empty list", async () => {
      for (const req of [
        { jsonrpc: "2.0", id: 1, method: "Test.Echo" },
        { jsonrpc: "2.0", id: 1, method: "Test.Echo", params: null },
      ]) {
        const r = await postJson(JSON.stringify(req));
        assert.deepEqual(r.result, [], `params ${JSON.stringify(req.params)}`);
      }
    });

    test("a method returning undefined answers result null", async () => {
      const r = await postJson(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "Test.Void", params: [] }));
      assert.ok("result" in r);
      assert.equal(r.result, null);
      assert.equal(await client().call("Test.Void", []), null);
    });

    test("a batch gets an array of responses, one per request with an id", async () => {
      const batch = [
        { jsonrpc: "2.0", id: 1, method: "Test.Echo", params: ["one"] },
        { jsonrpc: "2.0", id: "two", method: "Test.Add", params: [1] },
        { jsonrpc: "2.0", id: 3, method: "Test.Nope", params: [] },
        { jsonrpc: "2.0", method: "Test.Echo", params: ["notification"] },
        5,
        { jsonrpc: "2.0", id: 6, method: "Test.Add", params: [20, 22] },
      ];
      const r = await postJson(JSON.stringify(batch));
      assert.ok(Array.isArray(r), "a batch answer is an array");
      assert.equal(r.length, 5, "the notification gets no response");
      const byId = new Map<unknown, Json>(r.filter((x: Json) => x.id !== null).map((x: Json) => [x.id, x]));
      assert.deepEqual(byId.get(1)?.result, ["one"]);
      assert.equal(byId.get("two")?.error?.code, -32602);
      assert.equal(byId.get(3)?.error?.code, -32601);
      assert.equal(byId.get(6)?.result, 42);
      const nullIds = r.filter((x: Json) => x.id === null);
      assert.equal(nullIds.length, 1);
      assert.equal(nullIds[0].error.code, -32600, "the non-object entry is an invalid request");
      for (const x of r) assert.equal(x.jsonrpc, "2.0", `jsonrpc of response ${JSON.stringify(x.id)}`);
    });

    test("a notification (no id) runs and answers 204 with no body", async () => {
      const before = puts.length;
      const r = await post(JSON.stringify({ jsonrpc: "2.0", method: "Test.Put", params: ["note"] }), {
        authorization: `Bearer ${tokens.write}`,
      });
      assert.equal(r.status, 204);
      assert.equal(r.text, "");
      assert.equal(puts.length, before + 1, "the notification ran");
      assert.equal(puts[puts.length - 1], "note");
      // A batch of notifications only (even to unknown methods) is also answered 204.
      const b = await post(
        JSON.stringify([
          { jsonrpc: "2.0", method: "Test.Echo", params: [] },
          { jsonrpc: "2.0", method: "Test.Nope", params: [] },
        ]),
      );
      assert.equal(b.status, 204);
      assert.equal(b.text, "");
    });

    test("an empty batch is an invalid request", async () => {
      const r = await postJson("[]");
      assert.ok(!Array.isArray(r));
      assert.equal(r.id, null);
      assert.equal(r.error.code, -32600);
      assert.match(r.error.message, /empty batch/);
    });
  });

  describe("method errors", () => {
    test("an SmError keeps its code (mapped number and data.code) and message", async () => {
      const r = await postJson(
        JSON.stringify({ jsonrpc: "2.0", id: 11, method: "Test.ReadOnly", params: [] }),
      );
      assert.equal(r.id, 11);
      assert.equal(r.error.code, rpcCodeFor("SECTORS_READ_ONLY"));
      assert.equal(r.error.code, -32010);
      assert.equal(r.error.data.code, "SECTORS_READ_ONLY");
      assert.equal(r.error.message, READ_ONLY_MESSAGE);
      const e = await rejectsRpc(client().call("Test.ReadOnly", []), "SECTORS_READ_ONLY", -32010);
      assert.equal(e.message, READ_ONLY_MESSAGE);
    });

    test("a plain Error becomes -32603 internal error, is logged, and the server keeps serving", async () => {
      const r = await postJson(JSON.stringify({ jsonrpc: "2.0", id: 12, method: "Test.Boom", params: [] }));
      assert.equal(r.id, 12);
      assert.equal(r.error.code, -32603);
      assert.equal(r.error.data, undefined, "no SmError code for an unexpected error");
      assert.match(r.error.message, /Test\.Boom/);
      assert.match(r.error.message, /kaboom/);
      const logged = mem.lines
        .map((l) => JSON.parse(l))
        .find((l) => l.level === "error" && l.method === "Test.Boom");
      assert.ok(logged, "the failure is logged as an error");
      assert.equal(logged.err, "kaboom");
      // Still serving, over the same and new connections.
      await rejectsRpc(client().call("Test.Boom", []), "RPC_-32603", -32603);
      for (let i = 0; i < 3; i++) assert.deepEqual(await client().call("Test.Echo", [i]), [i], `call ${i}`);
    });
  });

  describe("HTTP", () => {
    test("a body over MAX_BODY_BYTES is refused with 413", async () => {
      const big = Buffer.alloc(MAX_BODY_BYTES + 1, 0x20);
      const r = await post(big);
      assert.equal(r.status, 413);
      const j = JSON.parse(r.text);
      assert.equal(j.error.code, -32600);
      assert.match(j.error.message, /smaller batches/);
      // And the server still serves.
      assert.deepEqual(await client().call("Test.Echo", ["after"]), ["after"]);
    });

    test("maxBodyBytes sets the limit (the devnet raises it for vanilla proof bundles)", async () => {
      const small = await startRpcServer({
        listen: { host: "127.0.0.1", port: 0 },
        dispatcher: createDispatcher(methods, { logger: nullLogger }),
        secret,
        anonymousRead: true,
        logger: nullLogger,
        maxBodyBytes: 4096,
      });
      try {
        const target = `http://127.0.0.1:${small.address.port}/rpc/v0`;
        const echo = (pad: number) =>
          fetch(target, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "Test.Echo", params: ["x".repeat(pad)] }),
            signal: AbortSignal.timeout(5_000),
          });
        assert.equal((await echo(3000)).status, 200, "under the limit");
        const over = await echo(5000);
        assert.equal(over.status, 413);
        assert.match(await over.text(), /request body over 4096 bytes/);
      } finally {
        await small.close();
      }
    });

    test("GET /healthcheck answers 200 JSON with ok: true and the health fields", async () => {
      const res = await fetch(`${base}/healthcheck`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /application\/json/);
      assert.deepEqual(await res.json(), { ok: true, role: "test-node" });
    });

    test("GET /metrics serves Prometheus text counting RPC requests", async () => {
      const scrape = async () => {
        const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5_000) });
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type") ?? "", /text\/plain/);
        return res.text();
      };
      const count = (text: string, method: string, result: string) => {
        const line = text
          .split("\n")
          .find((l) => l.startsWith(`vsm_rpc_requests_total{method="${method}",result="${result}"} `));
        return line === undefined ? 0 : Number(line.split(" ").pop());
      };
      const before = await scrape();
      const c = client();
      for (let i = 0; i < 3; i++) await c.call("Test.Echo", [i]);
      await assert.rejects(c.call("Test.Put", ["denied"]));
      await assert.rejects(c.call("Test.Add", [1]));
      const text = await scrape();
      assert.match(text, /# TYPE vsm_rpc_requests_total counter/);
      assert.match(text, /vsm_rpc_request_duration_seconds_bucket/);
      assert.equal(count(text, "Test.Echo", "ok") - count(before, "Test.Echo", "ok"), 3);
      assert.equal(count(text, "Test.Put", "denied") - count(before, "Test.Put", "denied"), 1);
      assert.equal(
        count(text, "Test.Add", "invalid_params") - count(before, "Test.Add", "invalid_params"),
        1,
      );
    });

    test("an unknown path is 404 and GET /rpc/v0 is 405", async () => {
      const nf = await fetch(`${base}/nope`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(nf.status, 404);
      await nf.text();
      const nfPost = await fetch(`${base}/rpc/v1`, { method: "POST", body: "{}" });
      assert.equal(nfPost.status, 404);
      await nfPost.text();
      const get = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      assert.equal(get.status, 405);
      assert.equal(get.headers.get("allow"), "POST");
      await get.text();
    });

    test("/metrics is 404 on a server without metrics", async () => {
      const res = await fetch(privateUrl.replace("/rpc/v0", "/metrics"), {
        signal: AbortSignal.timeout(5_000),
      });
      assert.equal(res.status, 404);
      await res.text();
    });
  });

  describe("WebSocket", () => {
    const wsUrl = () => `ws://127.0.0.1:${server.address.port}/rpc/v0`;

    function openWs(target: string, opts?: WebSocket.ClientOptions): Promise<WebSocket> {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(target, opts);
        ws.once("open", () => resolve(ws));
        ws.once("error", reject);
      });
    }

    function closeWs(ws: WebSocket): Promise<void> {
      return new Promise((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once("close", () => resolve());
        ws.close();
      });
    }

    /** Sends one text frame and resolves with the next message, parsed. */
    function wsRequest(ws: WebSocket, text: string): Promise<Json> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no answer to ${text.slice(0, 80)}`));
        }, 5_000);
        const onMessage = (data: WebSocket.RawData) => {
          done();
          resolve(JSON.parse(data.toString()));
        };
        const onClose = () => {
          done();
          reject(new Error("connection closed before the answer"));
        };
        const done = () => {
          clearTimeout(timer);
          ws.off("message", onMessage);
          ws.off("close", onClose);
        };
        ws.on("message", onMessage);
        ws.on("close", onClose);
        ws.send(text);
      });
    }

    /** Attempts an upgrade that should be refused; resolves with the HTTP status. */
    function refusedUpgrade(target: string, opts?: WebSocket.ClientOptions): Promise<number> {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(target, opts);
        const timer = setTimeout(() => reject(new Error("no answer to the upgrade")), 5_000);
        ws.on("unexpected-response", (req, res) => {
          clearTimeout(timer);
          resolve(res.statusCode ?? 0);
          res.resume();
          req.destroy();
        });
        ws.on("open", () => {
          clearTimeout(timer);
          ws.terminate();
          reject(new Error("the upgrade was accepted"));
        });
        ws.on("error", () => {});
      });
    }

    test("a call over WebSocket works", async () => {
      const ws = await openWs(wsUrl());
      try {
        const r = await wsRequest(
          ws,
          JSON.stringify({ jsonrpc: "2.0", id: 1, method: "Test.Echo", params: ["ws"] }),
        );
        assert.deepEqual(r, { jsonrpc: "2.0", id: 1, result: ["ws"] });
        const b = await wsRequest(
          ws,
          JSON.stringify([
            { jsonrpc: "2.0", id: 2, method: "Test.Add", params: [1, 2] },
            { jsonrpc: "2.0", id: 3, method: "Test.Perms", params: [] },
          ]),
        );
        assert.ok(Array.isArray(b));
        assert.deepEqual(
          b.map((x: Json) => [x.id, x.result]),
          [
            [2, 3],
            [3, ["read"]],
          ],
        );
      } finally {
        await closeWs(ws);
      }
    });

    test("a write over WebSocket works with ?token=<write token> and is denied without one", async () => {
      const put = (v: string) => JSON.stringify({ jsonrpc: "2.0", id: 1, method: "Test.Put", params: [v] });
      const authed = await openWs(`${wsUrl()}?token=${encodeURIComponent(tokens.write)}`);
      try {
        const r = await wsRequest(authed, put("ws-write"));
        assert.equal(r.error, undefined, `unexpected error ${JSON.stringify(r.error)}`);
        assert.equal(r.result, puts.length);
        assert.equal(puts[puts.length - 1], "ws-write");
      } finally {
        await closeWs(authed);
      }
      const headerAuthed = await openWs(wsUrl(), { headers: { authorization: `Bearer ${tokens.write}` } });
      try {
        const r = await wsRequest(headerAuthed, put("ws-header"));
        assert.equal(r.result, puts.length);
      } finally {
        await closeWs(headerAuthed);
      }
      const anon = await openWs(wsUrl());
      try {
        const before = puts.length;
        const r = await wsRequest(anon, put("ws-anon"));
        assert.equal(r.error?.data?.code, "RPC_PERMISSION_DENIED");
        assert.equal(puts.length, before);
      } finally {
        await closeWs(anon);
      }
    });

    test("an upgrade with a forged token is refused with 401", async () => {
      assert.equal(await refusedUpgrade(`${wsUrl()}?token=${encodeURIComponent(foreignToken)}`), 401);
      assert.equal(await refusedUpgrade(`${wsUrl()}?token=garbage`), 401);
      assert.equal(await refusedUpgrade(wsUrl(), { headers: { authorization: "Bearer garbage" } }), 401);
    });

    test("an upgrade on another path is refused with 404", async () => {
      assert.equal(await refusedUpgrade(`ws://127.0.0.1:${server.address.port}/other`), 404);
    });

    test("malformed JSON over WebSocket gets a parse error and the connection stays usable", async () => {
      const ws = await openWs(wsUrl());
      try {
        const bad = await wsRequest(ws, "{not json");
        assert.equal(bad.error?.code, -32700);
        assert.equal(bad.id, null);
        const notRequest = await wsRequest(ws, "42");
        assert.equal(notRequest.error?.code, -32600);
        const good = await wsRequest(
          ws,
          JSON.stringify({ jsonrpc: "2.0", id: "again", method: "Test.Echo", params: [true] }),
        );
        assert.deepEqual(good, { jsonrpc: "2.0", id: "again", result: [true] });
        assert.equal(ws.readyState, WebSocket.OPEN);
      } finally {
        await closeWs(ws);
      }
    });
  });
});

describe("RpcClient", { timeout: 10_000 }, () => {
  test("a port with nothing listening gives RPC_UNREACHABLE saying connection refused", async () => {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once("error", reject);
      srv.listen(0, "127.0.0.1", () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const c = new RpcClient({
      url: `http://127.0.0.1:${port}/rpc/v0`,
      timeoutMs: 5_000,
      peerName: "test peer",
    });
    await assert.rejects(c.call("Test.Echo", []), (e: unknown) => {
      assert.ok(e instanceof SmError, `an SmError, got ${String(e)}`);
      assert.equal(e.code, "RPC_UNREACHABLE");
      assert.match(e.message, /connection refused/);
      assert.match(e.message, /test peer/);
      assert.equal(e.fields.cause, "ECONNREFUSED");
      assert.equal(e.fields.method, "Test.Echo");
      return true;
    });
  });
});

/** The same token with one payload character changed (signature no longer matches). */
function tamper(token: string): string {
  const [head, body, sig] = token.split(".") as [string, string, string];
  const payload = Buffer.from(JSON.stringify({ Allow: ["read", "write", "sign", "admin"] })).toString(
    "base64url",
  );
  assert.notEqual(payload, body);
  return `${head}.${payload}.${sig}`;
}
