/**
 * Padded standard base64 (RFC 4648 §4), read strictly and without a regular expression.
 *
 * Lotus JSON carries bytes this way (Go's encoding/json []byte), and so do ext-prover answers. A
 * message of three partitions of vanilla proofs is ~4 MB of base64 and a partition's answer ~80 MB;
 * `/^[A-Za-z0-9+/]*={0,2}$/` over 80 MB took ~350 ms of the event loop, where Node's decoder takes
 * ~15 ms. The decoder skips characters outside its alphabet, so any such character shows as a
 * result shorter than the length promises; the only extra characters it takes are base64url's '-'
 * and '_', which are looked for apart (two memchr-speed scans).
 */

/**
 * `b` as a plain Uint8Array alone on its ArrayBuffer: a view when `b` has the buffer to itself (a
 * decode of 4 KiB or more), a copy when it sits in Node's shared pool (a smaller one).
 */
export function ownBytes(b: Buffer): Uint8Array {
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length) return new Uint8Array(b.buffer, 0, b.length);
  return new Uint8Array(b);
}

/**
 * The bytes of `s` if it is padded standard base64: only `A–Z a–z 0–9 + /`, then at most two '=',
 * and a length that is a multiple of 4 (what `/^[A-Za-z0-9+/]*={0,2}$/` and `length % 4 === 0`
 * accept). Otherwise undefined.
 */
export function decodeBase64(s: string): Uint8Array | undefined {
  if (s.length % 4 !== 0) return undefined;
  if (s.indexOf("-") >= 0 || s.indexOf("_") >= 0) return undefined;
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  const out = Buffer.from(s, "base64");
  if (out.length !== (s.length / 4) * 3 - pad) return undefined;
  return ownBytes(out);
}

/**
 * Whether padded base64 `s` (decodeBase64 took it) is the one spelling of its bytes: the decoder
 * ignores the unused low bits of the last character before the padding, so "QR==" reads as "QQ==".
 * Only the last group of four characters has such bits.
 */
export function isCanonicalBase64(s: string): boolean {
  const tail = s.slice(-4);
  return Buffer.from(tail, "base64").toString("base64") === tail;
}
