/** What a reader without an admin token sees of an ext-prover child (issue 10, finding 12). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { redactChild } from "../../../src/daemon/node.js";
import type { ChildStatus } from "../../../src/prover/ext/pool.js";

const row: ChildStatus = {
  stage: "window_post",
  block: "WdPost[0]",
  index: 0,
  pid: 4242,
  state: "ready",
  bin: "/usr/local/bin/window_post",
  args: ["--s3-key", "AKIA-SECRET"],
  envs: { CUDA_VISIBLE_DEVICES: "1", TMPDIR: "/tmp/gpu1", AWS_SECRET_ACCESS_KEY: "s3cr3t" },
  concurrent: 1,
  weight: 1,
  inFlight: 0,
  done: 3,
  failed: 1,
  restarts: 1,
  avgMs: 1200,
  protocolErrors: 2,
  requestTimeoutMs: 900_000,
  nextRetryAt: null,
  lastError: 'child printed a line that is not a response: "token=s3cr3t"',
};

test("a non-admin reader sees the GPU and TMPDIR, not other envs, args or the last error's text", () => {
  const r = redactChild(row);
  const text = JSON.stringify(r);
  assert.ok(!text.includes("s3cr3t"), text);
  assert.ok(!text.includes("AKIA"), text);
  assert.deepEqual(r.envs, { CUDA_VISIBLE_DEVICES: "1", TMPDIR: "/tmp/gpu1" });
  assert.equal(r.hiddenEnvs, 1);
  assert.equal(r.args, null);
  assert.match(r.lastError ?? "", /admin tokens only/);
  // What is not secret stays: state, counters, the binary's path.
  assert.equal(r.state, "ready");
  assert.equal(r.failed, 1);
  assert.equal(r.bin, "/usr/local/bin/window_post");
  assert.equal(redactChild({ ...row, lastError: null }).lastError, null, "no error, nothing to hide");
});
