/**
 * Server-side channels (go-jsonrpc / Lotus `xrpc.ch.*`), checked with our Lotus client: the same
 * protocol a Lotus node speaks for ChainNotify, which the devnet serves.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { parseApiEndpoint } from "../../../src/chain/lotus/endpoint.js";
import { LotusRpc } from "../../../src/chain/lotus/rpc.js";
import { nullLogger } from "../../../src/log/logger.js";
import { newSecret } from "../../../src/rpc/auth.js";
import { createDispatcher } from "../../../src/rpc/dispatch.js";
import { ChannelResult, type MethodTable } from "../../../src/rpc/method.js";
import { type RpcServer, startRpcServer } from "../../../src/rpc/server.js";

describe("RPC server channels", () => {
  let server: RpcServer;
  let url = "";
  let stopped = 0;
  const methods: MethodTable = {
    "Test.Count": {
      perm: "read",
      doc: "(n) → a channel of 1..n, then closed",
      async handler(params) {
        const n = Number(params[0]);
        return new ChannelResult(async (send) => {
          for (let i = 1; i <= n; i++) send(i);
        });
      },
    },
    "Test.Forever": {
      perm: "read",
      doc: "a channel that ticks until cancelled",
      async handler() {
        return new ChannelResult(async (send, signal) => {
          let i = 0;
          try {
            while (!signal.aborted) {
              send(i++);
              await sleep(10, undefined, { signal }).catch(() => {});
            }
          } finally {
            stopped++;
          }
        });
      },
    },
  };

  before(async () => {
    server = await startRpcServer({
      listen: { host: "127.0.0.1", port: 0 },
      dispatcher: createDispatcher(methods, { logger: nullLogger }),
      secret: newSecret(),
      anonymousRead: true,
      logger: nullLogger,
    });
    url = `http://127.0.0.1:${server.address.port}/rpc/v0`;
  });
  after(() => server.close());

  const client = () =>
    new LotusRpc({
      endpoint: parseApiEndpoint(url, { key: "test", path: "/rpc/v0" }),
      label: "test server",
      logger: nullLogger,
    });

  test("values arrive in order and the channel closes when the producer ends", async () => {
    const c = client();
    try {
      const ch = await c.subscribe("Test.Count", [5]);
      const got: unknown[] = [];
      for await (const v of ch) got.push(v);
      assert.deepEqual(got, [1, 2, 3, 4, 5]);
    } finally {
      c.close();
    }
  });

  test("a consumer that stops cancels the producer (xrpc.cancel)", async () => {
    const c = client();
    try {
      const before = stopped;
      const ch = await c.subscribe("Test.Forever", []);
      let n = 0;
      for await (const _ of ch) if (++n === 3) break;
      for (let i = 0; i < 100 && stopped === before; i++) await sleep(10);
      assert.equal(stopped, before + 1, "the server-side producer stopped");
    } finally {
      c.close();
    }
  });

  test("a closed connection stops its channels", async () => {
    const c = client();
    const before = stopped;
    await c.subscribe("Test.Forever", []);
    c.close();
    for (let i = 0; i < 100 && stopped === before; i++) await sleep(10);
    assert.equal(stopped, before + 1);
  });

  test("over HTTP a channel method is a clear error", async () => {
    const res = await fetch(url, {
      method: "POST",
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "Test.Count", params: [2] }),
    });
    const body = (await res.json()) as { error: { message: string; data: { code: string } } };
    assert.equal(body.error.data.code, "RPC_NEEDS_WEBSOCKET");
    assert.match(body.error.message, /call it over a WebSocket/);
  });
});
