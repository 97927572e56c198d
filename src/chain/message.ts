/**
 * The Filecoin message (lotus chain/types/message.go `types.Message`) in its three forms:
 *
 *  - CBOR, tuple-encoded in field order (lotus chain/types/cbor_gen.go):
 *      [Version u64, To address-bytes, From address-bytes, Nonce u64, Value bigint-bytes,
 *       GasLimit i64, GasFeeCap bigint-bytes, GasPremium bigint-bytes, Method u64, Params bytes]
 *    Addresses are CBOR byte strings of their byte form; big ints as in bigint.ts.
 *  - CID: dag-cbor + blake2b-256 of those bytes (`Message.Cid()` via abi.CidBuilder), "bafy2bzace…".
 *    This is the unsigned message CID (venus-messager's message id in damocles); a secp256k1-signed
 *    message has a different on-chain CID, that of the SignedMessage [Message, Signature].
 *  - Lotus JSON: {"Version":0,"To":"f0…","From":"f3…","Nonce":0,"Value":"0","GasLimit":0,
 *    "GasFeeCap":"0","GasPremium":"0","Method":5,"Params":"<base64>"|null}; Lotus adds
 *    "CID":{"/":…} when it prints a message (`Message.MarshalJSON`).
 *
 * Like Lotus `DecodeMessage`, decoding rejects a Version other than 0. Numbers (nonce, gas limit,
 * method) must fit a JS number; real values are far below 2^53. `checkMessageForInclusion` adds
 * the network-independent checks of Lotus `ValidForBlockInclusion`.
 */

import { decodeBase64, isCanonicalBase64 } from "../util/base64.js";
import { Address, type NetworkPrefix } from "./address.js";
import { ATTO_PER_FIL, bigIntFromJSON, bigIntToJSON } from "./bigint.js";
import { type CborValue, decodeCbor, encodeCbor } from "./cbor.js";
import { Cid, dagCborCid } from "./cid.js";
import {
  at,
  bigIntBytes,
  type Ctx,
  checkBytes,
  checkI64,
  checkU64,
  readBigInt,
  readBytes,
  readI64,
  readTuple,
  readU64,
  shapeFail,
} from "./tuple.js";

/** lotus chain/types MessageVersion. */
export const MESSAGE_VERSION = 0;
/** Plain value transfer (builtin.MethodSend). */
export const METHOD_SEND = 0;

/**
 * Miner actor method numbers (builtin-actors actors/miner/src/lib.rs `enum Method`,
 * go-state-types builtin/methods.go `MethodsMiner`). 6 and 7 are the deprecated
 * PreCommitSector / ProveCommitSector, not the fault declarations.
 */
export const MinerMethod = {
  SubmitWindowedPoSt: 5,
  DeclareFaults: 10,
  DeclareFaultsRecovered: 11,
} as const;

/** lotus build BlockGasLimit (10 billion gas). */
export const BLOCK_GAS_LIMIT = 10_000_000_000;
/** lotus build FilBase (2 billion FIL) in attoFIL: the ceiling on Value. */
export const TOTAL_FILECOIN_ATTO = 2_000_000_000n * ATTO_PER_FIL;

export interface Message {
  readonly version: number;
  readonly to: Address;
  readonly from: Address;
  readonly nonce: number;
  /** attoFIL. */
  readonly value: bigint;
  readonly gasLimit: number;
  readonly gasFeeCap: bigint;
  readonly gasPremium: bigint;
  readonly method: number;
  readonly params: Uint8Array;
}

export interface LotusMessageJSON {
  Version: number;
  To: string;
  From: string;
  Nonce: number;
  Value: string;
  GasLimit: number;
  GasFeeCap: string;
  GasPremium: string;
  Method: number;
  Params: string | null;
  CID?: { "/": string };
}

const CODE = "MESSAGE_INVALID";
const ROOT: Ctx = { code: CODE, path: "Message" };
const JSON_FIELDS = new Set([
  "Version",
  "To",
  "From",
  "Nonce",
  "Value",
  "GasLimit",
  "GasFeeCap",
  "GasPremium",
  "Method",
  "Params",
  "CID",
]);

function checkAddress(v: unknown, c: Ctx): Address {
  if (!(v instanceof Address)) shapeFail(c, "expected an Address");
  return v;
}

function checkVersion(v: number, c: Ctx): number {
  if (v !== MESSAGE_VERSION) shapeFail(c, `unsupported message version ${v} (expected ${MESSAGE_VERSION})`);
  return v;
}

/**
 * Size limits of a message. `maxParamsBytes` defaults to cbor-gen's 2 MiB, what a real chain
 * accepts; the devnet raises it for SubmitWindowedPoSt messages that carry vanilla proof bundles
 * (~59 MB per full 32 GiB partition).
 */
export interface MessageLimits {
  readonly maxParamsBytes?: number;
}

/** Canonical CBOR bytes of the unsigned message. */
export function encodeMessage(msg: Message, limits: MessageLimits = {}): Uint8Array {
  if (typeof msg !== "object" || msg === null) shapeFail(ROOT, "expected a message object");
  const tuple: CborValue = [
    checkVersion(checkU64(msg.version, at(ROOT, "Version")), at(ROOT, "Version")),
    checkAddress(msg.to, at(ROOT, "To")).toBytes(),
    checkAddress(msg.from, at(ROOT, "From")).toBytes(),
    checkU64(msg.nonce, at(ROOT, "Nonce")),
    bigIntBytes(msg.value, at(ROOT, "Value")),
    checkI64(msg.gasLimit, at(ROOT, "GasLimit")),
    bigIntBytes(msg.gasFeeCap, at(ROOT, "GasFeeCap")),
    bigIntBytes(msg.gasPremium, at(ROOT, "GasPremium")),
    checkU64(msg.method, at(ROOT, "Method")),
    checkBytes(msg.params, at(ROOT, "Params"), limits.maxParamsBytes),
  ];
  return encodeCbor(tuple);
}

function readAddress(v: CborValue, c: Ctx): Address {
  const bytes = readBytes(v, c);
  try {
    return Address.fromBytes(bytes);
  } catch (err) {
    return shapeFail(c, `invalid address: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

/** Parses the CBOR bytes of an unsigned message (malformed CBOR throws CBOR_DECODE). */
export function decodeMessage(bytes: Uint8Array): Message {
  const f = readTuple(decodeCbor(bytes), 10, ROOT);
  const field = (i: number): CborValue => f[i] as CborValue;
  return {
    version: checkVersion(readU64(field(0), at(ROOT, "Version")), at(ROOT, "Version")),
    to: readAddress(field(1), at(ROOT, "To")),
    from: readAddress(field(2), at(ROOT, "From")),
    nonce: readU64(field(3), at(ROOT, "Nonce")),
    value: readBigInt(field(4), at(ROOT, "Value")),
    gasLimit: readI64(field(5), at(ROOT, "GasLimit")),
    gasFeeCap: readBigInt(field(6), at(ROOT, "GasFeeCap")),
    gasPremium: readBigInt(field(7), at(ROOT, "GasPremium")),
    method: readU64(field(8), at(ROOT, "Method")),
    params: readBytes(field(9), at(ROOT, "Params")),
  };
}

/** CID of the unsigned message (what Lotus `Message.Cid()` returns). */
export function messageCid(msg: Message, limits?: MessageLimits): Cid {
  return dagCborCid(encodeMessage(msg, limits));
}

/** Lotus JSON form. `withCid` adds the "CID" field Lotus prints; `network` picks f/t prefixes. */
export function messageToLotusJSON(
  msg: Message,
  options: {
    network?: NetworkPrefix;
    withCid?: boolean;
    /** The message's CID when the caller has it already (hashing a large message is not free). */
    cid?: string;
  } & MessageLimits = {},
): LotusMessageJSON {
  const bytes = encodeMessage(msg, options); // validates every field first
  const network = options.network ?? "f";
  const out: LotusMessageJSON = {
    Version: msg.version,
    To: msg.to.toString(network),
    From: msg.from.toString(network),
    Nonce: msg.nonce,
    Value: bigIntToJSON(msg.value),
    GasLimit: msg.gasLimit,
    GasFeeCap: bigIntToJSON(msg.gasFeeCap),
    GasPremium: bigIntToJSON(msg.gasPremium),
    Method: msg.method,
    // Go's encoding/json writes a nil []byte as null; cbor-gen decodes empty Params to nil.
    Params: msg.params.length === 0 ? null : Buffer.from(msg.params).toString("base64"),
  };
  if (options.withCid)
    out.CID = options.cid !== undefined ? { "/": options.cid } : dagCborCid(bytes).toJSON();
  return out;
}

function jsonNumber(v: unknown, c: Ctx, signed: boolean): number {
  if (typeof v !== "number") shapeFail(c, `expected a JSON number, got ${v === null ? "null" : typeof v}`);
  return signed ? checkI64(v, c) : checkU64(v, c);
}

/** Standard base64 with padding (Go encoding/json []byte), canonical spelling only. */
function base64Strict(s: string, c: Ctx): Uint8Array {
  const bytes = decodeBase64(s);
  if (!bytes) return shapeFail(c, "not valid padded standard base64");
  if (!isCanonicalBase64(s)) shapeFail(c, "base64 is not canonical (non-zero trailing bits)");
  return bytes;
}

/**
 * Parses the Lotus JSON form. Field names are exact (Lotus prints them so); unknown fields are
 * rejected; Version may be omitted (0) and Params omitted/null (empty); a "CID" field, if present,
 * must match the CID computed from the other fields. With `network`, addresses must use that prefix.
 */
export function messageFromLotusJSON(
  json: unknown,
  options: { network?: NetworkPrefix } & MessageLimits = {},
): Message {
  if (typeof json !== "object" || json === null || Array.isArray(json))
    shapeFail(ROOT, "expected a JSON object");
  const o = json as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!JSON_FIELDS.has(key)) shapeFail(ROOT, `unknown field ${JSON.stringify(key)}`);
  }
  for (const key of ["To", "From", "Nonce", "Value", "GasLimit", "GasFeeCap", "GasPremium", "Method"]) {
    if (!(key in o)) shapeFail(at(ROOT, key), "missing");
  }
  const address = (key: string): Address => {
    const c = at(ROOT, key);
    if (typeof o[key] !== "string") shapeFail(c, "expected an address string");
    try {
      return Address.fromString(o[key], options.network);
    } catch (err) {
      return shapeFail(c, err instanceof Error ? err.message : String(err), err);
    }
  };
  const big = (key: string): bigint => {
    try {
      return bigIntFromJSON(o[key], key);
    } catch (err) {
      return shapeFail(at(ROOT, key), err instanceof Error ? err.message : String(err), err);
    }
  };
  const params = o.Params;
  if (params !== undefined && params !== null && typeof params !== "string") {
    shapeFail(at(ROOT, "Params"), "expected a base64 string or null");
  }
  const msg: Message = {
    version: checkVersion(
      o.Version === undefined ? 0 : jsonNumber(o.Version, at(ROOT, "Version"), false),
      ROOT,
    ),
    to: address("To"),
    from: address("From"),
    nonce: jsonNumber(o.Nonce, at(ROOT, "Nonce"), false),
    value: big("Value"),
    gasLimit: jsonNumber(o.GasLimit, at(ROOT, "GasLimit"), true),
    gasFeeCap: big("GasFeeCap"),
    gasPremium: big("GasPremium"),
    method: jsonNumber(o.Method, at(ROOT, "Method"), false),
    params: typeof params === "string" ? base64Strict(params, at(ROOT, "Params")) : new Uint8Array(0),
  };
  const bytes = encodeMessage(msg, options); // also enforces the Params limit (2 MiB by default)
  if (o.CID !== undefined) {
    let claimed: Cid;
    try {
      claimed = Cid.fromJSON(o.CID);
    } catch (err) {
      return shapeFail(at(ROOT, "CID"), err instanceof Error ? err.message : String(err), err);
    }
    const actual = dagCborCid(bytes);
    if (!claimed.equals(actual))
      shapeFail(at(ROOT, "CID"), `is ${claimed} but the message hashes to ${actual}`);
  }
  return msg;
}

/**
 * Network-independent checks from Lotus `Message.ValidForBlockInclusion`: non-negative amounts,
 * Value within total supply, GasPremium <= GasFeeCap, 0 <= GasLimit <= block gas limit. (The
 * minimum-gas and zero-address checks need network parameters and are left to the node.)
 */
export function checkMessageForInclusion(msg: Message): void {
  encodeMessage(msg);
  if (msg.value < 0n) shapeFail(at(ROOT, "Value"), "cannot be negative");
  if (msg.value > TOTAL_FILECOIN_ATTO)
    shapeFail(at(ROOT, "Value"), "cannot exceed the total Filecoin supply");
  if (msg.gasFeeCap < 0n) shapeFail(at(ROOT, "GasFeeCap"), "cannot be negative");
  if (msg.gasPremium < 0n) shapeFail(at(ROOT, "GasPremium"), "cannot be negative");
  if (msg.gasPremium > msg.gasFeeCap) shapeFail(at(ROOT, "GasPremium"), "exceeds GasFeeCap");
  if (msg.gasLimit > BLOCK_GAS_LIMIT) shapeFail(at(ROOT, "GasLimit"), "exceeds the block gas limit");
  if (msg.gasLimit < 0) shapeFail(at(ROOT, "GasLimit"), "cannot be negative");
}
