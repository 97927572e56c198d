/**
 * Filecoin big integers (go-state-types `big.Int`, used for abi.TokenAmount: Value, GasFeeCap,
 * GasPremium, balances) in their two wire forms.
 *
 * CBOR (go-state-types big/int.go `Bytes`/`FromBytes`/`MarshalCBOR`, fvm_shared `bigint_ser`):
 * a CBOR byte string holding a sign byte (0x00 positive, 0x01 negative) followed by the big-endian
 * magnitude; zero is the EMPTY byte string. The whole byte string is at most 128 bytes
 * (`BigIntMaxSerializedLen`), enforced by both encoders and decoders upstream.
 *
 * Upstream decoders are lenient: they accept a sign byte with no magnitude ("-0"/"+0") and leading
 * zero bytes in the magnitude. `decodeBigIntBytes` rejects those by default (every encoder writes
 * the unique minimal form, so anything else is corruption or tampering); `{ strict: false }`
 * accepts exactly what go-state-types accepts.
 *
 * JSON (big/int.go `MarshalJSON`/`UnmarshalJSON`): a decimal string, "-" for negatives, parsed
 * with Go's `SetString(s, 10)` (optional sign, decimal digits only, leading zeros allowed).
 */

import { SmError } from "../util/errors.js";

/** go-state-types BigIntMaxSerializedLen: sign byte + magnitude. */
export const BIGINT_MAX_SERIALIZED_LEN = 128;
/** Largest magnitude that fits: 127 bytes of 0xff. */
export const BIGINT_MAX_MAGNITUDE = (1n << BigInt(8 * (BIGINT_MAX_SERIALIZED_LEN - 1))) - 1n;
/** Decimal digits of BIGINT_MAX_MAGNITUDE (306), plus room for a sign and leading zeros. */
const MAX_JSON_LENGTH = 400;

/** 1 FIL in attoFIL (build.FilecoinPrecision). */
export const ATTO_PER_FIL = 10n ** 18n;

export interface BigIntDecodeOptions {
  /** true (default): only the minimal form; false: whatever go-state-types accepts. */
  readonly strict?: boolean;
}

function fail(message: string): never {
  throw new SmError("BIGINT_INVALID", message);
}

function checkRange(value: bigint, what: string): void {
  const mag = value < 0n ? -value : value;
  if (mag > BIGINT_MAX_MAGNITUDE) {
    fail(`${what}: ${value} needs more than ${BIGINT_MAX_SERIALIZED_LEN} bytes in Filecoin big-int form`);
  }
}

/** Big-int payload bytes (the content of the CBOR byte string). */
export function encodeBigIntBytes(value: bigint): Uint8Array {
  if (typeof value !== "bigint") fail(`big int must be a bigint, got ${typeof value}`);
  if (value === 0n) return new Uint8Array(0);
  checkRange(value, "big int");
  let mag = value < 0n ? -value : value;
  const digits: number[] = [];
  while (mag > 0n) {
    digits.push(Number(mag & 0xffn));
    mag >>= 8n;
  }
  const out = new Uint8Array(digits.length + 1);
  out[0] = value < 0n ? 1 : 0;
  for (let i = 0; i < digits.length; i++) out[i + 1] = digits[digits.length - 1 - i]!;
  return out;
}

/** Parses big-int payload bytes. */
export function decodeBigIntBytes(bytes: Uint8Array, options: BigIntDecodeOptions = {}): bigint {
  if (!(bytes instanceof Uint8Array)) fail("big int bytes must be a Uint8Array");
  if (bytes.length === 0) return 0n;
  if (bytes.length > BIGINT_MAX_SERIALIZED_LEN) {
    fail(`big int byte string of ${bytes.length} bytes exceeds ${BIGINT_MAX_SERIALIZED_LEN}`);
  }
  const sign = bytes[0]!;
  if (sign !== 0 && sign !== 1) fail(`big int sign byte must be 0x00 or 0x01, got 0x${sign.toString(16)}`);
  const strict = options.strict ?? true;
  if (strict && bytes.length === 1) {
    fail("big int is not minimal: zero must be the empty byte string, not a lone sign byte");
  }
  if (strict && bytes[1] === 0) fail("big int is not minimal: magnitude has a leading zero byte");
  let mag = 0n;
  for (let i = 1; i < bytes.length; i++) mag = (mag << 8n) | BigInt(bytes[i]!);
  return sign === 1 ? -mag : mag;
}

/** Lotus JSON form: canonical decimal string. */
export function bigIntToJSON(value: bigint): string {
  if (typeof value !== "bigint") fail(`big int must be a bigint, got ${typeof value}`);
  checkRange(value, "big int");
  return value.toString(10);
}

/** Parses the Lotus JSON form (decimal string as Go's big.Int SetString(s, 10) accepts it). */
export function bigIntFromJSON(value: unknown, what = "big int"): bigint {
  if (typeof value !== "string") fail(`${what}: expected a decimal string, got ${describe(value)}`);
  if (value.length > MAX_JSON_LENGTH)
    fail(`${what}: decimal string of ${value.length} characters is too long`);
  if (!/^[+-]?[0-9]+$/.test(value)) fail(`${what}: ${JSON.stringify(value)} is not a decimal integer`);
  const parsed = BigInt(value.startsWith("+") ? value.slice(1) : value);
  checkRange(parsed, what);
  return parsed;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "object") return Array.isArray(v) ? "an array" : "an object";
  return `${typeof v} ${String(v)}`;
}
