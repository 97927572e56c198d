/**
 * RFC 4648 base32 with the lower-case alphabet and no padding: the multibase 'b' encoding that
 * CIDv1 strings use by default (multibase spec, "base32"), and the payload encoding of Filecoin
 * addresses. The one base32 of src/: chain (CIDs, addresses) and proofs (commitment CIDs) use
 * it, so the error code is the caller's choice.
 *
 * The bytes come from multiformats' `base32` without its multibase prefix. Decoding here is
 * canonical: only lower-case alphabet characters, no padding (multiformats would strip '='), no
 * impossible length (1, 3 or 6 characters mod 8 leave a whole unused character) and zero
 * leftover bits, so every byte string has exactly one accepted spelling. The checks before the
 * call give each failure its own message; multiformats reports all of them as one SyntaxError.
 */

import { base32 } from "multiformats/bases/base32";
import { type ErrorCode, SmError } from "./errors.js";

const CANONICAL = /^[a-z2-7]*$/;
const BAD_CHARACTER = /[^a-z2-7]/;

export interface Base32ErrorOptions {
  /** SmError code to throw (default "BASE32_INVALID"). */
  readonly code?: ErrorCode;
  /** What is being decoded, prefixed to the message. */
  readonly what?: string;
}

export function base32Encode(bytes: Uint8Array): string {
  return base32.baseEncode(bytes);
}

export function base32Decode(s: string, options: Base32ErrorOptions = {}): Uint8Array {
  const code = options.code ?? "BASE32_INVALID";
  const what = options.what ?? "base32";
  if ([1, 3, 6].includes(s.length % 8)) {
    throw new SmError(code, `${what}: impossible base32 length ${s.length}`);
  }
  if (!CANONICAL.test(s)) {
    const i = s.search(BAD_CHARACTER);
    throw new SmError(code, `${what}: invalid base32 character ${JSON.stringify(s[i])} at offset ${i}`);
  }
  try {
    return base32.baseDecode(s);
  } catch {
    // Length and alphabet are checked above, so the only input left to refuse is set padding bits.
    throw new SmError(code, `${what}: base32 is not canonical (non-zero trailing bits)`);
  }
}
