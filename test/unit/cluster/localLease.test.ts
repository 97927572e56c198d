/**
 * The holder's own view of a lease (src/cluster/localLease.ts): valid until the start of its last
 * successful renewal + lease − margin, checked on the clock at the last moment, and lost at once when
 * the database says so.
 */
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LocalLease } from "../../../src/cluster/localLease.js";
import { SmError } from "../../../src/util/errors.js";

const isLost = (e: unknown) => e instanceof SmError && e.code === "CLUSTER_LEASE_LOST";

describe("LocalLease", () => {
  test("valid until start + lease − margin; renewals extend it from their own start; then the signal aborts", async () => {
    const l = new LocalLease("task x", 300, 100, performance.now());
    l.check();
    assert.ok(l.left() > 150 && l.left() <= 200, `left ${l.left()}`);
    await sleep(120);
    l.renewed(performance.now());
    await sleep(120);
    l.check(); // 240 ms after the claim: still valid thanks to the renewal
    assert.equal(l.signal.aborted, false);
    await sleep(150);
    assert.equal(l.signal.aborted, true, "aborted by its timer once the local end passed");
    assert.throws(() => l.check(), isLost);
    assert.match(
      String((l.signal.reason as Error).message),
      /task x: lease lost: not renewed within the lease/,
    );
    assert.equal(l.left(), 0);
  });

  test("check() reads the clock itself: a frozen event loop is caught before any timer runs", () => {
    const l = new LocalLease("group y", 100, 20, performance.now());
    const until = performance.now() + 100;
    while (performance.now() < until) {
      // Busy: the timer cannot run, as in a process stopped and resumed.
    }
    assert.equal(l.signal.aborted, false, "the timer has not run yet");
    assert.throws(() => l.check(), isLost);
    assert.equal(l.signal.aborted, true);
    l.release();
  });

  test("a renewal that started before the current end never shortens it; lose() ends it at once and renewals no longer help", () => {
    const start = performance.now();
    const l = new LocalLease("recovery z", 10_000, 1000, start);
    l.renewed(start - 5000);
    assert.ok(l.left() > 8000);
    l.lose("the database no longer has it");
    assert.throws(
      () => l.check(),
      (e: unknown) => isLost(e) && /the database no longer has it/.test((e as Error).message),
    );
    l.renewed(performance.now());
    assert.equal(l.left(), 0);
  });
});
