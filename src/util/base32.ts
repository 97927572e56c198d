/**
 * RFC 4648 base32 with the lower-case alphabet and no padding: the multibase 'b' encoding that
 * CIDv1 strings use by default (multibase spec, "base32"). Shared by src/chain (CIDs) and
 * src/proofs (commitment CIDs); the error code is the caller's choice.
 *
 * Decoding is canonical: only lower-case alphabet characters, no padding, no impossible length
 * (1, 3 or 6 characters mod 8 leave a whole unused character) and zero leftover bits, so every
 * byte string has exactly one accepted spelling.
 */

import { type ErrorCode, SmError } from "./errors.js";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const INDEX = new Map<string, number>([...ALPHABET].map((c, i) => [c, i]));

export interface Base32ErrorOptions {
  /** SmError code to throw (default "BASE32_INVALID"). */
  readonly code?: ErrorCode;
  /** What is being decoded, prefixed to the message. */
  readonly what?: string;
}

export function base32Encode(bytes: Uint8Array): string {
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31];
  return out;
}

export function base32Decode(s: string, options: Base32ErrorOptions = {}): Uint8Array {
  const code = options.code ?? "BASE32_INVALID";
  const what = options.what ?? "base32";
  if ([1, 3, 6].includes(s.length % 8)) {
    throw new SmError(code, `${what}: impossible base32 length ${s.length}`);
  }
  const out = new Uint8Array(Math.floor((s.length * 5) / 8));
  let acc = 0;
  let bits = 0;
  let k = 0;
  for (let i = 0; i < s.length; i++) {
    const v = INDEX.get(s[i]!);
    if (v === undefined) {
      throw new SmError(code, `${what}: invalid base32 character ${JSON.stringify(s[i])} at offset ${i}`);
    }
    acc = ((acc << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out[k++] = (acc >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) {
    throw new SmError(code, `${what}: base32 is not canonical (non-zero trailing bits)`);
  }
  return out;
}
