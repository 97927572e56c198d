/**
 * The sophon-gateway registrations of `--miner` (src/miner/gateway) against the loopback stand-in
 * (test/helpers/gatewayStandIn.ts), with a WinningPoSt service that returns a fixed proof (or fails,
 * or is slow) so that each behaviour is seen alone: registration of every enabled miner at every
 * gateway, answers, bad events, duplicates, a gateway that restarts while a proof is computed, a
 * request reaching the node through two gateways, a refused registration. The real prover and the
 * real daemon are in test/e2e/gateway.test.ts.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { afterEach, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { MinerConfig } from "../../../src/config/types.js";
import { memoryLogger } from "../../../src/log/logger.js";
import { createMetrics } from "../../../src/metrics/metrics.js";
import type { ComputeProofRequest } from "../../../src/miner/computeProof.js";
import { type Gateways, startGateways } from "../../../src/miner/gateway/index.js";
import { sealedCid } from "../../../src/proofs/commCid.js";
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
    budgetMs?: number;
  } = {},
): Promise<Setup> {
  const gws = await Promise.all(
    Array.from({ length: opts.gateways ?? 1 }, () => new GatewayStandIn().start()),
  );
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
      budgetMs: opts.budgetMs ?? 25_000,
      logger,
      metrics,
      backoffMinMs: 50,
      backoffMaxMs: 200,
    },
  );
  running = { gws, gateways, calls, lines, metrics };
  for (const g of gws) {
    await g.waitRegistered("f01000");
    await g.waitRegistered("f01002");
  }
  return running;
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe("sophon-gateway registrations (--miner)", () => {
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

  test("a gateway that restarts: the miners register again, and an answer computed meanwhile is delivered on the new socket", async () => {
    const { gws, gateways, calls } = await setup({ compute: () => sleep(600) });
    const g = gws[0] as GatewayStandIn;
    const answer = g.computeProof("f01000", payload(2));
    await until("the proof started", () => calls.length === 1);
    await g.kill();
    await until("registration lost", () => gateways.status().every((r) => !r.connected));
    await sleep(100);
    await g.restart();
    const r = await answer;
    assert.equal(r.Error, "", "answered although its socket died");
    assert.ok(r.ms < 25_000);
    await g.waitRegistered("f01000");
    await g.waitRegistered("f01002");
    await until("registered again", () =>
      gateways.status().every((x) => x.connected && x.channelId !== null),
    );
    const again = await g.computeProof("f01002", payload(4));
    assert.equal(again.Error, "");
    const row = gateways.status().find((x) => x.miner === "f01000");
    assert.match(row?.lastError?.message ?? "", /lost|reach/);
    assert.equal(g.responses.length, 2, "one answer per request");
  });

  test("an answer the gateway cannot take within the budget is given up, counted and never sent late", async () => {
    const { gws, gateways, metrics } = await setup({ compute: () => sleep(100), budgetMs: 600 });
    const g = gws[0] as GatewayStandIn;
    const id = randomUUID();
    void g.computeProof("f01000", payload(8), id);
    await g.kill();
    await until(
      "given up",
      () => gateways.status().some((r) => r.lastRequest?.result === "undelivered"),
      3000,
    );
    const row = gateways.status().find((r) => r.miner === "f01000");
    assert.equal(row?.failed, 1);
    assert.match(
      row?.lastError?.message ?? "",
      /was not delivered: the gateway was not reachable within the 0.6 s budget/,
    );
    assert.match(
      await metrics.registry.metrics(),
      /vsm_gateway_requests_total\{gateway="[^"]+",miner="f01000",result="undelivered"\} 1/,
    );
    await g.restart();
    await g.waitRegistered("f01000");
    await sleep(200);
    assert.deepEqual(
      g.responses.filter((r) => r.Id === id),
      [],
      "no late answer after the restart",
    );
  });

  test("a refused registration is retried and shown with the gateway's reason", async () => {
    const gw = await new GatewayStandIn().start();
    gw.refuse.set("f01000", "verify miner:f01000 failed:not exist");
    const { logger } = memoryLogger("info");
    const gateways = startGateways({ Gateway: [gw.apiInfo("t")], Token: "" }, [miner(1000, true)], {
      service: { compute: async () => [] },
      vanilla: false,
      budgetMs: 25_000,
      logger,
      backoffMinMs: 50,
      backoffMaxMs: 100,
    });
    running = { gws: [gw], gateways, calls: [], lines: [], metrics: createMetrics({ defaults: false }) };
    await until("the refusal recorded", () =>
      /verify miner:f01000 failed/.test(gateways.status()[0]?.lastError?.message ?? ""),
    );
    assert.equal(gateways.status()[0]?.connected, false);
    gw.refuse.delete("f01000");
    await gw.waitRegistered("f01000");
    await until("registered", () => gateways.status()[0]?.connected === true);
  });

  test("no gateway entries, or no enabled miner: nothing is started", async () => {
    const { logger } = memoryLogger("info");
    const deps = { service: { compute: async () => [] }, vanilla: true, budgetMs: 1000, logger };
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
