/**
 * Minimal arithmetic over the BLS12-381 scalar field Fr, as BigInt.
 *
 * Only what Poseidon set-up and the byte codecs need lives here: the hot permutation loop
 * inlines its own `%` so that it does not pay a function call per field operation.
 */

/**
 * The BLS12-381 scalar field modulus r (255 bits).
 * Source: blstrs `Scalar` / neptune `parameters/round_constants-1-1-255-9-8-57-73EDA7…0001.txt`
 * (the file name carries the modulus in hex).
 */
export const FR_MODULUS = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001n;

/** Size of one canonical Fr encoding, and of every Filecoin tree node / commitment. */
export const FR_BYTES = 32;

/** Reduce any integer (possibly negative) into [0, r). */
export function frMod(x: bigint): bigint {
  const r = x % FR_MODULUS;
  return r < 0n ? r + FR_MODULUS : r;
}

/**
 * Multiplicative inverse by the extended Euclidean algorithm.
 * Used only while building constants (Cauchy matrix entries, Gaussian elimination pivots),
 * where it is a few times cheaper than a 255-bit exponentiation in BigInt.
 */
export function frInv(a: bigint): bigint {
  let r0 = FR_MODULUS;
  let r1 = frMod(a);
  if (r1 === 0n) throw new RangeError("Fr: zero has no inverse");
  let t0 = 0n;
  let t1 = 1n;
  while (r1 !== 0n) {
    const q = r0 / r1;
    const r2 = r0 - q * r1;
    r0 = r1;
    r1 = r2;
    const t2 = t0 - q * t1;
    t0 = t1;
    t1 = t2;
  }
  // r0 is gcd(a, r) = 1 because r is prime and a != 0.
  return frMod(t0);
}

/** True when `x` is an integer in [0, r), i.e. a canonical field element. */
export function isCanonicalFr(x: bigint): boolean {
  return x >= 0n && x < FR_MODULUS;
}

/** Read 32 bytes as a little-endian unsigned integer (no range check). */
export function bytesToBigIntLE(bytes: Uint8Array): bigint {
  let x = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(bytes[i]!);
  return x;
}

/**
 * Decode a 32-byte little-endian canonical Fr encoding (blstrs `from_repr`), rejecting
 * wrong lengths and values >= r with an error that names the input.
 */
export function frFromBytesLE(bytes: Uint8Array, what = "field element"): bigint {
  if (bytes.length !== FR_BYTES) {
    throw new RangeError(`${what}: expected ${FR_BYTES} bytes, got ${bytes.length}`);
  }
  // Little-endian u64 limbs via DataView is ~4x faster than a byte loop in BigInt.
  const dv = new DataView(bytes.buffer, bytes.byteOffset, FR_BYTES);
  const x =
    dv.getBigUint64(0, true) |
    (dv.getBigUint64(8, true) << 64n) |
    (dv.getBigUint64(16, true) << 128n) |
    (dv.getBigUint64(24, true) << 192n);
  if (x >= FR_MODULUS) {
    throw new RangeError(
      `${what}: not a canonical BLS12-381 Fr encoding (little-endian value 0x${x.toString(16)} >= modulus)`,
    );
  }
  return x;
}

/** Encode a canonical Fr value as 32 bytes little-endian (blstrs `to_repr`). */
export function frToBytesLE(x: bigint, out: Uint8Array = new Uint8Array(FR_BYTES)): Uint8Array {
  if (!isCanonicalFr(x)) throw new RangeError("frToBytesLE: value is not in [0, r)");
  if (out.length !== FR_BYTES) throw new RangeError(`frToBytesLE: output must be ${FR_BYTES} bytes`);
  const dv = new DataView(out.buffer, out.byteOffset, FR_BYTES);
  const m = 0xffffffffffffffffn;
  dv.setBigUint64(0, x & m, true);
  dv.setBigUint64(8, (x >> 64n) & m, true);
  dv.setBigUint64(16, (x >> 128n) & m, true);
  dv.setBigUint64(24, x >> 192n, true);
  return out;
}
