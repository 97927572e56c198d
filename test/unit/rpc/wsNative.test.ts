/**
 * ws masks what a client sends and unmasks what a server receives, byte by byte in JS unless the
 * optional `bufferutil` addon loads: ~6 ms a 4 MB frame against ~0.3 ms, and a message of three
 * partitions of vanilla proofs is ~4 MB, sent twice (gas estimate, push). The addon ships prebuilt
 * for linux-x64 (elsewhere its install script builds it); this holds the install to it.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";

const require = createRequire(import.meta.url);

test("ws masks and unmasks frames with the bufferutil addon", () => {
  const native = require("bufferutil") as { mask: unknown; unmask: unknown };
  assert.equal(typeof native.unmask, "function");
  assert.match(String(native.unmask), /native code/, "bufferutil fell back to its JS version");
  // ws's own helper, reached by path: its package exports do not list it.
  const wsUtil = require(require.resolve("ws").replace(/index\.js$/, "lib/buffer-util.js")) as {
    unmask: (b: Buffer, m: Buffer) => void;
  };
  assert.match(String(wsUtil.unmask), /bufferUtil\.unmask/, "ws did not pick up bufferutil");
  const b = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  const m = Buffer.from([0xff, 0, 0xff, 0]);
  const copy = Buffer.concat([b, Buffer.alloc(64)]);
  wsUtil.unmask(copy, m);
  wsUtil.unmask(copy, m);
  assert.deepEqual(copy.subarray(0, 16), b);
});
