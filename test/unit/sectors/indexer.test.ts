import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { nullLogger } from "../../../src/log/logger.js";
import { createMetrics } from "../../../src/metrics/metrics.js";
import { newSecret, signToken } from "../../../src/rpc/auth.js";
import { RpcClient } from "../../../src/rpc/client.js";
import { createDispatcher } from "../../../src/rpc/dispatch.js";
import type { MethodTable } from "../../../src/rpc/method.js";
import { type RpcServer, startRpcServer } from "../../../src/rpc/server.js";
import type { SectorIndexer } from "../../../src/sectors/interface.js";
import { LocalIndexer } from "../../../src/sectors/localIndexer.js";
import { PgIndexer } from "../../../src/sectors/pgIndexer.js";
import { ProxyIndexer } from "../../../src/sectors/proxyIndexer.js";
import { sectorIndexerMethods } from "../../../src/sectors/rpcApi.js";
import { PersistStores } from "../../../src/sectors/stores.js";
import { Bucket, u64Key } from "../../../src/store/keys.js";
import { MemoryStore } from "../../../src/store/memory.js";
import type { Pg } from "../../../src/store/pg/db.js";
import { SmError } from "../../../src/util/errors.js";
import { clusterDbFixture } from "../../helpers/clusterDb.js";

const stores = new PersistStores([
  {
    Name: "s1",
    Path: "/mnt/s1",
    ReadOnly: false,
    Strict: false,
    Meta: {},
  },
  {
    Name: "s2",
    Path: "/mnt/s2",
    ReadOnly: false,
    Strict: false,
    Meta: {},
  },
]);

/**
 * The behaviour every writable indexer shares, run against each implementation (embedded and
 * PostgreSQL), so the cluster's index answers exactly as the local one.
 */
async function indexerBehaviour(idx: SectorIndexer): Promise<void> {
  assert.equal((await idx.find("normal", { miner: 1000, number: 1 })).found, false);
  await idx.update("normal", [
    { miner: 1000, number: 1, sealedFile: "s1", cacheDir: "s1" },
    { miner: 1000, number: 2, sealedFile: "s1", cacheDir: "s2" },
    { miner: 1001, number: 1, sealedFile: "s2", cacheDir: "" },
  ]);
  await idx.update("upgrade", [{ miner: 1000, number: 1, sealedFile: "s2", cacheDir: "s2" }]);
  assert.deepEqual(await idx.find("normal", { miner: 1000, number: 2 }), {
    found: true,
    instance: { sealedFile: "s1", cacheDir: "s2" },
  });
  assert.deepEqual(
    await idx.find("normal", { miner: 1001, number: 1 }),
    { found: true, instance: { sealedFile: "s2", cacheDir: "s2" } },
    "empty cache = sealed instance",
  );
  assert.deepEqual(await idx.find("upgrade", { miner: 1000, number: 1 }), {
    found: true,
    instance: { sealedFile: "s2", cacheDir: "s2" },
  });
  assert.equal((await idx.find("upgrade", { miner: 1000, number: 2 })).found, false);
  const many = await idx.findMany("normal", [
    { miner: 1000, number: 2 },
    { miner: 9, number: 9 },
    { miner: 1000, number: 1 },
  ]);
  assert.deepEqual(
    many.map((l) => l.found),
    [true, false, true],
  );
  assert.deepEqual(await idx.counts(), { normal: { s1: 2, s2: 1 }, upgrade: { s2: 1 } });
  await idx.update("normal", [{ miner: 1000, number: 1, sealedFile: "s2", cacheDir: "s2" }]);
  assert.equal(
    (await idx.find("normal", { miner: 1000, number: 1 })).instance.sealedFile,
    "s2",
    "re-attach overwrites",
  );
  // A large batch: answers in the asked order (the database cuts it into chunks).
  const big = Array.from({ length: 1200 }, (_, i) => ({
    miner: 2000,
    number: i,
    sealedFile: `s${(i % 2) + 1}`,
    cacheDir: "s1",
  }));
  await idx.update("normal", big);
  const order = big.map(({ miner, number }) => ({ miner, number })).reverse();
  assert.deepEqual(
    (await idx.findMany("normal", order)).map((l) => l.instance.sealedFile),
    order.map((s) => `s${(s.number % 2) + 1}`),
  );
  // A record without a sealed instance refuses the whole batch.
  await assert.rejects(
    idx.update("normal", [
      { miner: 3000, number: 1, sealedFile: "s1", cacheDir: "" },
      { miner: 3000, number: 2, sealedFile: "", cacheDir: "" },
    ]),
    (e: unknown) => e instanceof SmError && e.code === "SECTORS_INVALID_RECORD",
  );
  assert.equal((await idx.find("normal", { miner: 3000, number: 1 })).found, false);
}

describe("LocalIndexer", () => {
  test("find, findMany, update, counts; the two indexes are separate", async () => {
    await indexerBehaviour(new LocalIndexer(new MemoryStore()));
  });

  test("a damaged record is an error, not a wrong answer", async () => {
    const store = new MemoryStore();
    await store.put(u64Key(Bucket.SectorIndexNormal, 1, 1), new TextEncoder().encode("{broken"));
    await assert.rejects(
      new LocalIndexer(store).find("normal", { miner: 1, number: 1 }),
      (e: unknown) => e instanceof SmError && e.code === "STORE_CORRUPT",
    );
  });

  test("PersistStores resolves names to the standard layout, and names an unknown instance", () => {
    assert.deepEqual(
      stores.resolve("normal", { miner: 1000, number: 7 }, { sealedFile: "s1", cacheDir: "s2" }),
      {
        sealedFile: "/mnt/s1/sealed/s-t01000-7",
        cacheDir: "/mnt/s2/cache/s-t01000-7",
      },
    );
    assert.deepEqual(
      stores.resolve("upgrade", { miner: 1000, number: 7 }, { sealedFile: "s1", cacheDir: "s1" }),
      {
        sealedFile: "/mnt/s1/update/s-t01000-7",
        cacheDir: "/mnt/s1/update-cache/s-t01000-7",
      },
    );
    assert.throws(
      () => stores.resolve("normal", { miner: 1, number: 2 }, { sealedFile: "gone", cacheDir: "gone" }),
      /instance "gone", which is not in \[\[Common\.PersistStores\]\]/,
    );
  });
});

describe("PgIndexer on a real PostgreSQL server", { timeout: 60_000 }, () => {
  const db = clusterDbFixture("indexer");
  /** A fresh migrated database (one per test). */
  const open = async (): Promise<Pg> => (await db.freshDb()).pg;

  test("find, findMany, update, counts; the two indexes are separate", async () => {
    await indexerBehaviour(new PgIndexer(await open()));
  });

  test("a damaged record is an error for its own sector only", async () => {
    const pg = await open();
    const idx = new PgIndexer(pg);
    await idx.update("normal", [
      { miner: 1, number: 1, sealedFile: "s1", cacheDir: "s1" },
      { miner: 1, number: 2, sealedFile: "s1", cacheDir: "s1" },
    ]);
    await pg.query("UPDATE sector_index SET sealed_instance = '' WHERE miner = 1 AND number = 1");
    await assert.rejects(
      idx.find("normal", { miner: 1, number: 1 }),
      (e: unknown) => e instanceof SmError && e.code === "STORE_CORRUPT",
    );
    const [bad, good] = await idx.findMany("normal", [
      { miner: 1, number: 1 },
      { miner: 1, number: 2 },
    ]);
    assert.equal(bad?.found, false);
    assert.match(bad?.error ?? "", /damaged/);
    assert.equal(good?.found, true);
    assert.deepEqual(await idx.counts(), {
      normal: { s1: 1 },
      upgrade: {},
      damaged: { normal: 1, upgrade: 0 },
    });
  });
});

/** A source node's RPC surface over a real loopback server. */
async function serve(
  methods: MethodTable,
  anonymousRead = true,
): Promise<{ server: RpcServer; url: string; secret: Buffer }> {
  const secret = newSecret();
  const server = await startRpcServer({
    listen: { host: "127.0.0.1", port: 0 },
    dispatcher: createDispatcher(methods, {
      logger: nullLogger,
      metrics: createMetrics({ defaults: false }),
    }),
    secret,
    anonymousRead,
    logger: nullLogger,
  });
  return { server, url: `127.0.0.1:${server.address.port}`, secret };
}

describe("ProxyIndexer against a source node", () => {
  const source = new LocalIndexer(new MemoryStore());
  let src: Awaited<ReturnType<typeof serve>>;
  let proxy: SectorIndexer;

  before(async () => {
    await source.update(
      "normal",
      Array.from({ length: 50 }, (_, i) => ({
        miner: 1000,
        number: i,
        sealedFile: i % 2 ? "s1" : "s2",
        cacheDir: "s1",
      })),
    );
    src = await serve(sectorIndexerMethods({ indexer: source, stores }));
    proxy = new ProxyIndexer(
      new RpcClient({ url: `http://${src.url}/rpc/v0`, peerName: `source node ${src.url}` }),
      src.url,
      nullLogger,
    );
  });
  after(() => src.server.close());

  test("answers exactly as the source, singly and batched, in order", async () => {
    const refs = Array.from({ length: 60 }, (_, i) => ({ miner: 1000, number: 59 - i }));
    assert.deepEqual(await proxy.findMany("normal", refs), await source.findMany("normal", refs));
    for (const r of refs.slice(0, 12))
      assert.deepEqual(await proxy.find("normal", r), await source.find("normal", r), `sector ${r.number}`);
    assert.deepEqual(await proxy.counts(), await source.counts());
  });

  test("sees a source-side write immediately (no cache)", async () => {
    assert.equal((await proxy.find("upgrade", { miner: 1000, number: 3 })).found, false);
    await source.update("upgrade", [{ miner: 1000, number: 3, sealedFile: "s1", cacheDir: "s1" }]);
    assert.equal((await proxy.find("upgrade", { miner: 1000, number: 3 })).found, true);
  });

  test("refuses writes with a message naming the source", async () => {
    await assert.rejects(
      proxy.update("normal", [{ miner: 1, number: 1, sealedFile: "s1", cacheDir: "s1" }]),
      (e: unknown) => {
        return (
          e instanceof SmError &&
          e.code === "SECTORS_READ_ONLY" &&
          e.message.includes(src.url) &&
          /attach .* on the source node/.test(e.message)
        );
      },
    );
  });

  test("a source that is down gives SECTORS_SOURCE_UNAVAILABLE; a source that comes back is used again", async () => {
    const s2 = await serve(sectorIndexerMethods({ indexer: source, stores }));
    const port = s2.server.address.port;
    const p2 = new ProxyIndexer(
      new RpcClient({ url: `http://${s2.url}/rpc/v0`, peerName: "src" }),
      s2.url,
      nullLogger,
    );
    assert.equal((await p2.find("normal", { miner: 1000, number: 1 })).found, true);
    await s2.server.close();
    await assert.rejects(
      p2.findMany("normal", [{ miner: 1000, number: 1 }]),
      (e: unknown) =>
        e instanceof SmError &&
        e.code === "SECTORS_SOURCE_UNAVAILABLE" &&
        /connection refused/.test(e.message),
    );
    const s3 = await startRpcServer({
      listen: { host: "127.0.0.1", port },
      dispatcher: createDispatcher(sectorIndexerMethods({ indexer: source, stores }), { logger: nullLogger }),
      secret: newSecret(),
      anonymousRead: true,
      logger: nullLogger,
    });
    try {
      assert.equal((await p2.find("normal", { miner: 1000, number: 1 })).found, true);
    } finally {
      await s3.close();
    }
  });

  test("a damocles source (no FindMany) is served by single lookups", async () => {
    const all = sectorIndexerMethods({ indexer: source, stores });
    const only = { "Venus.SectorIndexerFind": all["Venus.SectorIndexerFind"]! };
    const d = await serve(only);
    try {
      const p = new ProxyIndexer(new RpcClient({ url: `http://${d.url}/rpc/v0` }), d.url, nullLogger);
      const refs = Array.from({ length: 40 }, (_, i) => ({ miner: 1000, number: i }));
      assert.deepEqual(await p.findMany("normal", refs), await source.findMany("normal", refs));
      assert.deepEqual(
        await p.findMany("normal", refs.slice(0, 3)),
        await source.findMany("normal", refs.slice(0, 3)),
        "fallback remembered",
      );
    } finally {
      await d.server.close();
    }
  });

  test("a source refusing anonymous reads needs a token", async () => {
    const d = await serve(sectorIndexerMethods({ indexer: source, stores }), false);
    try {
      const anon = new ProxyIndexer(new RpcClient({ url: `http://${d.url}/rpc/v0` }), d.url, nullLogger);
      await assert.rejects(anon.find("normal", { miner: 1000, number: 1 }), /permission denied/);
      const withToken = new ProxyIndexer(
        new RpcClient({ url: `http://${d.url}/rpc/v0`, token: signToken(d.secret, "read") }),
        d.url,
        nullLogger,
      );
      assert.equal((await withToken.find("normal", { miner: 1000, number: 1 })).found, true);
    } finally {
      await d.server.close();
    }
  });

  test("the damocles wire shape of SectorIndexerFind", async () => {
    const res = await fetch(`http://${src.url}/rpc/v0`, {
      method: "POST",
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "Venus.SectorIndexerFind",
        params: ["normal", { Miner: 1000, Number: 1 }],
      }),
    });
    assert.deepEqual(await res.json(), {
      jsonrpc: "2.0",
      id: 1,
      result: { Found: true, Instance: { SealedFile: "s1", CacheDir: "s1" } },
    });
    const bad = await fetch(`http://${src.url}/rpc/v0`, {
      method: "POST",
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 2,
        method: "Venus.SectorIndexerFind",
        params: ["sideways", { Miner: 1000, Number: 1 }],
      }),
    });
    const body = (await bad.json()) as { error: { code: number; message: string } };
    assert.equal(body.error.code, -32602);
    assert.match(body.error.message, /indexType must be "normal" or "upgrade"/);
  });
});
