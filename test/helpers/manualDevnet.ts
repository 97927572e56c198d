/**
 * A real devnet served on loopback whose blocks the test produces by hand (so the test controls time),
 * with synthetic 2 KiB sectors of miner f01000 sealed into one store, onboarded and indexed. The
 * in-process runDeadline tests build on it through test/helpers/runnerFixture.ts.
 */
import path from "node:path";
import { type RunningDevnet, startDevnet } from "../../src/daemon/devnetRun.js";
import { readToken } from "../../src/daemon/home.js";
import type { DevnetPolicy } from "../../src/devnet/policy.js";
import { nullLogger } from "../../src/log/logger.js";
import { shapeByName } from "../../src/proofs/sectorShapes.js";
import { sealedCid, writeSyntheticSector } from "../../src/proofs/syntheticSector.js";
import { RpcClient } from "../../src/rpc/client.js";
import { LocalIndexer } from "../../src/sectors/localIndexer.js";
import { MemoryStore } from "../../src/store/memory.js";

/** RegisteredSealProof StackedDrg2KiBV1_1 (go-state-types abi). */
const SEAL_PROOF_2KIB_V1_1 = 5;

export interface ManualDevnet {
  devnet: RunningDevnet;
  /** The persist store directory holding the sectors (instance name "store1"). */
  store: string;
  /** A local index of every sector, in store1. */
  indexer: LocalIndexer;
}

/**
 * 4 deadlines of 12 epochs: a proving period of 48 blocks, short enough to walk block by block, with
 * 2 of the 4 deadlines mutable at onboarding so 8 sectors make 2 partitions in each of them.
 */
const MANUAL_POLICY: DevnetPolicy = {
  wPoStPeriodDeadlines: 4,
  wPoStChallengeWindow: 12,
  wPoStChallengeLookback: 4,
  faultDeclarationCutoff: 6,
  postedPartitionsMax: 3,
};

/**
 * Start the devnet in `dir`/devnet with MANUAL_POLICY and `policy` over it, write `sectors` synthetic
 * 2 KiB sectors numbered from 1 into `dir`/store1, onboard them to f01000 and index them. 2 KiB
 * partitions hold 2 sectors; onboarding spreads sectors over the mutable deadlines.
 */
export async function startManualDevnet(
  dir: string,
  sectors: number,
  policy: Partial<DevnetPolicy> = {},
): Promise<ManualDevnet> {
  const devnet = await startDevnet({
    home: path.join(dir, "devnet"),
    listen: { host: "127.0.0.1", port: 0 },
    blockTimeMs: 3_600_000, // blocks are produced by the test
    policy: { ...MANUAL_POLICY, ...policy },
    logger: nullLogger,
  });
  try {
    const store = path.join(dir, "store1");
    const shape = shapeByName("2KiB");
    if (!shape) throw new Error("no 2KiB shape");
    const onboard = [];
    const records = [];
    for (let n = 1; n <= sectors; n++) {
      const s = await writeSyntheticSector({ storeDir: store, miner: 1000, number: n, shape });
      onboard.push({ Number: n, SealProof: SEAL_PROOF_2KIB_V1_1, SealedCID: sealedCid(s.commR) });
      records.push({ miner: 1000, number: n, sealedFile: "store1", cacheDir: "store1" });
    }
    const admin = new RpcClient({
      url: `http://${devnet.api}/rpc/v1`,
      token: await readToken(path.join(dir, "devnet")),
    });
    await admin.call("Devnet.OnboardSectors", ["f01000", onboard]);
    const indexer = new LocalIndexer(new MemoryStore());
    await indexer.update("normal", records);
    return { devnet, store, indexer };
  } catch (e) {
    await devnet.close();
    throw e;
  }
}

/** sector-manager.cfg text for miner 1000 on this devnet with store1, plus [Common.Proving] and [Miners.PoSt] lines. */
export function manualDevnetConfig(m: ManualDevnet, lines: { proving?: string; post?: string } = {}): string {
  return `[Common.API]\nChain = ${JSON.stringify(m.devnet.chainConfig)}\n[Common.Proving]\n${lines.proving ?? ""}\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(m.store)}\n[[Miners]]\nActor = 1000\n[Miners.PoSt]\n${lines.post ?? ""}\n`;
}
