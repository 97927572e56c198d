/**
 * `proving compute` tells the truth: Venus.ProvingCompute against a real devnet on loopback (blocks
 * produced by the test, so the chain is young), real synthetic 2 KiB sectors and the built-in prover.
 *
 *  - A deadline whose challenge is still ahead in the chain's first proving period has no earlier
 *    occurrence: the call is refused with the epoch to try again from, instead of a dry run on a
 *    challenge epoch from before genesis (whose message could never be built).
 *  - A message that cannot be built is in the answer (Messages[].Error), and computeProblems (what the
 *    CLI exits 1 on) names it, instead of the partitions being reported proven.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { newDeadlineInfo } from "../../../src/chain/dline.js";
import { computeProblems } from "../../../src/cli/commands/proving.js";
import { nullLogger } from "../../../src/log/logger.js";
import { type ProvingComputeResult, provingMethods } from "../../../src/poster/provingApi.js";
import { PostRuntime } from "../../../src/poster/runtime.js";
import { WorkerPool } from "../../../src/prover/workerPool.js";
import type { MethodContext } from "../../../src/rpc/method.js";
import { PersistStores } from "../../../src/sectors/stores.js";
import { SmError } from "../../../src/util/errors.js";
import { RunnerFixture } from "../../helpers/runnerFixture.js";

const ctx = (): MethodContext => ({
  perms: new Set(["read", "write", "sign", "admin"]),
  signal: AbortSignal.timeout(60_000),
  remote: "test",
});

describe("proving compute on a young chain", () => {
  let fx: RunnerFixture;
  let runtime: PostRuntime;
  let pool: WorkerPool | undefined;

  before(async () => {
    // The runtime makes its pool when it first asks for one.
    fx = await RunnerFixture.start({ prefix: "vsm-compute-", sectors: 8, threads: 0 });
    runtime = new PostRuntime(
      { api: fx.config.Common.API },
      {
        chain: () => fx.chain,
        workerPool: () => {
          pool ??= new WorkerPool({ size: 2, logger: nullLogger });
          return pool;
        },
        ext: () => undefined,
        logger: nullLogger,
      },
    );
  });
  after(async () => {
    await pool?.close();
    await fx?.close();
  });

  const methods = () =>
    provingMethods({
      config: fx.config,
      indexer: fx.manual.indexer,
      stores: new PersistStores(fx.config.Common.PersistStores),
      runtime,
      logger: nullLogger,
    });

  test("a deadline whose current occurrence was challenged before genesis is refused, not proven", async () => {
    const head = await fx.chain.chainHead();
    const cur = await fx.chain.stateMinerProvingDeadline("f01000", []);
    let index = -1;
    for (let i = 0; i < cur.wPoStPeriodDeadlines; i++) {
      const now = newDeadlineInfo(cur.periodStart, i, head.height, cur);
      if (now.challenge <= head.height && now.challenge < 0) index = i;
    }
    assert.ok(
      index >= 0,
      `the devnet at height ${head.height} (period start ${cur.periodStart}) has such a deadline`,
    );
    const next = newDeadlineInfo(cur.periodStart, index, head.height, cur).challenge + cur.wPoStProvingPeriod;
    await assert.rejects(methods()["Venus.ProvingCompute"]!.handler([null, index], ctx()), (e: unknown) => {
      assert.ok(e instanceof SmError, String(e));
      assert.equal(e.code, "POSTER_NOT_CHALLENGED_YET");
      assert.match(e.message, /before the chain began/);
      assert.match(e.message, new RegExp(`run proving compute ${index} again from epoch ${next}`));
      return true;
    });
  });

  test("a deadline not yet challenged in the first period is refused with the epoch to come back at", async () => {
    const head = await fx.chain.chainHead();
    const cur = await fx.chain.stateMinerProvingDeadline("f01000", []);
    // A deadline still ahead whose previous occurrence would be from before genesis.
    let index = -1;
    for (let i = 0; i < cur.wPoStPeriodDeadlines; i++) {
      const now = newDeadlineInfo(cur.periodStart, i, head.height, cur);
      const before = newDeadlineInfo(cur.periodStart - cur.wPoStProvingPeriod, i, head.height, cur);
      if (now.challenge > head.height && before.challenge < 0) index = i;
    }
    assert.ok(index >= 0, `the devnet at height ${head.height} has a deadline not challenged yet`);
    const first = newDeadlineInfo(cur.periodStart, index, head.height, cur).challenge;
    await assert.rejects(methods()["Venus.ProvingCompute"]!.handler([null, index], ctx()), (e: unknown) => {
      assert.ok(e instanceof SmError, String(e));
      assert.equal(e.code, "POSTER_NOT_CHALLENGED_YET");
      assert.match(e.message, new RegExp(`first challenge is at epoch ${first}`));
      assert.match(e.message, new RegExp(`run proving compute ${index} again from epoch ${first}`));
      return true;
    });
  });

  test("a message that cannot be built is in the answer and makes the run a failure", async () => {
    // Move to the open deadline that holds sectors (not proven before, so none is faulty yet), then
    // make the commit randomness unreadable: every partition proves, but no message can be built.
    const { index } = (await fx.advanceToSectorsDeadline({ partitions: (n) => n > 0 })).di;
    const original = fx.chain.stateGetRandomnessFromTickets;
    fx.chain.stateGetRandomnessFromTickets = async () => {
      throw new SmError("CHAIN_RPC_ERROR", "randomness for that epoch is not available");
    };
    let r: ProvingComputeResult;
    try {
      r = (await methods()["Venus.ProvingCompute"]!.handler([null, index], ctx())) as ProvingComputeResult;
    } finally {
      fx.chain.stateGetRandomnessFromTickets = original;
    }
    assert.ok(r.Partitions.length > 0);
    assert.ok(
      r.Partitions.every((p) => p.Source === "proved"),
      JSON.stringify(r.Partitions),
    );
    assert.ok(r.Messages.length > 0, "the messages are listed");
    for (const msg of r.Messages) {
      assert.equal(msg.ParamsBytes, 0);
      assert.match(msg.Error ?? "", /randomness for that epoch is not available/);
    }
    const problems = computeProblems(r);
    assert.ok(problems.length > 0, "the CLI exits 1");
    assert.match(problems.join("\n"), /could not be built: .*randomness for that epoch is not available/);

    // And with the chain readable again, the same deadline is a clean run: no problem line.
    const ok = (await methods()["Venus.ProvingCompute"]!.handler(
      [null, index],
      ctx(),
    )) as ProvingComputeResult;
    assert.deepEqual(computeProblems(ok), []);
    assert.ok(ok.Messages.every((msg) => msg.Error === undefined && msg.ParamsBytes > 0));
  });
});
