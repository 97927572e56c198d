import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  decodeFallbackPoStSectorProof,
  encodeFallbackPoStSectorProof,
  type FallbackPoStSectorProof,
} from "../../../src/proofs/bincode.js";
import type { MerkleProof, PathElement } from "../../../src/proofs/merkleProof.js";
import { seededRandom } from "../../../src/proofs/syntheticSector.js";
import { SmError } from "../../../src/util/errors.js";
import { isCode } from "./proofTestUtil.js";

const fill = (v: number) => new Uint8Array(32).fill(v);
const el = (base: number, n: number, index: number): PathElement => ({
  hashes: Array.from({ length: n }, (_, k) => fill(base + k)),
  index,
});

const single: MerkleProof = { kind: "single", root: fill(0x10), leaf: fill(0x11), path: [el(0x20, 7, 5)] };
const sub: MerkleProof = {
  kind: "sub",
  basePath: [el(0x30, 7, 1), el(0x40, 7, 2)],
  subPath: [el(0x50, 7, 3)],
  root: fill(0x12),
  leaf: fill(0x13),
};
const top: MerkleProof = {
  kind: "top",
  basePath: [el(0x60, 7, 7)],
  subPath: [el(0x70, 7, 0)],
  topPath: [el(0x80, 1, 1)],
  root: fill(0x14),
  leaf: fill(0x15),
};

const sample: FallbackPoStSectorProof = {
  sectorId: 0x0102030405060708n,
  commR: fill(0xaa),
  vanillaProof: {
    sectors: [{ inclusionProofs: [single, sub, top], commC: fill(0xcc), commRLast: fill(0xdd) }],
  },
};

/** Expected bytes written out by hand from the layout in src/proofs/bincode.ts. */
function handEncoded(): Uint8Array {
  const out: number[] = [];
  const u32 = (v: number) => out.push(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff);
  const u64 = (v: number) => {
    u32(v);
    u32(0);
  };
  const d = (v: number) => out.push(...new Array<number>(32).fill(v));
  const pathOf = (els: Array<[number, number, number]>) => {
    u64(els.length);
    for (const [b, n, idx] of els) {
      u64(n);
      for (let k = 0; k < n; k++) d(b + k);
      u64(idx);
    }
  };
  out.push(8, 7, 6, 5, 4, 3, 2, 1); // sector_id LE
  d(0xaa); // comm_r
  u64(1); // sectors
  u64(3); // inclusion_proofs
  u32(0); // Single: root, leaf, path
  d(0x10);
  d(0x11);
  pathOf([[0x20, 7, 5]]);
  u32(1); // Sub: base_proof, sub_proof, root, leaf
  pathOf([
    [0x30, 7, 1],
    [0x40, 7, 2],
  ]);
  pathOf([[0x50, 7, 3]]);
  d(0x12);
  d(0x13);
  u32(2); // Top: base_proof, sub_proof, top_proof, root, leaf
  pathOf([[0x60, 7, 7]]);
  pathOf([[0x70, 7, 0]]);
  pathOf([[0x80, 1, 1]]);
  d(0x14);
  d(0x15);
  d(0xcc); // comm_c
  d(0xdd); // comm_r_last
  return Uint8Array.from(out);
}

describe("bincode FallbackPoStSectorProof", () => {
  test("encodes to the documented layout and decodes back", () => {
    const bytes = encodeFallbackPoStSectorProof(sample);
    assert.deepEqual(bytes, handEncoded());
    assert.deepEqual(decodeFallbackPoStSectorProof(bytes), sample);
  });

  test("every truncation is rejected with PROOF_DECODE, never a RangeError", () => {
    const bytes = encodeFallbackPoStSectorProof(sample);
    for (let n = 0; n < bytes.length; n++) {
      assert.throws(
        () => decodeFallbackPoStSectorProof(bytes.subarray(0, n)),
        (err: unknown) =>
          err instanceof SmError && err.code === "PROOF_DECODE" && /truncated|exceeds/.test(err.message),
        `prefix of ${n} bytes`,
      );
    }
  });

  test("garbage never escapes as anything but PROOF_DECODE", () => {
    const random = seededRandom("bincode-garbage");
    for (let i = 0; i < 300; i++) {
      const len = new Uint8Array(2);
      random(len);
      const bytes = new Uint8Array((len[0]! | (len[1]! << 8)) % 1500);
      random(bytes);
      if (i % 3 === 0)
        bytes.set(encodeFallbackPoStSectorProof(sample).subarray(0, Math.min(60, bytes.length)));
      try {
        decodeFallbackPoStSectorProof(bytes);
      } catch (err) {
        assert.ok(err instanceof SmError && err.code === "PROOF_DECODE", `case ${i}: ${String(err)}`);
      }
    }
  });

  test("huge lengths, unknown variants and trailing bytes", () => {
    const bytes = encodeFallbackPoStSectorProof(sample);
    const huge = Uint8Array.from(bytes);
    new DataView(huge.buffer).setBigUint64(40, 0xffffffffffffffffn, true); // sectors count
    assert.throws(() => decodeFallbackPoStSectorProof(huge), isCode("PROOF_DECODE", "sectors length"));
    const badTag = Uint8Array.from(bytes);
    new DataView(badTag.buffer).setUint32(56, 3, true); // first ProofData tag
    assert.throws(
      () => decodeFallbackPoStSectorProof(badTag),
      isCode("PROOF_DECODE", "unknown ProofData variant 3"),
    );
    const longer = new Uint8Array(bytes.length + 5);
    longer.set(bytes);
    assert.throws(() => decodeFallbackPoStSectorProof(longer), isCode("PROOF_DECODE", "5 trailing bytes"));
    assert.deepEqual(decodeFallbackPoStSectorProof(longer, { allowTrailing: true }), sample);
    assert.throws(() => decodeFallbackPoStSectorProof("x" as never), isCode("PROOF_DECODE"));
  });

  test("encoding refuses malformed values", () => {
    assert.throws(
      () => encodeFallbackPoStSectorProof({ ...sample, commR: new Uint8Array(31) }),
      isCode("PROOF_BAD_INPUT", "comm_r"),
    );
    assert.throws(
      () => encodeFallbackPoStSectorProof({ ...sample, sectorId: -1n }),
      isCode("PROOF_BAD_INPUT"),
    );
  });
});
