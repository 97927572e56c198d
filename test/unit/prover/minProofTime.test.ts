/** The proving-time floor of the built-in processor (VSM_PROVER_MIN_MS, src/prover/minProofTime.ts). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { withMinProofTime } from "../../../src/prover/minProofTime.js";
import type { StageProver } from "../../../src/prover/processor.js";

const task = {} as Parameters<StageProver>[0];
const output = { proofs: [], faults: [] } as unknown as Awaited<ReturnType<StageProver>>;

describe("withMinProofTime", () => {
  test("a fast proof is answered no sooner than the floor, with the real answer", async () => {
    const prove = withMinProofTime(async () => output, 150);
    const t = Date.now();
    assert.equal(await prove(task, new AbortController().signal), output);
    assert.ok(Date.now() - t >= 145, `answered after ${Date.now() - t} ms`);
  });

  test("a failure is not delayed, and 0 is the prover itself", async () => {
    const failing: StageProver = async () => {
      throw new Error("bad sector");
    };
    const t = Date.now();
    await assert.rejects(withMinProofTime(failing, 5000)(task, new AbortController().signal), /bad sector/);
    assert.ok(Date.now() - t < 1000);
    assert.equal(withMinProofTime(failing, 0), failing);
  });

  test("an abort (the parent gone) ends the wait at once", async () => {
    const ac = new AbortController();
    const p = withMinProofTime(async () => output, 10_000)(task, ac.signal);
    const t = Date.now();
    setTimeout(() => ac.abort(new Error("input closed")), 50);
    await assert.rejects(p);
    assert.ok(Date.now() - t < 2000, `ended after ${Date.now() - t} ms`);
  });
});
