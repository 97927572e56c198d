/** Shared helpers of the proof tests (not a test file itself). */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import type { MerkleProof, PathElement, SectorProof } from "../../../src/proofs/merkleProof.js";
import { SmError } from "../../../src/util/errors.js";

/** `assert.rejects`/`throws` predicate: an SmError with `code` whose message mentions every part. */
export function isCode(code: string, ...parts: string[]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof SmError, `expected SmError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const p of parts) assert.ok(err.message.includes(p), `message "${err.message}" should mention ${p}`);
    return true;
  };
}

/** A fixed 32-byte seed, masked like chain randomness (randomness[31] &= 0x3f). */
export function fixedSeed(label: string): Uint8Array {
  const b = new Uint8Array(createHash("sha256").update(label).digest());
  b[31] = b[31]! & 0x3f;
  return b;
}

/** XOR one byte of a file in place. */
export async function flipByte(file: string, offset: number, mask = 0x01): Promise<void> {
  const fh = await fs.open(file, "r+");
  try {
    const b = new Uint8Array(1);
    await fh.read(b, 0, 1, offset);
    b[0] = b[0]! ^ mask;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

/** Deep copy of a sector proof (structuredClone keeps Uint8Array and bigint). */
export function cloneProof(p: SectorProof): SectorProof {
  return structuredClone(p);
}

/** The base path of any proof variant. */
export function basePathOf(p: MerkleProof): PathElement[] {
  return p.kind === "single" ? p.path : p.basePath;
}
