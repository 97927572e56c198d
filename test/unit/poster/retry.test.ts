import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { nullLogger } from "../../../src/log/logger.js";
import {
  isRetryableProverFailure,
  isTransient,
  retryClassOf,
  retryTransient,
} from "../../../src/poster/retry.js";
import { type DeclaredErrorCode, RPC_ERROR_NUMBERS, RpcError } from "../../../src/rpc/errors.js";
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

describe("what is retried, by code", () => {
  const DECLARED = Object.keys(RPC_ERROR_NUMBERS) as DeclaredErrorCode[];

  test("only an unreachable node, source or database, a database conflict and a timeout are transient; only a task no prover can take, a bug and shutdown are permanent", () => {
    const transient = DECLARED.filter((c) => retryClassOf(c) === "transient");
    const permanent = DECLARED.filter((c) => retryClassOf(c) === "permanent");
    assert.deepEqual(transient.sort(), [
      "CHAIN_UNREACHABLE",
      "RPC_UNREACHABLE",
      "SECTORS_SOURCE_UNAVAILABLE",
      "STORE_DB_CONFLICT",
      "STORE_DB_UNREACHABLE",
      "TIMEOUT",
    ]);
    assert.deepEqual(permanent.sort(), [
      "EXT_PROVER_CLOSED",
      "POSTER_BAD_JOB",
      "POSTER_INTERNAL",
      "PROOF_BAD_RANDOMNESS",
      "PROOF_UNKNOWN_TYPE",
      "PROVER_POOL_CLOSED",
    ]);
    for (const code of DECLARED) {
      const e = new SmError(code, "x");
      assert.equal(isTransient(e), transient.includes(code), code);
      assert.equal(isRetryableProverFailure(e), !permanent.includes(code), code);
    }
  });

  test("a peer's error without a code of ours is neither transient nor permanent", () => {
    const e = new RpcError(-32603, "internal error");
    assert.equal(e.code, "RPC_-32603");
    assert.equal(retryClassOf(e.code), "failure");
    assert.equal(isTransient(e), false);
    assert.equal(isRetryableProverFailure(e), true);
  });
});
