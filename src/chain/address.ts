/**
 * Filecoin addresses: string form `<network><protocol><payload>` and byte form `<protocol><payload>`.
 *
 * Rules follow filecoin-project/go-address (address.go, constants.go):
 *  - network prefix "f" (mainnet) or "t" (testnet); the byte form carries no network.
 *  - protocol 0 (ID): payload = unsigned LEB128 varint of the actor id, id < 2^63; string payload is
 *    the decimal id (at most 19 digits).
 *  - protocol 1 (secp256k1) / 2 (actor): payload = blake2b-160 of the public key / actor data (20 bytes).
 *  - protocol 3 (BLS): payload = the 48-byte public key.
 *  - protocol 4 (delegated, f4): payload = varint namespace (< 2^63) + sub-address (<= 54 bytes);
 *    string = `f4<namespace>f<base32(subaddress + checksum)>`.
 *  - protocols 1-4 append a checksum in the string form: blake2b with a 4-byte digest over
 *    `protocol byte || payload`, and encode payload + checksum in lower-case RFC 4648 base32 without
 *    padding. Decoding rejects any non-canonical base32 (go-address re-encodes and compares).
 * Errors carry codes mirroring go-address's sentinel errors (ErrUnknownNetwork, ErrInvalidChecksum…).
 */

import { base32Encode, base32Decode as decodeBase32 } from "../util/base32.js";
import { blake2b } from "../util/blake2b.js";
import { SmError } from "../util/errors.js";
import type { AddressErrorCode } from "./errors.js";

export type { AddressErrorCode };

import { decodeUvarintBigInt, encodeUvarintBigInt } from "../util/varint.js";

export const Protocol = {
  ID: 0,
  SECP256K1: 1,
  ACTOR: 2,
  BLS: 3,
  DELEGATED: 4,
} as const;
export type Protocol = (typeof Protocol)[keyof typeof Protocol];

/** String prefix of the network: "f" mainnet, "t" testnets (calibration, devnets). */
export type NetworkPrefix = "f" | "t";

export class AddressError extends SmError {
  override name = "AddressError";
  declare readonly code: AddressErrorCode;

  constructor(code: AddressErrorCode, message: string, fields: Record<string, unknown> = {}) {
    super(code, message, fields);
  }
}

function fail(code: AddressErrorCode, message: string, fields: Record<string, unknown> = {}): never {
  throw new AddressError(code, message, fields);
}

export const PAYLOAD_HASH_LENGTH = 20;
export const CHECKSUM_LENGTH = 4;
export const BLS_PUBLIC_KEY_LENGTH = 48;
export const MAX_SUBADDRESS_LENGTH = 54;
/** 2 + 19 digits + "f" + 93 base32 characters (go-address MaxAddressStringLength). */
export const MAX_ADDRESS_STRING_LENGTH = 115;
const MAX_INT64_DIGITS = 19;
const MAX_ID = (1n << 63n) - 1n;

// --- unsigned varint: the shared one of src/util (as go-varint: at most 9 bytes / 63 bits), errors
// re-raised as AddressErrors ---

function encodeUvarint(value: bigint): Uint8Array {
  return encodeUvarintBigInt(value);
}

/** Decodes a minimal varint of at most 9 bytes; returns the value and the bytes consumed. */
function decodeUvarint(bytes: Uint8Array, what: string): { value: bigint; length: number } {
  try {
    const { value, next } = decodeUvarintBigInt(bytes, 0, { what });
    return { value, length: next };
  } catch (e) {
    return fail("ADDRESS_INVALID_PAYLOAD", e instanceof Error ? e.message : String(e));
  }
}

// --- base32: the shared RFC 4648 lower-case codec, errors re-raised as AddressErrors ---

function base32Decode(s: string): Uint8Array {
  try {
    return decodeBase32(s, { code: "ADDRESS_INVALID_ENCODING", what: "base32 payload" });
  } catch (e) {
    return fail("ADDRESS_INVALID_ENCODING", e instanceof Error ? e.message : String(e));
  }
}

// --- hashing ---

/** 4-byte blake2b checksum over `protocol || payload` (go-address Checksum). */
export function addressChecksum(ingest: Uint8Array): Uint8Array {
  return blake2b(ingest, CHECKSUM_LENGTH);
}

function payloadHash(data: Uint8Array): Uint8Array {
  return blake2b(data, PAYLOAD_HASH_LENGTH);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function parseUint63(digits: string, what: string): bigint {
  if (!/^[0-9]+$/.test(digits))
    fail("ADDRESS_INVALID_PAYLOAD", `${what} ${JSON.stringify(digits)} is not a decimal number`);
  const v = BigInt(digits);
  if (v > MAX_ID) fail("ADDRESS_INVALID_PAYLOAD", `${what} ${digits} is not below 2^63`);
  return v;
}

function toUint63(value: number | bigint, what: string): bigint {
  if (typeof value === "number" && (!Number.isSafeInteger(value) || value < 0)) {
    fail("ADDRESS_INVALID_PAYLOAD", `${what} ${value} is not a non-negative safe integer`);
  }
  const v = BigInt(value);
  if (v < 0n || v > MAX_ID) fail("ADDRESS_INVALID_PAYLOAD", `${what} ${v} is not in 0..2^63-1`);
  return v;
}

/** Validates a protocol + payload pair exactly as go-address `newAddress`. */
function checkPayload(protocol: number, payload: Uint8Array): Protocol {
  switch (protocol) {
    case Protocol.ID: {
      const { length } = decodeUvarint(payload, "ID address");
      if (length !== payload.length) {
        fail(
          "ADDRESS_INVALID_LENGTH",
          `ID address payload has ${payload.length - length} bytes after the varint`,
        );
      }
      return Protocol.ID;
    }
    case Protocol.SECP256K1:
    case Protocol.ACTOR:
      if (payload.length !== PAYLOAD_HASH_LENGTH) {
        fail(
          "ADDRESS_INVALID_LENGTH",
          `protocol ${protocol} payload must be ${PAYLOAD_HASH_LENGTH} bytes, got ${payload.length}`,
        );
      }
      return protocol;
    case Protocol.BLS:
      if (payload.length !== BLS_PUBLIC_KEY_LENGTH) {
        fail(
          "ADDRESS_INVALID_LENGTH",
          `BLS payload must be ${BLS_PUBLIC_KEY_LENGTH} bytes, got ${payload.length}`,
        );
      }
      return Protocol.BLS;
    case Protocol.DELEGATED: {
      const { length } = decodeUvarint(payload, "delegated address namespace");
      if (payload.length - length > MAX_SUBADDRESS_LENGTH) {
        fail("ADDRESS_INVALID_LENGTH", `delegated sub-address longer than ${MAX_SUBADDRESS_LENGTH} bytes`);
      }
      return Protocol.DELEGATED;
    }
    default:
      return fail("ADDRESS_UNKNOWN_PROTOCOL", `unknown address protocol ${protocol}`);
  }
}

export class Address {
  readonly protocol: Protocol;
  readonly #payload: Uint8Array;

  private constructor(protocol: Protocol, payload: Uint8Array) {
    this.protocol = protocol;
    this.#payload = payload;
  }

  /** ID address (protocol 0) of an actor id in 0..2^63-1. */
  static fromId(id: number | bigint): Address {
    return new Address(Protocol.ID, encodeUvarint(toUint63(id, "actor id")));
  }

  /** secp256k1 account address: blake2b-160 of the (uncompressed, 65-byte) public key. */
  static fromSecp256k1PublicKey(publicKey: Uint8Array): Address {
    return new Address(Protocol.SECP256K1, payloadHash(publicKey));
  }

  /** Actor (protocol 2) address: blake2b-160 of the actor's creation data. */
  static fromActorData(data: Uint8Array): Address {
    return new Address(Protocol.ACTOR, payloadHash(data));
  }

  static fromBlsPublicKey(publicKey: Uint8Array): Address {
    return Address.fromBytes(concat(Uint8Array.of(Protocol.BLS), publicKey));
  }

  static fromDelegated(namespace: number | bigint, subaddress: Uint8Array): Address {
    const ns = encodeUvarint(toUint63(namespace, "delegated namespace"));
    return Address.fromBytes(concat(concat(Uint8Array.of(Protocol.DELEGATED), ns), subaddress));
  }

  /** Byte form (what CBOR carries): protocol byte + payload. */
  static fromBytes(bytes: Uint8Array): Address {
    if (bytes.length === 0) fail("ADDRESS_INVALID_LENGTH", "empty address bytes");
    if (bytes.length === 1) fail("ADDRESS_INVALID_LENGTH", "address bytes have a protocol but no payload");
    const payload = bytes.slice(1);
    return new Address(checkPayload(bytes[0]!, payload), payload);
  }

  /**
   * Parses the string form. With `network`, a different prefix is rejected (ADDRESS_WRONG_NETWORK).
   * Unlike go-address, the empty string and "<empty>" (Undef) are rejected.
   */
  static fromString(s: string, network?: NetworkPrefix): Address {
    const parsed = parseAddress(s);
    if (network !== undefined && parsed.network !== network) {
      fail("ADDRESS_WRONG_NETWORK", `address ${s} is for network "${parsed.network}", expected "${network}"`);
    }
    return parsed.address;
  }

  /** Copy of the payload (bytes after the protocol byte). */
  get payload(): Uint8Array {
    return this.#payload.slice();
  }

  toBytes(): Uint8Array {
    return concat(Uint8Array.of(this.protocol), this.#payload);
  }

  /** String form with the given network prefix (default mainnet "f"). */
  toString(network: NetworkPrefix = "f"): string {
    if (network !== "f" && network !== "t")
      fail("ADDRESS_UNKNOWN_NETWORK", `unknown network prefix ${String(network)}`);
    if (this.protocol === Protocol.ID) return `${network}0${this.id}`;
    const cksum = addressChecksum(this.toBytes());
    if (this.protocol === Protocol.DELEGATED) {
      const { value, length } = decodeUvarint(this.#payload, "delegated namespace");
      return `${network}4${value}f${base32Encode(concat(this.#payload.subarray(length), cksum))}`;
    }
    return `${network}${this.protocol}${base32Encode(concat(this.#payload, cksum))}`;
  }

  toJSON(): string {
    return this.toString();
  }

  /** Actor id of an ID address. */
  get id(): bigint {
    if (this.protocol !== Protocol.ID) fail("ADDRESS_NOT_ID", `${this.toString()} is not an ID address`);
    return decodeUvarint(this.#payload, "ID address").value;
  }

  /** Actor id as a number (throws above Number.MAX_SAFE_INTEGER; real ids are far smaller). */
  actorId(): number {
    const id = this.id;
    if (id > BigInt(Number.MAX_SAFE_INTEGER))
      fail("ADDRESS_INVALID_PAYLOAD", `actor id ${id} exceeds Number.MAX_SAFE_INTEGER`);
    return Number(id);
  }

  equals(other: Address): boolean {
    return this.protocol === other.protocol && bytesEqual(this.#payload, other.#payload);
  }
}

/** Parses an address string, returning the network prefix it carried. */
export function parseAddress(s: string): { address: Address; network: NetworkPrefix } {
  if (typeof s !== "string") fail("ADDRESS_INVALID_LENGTH", "address must be a string");
  if (s.length < 3 || s.length > MAX_ADDRESS_STRING_LENGTH) {
    fail(
      "ADDRESS_INVALID_LENGTH",
      `address ${JSON.stringify(s.slice(0, 40))} has invalid length ${s.length}`,
    );
  }
  const network = s[0];
  if (network !== "f" && network !== "t") {
    fail(
      "ADDRESS_UNKNOWN_NETWORK",
      `address ${JSON.stringify(s)} has unknown network prefix ${JSON.stringify(network)} (want f or t)`,
    );
  }
  const protocol = "01234".indexOf(s[1]!);
  if (protocol < 0)
    fail(
      "ADDRESS_UNKNOWN_PROTOCOL",
      `address ${JSON.stringify(s)} has unknown protocol ${JSON.stringify(s[1])}`,
    );
  const raw = s.slice(2);

  if (protocol === Protocol.ID) {
    if (raw.length > MAX_INT64_DIGITS)
      fail("ADDRESS_INVALID_LENGTH", `ID address ${JSON.stringify(s)} has more than 19 digits`);
    return { address: Address.fromId(parseUint63(raw, "ID address id")), network };
  }

  let payload: Uint8Array;
  let cksum: Uint8Array;
  if (protocol === Protocol.DELEGATED) {
    const sep = raw.indexOf("f");
    if (sep < 0)
      fail(
        "ADDRESS_INVALID_PAYLOAD",
        `delegated address ${JSON.stringify(s)} lacks the "f" after the namespace`,
      );
    const nsStr = raw.slice(0, sep);
    if (nsStr.length > MAX_INT64_DIGITS)
      fail("ADDRESS_INVALID_LENGTH", `delegated namespace has more than 19 digits`);
    const ns = parseUint63(nsStr, "delegated namespace");
    const data = base32Decode(raw.slice(sep + 1));
    if (data.length < CHECKSUM_LENGTH)
      fail("ADDRESS_INVALID_LENGTH", `delegated address ${JSON.stringify(s)} is too short for a checksum`);
    const sub = data.subarray(0, data.length - CHECKSUM_LENGTH);
    if (sub.length > MAX_SUBADDRESS_LENGTH)
      fail("ADDRESS_INVALID_LENGTH", `delegated sub-address longer than ${MAX_SUBADDRESS_LENGTH} bytes`);
    payload = concat(encodeUvarint(ns), sub);
    cksum = data.subarray(data.length - CHECKSUM_LENGTH);
  } else {
    const data = base32Decode(raw);
    if (data.length < CHECKSUM_LENGTH)
      fail("ADDRESS_INVALID_LENGTH", `address ${JSON.stringify(s)} is too short for a checksum`);
    payload = data.slice(0, data.length - CHECKSUM_LENGTH);
    cksum = data.subarray(data.length - CHECKSUM_LENGTH);
    const want = protocol === Protocol.BLS ? BLS_PUBLIC_KEY_LENGTH : PAYLOAD_HASH_LENGTH;
    if (payload.length !== want) {
      fail(
        "ADDRESS_INVALID_LENGTH",
        `protocol ${protocol} address payload must be ${want} bytes, got ${payload.length}`,
      );
    }
  }
  if (!bytesEqual(addressChecksum(concat(Uint8Array.of(protocol), payload)), cksum)) {
    fail("ADDRESS_INVALID_CHECKSUM", `address ${JSON.stringify(s)} has a bad checksum`);
  }
  return { address: Address.fromBytes(concat(Uint8Array.of(protocol), payload)), network };
}
