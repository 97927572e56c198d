/**
 * Domain types → Lotus JSON: the other direction of shapes.ts, for servers that speak the Lotus API
 * (the embedded devnet). Field names and encodings are Lotus's (api-methods-v1-stable.md): CIDs as
 * {"/": cid}, bitfields as run-length arrays, big integers as decimal strings, bytes as base64.
 * Fields the PoSter never reads are filled with neutral values so that Lotus clients decode them.
 */
import type {
  DeadlineInfo,
  DeadlineState,
  HeadChange,
  MessageReceipt,
  MinerInfo,
  Partition,
  SectorOnChainInfo,
  TipSet,
} from "../interface.js";
import { base64 } from "./shapes.js";

const cid = (c: string) => ({ "/": c });

export function encodeTipSet(ts: TipSet, miner = "f01000"): Record<string, unknown> {
  return {
    Cids: ts.key.map(cid),
    Blocks: ts.key.map(() => ({
      Miner: miner,
      Height: ts.height,
      Timestamp: ts.timestamp,
      Parents: (ts.parents ?? []).map(cid),
      ParentWeight: "0",
      ParentBaseFee: "100",
      ForkSignaling: 0,
    })),
    Height: ts.height,
  };
}

export function encodeHeadChanges(changes: readonly HeadChange[]): Record<string, unknown>[] {
  return changes.map((c) => ({ Type: c.type, Val: encodeTipSet(c.tipset) }));
}

export function encodeDeadlineInfo(d: DeadlineInfo): Record<string, unknown> {
  return {
    CurrentEpoch: d.currentEpoch,
    PeriodStart: d.periodStart,
    Index: d.index,
    Open: d.open,
    Close: d.close,
    Challenge: d.challenge,
    FaultCutoff: d.faultCutoff,
    WPoStPeriodDeadlines: d.wPoStPeriodDeadlines,
    WPoStProvingPeriod: d.wPoStProvingPeriod,
    WPoStChallengeWindow: d.wPoStChallengeWindow,
    WPoStChallengeLookback: d.wPoStChallengeLookback,
    FaultDeclarationCutoff: d.faultDeclarationCutoff,
  };
}

export function encodeDeadlineState(d: DeadlineState): Record<string, unknown> {
  return { PostSubmissions: d.postSubmissions.toLotusJSON(), DisputableProofCount: d.disputableProofCount };
}

export function encodePartition(p: Partition): Record<string, unknown> {
  return {
    AllSectors: p.allSectors.toLotusJSON(),
    FaultySectors: p.faultySectors.toLotusJSON(),
    RecoveringSectors: p.recoveringSectors.toLotusJSON(),
    LiveSectors: p.liveSectors.toLotusJSON(),
    ActiveSectors: p.activeSectors.toLotusJSON(),
  };
}

export function encodeSectorInfo(s: SectorOnChainInfo): Record<string, unknown> {
  return {
    SectorNumber: s.sectorNumber,
    SealProof: s.sealProof,
    SealedCID: cid(s.sealedCid),
    DealIDs: null,
    Activation: s.activation,
    Expiration: s.expiration,
    DealWeight: "0",
    VerifiedDealWeight: "0",
    InitialPledge: "0",
    ExpectedDayReward: "0",
    ExpectedStoragePledge: "0",
    SectorKeyCID: s.sectorKeyCid === null ? null : cid(s.sectorKeyCid),
  };
}

export function encodeMinerInfo(m: MinerInfo): Record<string, unknown> {
  return {
    Owner: m.owner,
    Worker: m.worker,
    NewWorker: "<empty>",
    ControlAddresses: m.controlAddresses.length ? m.controlAddresses : null,
    WorkerChangeEpoch: -1,
    PeerId: null,
    Multiaddrs: null,
    WindowPoStProofType: m.windowPoStProofType,
    SectorSize: m.sectorSize,
    WindowPoStPartitionSectors: m.windowPoStPartitionSectors,
    ConsensusFaultElapsed: -1,
  };
}

export function encodeActor(a: { code: string; nonce: number; balance: bigint }): Record<string, unknown> {
  return { Code: cid(a.code), Head: cid(a.code), Nonce: a.nonce, Balance: a.balance.toString() };
}

/** StateWaitMsg's MsgLookup for an executed message. */
export function encodeMsgLookup(
  messageCid: string,
  r: MessageReceipt,
  tipset: TipSet,
): Record<string, unknown> {
  return {
    Message: cid(messageCid),
    Receipt: { ExitCode: r.exitCode, Return: r.return.length ? base64(r.return) : null, GasUsed: r.gasUsed },
    ReturnDec: null,
    TipSet: tipset.key.map(cid),
    Height: r.height,
  };
}
