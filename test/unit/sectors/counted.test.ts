/**
 * vsm_sector_index_lookups_total counts every sector looked up, by indexer and result: a real local
 * index on a memory store (one record found, one missing, one damaged), and a proxy whose source is
 * down (every sector of the failed call is an error). The counts are read from the registry's
 * Prometheus text, as /metrics serves it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { nullLogger } from "../../../src/log/logger.js";
import { createMetrics } from "../../../src/metrics/metrics.js";
import { RpcClient } from "../../../src/rpc/client.js";
import { CountedIndexer } from "../../../src/sectors/counted.js";
import { LocalIndexer } from "../../../src/sectors/localIndexer.js";
import { ProxyIndexer } from "../../../src/sectors/proxyIndexer.js";
import { Bucket, u64Key } from "../../../src/store/keys.js";
import { MemoryStore } from "../../../src/store/memory.js";

const sample = (text: string, indexer: string, result: string) =>
  Number(
    text.match(
      new RegExp(`^vsm_sector_index_lookups_total\\{indexer="${indexer}",result="${result}"\\} (\\d+)$`, "m"),
    )?.[1] ?? "0",
  );

describe("sector index lookup counter", () => {
  test("found, missing and damaged records are counted per sector, find and findMany alike", async () => {
    const metrics = createMetrics({ defaults: false });
    const store = new MemoryStore();
    const local = new LocalIndexer(store);
    await local.update("normal", [{ miner: 1000, number: 1, sealedFile: "s1", cacheDir: "s1" }]);
    await store.put(u64Key(Bucket.SectorIndexNormal, 1000, 3), new TextEncoder().encode("{broken"));
    const counted = new CountedIndexer(local, metrics, "local");
    assert.equal((await counted.find("normal", { miner: 1000, number: 1 })).found, true);
    assert.equal((await counted.find("normal", { miner: 1000, number: 2 })).found, false);
    const many = await counted.findMany("normal", [
      { miner: 1000, number: 1 },
      { miner: 1000, number: 2 },
      { miner: 1000, number: 3 },
    ]);
    assert.deepEqual(
      many.map((l) => [l.found, l.error !== undefined]),
      [
        [true, false],
        [false, false],
        [false, true],
      ],
    );
    await assert.rejects(counted.find("normal", { miner: 1000, number: 3 }));
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, "local", "found"), 2, text);
    assert.equal(sample(text, "local", "missing"), 2, text);
    assert.equal(sample(text, "local", "error"), 2, text);
    assert.equal(counted.description, "local");
  });

  test("a proxy lookup that fails as a whole counts an error per sector asked for", async () => {
    const metrics = createMetrics({ defaults: false });
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const proxy = new ProxyIndexer(
      new RpcClient({
        url: "http://127.0.0.1:1/rpc/v0",
        peerName: "source node 127.0.0.1:1",
        timeoutMs: 2000,
      }),
      "127.0.0.1:1",
      nullLogger,
    );
    const counted = new CountedIndexer(proxy, metrics, "proxy");
    await assert.rejects(
      counted.findMany("normal", [
        { miner: 1000, number: 1 },
        { miner: 1000, number: 2 },
      ]),
    );
    assert.equal(sample(await metrics.registry.metrics(), "proxy", "error"), 2);
    assert.equal(counted.readOnly, true);
  });
});
