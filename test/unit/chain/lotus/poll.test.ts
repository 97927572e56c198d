/**
 * Chain events without a WebSocket: against a loopback node whose upgrades are refused (HTTP 501, an
 * HTTP-only gateway), reset, closed or never answered while HTTP POST works (a proxy that drops
 * them), or which answers ChainNotify with an error, `chainNotify` polls ChainHead at
 * `chainEventIntervalMs` and joins each head to the last through tipset keys and parents, so a slow
 * poll yields every epoch it missed and a reorg yields its reverts. Failing polls back off to at most
 * the interval; an abort or close ends the loop at once whatever the interval. When HTTP fails too
 * (the node down or hung) nothing is polled: the subscription is retried until the node is back.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { encodeCbor } from "../../../../src/chain/cbor.js";
import { dagCborCid } from "../../../../src/chain/cid.js";
import type { HeadChange, TipSet } from "../../../../src/chain/interface.js";
import { DEFAULT_CHAIN_EVENT_INTERVAL_MS, LotusChainClient } from "../../../../src/chain/lotus/client.js";
import { encodeTipSet } from "../../../../src/chain/lotus/encode.js";
import { parseApiEndpoint } from "../../../../src/chain/lotus/endpoint.js";
import { HeadFollower } from "../../../../src/chain/lotus/headFollower.js";
import { parseSectorManagerConfig } from "../../../../src/config/load.js";
import { createLogger, memoryLogger } from "../../../../src/log/logger.js";
import { FakeChannel, FakeLotus, RpcFault } from "./fakeLotus.js";
import { FAST } from "./helpers.js";

/** A chain of one-block tipsets; `fork` names a branch so its tipsets get other keys. */
class Chain {
  readonly byKey = new Map<string, TipSet>();
  tipsets: TipSet[] = [];
  constructor(from: number, to: number) {
    this.grow(from, to, "main");
  }
  static ts(height: number, branch: string, parent: TipSet | undefined): TipSet {
    const key = [dagCborCid(encodeCbor(["test-block", branch, height])).toString()];
    return {
      key,
      height,
      timestamp: 1_700_000_000 + height * 30,
      ...(parent ? { parents: parent.key } : {}),
    };
  }
  /** Replaces everything above `from - 1` with tipsets of `branch` up to `to`. */
  grow(from: number, to: number, branch: string): void {
    this.tipsets = this.tipsets.filter((t) => t.height < from);
    for (let h = from; h <= to; h++) {
      const t = Chain.ts(h, branch, this.tipsets.at(-1));
      this.tipsets.push(t);
      this.byKey.set(t.key.join(","), t);
    }
  }
  get head(): TipSet {
    return this.tipsets.at(-1) as TipSet;
  }
}

interface Line {
  level: string;
  msg: string;
  [k: string]: unknown;
}
const parse = (lines: string[]): Line[] => lines.map((l) => JSON.parse(l) as Line);

const brief = (batch: HeadChange[]) => batch.map((c) => `${c.type}@${c.tipset.height}`).join(",");

describe("chainNotify without a WebSocket: polling ChainHead", () => {
  let fake: FakeLotus;
  let chain: Chain;
  let failing = false;
  before(async () => {
    fake = await FakeLotus.start(
      {
        "Filecoin.ChainHead": () => {
          if (failing) throw new RpcFault(1, "node is restarting");
          return encodeTipSet(chain.head);
        },
        "Filecoin.ChainGetTipSet": (params) => {
          const key = (params[0] as { "/": string }[]).map((c) => c["/"]).join(",");
          const t = chain.byKey.get(key);
          if (!t) throw new RpcFault(1, "tipset not found");
          return encodeTipSet(t);
        },
      },
      { ws: false },
    );
  });
  after(async () => {
    await fake.close();
  });
  const client = (extra: Record<string, unknown> = {}) =>
    new LotusChainClient({
      chain: parseApiEndpoint(fake.multiaddr, { key: "Common.API.Chain", path: "/rpc/v1" }),
      ...FAST,
      chainEventIntervalMs: 50,
      ...extra,
    });

  test("a refused upgrade (HTTP 501): one WARN, then current, applies for every epoch, and a reorg's reverts", async () => {
    chain = new Chain(90, 100);
    const { logger, lines } = memoryLogger("debug");
    const c = client({ logger });
    const seen: string[] = [];
    try {
      for await (const batch of c.chainNotify({ signal: AbortSignal.timeout(10_000) })) {
        seen.push(brief(batch));
        if (seen.length === 1) chain.grow(101, 101, "main");
        if (seen.length === 2) chain.grow(102, 104, "main"); // a slow poll: three epochs at once
        if (seen.length === 3) chain.grow(103, 105, "fork"); // 103 and 104 replaced
        if (seen.length === 4) break;
      }
    } finally {
      c.close();
    }
    assert.deepEqual(seen, [
      "current@100",
      "apply@101",
      "apply@102,apply@103,apply@104",
      "revert@104,revert@103,apply@103,apply@104,apply@105",
    ]);
    const warns = parse(lines).filter((l) => l.level === "warn");
    assert.equal(warns.length, 1, JSON.stringify(warns));
    assert.match(warns[0]!.msg, /following the head by polling ChainHead/);
    assert.match(String(warns[0]!.error), /refused the WebSocket upgrade \(HTTP 501\)/);
    assert.equal(warns[0]!.every_ms, 50);
    assert.ok(fake.requests.every((r) => r.transport === "http"));
  });

  test("failing polls are retried within the interval, and the node's return is noticed at once", async () => {
    chain = new Chain(200, 200);
    const { logger, lines } = memoryLogger("warn");
    const c = client({ logger, chainEventIntervalMs: 150, backoffMinMs: 20, backoffMaxMs: 60 });
    let backAt = 0;
    const seen: string[] = [];
    try {
      for await (const batch of c.chainNotify({ signal: AbortSignal.timeout(10_000) })) {
        seen.push(brief(batch));
        if (seen.length === 1) {
          failing = true;
          setTimeout(() => {
            chain.grow(201, 201, "main");
            failing = false;
            backAt = Date.now();
          }, 400);
        }
        if (seen.length === 2) break;
      }
    } finally {
      failing = false;
      c.close();
    }
    assert.deepEqual(seen, ["current@200", "apply@201"]);
    const late = Date.now() - backAt;
    assert.ok(late < 150, `noticed ${late} ms after the node came back (backoff capped at 60 ms)`);
    const retries = parse(lines).filter((l) => l.msg === "polling the chain head failed; retrying");
    assert.ok(retries.length >= 3, JSON.stringify(lines));
    assert.ok(retries.every((l) => (l.retryInMs as number) <= 60));
  });

  test("an abort or close ends polling at once, even with a one-minute interval", async () => {
    chain = new Chain(300, 300);
    for (const how of ["abort", "close"] as const) {
      const c = client({ chainEventIntervalMs: 60_000 });
      const ac = new AbortController();
      const t0 = Date.now();
      let ended = 0;
      try {
        for await (const batch of c.chainNotify({ signal: ac.signal })) {
          assert.equal(brief(batch), "current@300");
          setTimeout(() => (how === "abort" ? ac.abort() : c.close()), 50);
        }
        ended = Date.now();
      } finally {
        c.close();
      }
      assert.ok(ended - t0 < 1000, `${how}: polling ended ${ended - t0} ms after start`);
    }
  });

  test("a node refusing ChainNotify with an error (WebSocket up) is polled too", async () => {
    const up = await FakeLotus.start({
      "Filecoin.ChainHead": () => encodeTipSet(Chain.ts(7, "x", Chain.ts(6, "x", undefined))),
      "Filecoin.ChainNotify": () => {
        throw new RpcFault(-32601, "method 'Filecoin.ChainNotify' not found");
      },
    });
    const c = new LotusChainClient({
      chain: parseApiEndpoint(up.multiaddr, { key: "Common.API.Chain", path: "/rpc/v1" }),
      ...FAST,
      chainEventIntervalMs: 50,
    });
    try {
      for await (const batch of c.chainNotify({ signal: AbortSignal.timeout(5000) })) {
        assert.equal(brief(batch), "current@7");
        break;
      }
    } finally {
      c.close();
      await up.close();
    }
  });
});

describe("a WebSocket dropped by a proxy while HTTP POST works: polled too", () => {
  const handlers = (chain: Chain) => ({
    "Filecoin.ChainHead": () => encodeTipSet(chain.head),
    "Filecoin.ChainGetTipSet": (params: unknown[]) => {
      const t = chain.byKey.get((params[0] as { "/": string }[]).map((c) => c["/"]).join(","));
      if (!t) throw new RpcFault(1, "tipset not found");
      return encodeTipSet(t);
    },
  });
  const cases = [
    [
      "reset",
      /cannot open a WebSocket to chain node at ws:\/\/127\.0\.0\.1:\d+\/rpc\/v1: .*(ECONNRESET|socket hang up)/,
    ],
    ["close", /cannot open a WebSocket to chain node at ws:\/\/127\.0\.0\.1:\d+\/rpc\/v1: socket hang up/],
    // The handshake bound (connectTimeoutMs) made short, so the test is too.
    ["silent", /cannot open a WebSocket to chain node at .*: no answer to the upgrade within 300 ms/],
  ] as const;
  for (const [mode, error] of cases) {
    test(`an upgrade the proxy ${mode === "reset" ? "resets" : mode === "close" ? "closes unanswered" : "never answers"}: one WARN saying why, then heads by polling, calls over HTTP`, async () => {
      const chain = new Chain(400, 400);
      const fake = await FakeLotus.start(handlers(chain), { ws: mode });
      const { logger, lines } = memoryLogger("warn");
      const c = new LotusChainClient({
        chain: parseApiEndpoint(fake.multiaddr, { key: "Common.API.Chain", path: "/rpc/v1" }),
        ...FAST,
        connectTimeoutMs: 300,
        chainEventIntervalMs: 50,
        logger,
      });
      const seen: string[] = [];
      try {
        for await (const batch of c.chainNotify({ signal: AbortSignal.timeout(10_000) })) {
          seen.push(brief(batch));
          if (seen.length <= 3) chain.grow(400 + seen.length, 400 + seen.length, "main");
          else break;
        }
        // Plain calls go over HTTP too, without waiting for another failing handshake first.
        assert.equal((await c.chainHead()).height, 403);
      } finally {
        c.close();
        await fake.close();
      }
      assert.deepEqual(seen, ["current@400", "apply@401", "apply@402", "apply@403"]);
      const warns = parse(lines);
      assert.equal(warns.length, 1, JSON.stringify(warns));
      assert.equal(warns[0]!.msg, "no chain head subscription; following the head by polling ChainHead");
      assert.match(String(warns[0]!.error), error);
      assert.match(String(warns[0]!.why), /the WebSocket fails but ChainHead answers over HTTP/);
      assert.equal(warns[0]!.every_ms, 50);
      assert.equal(fake.upgrades, 1, "the WebSocket is tried again only after websocket_retry_in_ms");
      assert.ok(fake.requests.every((r) => r.transport === "http"));
    });
  }

  test("a hung node (connections accepted, nothing answered): resubscribes, the HTTP question bounded as the handshake is", async () => {
    const held = new Set<net.Socket>();
    const hung = net.createServer((sock) => {
      held.add(sock);
      sock.on("close", () => held.delete(sock));
    });
    await new Promise<void>((r) => hung.listen(0, "127.0.0.1", r));
    const { port } = hung.address() as net.AddressInfo;
    const { logger, lines } = memoryLogger("warn");
    const c = new LotusChainClient({
      chain: parseApiEndpoint(`/ip4/127.0.0.1/tcp/${port}`, { key: "Common.API.Chain", path: "/rpc/v1" }),
      ...FAST,
      timeoutMs: 5000,
      connectTimeoutMs: 200,
      logger,
    });
    const t0 = Date.now();
    try {
      for await (const _ of c.chainNotify({ signal: AbortSignal.timeout(1500) })) assert.fail("no head");
    } finally {
      c.close();
      for (const s of held) s.destroy();
      await new Promise((r) => hung.close(r));
    }
    assert.ok(Date.now() - t0 < 3000);
    const warns = parse(lines);
    assert.ok(warns.length >= 2, `retried every ~0.5 s, not every 5 s: ${JSON.stringify(warns)}`);
    for (const w of warns) {
      assert.equal(w.msg, "chain head subscription failed; resubscribing");
      assert.match(String(w.error), /no answer to the upgrade within 200 ms/);
      assert.match(String(w.http), /did not answer Filecoin\.ChainHead within 200 ms/);
    }
  });

  test("the proxy fixed: the WebSocket, tried again after websocket_retry_in_ms, takes over from polling", async () => {
    const chain = new Chain(500, 500);
    const fake = await FakeLotus.start(
      {
        ...handlers(chain),
        "Filecoin.ChainNotify": () => new FakeChannel([[{ Type: "current", Val: encodeTipSet(chain.head) }]]),
      },
      { ws: "reset" },
    );
    const { logger, lines } = memoryLogger("info");
    const c = new LotusChainClient({
      chain: parseApiEndpoint(fake.multiaddr, { key: "Common.API.Chain", path: "/rpc/v1" }),
      ...FAST,
      chainEventIntervalMs: 50,
      wsRetryMs: 300,
      logger,
    });
    const seen: string[] = [];
    try {
      for await (const batch of c.chainNotify({ signal: AbortSignal.timeout(10_000) })) {
        seen.push(brief(batch));
        if (seen.length === 1) {
          fake.wsMode = true;
          chain.grow(501, 501, "main");
        }
        if (seen.length === 3) break;
      }
    } finally {
      c.close();
      await fake.close();
    }
    // Polled, then the subscription's "current" batch, as after any resubscription.
    assert.deepEqual(seen, ["current@500", "apply@501", "current@501"]);
    const log = parse(lines);
    assert.equal(log.filter((l) => l.level === "warn").length, 1, JSON.stringify(log));
    assert.ok(log.some((l) => l.msg === "chain head subscription is back; polling stopped"));
    assert.equal(fake.upgrades, 2);
  });

  test("both WebSocket and HTTP down: resubscribes (saying what HTTP said) without polling, and rejoins the node when it is back", async () => {
    const gone = await FakeLotus.start({});
    const port = gone.port;
    const chain = parseApiEndpoint(gone.multiaddr, { key: "Common.API.Chain", path: "/rpc/v1" });
    await gone.close();
    const node: { restarting: Promise<FakeLotus> | null } = { restarting: null };
    const lines: string[] = [];
    // Restarted right after the second failure is logged, while the client waits out its backoff.
    const logger = createLogger({
      level: "warn",
      format: "json",
      caller: false,
      sink: (l) => {
        lines.push(l);
        if (lines.length === 2)
          node.restarting = FakeLotus.start(
            {
              "Filecoin.ChainHead": () => encodeTipSet(Chain.ts(9, "x", undefined)),
              "Filecoin.ChainNotify": () =>
                new FakeChannel([[{ Type: "current", Val: encodeTipSet(Chain.ts(9, "x", undefined)) }]]),
            },
            { port },
          );
      },
    });
    const c = new LotusChainClient({ chain, ...FAST, backoffMinMs: 200, backoffMaxMs: 200, logger });
    try {
      for await (const batch of c.chainNotify({ signal: AbortSignal.timeout(10_000) })) {
        assert.equal(brief(batch), "current@9");
        break;
      }
    } finally {
      c.close();
      await (await node.restarting)?.close();
    }
    const warns = parse(lines);
    assert.ok(warns.length >= 2, JSON.stringify(warns));
    for (const w of warns) {
      assert.equal(w.msg, "chain head subscription failed; resubscribing");
      assert.match(String(w.error), /cannot open a WebSocket to chain node .*ECONNREFUSED/);
      assert.match(
        String(w.http),
        /cannot reach chain node at http:\/\/127\.0\.0\.1:\d+\/rpc\/v1: .*ECONNREFUSED/,
      );
    }
    const back = await node.restarting;
    assert.ok(back !== null, "the node was restarted");
    assert.deepEqual(
      back.requests.map((r) => `${r.transport} ${r.method}`),
      ["ws Filecoin.ChainNotify"],
      "the WebSocket subscription, not polling",
    );
  });
});

describe("a refused token is not an HTTP-only endpoint", () => {
  test("an upgrade refused with 401 names the token and is resubscribed, not polled", async () => {
    const fake = await FakeLotus.start({}, { token: "right" });
    const { logger, lines } = memoryLogger("warn");
    const c = new LotusChainClient({
      chain: parseApiEndpoint(`wrong:${fake.multiaddr}`, { key: "Common.API.Chain", path: "/rpc/v1" }),
      ...FAST,
      logger,
    });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    try {
      for await (const _ of c.chainNotify({ signal: ac.signal })) assert.fail("no head without a token");
    } finally {
      c.close();
      await fake.close();
    }
    const warns = parse(lines);
    assert.ok(warns.length >= 2, JSON.stringify(warns));
    for (const w of warns) {
      assert.equal(w.msg, "chain head subscription failed; resubscribing");
      assert.match(
        String(w.error),
        /refused the WebSocket with HTTP 401: check the API token \(the TOKEN: prefix of Common\.API\.Chain/,
      );
      assert.ok(!String(w.error).includes("wrong"), "the token is not shown");
    }
  });
});

describe("the polling interval's default", () => {
  test("is the config schema's ChainEventInterval default, so a client built without a config polls as a configured one", () => {
    const cfg = parseSectorManagerConfig("sector-manager.cfg", "", "/base").config;
    assert.equal(cfg.Common.API.ChainEventIntervalMs, DEFAULT_CHAIN_EVENT_INTERVAL_MS);
    assert.equal(DEFAULT_CHAIN_EVENT_INTERVAL_MS, 10_000);
  });
});

describe("HeadFollower", () => {
  const get = (chain: Chain) => async (key: readonly string[]) => {
    const t = chain.byKey.get(key.join(","));
    if (!t) throw new Error("unknown tipset");
    return t;
  };

  test("a fork below what is remembered reverts all of it and says so", async () => {
    const chain = new Chain(1, 10);
    const f = new HeadFollower(120, 4);
    for (let h = 1; h <= 10; h++) await f.next(chain.tipsets[h - 1]!, get(chain));
    chain.grow(3, 11, "fork");
    const r = await f.next(chain.head, get(chain));
    assert.match(r.unjoined ?? "", /below the 4 tipsets remembered/);
    assert.equal(
      brief(r.changes),
      "revert@10,revert@9,revert@8,revert@7,apply@7,apply@8,apply@9,apply@10,apply@11",
    );
  });

  test("a head too far away is not walked to the end", async () => {
    const chain = new Chain(1, 50);
    const f = new HeadFollower(5, 100);
    await f.next(chain.tipsets[0]!, get(chain));
    const r = await f.next(chain.head, get(chain));
    assert.match(r.unjoined ?? "", /more than 5 tipsets away/);
    assert.equal(r.changes[0]?.type, "revert");
  });

  test("a node that gives no parents is followed by heights", async () => {
    const f = new HeadFollower();
    const bare = (h: number, b = "n"): TipSet => {
      const { parents: _, ...t } = Chain.ts(h, b, undefined);
      return t;
    };
    const none = async () => {
      throw new Error("not asked");
    };
    assert.equal(brief((await f.next(bare(5), none)).changes), "current@5");
    assert.equal(brief((await f.next(bare(6), none)).changes), "apply@6");
    assert.equal(brief((await f.next(bare(6, "other"), none)).changes), "revert@6,apply@6");
  });

  test("subscription batches it observed are where polling goes on from", async () => {
    const chain = new Chain(1, 5);
    const f = new HeadFollower();
    f.observe([{ type: "current", tipset: chain.tipsets[3]! }]);
    f.observe([{ type: "apply", tipset: chain.tipsets[4]! }]);
    chain.grow(6, 7, "main");
    assert.equal(brief((await f.next(chain.head, get(chain))).changes), "apply@6,apply@7");
  });
});
