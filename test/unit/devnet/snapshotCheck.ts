import assert from "node:assert/strict";
import type { DeadlineRecord } from "../../../src/devnet/miner.js";
import {
  type ChainStateJSON,
  type SectorsTextCache,
  stateFromJSON,
  stateToJSON,
  stateToJSONText,
} from "../../../src/devnet/snapshot.js";
import type { ChainState } from "../../../src/devnet/state.js";

/** Round-trips `s` through JSON text and checks that malformed variants are refused. */
export async function snapshotRoundTripCheck(s: ChainState): Promise<void> {
  const text = JSON.stringify(stateToJSON(s));
  const back = stateFromJSON(JSON.parse(text));
  assert.equal(JSON.stringify(stateToJSON(back)), text, "round trip is lossless");
  assert.equal(back.epoch, s.epoch);
  // The text the devnet writes after each block means the same, with the sector lists' text cached.
  const cache: SectorsTextCache = new Map();
  for (let i = 0; i < 2; i++)
    assert.deepEqual(JSON.parse(stateToJSONText(s, cache)), JSON.parse(text), `snapshot text, pass ${i}`);
  assert.equal(cache.size, s.miners.size, "one cached sector list per miner");
  assert.deepEqual(back.partitions("f01000", 3), s.partitions("f01000", 3));
  assert.deepEqual(back.sectors("f01000", null), s.sectors("f01000", null));
  assert.deepEqual(back.minerInfo("f01000"), s.minerInfo("f01000"));
  assert.deepEqual(back.provingDeadline("f01000"), s.provingDeadline("f01000"));
  assert.deepEqual(back.chainCommitRand(7), s.chainCommitRand(7));

  const mutations: Array<[string, (j: ChainStateJSON) => void, RegExp]> = [
    ["bad version", (j) => Object.assign(j, { version: 99 }), /unsupported version/],
    ["bad seed", (j) => Object.assign(j, { seed: "zz" }), /\$\.seed/],
    ["bad policy", (j) => Object.assign(j.policy, { wPoStChallengeLookback: 50 }), /lookback/i],
    [
      "faulty outside",
      (j) => Object.assign(j.miners[0]!.deadlines[2]!.partitions[0]!, { faulty: [5, 1] }),
      /faulty sectors outside/,
    ],
    [
      "recovering not faulty",
      (j) => Object.assign(j.miners[0]!.deadlines[3]!.partitions[0]!, { recovering: [3, 1] }),
      /recovering sectors that are not faulty/,
    ],
    [
      "sector twice",
      (j) => Object.assign(j.miners[0]!.deadlines[3]!.partitions[0]!, { sectors: [1, 4] }),
      /two partitions/,
    ],
    [
      "bad cid",
      (j) => Object.assign(j.miners[0]!.sectors[0]!, { sealedCid: "bxyz" }),
      /sectors\[0\]\.sealedCid/,
    ],
    ["missing deadlines", (j) => j.miners[0]!.deadlines.pop(), /expected 4 deadlines/],
    [
      "bad record",
      (j) => j.records.push({ miner: "f01000" } as unknown as DeadlineRecord),
      /records\[\d+\]\.index/,
    ],
  ];
  for (const [name, mutate, re] of mutations) {
    const j = JSON.parse(text) as ChainStateJSON;
    mutate(j);
    assert.throws(
      () => stateFromJSON(j),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "DEVNET_BAD_SNAPSHOT", `${name}: code`);
        assert.match(err.message, re, name);
        return true;
      },
      name,
    );
  }
  assert.throws(() => stateFromJSON(null), /bad devnet snapshot at \$/);
}
