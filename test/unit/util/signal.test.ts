import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { describe, test } from "node:test";
import { linkSignals } from "../../../src/util/signal.js";

describe("linkSignals", () => {
  test("aborts with the reason of the first source that aborts", () => {
    const a = new AbortController();
    const b = new AbortController();
    const l = linkSignals([a.signal, undefined, b.signal]);
    assert.equal(l.signal.aborted, false);
    b.abort(new Error("b stopped"));
    assert.equal(l.signal.aborted, true);
    assert.equal((l.signal.reason as Error).message, "b stopped");
    assert.equal(l.timedOut(), false);
    l.done();
  });

  test("an already aborted source aborts it at once and leaves no listener", () => {
    const live = new AbortController();
    const l = linkSignals([live.signal, AbortSignal.abort("gone")]);
    assert.equal(l.signal.aborted, true);
    assert.equal(l.signal.reason, "gone");
    assert.equal(getEventListeners(live.signal, "abort").length, 0);
  });

  test("times out after its limit, and says so", async () => {
    const l = linkSignals([new AbortController().signal], { timeoutMs: 20 });
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(l.signal.aborted, true);
    assert.equal(l.timedOut(), true);
    assert.equal((l.signal.reason as DOMException).name, "TimeoutError");
    l.done();
  });

  test("done() removes its listeners from a long-lived source, so nothing piles up on it", () => {
    const closing = new AbortController();
    for (let i = 0; i < 1000; i++) {
      const l = linkSignals([closing.signal], { timeoutMs: 60_000 });
      l.done();
      l.done();
    }
    assert.equal(getEventListeners(closing.signal, "abort").length, 0);
    const kept = linkSignals([closing.signal]);
    assert.equal(getEventListeners(closing.signal, "abort").length, 1);
    kept.done();
    // After done() the derived signal no longer follows its source.
    closing.abort();
    assert.equal(kept.signal.aborted, false);
  });
});
