/**
 * 32-byte tree nodes: decoding to Fr, hashing with the tree's Poseidon, comparing.
 *
 * A node is the canonical little-endian encoding of a BLS12-381 Fr element (blstrs `to_repr`).
 * Interior nodes of tree-r-last are neptune Poseidon over their children with the MerkleTree
 * hash type: arity 8 for base and sub-tree levels, arity 2 for the 64 GiB top level and for
 * comm_r = H(comm_c, comm_r_last). rust-fil-proofs picks the constants by the number of children
 * (`filecoin-hashers/src/poseidon.rs`, `multi_node` / `hash2`), which is what `hashFr` does.
 *
 * These helpers skip the per-call validation of `poseidonHash` because the hot loops (tree build,
 * partial rebuild) decode and range-check every node once, when it is read.
 */
import { getPoseidonConstants } from "./poseidon/constants.js";
import { FR_MODULUS, frToBytesLE } from "./poseidon/field.js";
import { poseidonHashFast } from "./poseidon/permutation.js";
import { PROOF_ERROR_CODES, proofError } from "./proofErrors.js";

export const NODE_BYTES = 32;

/** PROOF_BAD_INPUT for a programming error (bad offset, wrong width), not tied to a sector. */
export function badInput(reason: string) {
  return proofError(PROOF_ERROR_CODES.badInput, undefined, reason);
}

/**
 * Decode the node at byte `offset` of `buf`, or return undefined when it is not a canonical Fr
 * encoding (value ≥ r), so the caller can report the file and offset of the bad node.
 */
export function decodeNode(buf: Uint8Array, offset: number): bigint | undefined {
  if (offset < 0 || offset + NODE_BYTES > buf.length) throw badInput("decodeNode: offset out of range");
  const dv = new DataView(buf.buffer, buf.byteOffset + offset, NODE_BYTES);
  const x =
    dv.getBigUint64(0, true) |
    (dv.getBigUint64(8, true) << 64n) |
    (dv.getBigUint64(16, true) << 128n) |
    (dv.getBigUint64(24, true) << 192n);
  return x < FR_MODULUS ? x : undefined;
}

/** Encode a field element (already in [0, r)) as a fresh 32-byte node. */
export function encodeNode(x: bigint): Uint8Array {
  return frToBytesLE(x);
}

/**
 * Poseidon (MerkleTree hash type) over canonical field elements; the arity is the number of
 * children (2 or 8 in tree-r-last). Inputs are trusted to be in [0, r).
 */
export function hashFr(children: readonly bigint[]): bigint {
  return poseidonHashFast(getPoseidonConstants(children.length), children);
}

/**
 * Hash 32-byte children; returns undefined when any child is not canonical (a proof from an
 * untrusted source may carry such bytes; the verifier turns that into "invalid").
 */
export function hashNodes(children: readonly Uint8Array[]): Uint8Array | undefined {
  const els: bigint[] = [];
  for (const c of children) {
    if (c.length !== NODE_BYTES) return undefined;
    const x = decodeNode(c, 0);
    if (x === undefined) return undefined;
    els.push(x);
  }
  return encodeNode(hashFr(els));
}

/** comm_r = Poseidon arity 2 (tag 3) over (comm_c, comm_r_last); undefined if either is non-canonical. */
export function commRFrom(commC: Uint8Array, commRLast: Uint8Array): Uint8Array | undefined {
  return hashNodes([commC, commRLast]);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/** Hash a row of field elements into its parent row (width / 8 nodes), all in memory. */
export function hashRow(row: readonly bigint[], arity = 8): bigint[] {
  const out: bigint[] = new Array<bigint>(row.length / arity);
  const kids: bigint[] = new Array<bigint>(arity);
  for (let i = 0, o = 0; i < row.length; i += arity, o++) {
    for (let k = 0; k < arity; k++) kids[k] = row[i + k]!;
    out[o] = hashFr(kids);
  }
  return out;
}
