/**
 * The node's one interruptible wait (src/util/time.ts sleep): it waits its time, and ends at once when
 * its signal aborts, with the signal's reason when that is one of ours.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AbortedError, SmError } from "../../../src/util/errors.js";
import { sleep } from "../../../src/util/time.js";

test("sleep waits its time without a signal or with one that never aborts", async () => {
  const t0 = performance.now();
  await sleep(50);
  await sleep(50, new AbortController().signal);
  assert.ok(performance.now() - t0 >= 95);
});

test("an abort ends a long sleep at once, with the reason when it is an SmError", async () => {
  const ac = new AbortController();
  const t0 = performance.now();
  setTimeout(() => ac.abort(new SmError("TIMEOUT", "deadline closed")), 20);
  await assert.rejects(
    sleep(60_000, ac.signal),
    (e: unknown) => e instanceof SmError && e.code === "TIMEOUT",
  );
  assert.ok(performance.now() - t0 < 1000);
  const other = new AbortController();
  other.abort();
  await assert.rejects(
    sleep(60_000, other.signal),
    AbortedError,
    "an already aborted signal rejects at once",
  );
});
