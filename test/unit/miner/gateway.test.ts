/**
 * The sophon-gateway registrations of `--miner` (src/miner/gateway) against the loopback stand-in
 * (test/helpers/gatewayStandIn.ts), with a WinningPoSt service that returns a fixed proof (or fails,
 * or is slow) so that each behaviour is seen alone: registration of every enabled miner at every
 * gateway, answers, bad events, duplicates, a gateway that restarts while a proof is computed (the
 * answer is not sent on the new connection), a proof that runs out of its budget (the timeout is
 * sent), a request reaching the node through two gateways, a refused registration (its warning not
 * repeated each attempt), one dial per backoff step to a gateway that is down. The real prover and the
 * real daemon are in test/e2e/gateway.test.ts.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import net from "node:net";
import { afterEach, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { MinerConfig } from "../../../src/config/types.js";
import { memoryLogger } from "../../../src/log/logger.js";
import { createMetrics } from "../../../src/metrics/metrics.js";
import type { ComputeProofRequest } from "../../../src/miner/computeProof.js";
import { type Gateways, startGateways } from "../../../src/miner/gateway/index.js";
import { WinningPoSt } from "../../../src/miner/winningPost.js";
import { sealedCid } from "../../../src/proofs/commCid.js";
import type { SectorIndexer } from "../../../src/sectors/interface.js";
import type { PersistStores } from "../../../src/sectors/stores.js";
import { SmError } from "../../../src/util/errors.js";
import { b64, GatewayStandIn } from "../../helpers/gatewayStandIn.js";

const miner = (Actor: number, enabled: boolean): MinerConfig =>
  ({ Actor, Proof: { Enabled: enabled } }) as unknown as MinerConfig;
const RAND = Buffer.from(Uint8Array.from({ length: 32 }, (_, i) => (i * 7) & 0x3f)).toString("base64");
const payload = (sector: number, height = 100) => ({
  SectorInfos: [
    {
      SealProof: 5,
      SectorNumber: sector,
      SectorKey: null,
      SealedCID: { "/": sealedCid(new Uint8Array(32).fill(2)) },
    },
  ],
  Rand: RAND,
  Height: height,
  NWVersion: 21,
});
const PROOF = Uint8Array.of(9, 8, 7);
const decodeAnswer = (p: string | null) => JSON.parse(Buffer.from(p ?? "", "base64").toString("utf8"));

interface Setup {
  gws: GatewayStandIn[];
  gateways: Gateways;
  calls: ComputeProofRequest[];
  lines: string[];
  metrics: ReturnType<typeof createMetrics>;
}

let running: Setup | null = null;
afterEach(async () => {
  if (!running) return;
  await running.gateways.close();
  for (const g of running.gws) await g.kill();
  running = null;
});

async function setup(
  opts: {
    gateways?: number;
    compute?: (req: ComputeProofRequest) => Promise<unknown>;
    /** Miners whose registration the (first) gateway refuses from the start. */
    refuse?: string[];
  } = {},
): Promise<Setup> {
  const gws = await Promise.all(
    Array.from({ length: opts.gateways ?? 1 }, () => new GatewayStandIn().start()),
  );
  for (const m of opts.refuse ?? []) gws[0]?.refuse.set(m, `verify miner:${m} failed:not exist`);
  const calls: ComputeProofRequest[] = [];
  const { logger, lines } = memoryLogger("info");
  const metrics = createMetrics({ defaults: false });
  const gateways = startGateways(
    {
      Gateway: gws.map((g, i) => (i === 0 ? g.apiInfo("tok0") : `/ip4/127.0.0.1/tcp/${g.port}`)),
      Token: "common",
    },
    [miner(1000, true), miner(1001, false), miner(1002, true)],
    {
      service: {
        async compute(req) {
          calls.push(req);
          await opts.compute?.(req);
          return [{ postProof: req.postProof, proofBytes: PROOF }];
        },
      },
      vanilla: true,
      logger,
      metrics,
      backoffMinMs: 50,
      backoffMaxMs: 200,
    },
  );
  running = { gws, gateways, calls, lines, metrics };
  for (const g of gws) {
    if (!opts.refuse?.includes("f01000")) await g.waitRegistered("f01000");
    if (!opts.refuse?.includes("f01002")) await g.waitRegistered("f01002");
  }
  return running;
}

/** `p`, or a failure naming `what` after `ms`: a request the node never answers must not hang the file. */
function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer to ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe("sophon-gateway registrations (--miner)", { timeout: 40_000 }, () => {
  test("every enabled miner registers at every gateway on /rpc/v2 with its token and the venus namespace header", async () => {
    const { gws, gateways, lines } = await setup({ gateways: 2 });
    for (const g of gws) {
      assert.deepEqual(
        g.channels.map((c) => c.miner).sort(),
        ["f01000", "f01002"],
        "the disabled f01001 is not registered",
      );
      for (const c of g.channels) {
        assert.equal(c.path, "/rpc/v2");
        assert.equal(c.headers["x-venus-api-namespace"], "gateway.IGateway");
      }
    }
    assert.equal(gws[0]?.channels[0]?.headers.authorization, "Bearer tok0", "the entry's own token");
    assert.equal(gws[1]?.channels[0]?.headers.authorization, "Bearer common", "else [Common.API] Token");
    await until("InitConnect seen", () => gateways.status().every((r) => r.channelId !== null));
    const rows = gateways.status();
    assert.equal(rows.length, 4);
    for (const r of rows) {
      assert.equal(r.connected, true);
      const ch = gws.flatMap((g) => g.channels).find((c) => c.channelId === r.channelId);
      assert.equal(ch?.miner, r.miner, "the channel id of InitConnect is kept per registration");
    }
    // Honesty: once per gateway.
    assert.equal(
      lines.filter((l) => /answers the gateway's ComputeProof with vanilla proofs/.test(l)).length,
      2,
    );
  });

  test("ComputeProof is answered with the proof as the JSON of []PoStProof; the channel's miner is the one proven", async () => {
    const { gws, calls, gateways, metrics } = await setup();
    const g = gws[0] as GatewayStandIn;
    const r = await g.computeProof("f01002", payload(7, 4242));
    assert.equal(r.Error, "");
    assert.deepEqual(decodeAnswer(r.Payload), [
      { PoStProof: 0, ProofBytes: Buffer.from(PROOF).toString("base64") },
    ]);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]?.miner, 1002);
    assert.equal(calls[0]?.sectors[0]?.sectorNumber, 7);
    assert.equal(calls[0]?.height, 4242);
    // The stand-in has the answer before the node has the gateway's reply: wait for the node's count.
    await until("the answer counted", () => gateways.status().some((x) => x.answered === 1));
    const row = gateways.status().find((x) => x.miner === "f01002");
    assert.equal(row?.requests, 1);
    assert.equal(row?.answered, 1);
    assert.equal(row?.lastRequest?.result, "ok");
    const text = await metrics.registry.metrics();
    assert.match(
      text,
      new RegExp(
        `vsm_gateway_requests_total\\{gateway="127.0.0.1:${g.port}",miner="f01002",result="ok"\\} 1`,
      ),
    );
    assert.match(text, /vsm_gateway_answer_duration_seconds_count\{gateway="[^"]+",miner="f01002"\} 1/);
    assert.match(text, /vsm_gateway_connected\{gateway="[^"]+",miner="f01000"\} 1/);
  });

  test("bad events get an error answer when they have an Id, never crash, and the next request is answered", async () => {
    const { gws, calls, lines, gateways } = await setup({
      compute: async (req) => {
        if (req.sectors[0]?.sectorNumber === 66)
          throw new SmError(
            "WINNING_POST_SECTOR_NOT_FOUND",
            "sector 66 of f01000 is not in this node's normal sector index",
          );
      },
    });
    const g = gws[0] as GatewayStandIn;
    const ch = g.openChannels("f01000")[0]!;
    const unknown = await g.request(ch, { Id: randomUUID(), Method: "UnsealPiece", Payload: b64("{}") });
    assert.match(
      unknown.Error,
      /unknown proof event method "UnsealPiece"; this node answers InitConnect and ComputeProof/,
    );
    assert.equal(unknown.Payload, null);
    const notJson = await g.request(ch, {
      Id: randomUUID(),
      Method: "ComputeProof",
      Payload: Buffer.from([1, 3, 5, 1, 3]).toString("base64"),
    });
    assert.match(
      notJson.Error,
      /the ComputeProof payload cannot be used: the ComputeProof payload is not JSON/,
    );
    const shortRand = await g.computeProof("f01000", { ...payload(1), Rand: "Bw==" });
    assert.match(shortRand.Error, /rand is 1 bytes; chain randomness is 32 bytes/);
    // No Id, no answer possible: only a warning. A value that is not an event at all, the same.
    g.send(ch, { Method: "ComputeProof", Payload: null });
    g.send(ch, "garbage");
    // The node's own failure is passed on as the Error, with its reason.
    const missing = await g.computeProof("f01000", payload(66));
    assert.match(missing.Error, /sector 66 of f01000 is not in this node's normal sector index/);
    const ok = await g.computeProof("f01000", payload(1));
    assert.equal(ok.Error, "");
    assert.equal(calls.length, 2, "only the two usable requests reached the prover");
    await until("the last answer counted", () =>
      gateways.status().some((x) => x.lastRequest?.result === "ok"),
    );
    assert.ok(lines.some((l) => /refusing a proof event this node cannot act on.*Id is missing/.test(l)));
    const row = gateways.status().find((x) => x.miner === "f01000");
    assert.equal(row?.connected, true, "still registered");
    assert.equal(row?.lastRequest?.result, "ok");
    assert.match(row?.lastError?.message ?? "", /sector 66/);
  });

  test("300 random events (seeded): every one with an Id is answered with an error, nothing crashes, a real request still works", async () => {
    const { gws, calls } = await setup();
    const g = gws[0] as GatewayStandIn;
    const ch = g.openChannels("f01000")[0]!;
    let seed = 0x5eed;
    // mulberry32: seedable, enough to pick cases; a failure names the seed's case by its Id.
    const rand = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const junk = () =>
      pick<unknown>([
        null,
        7,
        -1,
        "",
        "x",
        [],
        {},
        [1, "a"],
        { Rand: 3 },
        { SectorInfos: [{}] },
        "%%%",
        true,
      ]);
    const payloads = () =>
      pick<unknown>([
        null,
        junk(),
        b64(JSON.stringify(junk())),
        b64("{not json"),
        b64(JSON.stringify({ ...payload(1), SectorInfos: [junk()] })),
        b64(JSON.stringify({ ...payload(1), Rand: pick(["", "Bw==", 5, null]) })),
        b64(JSON.stringify({ ...payload(1), Height: pick([-1, "1", 1.5]) })),
        b64(
          JSON.stringify({
            ...payload(1),
            SectorInfos: [...payload(1).SectorInfos, ...payload(2).SectorInfos],
          }),
        ),
      ]);
    const waits: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      const id = randomUUID();
      const method = pick(["ComputeProof", "ComputeProof", "InitConnect", "Nope", ""]);
      const event = { Id: id, Method: method, Payload: payloads() };
      if (method === "InitConnect") g.send(ch, event);
      else
        waits.push(
          g
            .request(ch, event)
            .then((r) => assert.notEqual(r.Error, "", `event ${i} (${JSON.stringify(event)})`)),
        );
      if (rand() < 0.2) g.send(ch, junk());
    }
    await Promise.all(waits);
    assert.equal(calls.length, 0, "nothing malformed reached the prover");
    const ok = await g.computeProof("f01000", payload(1));
    assert.equal(ok.Error, "");
    assert.equal(g.openChannels("f01000").length, 1, "the same registration throughout");
  });

  test("a request Id sent twice is proven and answered once", async () => {
    const { gws, calls } = await setup();
    const g = gws[0] as GatewayStandIn;
    const id = randomUUID();
    const first = g.computeProof("f01000", payload(3), id);
    g.send(g.openChannels("f01000")[0]!, {
      Id: id,
      Method: "ComputeProof",
      Payload: b64(JSON.stringify(payload(3))),
    });
    assert.equal((await first).Error, "");
    await sleep(200);
    assert.equal(g.responses.filter((r) => r.Id === id).length, 1);
    assert.equal(calls.length, 1);
  });

  test("the same request through two gateways is proven once and each gateway gets its answer", async () => {
    const { gws, calls } = await setup({ gateways: 2, compute: () => sleep(200) });
    const [a, b] = await Promise.all(gws.map((g) => g.computeProof("f01000", payload(5))));
    assert.equal(a?.Error, "");
    assert.equal(b?.Error, "");
    assert.deepEqual(decodeAnswer(a?.Payload ?? null), decodeAnswer(b?.Payload ?? null));
    assert.equal(calls.length, 1);
  });

  test("the socket drops while a proof is computed: the answer is not sent on the next connection, the request is recorded as channel_closed, and the re-sent request is answered", async () => {
    const { gws, gateways, calls, metrics } = await setup({ compute: () => sleep(600) });
    const g = gws[0] as GatewayStandIn;
    const answer = g.computeProof("f01000", payload(2));
    await until("the proof started", () => calls.length === 1);
    await g.kill();
    // sophon-gateway's sendOnce fails the request as soon as its channel's context ends.
    await assert.rejects(answer, /channel closed/);
    await until("registration lost", () => gateways.status().every((r) => !r.connected));
    await g.restart();
    await g.waitRegistered("f01000");
    await g.waitRegistered("f01002");
    await until("the request recorded", () =>
      gateways.status().some((r) => r.lastRequest?.result === "channel_closed"),
    );
    const row = gateways.status().find((x) => x.miner === "f01000");
    assert.equal(row?.failed, 1);
    assert.equal(row?.answered, 0);
    assert.match(
      row?.lastError?.message ?? "",
      /was not delivered: the channel closed before the answer; the gateway already failed or re-routed the request/,
    );
    const text = await metrics.registry.metrics();
    assert.match(
      text,
      /vsm_gateway_requests_total\{gateway="[^"]+",miner="f01000",result="channel_closed"\} 1/,
    );
    assert.doesNotMatch(text, /result="ok"/, "a late answer is not counted as delivered");
    assert.doesNotMatch(text, /kind="respond"/, "a closed channel is not the gateway's error");
    assert.deepEqual(g.responses, [], "nothing was sent on the new connection");
    // sophon-miner asks again (a new Id): the proof computed meanwhile answers it, proven once.
    const again = await g.computeProof("f01000", payload(2));
    assert.equal(again.Error, "");
    assert.equal(calls.length, 1);
    await until("registered again", () =>
      gateways.status().every((x) => x.connected && x.channelId !== null),
    );
    assert.equal(g.responses.length, 1, "one answer, on the live channel");
  });

  test("a WinningPoSt that runs out of its budget: the timeout is sent to the gateway, not dropped", async () => {
    // The real service, whose 25 s timer (here 300 ms) starts when the proof starts, a little after
    // the event arrived; its sector lookup never ends.
    const gw = await new GatewayStandIn().start();
    const { logger } = memoryLogger("warn");
    const metrics = createMetrics({ defaults: false });
    const service = new WinningPoSt({
      miners: [miner(1000, true)],
      indexer: { description: "a hung index", find: () => new Promise(() => {}) } as unknown as SectorIndexer,
      stores: {} as PersistStores,
      extPool: () => undefined,
      builtin: () => {
        throw new Error("not reached: the lookup hangs");
      },
      configFile: "/conf/sector-manager.cfg",
      logger,
      timeoutMs: 300,
    });
    const gateways = startGateways({ Gateway: [gw.apiInfo("t")], Token: "" }, [miner(1000, true)], {
      service,
      vanilla: false,
      logger,
      metrics,
      backoffMinMs: 50,
      backoffMaxMs: 200,
    });
    running = { gws: [gw], gateways, calls: [], lines: [], metrics };
    await gw.waitRegistered("f01000");
    const r = await within("the ComputeProof", 5000, gw.computeProof("f01000", payload(3)));
    assert.match(
      r.Error,
      /WinningPoSt for f01000 sector 3 did not finish within 0\.3 s, too late for its block/,
    );
    assert.equal(r.Payload, null);
    assert.ok(r.ms >= 280 && r.ms < 3000, `answered after ${r.ms} ms`);
    await until("counted", () => gateways.status()[0]?.lastRequest?.result === "error");
    assert.match(
      await metrics.registry.metrics(),
      /vsm_gateway_requests_total\{gateway="[^"]+",miner="f01000",result="error"\} 1/,
    );
  });

  test("an answer the gateway refuses is counted undelivered, with the gateway's reason", async () => {
    const { gws, gateways, metrics } = await setup();
    const g = gws[0] as GatewayStandIn;
    // Sent without waiting for it: the stand-in refuses the answer of an Id it did not send.
    const id = randomUUID();
    g.send(g.openChannels("f01000")[0]!, {
      Id: id,
      Method: "ComputeProof",
      Payload: b64(JSON.stringify(payload(4))),
    });
    await until("given up", () => gateways.status()[0]?.lastRequest?.result === "undelivered");
    assert.match(
      gateways.status()[0]?.lastError?.message ?? "",
      new RegExp(
        `the answer to ${id} was not delivered: the gateway refused it: .*request id ${id} not exit`,
      ),
    );
    assert.match(
      await metrics.registry.metrics(),
      /vsm_gateway_errors_total\{gateway="[^"]+",kind="respond"\} 1/,
    );
    assert.equal(g.responses.filter((r) => r.Id === id).length, 1, "sent once, not retried");
  });

  test("a malformed InitConnect is never answered, whatever is wrong with it", async () => {
    const { gws, gateways } = await setup();
    const g = gws[0] as GatewayStandIn;
    const ch = g.openChannels("f01000")[0]!;
    const bad: string[] = [randomUUID(), randomUUID(), randomUUID()];
    g.send(ch, { Id: bad[0], Method: "InitConnect", Payload: "%%% not base64" });
    g.send(ch, { Id: bad[1], Method: "InitConnect", Payload: b64("{not json") });
    g.send(ch, { Id: bad[2], Method: "InitConnect", Payload: 7 });
    // Events are read in order: once a later request is answered, any answer to these was sent.
    assert.equal((await g.computeProof("f01000", payload(1))).Error, "");
    await sleep(100);
    assert.deepEqual(
      g.responses.filter((r) => bad.includes(r.Id)),
      [],
      "no ResponseProofEvent for an InitConnect",
    );
    await until("the last one recorded", () =>
      /InitConnect [0-9a-f-]+: Payload must be base64/.test(
        gateways.status().find((r) => r.miner === "f01000")?.lastError?.message ?? "",
      ),
    );
  });

  test("a gateway that is down sees one dial per backoff step, however many miners register there", async () => {
    // f01002 is refused, so its loop runs on its own backoff while f01000 is registered: when the
    // gateway goes away, the two loops are out of step.
    const { gws, gateways } = await setup({ refuse: ["f01002"] });
    const g = gws[0] as GatewayStandIn;
    await until("f01002 refused a few times", () => gateways.status()[1]?.lastError != null);
    await sleep(300);
    await g.kill();
    // Whatever dials now is counted and hung up on before the WebSocket upgrade.
    const dials: number[] = [];
    const server = net.createServer((sock) => {
      dials.push(Date.now());
      sock.destroy();
    });
    await new Promise<void>((r) => server.listen(g.port, "127.0.0.1", () => r()));
    try {
      await sleep(1500);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    const gaps = dials.slice(1).map((t, i) => t - (dials[i] as number));
    // Backoff 50 ms doubling to 200 ms: at most 1 + 1 + 1 + 1350 / 200 dials in 1.5 s.
    assert.ok(dials.length >= 4 && dials.length <= 12, `${dials.length} dials: ${gaps.join(", ")} ms apart`);
    assert.ok(
      Math.min(...gaps) >= 40,
      `dials ${gaps.join(", ")} ms apart; none may be closer than the 50 ms backoff`,
    );
  });

  test("a refused registration is retried and shown with the gateway's reason; its warning is not repeated every attempt", async () => {
    const gw = await new GatewayStandIn().start();
    gw.refuse.set("f01000", "verify miner:f01000 failed:not exist");
    const { logger, lines } = memoryLogger("info");
    const metrics = createMetrics({ defaults: false });
    const gateways = startGateways({ Gateway: [gw.apiInfo("t")], Token: "" }, [miner(1000, true)], {
      service: { compute: async () => [] },
      vanilla: false,
      logger,
      metrics,
      backoffMinMs: 50,
      backoffMaxMs: 100,
      repeatWarnMs: 1500,
    });
    running = { gws: [gw], gateways, calls: [], lines, metrics };
    await until("the refusal recorded", () =>
      /verify miner:f01000 failed/.test(gateways.status()[0]?.lastError?.message ?? ""),
    );
    assert.equal(gateways.status()[0]?.connected, false);
    await sleep(500);
    const warned = () => lines.filter((l) => /cannot register for proof events/.test(l));
    const attempts = async () =>
      Number(
        /vsm_gateway_errors_total\{gateway="[^"]+",kind="register"\} (\d+)/.exec(
          await metrics.registry.metrics(),
        )?.[1] ?? 0,
      );
    const before = await attempts();
    assert.ok(before >= 4, `${before} refusals counted`);
    assert.equal(warned().length, 1, "one warning for identical refusals within the quiet period");
    // After the quiet period the next identical refusal is logged again, with how many were left out.
    await until("logged again", () => warned().length === 2, 3000);
    assert.match(warned()[1] ?? "", /"repeated":\d+/);
    assert.ok((await attempts()) > before + 3, "every refusal is still counted");
    gw.refuse.delete("f01000");
    await gw.waitRegistered("f01000");
    await until("registered", () => gateways.status()[0]?.connected === true);
  });

  test("no gateway entries, or no enabled miner: nothing is started", async () => {
    const { logger } = memoryLogger("info");
    const deps = { service: { compute: async () => [] }, vanilla: true, logger };
    assert.deepEqual(startGateways({ Gateway: [], Token: "" }, [miner(1000, true)], deps).status(), []);
    assert.deepEqual(startGateways({ Gateway: [" "], Token: "" }, [miner(1000, true)], deps).status(), []);
    assert.deepEqual(
      startGateways({ Gateway: ["/ip4/127.0.0.1/tcp/1"], Token: "" }, [miner(1000, false)], deps).status(),
      [],
    );
    assert.throws(
      () => startGateways({ Gateway: ["tok:/ip4/300.0.0.1/tcp/1"], Token: "" }, [miner(1000, true)], deps),
      /Common\.API\.Gateway\[0\]: cannot use "<token>:\/ip4\/300\.0\.0\.1\/tcp\/1" as an API endpoint/,
    );
  });
});
