/**
 * Two call forms of the shared client stack that sophon-gateway needs (src/rpc/transport.ts, ws.ts):
 *  - `voidResult`: a void method's answer from ipfs-force-community/go-jsonrpc v0.1.9, whose `result`
 *    is omitempty, is `{"jsonrpc":"2.0","id":N}`; with the option it is a null result, over HTTP and
 *    WebSocket, and without it still a bad response (Lotus' methods keep that check);
 *  - `callOn(socket)`: a call bound to one connection never goes out on a later one.
 * A raw loopback server answers each request as the test says.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { WebSocketServer } from "ws";
import { nodeRpcError } from "../../../src/rpc/client.js";
import { HttpTransport } from "../../../src/rpc/http.js";
import type { RpcFailure } from "../../../src/rpc/transport.js";
import { WsTransport } from "../../../src/rpc/ws.js";
import { SmError } from "../../../src/util/errors.js";

/** The frame the server answers a request with; `Void` gets no `result` key. */
const answer = (m: { id: unknown; method: string }) =>
  JSON.stringify(
    m.method === "Test.Void" ? { jsonrpc: "2.0", id: m.id } : { jsonrpc: "2.0", id: m.id, result: 42 },
  );

describe("void results and calls bound to one connection", { timeout: 30_000 }, () => {
  let server: http.Server;
  let wss: WebSocketServer;
  let port = 0;
  /** Requests the server received over WebSocket, by method. */
  const received: string[] = [];
  const failures = (f: RpcFailure, m: string | null) => nodeRpcError("test peer", f, m);

  before(async () => {
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => res.writeHead(200).end(answer(JSON.parse(body))));
    });
    wss = new WebSocketServer({ server });
    wss.on("connection", (ws) =>
      ws.on("message", (data) => {
        const m = JSON.parse(String(data));
        received.push(m.method);
        ws.send(answer(m));
      }),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const ws = () =>
    new WsTransport({
      url: `ws://127.0.0.1:${port}/rpc/v2`,
      timeoutMs: 2000,
      failures,
      connectTimeoutMs: 2000,
      backoffMinMs: 10,
      backoffMaxMs: 20,
      refusedRetryMs: 20,
      pingIntervalMs: 0,
      maxFrameBytes: 1 << 20,
      label: "test peer",
    });

  test("an answer without result is a null result only for a call marked voidResult (WebSocket)", async () => {
    const t = ws();
    try {
      assert.equal(await t.call("Test.Void", [], { voidResult: true }), null);
      await assert.rejects(
        t.call("Test.Void", []),
        (e: unknown) => e instanceof SmError && e.code === "RPC_BAD_RESPONSE",
      );
      assert.equal(await t.call("Test.Value", [], { voidResult: true }), 42, "a result is still read");
    } finally {
      t.close();
    }
  });

  test("the same over HTTP", async () => {
    const t = new HttpTransport({
      url: `http://127.0.0.1:${port}/rpc/v2`,
      timeoutMs: 2000,
      failures,
      maxAnswerBytes: 1 << 20,
    });
    try {
      assert.equal(await t.call("Test.Void", [], { voidResult: true }), null);
      await assert.rejects(
        t.call("Test.Void", []),
        (e: unknown) => e instanceof SmError && e.code === "RPC_BAD_RESPONSE",
      );
    } finally {
      t.close();
    }
  });

  test("callOn sends on its own connection, and never on a later one", async () => {
    const t = ws();
    try {
      await t.call("Test.Value", []);
      const first = t.socket;
      assert.ok(first !== null);
      assert.equal(await t.callOn(first, "Test.Bound", []), 42);
      // The server drops the connection; the next plain call opens another.
      for (const c of wss.clients) c.terminate();
      const deadline = Date.now() + 2000;
      while (t.socket !== null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await t.call("Test.Value", []);
      assert.notEqual(t.socket, first);
      received.length = 0;
      await assert.rejects(
        t.callOn(first, "Test.Late", []),
        (e: unknown) =>
          e instanceof SmError &&
          e.code === "RPC_UNREACHABLE" &&
          /the connection closed before the call/.test(e.message),
      );
      assert.deepEqual(received, [], "nothing went out on the new connection");
      t.close();
      await assert.rejects(t.callOn(first, "Test.Closed", []), /closed/);
    } finally {
      t.close();
    }
  });
});
