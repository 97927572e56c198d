/**
 * Domain types → Lotus JSON: the other direction of shapes.ts, for servers that speak the Lotus API
 * (the embedded devnet). Field names and encodings are Lotus's (api-methods-v1-stable.md): CIDs as
 * {"/": cid}, bitfields as run-length arrays, big integers as decimal strings, bytes as base64.
 * Every field Lotus writes is present, those the PoSter never reads with neutral values, so that
 * Lotus clients decode them; test/unit/devnet/lotusShapes.test.ts compares the keys of every
 * devnet answer with Lotus's documented examples.
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

/** Block-header links the devnet does not model (state root, receipts, messages): the CID of the empty DAG-CBOR list. */
const EMPTY_LINK = "bafy2bzacebc3bt6cedhoyw34drrmjvazhu4oj25er2ebk4u445pzycvq4ta4a";
/** 96 zero bytes: a BLS-sized VRF proof / signature, for fields no PoSter checks. */
const ZERO_96 = base64(new Uint8Array(96));

/**
 * A tipset in Lotus's shape: every BlockHeader field Lotus writes is present (docgen example of
 * ChainHead), with neutral values where the devnet has no such thing. `parents` is the parent
 * tipset's key (empty for genesis).
 */
export function encodeTipSet(
  ts: TipSet,
  miner = "f01000",
  parents: readonly string[] = [],
): Record<string, unknown> {
  return {
    Cids: ts.key.map(cid),
    Blocks: ts.key.map(() => ({
      Miner: miner,
      Ticket: { VRFProof: ZERO_96 },
      ElectionProof: { WinCount: 1, VRFProof: ZERO_96 },
      BeaconEntries: [],
      WinPoStProof: [],
      Parents: (parents.length > 0 ? parents : (ts.parents ?? [])).map(cid),
      ParentWeight: "0",
      Height: ts.height,
      ParentStateRoot: cid(EMPTY_LINK),
      ParentMessageReceipts: cid(EMPTY_LINK),
      Messages: cid(EMPTY_LINK),
      BLSAggregate: { Type: 2, Data: ZERO_96 },
      Timestamp: ts.timestamp,
      BlockSig: { Type: 2, Data: ZERO_96 },
      ForkSignaling: 0,
      ParentBaseFee: (ts.parentBaseFee ?? 100n).toString(),
    })),
    Height: ts.height,
  };
}

export function encodeHeadChanges(
  changes: readonly HeadChange[],
  parentsOf: (ts: TipSet) => readonly string[] = () => [],
): Record<string, unknown>[] {
  return changes.map((c) => ({ Type: c.type, Val: encodeTipSet(c.tipset, undefined, parentsOf(c.tipset)) }));
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

/** api.Deadline; DailyFee (nv25+) is the deadline's fee per day in attoFIL: none on the devnet. */
export function encodeDeadlineState(d: DeadlineState): Record<string, unknown> {
  return {
    PostSubmissions: d.postSubmissions.toLotusJSON(),
    DisputableProofCount: d.disputableProofCount,
    DailyFee: "0",
  };
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

/**
 * miner.SectorOnChainInfo as go-state-types writes it: no DealIDs (the field is `json:"-"` since
 * actors v13), PowerBaseEpoch, ReplacedDayReward, Flags and DailyFee (nv25+) present.
 */
export function encodeSectorInfo(s: SectorOnChainInfo): Record<string, unknown> {
  return {
    SectorNumber: s.sectorNumber,
    SealProof: s.sealProof,
    SealedCID: cid(s.sealedCid),
    Activation: s.activation,
    Expiration: s.expiration,
    DealWeight: "0",
    VerifiedDealWeight: "0",
    InitialPledge: "0",
    ExpectedDayReward: "0",
    ExpectedStoragePledge: "0",
    PowerBaseEpoch: s.activation,
    ReplacedDayReward: "0",
    SectorKeyCID: s.sectorKeyCid === null ? null : cid(s.sectorKeyCid),
    Flags: 0,
    DailyFee: "0",
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
    // No owner change or beneficiary change is ever proposed on the devnet: the beneficiary is the
    // owner with an unused, zero term, as Lotus reports for a miner that never changed it.
    PendingOwnerAddress: null,
    Beneficiary: m.owner,
    BeneficiaryTerm: { Quota: "0", UsedQuota: "0", Expiration: 0 },
    PendingBeneficiaryTerm: null,
  };
}

export function encodeActor(a: { code: string; nonce: number; balance: bigint }): Record<string, unknown> {
  // DelegatedAddress is the actor's f4 address; devnet actors have none.
  return {
    Code: cid(a.code),
    Head: cid(a.code),
    Nonce: a.nonce,
    Balance: a.balance.toString(),
    DelegatedAddress: null,
  };
}

/** StateWaitMsg's MsgLookup for an executed message. */
export function encodeMsgLookup(
  messageCid: string,
  r: MessageReceipt,
  tipset: TipSet,
): Record<string, unknown> {
  return {
    Message: cid(messageCid),
    Receipt: {
      ExitCode: r.exitCode,
      Return: r.return.length ? base64(r.return) : null,
      GasUsed: r.gasUsed,
      EventsRoot: null,
    },
    ReturnDec: null,
    TipSet: tipset.key.map(cid),
    Height: r.height,
  };
}
