/**
 * The load stage against a small in-memory chain that records its calls: what is read at the frozen
 * start tipset and what at the head, the masked seed, and the reads a dry run or an empty want skip.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import { newDeadlineInfo } from "../../../src/chain/dline.js";
import {
  type DeadlineState,
  HEAD,
  type MinerInfo,
  type Partition,
  type SectorOnChainInfo,
  type TipSetKey,
} from "../../../src/chain/interface.js";
import {
  type DeadlineReads,
  loadDeadline,
  readPartitions,
  readSectorInfos,
} from "../../../src/poster/load.js";

const START: TipSetKey = ["bafystart"];
const DI = newDeadlineInfo(1000, 2, 1050, {
  wPoStPeriodDeadlines: 4,
  wPoStProvingPeriod: 240,
  wPoStChallengeWindow: 60,
  wPoStChallengeLookback: 20,
  faultDeclarationCutoff: 70,
});
const part = (live: number[]): Partition => {
  const b = BitField.fromNumbers(live);
  const e = BitField.empty();
  return { allSectors: b, liveSectors: b, faultySectors: e, recoveringSectors: e, activeSectors: b };
};

function reads(dryRun = false) {
  const calls: { method: string; tsk: TipSetKey | undefined }[] = [];
  const chain: DeadlineReads["chain"] = {
    async stateMinerPartitions(_m, _d, tsk) {
      calls.push({ method: "partitions", tsk });
      return [part([1, 2]), part([3])];
    },
    async stateMinerInfo(_m, tsk) {
      calls.push({ method: "info", tsk });
      return { windowPoStProofType: 10 } as MinerInfo;
    },
    async stateGetRandomnessFromBeacon(_tag, epoch, _entropy, tsk) {
      calls.push({ method: `randomness@${epoch}`, tsk });
      return new Uint8Array(32).fill(0xff);
    },
    async stateMinerDeadlines(_m, tsk) {
      calls.push({ method: "deadlines", tsk });
      const dl = (posted: number[]): DeadlineState =>
        ({ postSubmissions: BitField.fromNumbers(posted) }) as DeadlineState;
      return [dl([]), dl([]), dl([1]), dl([])];
    },
    async stateMinerSectors(_m, wanted, tsk) {
      const numbers = wanted?.toNumbers() ?? [];
      calls.push({ method: `sectors:${numbers.join(",")}`, tsk });
      return numbers.map((n) => ({ sectorNumber: n }) as SectorOnChainInfo);
    },
  };
  const r: DeadlineReads = {
    chain,
    miner: "f01000",
    di: DI,
    tsk: START,
    signal: new AbortController().signal,
    retry: (_what, fn) => fn(),
    dryRun,
  };
  return { r, calls };
}

describe("load stage", () => {
  it("partitions, miner info and randomness at the start tipset; what is posted at the head", async () => {
    const { r, calls } = reads();
    const partitions = await readPartitions(r);
    const loaded = await loadDeadline(r, partitions);
    assert.deepEqual(calls, [
      { method: "partitions", tsk: START },
      { method: "info", tsk: START },
      { method: `randomness@${DI.challenge}`, tsk: START },
      { method: "deadlines", tsk: HEAD },
    ]);
    assert.equal(loaded.partitions, partitions);
    assert.equal(loaded.apiProofType, "StackedDrgWindow2KiBV1_2");
    assert.equal(loaded.proofType.shape.name, "2KiB");
    assert.equal(loaded.seed[31], 0x3f, "the seed's top two bits are cleared");
    assert.equal(loaded.seed[0], 0xff);
    assert.deepEqual(loaded.posted.toNumbers(), [1]);
  });

  it("a dry run ignores what the chain already has", async () => {
    const { r, calls } = reads(true);
    const loaded = await loadDeadline(r, await readPartitions(r));
    assert.ok(loaded.posted.isEmpty());
    assert.ok(!calls.some((c) => c.method === "deadlines"));
  });

  it("sector infos only for the sectors wanted, none read when nothing is", async () => {
    const { r, calls } = reads();
    assert.deepEqual([...(await readSectorInfos(r, BitField.fromNumbers([3, 1]))).keys()], [1, 3]);
    assert.equal((await readSectorInfos(r, BitField.empty())).size, 0);
    assert.deepEqual(calls, [{ method: "sectors:1,3", tsk: START }]);
  });
});
