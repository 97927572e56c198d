/**
 * Lotus JSON shapes ⇄ the chain port's domain types.
 *
 * Field names follow the Lotus API reference (lotus `documentation/en/api-methods-v1-stable.md`,
 * formerly `api-v1-unstable-methods.md`) and, for venus-messager, venus
 * `venus-shared/api/messager/method.md` and `venus-shared/types/messager/{message,spec}.go`.
 */
import type {
  Actor,
  DeadlineInfo,
  DeadlineState,
  HeadChange,
  HeadChangeType,
  MessageReceipt,
  MinerInfo,
  OutgoingMessage,
  Partition,
  SectorOnChainInfo,
  TipSet,
  TipSetKey,
} from "../interface.js";
import type { Json } from "./decode.js";

/** Lotus TipSetKey JSON: `[{"/": cid}, …]`; the empty key (head) is sent as null. */
export function encodeTipSetKey(tsk: TipSetKey): { "/": string }[] | null {
  return tsk.length === 0 ? null : tsk.map((c) => ({ "/": c }));
}

/** Go []byte JSON. */
export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/**
 * CBOR encoding of an address as lotus `addr.MarshalCBOR` writes it: a CBOR byte string (major type 2)
 * holding the address bytes — the entropy of the WindowPoSt challenge randomness.
 */
export function cborAddressBytes(addressBytes: Uint8Array): Uint8Array {
  const n = addressBytes.length;
  // Addresses are at most 1 + 9 + 54 bytes (delegated), so the 1- or 2-byte header forms suffice.
  const head = n < 24 ? Uint8Array.of(0x40 | n) : Uint8Array.of(0x58, n);
  const out = new Uint8Array(head.length + n);
  out.set(head);
  out.set(addressBytes, head.length);
  return out;
}

/** TipSet: Cids, Height, Blocks[0].Timestamp, Parents and ParentBaseFee (one block header per CID). */
export function decodeTipSet(j: Json): TipSet {
  const cids = j.get("Cids").array();
  if (cids.length === 0) j.get("Cids").fail("is empty; a tipset has at least one block");
  const blocks = j.get("Blocks").array();
  if (blocks.length !== cids.length) {
    j.get("Blocks").fail(`has ${blocks.length} block headers for ${cids.length} CIDs`);
  }
  const first = blocks[0] as Json;
  const p = first.get("Parents");
  // Genesis has none; a node that leaves them out gives no ancestry (polling then asks for it).
  const parents = p.value === undefined ? [] : p.array(true).map((c) => c.cid());
  // Informational (the dashboard's estimate of a day's gas): a node that leaves it out or sends
  // something else loses only that estimate, never the head.
  const fee = first.get("ParentBaseFee").value;
  const parentBaseFee = typeof fee === "string" && /^\d{1,40}$/.test(fee) ? BigInt(fee) : undefined;
  return {
    key: cids.map((c) => c.cid()),
    height: j.get("Height").uint(),
    timestamp: first.get("Timestamp").uint(),
    ...(parents.length > 0 ? { parents } : {}),
    ...(parentBaseFee !== undefined ? { parentBaseFee } : {}),
  };
}

const HC_TYPES: readonly string[] = ["current", "apply", "revert"];

/** One ChainNotify value: `[{Type, Val}, …]`; null entries are skipped (as damocles does). */
export function decodeHeadChanges(j: Json): HeadChange[] {
  const out: HeadChange[] = [];
  for (const e of j.array()) {
    if (e.isNull()) continue;
    const t = e.get("Type").str();
    if (!HC_TYPES.includes(t)) e.get("Type").fail(`is "${t}", expected current, apply or revert`);
    out.push({ type: t as HeadChangeType, tipset: decodeTipSet(e.get("Val")) });
  }
  return out;
}

export function decodeDeadlineInfo(j: Json): DeadlineInfo {
  return {
    currentEpoch: j.get("CurrentEpoch").epoch(),
    periodStart: j.get("PeriodStart").epoch(),
    index: j.get("Index").uint(),
    open: j.get("Open").epoch(),
    close: j.get("Close").epoch(),
    challenge: j.get("Challenge").epoch(),
    faultCutoff: j.get("FaultCutoff").epoch(),
    wPoStPeriodDeadlines: j.get("WPoStPeriodDeadlines").int(1),
    wPoStProvingPeriod: j.get("WPoStProvingPeriod").int(1),
    wPoStChallengeWindow: j.get("WPoStChallengeWindow").int(1),
    wPoStChallengeLookback: j.get("WPoStChallengeLookback").uint(),
    faultDeclarationCutoff: j.get("FaultDeclarationCutoff").uint(),
  };
}

export function decodePartition(j: Json): Partition {
  return {
    allSectors: j.get("AllSectors").bitfield(),
    faultySectors: j.get("FaultySectors").bitfield(),
    recoveringSectors: j.get("RecoveringSectors").bitfield(),
    liveSectors: j.get("LiveSectors").bitfield(),
    activeSectors: j.get("ActiveSectors").bitfield(),
  };
}

/** api.Deadline: PostSubmissions (bitfield runs), DisputableProofCount; DailyFee (nv25+) is not needed. */
export function decodeDeadlineState(j: Json): DeadlineState {
  return {
    postSubmissions: j.get("PostSubmissions").bitfield(),
    disputableProofCount: j.get("DisputableProofCount").uint(),
  };
}

export function decodeSectorInfo(j: Json): SectorOnChainInfo {
  return {
    sectorNumber: j.get("SectorNumber").uint(),
    sealProof: j.get("SealProof").uint(),
    sealedCid: j.get("SealedCID").cid(),
    activation: j.get("Activation").epoch(),
    expiration: j.get("Expiration").epoch(),
    // Absent in pre-snap (actors < v7) encodings, null for sectors never upgraded.
    sectorKeyCid: j.get("SectorKeyCID").cidOrNull(),
  };
}

export function decodeMinerInfo(j: Json): MinerInfo {
  return {
    owner: j.get("Owner").address(),
    worker: j.get("Worker").address(),
    controlAddresses: j
      .get("ControlAddresses")
      .array(true)
      .map((a) => a.address()),
    windowPoStProofType: j.get("WindowPoStProofType").uint(),
    sectorSize: j.get("SectorSize").int(1),
    windowPoStPartitionSectors: j.get("WindowPoStPartitionSectors").int(1),
  };
}

export function decodeActor(j: Json): Actor {
  return {
    code: j.get("Code").cid(),
    nonce: j.get("Nonce").uint(),
    balance: j.get("Balance").tokenAmount(),
  };
}

/** Receipt {ExitCode, Return, GasUsed} of a MsgLookup or a venus-messager Message. */
export function decodeReceipt(j: Json, height: number): MessageReceipt {
  return {
    exitCode: j.get("ExitCode").int(),
    return: j.get("Return").bytes(),
    gasUsed: j.get("GasUsed").int(),
    height,
  };
}

/** StateWaitMsg's MsgLookup. */
export function decodeMsgLookup(j: Json): MessageReceipt {
  if (j.isNull()) j.fail("is null (message not found)");
  return decodeReceipt(j.get("Receipt"), j.get("Height").uint());
}

/** types.Message JSON for MpoolPushMessage / PushMessageWithId: the node fills nonce, gas and signs. */
export function encodeMessage(msg: OutgoingMessage): Record<string, unknown> {
  return {
    Version: 0,
    To: msg.to,
    From: msg.from,
    Nonce: 0,
    Value: msg.value.toString(),
    GasLimit: 0,
    GasFeeCap: msg.maxFeeCap.toString(),
    GasPremium: "0",
    Method: msg.method,
    Params: base64(msg.params),
  };
}

/** venus-messager `types.MessageState` (venus-shared/types/messager/message.go). */
export const MessagerState = {
  UnKnown: 0,
  UnFillMsg: 1,
  FillMsg: 2,
  OnChainMsg: 3,
  FailedMsg: 4,
  NonceConflictMsg: 5,
} as const;

export type MessagerOutcome =
  | { kind: "receipt"; receipt: MessageReceipt; signedCid: string | null }
  | { kind: "failed"; state: number; error: string; signedCid: string | null };

/**
 * `Message.WaitMessage`'s result. sophon-messager (`service/message_service.go` WaitMessage) returns
 * only in state OnChainMsg or NonceConflictMsg (with enough confidence) or FailedMsg.
 */
export function decodeMessagerMessage(j: Json): MessagerOutcome {
  if (j.isNull()) j.fail("is null");
  const state = j.get("State").uint();
  const signedCid = j.get("SignedCid").cidOrNull();
  if (state === MessagerState.OnChainMsg) {
    const r = j.get("Receipt");
    if (r.isNull()) r.fail("is missing for a message on chain");
    return { kind: "receipt", receipt: decodeReceipt(r, j.get("Height").uint()), signedCid };
  }
  if (state === MessagerState.FailedMsg || state === MessagerState.NonceConflictMsg) {
    const em = j.get("ErrorMsg");
    const error = em.isNull() ? "" : em.str();
    return { kind: "failed", state, error, signedCid };
  }
  return j.get("State").fail(`is ${state}, a state WaitMessage does not return in (expected 3, 4 or 5)`);
}
