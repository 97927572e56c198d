/**
 * The WinningPoSt service with real parts: synthetic 2 KiB sectors on disk, the local indexer, the
 * built-in prover in worker threads, and ext-prover pools of real child processes
 * (test/fixtures/testProcessor.mjs) for the slow, failing and pass-through cases.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { MinerConfig } from "../../../src/config/types.js";
import { memoryLogger } from "../../../src/log/logger.js";
import { createMetrics } from "../../../src/metrics/metrics.js";
import type { ComputeProofRequest } from "../../../src/miner/computeProof.js";
import { startMiner } from "../../../src/miner/index.js";
import { WinningPoSt } from "../../../src/miner/winningPost.js";
import { decodeFallbackPoStSectorProof } from "../../../src/proofs/bincode.js";
import { maskSeed, WINNING_POST_CHALLENGE_COUNT } from "../../../src/proofs/challenges.js";
import { sealProofShape } from "../../../src/proofs/proofTypes.js";
import { shapeByName } from "../../../src/proofs/sectorShapes.js";
import {
  type SyntheticSector,
  sealedCid,
  writeSyntheticSector,
} from "../../../src/proofs/syntheticSector.js";
import { verifySector } from "../../../src/proofs/vanilla.js";
import { ExtProverPool } from "../../../src/prover/ext/pool.js";
import { WorkerPool } from "../../../src/prover/workerPool.js";
import { LocalIndexer } from "../../../src/sectors/localIndexer.js";
import { PersistStores } from "../../../src/sectors/stores.js";
import { MemoryStore } from "../../../src/store/memory.js";
import { SmError } from "../../../src/util/errors.js";
import { tempDir } from "../../helpers/tmp.js";

const FIXTURE = fileURLToPath(new URL("../../fixtures/testProcessor.mjs", import.meta.url));
const k2 = shapeByName("2KiB")!;
/** Randomness with its top bits set: the service must mask it. */
const RAND = Uint8Array.from({ length: 32 }, (_, i) => (i * 53 + 7) & 0xff);
RAND[31] = 0xff;

const miner = (Actor: number, enabled: boolean): MinerConfig =>
  ({ Actor, Proof: { Enabled: enabled } }) as unknown as MinerConfig;

async function rejects(p: Promise<unknown>, code: string, re: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof SmError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });
}

describe("WinningPoSt service", () => {
  let dir = "";
  let cleanup = async () => {};
  const sectors = new Map<string, SyntheticSector>();
  const indexer = new LocalIndexer(new MemoryStore());
  let stores: PersistStores;
  const { logger, lines } = memoryLogger("info");
  // The node's worker pool, which the service shares with the PoSter.
  const threads = new WorkerPool({ size: 2, logger });
  const metrics = createMetrics({ defaults: false });
  let mod: ReturnType<typeof startMiner>;

  const request = (number: number, extra: Partial<ComputeProofRequest["sectors"][number]> = {}, m = 1000) => {
    const s = sectors.get(`${extra.sectorKey ? "u" : "n"}${number}`);
    const commR = extra.commR ?? s?.commR ?? new Uint8Array(32);
    const sealProof = extra.sealProof ?? 5;
    return {
      miner: m,
      sectors: [
        {
          sealProof,
          sectorNumber: number,
          sectorKey: null,
          sealedCid: sealedCid(commR),
          commR,
          shape: sealProofShape(sealProof)!,
          ...extra,
        },
      ],
      randomness: RAND,
      postProof: sealProof % 5,
      height: 100,
      networkVersion: 21,
    } satisfies ComputeProofRequest;
  };

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-winning-"));
    stores = new PersistStores([
      {
        Name: "s1",
        Path: dir,
        ReadOnly: false,
        Strict: false,
        Meta: {},
      },
    ]);
    for (const n of [1, 2])
      sectors.set(`n${n}`, await writeSyntheticSector({ storeDir: dir, miner: 1000, number: n, shape: k2 }));
    sectors.set(
      "u3",
      await writeSyntheticSector({ storeDir: dir, miner: 1000, number: 3, shape: k2, type: "upgrade" }),
    );
    await indexer.update(
      "normal",
      [1, 2].map((number) => ({ miner: 1000, number, sealedFile: "s1", cacheDir: "s1" })),
    );
    await indexer.update("upgrade", [{ miner: 1000, number: 3, sealedFile: "s1", cacheDir: "s1" }]);
    mod = startMiner([miner(1000, true), miner(1001, false)], {
      indexer,
      stores,
      ext: () => undefined,
      workerPool: () => threads,
      configFile: "/conf/sector-manager.cfg",
      logger,
      metrics,
    });
  });
  after(async () => {
    await mod.close();
    await threads.close();
    await cleanup();
  });

  test("proves the challenged sector: 66 challenges over the masked randomness, a verifying vanilla proof", async () => {
    const [proof, ...rest] = await mod.service.compute(request(1));
    assert.equal(rest.length, 0);
    assert.equal(proof?.postProof, 0, "StackedDrgWinning2KiBV1");
    const decoded = decodeFallbackPoStSectorProof(proof!.proofBytes);
    assert.equal(decoded.sectorId, 1n);
    assert.deepEqual(decoded.commR, sectors.get("n1")?.commR);
    const sp = decoded.vanillaProof.sectors[0]!;
    assert.equal(sp.inclusionProofs.length, WINNING_POST_CHALLENGE_COUNT);
    const input = {
      shape: k2,
      sectorNumber: 1,
      apiVersion: "V1_0_0" as const,
      sectorIndex: 0,
      challengeCount: WINNING_POST_CHALLENGE_COUNT,
      commR: sectors.get("n1")!.commR,
      proof: sp,
    };
    assert.deepEqual(await verifySector({ ...input, randomness: maskSeed(RAND) }), { ok: true });
    const other = maskSeed(RAND);
    other[0] = (other[0]! + 1) & 0xff;
    assert.equal((await verifySector({ ...input, randomness: other })).ok, false, "bound to the randomness");
    assert.equal(RAND[31], 0xff, "the caller's randomness is not modified");
    assert.ok(lines.some((l) => /winning post computed/.test(l) && /"prover":"builtin"/.test(l)));
  });

  test("a sector with a SectorKey is proven from the upgrade index (update/, update-cache/)", async () => {
    const key = sealedCid(new Uint8Array(32).fill(1));
    const [proof] = await mod.service.compute(request(3, { sectorKey: key }));
    const decoded = decodeFallbackPoStSectorProof(proof!.proofBytes);
    assert.equal(decoded.sectorId, 3n);
    // Sector 3 has no normal record: without the SectorKey it is not found.
    await rejects(
      mod.service.compute(request(3)),
      "WINNING_POST_SECTOR_NOT_FOUND",
      /not in this node's normal sector index/,
    );
  });

  test("refusals name the config key: unknown miner, WinningPoSt disabled", async () => {
    await rejects(
      mod.service.compute(request(1, {}, 1234)),
      "MINER_UNKNOWN",
      /miner f01234 is not configured on this node: add a \[\[Miners\]\] block with Actor = 1234 and \[Miners\.Proof\] Enabled = true to \/conf\/sector-manager\.cfg/,
    );
    await rejects(
      mod.service.compute(request(1, {}, 1001)),
      "MINER_PROOF_DISABLED",
      /WinningPoSt is disabled for miner f01001: set \[Miners\.Proof\] Enabled = true/,
    );
  });

  test("sectors that cannot be proven: not indexed, wrong size, wrong comm_r, corrupt cache", async () => {
    await rejects(
      mod.service.compute(request(99)),
      "WINNING_POST_SECTOR_NOT_FOUND",
      /sector 99 of f01000 is not in this node's normal sector index \(local\); attach/,
    );
    await rejects(
      mod.service.compute(request(1, { sealProof: 8 })),
      "WINNING_POST_SECTOR_UNPROVABLE",
      /sector 1 of f01000 cannot be proven: sealed file is 2048 bytes \(2KiB\) but the sector is 32GiB\. WinningPoSt cannot skip/,
    );
    await rejects(
      mod.service.compute(request(1, { commR: sectors.get("n2")!.commR })),
      "WINNING_POST_SECTOR_UNPROVABLE",
      /sector 1 of f01000 cannot be proven: .*comm_r/,
    );
    const tree = path.join(sectors.get("n2")!.cacheDir, "sc-02-data-tree-r-last.dat");
    const orig = await fs.readFile(tree);
    const bad = Buffer.from(orig);
    bad[0] = (bad[0] ?? 0) ^ 1;
    await fs.writeFile(tree, bad);
    try {
      await rejects(
        mod.service.compute(request(2)),
        "WINNING_POST_SECTOR_UNPROVABLE",
        /sector 2 of f01000 cannot be proven/,
      );
    } finally {
      await fs.writeFile(tree, orig);
    }
    await mod.service.compute(request(2));
  });

  test("metrics: a duration per success, a count per result", async () => {
    const text = await metrics.registry.metrics();
    assert.match(text, /vsm_winning_post_duration_seconds_count\{miner="f01000",prover="builtin"\} [1-9]/);
    assert.match(text, /vsm_winning_post_requests_total\{miner="f01000",result="ok"\} [1-9]/);
    assert.match(text, /vsm_winning_post_requests_total\{miner="",result="refused"\} 2/);
    assert.match(text, /vsm_winning_post_requests_total\{miner="f01000",result="unprovable"\} 3/);
    assert.match(text, /vsm_winning_post_requests_total\{miner="f01000",result="not_found"\} 2/);
  });

  /** The --miner module of miner f01000 with the built-in prover in `pool`, as the node wires it. */
  const minerOn = (pool: WorkerPool) =>
    startMiner([miner(1000, true)], {
      indexer,
      stores,
      ext: () => undefined,
      workerPool: () => pool,
      configFile: "/conf/sector-manager.cfg",
      logger,
    });

  test("in a worker pool shared with WindowPoSt, a win goes ahead of the queued partition work", async () => {
    // One thread, one task at a time: whatever is queued waits for the thread.
    const shared = new WorkerPool({ size: 1, perWorker: 1, logger });
    const m = minerOn(shared);
    try {
      const done: string[] = [];
      // WindowPoSt work is queued by its deadline's Close epoch; each row is 4,000 arity-8 hashes.
      const rows = [1, 2, 3].map((i) =>
        shared
          .run("hashRow", [8, new Uint8Array(8 * 32 * 4000)], { priority: 100 })
          .then(() => done.push(`window ${i}`)),
      );
      const win = m.service.compute(request(1)).then(() => done.push("win"));
      await Promise.all([...rows, win]);
      const at = done.indexOf("win");
      assert.ok(at >= 0 && at <= 1, `the win waits at most for the running task: ${done.join(", ")}`);
      assert.deepEqual(
        done.filter((d) => d !== "win"),
        ["window 1", "window 2", "window 3"],
      );
    } finally {
      await m.close();
      await shared.close();
    }
  });

  test("a flood of wins holds at most two tasks of the shared pool, so WindowPoSt work keeps the other threads", async () => {
    const shared = new WorkerPool({ size: 4, perWorker: 1, logger });
    let inFlight = 0;
    let most = 0;
    const run = shared.run.bind(shared);
    // The real pool, counting the win tasks it holds (queued or running) at once.
    shared.run = ((name, args, opts) => {
      if (opts?.priority !== undefined && opts.priority < 0) {
        most = Math.max(most, ++inFlight);
        return run(name, args, opts).finally(() => inFlight--);
      }
      return run(name, args, opts);
    }) as WorkerPool["run"];
    const m = minerOn(shared);
    try {
      const outs = await Promise.all([1, 2, 3, 4, 5, 6].map(() => m.service.compute(request(1))));
      assert.equal(outs.length, 6, "every win is answered");
      assert.ok(most >= 1 && most <= 2, `at most two wins in the pool at once, saw ${most}`);
    } finally {
      await m.close();
      await shared.close();
    }
  });

  describe("through a [[WinPost]] ext-prover pool", () => {
    const withPool = async (
      mode: string,
      env: Record<string, string>,
      fn: (s: WinningPoSt) => Promise<void>,
    ) => {
      const pool = new ExtProverPool(
        "winning_post",
        [
          {
            stage: "winning_post",
            index: 0,
            bin: process.execPath,
            args: [FIXTURE, "winning_post"],
            envs: { MODE: mode, ...env },
            concurrent: 1,
            weight: 1,
            readyTimeoutMs: 5000,
          },
        ],
        { logger },
      );
      await pool.start();
      const service = new WinningPoSt({
        miners: [miner(1000, true)],
        indexer,
        stores,
        extPool: () => pool,
        builtin: () => {
          throw new Error("the built-in prover must not be used when a pool serves");
        },
        configFile: "/conf/sector-manager.cfg",
        logger,
        timeoutMs: 500,
      });
      try {
        await fn(service);
      } finally {
        await pool.close();
      }
    };

    test("the child's proof comes back as it is, tagged with the winning proof type", () =>
      withPool("echo", {}, async (s) => {
        assert.equal(s.proverKind(), "ext");
        const [p] = await s.compute(request(1));
        assert.equal(p?.postProof, 0);
        assert.match(
          Buffer.from(p!.proofBytes).toString(),
          /^\d+:1$/,
          "the fixture's answer: <pid>:<sector>",
        );
      }));

    test("a child that fails: the error names the prover, the sector and the child's message", () =>
      withPool("fail", {}, async (s) => {
        await rejects(
          s.compute(request(1)),
          "WINNING_POST_PROVER_FAILED",
          /the \[\[WinPost\]\] ext-prover could not prove sector 1 of f01000: .*cannot prove for miner 1000/,
        );
      }));

    test("a child too slow for the block: a timeout that says so, well before the child answers", () =>
      withPool("slow", { SLOW_MS: "3000" }, async (s) => {
        const t0 = Date.now();
        await rejects(
          s.compute(request(1)),
          "TIMEOUT",
          /WinningPoSt for f01000 sector 1 did not finish within 0\.5 s, too late for its block; the \[\[WinPost\]\] ext-prover children are too slow or busy/,
        );
        assert.ok(Date.now() - t0 < 2000, `gave up after ${Date.now() - t0} ms`);
      }));

    test("a caller that goes away cancels the request", () =>
      withPool("slow", { SLOW_MS: "3000" }, async (s) => {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 100);
        await rejects(
          s.compute(request(1), { signal: ac.signal }),
          "ABORTED",
          /cancelled: the caller went away/,
        );
      }));
  });
});
