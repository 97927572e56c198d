/**
 * Shape checks for tuple-encoded structs (cbor-gen "tuple" structs / fvm `serde_tuple`): after
 * the generic DAG-CBOR decode, each struct is an array whose items are checked field by field.
 * Errors name the field path ("SubmitWindowedPoStParams.Partitions[2].Skipped") and carry the
 * caller's error code, with the underlying error (bitfield, address, big int) as `cause`.
 *
 * Type rules mirror cbor-gen's generated UnmarshalCBOR:
 *  - uint64 fields accept only major type 0;
 *  - int64 fields accept major 0 or 1 and reject values outside int64;
 *  - slices and byte arrays have cbor-gen's limits (MaxLength 8192 items, ByteArrayMaxLen 2 MiB).
 * Values must also fit a JS number (<= 2^53 - 1); every such field in these structs (deadline,
 * partition index, epoch, nonce, gas, method) is far below that.
 */

import { type ErrorCode, SmError } from "../util/errors.js";
import { decodeBigIntBytes, encodeBigIntBytes } from "./bigint.js";
import { BitField, MAX_ENCODED_SIZE } from "./bitfield.js";
import type { CborValue } from "./cbor.js";

/** cbor-gen MaxLength: longest slice a generated decoder accepts. */
export const MAX_SLICE_LENGTH = 8192;
/** cbor-gen ByteArrayMaxLen (2 MiB). */
export const MAX_BYTE_ARRAY_LENGTH = 2 << 20;

const INT64_MAX = (1n << 63n) - 1n;

export class ShapeError extends SmError {
  override name = "ShapeError";
  constructor(code: ErrorCode, path: string, problem: string, cause?: unknown) {
    super(code, `${path}: ${problem}`, { path }, cause === undefined ? undefined : { cause });
  }
}

/** Where a field is (code + path), threaded through the checks. */
export interface Ctx {
  readonly code: ErrorCode;
  readonly path: string;
}

export function at(ctx: Ctx, field: string | number): Ctx {
  return {
    code: ctx.code,
    path: typeof field === "number" ? `${ctx.path}[${field}]` : `${ctx.path}.${field}`,
  };
}

export function shapeFail(ctx: Ctx, problem: string, cause?: unknown): never {
  throw new ShapeError(ctx.code, ctx.path, problem, cause);
}

function kind(v: CborValue): string {
  if (v === null) return "null";
  if (typeof v === "number" || typeof v === "bigint") return v < 0 ? "negative integer" : "unsigned integer";
  if (v instanceof Uint8Array) return "byte string";
  if (typeof v === "string") return "text string";
  if (Array.isArray(v)) return "array";
  if (v instanceof Map) return "map";
  if (typeof v === "boolean") return "boolean";
  return "CID";
}

// --- decoding side ------------------------------------------------------------------------------

export function readTuple(v: CborValue, n: number, ctx: Ctx): CborValue[] {
  if (!Array.isArray(v)) shapeFail(ctx, `expected a ${n}-field tuple (CBOR array), got ${kind(v)}`);
  if (v.length !== n) shapeFail(ctx, `expected ${n} fields, got ${v.length}`);
  return v;
}

export function readSlice(v: CborValue, ctx: Ctx, max = MAX_SLICE_LENGTH): CborValue[] {
  if (!Array.isArray(v)) shapeFail(ctx, `expected an array, got ${kind(v)}`);
  if (v.length > max) shapeFail(ctx, `array of ${v.length} items exceeds the limit of ${max}`);
  return v;
}

export function readU64(v: CborValue, ctx: Ctx): number {
  if ((typeof v !== "number" && typeof v !== "bigint") || v < 0) {
    shapeFail(ctx, `expected an unsigned integer, got ${kind(v)}`);
  }
  if (typeof v === "bigint") shapeFail(ctx, `${v} exceeds Number.MAX_SAFE_INTEGER`);
  return v;
}

export function readI64(v: CborValue, ctx: Ctx): number {
  if (typeof v !== "number" && typeof v !== "bigint") shapeFail(ctx, `expected an integer, got ${kind(v)}`);
  if (typeof v === "bigint") {
    if (v > INT64_MAX || v < -INT64_MAX - 1n) shapeFail(ctx, `${v} overflows int64`);
    shapeFail(ctx, `${v} is outside ±Number.MAX_SAFE_INTEGER`);
  }
  return v;
}

export function readBytes(v: CborValue, ctx: Ctx, max = MAX_BYTE_ARRAY_LENGTH): Uint8Array {
  if (!(v instanceof Uint8Array)) shapeFail(ctx, `expected a byte string, got ${kind(v)}`);
  if (v.length > max) shapeFail(ctx, `byte string of ${v.length} bytes exceeds the limit of ${max}`);
  return v;
}

/** go-bitfield / fvm: a byte string of at most 32 KiB holding RLE+ (decoded with the chain's strict rules). */
export function readBitField(v: CborValue, ctx: Ctx): BitField {
  const bytes = readBytes(v, ctx, MAX_ENCODED_SIZE);
  try {
    return BitField.decode(bytes);
  } catch (err) {
    return shapeFail(ctx, `invalid RLE+ bitfield: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

/** Filecoin big int (TokenAmount) from its CBOR byte string. */
export function readBigInt(v: CborValue, ctx: Ctx): bigint {
  const bytes = readBytes(v, ctx);
  try {
    return decodeBigIntBytes(bytes);
  } catch (err) {
    return shapeFail(ctx, err instanceof Error ? err.message : String(err), err);
  }
}

// --- encoding side (validate caller input before it reaches the encoder) -----------------------

export function checkU64(v: unknown, ctx: Ctx): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    shapeFail(ctx, `expected a non-negative safe integer, got ${String(v)}`);
  }
  return v;
}

export function checkI64(v: unknown, ctx: Ctx): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v))
    shapeFail(ctx, `expected a safe integer, got ${String(v)}`);
  return v;
}

export function checkBytes(v: unknown, ctx: Ctx, max = MAX_BYTE_ARRAY_LENGTH): Uint8Array {
  if (!(v instanceof Uint8Array)) shapeFail(ctx, "expected a Uint8Array");
  if (v.length > max) shapeFail(ctx, `byte string of ${v.length} bytes exceeds the limit of ${max}`);
  return v;
}

export function checkSlice<T>(v: unknown, ctx: Ctx, max = MAX_SLICE_LENGTH): readonly T[] {
  if (!Array.isArray(v)) shapeFail(ctx, "expected an array");
  if (v.length > max) shapeFail(ctx, `array of ${v.length} items exceeds the limit of ${max}`);
  return v as readonly T[];
}

export function bitFieldBytes(v: unknown, ctx: Ctx): Uint8Array {
  if (!(v instanceof BitField)) shapeFail(ctx, "expected a BitField");
  const bytes = v.encode();
  if (bytes.length > MAX_ENCODED_SIZE) {
    shapeFail(ctx, `RLE+ encoding of ${bytes.length} bytes exceeds the ${MAX_ENCODED_SIZE}-byte limit`);
  }
  return bytes;
}

export function bigIntBytes(v: unknown, ctx: Ctx): Uint8Array {
  if (typeof v !== "bigint") shapeFail(ctx, `expected a bigint, got ${typeof v}`);
  try {
    return encodeBigIntBytes(v);
  } catch (err) {
    return shapeFail(ctx, err instanceof Error ? err.message : String(err), err);
  }
}
