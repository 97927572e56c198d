/**
 * The ext-prover pool with real child processes: test/fixtures/testProcessor.mjs speaks the protocol
 * and misbehaves on request (slow, crash, garbage, never ready, out of order, ...).
 */
import assert from "node:assert/strict";
import { constants as bufferConstants } from "node:buffer";
import fs from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { memoryLogger, nullLogger } from "../../../src/log/logger.js";
import { createMetrics } from "../../../src/metrics/metrics.js";
import { decodeFallbackPoStSectorProof } from "../../../src/proofs/bincode.js";
import { shapeByName } from "../../../src/proofs/sectorShapes.js";
import { writeSyntheticSector } from "../../../src/proofs/syntheticSector.js";
import { ExtProverPool } from "../../../src/prover/ext/pool.js";
import type { ChildSpec } from "../../../src/prover/ext/specs.js";
import { specFromBlock } from "../../../src/prover/ext/specs.js";
import { LINE_BYTES_CEILING, MAX_RESPONSE_LINE_BYTES, type PoStTask } from "../../../src/prover/protocol.js";
import { startProcess } from "../../../src/util/childProcess.js";
import { AbortedError, SmError } from "../../../src/util/errors.js";
import { seededRandom } from "../../../src/util/random.js";
import { alive } from "../../helpers/process.js";
import { tempDir } from "../../helpers/tmp.js";

const FIXTURE = fileURLToPath(new URL("../../fixtures/testProcessor.mjs", import.meta.url));

function spec(
  index: number,
  mode: string,
  extra: Partial<ChildSpec> = {},
  env: Record<string, string> = {},
): ChildSpec {
  return {
    stage: "window_post",
    index,
    bin: process.execPath,
    args: [FIXTURE, "window_post"],
    envs: { MODE: mode, ...env },
    concurrent: 1,
    weight: 1,
    readyTimeoutMs: 5000,
    ...extra,
  };
}

const task = (...sectors: number[]): PoStTask => ({
  minerId: 1000,
  proofType: "StackedDrgWindow2KiBV1_2",
  replicas: sectors.map((s) => ({
    sectorId: s,
    commR: new Uint8Array(32),
    cacheDir: "/c",
    sealedFile: "/s",
  })),
  seed: new Uint8Array(32),
});

const waitFor = async (cond: () => boolean, ms: number) => {
  for (const end = Date.now() + ms; Date.now() < end && !cond(); ) await sleep(25);
  return cond();
};

const text = (b: Uint8Array | undefined) => Buffer.from(b ?? new Uint8Array()).toString();

async function withPool<T>(
  specs: ChildSpec[],
  fn: (pool: ExtProverPool) => Promise<T>,
  deps: Partial<ConstructorParameters<typeof ExtProverPool>[2]> = {},
): Promise<T> {
  const pool = new ExtProverPool("window_post", specs, {
    logger: nullLogger,
    backoffInitialMs: 100,
    ...deps,
  });
  try {
    await pool.start();
    return await fn(pool);
  } finally {
    await pool.close();
  }
}

describe("ExtProverPool", () => {
  test("the seed's log lines appear for every child; requests are answered", async () => {
    const { logger, lines } = memoryLogger("info");
    await withPool(
      [spec(0, "echo"), spec(1, "echo")],
      async (pool) => {
        const out = await pool.submit(task(5, 6), { priority: 100 });
        assert.deepEqual(
          out.proofs.map((p) => text(p).split(":")[1]),
          ["5", "6"],
        );
        const pids = pool.status().map((s) => s.pid);
        for (const pid of pids) {
          const mine = lines
            .map((l) => JSON.parse(l) as Record<string, unknown>)
            .filter((o) => o.pid === pid);
          for (const [msg, extra] of [
            ["response loop start", { loop: "resp" }],
            ["request loop start", { loop: "req" }],
            ["ready", { proc: "wdpost" }],
          ] as const) {
            const hit = mine.find((o) => o.msg === msg);
            assert.ok(hit, `${msg} for pid ${pid}`);
            assert.equal(hit.ppid, process.pid);
            for (const [k, v] of Object.entries(extra)) assert.equal(hit[k], v, `${msg}.${k}`);
          }
          assert.ok(
            mine.some((o) => String(o.msg).startsWith(`test processor ${pid}`)),
            "child stderr relayed, tagged with its pid",
          );
        }
      },
      { logger },
    );
  });

  test("the seed's 8 blocks each get their own CUDA_VISIBLE_DEVICES and TMPDIR", async () => {
    const specs = Array.from({ length: 8 }, (_, i) =>
      spec(i, "env", { concurrent: 1 }, { CUDA_VISIBLE_DEVICES: String(i), TMPDIR: `/tmp/ext-prover${i}/` }),
    );
    await withPool(specs, async (pool) => {
      assert.equal(pool.readyCount, 8);
      const outs = await Promise.all(Array.from({ length: 8 }, () => pool.submit(task(1), { priority: 1 })));
      const seen = outs.map(
        (o) => JSON.parse(text(o.proofs[0])) as { CUDA_VISIBLE_DEVICES: string; TMPDIR: string },
      );
      assert.deepEqual(
        seen.map((s) => s.CUDA_VISIBLE_DEVICES).sort(),
        ["0", "1", "2", "3", "4", "5", "6", "7"],
        "one request per child, each its own GPU",
      );
      for (const s of seen) assert.equal(s.TMPDIR, `/tmp/ext-prover${s.CUDA_VISIBLE_DEVICES}/`);
      assert.deepEqual(
        pool.status().map((s) => s.envs.CUDA_VISIBLE_DEVICES),
        ["0", "1", "2", "3", "4", "5", "6", "7"],
      );
    });
  });

  test("weighted choice follows Weight among children with a free slot (fixed seed)", async () => {
    const weights = [1, 2, 3];
    const specs = weights.map((w, i) => spec(i, "echo", { concurrent: 1000, weight: w }));
    await withPool(
      specs,
      async (pool) => {
        const pidToBlock = new Map(pool.status().map((s) => [s.pid, s.index]));
        const counts = [0, 0, 0];
        const N = 1200;
        const outs = await Promise.all(
          Array.from({ length: N }, (_, i) => pool.submit(task(i), { priority: 1 })),
        );
        for (const o of outs) {
          const idx = pidToBlock.get(Number(text(o.proofs[0]).split(":")[0])) ?? -1;
          counts[idx] = (counts[idx] ?? 0) + 1;
        }
        weights.forEach((w, i) => {
          const expected = (N * w) / 6;
          assert.ok(
            Math.abs((counts[i] ?? 0) - expected) < expected * 0.15,
            `block ${i} (weight ${w}): ${counts[i]} of ${N}, expected ≈ ${expected}`,
          );
        });
        assert.ok((counts[2] ?? 0) > 0, "the last child is chosen (damocles' off-by-one never picks it)");
      },
      { random: seededRandom(42) },
    );
  });

  test("when every slot is busy, waiting requests go earliest deadline first", async () => {
    await withPool([spec(0, "slow", {}, { SLOW_MS: "150" })], async (pool) => {
      const order: string[] = [];
      const go = (name: string, priority: number) =>
        pool.submit(task(1), { priority }).then(() => order.push(name));
      const first = go("first (busy)", 500);
      await sleep(20);
      const rest = [
        go("close 900", 900),
        go("close 300", 300),
        go("close 600", 600),
        go("close 300 later", 300),
      ];
      await Promise.all([first, ...rest]);
      assert.deepEqual(order, ["first (busy)", "close 300", "close 300 later", "close 600", "close 900"]);
    });
  });

  test("a child that crashes fails its in-flight request at once and is respawned", async () => {
    await withPool([spec(0, "crash", {}, { CRASH_AT: "2" })], async (pool) => {
      await pool.submit(task(1), { priority: 1 });
      const pid = pool.status()[0]?.pid;
      const t0 = Date.now();
      await assert.rejects(
        pool.submit(task(2), { priority: 1 }),
        (e: unknown) =>
          e instanceof SmError &&
          e.code === "EXT_PROVER_CHILD_EXITED" &&
          /exited with code 3/.test(e.message),
      );
      assert.ok(Date.now() - t0 < 2000, "failed at once, not at a deadline");
      for (let i = 0; i < 50 && pool.readyCount === 0; i++) await sleep(50);
      const st = pool.status()[0];
      assert.equal(st?.state, "ready");
      assert.notEqual(st?.pid, pid);
      assert.equal(st?.restarts, 1);
      assert.match(st?.lastError ?? "", /exited with code 3/);
      const again = await pool.submit(task(3), { priority: 1 });
      assert.equal(text(again.proofs[0]).split(":")[1], "3");
    });
  });

  test("a child that is never ready is reported; the pool starts if another child is ready; none ready is an error", async () => {
    await withPool([spec(0, "never-ready", { readyTimeoutMs: 300 }), spec(1, "echo")], async (pool) => {
      const st = pool.status();
      assert.match(st[0]?.lastError ?? "", /did not print "window_post processor ready" within 0\.3 s/);
      assert.equal(st[1]?.state, "ready");
      assert.equal((await pool.submit(task(1), { priority: 1 })).proofs.length, 1);
    });
    const pool = new ExtProverPool("window_post", [spec(0, "wrong-ready", { readyTimeoutMs: 2000 })], {
      logger: nullLogger,
      backoffInitialMs: 60_000,
    });
    await assert.rejects(
      pool.start(),
      (e: unknown) =>
        e instanceof SmError &&
        e.code === "EXT_PROVER_NONE_READY" &&
        /printed "hello there" instead of "window_post processor ready"/.test(e.message),
    );
    await pool.close();
  });

  test("garbage lines and over-long lines are skipped; answers still reach their callers", async () => {
    await withPool([spec(0, "garbage"), spec(1, "huge", { maxLineBytes: 1024 * 1024 })], async (pool) => {
      const outs = await Promise.all([1, 2, 3, 4, 5, 6].map((s) => pool.submit(task(s), { priority: 1 })));
      assert.deepEqual(
        outs.map((o) => text(o.proofs[0]).split(":")[1]),
        ["1", "2", "3", "4", "5", "6"],
      );
    });
  });

  test("answers out of order are routed by id", async () => {
    await withPool([spec(0, "reorder", { concurrent: 2 })], async (pool) => {
      const outs = await Promise.all([1, 2, 3, 4].map((s) => pool.submit(task(s), { priority: 1 })));
      assert.deepEqual(
        outs.map((o) => text(o.proofs[0]).split(":")[1]),
        ["1", "2", "3", "4"],
        "each answer reaches its own caller",
      );
    });
  });

  test("an abandoned request frees its slot at once; the child's late answer is dropped", async () => {
    const { logger, lines } = memoryLogger("info");
    await withPool(
      [spec(0, "slow", {}, { SLOW_MS: "3000" })],
      async (pool) => {
        const ac = new AbortController();
        const abandoned = pool.submit(task(1), { priority: 1, signal: ac.signal });
        await sleep(50);
        ac.abort();
        await assert.rejects(abandoned, AbortedError);
        assert.equal(pool.status()[0]?.inFlight, 0, "the slot is free again");
        const t0 = Date.now();
        const out = await pool.submit(task(2), { priority: 1 });
        assert.equal(text(out.proofs[0]).split(":")[1], "2");
        // It takes SLOW_MS itself; behind the abandoned one it would take about twice that. The
        // margin is wide for a loaded 2-core machine.
        assert.ok(
          Date.now() - t0 < 4500,
          `the next request did not wait for the abandoned one (${Date.now() - t0} ms)`,
        );
        for (let i = 0; i < 100 && !lines.some((l) => l.includes("late response")); i++) await sleep(50);
        assert.ok(lines.some((l) => l.includes("late response for an abandoned request dropped")));
        assert.equal(pool.status()[0]?.protocolErrors, 0, "a late answer is not a protocol error");
        const queued = new AbortController();
        const busy = pool.submit(task(3), { priority: 1 });
        const p = pool.submit(task(4), { priority: 1, signal: queued.signal });
        queued.abort();
        await assert.rejects(p, AbortedError);
        await busy;
      },
      { logger },
    );
  });

  test("an abandoned request still counts against RequestTimeout: a child that never answers it is killed", async () => {
    await withPool([spec(0, "silent", { requestTimeoutMs: 800 })], async (pool) => {
      const pid = pool.status()[0]?.pid ?? -1;
      const ac = new AbortController();
      const p = pool.submit(task(1), { priority: 1, signal: ac.signal });
      await sleep(50);
      ac.abort();
      await assert.rejects(p, AbortedError);
      for (let i = 0; i < 60 && alive(pid); i++) await sleep(50);
      assert.equal(alive(pid), false, "the silent child was killed");
      assert.match(
        pool.status()[0]?.lastError ?? "",
        /did not answer request 1 within 800ms \(RequestTimeout\)/,
      );
    });
  });

  test("a child's err_msg fails the request with the child's text", async () => {
    await withPool([spec(0, "fail")], async (pool) => {
      await assert.rejects(
        pool.submit(task(1), { priority: 1 }),
        (e: unknown) =>
          e instanceof SmError &&
          e.code === "EXT_PROVER_TASK_FAILED" &&
          /cannot prove for miner 1000/.test(e.message),
      );
      assert.equal(pool.status()[0]?.failed, 1);
    });
  });

  test("reload: unchanged blocks keep running, changed ones restart after draining, new ones spawn, removed ones stop", async () => {
    await withPool([spec(0, "echo"), spec(1, "slow", {}, { SLOW_MS: "300" })], async (pool) => {
      const [p0, p1] = pool.status().map((s) => s.pid);
      const inflight = pool.submit(task(9), { priority: 1 });
      await sleep(30);
      const r = await pool.reload([spec(0, "echo"), spec(1, "echo", { weight: 5 }), spec(2, "echo")]);
      assert.deepEqual(r, { added: 1, removed: 0, changed: 1, retried: 0 });
      await inflight; // the changed block finished its work before restarting
      for (let i = 0; i < 60 && pool.readyCount < 3; i++) await sleep(50);
      const st = pool.status();
      assert.equal(st[0]?.pid, p0, "unchanged block kept");
      assert.notEqual(st[1]?.pid, p1, "changed block restarted");
      assert.equal(st[1]?.weight, 5);
      assert.equal(st[2]?.state, "ready");
      const r2 = await pool.reload([spec(0, "echo")]);
      assert.deepEqual(r2, { added: 0, removed: 2, changed: 0, retried: 0 });
      assert.equal(pool.status().length, 1);
    });
  });

  test("metrics count requests per block and result", async () => {
    const metrics = createMetrics({ defaults: false });
    await withPool(
      [spec(0, "echo"), spec(1, "fail")],
      async (pool) => {
        await Promise.allSettled(Array.from({ length: 6 }, (_, i) => pool.submit(task(i), { priority: 1 })));
        const text = await metrics.registry.metrics();
        const count = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
        const ok = count(
          /vsm_ext_prover_requests_total\{stage="window_post",block="WdPost\[0\]",result="ok"\} (\d+)/,
        );
        const err = count(
          /vsm_ext_prover_requests_total\{stage="window_post",block="WdPost\[1\]",result="error"\} (\d+)/,
        );
        assert.equal(ok + err, 6, text);
        assert.match(text, /vsm_ext_prover_in_flight\{stage="window_post",block="WdPost\[0\]"\} 0/);
      },
      { metrics, random: seededRandom(7) },
    );
  });

  test("WinningPoSt has its own pool: it never waits behind WindowPoSt work", async () => {
    const wd = new ExtProverPool("window_post", [spec(0, "slow", {}, { SLOW_MS: "3000" })], {
      logger: nullLogger,
    });
    const win = new ExtProverPool(
      "winning_post",
      [{ ...spec(0, "echo"), stage: "winning_post", args: [FIXTURE, "winning_post"] }],
      { logger: nullLogger },
    );
    try {
      await Promise.all([wd.start(), win.start()]);
      const busy = [wd.submit(task(1), { priority: 1 }), wd.submit(task(2), { priority: 1 })];
      const t0 = Date.now();
      await win.submit(task(9), { priority: 1 });
      assert.ok(
        Date.now() - t0 < 1500,
        `winning answered in ${Date.now() - t0} ms while WindowPoSt was busy`,
      );
      await Promise.all(busy);
    } finally {
      await Promise.all([wd.close(), win.close()]);
    }
  });

  test("our own wdpost child (no Bin) proves real synthetic sectors through the pool", async () => {
    const t = await tempDir("vsm-pool-wdpost-");
    try {
      const k2 = shapeByName("2KiB")!;
      const s1 = await writeSyntheticSector({ storeDir: t.dir, miner: 1000, number: 1, shape: k2 });
      const s2 = await writeSyntheticSector({ storeDir: t.dir, miner: 1000, number: 2, shape: k2 });
      const own = specFromBlock("window_post", 0, {
        Bin: undefined,
        Args: [],
        Envs: { VSM_PROVER_THREADS: "1" },
        Concurrent: 2,
        Weight: 1,
        ReadyTimeoutSecs: 20,
        RequestTimeoutMs: 15 * 60_000,
        line: 1,
      });
      await withPool([own], async (pool) => {
        const seed = new Uint8Array(32).fill(7);
        const out = await pool.submit(
          {
            minerId: 1000,
            proofType: "StackedDrgWindow2KiBV1_2",
            replicas: [
              { sectorId: 1, commR: s1.commR, cacheDir: s1.cacheDir, sealedFile: s1.sealedFile },
              { sectorId: 2, commR: s2.commR, cacheDir: s2.cacheDir, sealedFile: s2.sealedFile },
            ],
            seed,
          },
          { priority: 1 },
        );
        assert.deepEqual(out.faults, []);
        assert.deepEqual(
          out.proofs.map((p) => decodeFallbackPoStSectorProof(p).sectorId),
          [1n, 2n],
        );
      });
    } finally {
      await t.cleanup();
    }
  });
});

describe("a child never holds the node (issue 10)", () => {
  test("response lines are bounded far below V8's string limit", () => {
    assert.ok(MAX_RESPONSE_LINE_BYTES <= LINE_BYTES_CEILING);
    assert.ok(LINE_BYTES_CEILING < bufferConstants.MAX_STRING_LENGTH);
    assert.ok(MAX_RESPONSE_LINE_BYTES * 4 <= bufferConstants.MAX_STRING_LENGTH + 64, "4x below V8's limit");
    assert.ok(MAX_RESPONSE_LINE_BYTES >= 100 * 1024 * 1024, "room for a full partition's vanilla proofs");
  });

  test("over-long lines are protocol errors of that child; an over-long answer fails its request at once", async () => {
    const metrics = createMetrics({ defaults: false });
    await withPool(
      [
        spec(0, "huge", { maxLineBytes: 1024 * 1024 }),
        spec(1, "huge-answer", { maxLineBytes: 1024 * 1024 }, { HUGE_BYTES: String(3 * 1024 * 1024) }),
      ],
      async (pool) => {
        const out = await Promise.allSettled([1, 2, 3, 4].map((s) => pool.submit(task(s), { priority: 1 })));
        const ok = out.filter((o) => o.status === "fulfilled");
        const bad = out.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : []));
        assert.ok(ok.length >= 1 && bad.length >= 1, "both children got work");
        for (const e of bad)
          assert.ok(
            e instanceof SmError &&
              e.code === "EXT_PROVER_BAD_RESPONSE" &&
              /WdPost\[1\] .* answered with a 3145728-byte line, over the 1048576-byte limit/.test(e.message),
            String(e),
          );
        const st = pool.status();
        assert.equal(st[0]?.protocolErrors, ok.length, "one skipped 9 MiB line per answer of block 0");
        assert.equal(st[1]?.protocolErrors, bad.length);
        assert.equal(st[1]?.state, "ready", "the child stays in service");
        const m = await metrics.registry.metrics();
        assert.match(
          m,
          new RegExp(
            `vsm_ext_prover_protocol_errors_total\\{stage="window_post",block="WdPost\\[1\\]"\\} ${bad.length}`,
          ),
        );
      },
      { metrics, random: seededRandom(3) },
    );
  });

  test("garbage lines and answers to unknown ids are counted as protocol errors", async () => {
    await withPool([spec(0, "garbage")], async (pool) => {
      await pool.submit(task(1), { priority: 1 });
      await pool.submit(task(2), { priority: 1 });
      assert.equal(pool.status()[0]?.protocolErrors, 4, "two lines before each of two answers");
    });
  });

  test("a child that closes its stdout is dead: its request fails at once, it is killed and respawned", async () => {
    await withPool([spec(0, "close-stdout", { requestTimeoutMs: 60_000 })], async (pool) => {
      const pid = pool.status()[0]?.pid ?? -1;
      const t0 = Date.now();
      await assert.rejects(
        pool.submit(task(1), { priority: 1 }),
        (e: unknown) =>
          e instanceof SmError &&
          e.code === "EXT_PROVER_CHILD_EXITED" &&
          /closed its stdout \(EOF\) while still running; killed/.test(e.message),
      );
      assert.ok(Date.now() - t0 < 6000, `failed within ${Date.now() - t0} ms, not at RequestTimeout`);
      assert.ok(await waitFor(() => !alive(pid), 3000), "the half-dead child was killed");
      assert.ok(await waitFor(() => pool.readyCount === 1, 5000), "and respawned");
      assert.notEqual(pool.status()[0]?.pid, pid);
      assert.equal(pool.status()[0]?.inFlight, 0);
    });
  });

  test("vsm_ext_prover_child_up follows a child: 1 when ready, 0 once it died, 1 again when respawned", async () => {
    const metrics = createMetrics({ defaults: false });
    const up = async () =>
      (await metrics.extProverChildUp.get()).values.find((v) => v.labels.block === "WdPost[0]")?.value;
    await withPool(
      [spec(0, "close-stdout", { requestTimeoutMs: 60_000 })],
      async (pool) => {
        assert.equal(await up(), 1);
        const seen = new Set<number | undefined>();
        let watching = true;
        const watch = (async () => {
          while (watching) {
            seen.add(await up());
            await new Promise((r) => setTimeout(r, 5));
          }
        })();
        await assert.rejects(pool.submit(task(1), { priority: 1 }));
        assert.ok(await waitFor(() => pool.readyCount === 1 && seen.has(0), 5000), "respawned");
        watching = false;
        await watch;
        assert.ok(seen.has(0), "down while it was dead");
        assert.equal(await up(), 1, "up again");
        const exits = (await metrics.extProverRestarts.get()).values[0]?.value ?? 0;
        assert.ok(exits >= 1, "its exit counted");
      },
      { metrics },
    );
  });

  test("RequestTimeout: a child that never answers is killed and respawned; its request fails over to another child", async () => {
    const metrics = createMetrics({ defaults: false });
    await withPool(
      [spec(0, "silent", { requestTimeoutMs: 1000 }), spec(1, "echo")],
      async (pool) => {
        const silentPid = pool.status()[0]?.pid ?? -1;
        const t0 = Date.now();
        // Two at once with Concurrent = 1 each: one lands on each child.
        const starts: string[][] = [[], []];
        const outs = await Promise.all(
          [1, 2].map((s, i) => pool.submit(task(s), { priority: 1, onStart: (b) => starts[i]?.push(b) })),
        );
        // onStart names each block that took a request: the silent one's went on to the other child.
        assert.deepEqual(starts.map((x) => x.join(" → ")).sort(), ["WdPost[0] → WdPost[1]", "WdPost[1]"]);
        const echoPid = pool.status()[1]?.pid;
        for (const o of outs) assert.equal(text(o.proofs[0]).split(":")[0], String(echoPid));
        assert.ok(Date.now() - t0 < 8000, `answered after ${Date.now() - t0} ms`);
        assert.ok(await waitFor(() => !alive(silentPid), 3000), "the silent child was killed");
        assert.match(
          pool.status()[0]?.lastError ?? "",
          /did not answer request 1 within 1s \(RequestTimeout\); killed/,
        );
        const scraped = await metrics.registry.metrics();
        const failedOver = Number(
          /vsm_ext_prover_requests_total\{stage="window_post",block="WdPost\[0\]",result="failed_over"\} (\d+)/.exec(
            scraped,
          )?.[1] ?? 0,
        );
        assert.ok(failedOver >= 1, `the silent child's request counted as failed over:\n${scraped}`);
        assert.ok(await waitFor(() => pool.status()[0]?.state === "ready", 5000), "respawned");
      },
      { metrics },
    );
  });

  test("an answer printed just before the child exits still reaches its caller", async () => {
    await withPool([spec(0, "answer-exit")], async (pool) => {
      for (let i = 0; i < 3; i++) {
        await waitFor(() => pool.readyCount === 1, 5000);
        const out = await pool.submit(task(i), { priority: 1 });
        assert.equal(text(out.proofs[0]).split(":")[1], String(i));
        await waitFor(() => pool.readyCount === 0, 2000);
      }
    });
  });

  test("a single child that dies with the request fails it to the caller (nothing to fail over to)", async () => {
    await withPool([spec(0, "silent", { requestTimeoutMs: 500 })], async (pool) => {
      await assert.rejects(
        pool.submit(task(1), { priority: 1 }),
        (e: unknown) => e instanceof SmError && e.code === "EXT_PROVER_CHILD_EXITED",
      );
    });
  });

  test("reload that restarts a silent child really starts the new one, and its request moves there", async () => {
    await withPool([spec(0, "silent", { requestTimeoutMs: 1000 })], async (pool) => {
      const old = pool.status()[0]?.pid ?? -1;
      const p = pool.submit(task(7), { priority: 1 });
      await sleep(100);
      const r = await pool.reload([spec(0, "echo")]);
      assert.deepEqual(r, { added: 0, removed: 0, changed: 1, retried: 0 });
      const out = await p;
      const st = pool.status()[0];
      assert.equal(st?.state, "ready");
      assert.notEqual(st?.pid, old);
      assert.equal(text(out.proofs[0]), `${st?.pid}:7`, "answered by the new child");
      assert.equal(alive(old), false);
    });
  });

  test("shutdown kills a child that ignores stdin EOF and SIGTERM, and its own child: no orphan", async () => {
    const t = await tempDir("vsm-pool-orphan-");
    const pidfile = path.join(t.dir, "grandchild.pid");
    const pool = new ExtProverPool(
      "window_post",
      [spec(0, "stubborn", {}, { PIDFILE: pidfile }), spec(1, "silent")],
      { logger: nullLogger },
    );
    try {
      await pool.start();
      const pids = pool.status().map((s) => s.pid);
      const grandchild = Number(await fs.readFile(pidfile, "utf8"));
      assert.ok(alive(grandchild));
      const inFlight = pool.submit(task(1), { priority: 1 });
      const second = pool.submit(task(2), { priority: 1 });
      await Promise.race([inFlight, second]).catch(() => {});
      const t0 = Date.now();
      await pool.close();
      const took = Date.now() - t0;
      // SIGKILL at 1.5 s (SHUTDOWN_STOP), whatever the child ignores.
      assert.ok(took >= 1400 && took < 2000, `close took ${took} ms`);
      await Promise.allSettled([inFlight, second]);
      for (const pid of [...pids, grandchild])
        assert.ok(await waitFor(() => !alive(pid), 1000), `pid ${pid} is gone`);
    } finally {
      await pool.close();
      await t.cleanup();
    }
  });

  /** A pool of one busy child (`envs` on top of slow mode, a minute per answer), closed; what it took. */
  async function closeBusy(envs: Record<string, string>) {
    const t = await tempDir("vsm-pool-busy-");
    const pidfile = path.join(t.dir, "grandchild.pid");
    const { logger, lines } = memoryLogger("info");
    const pool = new ExtProverPool(
      "window_post",
      [spec(0, "slow", {}, { SLOW_MS: "60000", PIDFILE: pidfile, ...envs })],
      { logger },
    );
    try {
      await pool.start();
      const pids = [pool.status()[0]?.pid ?? -1, Number(await fs.readFile(pidfile, "utf8"))];
      assert.ok(pids.every((p) => alive(p)));
      const inFlight = pool.submit(task(1), { priority: 1 }).then(
        () => "answered",
        (e: unknown) => (e instanceof SmError ? e.code : String(e)),
      );
      assert.ok(await waitFor(() => pool.status()[0]?.inFlight === 1, 2000), "the request is with the child");
      const t0 = Date.now();
      await pool.close();
      const took = Date.now() - t0;
      assert.equal(await inFlight, "EXT_PROVER_CLOSED");
      // The child's exit has been seen; its own child got SIGKILL then and dies a moment later.
      assert.equal(alive(pids[0] ?? -1), false, "the child is gone");
      for (const pid of pids) assert.ok(await waitFor(() => !alive(pid), 1000), `pid ${pid} is gone`);
      const msgs = lines.map((l) => JSON.parse(l) as { msg: string; reason?: string; after_ms?: number });
      return { took, msgs };
    } finally {
      await pool.close();
      await t.cleanup();
    }
  }

  test("shutdown: a busy child that finishes its proof before exiting on EOF gets SIGTERM at 0.5 s", async () => {
    const { took, msgs } = await closeBusy({ ON_EOF: "finish" });
    assert.ok(took >= 400 && took < 1500, `close took ${took} ms`);
    const term = msgs.find((m) => m.msg.includes("did not exit after its stdin was closed; SIGTERM"));
    assert.equal(term?.reason, "was stopped at shutdown");
    assert.ok(!msgs.some((m) => m.msg.includes("SIGKILL")), "SIGTERM was enough");
  });

  test("shutdown: a busy child that ignores stdin EOF and SIGTERM is SIGKILLed at 1.5 s with its group", async () => {
    const { took, msgs } = await closeBusy({ ON_EOF: "finish", ON_SIGTERM: "ignore" });
    assert.ok(took >= 1400 && took < 2000, `close took ${took} ms`);
    const kill = msgs.find((m) => m.msg.includes("did not exit after SIGTERM; SIGKILL"));
    assert.ok(kill && (kill.after_ms ?? 0) < 1800, JSON.stringify(kill));
    assert.ok(!msgs.some((m) => m.msg.includes("stuck in the kernel")));
  });

  test("shutdown during a reload's drain stops the draining child on the shutdown schedule", async () => {
    const { logger, lines } = memoryLogger("info");
    const pool = new ExtProverPool(
      "window_post",
      [spec(0, "slow", {}, { SLOW_MS: "60000", ON_EOF: "finish", ON_SIGTERM: "ignore" })],
      { logger },
    );
    try {
      await pool.start();
      const pid = pool.status()[0]?.pid ?? -1;
      const inFlight = pool.submit(task(1), { priority: 1 }).catch((e: unknown) => e);
      assert.ok(await waitFor(() => pool.status()[0]?.inFlight === 1, 2000));
      // The block is removed: its child drains (5 s at most), then would get RELOAD_STOP (SIGKILL
      // 5 s after EOF). A shutdown 0.3 s into the drain does not wait for either.
      await pool.reload([]);
      await sleep(300);
      const t0 = Date.now();
      await pool.close();
      const took = Date.now() - t0;
      assert.ok(took < 2000, `close took ${took} ms`);
      assert.equal(alive(pid), false);
      await inFlight;
      assert.ok(
        lines.some((l) => l.includes("did not exit after SIGTERM; SIGKILL") && l.includes("at shutdown")),
        lines.join("\n"),
      );
    } finally {
      await pool.close();
    }
  });

  test("a child given up on (its exit never seen) no longer holds the process: a daemon still exits", async () => {
    // A real exit after SIGKILL cannot be withheld here (that takes a process stuck in the kernel), so
    // the stop gives up before it signals anything: the child ignores stdin EOF and keeps running.
    const script = `
      import { ExtChild } from ${JSON.stringify(new URL("../../../src/prover/ext/child.ts", import.meta.url).href)};
      import { nullLogger } from ${JSON.stringify(new URL("../../../src/log/logger.ts", import.meta.url).href)};
      const c = new ExtChild(${JSON.stringify(spec(0, "stubborn"))}, nullLogger);
      await c.start();
      console.log("child " + c.pid);
      await c.stop({ termMs: 60000, killMs: 60000, giveUpMs: 200 }, "was stopped at shutdown");
      console.log("gave up " + c.state);
    `;
    const p = startProcess(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script]);
    let child = -1;
    try {
      child = Number((await p.waitForLine(/^child \d+$/, 10_000)).split(" ")[1]);
      await p.waitForLine(/^gave up exited$/, 5000);
      const r = await Promise.race([p.exited, sleep(3000).then(() => "still running")]);
      assert.ok(alive(child), "the child was really left running");
      assert.deepEqual(r, { code: 0, signal: null }, p.lines.join("\n"));
    } finally {
      await p.stop(1000);
      if (child > 0) {
        try {
          process.kill(-child, "SIGKILL");
        } catch {}
        assert.ok(await waitFor(() => !alive(child), 2000));
      }
    }
  });

  test("the logged retry_in_ms is the real delay before the next start", async () => {
    const { logger, lines } = memoryLogger("info");
    const pool = new ExtProverPool("window_post", [spec(0, "exit-early"), spec(1, "echo")], {
      logger,
      backoffInitialMs: 300,
    });
    try {
      await pool.start();
      const notReady = () =>
        lines
          .map((l) => JSON.parse(l) as { msg: string; ts: number | string; retry_in_ms?: number })
          .filter((o) => o.msg === "ext-prover child not ready");
      assert.ok(await waitFor(() => notReady().length >= 3, 8000), lines.join("\n"));
      const seen = notReady();
      assert.deepEqual(
        seen.slice(0, 3).map((o) => o.retry_in_ms),
        [300, 600, 1200],
        "first the initial backoff, then doubling",
      );
      const at = (o: { ts: number | string }) => (typeof o.ts === "number" ? o.ts * 1000 : Date.parse(o.ts));
      for (let i = 0; i < 2; i++) {
        const a = seen[i];
        const b = seen[i + 1];
        assert.ok(a && b);
        const gap = at(b) - at(a);
        const said = a.retry_in_ms ?? 0;
        assert.ok(
          gap >= said - 50 && gap < said + 1500,
          `logged ${said} ms, next start came ${gap} ms later`,
        );
      }
      assert.match(pool.status()[0]?.lastError ?? "", /exited with code 4/);
    } finally {
      await pool.close();
    }
  });

  test("a timeout past the 32-bit timer range does not fire at once", async () => {
    await withPool(
      [spec(0, "echo", { readyTimeoutMs: 2_147_484_000, requestTimeoutMs: 3_000_000_000 })],
      async (pool) => {
        assert.equal(pool.readyCount, 1);
        assert.equal((await pool.submit(task(1), { priority: 1 })).proofs.length, 1);
      },
    );
  });
});
