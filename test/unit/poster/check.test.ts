/**
 * The check stage of one partition on plain inputs: on-chain sector infos as values, a real local
 * sector index over an in-memory store and layout-only sector files in a temp dir (no chain, no
 * processes). What is checked is the plan (proven / skipped), the reasons and the located sectors
 * the partition's job is built from.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import type { Partition, SectorOnChainInfo } from "../../../src/chain/interface.js";
import { nullLogger } from "../../../src/log/logger.js";
import { type CheckInput, checkPartition } from "../../../src/poster/check.js";
import { toHex } from "../../../src/poster/job.js";
import { sectorsToProve } from "../../../src/poster/plan.js";
import { sealedCid } from "../../../src/proofs/commCid.js";
import { cacheDirPath, sealedFilePath } from "../../../src/proofs/sectorFiles.js";
import { shapeByName } from "../../../src/proofs/sectorShapes.js";
import { LocalIndexer } from "../../../src/sectors/localIndexer.js";
import { PersistStores } from "../../../src/sectors/stores.js";
import { MemoryStore } from "../../../src/store/memory.js";
import { writeLayoutOnlySector } from "../../helpers/layoutOnlySector.js";
import { tempDir } from "../../helpers/tmp.js";

const k2 = shapeByName("2KiB")!;
const commR = (n: number) => new Uint8Array(32).fill(n);
const info = (n: number): SectorOnChainInfo => ({
  sectorNumber: n,
  sealProof: 5,
  sealedCid: sealedCid(commR(n)),
  activation: 1,
  expiration: 1_000_000,
  sectorKeyCid: null,
});

describe("checkPartition", () => {
  let dir = "";
  let cleanup = async () => {};
  let input: CheckInput;

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-checkstage-"));
    const indexer = new LocalIndexer(new MemoryStore());
    for (const n of [1, 2, 3, 4]) await writeLayoutOnlySector(dir, "normal", 1000, n, k2);
    await fs.rm(sealedFilePath(dir, "normal", 1000, 2));
    await indexer.update(
      "normal",
      [1, 2, 3, 4].map((n) => ({ miner: 1000, number: n, sealedFile: "s1", cacheDir: "s1" })),
    );
    input = {
      actor: 1000,
      shape: k2,
      // Sector 4 has no on-chain info: it is not checked and ends skipped.
      infos: new Map([1, 2, 3, 5].map((n) => [n, info(n)])),
      strict: false,
      deps: {
        indexer,
        stores: new PersistStores([{ Name: "s1", Path: dir, ReadOnly: false, Strict: false, Meta: {} }]),
        proving: { ParallelCheckLimit: 4, SingleCheckTimeoutMs: 5_000, PartitionCheckTimeoutMs: 20_000 },
      },
      signal: new AbortController().signal,
      log: nullLogger,
    };
  });
  after(() => cleanup());

  const todo = (p: Partition, index = 1) => ({ index, partition: p, toProve: sectorsToProve(p) });
  const part = (live: number[], faulty: number[] = [], recovering: number[] = []): Partition => ({
    allSectors: BitField.fromNumbers(live),
    liveSectors: BitField.fromNumbers(live),
    faultySectors: BitField.fromNumbers(faulty),
    recoveringSectors: BitField.fromNumbers(recovering),
    activeSectors: BitField.fromNumbers(live).subtract(BitField.fromNumbers(faulty)),
  });

  it("good sectors are proven with their locations; bad and unknown ones are skipped", async () => {
    const c = await checkPartition(todo(part([1, 2, 3, 4, 5], [3], [3])), input);
    assert.equal(c.plan.index, 1);
    assert.deepEqual(c.plan.toProve.toNumbers(), [1, 2, 3, 4, 5]);
    assert.deepEqual(c.plan.proven.toNumbers(), [1, 3]);
    assert.deepEqual(c.plan.skipped.toNumbers(), [2, 4, 5]);
    assert.deepEqual(
      c.failed.map((f) => f.sector),
      [2, 5],
      "sector 4 has no on-chain info, so no check and no reason",
    );
    assert.match(c.failed[0]?.reason ?? "", /sealed file .* is missing/);
    assert.deepEqual(c.located.get(1), {
      number: 1,
      commR: toHex(commR(1)),
      sealedFile: sealedFilePath(dir, "normal", 1000, 1),
      cacheDir: cacheDirPath(dir, "normal", 1000, 1),
    });
    assert.deepEqual([...c.located.keys()].sort(), [1, 3]);
  });

  it("a faulty sector that is not recovering is neither checked nor skipped", async () => {
    const c = await checkPartition(todo(part([1, 2], [2])), input);
    assert.deepEqual(c.plan.proven.toNumbers(), [1]);
    assert.deepEqual(c.plan.skipped.toNumbers(), []);
    assert.deepEqual(c.failed, []);
  });

  it("an empty partition needs no check", async () => {
    const c = await checkPartition(todo(part([])), input);
    assert.ok(c.plan.proven.isEmpty() && c.plan.skipped.isEmpty());
    assert.equal(c.located.size, 0);
  });
});
