import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import { MinerMethod } from "../../../src/chain/message.js";
import { encodeSubmitWindowedPoStParams } from "../../../src/chain/params.js";
import { assertSubmittableProofs } from "../../../src/chain/proofGuard.js";
import { SmError } from "../../../src/util/errors.js";

const params = (partitions: number, proofBytes: number) =>
  encodeSubmitWindowedPoStParams({
    deadline: 3,
    partitions: Array.from({ length: partitions }, (_, index) => ({ index, skipped: BitField.empty() })),
    proofs: [{ postProof: 13, proofBytes: new Uint8Array(proofBytes) }],
    chainCommitEpoch: 100,
    chainCommitRand: new Uint8Array(32),
  });

describe("honest proof types", () => {
  test("the devnet takes vanilla bundles; other networks only 192-byte SNARKs per partition", () => {
    assert.doesNotThrow(() =>
      assertSubmittableProofs("vsm-devnet", MinerMethod.SubmitWindowedPoSt, params(2, 50_000)),
    );
    assert.doesNotThrow(() =>
      assertSubmittableProofs("mainnet", MinerMethod.SubmitWindowedPoSt, params(3, 576)),
    );
    assert.doesNotThrow(() =>
      assertSubmittableProofs("mainnet", MinerMethod.DeclareFaultsRecovered, Uint8Array.of(0x80)),
    );
    assert.throws(
      () => assertSubmittableProofs("calibrationnet", MinerMethod.SubmitWindowedPoSt, params(1, 25_000)),
      (e: unknown) =>
        e instanceof SmError &&
        e.code === "CHAIN_VANILLA_PROOF_REFUSED" &&
        /refusing to send WindowPoSt proofs to calibrationnet/.test(e.message) &&
        /set Bin in each \[\[WdPost\]\] block of ext-prover\.cfg/.test(e.message),
    );
  });
});

describe("the Lotus client refuses vanilla proofs on a real network", () => {
  test("pushMessage throws before MpoolPushMessage is called", async () => {
    const { FakeLotus } = await import("./lotus/fakeLotus.js");
    const { endpoint, FAST, recorded, TOKEN } = await import("./lotus/helpers.js");
    const { LotusChainClient } = await import("../../../src/chain/lotus/client.js");
    const fake = await FakeLotus.start(recorded(), { token: TOKEN });
    const client = new LotusChainClient({ chain: endpoint(fake), ...FAST });
    try {
      await assert.rejects(
        client.pushMessage({
          from: "f01000",
          to: "f01234",
          method: MinerMethod.SubmitWindowedPoSt,
          params: params(1, 25_000),
          value: 0n,
          maxFeeCap: 0n,
        }),
        (e: unknown) =>
          e instanceof SmError && e.code === "CHAIN_VANILLA_PROOF_REFUSED" && /to lotus:/.test(e.message),
      );
      assert.ok(
        !fake.requests.some((r: { method: string }) => r.method === "Filecoin.MpoolPushMessage"),
        "nothing was sent",
      );
    } finally {
      await client.close();
      await fake.close();
    }
  });
});
