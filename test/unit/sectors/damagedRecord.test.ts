/**
 * One damaged sector index record fails only its own sector (issue 10, finding 13), on a real LMDB file
 * whose record bytes are overwritten on disk (LMDB keeps no checksum of values, so this is what bit rot
 * or a stray write looks like): lookups of the other sectors, batched or not, the counts, the sector
 * check, and a proxy reading this index over a real loopback server all go on.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { nullLogger } from "../../../src/log/logger.js";
import { shapeByName } from "../../../src/proofs/sectorShapes.js";
import { newSecret } from "../../../src/rpc/auth.js";
import { RpcClient } from "../../../src/rpc/client.js";
import { createDispatcher } from "../../../src/rpc/dispatch.js";
import { type RpcServer, startRpcServer } from "../../../src/rpc/server.js";
import { checkSectors } from "../../../src/sectors/check.js";
import type { SectorIndexer } from "../../../src/sectors/interface.js";
import { LocalIndexer } from "../../../src/sectors/localIndexer.js";
import { ProxyIndexer } from "../../../src/sectors/proxyIndexer.js";
import { sectorIndexerMethods } from "../../../src/sectors/rpcApi.js";
import { PersistStores } from "../../../src/sectors/stores.js";
import type { KVStore } from "../../../src/store/interface.js";
import { openLmdbStore } from "../../../src/store/lmdb.js";
import { SmError } from "../../../src/util/errors.js";
import { writeLayoutOnlySector } from "../../helpers/layoutOnlySector.js";
import { tempDir } from "../../helpers/tmp.js";

const k2 = shapeByName("2KiB")!;
const M = 1000;
const SECTORS = [1, 2, 3, 4, 5];
const VICTIM = 3;
const refs = SECTORS.map((number) => ({ miner: M, number }));

describe("a damaged record in a real LMDB sector index", () => {
  let dir = "";
  let cleanup = async () => {};
  let store: KVStore;
  let local: LocalIndexer;
  let stores: PersistStores;
  let server: RpcServer;
  let proxy: SectorIndexer;
  let source = "";

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-damaged-"));
    const storeDir = path.join(dir, "store");
    const dbDir = path.join(dir, "db");
    for (const n of SECTORS) await writeLayoutOnlySector(storeDir, "normal", M, n, k2);
    stores = new PersistStores(
      ["s1", `victim-${VICTIM}`].map((Name) => ({
        Name,
        Path: storeDir,
        ReadOnly: false,
        Strict: false,
        Meta: {},
      })),
    );
    // The victim's record gets an instance name of its own, so its bytes can be found in the file.
    const first = await openLmdbStore(dbDir);
    await new LocalIndexer(first).update(
      "normal",
      SECTORS.map((number) => {
        const name = number === VICTIM ? `victim-${VICTIM}` : "s1";
        return { miner: M, number, sealedFile: name, cacheDir: name };
      }),
    );
    await first.close();
    const file = path.join(dbDir, "data.mdb");
    const bytes = await fs.readFile(file);
    const at = bytes.indexOf(`{"s":"victim-${VICTIM}"`);
    assert.ok(at >= 0, "the victim's record is in data.mdb");
    bytes.write("#\u0001", at, "latin1");
    await fs.writeFile(file, bytes);

    store = await openLmdbStore(dbDir);
    local = new LocalIndexer(store);
    server = await startRpcServer({
      listen: { host: "127.0.0.1", port: 0 },
      dispatcher: createDispatcher(sectorIndexerMethods({ indexer: local, stores }), { logger: nullLogger }),
      secret: newSecret(),
      anonymousRead: true,
      logger: nullLogger,
    });
    source = `127.0.0.1:${server.address.port}`;
    proxy = new ProxyIndexer(
      new RpcClient({ url: `http://${source}/rpc/v0`, peerName: `source node ${source}` }),
      source,
      nullLogger,
    );
  });
  after(async () => {
    await server?.close();
    await store?.close();
    await cleanup();
  });

  const damaged = new RegExp(
    `normal sector index record of sector ${M}-${VICTIM} is damaged \\(it is not valid JSON\\); re-attach the store that holds this sector`,
  );

  test("findMany answers every sector; only the damaged one carries an error", async () => {
    const many = await local.findMany("normal", refs);
    assert.deepEqual(
      many.map((l) => l.found),
      [true, true, false, true, true],
    );
    assert.match(many[VICTIM - 1]!.error ?? "", damaged);
    for (const [i, l] of many.entries()) if (i !== VICTIM - 1) assert.equal(l.error, undefined);
  });

  test("find of the damaged sector throws STORE_CORRUPT naming it; the others are found", async () => {
    await assert.rejects(
      local.find("normal", { miner: M, number: VICTIM }),
      (e: unknown) => e instanceof SmError && e.code === "STORE_CORRUPT" && damaged.test(e.message),
    );
    assert.equal((await local.find("normal", { miner: M, number: VICTIM + 1 })).found, true);
  });

  test("counts count it as damaged instead of failing", async () => {
    assert.deepEqual(await local.counts(), {
      normal: { s1: 4 },
      upgrade: {},
      damaged: { normal: 1, upgrade: 0 },
    });
  });

  test("the sector check fails only that sector, with the reason", async () => {
    const proving = { ParallelCheckLimit: 4, SingleCheckTimeoutMs: 5_000, PartitionCheckTimeoutMs: 20_000 };
    for (const indexer of [local, proxy]) {
      const out = await checkSectors(
        refs.map((r) => ({ ...r, upgrade: false, shape: k2 })),
        { indexer, stores, proving },
        { strict: false },
      );
      assert.deepEqual(
        out.map((o) => o.ok),
        [true, true, false, true, true],
        indexer.description,
      );
      assert.match(out[VICTIM - 1]!.reason ?? "", damaged);
    }
  });

  test("through a proxy: the error travels with that sector only, and names the source", async () => {
    const many = await proxy.findMany("normal", refs);
    assert.deepEqual(
      many.map((l) => l.found),
      [true, true, false, true, true],
    );
    assert.match(many[VICTIM - 1]!.error ?? "", new RegExp(`^source node ${source}: .*is damaged`));
    await assert.rejects(
      proxy.find("normal", { miner: M, number: VICTIM }),
      (e: unknown) =>
        e instanceof SmError &&
        e.code === "SECTORS_SOURCE_ERROR" &&
        e.message.includes(source) &&
        damaged.test(e.message),
    );
    assert.deepEqual(await proxy.counts(), await local.counts());
  });

  test("re-attaching rewrites the record (the repair)", async () => {
    await local.update("normal", [{ miner: M, number: VICTIM, sealedFile: "s1", cacheDir: "s1" }]);
    assert.equal((await local.find("normal", { miner: M, number: VICTIM })).found, true);
    assert.equal((await local.counts()).damaged, undefined);
  });
});
