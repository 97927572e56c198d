/**
 * LotusChainClient against a real loopback JSON-RPC server answering with recorded Lotus and
 * venus-messager JSON (recordings.ts cites the documents and versions): decoded domain values, the
 * request encoding (TipSetKey, bitfield filter, entropy, message JSON), the bearer token and venus'
 * namespace header, and the venus-messager path (PushMessageWithId / WaitMessage).
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Address } from "../../../../src/chain/address.js";
import { BitField } from "../../../../src/chain/bitfield.js";
import { HEAD, RANDOMNESS_TAG } from "../../../../src/chain/interface.js";
import { LotusChainClient } from "../../../../src/chain/lotus/client.js";
import { parseApiEndpoint } from "../../../../src/chain/lotus/endpoint.js";
import { cborAddressBytes } from "../../../../src/chain/lotus/shapes.js";
import { SmError } from "../../../../src/util/errors.js";
import { FakeLotus } from "./fakeLotus.js";
import { endpoint, FAST, isCode, recorded, TOKEN, TSK } from "./helpers.js";
import * as R from "./recordings.js";

describe("reads decode the recorded Lotus answers", () => {
  let fake: FakeLotus;
  let client: LotusChainClient;
  before(async () => {
    fake = await FakeLotus.start(recorded(), { token: TOKEN });
    client = new LotusChainClient({ chain: endpoint(fake), ...FAST });
  });
  after(async () => {
    client.close();
    await fake.close();
  });

  test("networkName, chainHead, stateNetworkVersion", async () => {
    assert.equal(await client.networkName(), "lotus");
    assert.deepEqual(await client.chainHead(), {
      key: ["bafy2bzacedo7hjsumaajt6sbor42qycvjyk6goqe4oi4o4ddsjxkdeqrqf42c"],
      height: 4863283,
      timestamp: 1744204890,
      parents: [
        "bafy2bzaceba2kdmysmi5ieugzvv5np7f2lobayzpvtk777du74n7jq6xhynda",
        "bafy2bzacecrye24tkqrvvddcf62gfi4z4o33z2tdedbpaalordozaxfrz2jyi",
        "bafy2bzaceab5mrohjvnp3mz7mo33ky7qqlmssrs7veqmjrgouafxyhnd5dy66",
      ],
      // The recorded mainnet head's ParentBaseFee, in attoFIL.
      parentBaseFee: 20592036n,
    });
    assert.equal(await client.stateNetworkVersion(HEAD), 29);
    const last = fake.requests.at(-1)!;
    assert.deepEqual(last.params, [null], "the head is sent as a null TipSetKey");
  });

  test("calls go over the WebSocket with the bearer token and venus' namespace header", () => {
    for (const r of fake.requests) {
      assert.equal(r.transport, "ws");
      assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);
      assert.equal(r.headers["x-venus-api-namespace"], "v1.FullNode");
    }
  });

  test("stateMinerInfo and stateMinerProvingDeadline", async () => {
    assert.deepEqual(await client.stateMinerInfo("f01234", TSK), {
      owner: "f01234",
      worker: "f01234",
      controlAddresses: ["f01234"],
      windowPoStProofType: 8,
      sectorSize: 34359738368,
      windowPoStPartitionSectors: 42,
    });
    assert.deepEqual(fake.requests.at(-1)!.params, ["f01234", [{ "/": TSK[0] }]]);
    assert.deepEqual(await client.stateMinerProvingDeadline("f01234", HEAD), {
      currentEpoch: 10101,
      periodStart: 10101,
      index: 42,
      open: 10101,
      close: 10101,
      challenge: 10101,
      faultCutoff: 10101,
      wPoStPeriodDeadlines: 42,
      wPoStProvingPeriod: 10101,
      wPoStChallengeWindow: 10101,
      wPoStChallengeLookback: 10101,
      faultDeclarationCutoff: 10101,
    });
  });

  test("stateMinerPartitions: RLE run arrays become BitFields", async () => {
    const parts = await client.stateMinerPartitions("f01234", 42, TSK);
    assert.equal(parts.length, 1);
    for (const bf of Object.values(parts[0]!)) assert.deepEqual(bf.toNumbers(), [5]);
    assert.deepEqual(fake.requests.at(-1)!.params, ["f01234", 42, [{ "/": TSK[0] }]]);
  });

  test("stateMinerDeadlines: PostSubmissions runs become a BitField; DailyFee is ignored", async () => {
    const dls = await client.stateMinerDeadlines("f01234", TSK);
    assert.equal(dls.length, 1);
    assert.deepEqual(dls[0]!.postSubmissions.toNumbers(), [5]);
    assert.equal(dls[0]!.disputableProofCount, 42);
    assert.deepEqual(fake.requests.at(-1)!.params, ["f01234", [{ "/": TSK[0] }]]);
  });

  test("stateMinerSectors / stateSectorGetInfo", async () => {
    const want = {
      sectorNumber: 9,
      sealProof: 8,
      sealedCid: "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
      activation: 10101,
      expiration: 10101,
      sectorKeyCid: "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
    };
    assert.deepEqual(await client.stateMinerSectors("f01234", BitField.fromNumbers([0, 1, 2, 9]), HEAD), [
      want,
    ]);
    assert.deepEqual(fake.requests.at(-1)!.params, ["f01234", [0, 3, 6, 1], null]);
    await client.stateMinerSectors("f01234", null, HEAD);
    assert.deepEqual(fake.requests.at(-1)!.params, ["f01234", null, null]);
    assert.deepEqual(await client.stateSectorGetInfo("f01234", 9, HEAD), want);
  });

  test("stateSectorGetInfo: null (not found) is null", async () => {
    const f = await FakeLotus.start({ "Filecoin.StateSectorGetInfo": () => null });
    const c = new LotusChainClient({ chain: endpoint(f, null), ...FAST });
    try {
      assert.equal(await c.stateSectorGetInfo("f01234", 9, HEAD), null);
    } finally {
      c.close();
      await f.close();
    }
  });

  test("randomness: entropy = CBOR of the miner address, base64; 32 bytes back", async () => {
    const entropy = cborAddressBytes(Address.fromString("f01234").toBytes());
    assert.deepEqual([...entropy], [0x43, 0x00, 0xd2, 0x09]);
    // A BLS address (49 bytes) needs CBOR's one-byte length form: 0x58, 49.
    const bls = cborAddressBytes(Uint8Array.of(3, ...new Uint8Array(48).fill(1)));
    assert.deepEqual([...bls.subarray(0, 3)], [0x58, 49, 3]);
    assert.equal(bls.length, 51);
    const r = await client.stateGetRandomnessFromBeacon(
      RANDOMNESS_TAG.WindowedPoStChallengeSeed,
      100,
      entropy,
      TSK,
    );
    assert.deepEqual(r, new Uint8Array(32).fill(7));
    assert.deepEqual(fake.requests.at(-1)!.params, [4, 100, "QwDSCQ==", [{ "/": TSK[0] }]]);
    const t = await client.stateGetRandomnessFromTickets(
      RANDOMNESS_TAG.PoStChainCommit,
      80,
      new Uint8Array(),
      HEAD,
    );
    assert.equal(t.length, 32);
    assert.deepEqual(fake.requests.at(-1)!.params, [9, 80, "", null]);
  });

  test("stateGetActor / stateLookupID", async () => {
    assert.deepEqual(await client.stateGetActor("f01234", HEAD), {
      code: "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
      nonce: 42,
      balance: 0n,
    });
    assert.equal(await client.stateLookupID("f01234", HEAD), "f01234");
  });

  test("pushMessage → MpoolPushMessage; waitMessage → StateWaitMsg", async () => {
    const pushed = await client.pushMessage({
      from: "f01000",
      to: "f01234",
      method: 11,
      params: Uint8Array.of(0x82, 0x01, 0x02),
      value: 0n,
      maxFeeCap: 5_000_000_000n,
    });
    assert.deepEqual(pushed, { cid: "bafy2bzacebbpdegvr3i4cosewthysg5xkxpqfn2wfcz6mv2hmoktwbdxkax4s" });
    const req = fake.requests.at(-1)!;
    assert.equal(req.method, "Filecoin.MpoolPushMessage");
    assert.deepEqual(req.params, [
      {
        Version: 0,
        To: "f01234",
        From: "f01000",
        Nonce: 0,
        Value: "0",
        GasLimit: 0,
        GasFeeCap: "5000000000",
        GasPremium: "0",
        Method: 11,
        Params: "ggEC",
      },
      { MaxFee: "0" },
    ]);
    const receipt = await client.waitMessage(pushed.cid, 5);
    assert.deepEqual(receipt, {
      exitCode: 0,
      return: new Uint8Array(Buffer.from("byte array")),
      gasUsed: 9,
      height: 10101,
    });
    assert.deepEqual(fake.requests.at(-1)!.params, [{ "/": pushed.cid }, 5, -1, true]);
  });
});

describe("[Miners.PoSt] GasOverEstimation and GasOverPremium without a messager", () => {
  let fake: FakeLotus;
  let client: LotusChainClient;
  before(async () => {
    fake = await FakeLotus.start(
      recorded({
        "Filecoin.GasEstimateGasLimit": () => 1_000_000,
        "Filecoin.GasEstimateGasPremium": () => "2000",
      }),
    );
    client = new LotusChainClient({ chain: endpoint(fake, null), ...FAST });
  });
  after(async () => {
    client.close();
    await fake.close();
  });
  const msg = { from: "f01000", to: "f01234", method: 11, params: Uint8Array.of(1), value: 0n };

  test("the gas limit is the node's estimate × GasOverEstimation, the premium its estimate × GasOverPremium", async () => {
    fake.requests.length = 0;
    await client.pushMessage({
      ...msg,
      maxFeeCap: 5_000_000_000n,
      gasOverEstimation: 1.5,
      gasOverPremium: 2.5,
    });
    assert.deepEqual(
      fake.requests.map((r) => r.method),
      ["Filecoin.GasEstimateGasLimit", "Filecoin.GasEstimateGasPremium", "Filecoin.MpoolPushMessage"],
    );
    assert.deepEqual(fake.requests[1]!.params, [10, "f01000", 1_500_000, null]);
    const sent = fake.requests[2]!.params[0] as { GasLimit: number; GasPremium: string; GasFeeCap: string };
    assert.equal(sent.GasLimit, 1_500_000, "1.5 × 1,000,000");
    assert.equal(sent.GasPremium, "5000", "2.5 × 2000 attoFIL");
    assert.equal(sent.GasFeeCap, "5000000000");
  });

  test("the premium never exceeds the fee cap; 0 leaves limit and premium to the node", async () => {
    fake.requests.length = 0;
    await client.pushMessage({ ...msg, maxFeeCap: 3000n, gasOverEstimation: 1, gasOverPremium: 100 });
    const capped = fake.requests.at(-1)!.params[0] as { GasLimit: number; GasPremium: string };
    assert.equal(capped.GasLimit, 1_000_000);
    assert.equal(capped.GasPremium, "3000", "100 × 2000 capped at GasFeeCap 3000");
    fake.requests.length = 0;
    await client.pushMessage({ ...msg, maxFeeCap: 0n, gasOverEstimation: 0, gasOverPremium: 0 });
    assert.deepEqual(
      fake.requests.map((r) => r.method),
      ["Filecoin.MpoolPushMessage"],
      "no estimate asked",
    );
    const left = fake.requests[0]!.params[0] as { GasLimit: number; GasPremium: string };
    assert.equal(left.GasLimit, 0);
    assert.equal(left.GasPremium, "0");
  });

  test("beforeSend runs after gas estimation, right before the push; throwing stops the push", async () => {
    fake.requests.length = 0;
    let seenBefore: string[] = [];
    await client.pushMessage(
      { ...msg, maxFeeCap: 5_000_000_000n, gasOverEstimation: 1.5, gasOverPremium: 2.5 },
      {
        beforeSend: () => {
          seenBefore = fake.requests.map((r) => r.method);
        },
      },
    );
    assert.deepEqual(seenBefore, ["Filecoin.GasEstimateGasLimit", "Filecoin.GasEstimateGasPremium"]);
    assert.equal(fake.requests.at(-1)?.method, "Filecoin.MpoolPushMessage");
    fake.requests.length = 0;
    await assert.rejects(
      client.pushMessage(
        { ...msg, maxFeeCap: 5_000_000_000n, gasOverEstimation: 1.5 },
        {
          beforeSend: () => {
            throw new SmError("CLUSTER_LEASE_LOST", "lease over");
          },
        },
      ),
      /lease over/,
    );
    assert.deepEqual(
      fake.requests.map((r) => r.method),
      ["Filecoin.GasEstimateGasLimit"],
      "nothing pushed",
    );
  });

  test("with a messager, an idempotency id is passed as PushMessageWithId's id", async () => {
    const messager = await FakeLotus.start({ "Message.PushMessageWithId": (p) => p[0] });
    const c = new LotusChainClient({
      chain: endpoint(fake, null),
      messager: endpoint(messager, null, "/rpc/v0"),
      ...FAST,
    });
    try {
      const r = await c.pushMessage(
        { ...msg, maxFeeCap: 1n },
        { id: "0b0e2f1a-1111-5222-a333-444455556666" },
      );
      assert.equal(r.cid, "0b0e2f1a-1111-5222-a333-444455556666");
      assert.equal(messager.requests[0]?.params[0], "0b0e2f1a-1111-5222-a333-444455556666");
    } finally {
      c.close();
      await messager.close();
    }
  });

  test("with a messager, the message's multipliers go into the send spec", async () => {
    const messager = await FakeLotus.start({ "Message.PushMessageWithId": (p) => p[0] });
    const c = new LotusChainClient({
      chain: endpoint(fake, null),
      messager: endpoint(messager, null, "/rpc/v0"),
      ...FAST,
    });
    try {
      await c.pushMessage({ ...msg, maxFeeCap: 1n, gasOverEstimation: 1.7, gasOverPremium: 0.3 });
      const spec = messager.requests[0]!.params[2] as { gasOverEstimation: number; gasOverPremium: number };
      assert.equal(spec.gasOverEstimation, 1.7);
      assert.equal(spec.gasOverPremium, 0.3);
    } finally {
      c.close();
      await messager.close();
    }
  });
});

describe("venus-messager path", () => {
  let chain: FakeLotus;
  let messager: FakeLotus;
  let client: LotusChainClient;
  let waitAnswer: unknown;
  before(async () => {
    chain = await FakeLotus.start(recorded());
    messager = await FakeLotus.start(
      {
        "Message.PushMessageWithId": (p) => p[0], // sophon-messager returns the id it was given
        "Message.WaitMessage": () => waitAnswer,
      },
      { token: "msg-token" },
    );
    client = new LotusChainClient({
      chain: endpoint(chain, null),
      messager: parseApiEndpoint(`msg-token:${messager.multiaddr}`, {
        key: "Common.API.Messager",
        path: "/rpc/v0",
      }),
      sendSpec: (m) => ({
        gasOverEstimation: 1.25,
        gasOverPremium: m.method === 11 ? 0.5 : 0,
        maxFee: 10n ** 18n,
      }),
      ...FAST,
    });
  });
  after(async () => {
    client.close();
    await chain.close();
    await messager.close();
  });

  const msg = {
    from: "f01000",
    to: "f01234",
    method: 11,
    params: Uint8Array.of(1),
    value: 0n,
    maxFeeCap: 7n,
  };

  test("PushMessageWithId(id, msg, spec) with the namespace header; WaitMessage(id, confidence)", async () => {
    const a = await client.pushMessage(msg);
    const b = await client.pushMessage(msg);
    assert.notEqual(a.cid, b.cid, "ids are unique per message");
    const req = messager.requests[0]!;
    assert.equal(req.method, "Message.PushMessageWithId");
    assert.equal(req.headers["x-venus-api-namespace"], "messager.IMessager");
    assert.equal(req.headers.authorization, "Bearer msg-token");
    assert.equal(req.params[0], a.cid);
    assert.deepEqual(req.params[2], {
      expireEpoch: 0,
      gasOverEstimation: 1.25,
      maxFee: "1000000000000000000",
      gasOverPremium: 0.5,
    });
    assert.equal((req.params[1] as { GasFeeCap: string }).GasFeeCap, "7");
    assert.equal(chain.requests.length, 0, "nothing went to the chain node");

    // The docgen example has State 1 (UnFillMsg), a placeholder: WaitMessage returns in state 3 (OnChainMsg).
    waitAnswer = { ...R.MESSAGER_WAIT_MESSAGE, State: 3 };
    assert.deepEqual(await client.waitMessage(a.cid, 10), {
      exitCode: 0,
      return: new Uint8Array(Buffer.from("byte array")),
      gasUsed: 9,
      height: 100,
    });
    assert.deepEqual(messager.requests.at(-1)!.params, [a.cid, 10]);
  });

  test("failed and nonce-conflict messages are CHAIN_MESSAGE_FAILED; the placeholder state is malformed", async () => {
    waitAnswer = {
      ...R.MESSAGER_WAIT_MESSAGE,
      State: 4,
      Receipt: null,
      ErrorMsg: "gas estimate: out of gas",
    };
    await assert.rejects(
      client.waitMessage("some-id", 1),
      isCode("CHAIN_MESSAGE_FAILED", /failed: gas estimate/),
    );
    waitAnswer = { ...R.MESSAGER_WAIT_MESSAGE, State: 5 };
    await assert.rejects(client.waitMessage("some-id", 1), isCode("CHAIN_MESSAGE_FAILED", /nonce conflict/));
    waitAnswer = R.MESSAGER_WAIT_MESSAGE;
    await assert.rejects(client.waitMessage("some-id", 1), isCode("CHAIN_BAD_RESPONSE", /field State/));
    waitAnswer = { ...R.MESSAGER_WAIT_MESSAGE, State: 3, Receipt: null };
    await assert.rejects(client.waitMessage("some-id", 1), isCode("CHAIN_BAD_RESPONSE", /field Receipt/));
  });

  test("a CID is waited for on the chain node even with a messager", async () => {
    const r = await client.waitMessage(TSK[0]!, 3);
    assert.equal(r.height, 10101);
    assert.equal(chain.requests.at(-1)!.method, "Filecoin.StateWaitMsg");
  });

  test("the id PushMessageWithId answers is what waitMessage gets; a non-string is malformed", async () => {
    const f = await FakeLotus.start({ "Message.PushMessageWithId": () => R.MESSAGER_PUSH_MESSAGE_WITH_ID });
    const g = await FakeLotus.start({ "Message.PushMessageWithId": () => 42 });
    const c1 = new LotusChainClient({
      chain: endpoint(chain, null),
      messager: endpoint(f, null, "/rpc/v0"),
      ...FAST,
    });
    const c2 = new LotusChainClient({
      chain: endpoint(chain, null),
      messager: endpoint(g, null, "/rpc/v0"),
      ...FAST,
    });
    try {
      assert.deepEqual(await c1.pushMessage(msg), { cid: "string value" });
      await assert.rejects(
        c2.pushMessage(msg),
        isCode("CHAIN_BAD_RESPONSE", /^Message\.PushMessageWithId: /),
      );
    } finally {
      c1.close();
      c2.close();
      await f.close();
      await g.close();
    }
  });
});
