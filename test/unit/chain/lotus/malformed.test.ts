/**
 * Malformed answers (missing fields, wrong types, bad base64, bad CIDs, placeholder values) are
 * CHAIN_BAD_RESPONSE naming the method and the field; the node's own errors are CHAIN_RPC_ERROR with
 * its text and code; HTTP fallback, a rejected token, and bodies that are not JSON.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Address } from "../../../../src/chain/address.js";
import { HEAD } from "../../../../src/chain/interface.js";
import { LotusChainClient } from "../../../../src/chain/lotus/client.js";
import type { SmError } from "../../../../src/util/errors.js";
import { FakeLotus, type Handler, Raw, RpcFault } from "./fakeLotus.js";
import { endpoint, FAST, isCode, recorded, TOKEN, TSK } from "./helpers.js";
import * as R from "./recordings.js";

describe("malformed answers are CHAIN_BAD_RESPONSE naming method and field", () => {
  const secp = Address.fromSecp256k1PublicKey(new Uint8Array(65).fill(4)).toString();
  const badCid = { "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v" };
  type Call = (c: LotusChainClient) => Promise<unknown>;
  const head: Call = (c) => c.chainHead();
  const cases: [string, string, unknown, Call, string][] = [
    ["missing Cids", "Filecoin.ChainHead", { ...R.CHAIN_HEAD, Cids: undefined }, head, "Cids"],
    [
      "a CID that is not one",
      "Filecoin.ChainHead",
      { ...R.CHAIN_HEAD, Cids: [{ "/": "hello" }] },
      head,
      "Cids[0]./",
    ],
    ["a truncated CID", "Filecoin.ChainHead", { ...R.CHAIN_HEAD, Cids: [badCid] }, head, "Cids[0]./"],
    ["a negative Height", "Filecoin.ChainHead", { ...R.CHAIN_HEAD, Height: -1 }, head, "Height"],
    [
      "a string Timestamp",
      "Filecoin.ChainHead",
      { ...R.CHAIN_HEAD, Blocks: [{ Timestamp: "1" }] },
      head,
      "Blocks[0].Timestamp",
    ],
    ["no block headers", "Filecoin.ChainHead", { ...R.CHAIN_HEAD, Blocks: [] }, head, "Blocks"],
    ["a result that is a string", "Filecoin.ChainHead", "head", head, "the result"],
    ["an empty network name", "Filecoin.StateNetworkName", "", (c) => c.networkName(), "the result"],
    [
      "a string version",
      "Filecoin.StateNetworkVersion",
      "29",
      (c) => c.stateNetworkVersion(HEAD),
      "the result",
    ],
    ...(
      [
        ["WindowPoStProofType", "8"],
        ["Owner", "x01234"],
        ["ControlAddresses", "f01234"],
        ["SectorSize", 0],
      ] as const
    ).map(([k, v]): [string, string, unknown, Call, string] => [
      `MinerInfo ${k} = ${JSON.stringify(v)}`,
      "Filecoin.StateMinerInfo",
      { ...R.STATE_MINER_INFO, [k]: v },
      (c) => c.stateMinerInfo("f01234", HEAD),
      k,
    ]),
    [
      "a missing Challenge",
      "Filecoin.StateMinerProvingDeadline",
      { ...R.STATE_MINER_PROVING_DEADLINE, Challenge: undefined },
      (c) => c.stateMinerProvingDeadline("f01234", HEAD),
      "Challenge",
    ],
    [
      "a fractional Index",
      "Filecoin.StateMinerProvingDeadline",
      { ...R.STATE_MINER_PROVING_DEADLINE, Index: 1.5 },
      (c) => c.stateMinerProvingDeadline("f01234", HEAD),
      "Index",
    ],
    [
      "a bitfield that is a string",
      "Filecoin.StateMinerPartitions",
      [{ ...R.STATE_MINER_PARTITIONS[0], FaultySectors: "abc" }],
      (c) => c.stateMinerPartitions("f01234", 0, HEAD),
      "[0].FaultySectors",
    ],
    [
      "a bitfield with a zero run inside",
      "Filecoin.StateMinerPartitions",
      [{ ...R.STATE_MINER_PARTITIONS[0], LiveSectors: [1, 0, 2] }],
      (c) => c.stateMinerPartitions("f01234", 0, HEAD),
      "[0].LiveSectors",
    ],
    [
      "PostSubmissions that is not a run array",
      "Filecoin.StateMinerDeadlines",
      [{ ...R.STATE_MINER_DEADLINES[0], PostSubmissions: "AQ==" }],
      (c) => c.stateMinerDeadlines("f01234", HEAD),
      "[0].PostSubmissions",
    ],
    [
      "partitions as an object",
      "Filecoin.StateMinerPartitions",
      {},
      (c) => c.stateMinerPartitions("f01234", 0, HEAD),
      "the result",
    ],
    [
      "a SealedCID that is a bare string",
      "Filecoin.StateMinerSectors",
      [{ ...R.STATE_MINER_SECTORS[0], SealedCID: "bafy" }],
      (c) => c.stateMinerSectors("f01234", null, HEAD),
      "[0].SealedCID",
    ],
    [
      "a negative SectorNumber",
      "Filecoin.StateSectorGetInfo",
      { ...R.STATE_SECTOR_GET_INFO, SectorNumber: -1 },
      (c) => c.stateSectorGetInfo("f01234", 9, HEAD),
      "SectorNumber",
    ],
    [
      "a numeric Balance",
      "Filecoin.StateGetActor",
      { ...R.STATE_GET_ACTOR, Balance: 12 },
      (c) => c.stateGetActor("f01234", HEAD),
      "Balance",
    ],
    [
      "an exponent Balance",
      "Filecoin.StateGetActor",
      { ...R.STATE_GET_ACTOR, Balance: "1e18" },
      (c) => c.stateGetActor("f01234", HEAD),
      "Balance",
    ],
    ["a non-ID address", "Filecoin.StateLookupID", secp, (c) => c.stateLookupID(secp, HEAD), "the result"],
    ...(["Bw=", "B w==", "Bx==", 12, R.STATE_GET_RANDOMNESS] as const).map(
      (v): [string, string, unknown, Call, string] => [
        `randomness ${JSON.stringify(v)}`,
        "Filecoin.StateGetRandomnessFromBeacon",
        v,
        (c) => c.stateGetRandomnessFromBeacon(4, 1, new Uint8Array(), HEAD),
        "the result",
      ],
    ),
    [
      "a receipt with bad base64",
      "Filecoin.StateWaitMsg",
      { ...R.STATE_WAIT_MSG, Receipt: { ...R.STATE_WAIT_MSG.Receipt, Return: "%%" } },
      (c) => c.waitMessage(TSK[0]!, 1),
      "Receipt.Return",
    ],
    ["a null MsgLookup", "Filecoin.StateWaitMsg", null, (c) => c.waitMessage(TSK[0]!, 1), "the result"],
    [
      "a signed message without CID",
      "Filecoin.MpoolPushMessage",
      { ...R.MPOOL_PUSH_MESSAGE, CID: undefined },
      (c) =>
        c.pushMessage({
          from: "f01000",
          to: "f01234",
          method: 0,
          params: new Uint8Array(),
          value: 0n,
          maxFeeCap: 0n,
        }),
      "CID",
    ],
  ];

  let fake: FakeLotus;
  let client: LotusChainClient;
  let current: unknown;
  before(async () => {
    const h: Handler = () => current;
    fake = await FakeLotus.start(Object.fromEntries(cases.map(([, method]) => [method, h])));
    client = new LotusChainClient({ chain: endpoint(fake, null), ...FAST });
  });
  after(async () => {
    client.close();
    await fake.close();
  });

  for (const [what, method, result, call, field] of cases) {
    test(`${method}: ${what}`, async () => {
      current = result;
      const where = field === "the result" ? "the result" : `field ${field}`;
      await assert.rejects(call(client), (e: unknown) => {
        isCode("CHAIN_BAD_RESPONSE")(e);
        assert.ok(
          (e as SmError).message.startsWith(`${method}: malformed response: ${where} `),
          (e as SmError).message,
        );
        return true;
      });
    });
  }
});

describe("transport and errors", () => {
  test("the node's error is CHAIN_RPC_ERROR with its text and code (WebSocket and HTTP)", async () => {
    const fail: Handler = () => {
      throw new RpcFault(1, "resolution lookup failed (f09999): actor not found");
    };
    for (const ws of [true, false]) {
      const fake = await FakeLotus.start({ "Filecoin.StateLookupID": fail }, { ws });
      const client = new LotusChainClient({ chain: endpoint(fake, null), ...FAST });
      try {
        await assert.rejects(client.stateLookupID("f09999", HEAD), (e: unknown) => {
          isCode(
            "CHAIN_RPC_ERROR",
            /StateLookupID failed: resolution lookup failed \(f09999\): actor not found/,
          )(e);
          assert.equal((e as SmError).fields.rpcCode, 1);
          return true;
        });
        assert.equal(fake.requests[0]?.transport, ws ? "ws" : "http");
      } finally {
        client.close();
        await fake.close();
      }
    }
  });

  test("HTTP fallback carries the bearer token; a wrong token is CHAIN_RPC_ERROR 401", async () => {
    const fake = await FakeLotus.start(recorded(), { token: TOKEN, ws: false });
    const good = new LotusChainClient({ chain: endpoint(fake), ...FAST });
    const bad = new LotusChainClient({ chain: endpoint(fake, "wrong"), ...FAST });
    try {
      assert.equal((await good.chainHead()).height, 4863283);
      assert.equal(fake.requests[0]?.transport, "http");
      assert.equal(fake.requests[0]?.headers.authorization, `Bearer ${TOKEN}`);
      await assert.rejects(bad.chainHead(), (e: unknown) => {
        isCode("CHAIN_RPC_ERROR", /HTTP 401/, /token/)(e);
        assert.ok(!(e as SmError).message.includes("wrong"), "the token is not in the message");
        return true;
      });
    } finally {
      good.close();
      bad.close();
      await fake.close();
    }
  });

  test("a body or frame that is not JSON is CHAIN_BAD_RESPONSE", async () => {
    for (const ws of [true, false]) {
      const fake = await FakeLotus.start({ "Filecoin.ChainHead": () => new Raw("<html>oops") }, { ws });
      const client = new LotusChainClient({ chain: endpoint(fake, null), ...FAST });
      try {
        await assert.rejects(client.chainHead(), isCode("CHAIN_BAD_RESPONSE"));
      } finally {
        client.close();
        await fake.close();
      }
    }
  });
});
