/**
 * Unsigned LEB128 varints as multiformats defines them ("unsigned-varint" spec, used by CIDs,
 * multihash and Filecoin ID addresses): 7 bits per byte, low group first, high bit = "more bytes
 * follow". The spec caps a varint at 9 bytes (63 bits) and requires the minimal encoding, so a
 * trailing 0x00 group after other groups is rejected. The one varint of src/: chain (CIDs,
 * addresses) and proofs (commitment CIDs, prover ids) use it, so the error code is the caller's
 * choice.
 *
 * Number values go through multiformats' `varint`, which reads any run of continuation bytes
 * and does not check minimality, so the spec's limits are checked here. Bigint values (actor ids
 * up to 2^63 - 1, u64 prover ids) have their own loop because multiformats' varint is
 * number-only and loses precision above 2^53.
 */

import { varint } from "multiformats";
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
  return varint.encodeTo(value, new Uint8Array(varint.encodingLength(value)));
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
  let value: number;
  let length: number;
  try {
    [value, length] = varint.decode(bytes, offset);
  } catch {
    // multiformats throws only when the input ends inside the varint; nine or more continuation
    // bytes are over-long before they are truncated.
    if (bytes.length - offset >= MAX_UVARINT_BYTES) throw tooLong(code, what, offset);
    throw new SmError(code, `${what}: truncated varint at byte ${offset}`);
  }
  if (length > MAX_UVARINT_BYTES) throw tooLong(code, what, offset);
  if (length > 1 && bytes[offset + length - 1] === 0) {
    throw new SmError(code, `${what}: varint at byte ${offset} is not minimal`);
  }
  // Above 2^53 multiformats sums in floating point; the sum still rounds to at least 2^53, so
  // this check cannot be fooled by the rounding.
  if (value > Number.MAX_SAFE_INTEGER) {
    throw new SmError(code, `${what}: varint at byte ${offset} exceeds Number.MAX_SAFE_INTEGER`);
  }
  return { value, next: offset + length };
}

function tooLong(code: ErrorCode, what: string, offset: number): SmError {
  return new SmError(code, `${what}: varint at byte ${offset} is longer than ${MAX_UVARINT_BYTES} bytes`);
}

/** Encodes a non-negative bigint of any size (a u64 takes up to 10 bytes). */
export function encodeUvarintBigInt(value: bigint, options: VarintErrorOptions = {}): Uint8Array {
  if (value < 0n) {
    throw new SmError(options.code ?? "VARINT_INVALID", `${options.what ?? "varint"}: ${value} is negative`);
  }
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
  return Uint8Array.from(out);
}

/**
 * Decodes a minimal varint of at most 9 bytes (63 bits) into a bigint, with the same rules as
 * `decodeUvarint` but no 2^53 limit.
 */
export function decodeUvarintBigInt(
  bytes: Uint8Array,
  offset = 0,
  options: VarintErrorOptions = {},
): { value: bigint; next: number } {
  const code = options.code ?? "VARINT_INVALID";
  const what = options.what ?? "varint";
  let value = 0n;
  for (let i = 0; i < MAX_UVARINT_BYTES; i++) {
    const b = bytes[offset + i];
    if (b === undefined) throw new SmError(code, `${what}: truncated varint at byte ${offset}`);
    value |= BigInt(b & 0x7f) << BigInt(7 * i);
    if (b < 0x80) {
      if (b === 0 && i > 0) throw new SmError(code, `${what}: varint at byte ${offset} is not minimal`);
      return { value, next: offset + i + 1 };
    }
  }
  throw tooLong(code, what, offset);
}
