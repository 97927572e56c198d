/**
 * The WebSocket side against a real loopback server: ChainNotify over go-jsonrpc's channel protocol
 * (xrpc.ch.val / xrpc.ch.close / xrpc.cancel), resubscription with a fresh "current" batch after the
 * server drops the socket or closes the channel, CHAIN_UNREACHABLE when the node is down (and recovery
 * when it is back), in-flight calls failing on a drop, per-call timeouts, aborts and garbage frames.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { HeadChange } from "../../../../src/chain/interface.js";
import { HEAD } from "../../../../src/chain/interface.js";
import { LotusChainClient } from "../../../../src/chain/lotus/client.js";
import { parseApiEndpoint } from "../../../../src/chain/lotus/endpoint.js";
import { memoryLogger } from "../../../../src/log/logger.js";
import { FakeChannel, FakeLotus, nextEvent, Raw } from "./fakeLotus.js";
import { FAST, isCode } from "./helpers.js";
import * as R from "./recordings.js";

/** The recorded ChainNotify value (LOTUS_DOC ### ChainNotify) with a real Type and a given height. */
function change(type: string, height: number): unknown {
  const hc = R.CHAIN_NOTIFY_VALUE[0];
  return { ...hc, Type: type, Val: { ...hc.Val, Height: height } };
}

function client(fake: FakeLotus, extra = {}): LotusChainClient {
  const chain = parseApiEndpoint(fake.multiaddr, { key: "Common.API.Chain", path: "/rpc/v1" });
  return new LotusChainClient({ chain, ...FAST, ...extra });
}

const brief = (batch: HeadChange[]) => batch.map((c) => `${c.type}@${c.tipset.height}`).join(",");

describe("ChainNotify", () => {
  let fake: FakeLotus;
  let channels: FakeChannel[];
  let height: number;
  before(async () => {
    fake = await FakeLotus.start({
      "Filecoin.ChainHead": () => ({ ...R.CHAIN_HEAD, Height: height }),
      // Lotus (ChainNotify doc): "First message is guaranteed to be of len == 1, and type == 'current'".
      "Filecoin.ChainNotify": () => {
        const ch = new FakeChannel([[change("current", height)]]);
        channels.push(ch);
        return ch;
      },
    });
  });
  after(async () => {
    await fake.close();
  });

  test("current first, then apply/revert batches; leaving the loop sends xrpc.cancel", async () => {
    channels = [];
    height = 100;
    const c = client(fake);
    try {
      const seen: string[] = [];
      for await (const batch of c.chainNotify({ signal: AbortSignal.timeout(5000) })) {
        seen.push(brief(batch));
        if (seen.length === 1) {
          channels[0]!.send([change("revert", 100), change("apply", 100), change("apply", 101)]);
          channels[0]!.send([change("apply", 102)]);
        }
        if (seen.length === 3) break;
      }
      assert.deepEqual(seen, ["current@100", "revert@100,apply@100,apply@101", "apply@102"]);
      await channels[0]!.cancelledP;
      const req = fake.requests.find((r) => r.method === "Filecoin.ChainNotify")!;
      assert.equal(req.transport, "ws");
      assert.deepEqual(req.params, []);
      assert.equal(fake.cancels.length, 1);
    } finally {
      c.close();
    }
  });

  test("the server dropping the socket: reconnect, resubscribe, a fresh current batch", async () => {
    channels = [];
    height = 200;
    const { logger, lines } = memoryLogger("warn");
    const c = client(fake, { logger });
    try {
      const seen: string[] = [];
      for await (const batch of c.chainNotify({ signal: AbortSignal.timeout(5000) })) {
        seen.push(brief(batch));
        if (seen.length === 1) {
          channels[0]!.send([change("apply", 201)]);
        } else if (seen.length === 2) {
          height = 205; // the node moved on while we were away
          fake.dropSockets();
        } else if (seen.length === 3) {
          channels[1]!.send([change("apply", 206)]);
        } else break;
      }
      assert.deepEqual(seen, ["current@200", "apply@201", "current@205", "apply@206"]);
      assert.equal(channels.length, 2);
      assert.ok(lines.some((l) => l.includes("connection lost")));
      assert.ok(lines.some((l) => l.includes("resubscribing")));
    } finally {
      c.close();
    }
  });

  test("the server closing the channel (xrpc.ch.close) also resubscribes", async () => {
    channels = [];
    height = 300;
    const c = client(fake);
    try {
      const seen: string[] = [];
      for await (const batch of c.chainNotify({ signal: AbortSignal.timeout(5000) })) {
        seen.push(brief(batch));
        if (seen.length === 1) channels[0]!.close();
        if (seen.length === 2) break;
      }
      assert.deepEqual(seen, ["current@300", "current@300"]);
    } finally {
      c.close();
    }
  });

  test("a malformed notification is logged and the subscription restarts", async () => {
    channels = [];
    height = 400;
    const { logger, lines } = memoryLogger("warn");
    const c = client(fake, { logger });
    try {
      const seen: string[] = [];
      for await (const batch of c.chainNotify({ signal: AbortSignal.timeout(5000) })) {
        seen.push(brief(batch));
        if (seen.length === 1) channels[0]!.send([{ Type: "string value", Val: R.CHAIN_HEAD }]);
        if (seen.length === 2) break;
      }
      assert.deepEqual(seen, ["current@400", "current@400"]);
      assert.ok(
        lines.some((l) => l.includes("CHAIN_BAD_RESPONSE") && l.includes("[0].Type")),
        lines.join("\n"),
      );
      await channels[0]!.cancelledP; // the bad channel was cancelled, not leaked
    } finally {
      c.close();
    }
  });

  test("closing the client ends the iteration", async () => {
    channels = [];
    height = 600;
    const c = client(fake);
    const seen: string[] = [];
    const t0 = Date.now();
    for await (const batch of c.chainNotify({ signal: AbortSignal.timeout(5000) })) {
      seen.push(brief(batch));
      c.close();
    }
    assert.deepEqual(seen, ["current@600"]);
    assert.ok(Date.now() - t0 < 1000);
  });

  test("aborting the signal ends the iteration quietly and cancels the channel", async () => {
    channels = [];
    height = 500;
    const c = client(fake);
    const ac = new AbortController();
    try {
      const seen: string[] = [];
      const t0 = Date.now();
      for await (const batch of c.chainNotify({ signal: ac.signal })) {
        seen.push(brief(batch));
        setTimeout(() => ac.abort(), 20);
      }
      assert.deepEqual(seen, ["current@500"]);
      assert.ok(Date.now() - t0 < 2000);
      await channels[0]!.cancelledP;
    } finally {
      c.close();
    }
  });
});

test("a node whose first batch is not a single current: a current batch from ChainHead comes first", async () => {
  const fake = await FakeLotus.start({
    "Filecoin.ChainHead": () => ({ ...R.CHAIN_HEAD, Height: 41 }),
    "Filecoin.ChainNotify": () => new FakeChannel([[change("apply", 42)]]),
  });
  const { logger, lines } = memoryLogger("warn");
  const c = client(fake, { logger });
  try {
    const seen: string[] = [];
    for await (const batch of c.chainNotify({ signal: AbortSignal.timeout(5000) })) {
      seen.push(brief(batch));
      if (seen.length === 2) break;
    }
    assert.deepEqual(seen, ["current@41", "apply@42"]);
    assert.ok(lines.some((l) => l.includes("did not start with a single 'current'")));
  } finally {
    c.close();
    await fake.close();
  }
});

describe("connection failures", () => {
  test("node down: CHAIN_UNREACHABLE quickly, naming the endpoint; works again once it is back", async () => {
    const first = await FakeLotus.start({ "Filecoin.ChainHead": () => R.CHAIN_HEAD });
    const port = first.port;
    const c = client(first);
    try {
      assert.equal((await c.chainHead()).height, 4863283);
      await first.close();
      const t0 = Date.now();
      await assert.rejects(
        c.chainHead(),
        isCode("CHAIN_UNREACHABLE", /chain node/, new RegExp(`127\\.0\\.0\\.1:${port}`)),
      );
      await assert.rejects(c.chainHead(), isCode("CHAIN_UNREACHABLE", /ECONNREFUSED/));
      assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
      const second = await FakeLotus.start({ "Filecoin.ChainHead": () => R.CHAIN_HEAD }, { port });
      try {
        assert.equal((await c.chainHead()).height, 4863283);
        await new Promise((r) => setTimeout(r, 150)); // past the WebSocket retry backoff
        await c.chainHead();
        assert.equal(second.requests.at(-1)!.transport, "ws", "back on the WebSocket");
      } finally {
        c.close();
        await second.close();
      }
    } finally {
      c.close();
    }
  });

  test("chainNotify keeps retrying while the node is down and yields current when it returns", async () => {
    const first = await FakeLotus.start({});
    const port = first.port;
    const c = client(first);
    await first.close();
    let second: FakeLotus | null = null;
    try {
      setTimeout(async () => {
        second = await FakeLotus.start(
          { "Filecoin.ChainNotify": () => new FakeChannel([[change("current", 7)]]) },
          { port },
        );
      }, 200);
      for await (const batch of c.chainNotify({ signal: AbortSignal.timeout(5000) })) {
        assert.equal(brief(batch), "current@7");
        break;
      }
    } finally {
      c.close();
      await (second as FakeLotus | null)?.close();
    }
  });

  test("an in-flight call fails with CHAIN_UNREACHABLE when the socket drops", async () => {
    const fake = await FakeLotus.start({ "Filecoin.StateWaitMsg": () => new Promise(() => {}) });
    const c = client(fake);
    try {
      const wait = c.waitMessage("bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4", 1);
      await nextEvent(fake.events, "request");
      fake.dropSockets();
      await assert.rejects(
        wait,
        isCode("CHAIN_UNREACHABLE", /connection to chain node at ws:\/\/127\.0\.0\.1:\d+\/rpc\/v1 lost/),
      );
    } finally {
      c.close();
      await fake.close();
    }
  });

  test("a peer that stops answering pings is dropped: CHAIN_UNREACHABLE for the call in flight", async () => {
    const fake = await FakeLotus.start({ "Filecoin.StateWaitMsg": () => new Promise(() => {}) });
    fake.events.on("request", () => {
      // Stop reading the client's socket: its pings go unanswered, as with a dead host.
      const sock = [...fake.sockets][0] as unknown as { _socket: { pause(): void } };
      sock._socket.pause();
    });
    const c = client(fake, { pingIntervalMs: 50 });
    try {
      const t0 = Date.now();
      await assert.rejects(
        c.waitMessage("bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4", 1),
        isCode("CHAIN_UNREACHABLE", /lost: no pong within 50 ms/),
      );
      assert.ok(Date.now() - t0 < 1000);
    } finally {
      c.close();
      await fake.close();
    }
  });

  test("timeouts and aborts: CHAIN_UNREACHABLE / ABORTED, and the server is sent xrpc.cancel", async () => {
    const fake = await FakeLotus.start({ "Filecoin.StateMinerInfo": () => new Promise(() => {}) });
    const c = client(fake, { timeoutMs: 100 });
    try {
      await assert.rejects(
        c.stateMinerInfo("f01234", HEAD),
        isCode("CHAIN_UNREACHABLE", /did not answer Filecoin\.StateMinerInfo within 100 ms/),
      );
      await nextEvent(fake.events, "cancel", 2000);
      const ac = new AbortController();
      const p = c.stateMinerInfo("f01234", HEAD, { signal: ac.signal });
      await nextEvent(fake.events, "request");
      ac.abort();
      await assert.rejects(p, isCode("ABORTED"));
      await nextEvent(fake.events, "cancel", 2000);
      assert.equal(fake.cancels.length, 2);
    } finally {
      c.close();
      await fake.close();
    }
  });

  test("a frame that is not JSON fails the call with CHAIN_BAD_RESPONSE; the next call reconnects", async () => {
    let calls = 0;
    const fake = await FakeLotus.start({
      "Filecoin.ChainHead": () => (++calls === 1 ? new Raw("}{ not json") : R.CHAIN_HEAD),
    });
    const c = client(fake);
    try {
      await assert.rejects(c.chainHead(), isCode("CHAIN_BAD_RESPONSE", /not a JSON-RPC message/));
      assert.equal((await c.chainHead()).height, 4863283);
      assert.deepEqual(
        fake.requests.map((r) => r.transport),
        ["ws", "ws"],
      );
    } finally {
      c.close();
      await fake.close();
    }
  });

  test("a closed client refuses calls", async () => {
    const fake = await FakeLotus.start({});
    const c = client(fake);
    c.close();
    await assert.rejects(c.chainHead(), isCode("CHAIN_UNREACHABLE", /closed/));
    await fake.close();
  });
});

describe("default timings", () => {
  test("a node that stays down is retried at least every 5 s, so the PoSter rejoins it within seconds of its return", async () => {
    const gone = await FakeLotus.start({});
    const chain = parseApiEndpoint(gone.multiaddr, { key: "Common.API.Chain", path: "/rpc/v1" });
    await gone.close();
    const { logger, lines } = memoryLogger("warn");
    // The defaults, as the PoSter's client has them (no timing options).
    const c = new LotusChainClient({ chain, logger });
    const stop = new AbortController();
    const retries = () =>
      lines
        .map((l) => JSON.parse(l) as { msg: string; retryInMs?: number })
        .filter((l) => l.msg === "chain head subscription failed; resubscribing")
        .map((l) => l.retryInMs);
    try {
      const iterating = (async () => {
        for await (const _ of c.chainNotify({ signal: stop.signal })) break;
      })();
      // 0.5 + 1 + 2 + 4 s of backoff, then the cap.
      for (let i = 0; i < 200 && retries().length < 5; i++) await new Promise((r) => setTimeout(r, 50));
      stop.abort();
      await iterating;
      assert.deepEqual(retries().slice(0, 5), [500, 1000, 2000, 4000, 5000]);
    } finally {
      stop.abort();
      c.close();
    }
  });
});
