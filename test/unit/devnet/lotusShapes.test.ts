/**
 * The devnet speaks Lotus's whole JSON shape: every `Filecoin.*` answer it serves, fetched over a
 * real loopback socket (HTTP, and a WebSocket for ChainNotify), has exactly the keys of the example
 * Lotus documents for that method, at every depth, with the same JSON kinds. The examples are the
 * recordings of filecoin-project/lotus `documentation/en/api-methods-v1-stable.md` at commit
 * b835fab70 (v1.36.2-dev), pinned in ../lotus/recordings.ts. A Lotus client (or a tool built on
 * go-jsonrpc and go-state-types) that reads a field the devnet left out, or trips on one Lotus never
 * sends (DealIDs), is what this guards against.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { devnetMethods } from "../../../src/devnet/api.js";
import { RpcClient } from "../../../src/rpc/client.js";
import { type ManualDevnet, startManualDevnet } from "../../helpers/manualDevnet.js";
import { tempDir } from "../../helpers/tmp.js";
import * as LOTUS from "../chain/lotus/recordings.js";

/**
 * Paths (`.`-joined keys, `[]` for array elements) whose Go type is a pointer, interface, nil slice
 * or nil []byte: Lotus writes null there when there is nothing, so the devnet may too. Everywhere
 * else a null where the example has a value is a shape error.
 */
const NULLABLE: Record<string, readonly string[]> = {
  "Filecoin.StateMinerInfo": [
    "ControlAddresses",
    "PeerId",
    "Multiaddrs",
    "PendingOwnerAddress",
    "PendingBeneficiaryTerm",
  ],
  "Filecoin.StateMinerSectors": ["[].SectorKeyCID"],
  "Filecoin.StateSectorGetInfo": ["SectorKeyCID"],
  "Filecoin.StateGetActor": ["DelegatedAddress"],
  "Filecoin.MpoolPushMessage": ["Message.Params"],
  "Filecoin.StateWaitMsg": ["Receipt.Return", "Receipt.EventsRoot", "ReturnDec"],
};

function kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** Every difference of keys or JSON kinds between Lotus's example and the devnet's answer. */
export function shapeDiff(
  example: unknown,
  got: unknown,
  nullable: readonly string[] = [],
  at = "",
): string[] {
  const where = at || "(top)";
  if (got === null && example !== null && nullable.includes(at)) return [];
  if (kind(example) !== kind(got)) return [`${where}: Lotus has ${kind(example)}, devnet has ${kind(got)}`];
  if (Array.isArray(example) && Array.isArray(got)) {
    if (example.length === 0) return [];
    return got.flatMap((g) => shapeDiff(example[0], g, nullable, `${at}[]`));
  }
  if (kind(example) !== "object") return [];
  const e = example as Record<string, unknown>;
  const g = got as Record<string, unknown>;
  const out: string[] = [];
  for (const k of Object.keys(e))
    if (!(k in g)) out.push(`${at ? `${at}.` : ""}${k}: documented by Lotus, missing from the devnet`);
  for (const k of Object.keys(g))
    if (!(k in e)) out.push(`${at ? `${at}.` : ""}${k}: sent by the devnet, not part of Lotus's shape`);
  for (const k of Object.keys(e))
    if (k in g) out.push(...shapeDiff(e[k], g[k], nullable, at ? `${at}.${k}` : k));
  return out;
}

describe("shapeDiff", () => {
  test("names missing keys, extra keys, kind changes and unexpected nulls", () => {
    assert.deepEqual(shapeDiff({ A: 1, B: { C: "x" } }, { A: 2, B: { C: "y" } }), []);
    assert.deepEqual(shapeDiff({ A: 1 }, { A: 1, DealIDs: null }), [
      "DealIDs: sent by the devnet, not part of Lotus's shape",
    ]);
    assert.deepEqual(shapeDiff([{ A: 1, B: 2 }], [{ A: 1 }]), [
      "[].B: documented by Lotus, missing from the devnet",
    ]);
    assert.deepEqual(shapeDiff({ A: "0" }, { A: 0 }), ["A: Lotus has string, devnet has number"]);
    assert.deepEqual(shapeDiff({ A: { B: 1 } }, { A: null }), ["A: Lotus has object, devnet has null"]);
    assert.deepEqual(shapeDiff({ A: { B: 1 } }, { A: null }, ["A"]), []);
  });
});

describe("every devnet Filecoin.* answer has the keys of Lotus's documented example", () => {
  let cleanup: (() => Promise<void>) | undefined;
  let m: ManualDevnet;
  let rpc: RpcClient;
  /** method → Lotus's example and the devnet's answer, fetched in `before`. */
  const answers = new Map<string, { example: unknown; got: unknown }>();

  before(async () => {
    const tmp = await tempDir("vsm-lotus-shapes-");
    cleanup = tmp.cleanup;
    m = await startManualDevnet(tmp.dir, 2);
    rpc = new RpcClient({ url: `http://${m.devnet.api}/rpc/v1` });
    for (let i = 0; i < 3; i++) await m.devnet.node.produceBlock();
    const head = (await rpc.call("Filecoin.ChainHead", [])) as { Cids: unknown[] };
    const tsk = head.Cids;
    const cases: [string, unknown[], unknown][] = [
      ["Filecoin.Version", [], LOTUS.VERSION],
      ["Filecoin.ChainHead", [], LOTUS.CHAIN_HEAD],
      ["Filecoin.ChainGetTipSet", [tsk], LOTUS.CHAIN_HEAD],
      ["Filecoin.StateNetworkName", [], LOTUS.STATE_NETWORK_NAME],
      ["Filecoin.StateNetworkVersion", [tsk], LOTUS.STATE_NETWORK_VERSION],
      ["Filecoin.StateMinerInfo", ["f01000", tsk], LOTUS.STATE_MINER_INFO],
      ["Filecoin.StateMinerProvingDeadline", ["f01000", tsk], LOTUS.STATE_MINER_PROVING_DEADLINE],
      ["Filecoin.StateMinerPartitions", ["f01000", 0, tsk], LOTUS.STATE_MINER_PARTITIONS],
      ["Filecoin.StateMinerDeadlines", ["f01000", tsk], LOTUS.STATE_MINER_DEADLINES],
      ["Filecoin.StateMinerSectors", ["f01000", null, tsk], LOTUS.STATE_MINER_SECTORS],
      ["Filecoin.StateSectorGetInfo", ["f01000", 1, tsk], LOTUS.STATE_SECTOR_GET_INFO],
      ["Filecoin.StateGetRandomnessFromBeacon", [2, 1, null, tsk], LOTUS.STATE_GET_RANDOMNESS],
      ["Filecoin.StateGetRandomnessFromTickets", [2, 1, null, tsk], LOTUS.STATE_GET_RANDOMNESS],
      ["Filecoin.StateGetActor", ["f01000", tsk], LOTUS.STATE_GET_ACTOR],
      ["Filecoin.StateLookupID", ["f01000", tsk], LOTUS.STATE_LOOKUP_ID],
    ];
    for (const [method, params, example] of cases)
      answers.set(method, { example, got: await rpc.call(method, params) });

    // A message, pushed and waited for: MpoolPushMessage and StateWaitMsg.
    const admin = new RpcClient({
      url: `http://${m.devnet.api}/rpc/v1`,
      token: m.devnet.chainConfig.split(":")[0],
    });
    const msg = {
      Version: 0,
      To: "f01000",
      From: "f010002",
      Nonce: 0,
      Value: "0",
      GasLimit: 1_000_000,
      GasFeeCap: "0",
      GasPremium: "0",
      Method: 0,
      Params: null,
    };
    answers.set("Filecoin.GasEstimateGasLimit", {
      example: LOTUS.GAS_ESTIMATE_GAS_LIMIT,
      got: await rpc.call("Filecoin.GasEstimateGasLimit", [msg, tsk]),
    });
    answers.set("Filecoin.GasEstimateGasPremium", {
      example: LOTUS.GAS_ESTIMATE_GAS_PREMIUM,
      got: await rpc.call("Filecoin.GasEstimateGasPremium", [10, msg.From, msg.GasLimit, tsk]),
    });
    const pushed = (await admin.call("Filecoin.MpoolPushMessage", [msg, null])) as { CID: unknown };
    answers.set("Filecoin.MpoolPushMessage", { example: LOTUS.MPOOL_PUSH_MESSAGE, got: pushed });
    const waited = rpc.call("Filecoin.StateWaitMsg", [pushed.CID, 1, -1, true]);
    await m.devnet.node.produceBlock();
    await m.devnet.node.produceBlock();
    answers.set("Filecoin.StateWaitMsg", { example: LOTUS.STATE_WAIT_MSG, got: await waited });

    // ChainNotify: its first value over a WebSocket, and the value of the next block.
    const ws = new WebSocket(`ws://${m.devnet.api}/rpc/v1`);
    try {
      await new Promise((resolve, reject) => {
        ws.once("open", resolve);
        ws.once("error", reject);
      });
      const values: unknown[] = [];
      const two = new Promise<void>((resolve) =>
        ws.on("message", (d) => {
          const j = JSON.parse(String(d));
          if (j.method === "xrpc.ch.val") values.push(j.params[1]);
          if (values.length === 1 && j.method === "xrpc.ch.val") void m.devnet.node.produceBlock();
          if (values.length === 2) resolve();
        }),
      );
      ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "Filecoin.ChainNotify", params: [] }));
      await two;
      answers.set("Filecoin.ChainNotify", { example: LOTUS.CHAIN_NOTIFY_VALUE, got: values });
    } finally {
      ws.close();
    }
  });

  after(async () => {
    await m?.devnet.close();
    await cleanup?.();
  });

  test("each method the devnet serves under Filecoin.* is compared here", () => {
    const served = Object.keys(devnetMethods(m.devnet.node)).filter((k) => k.startsWith("Filecoin."));
    assert.deepEqual(served.filter((k) => !answers.has(k)).sort(), []);
  });

  test("keys and kinds match at every depth", () => {
    const problems: string[] = [];
    for (const [method, { example, got }] of answers) {
      // ChainNotify's channel carries one value per message: compare each with the documented one.
      const pairs =
        method === "Filecoin.ChainNotify" ? (got as unknown[]).map((g) => [example, g]) : [[example, got]];
      for (const [e, g] of pairs)
        problems.push(...shapeDiff(e, g, NULLABLE[method]).map((p) => `${method} ${p}`));
    }
    assert.deepEqual([...new Set(problems)], []);
  });

  test("the fields issue 11 names are there, with the values a fresh Lotus miner has", () => {
    const info = answers.get("Filecoin.StateMinerInfo")?.got as Record<string, unknown>;
    assert.equal(info.Beneficiary, info.Owner);
    assert.deepEqual(info.BeneficiaryTerm, { Quota: "0", UsedQuota: "0", Expiration: 0 });
    assert.equal(info.PendingBeneficiaryTerm, null);
    assert.equal(info.PendingOwnerAddress, null);
    const dls = answers.get("Filecoin.StateMinerDeadlines")?.got as Record<string, unknown>[];
    assert.ok(dls.length > 0 && dls.every((d) => d.DailyFee === "0"));
    const sectors = answers.get("Filecoin.StateMinerSectors")?.got as Record<string, unknown>[];
    assert.equal(sectors.length, 2);
    for (const s of [...sectors, answers.get("Filecoin.StateSectorGetInfo")?.got as Record<string, unknown>])
      assert.ok(!("DealIDs" in s), 'SectorOnChainInfo JSON has no DealIDs (go-state-types: json:"-")');
  });

  test("a block's Parents is the key of the tipset below it", async () => {
    const head = (await rpc.call("Filecoin.ChainHead", [])) as {
      Height: number;
      Blocks: { Parents: unknown[] }[];
    };
    const below = m.devnet.node.tipset(head.Height - 1);
    assert.deepEqual(
      head.Blocks[0]?.Parents,
      below.key.map((c) => ({ "/": c })),
    );
  });
});
