import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  defaultNodeName,
  NODE_NAME_MAX,
  parseListen,
  parseNodeName,
  parseProxy,
} from "../../../src/daemon/flags.js";

describe("--listen", () => {
  test("accepts the seed's forms", () => {
    assert.deepEqual(parseListen(":2789"), { host: "", port: 2789 });
    assert.deepEqual(parseListen("127.0.0.1:1789"), { host: "127.0.0.1", port: 1789 });
    assert.deepEqual(parseListen("[::1]:1789"), { host: "::1", port: 1789 });
    assert.deepEqual(parseListen("localhost:0"), { host: "localhost", port: 0 });
  });
  test("rejects with one line saying what to write", () => {
    for (const bad of ["1789", "127.0.0.1", ":99999", ":port", "::1:1789", "bad host:1"]) {
      assert.throws(
        () => parseListen(bad),
        /--listen=.*(expected \[host\]:port|port must be a number|neither an IP address)/,
        bad,
      );
    }
  });
});

describe("--proxy", () => {
  test("accepts {ip}:{port}; an empty or wildcard host is this machine", () => {
    assert.deepEqual(parseProxy("127.0.0.1:1789"), { host: "127.0.0.1", port: 1789 });
    assert.deepEqual(parseProxy(":1789"), { host: "127.0.0.1", port: 1789 });
    assert.deepEqual(parseProxy("0.0.0.0:1789"), { host: "127.0.0.1", port: 1789 });
    assert.deepEqual(parseProxy("source.lan:1789"), { host: "source.lan", port: 1789 });
  });
  test("rejects with one line saying what to write", () => {
    assert.throws(
      () => parseProxy("http://127.0.0.1:1789"),
      /without a scheme, e\.g\. --proxy=127\.0\.0\.1:1789/,
    );
    for (const bad of ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ""]) {
      assert.throws(() => parseProxy(bad), /expected \{ip\}:\{port\}/, bad);
    }
  });
});

describe("--name", () => {
  test("accepts printable names up to 128 characters, unicode included", () => {
    assert.equal(parseNodeName("prover-3"), "prover-3");
    assert.equal(parseNodeName("host.lan:1789"), "host.lan:1789");
    assert.equal(parseNodeName("节点-1"), "节点-1");
    assert.equal(parseNodeName("x".repeat(NODE_NAME_MAX)), "x".repeat(NODE_NAME_MAX));
  });
  test("rejects empty, too long, white space and unprintable names, saying which", () => {
    const cases: [string, RegExp][] = [
      ["", /is empty/],
      ["x".repeat(NODE_NAME_MAX + 1), /is 129 characters long/],
      ["a b", /white space \(U\+0020\)/],
      ["a\tb", /white space \(U\+0009\)/],
      ["a\u0007", /not printable \(U\+0007\)/],
      ["a\u200bb", /not printable \(U\+200B\)/],
    ];
    for (const [raw, re] of cases) {
      assert.throws(() => parseNodeName(raw), re, JSON.stringify(raw));
      assert.throws(() => parseNodeName(raw), /--name=.*1 to 128 printable characters/);
    }
  });
  test("the default is <hostname>:<listen port>", () => {
    assert.equal(defaultNodeName("box1", 1789), "box1:1789");
  });
});
