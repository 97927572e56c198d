/**
 * CIDv1 as Lotus uses it (multiformats CID spec, github.com/multiformats/cid):
 *
 *   bytes  = varint(1) ‖ varint(codec) ‖ varint(multihash code) ‖ varint(digest length) ‖ digest
 *   string = "b" ‖ base32-lower-unpadded(bytes)         (multibase prefix 'b', the CIDv1 default)
 *
 * Chain objects (messages, blocks, actor state) are dag-cbor (codec 0x71) hashed with
 * blake2b-256 (multihash 0xb220, 32-byte digest): go-state-types `abi.CidBuilder` = cid.V1Builder
 * {Codec: cid.DagCBOR, MhType: multihash.BLAKE2B_MIN + 31}. Those bytes start 01 71 a0e402 20, which
 * is why every message CID reads "bafy2bzace…".
 *
 * CIDv0 (bare sha2-256 multihash, base58 "Qm…") never occurs on the Filecoin chain and is rejected
 * with a clear error rather than half-supported. Upper-case base32 ("B…") is accepted on input
 * (same multibase, other case); output is always lower case, as Lotus prints it.
 */

import { blake2b } from "@noble/hashes/blake2.js";
import { base32Decode, base32Encode } from "../util/base32.js";
import { SmError } from "../util/errors.js";
import { decodeUvarint, encodeUvarint } from "../util/varint.js";

/** multicodec table: dag-cbor. */
export const DAG_CBOR = 0x71;
/** multicodec table: raw bytes. */
export const RAW = 0x55;
/** multicodec table: blake2b-256 (blake2b-8 is 0xb201; the family steps by 1 per output byte). */
export const BLAKE2B_256 = 0xb220;
/** Upper bound on a digest we accept (sha2-512/blake2b-512 are 64 bytes; identity hashes are small). */
export const MAX_DIGEST_LENGTH = 128;

export class CidError extends SmError {
  override name = "CidError";
  constructor(message: string, fields: Record<string, unknown> = {}) {
    super("CID_INVALID", message, fields);
  }
}

const ERR = { code: "CID_INVALID" } as const;

function fail(message: string): never {
  throw new CidError(message);
}

export class Cid {
  readonly version = 1 as const;
  readonly codec: number;
  readonly multihashCode: number;
  readonly #digest: Uint8Array;
  #bytes: Uint8Array | undefined;
  #string: string | undefined;

  private constructor(codec: number, multihashCode: number, digest: Uint8Array) {
    this.codec = codec;
    this.multihashCode = multihashCode;
    this.#digest = digest;
  }

  /** CIDv1 from its parts (the digest is copied). */
  static create(codec: number, multihashCode: number, digest: Uint8Array): Cid {
    if (!Number.isSafeInteger(codec) || codec < 0) fail(`CID codec ${String(codec)} is not a valid code`);
    if (!Number.isSafeInteger(multihashCode) || multihashCode < 0) {
      fail(`CID multihash code ${String(multihashCode)} is not a valid code`);
    }
    if (!(digest instanceof Uint8Array)) fail("CID digest must be a Uint8Array");
    if (digest.length > MAX_DIGEST_LENGTH) fail(`CID digest of ${digest.length} bytes is too long`);
    return new Cid(codec, multihashCode, digest.slice());
  }

  /** Parses the binary form; the whole input must be exactly one CID. */
  static fromBytes(bytes: Uint8Array): Cid {
    if (!(bytes instanceof Uint8Array)) fail("CID bytes must be a Uint8Array");
    if (bytes.length === 0) fail("empty CID bytes");
    if (bytes[0] === 0x12 && bytes[1] === 0x20)
      fail("CIDv0 (sha2-256 'Qm…') is not supported; expected CIDv1");
    const version = decodeUvarint(bytes, 0, { ...ERR, what: "CID version" });
    if (version.value !== 1) fail(`unsupported CID version ${version.value} (expected 1)`);
    const codec = decodeUvarint(bytes, version.next, { ...ERR, what: "CID codec" });
    const mh = decodeUvarint(bytes, codec.next, { ...ERR, what: "CID multihash code" });
    const len = decodeUvarint(bytes, mh.next, { ...ERR, what: "CID digest length" });
    const rest = bytes.length - len.next;
    if (len.value > MAX_DIGEST_LENGTH) fail(`CID digest length ${len.value} is too long`);
    if (rest < len.value) fail(`CID truncated: digest needs ${len.value} bytes, ${rest} present`);
    if (rest > len.value) fail(`CID has ${rest - len.value} trailing bytes after the digest`);
    return new Cid(codec.value, mh.value, bytes.slice(len.next));
  }

  /** Parses the string form (multibase base32, 'b' or 'B'). */
  static parse(s: string): Cid {
    if (typeof s !== "string") fail("CID must be a string");
    if (s.length < 2) fail(`CID ${JSON.stringify(s)} is too short`);
    if (s.startsWith("Qm")) fail(`CID ${s}: CIDv0 ('Qm…') is not supported; expected CIDv1`);
    const prefix = s[0];
    let body = s.slice(1);
    if (prefix === "B") {
      // Upper-case multibase: the body must be all upper case too (no mixed-case spellings).
      if (/[a-z]/.test(body)) fail(`CID ${s}: lower-case characters after the 'B' prefix`);
      body = body.toLowerCase();
    } else if (prefix !== "b") {
      fail(
        `CID ${JSON.stringify(s.slice(0, 20))}: multibase prefix ${JSON.stringify(prefix)} is not supported (expected base32 'b')`,
      );
    }
    return Cid.fromBytes(base32Decode(body, { ...ERR, what: `CID ${s.slice(0, 20)}…` }));
  }

  /** Lotus JSON form `{"/": "bafy…"}`. */
  static fromJSON(value: unknown): Cid {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      fail('CID JSON must be an object {"/": "<cid>"}');
    }
    const keys = Object.keys(value);
    const link = (value as Record<string, unknown>)["/"];
    if (keys.length !== 1 || typeof link !== "string") fail('CID JSON must be exactly {"/": "<cid>"}');
    return Cid.parse(link);
  }

  /** Copy of the multihash digest. */
  get digest(): Uint8Array {
    return this.#digest.slice();
  }

  toBytes(): Uint8Array {
    if (this.#bytes === undefined) {
      const head = [
        ...encodeUvarint(1),
        ...encodeUvarint(this.codec),
        ...encodeUvarint(this.multihashCode),
        ...encodeUvarint(this.#digest.length),
      ];
      const out = new Uint8Array(head.length + this.#digest.length);
      out.set(head);
      out.set(this.#digest, head.length);
      this.#bytes = out;
    }
    return this.#bytes.slice();
  }

  toString(): string {
    this.#string ??= `b${base32Encode(this.toBytes())}`;
    return this.#string;
  }

  toJSON(): { "/": string } {
    return { "/": this.toString() };
  }

  equals(other: Cid): boolean {
    if (this.codec !== other.codec || this.multihashCode !== other.multihashCode) return false;
    const a = this.#digest;
    const b = other.#digest;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
}

/** blake2b-256 digest (32 bytes), the hash behind every chain CID. */
export function blake2b256(data: Uint8Array): Uint8Array {
  return blake2b(data, { dkLen: 32 });
}

/** CID of dag-cbor encoded bytes, as Lotus computes it (abi.CidBuilder.Sum). */
export function dagCborCid(encoded: Uint8Array): Cid {
  return Cid.create(DAG_CBOR, BLAKE2B_256, blake2b256(encoded));
}
