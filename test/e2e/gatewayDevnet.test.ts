/**
 * A devnet miner's WinningPoSt through sophon-gateway proof events, as real processes on loopback:
 * `devnet run`, sectors sealed and onboarded with `devnet seal --onboard`, a `daemon run --miner` node
 * on the devnet's chain with the sectors attached, and the gateway stand-in
 * (test/helpers/gatewayStandIn.ts) playing sophon-gateway. The test plays sophon-miner: for the
 * current head it draws the WinningPoStChallengeSeed randomness from the chain, picks the challenged
 * sector among the miner's sectors on chain as `MinerGetBaseInfo` does
 * (`generate_winning_post_sector_challenge` over the masked randomness), and sends the gateway's
 * ComputeProof event for it. Each answer must verify with the project's WinningPoSt vanilla verifier
 * against the sector's on-chain comm_r, within the 25 s budget.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Address } from "../../src/chain/address.js";
import { encodeCbor } from "../../src/chain/cbor.js";
import { homePaths } from "../../src/daemon/home.js";
import {
  generateWinningPoStSectorChallenge,
  maskSeed,
  proverIdFromActorId,
} from "../../src/proofs/challenges.js";
import { cidToCommitment } from "../../src/proofs/commCid.js";
import { sealedFilePath } from "../../src/proofs/sectorFiles.js";
import { type Proc, startCli } from "../../src/util/childProcess.js";
import {
  attachStore,
  type DevnetRun,
  initNodeHome,
  NODE_ENV,
  runDevnet,
  sealSectors,
} from "../helpers/devnetSetup.js";
import { GatewayStandIn } from "../helpers/gatewayStandIn.js";
import { tempDir } from "../helpers/tmp.js";
import { assertVerifies, type WireProof } from "../helpers/winningProof.js";

const MINER = 1000;
/** go-state-types crypto.DomainSeparationTag_WinningPoStChallengeSeed. */
const WINNING_POST_CHALLENGE_SEED = 5;

interface ChainSector {
  SectorNumber: number;
  SealProof: number;
  SealedCID: { "/": string };
  SectorKeyCID: { "/": string } | null;
}

describe("a devnet miner's WinningPoSt through a sophon-gateway stand-in", () => {
  let dir = "";
  let cleanup = async () => {};
  let store = "";
  let devnet: DevnetRun | undefined;
  let node: Proc | undefined;
  const gw = new GatewayStandIn();

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-gateway-devnet-"));
    await gw.start();
    const devnetHome = path.join(dir, "devnet");
    store = path.join(dir, "store1");
    devnet = await runDevnet({ home: devnetHome, blockTimeMs: 300 });
    await sealSectors({ devnetHome, store, miner: MINER, count: 5, threads: 2 });
    const home = path.join(dir, "node");
    await initNodeHome(home, {
      chainLine: devnet.chainLine,
      store,
      miners: [{ actor: MINER }],
      edit: (cfg) => cfg.replace("#Gateway = []", `Gateway = [${JSON.stringify(gw.apiInfo("gw-token"))}]`),
    });
    // The [[Miners]] block is the file's last table: its [Miners.Proof] follows it.
    await fs.appendFile(homePaths(home).sectorManagerCfg, "[Miners.Proof]\nEnabled = true\n");
    node = startCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0", "--miner"], { env: NODE_ENV });
    await node.waitForLine(/node ready/, 30_000);
    await attachStore(home, store);
    await gw.waitRegistered(`f0${MINER}`);
  });
  after(async () => {
    await node?.stop(5000);
    await gw.kill();
    devnet?.rpc.close();
    await devnet?.proc.stop(5000);
    await cleanup();
  });

  test("the challenged sector of two rounds, as sophon-miner picks it, is proven and verifies", async () => {
    const rpc = (devnet as DevnetRun).rpc;
    const maddr = `f0${MINER}`;
    const entropy = Buffer.from(encodeCbor(Address.fromString(maddr).toBytes())).toString("base64");
    const proven = new Set<number>();
    let lastHeight = -1;
    for (let round = 0; round < 2; round++) {
      let head = await rpc.call<{ Height: number; Cids: unknown[] }>("Filecoin.ChainHead", []);
      while (head.Height === lastHeight) {
        await sleep(100);
        head = await rpc.call("Filecoin.ChainHead", []);
      }
      lastHeight = head.Height;
      const tsk = head.Cids;
      const rand = new Uint8Array(
        Buffer.from(
          await rpc.call<string>("Filecoin.StateGetRandomnessFromBeacon", [
            WINNING_POST_CHALLENGE_SEED,
            head.Height,
            entropy,
            tsk,
          ]),
          "base64",
        ),
      );
      assert.equal(rand.length, 32);
      const onChain = await rpc.call<ChainSector[]>("Filecoin.StateMinerSectors", [maddr, null, tsk]);
      assert.equal(onChain.length, 5, "the onboarded sectors");
      const [index] = generateWinningPoStSectorChallenge(
        maskSeed(rand),
        BigInt(onChain.length),
        proverIdFromActorId(BigInt(MINER)),
      );
      const s = onChain[Number(index)] as ChainSector;
      const nv = await rpc.call<number>("Filecoin.StateNetworkVersion", [tsk]);
      const answer = await gw.computeProof(maddr, {
        SectorInfos: [
          {
            SealProof: s.SealProof,
            SectorNumber: s.SectorNumber,
            SectorKey: s.SectorKeyCID,
            SealedCID: s.SealedCID,
          },
        ],
        Rand: Buffer.from(rand).toString("base64"),
        Height: head.Height,
        NWVersion: nv,
      });
      assert.equal(answer.Error, "", answer.Error);
      assert.ok(answer.ms < 25_000, `answered in ${answer.ms} ms`);
      const proofs = JSON.parse(Buffer.from(answer.Payload ?? "", "base64").toString("utf8")) as WireProof[];
      await assertVerifies(
        proofs,
        {
          sealedFile: sealedFilePath(store, "normal", MINER, s.SectorNumber),
          commR: cidToCommitment(s.SealedCID["/"]).commitment,
        },
        s.SectorNumber,
        rand,
      );
      proven.add(s.SectorNumber);
    }
    assert.ok(proven.size >= 1);
    const line = await (node as Proc).waitForLine(/answered ComputeProof/, 5000);
    assert.match(line, /"miner": "f01000"/);
  });
});
