/**
 * Key building. Bucket ids are never renumbered or reused; a retired bucket stays here as a comment.
 */

export enum Bucket {
  /** Store metadata: schema version. */
  Meta = 0x00,
  /** Sector index, normal sectors: (miner, number) → locations. */
  SectorIndexNormal = 0x01,
  /** Sector index, snap-upgraded sectors (update/, update-cache/). */
  SectorIndexUpgrade = 0x02,
  /** Finished WindowPoSt partition proofs: (miner, deadline open, partition) → record (poster/proofStore.ts). */
  PoStProofs = 0x03,
  /** The message that carried a stored partition proof: (miner, deadline open, partition) → CID text. */
  PoStSent = 0x04,
}

/** Bucket byte followed by big-endian u64 parts, so scans come back in numeric order. */
export function u64Key(bucket: Bucket, ...parts: (number | bigint)[]): Uint8Array {
  const out = new Uint8Array(1 + 8 * parts.length);
  out[0] = bucket;
  const view = new DataView(out.buffer);
  parts.forEach((p, i) => {
    view.setBigUint64(1 + 8 * i, BigInt(p));
  });
  return out;
}

export function readU64(key: Uint8Array, index: number): number {
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  return Number(view.getBigUint64(1 + 8 * index));
}

export function bucketPrefix(bucket: Bucket, ...parts: (number | bigint)[]): Uint8Array {
  return u64Key(bucket, ...parts);
}

export function stringKey(bucket: Bucket, s: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  const out = new Uint8Array(1 + b.length);
  out[0] = bucket;
  out.set(b, 1);
  return out;
}

/** Smallest key greater than every key starting with `prefix` (undefined when the prefix is all 0xff). */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] ?? 0) < 0xff) {
      end[i] = (end[i] ?? 0) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return undefined;
}

export function startsWith(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
