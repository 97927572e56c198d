/**
 * A finished partition's message is built while its proof is being stored, and pushed only once it
 * is stored: runDeadline against a real devnet on loopback, real synthetic 2 KiB sectors, the real
 * built-in prover, and a proof store whose writes the test holds back.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { LotusChainClient } from "../../../src/chain/lotus/client.js";
import { nullLogger } from "../../../src/log/logger.js";
import { type DeadlineKey, ProofStore, type SavedProof } from "../../../src/poster/proofStore.js";
import { runDeadline } from "../../../src/poster/runner.js";
import { createVanillaProver } from "../../../src/prover/vanillaProver.js";
import { MemoryStore } from "../../../src/store/memory.js";
import { BlockProducer, RunnerFixture } from "../../helpers/runnerFixture.js";

/** A proof store whose writes wait for `release()`. */
class HeldStore extends ProofStore {
  saving = 0;
  saved = 0;
  #open: () => void = () => {};
  readonly #gate = new Promise<void>((r) => {
    this.#open = r;
  });

  override async save(dl: DeadlineKey, p: SavedProof): Promise<void> {
    this.saving++;
    await this.#gate;
    await super.save(dl, p);
    this.saved++;
  }

  release(): void {
    this.#open();
  }
}

describe("a proof is stored before its message is pushed, and the message built meanwhile", () => {
  let fx: RunnerFixture;

  before(async () => {
    fx = await RunnerFixture.start({
      prefix: "vsm-store-push-",
      sectors: 2,
      lines: { post: "Confidence = 1" },
    });
  });
  after(async () => {
    await fx?.close();
  });

  test("the push waits for the store; the randomness read and the build do not", async () => {
    const { di, tsk } = await fx.advanceToSectorsDeadline({ partitions: 1 });
    const store = new HeldStore(new MemoryStore(), nullLogger);
    const events: string[] = [];
    const spy = Object.create(fx.chain) as LotusChainClient;
    spy.stateGetRandomnessFromTickets = (...a) => {
      events.push(`randomness (stored: ${store.saved})`);
      return fx.chain.stateGetRandomnessFromTickets(...a);
    };
    spy.pushMessage = (...a) => {
      events.push(`push (stored: ${store.saved})`);
      return fx.chain.pushMessage(...a);
    };
    // No blocks until the store is let go: the deadline must not close while the test holds it.
    let producer: BlockProducer | undefined;
    const run = runDeadline(
      fx.config.Miners[0]!,
      di,
      tsk,
      {
        ...fx.deps,
        chain: spy,
        proofs: store,
        logger: nullLogger,
        prove: (task, o) => createVanillaProver("window_post", fx.pool, nullLogger)(task, o.signal),
      },
      { signal: AbortSignal.timeout(30_000), submitAllowed: async () => {} },
    ).finally(() => producer?.stop());
    // The proof is done and its store write held: the message is built, not pushed.
    for (let i = 0; i < 400 && !events.some((e) => e.startsWith("randomness")); i++) await sleep(25);
    await sleep(300);
    assert.equal(store.saving, 1, "the partition's proof is being stored");
    assert.deepEqual(events, ["randomness (stored: 0)"], "built while the proof was stored, not pushed");
    store.release();
    producer = new BlockProducer(fx.node, { everyMs: 100 });
    const r = await run;
    assert.deepEqual(events, ["randomness (stored: 0)", "push (stored: 1)"]);
    assert.equal(r.messages.length, 1);
    assert.equal(
      r.messages[0]?.exitCode,
      0,
      `the devnet accepted the proofs: ${JSON.stringify(fx.node.findExecuted(r.messages[0]?.cid ?? ""))}`,
    );
    assert.equal((await store.load({ actor: 1000, open: di.open })).size, 1, "and they are in the store");
    // The 300 ms and more the store was held count as waiting for the proofs, not as a stage.
    assert.ok((r.proofWaitMs ?? 0) >= 250, `proofWaitMs ${r.proofWaitMs}`);
  });
});
