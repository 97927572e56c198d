/**
 * Issue 10, the RPC server's part: input that used to kill the process (a request target `new URL`
 * could not parse, deep nesting) or to be misread (a token with junk appended, `?token=` on a POST,
 * `{"Slow": "yes"}`), each over a real loopback socket against the real server.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { memoryLogger } from "../../../src/log/logger.js";
import { newSecret, signToken, verifyToken } from "../../../src/rpc/auth.js";
import { createDispatcher, jsonDeeperThan, MAX_JSON_DEPTH } from "../../../src/rpc/dispatch.js";
import { boolParam, type MethodTable, optionsParam, showParam, uintParam } from "../../../src/rpc/method.js";
import { parseRequestTarget, type RpcServer, startRpcServer } from "../../../src/rpc/server.js";
import { SmError } from "../../../src/util/errors.js";
import { MALFORMED_REQUESTS, rawLine, rawRequest, rawUpgrade } from "../../helpers/rawHttp.js";

// biome-ignore lint/suspicious/noExplicitAny: JSON-RPC answers are inspected structurally.
type Json = any;

const secret = newSecret();
const admin = signToken(secret, "admin");
const read = signToken(secret, "read");

let healthThrows = false;
const methods: MethodTable = {
  "Test.Echo": { perm: "read", doc: "returns its params", handler: async (params) => params },
  "Test.Perms": { perm: "read", doc: "perms", handler: async (_p, ctx) => [...ctx.perms].sort() },
  "Test.Options": {
    perm: "read",
    doc: "({Slow, Limit}) → the parsed options",
    handler: async (params) => {
      const o = optionsParam(params[0], "options", ["Slow", "Limit"]);
      return {
        Slow: o.Slow === undefined ? false : boolParam(o.Slow, "options.Slow"),
        Limit: o.Limit === undefined ? 10 : uintParam(o.Limit, "options.Limit"),
      };
    },
  },
};

describe("RPC server hardening (issue 10)", { timeout: 30_000 }, () => {
  let server: RpcServer;
  const mem = memoryLogger("debug");
  let port = 0;
  let url = "";

  before(async () => {
    server = await startRpcServer({
      listen: { host: "127.0.0.1", port: 0 },
      dispatcher: createDispatcher(methods, { logger: mem.logger }),
      secret,
      anonymousRead: true,
      logger: mem.logger,
      health: () => {
        if (healthThrows) throw new Error("health probe broke");
        return { role: "test" };
      },
    });
    port = server.address.port;
    url = `http://127.0.0.1:${port}/rpc/v0`;
  });
  after(() => server.close());

  const healthy = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/healthcheck`, { signal: AbortSignal.timeout(3_000) });
    assert.equal(res.status, 200);
    return res.json();
  };

  async function post(body: string, headers: Record<string, string> = {}, target = url) {
    const res = await fetch(target, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
      signal: AbortSignal.timeout(5_000),
    });
    return { status: res.status, json: JSON.parse((await res.text()) || "null") as Json };
  }
  const call = (method: string, params: unknown[], headers: Record<string, string> = {}) =>
    post(JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }), headers);

  describe("request targets", () => {
    test("parseRequestTarget reads paths and absolute URLs and never throws", () => {
      assert.equal(parseRequestTarget("/rpc/v0?token=x")?.pathname, "/rpc/v0");
      assert.equal(parseRequestTarget("/rpc/v0?token=x")?.query.get("token"), "x");
      assert.equal(parseRequestTarget("//")?.pathname, "//", "a path, not a host");
      assert.equal(parseRequestTarget("//a:99999/healthcheck")?.pathname, "//a:99999/healthcheck");
      assert.equal(parseRequestTarget("http://h:1/healthcheck")?.pathname, "/healthcheck");
      for (const bad of ["http://[::1", "http://a:99999/x", "*", "rpc/v0", "", undefined, "ftp://x/"])
        assert.equal(parseRequestTarget(bad), undefined, `${bad}`);
    });

    for (const c of MALFORMED_REQUESTS) {
      test(`${c.what} is answered ${c.status.join("/")} and the server keeps serving`, async () => {
        const r = await rawRequest(port, c.request);
        assert.ok(c.status.includes(r.status), `status ${r.status}, answer:\n${r.text}`);
        assert.ok(r.closed, "the server closed the connection after answering");
        assert.deepEqual(await healthy(), { ok: true, role: "test" });
      });
    }

    test("a bad target's answer names the target and the paths to use", async () => {
      const r = await rawRequest(port, rawLine("GET http://[::1 HTTP/1.1"));
      assert.match(
        r.text,
        /bad request target "http:\/\/\[::1": use a path such as \/rpc\/v0, \/healthcheck or \/metrics/,
      );
      const u = await rawRequest(port, rawUpgrade("http://[::1"));
      assert.match(u.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(u.text, /bad request target/);
    });

    test("an exception inside a handler is a 500 for that request and a log line, not an exit", async () => {
      healthThrows = true;
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthcheck`, {
          signal: AbortSignal.timeout(3_000),
        });
        assert.equal(res.status, 500);
        const j = (await res.json()) as Json;
        assert.equal(j.error.code, -32603);
        assert.match(j.error.message, /health probe broke/);
      } finally {
        healthThrows = false;
      }
      const logged = mem.lines
        .map((l) => JSON.parse(l))
        .find((l) => l.level === "error" && l.target === "/healthcheck");
      assert.ok(logged, "logged as an error");
      assert.equal(logged.err, "health probe broke");
      await healthy();
    });
  });

  describe("nesting depth", () => {
    test("jsonDeeperThan counts brackets outside strings only", () => {
      assert.equal(jsonDeeperThan("[[[]]]", 3), false);
      assert.equal(jsonDeeperThan("[[[[]]]]", 3), true);
      assert.equal(jsonDeeperThan('["[[[[[[", "\\"[[[[["]', 2), false);
      assert.equal(jsonDeeperThan('{"a":{"b":{"c":1}}}', 3), false);
      assert.equal(jsonDeeperThan('{"a":{"b":{"c":{}}}}', 3), true);
    });

    test("100,000 nested [ in a param are refused with -32600 naming the limit, over HTTP and WebSocket", async () => {
      const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
      const body = `{"jsonrpc":"2.0","id":7,"method":"Test.Echo","params":[${deep}]}`;
      const r = await post(body);
      assert.equal(r.status, 200);
      assert.equal(r.json.error.code, -32600);
      assert.match(r.json.error.message, new RegExp(`nested deeper than ${MAX_JSON_DEPTH} levels`));
      // Unclosed, as a fuzzer sends it; and as a whole batch.
      assert.equal((await post("[".repeat(100_000))).json.error.code, -32600);
      assert.equal((await post(`[${body}]`)).json.error.code, -32600);
      const ws = new WebSocket(`ws://127.0.0.1:${port}/rpc/v0`);
      await new Promise((resolve, reject) => {
        ws.once("open", resolve);
        ws.once("error", reject);
      });
      try {
        const answer = new Promise<Json>((resolve) =>
          ws.once("message", (d) => resolve(JSON.parse(String(d)))),
        );
        ws.send(body);
        assert.equal((await answer).error.code, -32600);
      } finally {
        ws.close();
      }
      await healthy();
    });

    test(`nesting up to ${MAX_JSON_DEPTH} levels is served`, async () => {
      // The request object and the params array are two levels.
      const inner = MAX_JSON_DEPTH - 2;
      const value = JSON.parse(`${"[".repeat(inner)}${"]".repeat(inner)}`);
      const r = await call("Test.Echo", [value]);
      assert.deepEqual(r.json.result, [value]);
    });

    test("a huge wrong-typed param is named in a short message, not echoed whole", async () => {
      const r = await call("Test.Options", [{ Limit: "x".repeat(1_000_000) }]);
      assert.equal(r.json.error.code, -32602);
      assert.ok(r.json.error.message.length < 300, `message of ${r.json.error.message.length} chars`);
      assert.match(r.json.error.message, /options\.Limit must be a non-negative integer, got "xxx+…/);
      assert.equal(showParam(undefined), "nothing");
    });
  });

  describe("typed params are not coerced", () => {
    test('{"Slow": "yes"} and other non-booleans are refused with -32602 naming the key', async () => {
      for (const v of ["yes", "true", 1, 0, null, [], {}]) {
        const r = await call("Test.Options", [{ Slow: v }]);
        assert.equal(r.json.error?.code, -32602, `Slow = ${JSON.stringify(v)}`);
        assert.match(r.json.error.message, /options\.Slow must be true or false, got /, JSON.stringify(v));
      }
      assert.deepEqual((await call("Test.Options", [{ Slow: true }])).json.result, { Slow: true, Limit: 10 });
      assert.deepEqual((await call("Test.Options", [{ slow: false, LIMIT: 3 }])).json.result, {
        Slow: false,
        Limit: 3,
      });
    });

    test("an unknown option key is refused, listing the keys, instead of falling back to a default", async () => {
      const r = await call("Test.Options", [{ Slw: true }]);
      assert.equal(r.json.error.code, -32602);
      assert.match(r.json.error.message, /options has an unknown key "Slw"; the keys are Slow, Limit/);
      assert.throws(() => boolParam("yes", "x"), /x must be true or false, got "yes"/);
    });
  });

  describe("tokens", () => {
    test("a valid token with anything appended, prepended or re-encoded is refused", () => {
      assert.deepEqual([...verifyToken(secret, admin)].sort(), ["admin", "read", "sign", "write"]);
      const [h, b, s] = admin.split(".") as [string, string, string];
      const lastSig = s.at(-1) ?? "";
      // Same 32 bytes in the last character's unused bits: base64url decoding would ignore them.
      const strayBits = "AEIMQUYcgkosw048".includes(lastSig)
        ? `${s.slice(0, -1)}${String.fromCharCode(lastSig.charCodeAt(0) + 1)}`
        : `${s.slice(0, -1)}A`;
      const variants = [
        `${admin}!!`,
        `${admin}=`,
        `${admin} `,
        ` ${admin}`,
        `${admin}\n`,
        `${h}.${b}.${s.slice(0, 20)}!!${s.slice(20)}`,
        `${h}.${b}.${strayBits}`,
        `${h}!.${b}.${s}`,
        `${h}.${b}%.${s}`,
        `${h}.${b}.${s}.`,
        `.${b}.${s}`,
      ];
      for (const t of variants) {
        assert.notEqual(t, admin);
        assert.throws(
          () => verifyToken(secret, t),
          (e: unknown) => e instanceof SmError && e.code === "RPC_UNAUTHENTICATED",
          JSON.stringify(t),
        );
      }
    });

    test("over HTTP and WebSocket, the admin token with '!!' appended is refused with 401", async () => {
      const r = await call("Test.Perms", [], { authorization: `Bearer ${admin}!!` });
      assert.equal(r.status, 401);
      assert.equal(r.json.error.data.code, "RPC_UNAUTHENTICATED");
      assert.match(r.json.error.message, /invalid API token: not a JWT/);
      const u = await rawRequest(port, rawUpgrade(`/rpc/v0?token=${admin}!!`));
      assert.equal(u.status, 401);
      // The exact token still works.
      assert.deepEqual((await call("Test.Perms", [], { authorization: `Bearer ${admin}` })).json.result, [
        "admin",
        "read",
        "sign",
        "write",
      ]);
    });

    test("?token= on a POST is refused with 401 saying to use the header; on an upgrade it works", async () => {
      const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "Test.Perms", params: [] });
      for (const t of [admin, read, "garbage", ""]) {
        const r = await post(body, {}, `${url}?token=${encodeURIComponent(t)}`);
        assert.equal(r.status, 401, `?token=${t.slice(0, 10)}`);
        assert.equal(r.json.error.data.code, "RPC_UNAUTHENTICATED");
        assert.match(
          r.json.error.message,
          /\?token=\) is accepted only on a WebSocket upgrade; send it as the header Authorization: Bearer <token>/,
        );
      }
      // The header is what authenticates a POST: with it, the query is not read.
      const both = await post(body, { authorization: `Bearer ${admin}` }, `${url}?token=x`);
      assert.equal(both.status, 200);
      const ws = new WebSocket(`ws://127.0.0.1:${port}/rpc/v0?token=${encodeURIComponent(admin)}`);
      await new Promise((resolve, reject) => {
        ws.once("open", resolve);
        ws.once("error", reject);
      });
      try {
        const answer = new Promise<Json>((resolve) =>
          ws.once("message", (d) => resolve(JSON.parse(String(d)))),
        );
        ws.send(body);
        assert.deepEqual((await answer).result, ["admin", "read", "sign", "write"]);
      } finally {
        ws.close();
      }
    });
  });

  test("request bodies held at once are capped per client and in all: past a cap a request gets 503, and the budget comes back", async () => {
    const small = await startRpcServer({
      listen: { host: "127.0.0.1", port: 0 },
      dispatcher: createDispatcher(methods, { logger: mem.logger }),
      secret,
      anonymousRead: true,
      logger: mem.logger,
      maxBufferedBytes: 1536 * 1024,
      maxBufferedBytesPerClient: 1024 * 1024,
    });
    const p = small.address.port;
    const padded = (n: number) => {
      const head = '{"jsonrpc":"2.0","id":1,"method":"Test.Echo","params":["';
      const tail = '"]}';
      return head + "x".repeat(n - head.length - tail.length) + tail;
    };
    /** A POST whose body is `sent` bytes of `declared`: a client that stalls holds what it sent. */
    const postFrom = (from: string, sent: number, declared = sent, waitMs = 3_000) => {
      const body = padded(sent);
      return rawRequest(
        p,
        `POST /rpc/v0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${declared}\r\n\r\n${body}`,
        waitMs,
        from,
      );
    };
    const settle = () => new Promise((r) => setTimeout(r, 300));
    try {
      // 127.0.0.1 stalls with 800 KB: its own next 400 KB is refused, though the total has room.
      const stalled1 = postFrom("127.0.0.1", 800 * 1024, 800 * 1024 + 10, 2_000);
      await settle();
      const own = await postFrom("127.0.0.1", 400 * 1024);
      assert.equal(own.status, 503, own.text.slice(0, 300));
      assert.match(own.text, /retry-after: 1/i);
      assert.match(
        own.text,
        /this client \(127\.0\.0\.1\) already has 1 MiB of requests being read; retry in a moment/,
      );
      // Another address is served meanwhile...
      const other = await postFrom("127.0.0.2", 300 * 1024);
      assert.equal(other.status, 200, other.text.slice(0, 300));
      // ...until the total is spent: 127.0.0.2 stalls with 600 KB, then 127.0.0.3's 400 KB is refused.
      const stalled2 = postFrom("127.0.0.2", 600 * 1024, 600 * 1024 + 10, 2_000);
      await settle();
      const third = await postFrom("127.0.0.3", 400 * 1024);
      assert.equal(third.status, 503, third.text.slice(0, 300));
      assert.match(third.text, /the node is busy reading 1 MiB of other requests; retry in a moment/);
      // Each refusal is a warning naming the client and the bytes held.
      const refusals = mem.lines
        .map((l) => JSON.parse(l) as Json)
        .filter((l) => l.level === "warn" && typeof l.held_bytes === "number");
      for (const remote of ["127.0.0.1", "127.0.0.3"])
        assert.ok(
          refusals.some((l) => l.remote === remote),
          `a warning for ${remote}: ${JSON.stringify(refusals)}`,
        );
      // The stalled clients give up: their bytes are released.
      await Promise.all([stalled1, stalled2]);
      await settle();
      const again = await postFrom("127.0.0.1", 1000 * 1024);
      assert.equal(again.status, 200, again.text.slice(0, 300));
    } finally {
      await small.close();
    }
  });
});
