/**
 * 32-byte tree nodes: decoding to Fr, hashing with the tree's Poseidon, comparing.
 *
 * A node is the canonical little-endian encoding of a BLS12-381 Fr element (blstrs `to_repr`).
 * Interior nodes of tree-r-last are neptune Poseidon over their children with the MerkleTree
 * hash type: arity 8 for base and sub-tree levels, arity 2 for the 64 GiB top level and for
 * comm_r = H(comm_c, comm_r_last). rust-fil-proofs picks the constants by the number of children
 * (`filecoin-hashers/src/poseidon.rs`, `multi_node` / `hash2`), which is what `hashFr` does.
 *
 * All hashing runs in WebAssembly (poseidon/wasm/). The hot loops (tree build, partial rebuild) work
 * on rows of node bytes (`hashRowBytes`), which never become BigInts; they range-check every node
 * when it is read, so that a bad node is reported with its file and offset, and the WebAssembly
 * code checks again (a non-canonical node there is a programming error, reported as bad input).
 */
import { FR_MODULUS, frToBytesLE } from "./poseidon/field.js";
import { poseidonWasm } from "./poseidon/wasm/hasher.js";
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
  return poseidonWasm(children.length).hashElements(children);
}

/**
 * Hash 32-byte children; returns undefined when any child is not canonical (a proof from an
 * untrusted source may carry such bytes; the verifier turns that into "invalid").
 */
export function hashNodes(children: readonly Uint8Array[]): Uint8Array | undefined {
  for (const c of children) if (c.length !== NODE_BYTES) return undefined;
  const out = new Uint8Array(NODE_BYTES);
  return poseidonWasm(children.length).hashChildrenInto(children, out) < 0 ? out : undefined;
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

/** Hash a row of field elements into its parent row (width / arity nodes), all in memory. */
export function hashRow(row: readonly bigint[], arity = 8): bigint[] {
  const bytes = new Uint8Array(row.length * NODE_BYTES);
  for (let i = 0; i < row.length; i++)
    frToBytesLE(row[i]!, bytes.subarray(i * NODE_BYTES, (i + 1) * NODE_BYTES));
  const parents = hashRowBytes(bytes, arity);
  const out: bigint[] = new Array<bigint>(parents.length / NODE_BYTES);
  for (let o = 0; o < out.length; o++) out[o] = decodeNode(parents, o * NODE_BYTES)!;
  return out;
}

/**
 * Hash a row of 32-byte nodes into its parent row (row.length / arity bytes), in WebAssembly.
 * The nodes must already have been range-checked: a node ≥ r, or a row that is not a whole number
 * of groups, is a PROOF_BAD_INPUT programming error here.
 */
export function hashRowBytes(row: Uint8Array, arity = 8, out?: Uint8Array): Uint8Array {
  const groupBytes = arity * NODE_BYTES;
  if (row.length % groupBytes !== 0) {
    throw badInput(
      `hashRowBytes: a row of ${row.length} bytes is not a whole number of ${arity}-node groups`,
    );
  }
  const parents = out ?? new Uint8Array(row.length / arity);
  const bad = poseidonWasm(arity).hashInto(row, parents);
  if (bad >= 0) throw badInput(`hashRowBytes: node ${bad} of the row is not a canonical field element`);
  return parents;
}
