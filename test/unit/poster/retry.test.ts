import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { nullLogger } from "../../../src/log/logger.js";
import { retryTransient } from "../../../src/poster/retry.js";
import { AbortedError, SmError } from "../../../src/util/errors.js";

describe("retryTransient", () => {
  test("retries an unreachable chain or source until it answers", async () => {
    let n = 0;
    const v = await retryTransient(
      "x",
      async () => {
        n++;
        if (n < 3) throw new SmError(n === 1 ? "CHAIN_UNREACHABLE" : "SECTORS_SOURCE_UNAVAILABLE", "down");
        return 42;
      },
      new AbortController().signal,
      nullLogger,
    );
    assert.equal(v, 42);
    assert.equal(n, 3);
  });

  test("does not retry other errors, and stops when the deadline is aborted", async () => {
    await assert.rejects(
      retryTransient(
        "x",
        async () => Promise.reject(new SmError("PROOF_CORRUPT", "bad")),
        new AbortController().signal,
        nullLogger,
      ),
      /bad/,
    );
    const ac = new AbortController();
    setTimeout(() => ac.abort(new AbortedError("closed")), 100);
    const t0 = Date.now();
    await assert.rejects(
      retryTransient(
        "x",
        async () => Promise.reject(new SmError("CHAIN_UNREACHABLE", "down")),
        ac.signal,
        nullLogger,
      ),
    );
    assert.ok(Date.now() - t0 < 1500, "stopped at the abort, not after the backoff");
  });
});
