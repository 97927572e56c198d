/**
 * A partition's proving job and the prove stage, without a chain or processes: the job built from a
 * checked partition, carried through JSON (as the cluster stores it) and proven by the built-in
 * vanilla prover on real synthetic 2 KiB sectors, whose proofs are then verified; and, with a prover
 * that returns fixed outputs, the fault rounds, retries and the two output formats.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import { nullLogger } from "../../../src/log/logger.js";
import type { PartitionPlan } from "../../../src/poster/batch.js";
import {
  type JobDeadline,
  type JobSector,
  type PartitionJob,
  parsePartitionJob,
  partitionJob,
  toHex,
} from "../../../src/poster/job.js";
import { MAX_FAULT_ROUNDS, provePartition } from "../../../src/poster/prove.js";
import type { ProveFn } from "../../../src/poster/types.js";
import { decodeFallbackPoStSectorProof } from "../../../src/proofs/bincode.js";
import { parsePoStProofType } from "../../../src/proofs/proofTypes.js";
import { shapeByName } from "../../../src/proofs/sectorShapes.js";
import { writeSyntheticSector } from "../../../src/proofs/syntheticSector.js";
import { verifySector } from "../../../src/proofs/vanilla.js";
import type { PoStOutput, PoStTask } from "../../../src/prover/protocol.js";
import { createVanillaProver } from "../../../src/prover/vanillaProver.js";
import { WorkerPool } from "../../../src/prover/workerPool.js";
import { SmError } from "../../../src/util/errors.js";
import { tempDir } from "../../helpers/tmp.js";

const PROOF_TYPE = "StackedDrgWindow2KiBV1_2";
const seed = () => {
  const s = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
  s[31] = (s[31] ?? 0) & 0x3f;
  return s;
};
const deadline = (format: JobDeadline["format"]): JobDeadline => ({
  actor: 1000,
  deadline: 3,
  open: 1200,
  close: 1260,
  proofType: PROOF_TYPE,
  seed: seed(),
  format,
});

function plan(index: number, proven: number[], skipped: number[] = []): PartitionPlan {
  const p = BitField.fromNumbers(proven);
  const s = BitField.fromNumbers(skipped);
  return { index, toProve: p.union(s), proven: p, skipped: s };
}

/** A job over sectors with made-up locations (the fixed-output provers never read them). */
function job(sectors: number[], over: Partial<PartitionJob> = {}): PartitionJob {
  const located = new Map(
    sectors.map((n): [number, JobSector] => [
      n,
      { number: n, commR: toHex(new Uint8Array(32).fill(n)), sealedFile: `/s/${n}`, cacheDir: `/c/${n}` },
    ]),
  );
  return { ...partitionJob(deadline("snark"), plan(2, sectors, [99]), located), ...over };
}

const opts = (over: Partial<Parameters<typeof provePartition>[2]> = {}) => ({
  signal: new AbortController().signal,
  log: nullLogger,
  attempts: Number.POSITIVE_INFINITY,
  ...over,
});

/** A prover answering from a script, one entry per call, recording the sectors of each task. */
function scripted(answers: ((t: PoStTask) => PoStOutput | Error)[]) {
  const tasks: PoStTask[] = [];
  const priorities: number[] = [];
  const prove: ProveFn = async (task, o) => {
    tasks.push(task);
    priorities.push(o.priority);
    const answer = answers[tasks.length - 1];
    if (!answer) throw new Error(`unexpected prover call ${tasks.length}`);
    const out = answer(task);
    if (out instanceof Error) throw out;
    return out;
  };
  return { prove, tasks, priorities, sectors: () => tasks.map((t) => t.replicas.map((r) => r.sectorId)) };
}
const snark = (): PoStOutput => ({ proofs: [new Uint8Array(192).fill(5)], faults: [] });

describe("PartitionJob", () => {
  it("provePartition proves only a whole job: a bad one is POSTER_BAD_JOB and the prover is never called", async () => {
    const { prove, tasks } = scripted([snark]);
    await assert.rejects(
      provePartition({ ...job([4]), seed: "00" }, prove, opts()),
      (e: unknown) => e instanceof SmError && e.code === "POSTER_BAD_JOB",
    );
    assert.equal(tasks.length, 0);
  });

  it("is built from a checked partition and survives JSON unchanged", () => {
    const j = job([4, 5]);
    assert.deepEqual(
      { ...j, sectors: j.sectors.map((s) => s.number) },
      {
        actor: 1000,
        deadline: 3,
        open: 1200,
        close: 1260,
        partition: 2,
        proofType: PROOF_TYPE,
        seed: toHex(seed()),
        format: "snark",
        sectors: [4, 5],
        skipped: [99],
      },
    );
    const back = JSON.parse(JSON.stringify(j)) as unknown;
    assert.deepEqual(back, j);
    assert.deepEqual(parsePartitionJob(back), j);
  });

  it("a sector to prove without a checked location is an internal error, not a job", () => {
    assert.throws(
      () => partitionJob(deadline("snark"), plan(0, [1, 2]), new Map()),
      (e: unknown) => e instanceof SmError && e.code === "POSTER_INTERNAL",
    );
  });

  it("parsePartitionJob refuses what a prover could not run", () => {
    const good = JSON.parse(JSON.stringify(job([4]))) as Record<string, unknown>;
    const two = job([4, 5]);
    const cases: [string, unknown][] = [
      ["not an object", [good]],
      ["a negative actor", { ...good, actor: -1 }],
      ["a fractional close", { ...good, close: 1.5 }],
      ["a short seed", { ...good, seed: "00" }],
      ["an unknown format", { ...good, format: "groth" }],
      ["a sector without a location", { ...good, sectors: [{ number: 4, commR: "00".repeat(32) }] }],
      ["a bad comm_r", { ...good, sectors: [{ number: 4, commR: "zz", sealedFile: "a", cacheDir: "b" }] }],
      ["skipped not numbers", { ...good, skipped: ["1"] }],
      ["sectors out of order", { ...good, sectors: [...two.sectors].reverse() }],
      ["a sector twice", { ...good, sectors: [two.sectors[0], two.sectors[0]] }],
      ["skipped out of order", { ...good, skipped: [9, 7] }],
      ["a sector both to prove and skipped", { ...good, skipped: [4] }],
    ];
    for (const [what, v] of cases)
      assert.throws(
        () => parsePartitionJob(v),
        (e: unknown) => e instanceof SmError && e.code === "POSTER_BAD_JOB",
        what,
      );
  });
});

describe("provePartition with a prover of fixed outputs", () => {
  it("snark: one proof for the partition, asked with the job's seed and its Close as priority", async () => {
    const p = scripted([snark]);
    const j = job([4, 5]);
    const r = await provePartition(j, p.prove, opts());
    assert.deepEqual(p.sectors(), [[4, 5]]);
    assert.deepEqual(p.priorities, [1260]);
    assert.deepEqual(p.tasks[0]?.seed, seed());
    assert.deepEqual(p.tasks[0]?.replicas[1]?.commR, new Uint8Array(32).fill(5));
    assert.equal(p.tasks[0]?.minerId, 1000);
    assert.equal(p.tasks[0]?.proofType, PROOF_TYPE);
    assert.equal(r.partition, 2);
    assert.deepEqual(r.proof?.snarkProof, new Uint8Array(192).fill(5));
    assert.equal(r.proof?.sectorProofs, undefined);
    assert.deepEqual(r.proof?.proven.toNumbers(), [4, 5]);
    assert.deepEqual(r.proof?.skipped.toNumbers(), [99]);
    assert.deepEqual(r.faults, []);
  });

  it("vanilla: one proof per sector, keyed by sector number in task order", async () => {
    const p = scripted([
      () => ({ proofs: [Uint8Array.of(4), Uint8Array.of(5), Uint8Array.of(6)], faults: [] }),
    ]);
    const r = await provePartition(job([4, 5, 6], { format: "vanilla-bundle" }), p.prove, opts());
    assert.equal(r.proof?.snarkProof, undefined);
    assert.deepEqual(
      [...(r.proof?.sectorProofs ?? [])],
      [
        [4, Uint8Array.of(4)],
        [5, Uint8Array.of(5)],
        [6, Uint8Array.of(6)],
      ],
    );
  });

  it("sectors reported faulty are skipped and the rest proven again", async () => {
    const p = scripted([() => ({ proofs: [], faults: [5] }), () => ({ proofs: [], faults: [7] }), snark]);
    const reported: number[][] = [];
    const r = await provePartition(job([4, 5, 6, 7]), p.prove, opts({ onFaults: (f) => reported.push(f) }));
    assert.deepEqual(p.sectors(), [
      [4, 5, 6, 7],
      [4, 6, 7],
      [4, 6],
    ]);
    assert.deepEqual(reported, [[5], [7]]);
    assert.deepEqual(r.faults, [5, 7]);
    assert.deepEqual(r.proof?.proven.toNumbers(), [4, 6]);
    assert.deepEqual(r.proof?.skipped.toNumbers(), [5, 7, 99]);
    assert.deepEqual(r.skipped.toNumbers(), [5, 7, 99]);
  });

  it("a fault outside the task is not added to Skipped", async () => {
    const p = scripted([() => ({ proofs: [], faults: [42] }), snark]);
    const r = await provePartition(job([4]), p.prove, opts());
    assert.deepEqual(r.proof?.skipped.toNumbers(), [99]);
    assert.deepEqual(r.proof?.proven.toNumbers(), [4]);
  });

  it("nothing provable when every sector is faulty, or after MAX_FAULT_ROUNDS rounds of faults", async () => {
    const all = scripted([(t) => ({ proofs: [], faults: t.replicas.map((x) => x.sectorId) })]);
    const none = await provePartition(job([4, 5]), all.prove, opts());
    assert.equal(none.proof, null);
    assert.deepEqual(none.skipped.toNumbers(), [4, 5, 99]);

    const sectors = Array.from({ length: MAX_FAULT_ROUNDS + 2 }, (_, i) => 10 + i);
    const oneByOne = scripted(
      Array.from({ length: MAX_FAULT_ROUNDS }, () => (t: PoStTask) => ({
        proofs: [],
        faults: [t.replicas[0]?.sectorId ?? -1],
      })),
    );
    const r = await provePartition(job(sectors), oneByOne.prove, opts());
    assert.equal(oneByOne.tasks.length, MAX_FAULT_ROUNDS);
    assert.equal(r.proof, null);
    assert.equal(r.faults.length, MAX_FAULT_ROUNDS);
  });

  it("a failed prover call is tried again; a permanent failure or the last allowed attempt is thrown", async () => {
    const died = () => new SmError("EXT_PROVER_CHILD_EXITED", "child exited with the task in flight");
    const p = scripted([died, snark]);
    const r = await provePartition(job([4]), p.prove, opts());
    assert.equal(p.tasks.length, 2);
    assert.deepEqual(r.proof?.proven.toNumbers(), [4]);

    const permanent = scripted([() => new SmError("PROOF_UNKNOWN_TYPE", "no such proof type")]);
    await assert.rejects(provePartition(job([4]), permanent.prove, opts()), { code: "PROOF_UNKNOWN_TYPE" });
    assert.equal(permanent.tasks.length, 1);

    const bounded = scripted([died, died, snark]);
    await assert.rejects(provePartition(job([4]), bounded.prove, opts({ attempts: 2 })), {
      code: "EXT_PROVER_CHILD_EXITED",
    });
    assert.equal(bounded.tasks.length, 2);
  });

  it("an aborted signal stops the retries", async () => {
    const stop = new AbortController();
    const p = scripted([
      () => {
        stop.abort(new Error("deadline closed"));
        return new SmError("EXT_PROVER_CHILD_EXITED", "child exited");
      },
    ]);
    await assert.rejects(provePartition(job([4]), p.prove, opts({ signal: stop.signal })));
    assert.equal(p.tasks.length, 1);
  });
});

describe("a job carried through JSON, proven by the built-in prover", () => {
  let dir = "";
  let cleanup = async () => {};
  let pool: WorkerPool;
  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-provejob-"));
    pool = new WorkerPool({ size: 1, logger: nullLogger });
  });
  after(async () => {
    await pool?.close();
    await cleanup();
  });

  it("proves the sectors that are there and skips the one whose file is gone", async () => {
    const shape = shapeByName("2KiB")!;
    const located = new Map<number, JobSector>();
    const commR = new Map<number, Uint8Array>();
    for (const number of [11, 12, 13]) {
      const s = await writeSyntheticSector({ storeDir: dir, miner: 1000, number, shape });
      commR.set(number, s.commR);
      located.set(number, { number, commR: toHex(s.commR), sealedFile: s.sealedFile, cacheDir: s.cacheDir });
    }
    const stored = JSON.stringify(partitionJob(deadline("vanilla-bundle"), plan(0, [11, 12, 13]), located));
    // Lost between the check and the proof: the prover reports it faulty.
    await fs.rm(located.get(12)!.sealedFile);

    const local = createVanillaProver("window_post", pool, nullLogger);
    const prove: ProveFn = (task, o) => local(task, o.signal, o.priority);
    const r = await provePartition(parsePartitionJob(JSON.parse(stored)), prove, opts());
    assert.deepEqual(r.faults, [12]);
    assert.deepEqual(r.proof?.proven.toNumbers(), [11, 13]);
    assert.deepEqual(r.proof?.skipped.toNumbers(), [12]);
    const type = parsePoStProofType(PROOF_TYPE);
    for (const [sectorIndex, n] of [11, 13].entries()) {
      const bytes = r.proof?.sectorProofs?.get(n);
      assert.ok(bytes, `sector ${n} has a proof`);
      const proof = decodeFallbackPoStSectorProof(bytes);
      assert.equal(proof.sectorId, BigInt(n));
      const verdict = await verifySector({
        shape,
        sectorNumber: n,
        randomness: seed(),
        apiVersion: type.apiVersion,
        sectorIndex,
        challengeCount: type.challengeCount,
        commR: commR.get(n)!,
        proof: proof.vanillaProof.sectors[0]!,
      });
      assert.deepEqual(verdict, { ok: true }, `sector ${n}`);
    }
  });
});
