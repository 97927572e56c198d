/** The job a partition task carries (src/cluster/taskJob.ts): JSON round trip and refusal of a damaged one. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import { encodeTaskJob, jobTodo, parseTaskJob, type TaskJob } from "../../../src/cluster/taskJob.js";
import { SmError } from "../../../src/util/errors.js";

const job: TaskJob = {
  actor: 1000,
  deadline: 3,
  open: 1200,
  close: 1260,
  partition: 2,
  proofType: "StackedDrgWindow2KiBV1_2",
  postProof: 10,
  seed: new Uint8Array(32).fill(7),
  format: "vanilla-bundle",
  strict: true,
  toProve: BitField.fromNumbers([4, 5, 9]),
  infos: new Map([
    [4, { sectorNumber: 4, sealedCid: "bagboea4b5abcA", sectorKeyCid: null }],
    [9, { sectorNumber: 9, sealedCid: "bagboea4b5abcB", sectorKeyCid: "bagboea4b5abcK" }],
  ]),
};

const bad = (v: unknown, re: RegExp) =>
  assert.throws(
    () => parseTaskJob(v),
    (e: unknown) => e instanceof SmError && e.code === "CLUSTER_BAD_JOB" && re.test(e.message),
  );

describe("partition task job", () => {
  test("survives JSON unchanged: sectors, upgrade marks, seed, the partition as the check takes it", () => {
    const back = parseTaskJob(JSON.parse(JSON.stringify(encodeTaskJob(job))));
    assert.deepEqual(back.toProve.toNumbers(), [4, 5, 9]);
    assert.deepEqual(Buffer.from(back.seed), Buffer.from(job.seed));
    assert.deepEqual([...back.infos.keys()], [4, 9]);
    assert.equal(back.infos.get(4)?.sectorKeyCid, null);
    assert.notEqual(back.infos.get(9)?.sectorKeyCid, null, "an upgraded sector stays upgraded");
    assert.deepEqual(
      { ...back, seed: undefined, toProve: undefined, infos: undefined },
      { ...job, seed: undefined, toProve: undefined, infos: undefined },
    );
    const todo = jobTodo(back);
    assert.equal(todo.index, 2);
    assert.deepEqual(
      todo.partition.liveSectors.subtract(todo.partition.faultySectors).toNumbers(),
      [4, 5, 9],
    );
  });

  test("a damaged job is refused with what is wrong", () => {
    const doc = encodeTaskJob(job) as unknown as Record<string, unknown>;
    bad(null, /not an object/);
    bad({ ...doc, v: 2 }, /unknown version 2/);
    bad({ ...doc, close: -1 }, /close is not a non-negative integer/);
    bad({ ...doc, seed: "00" }, /seed is not 32 hex bytes/);
    bad({ ...doc, format: "groth" }, /unknown format groth/);
    bad({ ...doc, strict: "yes" }, /strict is not a boolean/);
    bad({ ...doc, toProve: "!!" }, /toProve is not base64/);
    bad({ ...doc, sectors: [[4, "x"]] }, /sectors\[0\] is not \[number, sealedCid, upgraded\]/);
    bad({ ...doc, sectors: [[6, "x", false]] }, /sector 6 is listed but not to prove/);
  });
});
