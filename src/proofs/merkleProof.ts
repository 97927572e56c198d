/**
 * Inclusion proofs into tree-r-last, mirroring rust-fil-proofs
 * `storage-proofs-core/src/merkle/proof.rs`:
 *  - `MerkleProof { data: ProofData }` with `ProofData::{Single, Sub, Top}`;
 *  - `SingleProof { root, leaf, path }`, `SubProof { base_proof, sub_proof, root, leaf }`,
 *    `TopProof { base_proof, sub_proof, top_proof, root, leaf }` (field order matters for bincode);
 *  - `InclusionPath { path: Vec<PathElement> }`, `PathElement { hashes: Vec<Domain>, index: usize }`:
 *    `hashes` are the arity − 1 siblings in child order without the node itself, `index` is the
 *    node's position among its arity siblings. The node is re-inserted at `index` to hash a level
 *    (`InclusionPath::root`).
 *
 * Everything is plain data (Uint8Array, number, string tags) so proofs cross worker_threads and
 * JSON/bincode boundaries unchanged.
 */
import { bytesEqual, hashNodes, NODE_BYTES } from "./nodes.js";
import type { SectorShape } from "./sectorShapes.js";
import { treeGeometry } from "./treeRLast.js";

export interface PathElement {
  /** Siblings, 32 bytes each: 7 in base and sub-tree levels, 1 in the 64 GiB top level. */
  hashes: Uint8Array[];
  /** Position of the proven node among its siblings (0..arity−1). */
  index: number;
}

/** `ProofData::Single`: single-tree shapes (2 KiB, 8 MiB, 512 MiB). */
export interface SingleProof {
  kind: "single";
  root: Uint8Array;
  leaf: Uint8Array;
  path: PathElement[];
}

/** `ProofData::Sub`: 32 GiB (8 base trees under one arity-8 level). */
export interface SubProof {
  kind: "sub";
  basePath: PathElement[];
  subPath: PathElement[];
  root: Uint8Array;
  leaf: Uint8Array;
}

/** `ProofData::Top`: 64 GiB (two sub-trees under one arity-2 level). */
export interface TopProof {
  kind: "top";
  basePath: PathElement[];
  subPath: PathElement[];
  topPath: PathElement[];
  root: Uint8Array;
  leaf: Uint8Array;
}

export type MerkleProof = SingleProof | SubProof | TopProof;
export type MerkleProofKind = MerkleProof["kind"];

/** `fallback::SectorProof` (storage-proofs-post/src/fallback/vanilla.rs), same field order. */
export interface SectorProof {
  inclusionProofs: MerkleProof[];
  commC: Uint8Array;
  commRLast: Uint8Array;
}

/** The proof variant rust-fil-proofs produces for a shape (`MerkleProof::try_from_proof`). */
export function proofKindForShape(shape: SectorShape): MerkleProofKind {
  if (shape.topArity !== 0) return "top";
  if (shape.subArity !== 0) return "sub";
  return "single";
}

/** The path parts of a proof in order base, sub, top, each with the arity of its level. */
export function proofLevels(p: MerkleProof): { path: PathElement[]; arity: number }[] {
  switch (p.kind) {
    case "single":
      return [{ path: p.path, arity: 8 }];
    case "sub":
      return [
        { path: p.basePath, arity: 8 },
        { path: p.subPath, arity: 8 },
      ];
    case "top":
      return [
        { path: p.basePath, arity: 8 },
        { path: p.subPath, arity: 8 },
        { path: p.topPath, arity: 2 },
      ];
  }
}

/** Number of path elements: the `path().len()` compared with `expected_len` by the verifier. */
export function proofPathLength(p: MerkleProof): number {
  return proofLevels(p).reduce((n, l) => n + l.path.length, 0);
}

function pathIndexOf(path: readonly PathElement[], arity: number): number {
  let acc = 0;
  for (let i = path.length - 1; i >= 0; i--) acc = acc * arity + path[i]!.index;
  return acc;
}

/**
 * The leaf index a proof claims, as `path_index()` computes it: base index, plus the sub-tree
 * index times 8^(base length), plus (64 GiB) the top index times 8^(base length)·8.
 */
export function proofPathIndex(p: MerkleProof): number {
  const levels = proofLevels(p);
  const base = levels[0]!;
  const baseLeaves = 8 ** base.path.length;
  let idx = pathIndexOf(base.path, 8);
  if (levels[1] !== undefined) idx += pathIndexOf(levels[1].path, 8) * baseLeaves;
  if (levels[2] !== undefined) idx += pathIndexOf(levels[2].path, 2) * baseLeaves * 8;
  return idx;
}

/**
 * Recompute the root from the leaf along every level (`InclusionPath::root`, chained through
 * base → sub → top as `SubProof::verify` / `TopProof::verify` do). Returns a reason string when
 * an element is malformed (wrong sibling count, index out of range, non-Fr bytes).
 */
export function computeProofRoot(p: MerkleProof): Uint8Array | string {
  let cur = p.leaf;
  if (!(cur instanceof Uint8Array) || cur.length !== NODE_BYTES) return "leaf is not 32 bytes";
  const levels = proofLevels(p);
  for (let l = 0; l < levels.length; l++) {
    const { path, arity } = levels[l]!;
    for (let h = 0; h < path.length; h++) {
      const el = path[h]!;
      const where = `level ${l} element ${h}`;
      if (!Array.isArray(el.hashes) || el.hashes.length !== arity - 1) {
        return `${where}: expected ${arity - 1} sibling hashes, got ${el.hashes?.length}`;
      }
      if (!Number.isInteger(el.index) || el.index < 0 || el.index >= arity) {
        return `${where}: index ${el.index} is outside 0..${arity - 1}`;
      }
      const kids = el.hashes.slice();
      kids.splice(el.index, 0, cur);
      const next = hashNodes(kids);
      if (next === undefined) return `${where}: a node is not a 32-byte canonical field element`;
      cur = next;
    }
  }
  return cur;
}

/**
 * Validate one inclusion proof for `challenge` (a leaf index of the whole sector) in `shape`:
 * the variant and path lengths of the shape, a recomputed root equal to `proof.root`, and a path
 * index equal to the challenge (`MerkleProofTrait::validate`). Returns undefined when valid,
 * otherwise the reason.
 */
export function checkInclusionProof(
  p: MerkleProof,
  shape: SectorShape,
  challenge: number,
): string | undefined {
  const kind = proofKindForShape(shape);
  if (p.kind !== kind) return `proof variant ${p.kind}, expected ${kind} for ${shape.name}`;
  const geom = treeGeometry(shape);
  const levels = proofLevels(p);
  const expected = [geom.basePathLength, 1, 1];
  for (let l = 0; l < levels.length; l++) {
    if (levels[l]!.path.length !== expected[l]) {
      return `path level ${l} has ${levels[l]!.path.length} elements, expected ${expected[l]}`;
    }
  }
  const root = computeProofRoot(p);
  if (typeof root === "string") return root;
  if (!(p.root instanceof Uint8Array) || !bytesEqual(root, p.root)) {
    return "path does not hash to the proof's root";
  }
  const idx = proofPathIndex(p);
  if (idx !== challenge) return `path index ${idx} ≠ challenged leaf ${challenge}`;
  return undefined;
}
