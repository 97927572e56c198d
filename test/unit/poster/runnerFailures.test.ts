/**
 * runDeadline through the failures a deadline must survive: a prover call that fails because its
 * ext-prover child died (tried again), a prover failure that cannot pass (not tried again), a message
 * the chain node lost (sent again) and a push that never reached the node (sent again). Against a real
 * devnet served on loopback with blocks produced by the test, real synthetic 2 KiB sectors and the real
 * built-in prover; the failures are injected by wrapping the prover and the chain client.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { encodeCbor } from "../../../src/chain/cbor.js";
import { dagCborCid } from "../../../src/chain/cid.js";
import type { DeadlineInfo, TipSetKey } from "../../../src/chain/interface.js";
import { memoryLogger, nullLogger } from "../../../src/log/logger.js";
import { isRetryableProverFailure } from "../../../src/poster/retry.js";
import { runDeadline } from "../../../src/poster/runner.js";
import type { ProveFn, RunnerDeps } from "../../../src/poster/types.js";
import { createVanillaProver } from "../../../src/prover/vanillaProver.js";
import { SmError } from "../../../src/util/errors.js";
import { RunnerFixture } from "../../helpers/runnerFixture.js";

/** 2 KiB partitions hold 2 sectors: 8 sectors over the 2 mutable deadlines are 2 partitions each. */
const SECTORS = 8;

describe("isRetryableProverFailure", () => {
  test("a dead child, a dead worker, a failed task and a timeout are tried again; a bad task and shutdown are not", () => {
    for (const code of [
      "EXT_PROVER_CHILD_EXITED",
      "PROVER_WORKER_DIED",
      "EXT_PROVER_TASK_FAILED",
      "TIMEOUT",
    ] as const)
      assert.equal(isRetryableProverFailure(new SmError(code, "x")), true, code);
    for (const code of [
      "PROOF_UNKNOWN_TYPE",
      "PROOF_BAD_RANDOMNESS",
      "EXT_PROVER_CLOSED",
      "PROVER_POOL_CLOSED",
    ] as const)
      assert.equal(isRetryableProverFailure(new SmError(code, "x")), false, code);
    assert.equal(isRetryableProverFailure(new TypeError("a bug")), false, "not one of ours: a bug");
  });
});

describe("runDeadline through prover and chain failures", () => {
  let fx: RunnerFixture;
  let lastOpen = -1;

  before(async () => {
    fx = await RunnerFixture.start({
      prefix: "vsm-runner-failures-",
      sectors: SECTORS,
      lines: { post: "Confidence = 1" },
      // Blocks come only when a message waits for them, so a retry's backoff costs no epochs.
      producer: { pollMs: 30 },
    });
  });
  after(async () => {
    await fx?.close();
  });

  /**
   * Advance to the next deadline with 2 partitions. Deadlines are taken in turn, none skipped, so every
   * sector stays proven (a deadline left unproven would make its sectors faulty for the next test).
   */
  const nextDeadline = async (): Promise<{ di: DeadlineInfo; tsk: TipSetKey }> => {
    const d = await fx.advanceToSectorsDeadline({ partitions: 2, after: lastOpen });
    lastOpen = d.di.open;
    return d;
  };

  /** Warnings and errors of a run, so a test can see what the runner did about a failure. */
  const recorder = () => {
    const { logger, lines: raw } = memoryLogger("warn");
    const lines = () => raw.map((l) => JSON.parse(l) as { level: string; msg: string });
    return { logger, lines };
  };

  /** The built-in prover, with `fail(call, task)` deciding which calls fail instead. */
  const prover = (fail: (n: number, partitionFirstSector: number) => Error | undefined) => {
    const local = createVanillaProver("window_post", fx.pool, nullLogger);
    const calls: number[] = [];
    const prove: ProveFn = async (task, o) => {
      const first = task.replicas[0]?.sectorId ?? -1;
      calls.push(first);
      const e = fail(calls.length, first);
      if (e) throw e;
      return local(task, o.signal);
    };
    return { prove, calls };
  };

  const producingChain = () => fx.producer.producingChain(fx.chain);

  const run = (
    d: { di: DeadlineInfo; tsk: TipSetKey },
    over: Partial<RunnerDeps> & Pick<RunnerDeps, "prove" | "logger">,
  ) =>
    runDeadline(
      fx.config.Miners[0]!,
      d.di,
      d.tsk,
      { chain: producingChain(), ...fx.deps, ...over },
      { signal: AbortSignal.timeout(30_000), submitAllowed: async () => {} },
    );

  test("a prover call that fails because its child died is tried again; the deadline is proven", async () => {
    const d = await nextDeadline();
    const died = new SmError("EXT_PROVER_CHILD_EXITED", "WdPost[0] (pid 1) killed by SIGKILL");
    // The first call of each partition fails, as when the child proving both is killed.
    const seen = new Set<number>();
    const { prove, calls } = prover((_, first) => {
      if (seen.has(first)) return undefined;
      seen.add(first);
      return died;
    });
    const { logger, lines } = recorder();
    const r = await run(d, { prove, logger });
    assert.equal(calls.length, 4, "each partition: one failed call, one good one");
    assert.deepEqual([...r.proven].sort(), [0, 1], JSON.stringify(lines()));
    assert.equal(r.messages.length, 1);
    assert.equal(r.messages[0]?.exitCode, 0, "the devnet verified the proofs");
    assert.equal(lines().filter((l) => l.msg === "proving the partition failed; retrying").length, 2);
    assert.ok(!lines().some((l) => l.level === "error"), JSON.stringify(lines()));
  });

  test("[Miners.PoSt] Parallel: false sends one partition at a time to the provers, true all at once; the message carries the gas multipliers", async () => {
    for (const parallel of [false, true]) {
      const d = await nextDeadline();
      const local = createVanillaProver("window_post", fx.pool, nullLogger);
      let inFlight = 0;
      let most = 0;
      const prove: ProveFn = async (task, o) => {
        most = Math.max(most, ++inFlight);
        try {
          await sleep(150); // long enough for the second partition's check to finish meanwhile
          return await local(task, o.signal);
        } finally {
          inFlight--;
        }
      };
      const miner = {
        ...fx.config.Miners[0]!,
        PoSt: { ...fx.config.Miners[0]!.PoSt, Parallel: parallel, GasOverEstimation: 2.5, GasOverPremium: 3 },
      };
      const pushed: { gasOverEstimation?: number; gasOverPremium?: number }[] = [];
      const c = producingChain();
      const real = c.pushMessage.bind(c);
      c.pushMessage = async (m, o) => {
        pushed.push(m);
        return real(m, o);
      };
      const { logger, lines } = recorder();
      const r = await runDeadline(
        miner,
        d.di,
        d.tsk,
        { ...fx.deps, chain: c, prove, logger },
        { signal: AbortSignal.timeout(30_000), submitAllowed: async () => {} },
      );
      assert.deepEqual([...r.proven].sort(), [0, 1], JSON.stringify(lines()));
      assert.equal(most, parallel ? 2 : 1, `Parallel = ${parallel}`);
      assert.ok(pushed.length > 0);
      for (const m of pushed) {
        assert.equal(m.gasOverEstimation, 2.5);
        assert.equal(m.gasOverPremium, 3);
      }
      assert.equal(r.messages[0]?.exitCode, 0, "the devnet took the message with the estimated gas");
    }
  });

  test("a message the chain node lost is sent again", async () => {
    const d = await nextDeadline();
    const { prove } = prover(() => undefined);
    const { logger, lines } = recorder();
    // The first push "succeeds" without reaching the chain, as when the node restarts and forgets its
    // pool: the wait for that CID then fails, and the runner must send the partitions again.
    let pushes = 0;
    const heights: number[] = [];
    const c = producingChain();
    const real = c.pushMessage.bind(c);
    c.pushMessage = async (...a) => {
      heights.push((await fx.chain.chainHead()).height);
      if (++pushes === 1) {
        fx.producer.want(3); // the chain goes on without the message
        return { cid: dagCborCid(encodeCbor(["lost message", d.di.open])).toString() };
      }
      return real(...a);
    };
    const r = await run(d, { prove, logger, chain: c });
    assert.equal(pushes, 2);
    assert.ok(
      (heights[1] ?? 0) - (heights[0] ?? 0) >= 2,
      `sent again only once the chain moved on without it: ${heights}`,
    );
    assert.deepEqual([...r.proven].sort(), [0, 1], JSON.stringify(lines()));
    assert.equal(r.messages.length, 1);
    assert.equal(r.messages[0]?.exitCode, 0);
    assert.ok(
      lines().some((l) => l.msg === "lost track of the window post message; sending its partitions again"),
    );
  });

  test("a push that fails because the chain node is unreachable is tried again", async () => {
    const d = await nextDeadline();
    const { prove } = prover(() => undefined);
    const { logger, lines } = recorder();
    let pushes = 0;
    const c = producingChain();
    const real = c.pushMessage.bind(c);
    c.pushMessage = async (...a) => {
      if (++pushes === 1) throw new SmError("CHAIN_UNREACHABLE", "connection to chain node lost");
      return real(...a);
    };
    const r = await run(d, { prove, logger, chain: c });
    assert.equal(pushes, 2);
    assert.deepEqual([...r.proven].sort(), [0, 1], JSON.stringify(lines()));
    assert.ok(lines().some((l) => l.msg === "sending the window post message failed; retrying"));
  });

  // Last: the partition left out makes its sectors faulty on chain.
  test("a prover failure that cannot pass is not tried again: that partition is left out, the rest is sent", async () => {
    const d = await nextDeadline();
    const firstOfPartition1 = (
      await fx.chain.stateMinerPartitions("f01000", d.di.index, [])
    )[1]?.allSectors.toNumbers()[0];
    const { prove, calls } = prover((_, first) =>
      first === firstOfPartition1 ? new SmError("PROOF_BAD_RANDOMNESS", "seed not masked") : undefined,
    );
    const { logger, lines } = recorder();
    const r = await run(d, { prove, logger });
    assert.equal(calls.filter((c) => c === firstOfPartition1).length, 1, "one call, no retry");
    assert.deepEqual(r.proven, [0]);
    assert.ok(lines().some((l) => l.level === "error" && l.msg === "partition proving failed"));
  });
});
