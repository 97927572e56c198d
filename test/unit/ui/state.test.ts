/**
 * The dashboard's model against a real devnet (the chain's deadlines, partitions, balances and faults
 * as the node reads them) and its alerts from the state it builds. Blocks come only when the test
 * produces them, and the model's clock is the test's, so nothing here depends on the machine's speed.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import { LotusChainClient } from "../../../src/chain/lotus/client.js";
import { MinerMethod } from "../../../src/chain/message.js";
import { encodeDeclareFaultsRecoveredParams } from "../../../src/chain/params.js";
import { nullLogger } from "../../../src/log/logger.js";
import { emptyRunResult } from "../../../src/poster/types.js";
import type { ChildStatus } from "../../../src/prover/ext/pool.js";
import { AlertBook, attoToFil, computeAlerts, filToAtto } from "../../../src/ui/alerts.js";
import { dayOfMessages, gridState, type MinerCache } from "../../../src/ui/minerView.js";
import {
  type DashboardDeps,
  DashboardModel,
  type DashboardState,
  UNWATCHED_EVERY,
} from "../../../src/ui/state.js";
import { RunnerFixture } from "../../helpers/runnerFixture.js";

describe("dashboard model on a devnet", { timeout: 50_000 }, () => {
  let fx: RunnerFixture;
  let nowMs = 0;
  let faultyDeadline: number | undefined;
  const model = (o: Partial<DashboardDeps> = {}) =>
    new DashboardModel({
      name: () => "n1",
      version: "test",
      modules: ["poster"],
      miners: ["f01000"],
      chain: () => fx.chain,
      logger: nullLogger,
      now: () => nowMs,
      ...o,
    });
  const alertKinds = (s: DashboardState) => s.alerts.map((a) => a.kind);

  before(async () => {
    fx = await RunnerFixture.start({ prefix: "vsm-ui-", sectors: 8, threads: 0 });
  });
  after(async () => {
    await fx?.close();
  });

  test("the grid: every deadline of the period, sectors where the chain put them, senders with balances", async () => {
    const head = await fx.chain.chainHead();
    nowMs = head.timestamp * 1000;
    const needs: [string, string][] = [];
    const m = model({ onSenderNeed: (miner, fil) => needs.push([miner, fil]) });
    await m.refresh();
    const s = m.snapshot();
    assert.deepEqual(needs, [["f01000", "1"]], "vsm_sender_need_fil is told once per head");
    assert.equal(s.chain.head, head.height);
    assert.equal(s.chain.network, await fx.chain.networkName());
    assert.equal(s.miners.length, 1);
    const v = s.miners[0];
    assert.ok(v);
    assert.equal(v.deadlinesPerPeriod, 4);
    assert.deepEqual(
      v.deadlines.map((d) => d.index),
      [0, 1, 2, 3],
    );
    assert.equal(
      v.deadlines.reduce((a, d) => a + d.sectors, 0),
      8,
    );
    for (const d of v.deadlines) {
      assert.equal(d.closeEpoch - d.openEpoch, 12);
      if (d.index === v.currentDeadline) assert.equal(d.state, "current");
      else assert.equal(d.state, d.sectors === 0 ? "empty" : "proven", `deadline ${d.index}`);
    }
    const roles = v.senders.map((x) => x.role);
    assert.ok(roles.includes("owner") && roles.includes("worker"), roles.join());
    for (const x of v.senders) assert.notEqual(filToAtto(x.balanceFil), null, x.balanceFil);
    assert.deepEqual(alertKinds(s), []);
    // The devnet's base fee (100 attoFIL) makes a day of messages cheap: the floor (1 FIL) rules.
    assert.equal(v.senderNeedFil, "1");
    assert.match(
      v.senderNeedWhy,
      /^\[Common\.Dashboard\] MinSenderBalance, above the [\d.]+ FIL of \d+ messages? a day × 60000000 gas \(assumed\) × 1\.25 gas limit at a base fee of 100 attoFIL$/,
    );
    const noFloor = model({ options: { minBalanceAtto: 0n } });
    await noFloor.refresh();
    const v0 = noFloor.snapshot().miners[0];
    assert.match(
      v0?.senderNeedWhy ?? "",
      /^\d+ messages? a day × 60000000 gas \(assumed\) × 1\.25 gas limit at a base fee of 100 attoFIL$/,
    );
    assert.ok((filToAtto(v0?.senderNeedFil ?? "0") ?? 0n) > 0n, v0?.senderNeedFil);
  });

  test("a day of messages: one per 3 partitions of each deadline, each period of the day, at the base fee", () => {
    const cache = {
      di: { wPoStProvingPeriod: 2880 },
      partitions: new Map([
        [0, new Array(4)],
        [1, new Array(3)],
        [2, []],
      ]),
    } as unknown as MinerCache;
    const day = dayOfMessages(cache, { gasPerMessage: 60_000_000, baseFee: 10n ** 9n, blockSeconds: 30 });
    assert.equal(day.messages, 3);
    // 3 messages × 75M gas (60M × 1.25) × 1 nanoFIL.
    assert.equal(day.atto, 3n * 75_000_000n * 10n ** 9n);
    assert.equal(attoToFil(day.atto ?? 0n), "0.225");
    // A devnet period of 48 epochs of 2 s is 900 periods a day.
    const fast = { ...cache, di: { wPoStProvingPeriod: 48 } } as unknown as MinerCache;
    assert.equal(dayOfMessages(fast, { gasPerMessage: 1, baseFee: null, blockSeconds: 2 }).messages, 2700);
    assert.equal(dayOfMessages(fast, { gasPerMessage: 1, baseFee: null, blockSeconds: 2 }).atto, null);
  });

  test("current deadline: partition stages follow the run; messages, margin, proving times; at-risk and missed alerts", async () => {
    const at = await fx.advanceToSectorsDeadline({ partitions: 2 });
    const head = await fx.chain.chainHead();
    nowMs = head.timestamp * 1000;
    const m = model({ options: { atRiskEpochs: 1000 } });
    await m.refresh();
    let c = m.snapshot().miners[0]?.current;
    assert.ok(c);
    assert.equal(c.index, at.di.index);
    assert.equal(c.closeEpoch, at.di.close);
    assert.equal(c.epochsLeft, at.di.close - head.height);
    assert.deepEqual(
      c.partitions.map((p) => [p.stage, p.sectors]),
      [
        ["waiting", 2],
        ["waiting", 2],
      ],
    );
    let s = m.snapshot();
    const risk = s.alerts.find((a) => a.kind === "deadline-at-risk");
    assert.ok(risk, JSON.stringify(s.alerts));
    assert.equal(risk.severity, "critical");
    assert.equal(risk.miner, "f01000");

    const result = emptyRunResult();
    m.observeRun({ phase: "start", miner: "f01000", di: at.di, result });
    assert.deepEqual(
      m.snapshot().miners[0]?.current?.partitions.map((p) => [p.stage, p.by]),
      [
        ["checking", "n1"],
        ["checking", "n1"],
      ],
    );
    result.due = [0, 1];
    // Due and not with a prover yet: being checked, or waiting for a free prover.
    result.provers = { 0: "WdPost[1]" };
    assert.deepEqual(
      m.snapshot().miners[0]?.current?.partitions.map((p) => [p.stage, p.by]),
      [
        ["proving", "WdPost[1]"],
        ["checking", "n1"],
      ],
    );
    result.partitions.push({ index: 0, source: "proved", sectors: 2, skipped: 0, ms: 2500 });
    result.pushed.push({ partitions: [0], cid: "bafymsg0" });
    result.provers[1] = "WdPost[0]";
    s = m.snapshot();
    assert.deepEqual(
      s.miners[0]?.current?.partitions.map((p) => [p.stage, p.by]),
      [
        ["submitted", "WdPost[1]"],
        ["proving", "WdPost[0]"],
      ],
    );
    assert.deepEqual(
      s.messages.map((x) => [x.cid, x.method, x.partitions, x.exitCode]),
      [["bafymsg0", "SubmitWindowedPoSt", [0], null]],
    );
    result.messages.push({
      partitions: [0],
      cid: "bafymsg0",
      exitCode: 0,
      height: at.di.close - 3,
      gasUsed: 12345,
    });
    result.partitions.push({ index: 1, source: "failed", sectors: 0, skipped: 0, ms: 0, error: "x" });
    m.observeRun({ phase: "end", miner: "f01000", di: at.di, result, outcome: "partial" });
    s = m.snapshot();
    c = s.miners[0]?.current;
    assert.equal(c?.lastMargin, 3);
    // The run is over: what the page shows comes from the chain again (nothing posted there).
    assert.deepEqual(
      c?.partitions.map((p) => p.stage),
      ["waiting", "waiting"],
    );
    assert.deepEqual(
      s.messages.map((x) => [x.cid, x.exitCode, x.height, x.gasUsed]),
      [["bafymsg0", 0, at.di.close - 3, 12345]],
    );
    assert.deepEqual(
      s.provingTimes.map((p) => [p.miner, p.partition, p.seconds]),
      [["f01000", 0, 2.5]],
    );
    const missed = s.alerts.find((a) => a.kind === "deadline-missed");
    assert.ok(missed && missed.severity === "critical", JSON.stringify(s.alerts));
    assert.match(missed.message, /partial/);
  });

  test("a deadline left unproven: its sectors turn faulty on the grid and new-faults fires", async () => {
    const m = model();
    let head = await fx.chain.chainHead();
    nowMs = head.timestamp * 1000;
    await m.refresh();
    let s = m.snapshot();
    assert.equal(
      s.miners[0]?.deadlines.reduce((a, d) => a + d.faults, 0),
      0,
    );
    let faulty: number | undefined;
    for (let i = 0; i < 60 && faulty === undefined; i++) {
      head = await fx.node.produceBlock();
      nowMs = head.timestamp * 1000;
      await m.refresh();
      s = m.snapshot();
      faulty = s.miners[0]?.deadlines.find((d) => d.faults > 0)?.index;
    }
    assert.notEqual(faulty, undefined, "no deadline turned faulty within 60 blocks");
    faultyDeadline = faulty;
    const d = s.miners[0]?.deadlines.find((x) => x.index === faulty);
    assert.ok(d);
    if (d.index !== s.miners[0]?.currentDeadline)
      assert.equal(d.state, d.faults >= d.sectors ? "faulty" : "partly-faulty");
    const f = s.alerts.find((a) => a.kind === "new-faults");
    assert.ok(f, JSON.stringify(s.alerts));
    assert.match(f.message, /from 0 to \d+/);
  });

  test("a DeclareFaultsRecovered sent through the watched chain client shows with its partitions and receipt", async () => {
    assert.notEqual(faultyDeadline, undefined, "the previous test left a faulty deadline");
    const dl = faultyDeadline ?? 0;
    const m = model();
    const chain = m.watchChain(fx.chain);
    const parts = await fx.chain.stateMinerPartitions("f01000", dl, []);
    const p = parts.findIndex((x) => !x.faultySectors.isEmpty());
    assert.ok(p >= 0);
    const info = await chain.stateMinerInfo("f01000", []);
    const params = encodeDeclareFaultsRecoveredParams({
      recoveries: [{ deadline: dl, partition: p, sectors: parts[p]?.faultySectors ?? BitField.empty() }],
    });
    const pushed = await chain.pushMessage({
      from: info.worker,
      to: "f01000",
      method: MinerMethod.DeclareFaultsRecovered,
      params,
      value: 0n,
      maxFeeCap: 0n,
    });
    let s = m.snapshot();
    assert.deepEqual(
      s.messages.map((x) => [x.cid, x.method, x.miner, x.partitions, x.exitCode]),
      [[pushed.cid, "DeclareFaultsRecovered", "f01000", [p], null]],
    );
    const waited = chain.waitMessage(pushed.cid, 1);
    for (let i = 0; i < 3; i++) await fx.node.produceBlock();
    const r = await waited;
    s = m.snapshot();
    assert.deepEqual(
      s.messages.map((x) => [x.exitCode, x.height, x.gasUsed]),
      [[r.exitCode, r.height, r.gasUsed]],
    );
  });

  test("chain-stale: no new head for over 3 block times (the block time measured from the heads)", async () => {
    const m = model();
    const h1 = await fx.node.produceBlock();
    nowMs = h1.timestamp * 1000;
    await m.refresh();
    const h2 = await fx.node.produceBlock();
    nowMs = h2.timestamp * 1000;
    await m.refresh();
    assert.ok(!alertKinds(m.snapshot()).includes("chain-stale"));
    const blockS = h2.timestamp - h1.timestamp;
    nowMs = (h2.timestamp + 3 * blockS + 1) * 1000;
    const s = m.snapshot();
    const a = s.alerts.find((x) => x.kind === "chain-stale");
    assert.ok(a, JSON.stringify(s.alerts));
    assert.equal(s.chain.lagSeconds, 3 * blockS + 1);
  });

  test("no page open: the miners are read every 10th head, not every head; a page that opens is served fresh", async () => {
    let reads = 0;
    // The real devnet client, counting the one call each miner read starts with.
    const counting = new Proxy(fx.chain, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop === "stateMinerProvingDeadline") reads++;
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const needs: string[] = [];
    const m = model({ chain: () => counting, onSenderNeed: (_, fil) => needs.push(fil) });
    await m.refresh();
    assert.equal(reads, 1, "the first head is always read");
    for (let i = 0; i < UNWATCHED_EVERY; i++) {
      nowMs = (await fx.node.produceBlock()).timestamp * 1000;
      await m.refresh();
    }
    assert.equal(reads, 2, `${UNWATCHED_EVERY} heads with nobody looking: one more read`);
    assert.equal(needs.length, 2, "vsm_sender_need_fil still follows");
    nowMs = (await fx.node.produceBlock()).timestamp * 1000;
    await m.refresh();
    assert.equal(reads, 2);
    // A page asks: the next round reads the miners at the current head, without waiting for a new one.
    const head = await fx.chain.chainHead();
    assert.notEqual(m.snapshot().miners[0]?.current?.closeEpoch, undefined);
    await m.refresh();
    assert.equal(reads, 3);
    assert.equal(m.snapshot().chain.head, head.height);
    await m.refresh();
    assert.equal(reads, 3, "the same head is not read twice");
    // The model's clock stays put here: this devnet's blocks are an hour apart, over VIEW_HOLD_MS.
    await fx.node.produceBlock();
    await m.refresh();
    assert.equal(reads, 4, "while the page is open, every head");
  });
});

const child = (o: Partial<ChildStatus>): ChildStatus => ({
  stage: "window_post",
  block: "WdPost[0]",
  index: 0,
  pid: 1,
  state: "ready",
  bin: "p",
  args: [],
  envs: { CUDA_VISIBLE_DEVICES: "1", SECRET: "x" },
  concurrent: 1,
  weight: 1,
  inFlight: 0,
  done: 3,
  failed: 0,
  restarts: 0,
  avgMs: 1200,
  protocolErrors: 0,
  requestTimeoutMs: 1000,
  lastError: null,
  nextRetryAt: null,
  ...o,
});

describe("dashboard model without a chain", () => {
  test("provers: GPU from the envs, nothing else of them; down and flapping alerts", () => {
    let nowMs = 1_000_000;
    let rows = [child({}), child({ block: "WdPost[1]", state: "backoff", envs: {} })];
    const m = new DashboardModel({
      name: () => "n",
      version: "v",
      modules: [],
      miners: [],
      provers: () => rows,
      logger: nullLogger,
      now: () => nowMs,
    });
    let s = m.snapshot();
    assert.deepEqual(s.provers[0], {
      block: "WdPost[0]",
      cudaVisibleDevices: "1",
      state: "ready",
      inFlight: 0,
      done: 3,
      failed: 0,
      restarts: 0,
      avgMs: 1200,
    });
    assert.equal(s.provers[1]?.cudaVisibleDevices, null);
    assert.deepEqual(
      s.alerts.map((a) => [a.kind, a.severity]),
      [["prover-down", "critical"]],
    );
    assert.equal(s.chain.head, null);
    assert.equal(s.cluster, null);
    // 3 restarts within 10 minutes: flapping; once they are older than the window, not any more.
    for (const r of [1, 2, 3]) {
      nowMs += 60_000;
      rows = [child({ restarts: r }), rows[1] as ChildStatus];
      s = m.snapshot();
    }
    assert.ok(s.alerts.some((a) => a.kind === "prover-flapping" && a.message.includes("WdPost[0]")));
    nowMs += 11 * 60_000;
    s = m.snapshot();
    assert.ok(!s.alerts.some((a) => a.kind === "prover-flapping"), JSON.stringify(s.alerts));
  });
});

describe("dashboard model with an unreachable chain node", () => {
  test("chain-stale names why the head cannot be read; the refresh fails without throwing out of the loop", async () => {
    // A port nothing listens on: a real client, a real refusal.
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const chain = LotusChainClient.fromConfig(
      { Chain: `http://127.0.0.1:${port}/rpc/v1`, Gateway: [], Messager: "", Token: "" },
      { logger: nullLogger, timeoutMs: 2_000, connectTimeoutMs: 1_000 },
    );
    const m = new DashboardModel({
      name: () => "n",
      version: "v",
      modules: [],
      miners: ["f01000"],
      chain: () => chain,
      logger: nullLogger,
      options: { headPollMs: 50 },
    });
    try {
      await assert.rejects(m.refresh());
      const s = m.snapshot();
      assert.equal(s.chain.head, null);
      assert.deepEqual(s.miners, []);
      const a = s.alerts.find((x) => x.kind === "chain-stale");
      assert.ok(a, JSON.stringify(s.alerts));
      assert.match(a.message, /cannot be read/);
      // The background loop keeps going and stops on close.
      m.start();
      await new Promise((r) => setTimeout(r, 200));
      await m.close();
    } finally {
      chain.close();
    }
  });
});

describe("alerts", () => {
  const base = (): DashboardState => ({
    node: { name: "n", version: "v", modules: [], now: "" },
    chain: { head: 100, headTime: new Date(1_000_000).toISOString(), lagSeconds: 0, network: "x" },
    miners: [],
    provers: [],
    cluster: null,
    messages: [],
    alerts: [],
    provingTimes: [],
  });
  const inputs = (state: DashboardState) => ({
    state,
    nowMs: 1_000_000,
    blockSeconds: 30,
    atRiskEpochs: () => 15,
    missed: [],
    newFaults: [],
    flapping: [],
  });

  test("cluster node dead (not when cordoned); sender balance low for worker and control, never owner", () => {
    const s = base();
    s.cluster = {
      takeovers: 0,
      tasks: { waiting: 0, running: 0, done: 0, failed: 0 },
      nodes: [
        { name: "a", alive: true, capacity: 1, inFlight: 0, cordoned: false, lastHeartbeat: "t", holds: [] },
        { name: "b", alive: false, capacity: 1, inFlight: 0, cordoned: false, lastHeartbeat: "t", holds: [] },
        { name: "c", alive: false, capacity: 1, inFlight: 0, cordoned: true, lastHeartbeat: "t", holds: [] },
      ],
    };
    s.miners = [
      {
        miner: "f01000",
        provingPeriodStart: 0,
        currentDeadline: 0,
        deadlinesPerPeriod: 48,
        deadlines: [],
        current: null,
        senders: [
          { address: "f0100", role: "owner", balanceFil: "0" },
          { address: "f0101", role: "worker", balanceFil: "0.5" },
          { address: "f0102", role: "control", balanceFil: "2" },
        ],
        senderNeedFil: "1",
        senderNeedWhy: "the floor",
      },
    ];
    const a = computeAlerts(inputs(s));
    assert.deepEqual(
      a.map((x) => x.id),
      ["cluster-node-dead:b", "sender-balance-low:f01000:f0101"],
    );
  });

  test("at risk only under the threshold and only for partitions not on chain; stale head", () => {
    const s = base();
    const current = (epochsLeft: number, stage: "proving" | "on-chain") => ({
      index: 3,
      closeEpoch: 200,
      epochsLeft,
      secondsLeft: epochsLeft * 30,
      partitions: [{ index: 0, stage, by: null, sectors: 2, skipped: 0 }],
      lastMargin: null,
    });
    const miner = {
      miner: "f01000",
      provingPeriodStart: 0,
      currentDeadline: 3,
      deadlinesPerPeriod: 48,
      deadlines: [],
      senders: [],
      senderNeedFil: "1",
      senderNeedWhy: "the floor",
    };
    s.miners = [{ ...miner, current: current(20, "proving") }];
    assert.deepEqual(computeAlerts(inputs(s)), []);
    s.miners = [{ ...miner, current: current(10, "on-chain") }];
    assert.deepEqual(computeAlerts(inputs(s)), []);
    s.miners = [{ ...miner, current: current(10, "proving") }];
    assert.deepEqual(
      computeAlerts(inputs(s)).map((x) => x.kind),
      ["deadline-at-risk"],
    );
    s.miners = [];
    assert.deepEqual(
      computeAlerts({ ...inputs(s), nowMs: 1_000_000 + 91_000 }).map((x) => x.kind),
      ["chain-stale"],
    );
    assert.deepEqual(computeAlerts({ ...inputs(s), nowMs: 1_000_000 + 89_000 }), []);
  });

  test("since is kept while an alert lasts and restarts when it comes back; newest first", () => {
    const book = new AlertBook();
    const a = {
      id: "x",
      kind: "chain-stale" as const,
      severity: "critical" as const,
      miner: null,
      message: "",
    };
    const b = { ...a, id: "y", severity: "warning" as const };
    assert.equal(book.stamp([a], 1000)[0]?.since, new Date(1000).toISOString());
    assert.deepEqual(
      book.stamp([a, b], 2000).map((x) => [x.id, x.since]),
      [
        ["y", new Date(2000).toISOString()],
        ["x", new Date(1000).toISOString()],
      ],
    );
    book.stamp([b], 3000);
    assert.equal(book.stamp([a], 4000)[0]?.since, new Date(4000).toISOString());
  });

  test("grid states and FIL amounts", () => {
    assert.equal(gridState(false, 0, 0, 0), "empty");
    assert.equal(gridState(true, 2, 4, 4), "current");
    assert.equal(gridState(false, 2, 4, 0), "proven");
    assert.equal(gridState(false, 2, 4, 1), "partly-faulty");
    assert.equal(gridState(false, 2, 4, 4), "faulty");
    assert.equal(attoToFil(1_500_000_000_000_000_000n), "1.5");
    assert.equal(attoToFil(1n), "0.000000000000000001");
    assert.equal(attoToFil(0n), "0");
    assert.equal(filToAtto("1.5"), 1_500_000_000_000_000_000n);
    assert.equal(filToAtto("?"), null);
  });
});
