/**
 * The one strict CIDv1 reader of src/ (multiformats CID spec, github.com/multiformats/cid):
 *
 *   bytes  = varint(1) ‖ varint(codec) ‖ varint(multihash code) ‖ varint(digest length) ‖ digest
 *   string = "b" ‖ base32-lower-unpadded(bytes)         (multibase prefix 'b', the CIDv1 default)
 *
 * The values are multiformats `CID`s. multiformats' own `CID.decode`/`CID.parse` accept more than
 * a Filecoin node should: CIDv0, any multibase, non-minimal varints, '=' padding. This reader
 * refuses those with a message that names the fault, under the caller's error code, and only then
 * builds the CID. chain/cid.ts (the `Cid` class), proofs/commCid.ts and the Lotus answer checks
 * all read CIDs through it.
 *
 * CIDv0 (bare sha2-256 multihash, base58 "Qm…") never occurs in what we parse strictly and is
 * rejected with a clear error rather than half-supported. Upper-case base32 ("B…") is accepted
 * (same multibase, other case); output is always lower case, as Lotus prints it.
 */

import { CID } from "multiformats/cid";
import { create as createDigest, Digest } from "multiformats/hashes/digest";
import { base32Decode } from "./base32.js";
import { type ErrorCode, SmError } from "./errors.js";
import { decodeUvarint } from "./varint.js";

/** Upper bound on a digest we accept (sha2-512/blake2b-512 are 64 bytes; identity hashes are small). */
export const MAX_DIGEST_LENGTH = 128;

export interface CidReadOptions {
  /** SmError code to throw (default "CID_INVALID"). */
  readonly code?: ErrorCode;
  /** Longest digest accepted (default MAX_DIGEST_LENGTH). */
  readonly maxDigestLength?: number;
}

/** CIDv1 from its parts; the digest is copied. */
export function createCidV1(
  codec: number,
  multihashCode: number,
  digest: Uint8Array,
  options: CidReadOptions = {},
): CID {
  const code: ErrorCode = options.code ?? "CID_INVALID";
  const max = options.maxDigestLength ?? MAX_DIGEST_LENGTH;
  if (!Number.isSafeInteger(codec) || codec < 0) {
    throw new SmError(code, `CID codec ${String(codec)} is not a valid code`);
  }
  if (!Number.isSafeInteger(multihashCode) || multihashCode < 0) {
    throw new SmError(code, `CID multihash code ${String(multihashCode)} is not a valid code`);
  }
  if (!(digest instanceof Uint8Array)) throw new SmError(code, "CID digest must be a Uint8Array");
  if (digest.length > max) throw new SmError(code, `CID digest of ${digest.length} bytes is too long`);
  // Digest.create keeps a reference to its argument; the copy keeps the CID immutable.
  return CID.createV1(codec, createDigest(multihashCode, digest.slice()));
}

/** Parses the binary form; the whole input must be exactly one CIDv1. */
export function decodeCidV1(bytes: Uint8Array, options: CidReadOptions = {}): CID {
  const code: ErrorCode = options.code ?? "CID_INVALID";
  const max = options.maxDigestLength ?? MAX_DIGEST_LENGTH;
  const fail = (message: string): never => {
    throw new SmError(code, message);
  };
  if (!(bytes instanceof Uint8Array)) fail("CID bytes must be a Uint8Array");
  if (bytes.length === 0) fail("empty CID bytes");
  if (bytes[0] === 0x12 && bytes[1] === 0x20) fail("CIDv0 (sha2-256 'Qm…') is not supported; expected CIDv1");
  const version = decodeUvarint(bytes, 0, { code, what: "CID version" });
  if (version.value !== 1) fail(`unsupported CID version ${version.value} (expected 1)`);
  const codec = decodeUvarint(bytes, version.next, { code, what: "CID codec" });
  const mh = decodeUvarint(bytes, codec.next, { code, what: "CID multihash code" });
  const len = decodeUvarint(bytes, mh.next, { code, what: "CID digest length" });
  const rest = bytes.length - len.next;
  if (len.value > max) fail(`CID digest length ${len.value} is too long`);
  if (rest < len.value) fail(`CID truncated: digest needs ${len.value} bytes, ${rest} present`);
  if (rest > len.value) fail(`CID has ${rest - len.value} trailing bytes after the digest`);
  // The header is checked, so the CID can take the bytes as they are (copied, not re-encoded).
  const own = bytes.slice();
  const digest = new Digest(mh.value, len.value, own.subarray(len.next), own.subarray(codec.next));
  return new CID(1, codec.value, digest, own);
}

/** Parses the string form (multibase base32, 'b' or 'B'). */
export function parseCidV1(s: string, options: CidReadOptions = {}): CID {
  const code: ErrorCode = options.code ?? "CID_INVALID";
  const fail = (message: string): never => {
    throw new SmError(code, message);
  };
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
  return decodeCidV1(base32Decode(body, { code, what: `CID ${s.slice(0, 20)}…` }), options);
}
