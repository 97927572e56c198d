/**
 * Issue 10 finding 14: `--listen=:1789` stays the default (damocles compatibility), and the start-up
 * log says once, at WARN, when every interface is served with anonymous reads on. The detection of
 * "every interface" itself is from the bound socket (`RpcServer.allInterfaces`), so ":1789", "0:1789"
 * and "[::0]:1789" all count; test/e2e/rpcHardening.test.ts binds them in a private network namespace.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { listenNotice } from "../../../src/daemon/node.js";
import { nullLogger } from "../../../src/log/logger.js";
import { newSecret } from "../../../src/rpc/auth.js";
import { createDispatcher } from "../../../src/rpc/dispatch.js";
import { startRpcServer } from "../../../src/rpc/server.js";

test("every interface with anonymous reads: one WARN naming both ways to close it", () => {
  const n = listenNotice(true, true);
  assert.equal(n?.level, "warn");
  assert.match(n?.msg ?? "", /every network interface with anonymous reads on/);
  assert.match(n?.msg ?? "", /--listen=127\.0\.0\.1:<port>/);
  assert.match(n?.msg ?? "", /\[Common\.RPC\] AnonymousRead = false/);
});

test("every interface without anonymous reads: INFO only; loopback: nothing", () => {
  assert.equal(listenNotice(true, false)?.level, "info");
  assert.equal(listenNotice(false, true), undefined);
  assert.equal(listenNotice(false, false), undefined);
});

test("a loopback server does not count as every interface", async () => {
  const s = await startRpcServer({
    listen: { host: "127.0.0.1", port: 0 },
    dispatcher: createDispatcher({}, { logger: nullLogger }),
    secret: newSecret(),
    anonymousRead: true,
    logger: nullLogger,
  });
  try {
    assert.equal(s.allInterfaces, false);
  } finally {
    await s.close();
  }
});
