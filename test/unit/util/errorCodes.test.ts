/**
 * Error codes: every domain's list, the one union they make, the JSON-RPC table that must place each
 * of them, and what happens to a code read from another process.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CHAIN_ERROR_CODES } from "../../../src/chain/errors.js";
import { CLI_ERROR_CODES } from "../../../src/cli/errors.js";
import { CLUSTER_ERROR_CODES } from "../../../src/cluster/errors.js";
import { CONFIG_ERROR_CODES } from "../../../src/config/errors.js";
import { DAEMON_ERROR_CODES } from "../../../src/daemon/errors.js";
import { DEVNET_ERROR_CODES } from "../../../src/devnet/errors.js";
import { MINER_ERROR_CODES } from "../../../src/miner/errors.js";
import { POSTER_ERROR_CODES } from "../../../src/poster/errors.js";
import { PROOF_ERROR_CODES } from "../../../src/proofs/proofErrors.js";
import { PROVER_ERROR_CODES } from "../../../src/prover/errors.js";
import {
  type DeclaredErrorCode,
  isErrorCode,
  RPC_APP_ERROR,
  RPC_ERROR_CODES,
  RPC_ERROR_NUMBERS,
  RPC_INVALID_PARAMS,
  RPC_METHOD_NOT_FOUND,
  RpcError,
  rpcCodeFor,
} from "../../../src/rpc/errors.js";
import { SECTORS_ERROR_CODES } from "../../../src/sectors/errors.js";
import { STORE_ERROR_CODES } from "../../../src/store/errors.js";
import { PG_ERROR_CODES } from "../../../src/store/pg/errors.js";
import { type ErrorCode, SmError, UTIL_ERROR_CODES } from "../../../src/util/errors.js";

/** Every declared code: the keys of the JSON-RPC table, which its type forces to be complete. */
const DECLARED = Object.keys(RPC_ERROR_NUMBERS) as DeclaredErrorCode[];

/** Every domain's list, by the domain that declares it. */
const DOMAINS: Record<string, readonly string[]> = {
  util: UTIL_ERROR_CODES,
  proofs: Object.values(PROOF_ERROR_CODES),
  store: STORE_ERROR_CODES,
  "store/pg": PG_ERROR_CODES,
  cluster: CLUSTER_ERROR_CODES,
  config: CONFIG_ERROR_CODES,
  rpc: RPC_ERROR_CODES,
  chain: CHAIN_ERROR_CODES,
  sectors: SECTORS_ERROR_CODES,
  prover: PROVER_ERROR_CODES,
  poster: POSTER_ERROR_CODES,
  miner: MINER_ERROR_CODES,
  devnet: DEVNET_ERROR_CODES,
  daemon: DAEMON_ERROR_CODES,
  cli: CLI_ERROR_CODES,
};

describe("error codes", () => {
  test("every code is declared by exactly one domain, and the JSON-RPC table holds exactly the declared codes", () => {
    const owner = new Map<string, string>();
    for (const [domain, codes] of Object.entries(DOMAINS)) {
      for (const code of codes) {
        assert.match(code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/, `${domain}: ${code} is not UPPER_SNAKE`);
        const first = owner.get(code);
        assert.equal(first, undefined, `${code} is declared by both ${first} and ${domain}`);
        owner.set(code, domain);
      }
    }
    // A domain list missing here would leave its codes in the table only; a code in a list but not in
    // the table cannot compile. Comparing both ways also catches a list this test forgot.
    assert.deepEqual([...DECLARED].sort(), [...owner.keys()].sort());
  });

  test("the JSON-RPC table gives every code a number, and no two conditions the same one", () => {
    const byNumber = new Map<number, DeclaredErrorCode>();
    for (const code of DECLARED) {
      const n = rpcCodeFor(code);
      assert.ok(Number.isInteger(n), code);
      if (n === RPC_APP_ERROR) continue;
      assert.ok(n < 0, `${code}: ${n} is not a JSON-RPC error number`);
      assert.equal(byNumber.get(n), undefined, `${code} and ${byNumber.get(n)} share ${n}`);
      byNumber.set(n, code);
    }
    // The numbers clients already match on.
    assert.equal(rpcCodeFor("RPC_PERMISSION_DENIED"), -32001);
    assert.equal(rpcCodeFor("RPC_UNAUTHENTICATED"), -32002);
    assert.equal(rpcCodeFor("RPC_INVALID_PARAMS"), RPC_INVALID_PARAMS);
    assert.equal(rpcCodeFor("RPC_METHOD_NOT_FOUND"), RPC_METHOD_NOT_FOUND);
    assert.equal(rpcCodeFor("SECTORS_READ_ONLY"), -32010);
    assert.equal(rpcCodeFor("ABORTED"), -32020);
    assert.equal(rpcCodeFor("MINER_UNKNOWN"), -32030);
    assert.equal(rpcCodeFor("PROOF_CORRUPT"), RPC_APP_ERROR);
    assert.equal(rpcCodeFor("RPC_-32603"), RPC_APP_ERROR, "a peer's error passed on has no number of ours");
  });

  test("isErrorCode accepts the declared codes and a peer's RPC_<n>, nothing else", () => {
    for (const code of DECLARED) assert.equal(isErrorCode(code), true, code);
    for (const code of ["RPC_-32603", "RPC_1", "RPC_0"]) assert.equal(isErrorCode(code), true, code);
    for (const code of [
      "TYPO_CODE",
      "",
      "aborted",
      "RPC_",
      "RPC_x",
      "RPC_1.5",
      "toString",
      "__proto__",
      "constructor",
    ])
      assert.equal(isErrorCode(code), false, JSON.stringify(code));
  });
});

describe("codes from another process", () => {
  test("fromJSON keeps a declared code, message and fields", () => {
    const sent = new SmError("EXT_PROVER_TASK_FAILED", "WdPost[0] (pid 7): out of memory", {
      block: "WdPost[0]",
    });
    const back = SmError.fromJSON(JSON.parse(JSON.stringify(sent.toJSON())), isErrorCode);
    assert.equal(back.code, "EXT_PROVER_TASK_FAILED");
    assert.equal(back.message, "WdPost[0] (pid 7): out of memory");
    assert.deepEqual(back.fields, { block: "WdPost[0]" });
  });

  test("fromJSON turns a code this version does not declare into UNKNOWN, and keeps the code sent", () => {
    const back = SmError.fromJSON(
      { code: "PROVER_GPU_ON_FIRE", message: "hot", fields: { gpu: 0 } },
      isErrorCode,
    );
    assert.equal(back.code, "UNKNOWN");
    assert.equal(back.message, "hot");
    assert.deepEqual(back.fields, { gpu: 0, unknownCode: "PROVER_GPU_ON_FIRE" });
  });

  test("fromJSON of a value without a code, or not an object, is UNKNOWN", () => {
    const noCode = SmError.fromJSON({ message: "no code" }, isErrorCode);
    assert.equal(noCode.code, "UNKNOWN");
    assert.equal(noCode.message, "no code");
    assert.deepEqual(noCode.fields, {});
    const notCode = SmError.fromJSON({ code: 42, message: "numeric code" }, isErrorCode);
    assert.equal(notCode.code, "UNKNOWN");
    const text = SmError.fromJSON("worker crashed", isErrorCode);
    assert.equal(text.code, "UNKNOWN");
    assert.equal(text.message, "worker crashed");
    assert.equal(SmError.fromJSON(null, isErrorCode).code, "UNKNOWN");
  });

  test("an RpcError keeps a declared code, and turns an unknown one into RPC_<n> with the code sent kept", () => {
    const known = new RpcError(-32010, "read-only", "SECTORS_READ_ONLY", { peer: "p" });
    assert.equal(known.code, "SECTORS_READ_ONLY");
    assert.deepEqual(known.fields, { peer: "p" });
    const none = new RpcError(-32603, "boom", undefined, { peer: "p" });
    assert.equal(none.code, "RPC_-32603");
    assert.deepEqual(none.fields, { peer: "p" });
    const unknown = new RpcError(-32099, "new in v9", "SECTORS_FROM_THE_FUTURE", { peer: "p" });
    assert.equal(unknown.code, "RPC_-32099");
    assert.equal(unknown.rpcCode, -32099);
    assert.deepEqual(unknown.fields, { peer: "p", peerCode: "SECTORS_FROM_THE_FUTURE" });
  });
});

test("a code no domain declares does not compile", () => {
  // These lines are checked by `tsc -p tsconfig.json --noEmit`: each @ts-expect-error fails the type
  // check if the line below it compiles, that is if a free string became acceptable as a code.
  // @ts-expect-error TYPO_CODE is no domain's code
  const typo = new SmError("TYPO_CODE", "x");
  assert.equal(typo.code, "TYPO_CODE", "at run time a code is still a string");

  const err: SmError = new SmError("CHAIN_UNREACHABLE", "down");
  // @ts-expect-error comparing a code with an undeclared string has no overlap
  assert.equal(err.code === "CHAIN_UNREACHEABLE", false);

  const free: string = "CHAIN_UNREACHABLE";
  // @ts-expect-error a string is not a code until a guard narrows it
  const unchecked: ErrorCode = free;
  assert.equal(unchecked, "CHAIN_UNREACHABLE");
  if (isErrorCode(free)) assert.equal(new SmError(free, "narrowed").code, "CHAIN_UNREACHABLE");

  // @ts-expect-error a table over the codes must place every one of them
  const partial: Record<DeclaredErrorCode, number> = { ABORTED: 1 };
  assert.equal(partial.ABORTED, 1);
});
