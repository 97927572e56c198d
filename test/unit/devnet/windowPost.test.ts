/**
 * The devnet miner state machine end to end with real (synthetic 2 KiB) sectors and vanilla proofs:
 * small policy (4 deadlines × 10 epochs, lookback 4, cutoff 6); sectors 1,2 → deadline 2, 3,4 → deadline 3.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import {
  decodeSubmitWindowedPoStParams,
  encodeSubmitWindowedPoStParams,
  type SubmitWindowedPoStParams,
} from "../../../src/chain/params.js";
import { sampleEachPartition } from "../../../src/devnet/post.js";
import {
  type ChainStateJSON,
  type SectorsTextCache,
  stateToJSON,
  stateToJSONText,
} from "../../../src/devnet/snapshot.js";
import { ChainState } from "../../../src/devnet/state.js";
import { encodeFallbackPoStSectorProof } from "../../../src/proofs/bincode.js";
import { maskSeed } from "../../../src/proofs/challenges.js";
import { sealedCid } from "../../../src/proofs/commCid.js";
import { shapeByName } from "../../../src/proofs/sectorShapes.js";
import {
  type SyntheticSector,
  seededRandom,
  writeSyntheticSector,
} from "../../../src/proofs/syntheticSector.js";
import { proveSector } from "../../../src/proofs/vanilla.js";
import { decodeVanillaBundle, encodeVanillaBundle } from "../../../src/proofs/vanillaBundle.js";
import { tempDir } from "../../helpers/tmp.js";
import { snapshotRoundTripCheck } from "./snapshotCheck.js";

const SMALL = {
  wPoStPeriodDeadlines: 4,
  wPoStChallengeWindow: 10,
  wPoStChallengeLookback: 4,
  faultDeclarationCutoff: 6,
  postedPartitionsMax: 3,
};
const MINER = "f01000";
const shape = shapeByName("2KiB")!;
const files = new Map<number, SyntheticSector>();
let cleanup = async () => {};

before(async () => {
  const t = await tempDir("vsm-devnet-");
  cleanup = t.cleanup;
  for (const n of [1, 2, 3, 4]) {
    files.set(
      n,
      await writeSyntheticSector({
        storeDir: path.join(t.dir, "store"),
        miner: 1000,
        number: n,
        shape,
        random: seededRandom(`devnet-${n}`),
      }),
    );
  }
});
after(() => cleanup());

function chain(): ChainState {
  const s = new ChainState({ seed: new Uint8Array(32).fill(1), policy: SMALL });
  s.addMiner({
    address: MINER,
    owner: "f0100",
    worker: "f0101",
    windowPoStProofType: 10,
    provingPeriodOffset: 0,
  });
  s.onboard(
    MINER,
    [1, 2, 3, 4].map((n) => ({ number: n, sealProof: 5, sealedCid: sealedCid(files.get(n)!.commR) })),
  );
  return s;
}

type Post = { index: number; skipped: BitField };

/** The bundle the PoSter would build: one entry per expected sector, in bundle order. */
async function bundle(s: ChainState, deadline: number, posts: Post[], order?: number[]): Promise<Uint8Array> {
  const dl = s.provingDeadline(MINER);
  const randomness = maskSeed(s.windowPoStRandomness(MINER, dl));
  const nums = order ?? s.expectedProofSectors(MINER, deadline, posts);
  const entries: Uint8Array[] = [];
  for (const [i, n] of nums.entries()) {
    const f = files.get(n)!;
    const proof = await proveSector({
      shape,
      sectorNumber: n,
      randomness,
      apiVersion: "V1_2_0",
      sectorIndex: i,
      challengeCount: 10,
      commR: f.commR,
      sealedFile: f.sealedFile,
      cacheDir: f.cacheDir,
    });
    entries.push(
      encodeFallbackPoStSectorProof({
        sectorId: BigInt(n),
        commR: f.commR,
        vanillaProof: { sectors: [proof] },
      }),
    );
  }
  return encodeVanillaBundle(entries);
}

function params(
  s: ChainState,
  deadline: number,
  posts: Post[],
  proofBytes: Uint8Array,
): SubmitWindowedPoStParams {
  const commit = s.epoch - 1;
  const p: SubmitWindowedPoStParams = {
    deadline,
    partitions: posts,
    proofs: [{ postProof: 10, proofBytes }],
    chainCommitEpoch: commit,
    chainCommitRand: s.chainCommitRand(commit),
  };
  // Go through the wire encoding once, as the devnet server will.
  return decodeSubmitWindowedPoStParams(encodeSubmitWindowedPoStParams(p));
}

const all = (idx: number): Post => ({ index: idx, skipped: BitField.empty() });

async function proveAll(s: ChainState, deadline: number): Promise<void> {
  const posts = s.partitions(MINER, deadline).map((_, i) => all(i));
  if (posts.length === 0) return;
  const r = await s.submitWindowedPoSt(
    MINER,
    params(s, deadline, posts, await bundle(s, deadline, posts)),
    s.epoch,
  );
  assert.ok(r.ok, `deadline ${deadline} at epoch ${s.epoch}: ${r.ok ? "" : r.reason}`);
}

function faulty(s: ChainState, d: number): number[][] {
  return s.partitions(MINER, d).map((p) => p.faultySectors.toNumbers());
}

describe("devnet WindowPoSt", () => {
  test("every deadline of two proving periods proven → no faults", async () => {
    const s = chain();
    for (let period = 0; period < 2; period++) {
      for (let d = 0; d < 4; d++) {
        s.advanceTo(period * 40 + d * 10 + 1);
        assert.equal(s.provingDeadline(MINER).index, d, `current deadline at ${s.epoch}`);
        await proveAll(s, d);
      }
    }
    const recs = s.advanceTo(80);
    assert.deepEqual(
      recs.map((r) => [r.index, r.close]),
      [[3, 80]],
      "the last advance closes deadline 3 only (the others closed on the way)",
    );
    const records = s.takeRecords();
    assert.equal(records.length, 8);
    for (const r of records) {
      assert.deepEqual(r.missed, [], `deadline ${r.index} closing at ${r.close} missed nothing`);
      assert.deepEqual(r.newFaults, [], `deadline ${r.index} closing at ${r.close} has no new faults`);
      assert.deepEqual(r.rejections, [], `deadline ${r.index} closing at ${r.close} has no rejections`);
      assert.deepEqual(r.proven, r.partitions === 1 ? [0] : [], `deadline ${r.index} proven partitions`);
    }
    for (let d = 0; d < 4; d++) {
      for (const p of s.partitions(MINER, d))
        assert.ok(p.faultySectors.isEmpty(), `deadline ${d} has no faults`);
    }
  });

  test("a bad proof is rejected with the sector named, and changes nothing", async () => {
    const s = chain();
    s.advanceTo(22);
    const good = await bundle(s, 2, [all(0)]);
    const before = JSON.stringify(s.partitions(MINER, 2).map((p) => p.faultySectors.toNumbers()));
    const flipped = good.slice();
    // Entry #1 (sector 2) starts after 4 + 4 + len(entry 0) + 4; flip a byte deep inside its inclusion proofs.
    const len0 = new DataView(good.buffer).getUint32(4, true);
    const at = 4 + 4 + len0 + 4 + 200;
    flipped[at] = flipped[at]! ^ 0x01;
    const swapped = await bundle(s, 2, [all(0)], [2, 1]);
    // Entry #1 changed in its header (the only part read of an entry that is not verified).
    const entries = decodeVanillaBundle(good).map((e) => e.slice());
    const withEntry1 = (e: Uint8Array) => encodeVanillaBundle([entries[0]!, e]);
    const twoProofs = entries[1]!.slice();
    new DataView(twoProofs.buffer).setBigUint64(40, 2n, true);
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ["flipped byte", flipped, /sector 2/],
      [
        "an entry cut inside its header",
        withEntry1(entries[1]!.subarray(0, 20)),
        /undecodable proof for sector 2/,
      ],
      [
        "an entry of two sector proofs",
        withEntry1(twoProofs),
        /sector 2 .*holds 2 sector proofs, expected 1/,
      ],
      ["proof for another sector", swapped, /sector 1 .*is for sector 2/],
      ["missing entry", await bundle(s, 2, [all(0)], [1]), /missing proof for sector 2/],
      ["extra entry", await bundle(s, 2, [all(0)], [1, 2, 2]), /extra entry/],
      ["garbage", new Uint8Array([1, 2, 3]), /malformed vanilla bundle/],
    ];
    for (const [name, bytes, re] of cases) {
      const r = await s.submitWindowedPoSt(MINER, params(s, 2, [all(0)], bytes), s.epoch);
      assert.equal(r.ok, false, `${name} must be rejected`);
      assert.match(r.ok ? "" : r.reason, re, name);
      assert.equal(JSON.stringify(faulty(s, 2)), before, `${name}: faults unchanged`);
    }
    // Still unproven: the good proof is accepted afterwards.
    const ok = await s.submitWindowedPoSt(MINER, params(s, 2, [all(0)], good), s.epoch);
    assert.ok(ok.ok);
    const [rec] = s.advanceTo(30);
    assert.equal(rec?.rejections.length, cases.length, "rejections recorded against the deadline");
  });

  test("the verify callback is used, and a state change during verification is caught", async () => {
    const s = chain();
    s.advanceTo(22);
    const proof = await bundle(s, 2, [all(0)]);
    const seen: number[] = [];
    const counting = await s.submitWindowedPoSt(MINER, params(s, 2, [all(0)], proof), s.epoch, async (o) => {
      seen.push(Number(o.sectorNumber) * 100 + o.sectorIndex);
      assert.equal(o.challengeCount, 10);
      assert.equal(o.apiVersion, "V1_2_0");
      assert.equal(o.randomness[31]! & 0xc0, 0, "randomness is masked");
      return { ok: true };
    });
    assert.ok(counting.ok);
    assert.deepEqual(seen.sort(), [100, 201]);

    const t = chain();
    t.advanceTo(22);
    const failing = await t.submitWindowedPoSt(MINER, params(t, 2, [all(0)], proof), t.epoch, async (o) =>
      Number(o.sectorNumber) === 2 ? { ok: false, reason: "nope" } : { ok: true },
    );
    assert.deepEqual(failing, { ok: false, reason: "invalid proof for sector 2 (bundle entry #1): nope" });
    const racing = await t.submitWindowedPoSt(MINER, params(t, 2, [all(0)], proof), t.epoch, async () => {
      t.advanceTo(30); // the deadline closes while the proof is being checked
      return { ok: true };
    });
    assert.equal(racing.ok, false);
    assert.match(racing.ok ? "" : racing.reason, /late submission/);
    assert.deepEqual(faulty(t, 2), [[1, 2]], "the close was processed, the late proof was not applied");
  });

  test("--verify-sample: K random sector proofs per partition are verified, every entry is still matched", async () => {
    const s = chain();
    s.advanceTo(22);
    const proof = await bundle(s, 2, [all(0)]);
    // Sector 2's proof is "bad": with a sample of 1 of 2, a judgement catches it about half the time.
    const outcomes = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const t = chain();
      t.advanceTo(22);
      const seen: number[] = [];
      const r = await t.submitWindowedPoSt(
        MINER,
        params(t, 2, [all(0)], proof),
        t.epoch,
        async (o) => {
          seen.push(Number(o.sectorNumber));
          return Number(o.sectorNumber) === 2 ? { ok: false, reason: "bad" } : { ok: true };
        },
        1,
      );
      assert.equal(seen.length, 1, "one sector proof verified per partition");
      outcomes.add(r.ok ? `accepted, verified ${r.verified} of ${r.entries}` : r.reason);
    }
    assert.deepEqual([...outcomes].sort(), [
      "accepted, verified 1 of 2",
      "invalid proof for sector 2 (bundle entry #1): bad",
    ]);
    // Entries outside the sample are still matched to their sector (by their headers).
    const swapped = await bundle(s, 2, [all(0)], [2, 1]);
    const r = await s.submitWindowedPoSt(MINER, params(s, 2, [all(0)], swapped), s.epoch, undefined, 1);
    assert.match(r.ok ? "" : r.reason, /is for sector 2/);
    // An entry outside the sample is matched by its header only: damage past it passes unseen (the
    // shortcut), and is caught whenever the entry is drawn.
    const len0 = new DataView(proof.buffer).getUint32(4, true);
    const damaged = proof.slice();
    damaged[4 + 4 + len0 + 4 + 200] = damaged[4 + 4 + len0 + 4 + 200]! ^ 0x01;
    const seenDamage = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const t = chain();
      t.advanceTo(22);
      const d = await t.submitWindowedPoSt(MINER, params(t, 2, [all(0)], damaged), t.epoch, undefined, 1);
      seenDamage.add(d.ok ? "accepted" : d.reason.replace(/:.*/, ""));
    }
    assert.deepEqual([...seenDamage].sort(), ["accepted", "invalid proof for sector 2 (bundle entry #1)"]);
    const full = await s.submitWindowedPoSt(MINER, params(s, 2, [all(0)], proof), s.epoch, undefined, 5);
    assert.ok(
      full.ok && full.verified === 2 && full.entries === 2,
      "a sample above the partition verifies all",
    );
  });

  test("the snapshot text follows onboarding: the cached sector list is rebuilt when sectors are added", () => {
    const s = chain();
    const cache: SectorsTextCache = new Map();
    const before = JSON.parse(stateToJSONText(s, cache)) as ChainStateJSON;
    assert.equal(before.miners[0]!.sectors.length, 4);
    s.onboard(MINER, [{ number: 9, sealProof: 5, sealedCid: sealedCid(files.get(1)!.commR) }]);
    const after = JSON.parse(stateToJSONText(s, cache)) as ChainStateJSON;
    assert.deepEqual(after, JSON.parse(JSON.stringify(stateToJSON(s))));
    assert.deepEqual(
      after.miners[0]!.sectors.map((x) => x.number),
      [1, 2, 3, 4, 9],
    );
  });

  test("sampleEachPartition: k per partition, uniform, in bundle order", () => {
    const jobs = [0, 1, 2, 3, 4, 5, 6].map((i) => ({ i, partition: i < 5 ? 0 : 1 }));
    const counts = new Array<number>(7).fill(0);
    for (let n = 0; n < 2000; n++) {
      const got = sampleEachPartition(jobs, 2);
      assert.equal(got.length, 4);
      assert.deepEqual(
        got.map((j) => j.i),
        [...got.map((j) => j.i)].sort((a, b) => a - b),
      );
      assert.equal(got.filter((j) => j.partition === 1).length, 2, "a partition of 2 is taken whole");
      for (const j of got) counts[j.i]!++;
    }
    // Each of partition 0's five jobs is drawn 2/5 of the time: 800 of 2000, far from 600 or 1000.
    for (let i = 0; i < 5; i++) assert.ok(counts[i]! > 650 && counts[i]! < 950, `job ${i}: ${counts[i]}`);
    assert.equal(counts[5], 2000);
  });

  test("message checks: deadline, window, commit epoch and randomness, partitions, proof type", async () => {
    const s = chain();
    s.advanceTo(22);
    const proof = await bundle(s, 2, [all(0)]);
    const base = params(s, 2, [all(0)], proof);
    const cases: Array<[string, SubmitWindowedPoStParams, RegExp]> = [
      ["wrong deadline", { ...base, deadline: 3 }, /invalid deadline 3 at epoch 22, expected 2/],
      ["deadline out of range", { ...base, deadline: 9 }, /invalid deadline 9/],
      [
        "commit before challenge",
        { ...base, chainCommitEpoch: 15, chainCommitRand: s.chainCommitRand(15) },
        /challenge epoch 16/,
      ],
      [
        "commit not in the past",
        { ...base, chainCommitEpoch: 22, chainCommitRand: s.chainCommitRand(22) },
        /less than the current epoch/,
      ],
      ["commit randomness", { ...base, chainCommitRand: s.chainCommitRand(20) }, /randomness mismatched/],
      ["no such partition", { ...base, partitions: [all(1)] }, /no such partition 1/],
      [
        "too many partitions",
        { ...base, partitions: [all(0), all(0), all(0), all(0)] },
        /too many partitions 4/,
      ],
      ["duplicate partition", { ...base, partitions: [all(0), all(0)] }, /listed twice/],
      ["proof type", { ...base, proofs: [{ postProof: 5, proofBytes: proof }] }, /expected proof of type 10/],
      ["two proofs", { ...base, proofs: [...base.proofs, ...base.proofs] }, /exactly one proof/],
      [
        "skipped outside",
        { ...base, partitions: [{ index: 0, skipped: BitField.fromNumbers([3]) }] },
        /not in partition 0/,
      ],
    ];
    for (const [name, p, re] of cases) {
      const r = await s.submitWindowedPoSt(MINER, p, s.epoch);
      assert.equal(r.ok, false, `${name} must be rejected`);
      assert.match(r.ok ? "" : r.reason, re, name);
    }
    assert.ok((await s.submitWindowedPoSt(MINER, base, s.epoch)).ok, "the untouched message is accepted");
    const again = await s.submitWindowedPoSt(MINER, base, s.epoch);
    assert.match(again.ok ? "" : again.reason, /already proven/);
  });

  test("late submission (epoch ≥ Close) is rejected", async () => {
    const s = chain();
    s.advanceTo(25);
    const proof = await bundle(s, 2, [all(0)]);
    const late = params(s, 2, [all(0)], proof);
    s.advanceTo(30);
    const r = await s.submitWindowedPoSt(MINER, late, 30);
    assert.equal(r.ok, false);
    assert.match(r.ok ? "" : r.reason, /late submission: deadline 2 closed at epoch 30/);
    assert.throws(() => s.declareFaultsRecovered(MINER, { recoveries: [] }, 29), /not the chain epoch/);
  });

  test("a missed deadline makes its sectors faulty and is recorded", async () => {
    const s = chain();
    const recs = s.advanceTo(31);
    const r2 = recs.find((r) => r.index === 2)!;
    assert.deepEqual(
      { missed: r2.missed, proven: r2.proven, newFaults: r2.newFaults, open: r2.open, close: r2.close },
      { missed: [0], proven: [], newFaults: [1, 2], open: 20, close: 30 },
    );
    assert.deepEqual(faulty(s, 2), [[1, 2]]);
    assert.deepEqual(s.partitions(MINER, 2)[0]!.activeSectors.toNumbers(), []);
    assert.deepEqual(faulty(s, 3), [[]], "deadline 3 is still open");
    // A later proof of the faulty partition proves nothing (no sectors) and recovers nothing.
    s.advanceTo(61);
    const r = await s.submitWindowedPoSt(
      MINER,
      params(s, 2, [all(0)], await bundle(s, 2, [all(0)])),
      s.epoch,
    );
    assert.deepEqual(r, {
      ok: true,
      partitions: [0],
      newFaults: [],
      recovered: [],
      verified: 0,
      entries: 0,
    });
    assert.deepEqual(faulty(s, 2), [[1, 2]]);
  });

  test("a skipped sector becomes faulty", async () => {
    const s = chain();
    s.advanceTo(31);
    const post = { index: 0, skipped: BitField.fromNumbers([4]) };
    assert.deepEqual(s.expectedProofSectors(MINER, 3, [post]), [3]);
    const r = await s.submitWindowedPoSt(MINER, params(s, 3, [post], await bundle(s, 3, [post])), s.epoch);
    assert.deepEqual(r, {
      ok: true,
      partitions: [0],
      newFaults: [4],
      recovered: [],
      verified: 1,
      entries: 1,
    });
    assert.deepEqual(faulty(s, 3), [[4]]);
    const rec = s.advanceTo(40).find((x) => x.index === 3)!;
    assert.deepEqual([rec.proven, rec.missed, rec.newFaults], [[0], [], [4]]);
  });

  test("DeclareFaultsRecovered before the cutoff, then a good proof → active again", async () => {
    const s = chain();
    s.advanceTo(30); // deadline 2 missed → sectors 1,2 faulty; next occurrence opens 60, cutoff 54
    const decl = { recoveries: [{ deadline: 2, partition: 0, sectors: BitField.fromNumbers([1, 2]) }] };
    s.advanceTo(53);
    assert.deepEqual(s.declareFaultsRecovered(MINER, decl, 53), { ok: true, recovering: [1, 2] });
    assert.deepEqual(s.partitions(MINER, 2)[0]!.recoveringSectors.toNumbers(), [1, 2]);
    s.advanceTo(61);
    assert.deepEqual(s.expectedProofSectors(MINER, 2, [all(0)]), [1, 2]);
    const r = await s.submitWindowedPoSt(
      MINER,
      params(s, 2, [all(0)], await bundle(s, 2, [all(0)])),
      s.epoch,
    );
    assert.deepEqual(r, {
      ok: true,
      partitions: [0],
      newFaults: [],
      recovered: [1, 2],
      verified: 2,
      entries: 2,
    });
    const p = s.partitions(MINER, 2)[0]!;
    assert.deepEqual(
      [p.faultySectors.toNumbers(), p.recoveringSectors.toNumbers(), p.activeSectors.toNumbers()],
      [[], [], [1, 2]],
    );
    const rec = s.advanceTo(70).find((x) => x.index === 2)!;
    assert.deepEqual([rec.recovered, rec.newFaults], [[1, 2], []]);
  });

  test("unproven recoveries fall back to faulty at Close", () => {
    const s = chain();
    s.advanceTo(30);
    s.declareFaultsRecovered(
      MINER,
      { recoveries: [{ deadline: 2, partition: 0, sectors: BitField.fromNumbers([1]) }] },
      30,
    );
    const rec = s.advanceTo(70).find((x) => x.index === 2 && x.close === 70)!;
    assert.deepEqual([rec.missed, rec.newFaults, rec.recovered], [[0], [], []]);
    const p = s.partitions(MINER, 2)[0]!;
    assert.deepEqual([p.faultySectors.toNumbers(), p.recoveringSectors.toNumbers()], [[1, 2], []]);
  });

  test("recovery declarations are checked", () => {
    const s = chain();
    s.advanceTo(30);
    const d = (deadline: number, partition: number, sectors: number[]) => ({
      recoveries: [{ deadline, partition, sectors: BitField.fromNumbers(sectors) }],
    });
    s.advanceTo(54); // = fault cutoff of deadline 2's next occurrence (open 60)
    const cases: Array<[string, ReturnType<typeof d>, RegExp]> = [
      [
        "after the cutoff",
        d(2, 0, [1]),
        /late fault or recovery declaration for deadline 2 at epoch 54 \(fault cutoff 54\)/,
      ],
      ["no such partition", d(0, 0, [1]), /no such partition 0 in deadline 0/],
      ["bad deadline", d(7, 0, [1]), /invalid deadline 7/],
    ];
    for (const [name, decl, re] of cases) {
      const r = s.declareFaultsRecovered(MINER, decl, s.epoch);
      assert.equal(r.ok, false, `${name} must be rejected`);
      assert.match(r.ok ? "" : r.reason, re, name);
    }
    // Deadline 3 was missed at 40; its next occurrence opens at 70, cutoff 64, so 54 is in time.
    assert.deepEqual(s.declareFaultsRecovered(MINER, d(3, 0, [3]), 54), { ok: true, recovering: [3] });
    const outside = s.declareFaultsRecovered(MINER, d(3, 0, [1]), 54);
    assert.match(outside.ok ? "" : outside.reason, /sectors 1 are not in deadline 3 partition 0/);
    s.advanceTo(65);
    const current = s.declareFaultsRecovered(MINER, d(3, 0, [4]), 65);
    assert.match(
      current.ok ? "" : current.reason,
      /fault cutoff 64/,
      "past the cutoff of the coming deadline 3",
    );
    const fresh = chain();
    const nf = fresh.declareFaultsRecovered(MINER, d(2, 0, [1]), 0);
    assert.match(nf.ok ? "" : nf.reason, /are not faulty/);
  });

  test("snapshot round trip and malformed snapshots", async () => {
    const s = chain();
    s.advanceTo(30);
    s.declareFaultsRecovered(
      MINER,
      { recoveries: [{ deadline: 2, partition: 0, sectors: BitField.fromNumbers([2]) }] },
      30,
    );
    s.advanceTo(31);
    const post = { index: 0, skipped: BitField.fromNumbers([4]) };
    assert.ok(
      (await s.submitWindowedPoSt(MINER, params(s, 3, [post], await bundle(s, 3, [post])), s.epoch)).ok,
    );
    await snapshotRoundTripCheck(s);
  });
});
