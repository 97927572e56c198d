/**
 * The stop schedule of an ext-prover child on its own (src/prover/ext/stopSchedule.ts), under
 * node:test's mock timers: SIGTERM, SIGKILL and giving up at the plan's times, a second stop
 * that only ever moves steps earlier, and an end that drops what has not happened.
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import {
  MAX_TIMER_MS,
  RELOAD_STOP,
  SHUTDOWN_STOP,
  StopSchedule,
  type StopSteps,
  timerMs,
} from "../../../src/prover/ext/stopSchedule.js";

function recorder(): { steps: StopSteps; log: string[] } {
  const log: string[] = [];
  const at = () => Date.now();
  return {
    log,
    steps: {
      term: (reason) => log.push(`term@${at()} ${reason}`),
      kill: (reason) => log.push(`kill@${at()} ${reason}`),
      giveUp: (reason) => log.push(`giveUp@${at()} ${reason}`),
    },
  };
}

/** Advances the mock clock 10 ms at a time, so that each step sees the time it was due at. */
function advance(ms: number): void {
  for (let t = 0; t < ms; t += 10) mock.timers.tick(10);
}

describe("ext-prover stop schedule", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 }));
  afterEach(() => mock.timers.reset());

  it("a shutdown: SIGTERM at 0.5 s, SIGKILL at 1.5 s, given up at 1.9 s, then done", async () => {
    const { steps, log } = recorder();
    const s = new StopSchedule(SHUTDOWN_STOP, "shutdown", steps);
    let done = false;
    void s.done.then(() => {
      done = true;
    });
    advance(490);
    assert.deepEqual(log, []);
    advance(10);
    advance(1000);
    advance(400);
    assert.deepEqual(log, ["term@500 shutdown", "kill@1500 shutdown", "giveUp@1900 shutdown"]);
    await s.done;
    assert.ok(done);
  });

  it("a shutdown during a reload's stop moves every step not yet taken earlier", () => {
    const { steps, log } = recorder();
    const s = new StopSchedule(RELOAD_STOP, "reload", steps);
    advance(3200); // the reload's SIGTERM went at 3 s
    s.tighten(SHUTDOWN_STOP, "shutdown");
    advance(5000);
    // SIGTERM is not sent again; SIGKILL and the give-up come at 3.2 s + 1.5 s and + 1.9 s.
    assert.deepEqual(log, ["term@3000 reload", "kill@4700 shutdown", "giveUp@5100 shutdown"]);
  });

  it("a later, longer plan never delays a step", () => {
    const { steps, log } = recorder();
    const s = new StopSchedule(SHUTDOWN_STOP, "shutdown", steps);
    advance(100);
    s.tighten(RELOAD_STOP, "reload");
    advance(10_000);
    assert.deepEqual(log, ["term@500 shutdown", "kill@1500 shutdown", "giveUp@1900 shutdown"]);
  });

  it("end() (the exit was seen) drops the pending steps and settles the stop", async () => {
    const { steps, log } = recorder();
    const s = new StopSchedule(SHUTDOWN_STOP, "shutdown", steps);
    advance(600);
    s.end();
    s.tighten(SHUTDOWN_STOP, "again");
    advance(10_000);
    assert.deepEqual(log, ["term@500 shutdown"]);
    await s.done;
  });

  it("timers are clamped to what setTimeout can hold", () => {
    assert.equal(timerMs(-5), 0);
    assert.equal(timerMs(10), 10);
    assert.equal(timerMs(2 ** 40), MAX_TIMER_MS);
  });
});
