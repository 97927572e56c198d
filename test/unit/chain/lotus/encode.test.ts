/** The Lotus JSON encoders (devnet side) against the decoders the client uses: exact round trips. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BitField } from "../../../../src/chain/bitfield.js";
import type {
  DeadlineInfo,
  MinerInfo,
  Partition,
  SectorOnChainInfo,
  TipSet,
} from "../../../../src/chain/interface.js";
import { Json } from "../../../../src/chain/lotus/decode.js";
import {
  encodeActor,
  encodeDeadlineInfo,
  encodeHeadChanges,
  encodeMinerInfo,
  encodeMsgLookup,
  encodePartition,
  encodeSectorInfo,
  encodeTipSet,
} from "../../../../src/chain/lotus/encode.js";
import {
  decodeActor,
  decodeDeadlineInfo,
  decodeHeadChanges,
  decodeMinerInfo,
  decodeMsgLookup,
  decodePartition,
  decodeSectorInfo,
  decodeTipSet,
} from "../../../../src/chain/lotus/shapes.js";

const CID = "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4";
const SEALED = "bagboea4b5abcbpgtxv2oqsbcpmnyoyrfwhgqc3pxgqxjuxpl5ehvof4ktbnbomkv";
/** Through JSON text, as on the wire. */
const wire = (v: unknown) => new Json("Test", JSON.parse(JSON.stringify(v)));

describe("Lotus JSON encoders round-trip through the client's decoders", () => {
  test("tipsets and head changes", () => {
    const ts: TipSet = { key: [CID], height: 1234, timestamp: 1_700_000_000, parentBaseFee: 100n };
    assert.deepEqual(decodeTipSet(wire(encodeTipSet(ts))), ts);
    // The base fee is informational: missing or not a decimal string, it is left out, never fatal.
    for (const fee of [undefined, 12, "-5", "1e9", "0x10"]) {
      const w = JSON.parse(JSON.stringify(encodeTipSet(ts)));
      w.Blocks[0].ParentBaseFee = fee;
      const { parentBaseFee, ...rest } = ts;
      assert.deepEqual(decodeTipSet(new Json("Test", w)), rest, String(fee));
    }
    const hc = [
      { type: "revert" as const, tipset: ts },
      { type: "apply" as const, tipset: { ...ts, height: 1235 } },
    ];
    assert.deepEqual(decodeHeadChanges(wire(encodeHeadChanges(hc))), hc);
  });

  test("deadline info, partitions, sectors, miner info, actors, message lookups", () => {
    const d: DeadlineInfo = {
      currentEpoch: 100,
      periodStart: 40,
      index: 3,
      open: 100,
      close: 110,
      challenge: 96,
      faultCutoff: 94,
      wPoStPeriodDeadlines: 4,
      wPoStProvingPeriod: 40,
      wPoStChallengeWindow: 10,
      wPoStChallengeLookback: 4,
      faultDeclarationCutoff: 6,
    };
    assert.deepEqual(decodeDeadlineInfo(wire(encodeDeadlineInfo(d))), d);
    const p: Partition = {
      allSectors: BitField.fromNumbers([1, 2, 3, 9]),
      faultySectors: BitField.fromNumbers([2]),
      recoveringSectors: BitField.fromNumbers([]),
      liveSectors: BitField.fromNumbers([1, 2, 3, 9]),
      activeSectors: BitField.fromNumbers([1, 3, 9]),
    };
    const back = decodePartition(wire(encodePartition(p)));
    for (const k of Object.keys(p) as (keyof Partition)[])
      assert.deepEqual(back[k].toNumbers(), p[k].toNumbers(), k);
    const s: SectorOnChainInfo = {
      sectorNumber: 7,
      sealProof: 8,
      sealedCid: SEALED,
      activation: 10,
      expiration: 99999,
      sectorKeyCid: null,
    };
    assert.deepEqual(decodeSectorInfo(wire(encodeSectorInfo(s))), s);
    assert.deepEqual(decodeSectorInfo(wire(encodeSectorInfo({ ...s, sectorKeyCid: SEALED }))), {
      ...s,
      sectorKeyCid: SEALED,
    });
    const m: MinerInfo = {
      owner: "f0100",
      worker: "f0101",
      controlAddresses: ["f0102"],
      windowPoStProofType: 10,
      sectorSize: 2048,
      windowPoStPartitionSectors: 2,
    };
    assert.deepEqual(decodeMinerInfo(wire(encodeMinerInfo(m))), m);
    assert.deepEqual(
      decodeMinerInfo(wire(encodeMinerInfo({ ...m, controlAddresses: [] }))).controlAddresses,
      [],
    );
    const a = { code: CID, nonce: 3, balance: 10n ** 21n };
    assert.deepEqual(decodeActor(wire(encodeActor(a))), a);
    const r = { exitCode: 0, return: new Uint8Array(), gasUsed: 1000, height: 120 };
    assert.deepEqual(
      decodeMsgLookup(wire(encodeMsgLookup(CID, r, { key: [CID], height: 120, timestamp: 1 }))),
      r,
    );
    const r2 = { ...r, exitCode: 16, return: Uint8Array.of(1, 2, 3) };
    assert.deepEqual(
      decodeMsgLookup(wire(encodeMsgLookup(CID, r2, { key: [CID], height: 120, timestamp: 1 }))),
      r2,
    );
  });
});
