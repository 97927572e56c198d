/**
 * A PoSter restarted in the middle of a deadline submits what it had already proven: runDeadline against
 * a real devnet served on loopback (blocks produced by hand, so the test controls time), real synthetic
 * 2 KiB sectors, the real built-in prover in worker threads, and the proof store on a real KV store.
 *
 * Run 1 proves every partition and is stopped before it may submit (the "kill"). Run 2, with a fresh
 * prover, must prove nothing, send the stored proofs and have the devnet accept them. Run 3 finds the
 * partitions proven on chain and sends nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { DeadlineInfo, TipSetKey } from "../../../src/chain/interface.js";
import type { LotusChainClient } from "../../../src/chain/lotus/client.js";
import { nullLogger } from "../../../src/log/logger.js";
import { ProofStore } from "../../../src/poster/proofStore.js";
import { runDeadline } from "../../../src/poster/runner.js";
import type { ProveFn, RunnerDeps } from "../../../src/poster/types.js";
import { createVanillaProver } from "../../../src/prover/vanillaProver.js";
import { MemoryStore } from "../../../src/store/memory.js";
import { BlockProducer, RunnerFixture } from "../../helpers/runnerFixture.js";

const SECTORS = 8; // 2 KiB window PoSt partitions hold 2 sectors: several partitions per deadline

describe("runDeadline across a restart mid-deadline", () => {
  let fx: RunnerFixture;
  let deps: Omit<RunnerDeps, "prove">;
  let di: DeadlineInfo;
  let tsk: TipSetKey;
  /** Partitions of that deadline, and their indexes. */
  let parts: number[] = [];
  const kv = new MemoryStore();

  before(async () => {
    fx = await RunnerFixture.start({
      prefix: "vsm-restart-",
      sectors: SECTORS,
      lines: { post: "Confidence = 1" },
    });
    deps = { ...fx.deps, chain: fx.chain, proofs: new ProofStore(kv, nullLogger), logger: nullLogger };
    const d = await fx.advanceToSectorsDeadline({ partitions: (n) => n > 1 });
    parts = Array.from({ length: d.partitions }, (_, i) => i);
    ({ di, tsk } = d);
  });
  after(async () => {
    await fx?.close();
  });

  const counting = () => {
    const local = createVanillaProver("window_post", fx.pool, nullLogger);
    const calls: number[][] = [];
    const prove: ProveFn = (task, o) => {
      calls.push(task.replicas.map((r) => r.sectorId));
      return local(task, o.signal);
    };
    return { prove, calls };
  };

  test("run 1 proves every partition, stores the proofs, and is stopped before it may submit", async () => {
    const { prove, calls } = counting();
    const stop = new AbortController();
    const run = runDeadline(
      fx.config.Miners[0]!,
      di,
      tsk,
      { ...deps, prove },
      {
        signal: stop.signal,
        submitAllowed: () => new Promise<void>(() => {}), // the kill comes before SubmitConfidence
      },
    );
    const proofs = deps.proofs!;
    for (let i = 0; i < 600 && (await proofs.load({ actor: 1000, open: di.open })).size < parts.length; i++)
      await sleep(50);
    stop.abort();
    const r = await run.catch(() => undefined);
    assert.equal(calls.length, parts.length, "every partition proven once");
    assert.equal((await proofs.load({ actor: 1000, open: di.open })).size, parts.length);
    assert.deepEqual(r?.messages ?? [], [], "nothing was sent");
  });

  test("run 2 after the restart proves nothing and lands the stored proofs", async () => {
    const { prove, calls } = counting();
    // Blocks keep coming while run 2 waits for its message, and stop with it (the deadline stays open).
    const producer = new BlockProducer(fx.node, { everyMs: 100 });
    const r = await runDeadline(
      fx.config.Miners[0]!,
      di,
      tsk,
      { ...deps, prove },
      {
        signal: AbortSignal.timeout(30_000),
        submitAllowed: async () => {},
      },
    ).finally(() => producer.stop());
    const head = await fx.chain.chainHead();
    assert.ok(head.height < di.close, `the deadline is still open (head ${head.height}, close ${di.close})`);
    assert.equal(calls.length, 0, "no partition proven again");
    assert.deepEqual(
      r.partitions.map((p) => [p.index, p.source, p.sectors]),
      parts.map((i) => [i, "stored", 2]),
    );
    assert.equal(r.messages.length, Math.ceil(parts.length / 3));
    assert.equal(r.messages[0]!.exitCode, 0, "the devnet verified and accepted the stored proofs");
    assert.deepEqual([...r.proven].sort(), parts);
  });

  test("run 3 finds every partition proven on chain and sends nothing", async () => {
    const { prove, calls } = counting();
    const r = await runDeadline(
      fx.config.Miners[0]!,
      di,
      tsk,
      { ...deps, prove },
      {
        signal: AbortSignal.timeout(10_000),
        submitAllowed: async () => {},
      },
    );
    assert.equal(calls.length, 0);
    assert.equal(r.messages.length, 0);
    assert.deepEqual(
      r.partitions.map((p) => p.source),
      parts.map(() => "on-chain"),
    );
  });

  test("a dry run (proving compute) proves everything again and sends nothing", async () => {
    const { prove, calls } = counting();
    let pushed = 0;
    const spy = Object.create(fx.chain) as LotusChainClient;
    spy.pushMessage = (...a) => {
      pushed++;
      return fx.chain.pushMessage(...a);
    };
    const r = await runDeadline(
      fx.config.Miners[0]!,
      di,
      tsk,
      { ...deps, chain: spy, prove },
      {
        signal: AbortSignal.timeout(30_000),
        submitAllowed: async () => {},
        dryRun: true,
      },
    );
    assert.equal(calls.length, parts.length);
    assert.equal(pushed, 0, "nothing pushed");
    assert.equal(r.messages.length, 0);
    assert.deepEqual(r.dryRun?.flatMap((m) => m.partitions).sort(), parts);
    assert.ok((r.dryRun?.[0]?.paramsBytes ?? 0) > 1000, "the message carries the vanilla bundle");
  });
});
