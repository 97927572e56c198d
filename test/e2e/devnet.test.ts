/**
 * The devnet as a real process (`vsm devnet run`), driven through the Lotus client exactly as a PoSter
 * drives a Lotus node: head changes, proving deadlines, partitions, randomness, SubmitWindowedPoSt
 * with vanilla proofs, StateWaitMsg. The prover loop is this test's own, not the PoSter's, so the
 * chain side is checked without it: every deadline of a shortened proving period is proven and
 * nothing becomes faulty; a tampered proof is rejected with its reason; a restart keeps the chain and
 * the client resubscribes.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Address } from "../../src/chain/address.js";
import { BitField } from "../../src/chain/bitfield.js";
import { type ChainPort, HEAD, RANDOMNESS_TAG } from "../../src/chain/interface.js";
import { LotusChainClient } from "../../src/chain/lotus/client.js";
import { cborAddressBytes } from "../../src/chain/lotus/shapes.js";
import { MinerMethod } from "../../src/chain/message.js";
import { encodeSubmitWindowedPoStParams } from "../../src/chain/params.js";
import { readApiFile } from "../../src/daemon/home.js";
import { encodeFallbackPoStSectorProof } from "../../src/proofs/bincode.js";
import { cidToCommitment } from "../../src/proofs/commCid.js";
import { cacheDirPath, sealedFilePath } from "../../src/proofs/sectorFiles.js";
import { shapeByName } from "../../src/proofs/sectorShapes.js";
import { proveSector } from "../../src/proofs/vanilla.js";
import { encodeVanillaBundle } from "../../src/proofs/vanillaBundle.js";
import type { RpcClient } from "../../src/rpc/client.js";
import { type Proc, runCli } from "../../src/util/childProcess.js";
import { runDevnet, sealSectors } from "../helpers/devnetSetup.js";
import { tempDir } from "../helpers/tmp.js";

const MINER = "f01000";
const k2 = shapeByName("2KiB")!;
// Windows of 20 epochs (2 s): room for a proof built on the test thread and its message on a loaded machine.
const POLICY = { deadlines: 4, window: 20, lookback: 4, cutoff: 6 };

interface Rec {
  miner: string;
  index: number;
  open: number;
  close: number;
  partitions: number;
  proven: number[];
  missed: number[];
  newFaults: number[];
  rejections: string[];
}

/** Prove and submit the current deadline of MINER: the same steps a PoSter takes. */
async function proveCurrentDeadline(
  chain: ChainPort,
  store: string,
  tamper = false,
): Promise<{ deadline: number; exitCode: number } | undefined> {
  const di = await chain.stateMinerProvingDeadline(MINER, HEAD);
  if (di.currentEpoch < di.open + 1) return undefined;
  const partitions = await chain.stateMinerPartitions(MINER, di.index, HEAD);
  if (partitions.length === 0) return undefined;
  const info = await chain.stateMinerInfo(MINER, HEAD);
  const entropy = cborAddressBytes(Address.fromString(MINER).toBytes());
  const randomness = await chain.stateGetRandomnessFromBeacon(
    RANDOMNESS_TAG.WindowedPoStChallengeSeed,
    di.challenge,
    entropy,
    HEAD,
  );
  randomness[31] = (randomness[31] ?? 0) & 0x3f;
  const sectors = new Map((await chain.stateMinerSectors(MINER, null, HEAD)).map((s) => [s.sectorNumber, s]));
  const entries: Uint8Array[] = [];
  for (const p of partitions) {
    for (const n of p.allSectors.subtract(p.faultySectors).union(p.recoveringSectors).toNumbers()) {
      const commR = cidToCommitment(sectors.get(n)?.sealedCid ?? "").commitment;
      const proof = await proveSector({
        shape: k2,
        sectorNumber: n,
        randomness,
        apiVersion: "V1_2_0",
        sectorIndex: entries.length,
        challengeCount: 10,
        commR,
        sealedFile: sealedFilePath(store, "normal", 1000, n),
        cacheDir: cacheDirPath(store, "normal", 1000, n),
      });
      const bytes = encodeFallbackPoStSectorProof({
        sectorId: BigInt(n),
        commR,
        vanillaProof: { sectors: [proof] },
      });
      if (tamper) bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 1;
      entries.push(bytes);
    }
  }
  const params = encodeSubmitWindowedPoStParams({
    deadline: di.index,
    partitions: partitions.map((_, index) => ({ index, skipped: BitField.empty() })),
    proofs: [{ postProof: info.windowPoStProofType, proofBytes: encodeVanillaBundle(entries) }],
    chainCommitEpoch: di.challenge,
    chainCommitRand: await chain.stateGetRandomnessFromTickets(
      RANDOMNESS_TAG.PoStChainCommit,
      di.challenge,
      new Uint8Array(0),
      HEAD,
    ),
  });
  const pushed = await chain.pushMessage({
    from: info.worker,
    to: MINER,
    method: MinerMethod.SubmitWindowedPoSt,
    params,
    value: 0n,
    maxFeeCap: 0n,
  });
  const receipt = await chain.waitMessage(pushed.cid, 0);
  return { deadline: di.index, exitCode: receipt.exitCode };
}

describe("vsm devnet run, driven by the Lotus client", () => {
  let dir = "";
  let cleanup = async () => {};
  let home = "";
  let store = "";
  let devnet: Proc | undefined;
  let chain: LotusChainClient | undefined;
  let admin: RpcClient | undefined;

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-devnet-"));
    home = path.join(dir, "devnet");
    store = path.join(dir, "store");
    const dn = await runDevnet({ home, blockTimeMs: 100, policy: POLICY, readyTimeoutMs: 20_000 });
    devnet = dn.proc;
    await sealSectors({ devnetHome: home, store, miner: 1000, count: 4, threads: 2 });
    const [host, port] = [
      dn.api.slice(0, dn.api.lastIndexOf(":")),
      dn.api.slice(dn.api.lastIndexOf(":") + 1),
    ];
    chain = LotusChainClient.fromConfig(
      { Gateway: [], Chain: `${dn.token}:/ip4/${host}/tcp/${port}/http`, Messager: "", Token: "" },
      { backoffMinMs: 100, backoffMaxMs: 500 },
    );
    admin = dn.rpc;
  });
  after(async () => {
    await chain?.close();
    await devnet?.stop(5000);
    await cleanup();
  });

  test("speaks the Lotus API: network, head, miner, deadlines, partitions, sectors", async () => {
    assert.ok(chain);
    assert.equal(await chain.networkName(), "vsm-devnet");
    const head = await chain.chainHead();
    assert.ok(head.height > 0 && head.key.length === 1);
    const info = await chain.stateMinerInfo(MINER, HEAD);
    assert.equal(info.windowPoStProofType, 10, "StackedDrgWindow2KiBV1_1");
    assert.equal(info.sectorSize, 2048);
    const di = await chain.stateMinerProvingDeadline(MINER, HEAD);
    assert.equal(di.wPoStPeriodDeadlines, 4);
    assert.equal(di.close - di.open, 20);
    assert.equal(di.open - di.challenge, 4);
    const sectors = await chain.stateMinerSectors(MINER, null, HEAD);
    assert.deepEqual(
      sectors.map((s) => s.sectorNumber),
      [1, 2, 3, 4],
    );
    let total = 0;
    for (let d = 0; d < 4; d++)
      for (const p of await chain.stateMinerPartitions(MINER, d, HEAD)) total += p.allSectors.count();
    assert.equal(total, 4, "every sector is in a partition");
    const actor = await chain.stateGetActor(info.worker, HEAD);
    assert.ok(actor.balance > 0n);
  });

  test("every deadline of a proving period proven: no faults; a tampered proof is rejected with its reason", async () => {
    assert.ok(chain && admin);
    const proven = new Set<number>();
    const results: { deadline: number; exitCode: number }[] = [];
    let tampered: { deadline: number; exitCode: number } | undefined;
    const ac = new AbortController();
    const start = (await chain.chainHead()).height;
    for await (const changes of chain.chainNotify({ signal: ac.signal })) {
      const h = changes.at(-1)?.tipset.height ?? 0;
      const di = await chain.stateMinerProvingDeadline(MINER, HEAD);
      const key = di.open;
      if (!proven.has(key) && di.currentEpoch >= di.open + 1 && di.currentEpoch < di.close - 2) {
        proven.add(key);
        const parts = await chain.stateMinerPartitions(MINER, di.index, HEAD);
        if (parts.length > 0) {
          if (!tampered && results.length >= 2) {
            tampered = await proveCurrentDeadline(chain, store, true);
            proven.delete(key); // prove it properly right after
            continue;
          }
          const r = await proveCurrentDeadline(chain, store);
          if (r) results.push(r);
        }
      }
      if (h > start + 180) ac.abort();
    }
    assert.ok(results.length >= 3, `proved ${results.length} deadlines`);
    for (const r of results) assert.equal(r.exitCode, 0, `deadline ${r.deadline}`);
    assert.equal(tampered?.exitCode, 16, "the tampered proof fails with ErrIllegalArgument");
    const records = await admin.call<Rec[]>("Devnet.Records", [MINER, 100]);
    // Only deadlines that opened after the loop began: earlier ones passed while sectors were sealed.
    const withSectors = records.filter((r) => r.partitions > 0 && r.open > start);
    assert.ok(withSectors.length >= 3);
    for (const r of withSectors) {
      assert.deepEqual(r.missed, [], `deadline ${r.index} at ${r.open}`);
      assert.deepEqual(r.newFaults, [], `deadline ${r.index} at ${r.open}`);
    }
    assert.ok(
      records.some((r) => r.rejections.some((x) => /sector \d+/.test(x))),
      `the rejection names the sector: ${JSON.stringify(records.flatMap((r) => r.rejections))}`,
    );
    const status = await admin.call<{ Miners: { Faulty: number }[] }>("Devnet.Status", []);
    assert.equal(status.Miners[0]?.Faulty, 0);
    // `devnet status` prints the proven partitions as a list under a header that says so.
    const cli = await runCli(["--home", home, "devnet", "status", "--records", "100"]);
    assert.equal(cli.code, 0, cli.output);
    const head = cli.lines.find((l) => l.includes("PROVEN PARTITIONS")) ?? "";
    assert.match(
      head,
      /PARTITION COUNT {2}PROVEN PARTITIONS {2}MISSED PARTITIONS {2}NEW FAULT COUNT/,
      cli.output,
    );
    const col = head.indexOf("PROVEN PARTITIONS");
    const provenCells = cli.lines
      .slice(cli.lines.indexOf(head) + 1)
      .map((l) => l.slice(col).split(/\s{2,}/)[0] ?? "");
    assert.ok(provenCells.includes("0"), `a deadline with partition 0 proven:\n${cli.output}`);
    for (const c of provenCells) assert.match(c, /^(-|\d+(,\d+)*)$/, cli.output);
  });

  test("a restart keeps the chain; the client resubscribes and sees new heads", async () => {
    assert.ok(chain && devnet);
    const before = (await chain.chainHead()).height;
    const ac = new AbortController();
    const heights: number[] = [];
    let restarted = false;
    const api = (await readApiFile(home)) ?? "";
    for await (const changes of chain.chainNotify({ signal: ac.signal })) {
      heights.push(changes.at(-1)?.tipset.height ?? 0);
      if (!restarted && heights.length >= 3) {
        restarted = true;
        assert.equal((await devnet.stop(5000)).code, 0);
        // same home (its policy kept), same port
        devnet = (await runDevnet({ home, blockTimeMs: 100, listen: api, readyTimeoutMs: 20_000 })).proc;
      }
      if (restarted && heights.length >= 8) ac.abort();
    }
    assert.ok(Math.max(...heights) > before, "the chain went on after the restart");
    const sectors = await chain.stateMinerSectors(MINER, null, HEAD);
    assert.equal(sectors.length, 4, "state survived the restart");
    for (let i = 1; i < heights.length; i++)
      assert.ok(heights[i]! >= heights[i - 1]!, `heights never go back: ${heights.join(",")}`);
  });
});
