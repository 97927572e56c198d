/**
 * Unsigned LEB128 varints as multiformats defines them ("unsigned-varint" spec, used by CIDs and
 * multihash): 7 bits per byte, low group first, high bit = "more bytes follow". The spec caps a
 * varint at 9 bytes (63 bits) and requires the minimal encoding, so a trailing 0x00 group after
 * other groups is rejected. Shared by src/chain (CIDs) and src/proofs (commitment CIDs), so the
 * error code is the caller's choice.
 *
 * Values are JS numbers: every multicodec / multihash code and digest length fits in 2^53 - 1.
 */

import { type ErrorCode, SmError } from "./errors.js";

/** Multiformats unsigned-varint limit (9 bytes = 63 bits of payload). */
export const MAX_UVARINT_BYTES = 9;

export interface VarintErrorOptions {
  /** SmError code to throw (default "VARINT_INVALID"). */
  readonly code?: ErrorCode;
  /** What is being decoded, prefixed to the message ("CID codec"...). */
  readonly what?: string;
}

/** Encodes a non-negative safe integer. */
export function encodeUvarint(value: number, options: VarintErrorOptions = {}): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new SmError(
      options.code ?? "VARINT_INVALID",
      `${options.what ?? "varint"}: ${String(value)} is not a non-negative safe integer`,
    );
  }
  const out: number[] = [];
  let rest = value;
  // Division, not >>>, so values above 2^32 stay exact.
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return Uint8Array.from(out);
}

/**
 * Decodes a minimal varint starting at `offset`; returns the value and the offset after it.
 * Rejects truncation, more than 9 bytes, non-minimal forms and values above MAX_SAFE_INTEGER.
 */
export function decodeUvarint(
  bytes: Uint8Array,
  offset = 0,
  options: VarintErrorOptions = {},
): { value: number; next: number } {
  const code = options.code ?? "VARINT_INVALID";
  const what = options.what ?? "varint";
  let value = 0;
  let mul = 1;
  for (let i = 0; i < MAX_UVARINT_BYTES; i++) {
    const b = bytes[offset + i];
    if (b === undefined) throw new SmError(code, `${what}: truncated varint at byte ${offset}`);
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) {
      if (b === 0 && i > 0) throw new SmError(code, `${what}: varint at byte ${offset} is not minimal`);
      if (value > Number.MAX_SAFE_INTEGER) {
        throw new SmError(code, `${what}: varint at byte ${offset} exceeds Number.MAX_SAFE_INTEGER`);
      }
      return { value, next: offset + i + 1 };
    }
    mul *= 0x80;
  }
  throw new SmError(code, `${what}: varint at byte ${offset} is longer than ${MAX_UVARINT_BYTES} bytes`);
}
