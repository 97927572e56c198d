/**
 * Sector sizes and the files a sealed sector's cache must hold for PoSt, with their exact sizes.
 *
 * TreeRLast is an arity-8 Poseidon tree over the replica (the sealed file is its base row). It is
 * written as one LevelCacheStore file per sub-tree, `sc-02-data-tree-r-last[-i].dat`, holding only the
 * rows above the discarded ones (rows_to_discard), lowest kept row first, 32 bytes per node.
 * Sources: rust-fil-proofs `filecoin-proofs/src/constants.rs`, `storage-proofs-core/src/util.rs`
 * (`default_rows_to_discard`), merkletree `store/level_cache.rs`; reference/post-proofs.md §1.4–§1.6.
 */

export const NODE_BYTES = 32;
export const P_AUX_BYTES = 64;

export interface SectorShape {
  /** Display name as operators write it. */
  name: "2KiB" | "8MiB" | "512MiB" | "32GiB" | "64GiB";
  sectorSize: number;
  /** Number of tree-r-last files (sub-trees). */
  treeFiles: number;
  /** Leaves (32-byte nodes) per sub-tree. */
  leavesPerTree: number;
  /** Arity of the sub-tree level above the base trees (0 = none) and of the top level (0 = none). */
  subArity: 0 | 8;
  topArity: 0 | 2;
  /** WindowPoSt sectors per partition (go-state-types WindowPoStPartitionSectors). */
  sectorsPerPartition: number;
}

export const SECTOR_SHAPES: readonly SectorShape[] = [
  {
    name: "2KiB",
    sectorSize: 2048,
    treeFiles: 1,
    leavesPerTree: 64,
    subArity: 0,
    topArity: 0,
    sectorsPerPartition: 2,
  },
  {
    name: "8MiB",
    sectorSize: 8 << 20,
    treeFiles: 1,
    leavesPerTree: 2 ** 18,
    subArity: 0,
    topArity: 0,
    sectorsPerPartition: 2,
  },
  {
    name: "512MiB",
    sectorSize: 512 << 20,
    treeFiles: 1,
    leavesPerTree: 2 ** 24,
    subArity: 0,
    topArity: 0,
    sectorsPerPartition: 2,
  },
  {
    name: "32GiB",
    sectorSize: 32 * 2 ** 30,
    treeFiles: 8,
    leavesPerTree: 2 ** 27,
    subArity: 8,
    topArity: 0,
    sectorsPerPartition: 2349,
  },
  {
    name: "64GiB",
    sectorSize: 64 * 2 ** 30,
    treeFiles: 16,
    leavesPerTree: 2 ** 27,
    subArity: 8,
    topArity: 2,
    sectorsPerPartition: 2300,
  },
];

export function shapeBySize(sectorSize: number): SectorShape | undefined {
  return SECTOR_SHAPES.find((s) => s.sectorSize === sectorSize);
}

export function shapeByName(name: string): SectorShape | undefined {
  const n = name.trim().toLowerCase();
  return SECTOR_SHAPES.find((s) => s.name.toLowerCase() === n);
}

export const KNOWN_SIZES_TEXT = SECTOR_SHAPES.map((s) => s.name).join(", ");

/** Row widths of one arity-8 base tree, base row first, root last. */
export function treeRowWidths(leaves: number): number[] {
  const rows: number[] = [leaves];
  let w = leaves;
  while (w > 1) {
    if (w % 8 !== 0) throw new Error(`tree width ${w} is not a power of 8`);
    w /= 8;
    rows.push(w);
  }
  return rows;
}

/** default_rows_to_discard for arity 8: 2 rows keep all, 3 rows drop 1, otherwise min(rows − 2, 2). */
export function rowsToDiscard(rowCount: number): number {
  if (rowCount <= 2) return 0;
  if (rowCount === 3) return 1;
  return Math.min(rowCount - 2, 2);
}

/** Bytes of one `sc-02-data-tree-r-last[-i].dat` file. */
export function treeRLastFileBytes(shape: SectorShape): number {
  const rows = treeRowWidths(shape.leavesPerTree);
  const discard = rowsToDiscard(rows.length);
  let nodes = 0;
  for (let i = 1 + discard; i < rows.length; i++) nodes += rows[i] ?? 0;
  return nodes * NODE_BYTES;
}

/** File names of the tree-r-last files, as merkletree's `data_path` builds them. */
export function treeRLastFileNames(shape: SectorShape): string[] {
  if (shape.treeFiles === 1) return ["sc-02-data-tree-r-last.dat"];
  return Array.from({ length: shape.treeFiles }, (_, i) => `sc-02-data-tree-r-last-${i}.dat`);
}
