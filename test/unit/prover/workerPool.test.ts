import assert from "node:assert/strict";
import os from "node:os";
import { after, describe, test } from "node:test";
import { nullLogger } from "../../../src/log/logger.js";
import { createMetrics } from "../../../src/metrics/metrics.js";
import { frFromBytesLE, poseidonHashBigInt, poseidonHashBytes } from "../../../src/proofs/poseidon.js";
import { createWorkerPool, WorkerPool, workerPoolSize } from "../../../src/prover/workerPool.js";
import { AbortedError, SmError } from "../../../src/util/errors.js";

describe("WorkerPool", () => {
  const pool = new WorkerPool({ size: 2, logger: nullLogger });
  after(() => pool.close());

  test("hashes in worker threads with the same result as the main thread", async () => {
    const row = new Uint8Array(16 * 32);
    for (let i = 0; i < row.length; i += 32) row[i] = i / 32 + 1;
    const out = await pool.run("hashRow", [8, row]);
    assert.equal(out.length, 64);
    const children = Array.from({ length: 8 }, (_, i) => row.subarray(32 * i, 32 * (i + 1)));
    assert.deepEqual(out.subarray(0, 32), poseidonHashBytes(children));
    // The worker's own WebAssembly instance against the BigInt implementation, both groups.
    for (let g = 0; g < 2; g++) {
      const kids = Array.from({ length: 8 }, (_, i) => BigInt(8 * g + i + 1));
      assert.equal(
        frFromBytesLE(out.subarray(32 * g, 32 * g + 32)),
        poseidonHashBigInt(8, kids),
        `group ${g}`,
      );
    }
  });

  test("many tasks run in parallel and all complete", async () => {
    const rows = Array.from({ length: 12 }, (_, k) => new Uint8Array(8 * 32).fill(k));
    const outs = await Promise.all(rows.map((r) => pool.run("hashRow", [8, r])));
    for (const [k, o] of outs.entries()) assert.equal(o.length, 32, `task ${k}`);
    assert.equal(pool.load, 0);
  });

  test("errors come back as SmErrors; an aborted task rejects at once", async () => {
    await assert.rejects(
      pool.run("hashRow", [8, new Uint8Array(33)]),
      (e: unknown) => e instanceof SmError && /not a whole number/.test(e.message),
    );
    const bad = new Uint8Array(16 * 32);
    bad.fill(0xff, 11 * 32, 12 * 32); // group 1, child 3
    await assert.rejects(
      pool.run("hashRow", [8, bad]),
      (e: unknown) =>
        e instanceof SmError && /Poseidon child 3: not a canonical BLS12-381 Fr/.test(e.message),
    );
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(pool.run("hashRow", [8, new Uint8Array(256)], { signal: ac.signal }), AbortedError);
    const ac2 = new AbortController();
    const p = pool.run("hashRow", [8, new Uint8Array(256 * 64)], { signal: ac2.signal });
    ac2.abort();
    await assert.rejects(p, AbortedError);
  });

  test("waiting tasks start lowest priority first (earliest Close), FIFO among equals", async () => {
    const one = new WorkerPool({ size: 1, perWorker: 1, logger: nullLogger });
    try {
      const order: string[] = [];
      const track = (name: string, priority?: number) =>
        one.run("hashRow", [8, new Uint8Array(256)], { priority }).then(() => order.push(name));
      // Occupies the only slot while the others queue up.
      const busy = one.run("hashRow", [8, new Uint8Array(256 * 512)]);
      const all = [
        track("none"),
        track("close 300", 300),
        track("close 100 a", 100),
        track("close 200", 200),
        track("close 100 b", 100),
      ];
      await busy;
      await Promise.all(all);
      assert.deepEqual(order, ["close 100 a", "close 100 b", "close 200", "close 300", "none"]);
    } finally {
      await one.close();
    }
  });

  test("a closed pool refuses work", async () => {
    const p2 = new WorkerPool({ size: 1, logger: nullLogger });
    await p2.close();
    await assert.rejects(p2.run("hashRow", [8, new Uint8Array(256)]), /shut down/);
  });
});

describe("createWorkerPool: the one place pool sizes are decided", () => {
  test("all cores unless the operator chose; one task per thread only for sealing", () => {
    const cores = os.availableParallelism();
    for (const use of ["node", "processor", "devnet", "check"] as const)
      assert.deepEqual(workerPoolSize(use), { size: cores, perWorker: 2 }, use);
    assert.deepEqual(workerPoolSize("seal"), { size: cores, perWorker: 1 });
    assert.equal(workerPoolSize("processor", 3).size, 3);
    assert.equal(workerPoolSize("seal", 0).size, 1, "--threads 0 still runs one thread");
  });

  test("vsm_worker_threads counts the pool's threads while it is open", async () => {
    const metrics = createMetrics({ defaults: false });
    const threads = async () => (await metrics.workerThreads.get()).values[0]?.value;
    const pool = createWorkerPool("processor", { threads: 2, logger: nullLogger, metrics });
    assert.equal(pool.size, 2);
    assert.equal(await threads(), 2);
    await pool.close();
    await pool.close();
    assert.equal(await threads(), 0, "closed once, counted down once");
  });
});
