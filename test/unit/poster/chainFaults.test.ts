/**
 * A chain node that errs, hangs or contradicts itself must not cost a deadline that could be saved,
 * and a deadline lost must never be reported as proven (issue 10, findings 6–8). A real devnet served
 * on loopback with blocks produced by the test, behind a real JSON-RPC server (test/helpers/chainGate.ts)
 * that answers chosen calls with JSON-RPC errors or answers of the wrong shape, hangs, or rewrites
 * head changes; real synthetic 2 KiB sectors and the real built-in prover.
 *
 * Order matters: the last tests let deadlines be missed, which makes their sectors faulty.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { DeadlineInfo, TipSetKey } from "../../../src/chain/interface.js";
import { LotusChainClient } from "../../../src/chain/lotus/client.js";
import type { MinerConfig } from "../../../src/config/types.js";
import { memoryLogger, nullLogger } from "../../../src/log/logger.js";
import { createMetrics } from "../../../src/metrics/metrics.js";
import { Poster } from "../../../src/poster/poster.js";
import { runDeadline } from "../../../src/poster/runner.js";
import { nextDeadline as followingDeadline } from "../../../src/poster/timing.js";
import type { ProveFn, RunnerDeps } from "../../../src/poster/types.js";
import { createVanillaProver } from "../../../src/prover/vanillaProver.js";
import type { SectorIndexer } from "../../../src/sectors/interface.js";
import { LocalIndexer } from "../../../src/sectors/localIndexer.js";
import { MemoryStore } from "../../../src/store/memory.js";
import { AbortedError } from "../../../src/util/errors.js";
import { ChainGate, RpcFault, WrongShape } from "../../helpers/chainGate.js";
import { type BlockProducer, RunnerFixture } from "../../helpers/runnerFixture.js";

/** 2 KiB partitions hold 2 sectors: 8 sectors over the 2 mutable deadlines are 2 partitions each. */
const SECTORS = 8;
const MINER = "f01000";

interface Line {
  level: string;
  msg: string;
  deadline?: number;
  open?: number;
  [k: string]: unknown;
}

describe("the PoSter through a chain node that errs, hangs or contradicts itself", () => {
  let fx: RunnerFixture;
  let gate: ChainGate;
  let chain: LotusChainClient;
  /** Straight to the devnet, not through the gate (which may hang): where the chain really is. */
  let direct: LotusChainClient;
  let deps: Omit<RunnerDeps, "chain" | "logger">;
  /** Blocks wanted by pushed messages, and one every `producer.everyMs` while that is above 0. */
  let producer: BlockProducer;
  let lastOpen = -1;

  before(async () => {
    fx = await RunnerFixture.start({
      prefix: "vsm-chain-faults-",
      sectors: SECTORS,
      lines: { post: "ChallengeConfidence = 1\nSubmitConfidence = 1\nConfidence = 1" },
      producer: {},
      chain: { pingIntervalMs: 0 },
    });
    ({ chain: direct, producer } = fx);
    gate = await ChainGate.start(fx.devnet.chainConfig);
    chain = new LotusChainClient({
      chain: gate.endpoint,
      logger: nullLogger,
      backoffMinMs: 50,
      backoffMaxMs: 200,
      pingIntervalMs: 0,
    });
    const local = createVanillaProver("window_post", fx.pool, nullLogger);
    deps = { ...fx.deps, prove: (task, o) => local(task, o.signal) };
  });
  after(async () => {
    chain?.close();
    await gate?.close();
    await fx?.close();
  });

  const truth = () => fx.node;
  const partitionsOf = async (index: number) => (await direct.stateMinerPartitions(MINER, index, [])).length;
  /** Partitions with sectors to prove (live − faulty + recovering) in the deadline at the head. */
  const dueOf = async (index: number) =>
    (await direct.stateMinerPartitions(MINER, index, [])).filter(
      (p) => !p.liveSectors.subtract(p.faultySectors).union(p.recoveringSectors).isEmpty(),
    ).length;

  /** Advance to the next deadline with 2 partitions, taken in turn so every sector stays proven. */
  const nextDeadline = async (): Promise<{ di: DeadlineInfo; tsk: TipSetKey }> => {
    const d = await fx.advanceToSectorsDeadline({ partitions: 2, after: lastOpen });
    lastOpen = d.di.open;
    return d;
  };

  const producingChain = () => producer.producingChain(chain);

  const recorder = (level: "debug" | "info" | "warn" = "warn") => {
    const { logger, lines: raw } = memoryLogger(level);
    return { logger, lines: () => raw.map((l) => JSON.parse(l) as Line) };
  };

  test("every chain read answered once with a JSON-RPC error or a wrong shape is tried again; the deadline is proven", async () => {
    const d = await nextDeadline();
    // The first call of each: what a node still syncing, a state not loaded yet or a proxy's error
    // page looks like. Sender choice and the push itself included.
    const first: Record<string, RpcFault | WrongShape> = {
      "Filecoin.StateMinerInfo": new RpcFault(1, "resolving tipset: blockstore: block not found"),
      "Filecoin.StateMinerPartitions": new WrongShape({ not: "a list" }),
      "Filecoin.StateGetRandomnessFromBeacon": new RpcFault(1, "beacon entry not found"),
      "Filecoin.StateMinerDeadlines": new WrongShape("garbage"),
      "Filecoin.StateMinerSectors": new RpcFault(-32603, "internal error"),
      "Filecoin.StateGetRandomnessFromTickets": new WrongShape(42),
      "Filecoin.StateLookupID": new RpcFault(1, "actor lookup: state not in sync"),
      "Filecoin.MpoolPushMessage": new RpcFault(1, "mpool push: node not in sync"),
    };
    const seen = new Set<string>();
    gate.fault = (method) => {
      if (!(method in first) || seen.has(method)) return undefined;
      seen.add(method);
      return first[method];
    };
    const { logger, lines } = recorder();
    try {
      const r = await runDeadline(
        fx.config.Miners[0]!,
        d.di,
        d.tsk,
        { ...deps, chain: producingChain(), logger },
        { signal: AbortSignal.timeout(30_000), submitAllowed: async () => {} },
      );
      assert.deepEqual([...seen].sort(), Object.keys(first).sort(), "every fault was served");
      assert.deepEqual([...r.proven].sort(), [0, 1], JSON.stringify(lines()));
      assert.deepEqual(r.due, [0, 1]);
      assert.equal(r.messages[0]?.exitCode, 0, "the devnet verified the proofs");
      for (const what of [
        "reading miner info",
        "reading partitions",
        "reading randomness",
        "choosing the sender",
      ])
        assert.ok(
          lines().some((l) => l.msg === `${what} failed; retrying`),
          `${what} retried: ${JSON.stringify(lines())}`,
        );
      assert.ok(lines().some((l) => l.msg === "sending the window post message failed; retrying"));
    } finally {
      gate.fault = () => undefined;
    }
  });

  test("a read that keeps failing is retried until the run stops, and one line says what failed and why it stopped", async () => {
    const d = await nextDeadline();
    gate.fault = (method) =>
      method === "Filecoin.StateMinerInfo" ? new RpcFault(1, "state lookup failed") : undefined;
    const { logger, lines } = recorder();
    const stop = new AbortController();
    // 3 s: at least two attempts (0.5 s apart) even when a loaded machine makes the first call slow.
    setTimeout(() => stop.abort(new AbortedError("deadline closed")), 3_000);
    try {
      await assert.rejects(
        runDeadline(
          fx.config.Miners[0]!,
          d.di,
          d.tsk,
          { ...deps, chain, logger },
          { signal: stop.signal, submitAllowed: async () => {} },
        ),
        /deadline closed/,
      );
      const given = lines().find(
        (l) => l.msg === "reading miner info still failing when the run stopped; given up",
      );
      assert.ok(given, JSON.stringify(lines()));
      assert.equal(given.stopped, "deadline closed");
      assert.match(String(given.err), /state lookup failed/);
      assert.ok(Number(given.attempts) >= 2, `retried: ${given.attempts}`);
    } finally {
      gate.fault = () => undefined;
    }
  });

  /** Run a Poster against the gate with blocks every `everyMs`; `until` decides when to stop. */
  const withPoster = async (
    prove: ProveFn | undefined,
    body: (p: { lines: () => Line[]; metrics: ReturnType<typeof createMetrics> }) => Promise<void>,
    opts: { miner?: MinerConfig; indexer?: SectorIndexer } = {},
  ) => {
    const { logger, lines } = recorder("info");
    const metrics = createMetrics({ defaults: false });
    const poster = new Poster(
      {
        ...deps,
        ...(prove ? { prove } : {}),
        ...(opts.indexer ? { indexer: opts.indexer } : {}),
        chain: producingChain(),
        logger,
        metrics,
      },
      [opts.miner ?? fx.config.Miners[0]!],
    );
    const stop = new AbortController();
    const running = poster.run(stop.signal);
    try {
      await body({ lines, metrics });
    } finally {
      producer.everyMs = 0;
      stop.abort(new AbortedError("test over"));
      await running;
    }
  };

  const waitLine = async (lines: () => Line[], pred: (l: Line) => boolean, what: string, ms = 20_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const l = lines().find(pred);
      if (l) return l;
      if (Date.now() > end)
        assert.fail(
          `${what}: not within ${ms} ms\n${lines()
            .slice(-25)
            .map((x) => JSON.stringify(x))
            .join("\n")}`,
        );
      await sleep(25);
    }
  };

  /** The next deadline the PoSter starts that holds 2 partitions (something to lose); marks it seen. */
  const nextDeadlineWithTwoPartitions = async (lines: () => Line[]): Promise<Line> => {
    let d = await waitLine(
      lines,
      (l) => l.msg === "proving deadline" && (l.open ?? -1) > lastOpen,
      "a deadline started",
    );
    while ((await partitionsOf(d.deadline ?? -1)) !== 2) {
      const open = d.open ?? -1;
      d = await waitLine(
        lines,
        (l) => l.msg === "proving deadline" && (l.open ?? -1) > open,
        "next deadline",
      );
    }
    lastOpen = d.open ?? -1;
    return d;
  };

  /**
   * With blocks coming, wait for a head past the fault cutoff of the next deadline that `wanted`
   * accepts and before its challenge, let the PoSter see it, then hang the node: that deadline closes
   * without being started. Returns it.
   */
  const hangBeforeNext = async (wanted: (index: number) => Promise<boolean>): Promise<DeadlineInfo> => {
    for (let i = 0; i < 3000; i++) {
      producer.everyMs = 150;
      const next = followingDeadline(await direct.stateMinerProvingDeadline(MINER, []));
      const head = truth().head().height;
      if (head >= next.faultCutoff && head < next.challenge && (await wanted(next.index))) {
        producer.everyMs = 0;
        await sleep(500);
        if (truth().head().height < next.challenge && producer.wanted === 0) {
          gate.hang();
          for (let j = 0; j < 200 && truth().head().height < next.close + 1; j++)
            await truth().produceBlock();
          return next;
        }
      }
      await sleep(20);
    }
    return assert.fail("no deadline to let close unstarted");
  };

  const deadlineCount = async (m: ReturnType<typeof createMetrics>, result: string) =>
    (await m.wdpostDeadlines.get()).values.find((v) => v.labels.result === result)?.value ?? 0;

  test("heads whose height goes down with keys already seen are logged at once; the running deadline goes on and is proven", async () => {
    await withPoster(undefined, async ({ lines }) => {
      producer.everyMs = 250;
      const d = await nextDeadlineWithTwoPartitions(lines);
      // From now on three head changes repeat the current head's keys at ever lower heights.
      let captured: { Val: { Height: number } } | undefined;
      let bad = 0;
      let firstBadAt = 0;
      gate.rewrite = (v) => {
        const batch = v as { Type: string; Val: { Height: number } }[];
        if (bad >= 3 || batch.length !== 1) return v;
        captured ??= batch[0];
        if (!captured) return v;
        bad++;
        if (bad === 1) firstBadAt = Date.now();
        return [{ Type: "apply", Val: { ...captured.Val, Height: captured.Val.Height - bad } }];
      };
      try {
        const err = await waitLine(
          lines,
          (l) => l.level === "error" && /reported a tipset it had reported at another height/.test(l.msg),
          "the inconsistent head logged",
          5_000,
        );
        assert.ok(firstBadAt > 0);
        assert.ok(Number(err.earlier_height) > Number(err.height), JSON.stringify(err));
        const done = await waitLine(
          lines,
          (l) => l.msg.startsWith("deadline done") && l.open === d.open,
          "the deadline judged",
        );
        assert.equal(done.result, "proven", JSON.stringify(done));
        assert.ok(
          !lines().some((l) => l.msg === "deadline run stopped" && l.open === d.open),
          "not aborted as a reorg",
        );
      } finally {
        gate.rewrite = (v) => v;
      }
    });
  });

  test("a message that lands in the last Confidence epochs before Close is judged proven from its receipt, not unknown", async () => {
    // Confidence deeper than the whole window: the run's own wait can never see the receipt by Close.
    const m = fx.config.Miners[0]!;
    const deep: MinerConfig = { ...m, PoSt: { ...m.PoSt, Confidence: 40 } };
    await withPoster(
      undefined,
      async ({ lines, metrics }) => {
        producer.everyMs = 150;
        const d = await nextDeadlineWithTwoPartitions(lines);
        const done = await waitLine(
          lines,
          (l) => l.msg.startsWith("deadline done") && l.open === d.open,
          "the deadline judged",
        );
        assert.equal(done.result, "proven", JSON.stringify(done));
        assert.equal(done.level, "info");
        assert.deepEqual(done.not_proven, []);
        assert.ok(
          lines().some(
            (l) => l.msg === "window post message found executed after Close" && l.open === d.open,
          ),
        );
        assert.equal(await deadlineCount(metrics, "unknown"), 0);
        assert.ok((await deadlineCount(metrics, "proven")) >= 1);
      },
      { miner: deep },
    );
  });

  test("deadlines with nothing to prove are counted apart from proven ones", async () => {
    await withPoster(undefined, async ({ lines, metrics }) => {
      producer.everyMs = 150;
      // 4 deadlines, 2 of them without sectors: within a period both kinds are judged.
      const empty = await waitLine(
        lines,
        (l) => l.msg === "deadline done: nothing to prove" && (l.open ?? -1) > lastOpen,
        "a deadline with nothing to prove judged",
      );
      assert.equal(empty.level, "info");
      assert.equal(empty.result, "empty");
      assert.deepEqual(empty.due, []);
      assert.equal(await partitionsOf(empty.deadline ?? -1), 0);
      const proven = await waitLine(
        lines,
        (l) => l.msg === "deadline done" && l.result === "proven" && (l.open ?? -1) > lastOpen,
        "a deadline with sectors proven",
      );
      lastOpen = Math.max(lastOpen, proven.open ?? -1);
      assert.ok((await deadlineCount(metrics, "empty")) >= 1);
      assert.ok((await deadlineCount(metrics, "proven")) >= 1);
      const provenDue = lines().filter((l) => l.msg === "deadline done" && l.result === "proven");
      assert.ok(
        provenDue.every((l) => Array.isArray(l.due) && l.due.length > 0),
        "proven means something was due",
      );
    });
  });

  // From here on deadlines are missed: their sectors become faulty.

  test("a deadline whose proofs are not done by Close is reported missed, never proven, and counted so", async () => {
    // A prover slower than the deadline: every call runs until its deadline is given up.
    const slow: ProveFn = (_task, o) =>
      new Promise((_, reject) =>
        o.signal.addEventListener("abort", () => reject(o.signal.reason), { once: true }),
      );
    await withPoster(slow, async ({ lines, metrics }) => {
      producer.everyMs = 150;
      const d = await nextDeadlineWithTwoPartitions(lines);
      const done = await waitLine(
        lines,
        (l) => l.msg.startsWith("deadline done") && l.open === d.open,
        "the deadline judged",
      );
      assert.equal(done.level, "error", JSON.stringify(done));
      assert.equal(done.result, "missed", JSON.stringify(done));
      assert.deepEqual(done.due, [0, 1]);
      assert.deepEqual(done.not_proven, [0, 1]);
      assert.equal(done.stopped, "deadline closed");
      assert.ok((await deadlineCount(metrics, "missed")) >= 1);
      assert.ok(
        !lines().some((l) => l.msg.startsWith("deadline done") && l.result === "proven" && l.open === d.open),
      );
    });
  });

  test("a deadline that closes while the chain node hangs is reported missed at its return, and the PoSter goes on at once", async () => {
    await withPoster(undefined, async ({ lines, metrics }) => {
      producer.everyMs = 150;
      // The node hangs after the PoSter saw the next deadline's fault cutoff (it reads what that
      // deadline has due then), and the chain goes on until that deadline has closed.
      const target = await hangBeforeNext(async (i) => (await dueOf(i)) > 0);
      while (truth().head().height < target.close + 1) await truth().produceBlock();
      const resumedAt = Date.now();
      gate.resume();
      producer.everyMs = 150;
      const missed = await waitLine(
        lines,
        (l) => l.msg === "deadline closed before the PoSter could start it: missed" && l.open === target.open,
        "the unstarted deadline reported",
      );
      assert.equal(missed.level, "error");
      assert.ok(Array.isArray(missed.due) && missed.due.length > 0, JSON.stringify(missed));
      assert.deepEqual(missed.not_proven, missed.due);
      assert.ok((await deadlineCount(metrics, "missed")) >= 1);
      // Going on: the next deadline is started from a head after the return.
      const next = await waitLine(
        lines,
        (l) => l.msg === "proving deadline" && (l.open ?? -1) > target.open,
        "a later deadline started",
      );
      assert.ok(next);
      assert.ok(Date.now() - resumedAt < 15_000);
    });
  });

  test("a proving-deadline lookup that keeps failing delays no start: the deadline follows from the last one read", async () => {
    await withPoster(undefined, async ({ lines }) => {
      producer.everyMs = 150;
      const first = await waitLine(lines, (l) => l.msg === "proving deadline", "a deadline started");
      gate.fault = (method) =>
        method === "Filecoin.StateMinerProvingDeadline" ? new RpcFault(1, "state not in sync") : undefined;
      try {
        const later = await waitLine(
          lines,
          (l) => l.msg === "proving deadline" && (l.open ?? -1) > (first.open ?? -1) + 12,
          "a later deadline started without the lookup",
        );
        const truthDi = await direct.stateMinerProvingDeadline(MINER, []);
        // The current deadline or the next one (started from its challenge on, before its Open).
        assert.ok((later.open ?? 0) <= truthDi.open + 12, "a real deadline");
        assert.equal(((later.open ?? 0) - truthDi.open) % 12, 0, "on the deadline grid");
        // One warning, not one per head (12+ heads have failed by now): repeats stay quiet a minute.
        const warned = lines().filter(
          (l) => l.msg === "cannot read the proving deadline; derived it from the last one read",
        );
        assert.equal(warned.length, 1, JSON.stringify(warned));
      } finally {
        gate.fault = () => undefined;
      }
      await waitLine(lines, (l) => l.msg === "the proving deadline can be read again", "the recovery told");
    });
  });

  test("a deadline whose sectors were all faulty already closes while the node hangs: not reported missed", async () => {
    // An index that knows no sector: every partition has nothing provable and no recovery is
    // declared, so once each deadline has passed every sector is faulty and stays so.
    const blind = new LocalIndexer(new MemoryStore());
    await withPoster(
      undefined,
      async ({ lines, metrics }) => {
        producer.everyMs = 150;
        const allFaulty = async () => {
          const dls = await direct.stateMinerDeadlines(MINER, []);
          for (let i = 0; i < dls.length; i++)
            for (const p of await direct.stateMinerPartitions(MINER, i, []))
              if (!p.liveSectors.subtract(p.faultySectors).union(p.recoveringSectors).isEmpty()) return false;
          return true;
        };
        for (let i = 0; i < 400 && !(await allFaulty()); i++) await sleep(100);
        assert.ok(await allFaulty(), "every sector faulty");
        const target = await hangBeforeNext(async (i) => (await partitionsOf(i)) > 0);
        while (truth().head().height < target.close + 1) await truth().produceBlock();
        const missedBefore = await deadlineCount(metrics, "missed");
        gate.resume();
        producer.everyMs = 150;
        await waitLine(
          lines,
          (l) => l.msg === "proving deadline" && (l.open ?? -1) > target.open,
          "a later deadline started",
        );
        await sleep(500); // the unstarted deadline's reads are done by now
        const about = lines().filter(
          (l) =>
            l.open === target.open && l.msg.startsWith("deadline closed before the PoSter could start it"),
        );
        assert.deepEqual(about, [], "nothing was due: nothing to report");
        assert.equal(await deadlineCount(metrics, "missed"), missedBefore);
        lastOpen = target.open;
      },
      { indexer: blind },
    );
  });
});
