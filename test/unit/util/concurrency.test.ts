import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { limitInFlight, mapLimit } from "../../../src/util/concurrency.js";
import { SmError } from "../../../src/util/errors.js";

const tick = () => new Promise<void>((r) => setImmediate(r));

describe("limitInFlight", () => {
  test("runs at most the limit at once, the others in arrival order", async () => {
    const limited = limitInFlight(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const gates: (() => void)[] = [];
    const calls = [0, 1, 2, 3, 4].map((i) =>
      limited(async () => {
        started.push(i);
        most = Math.max(most, ++running);
        await new Promise<void>((r) => gates.push(r));
        running--;
        return i;
      }),
    );
    await tick();
    assert.deepEqual(started, [0, 1]);
    while (gates.length > 0) {
      gates.shift()?.();
      await tick();
      await tick();
    }
    assert.deepEqual(await Promise.all(calls), [0, 1, 2, 3, 4]);
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    assert.equal(most, 2);
  });

  test("a call that fails frees its slot", async () => {
    const limited = limitInFlight(1);
    await assert.rejects(
      limited(async () => {
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.equal(await limited(async () => 7), 7);
  });

  test("a waiting call whose signal aborts leaves the line with the signal's reason, and never runs; an aborted one never starts", async () => {
    const limited = limitInFlight(1);
    let release = () => {};
    const first = limited(() => new Promise<void>((r) => (release = r)));
    const ac = new AbortController();
    let ran = false;
    const second = limited(async () => {
      ran = true;
    }, ac.signal);
    const third = limited(async () => "third");
    ac.abort(new SmError("TIMEOUT", "caller gave up"));
    await assert.rejects(second, (e: unknown) => e instanceof SmError && e.code === "TIMEOUT");
    release();
    await first;
    assert.equal(await third, "third");
    assert.equal(ran, false);
    const done = new AbortController();
    done.abort();
    await assert.rejects(
      limited(async () => 1, done.signal),
      (e: unknown) => e instanceof SmError && e.code === "ABORTED",
    );
  });
});

describe("mapLimit", () => {
  test("keeps input order with bounded calls in flight", async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 3, 2, 4], 2, async (x) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, x));
      running--;
      return x * 10;
    });
    assert.deepEqual(out, [50, 10, 30, 20, 40]);
    assert.equal(most, 2);
  });
});
