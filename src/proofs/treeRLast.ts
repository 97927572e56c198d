/**
 * TreeRLast as rust-fil-proofs and merkletree lay it out on disk.
 *
 * Shape (reference/post-proofs.md §1.5, rust-fil-proofs `LCTree<PoseidonHasher, U8, sub, top>`):
 *  - one base tree per `sc-02-data-tree-r-last[-i].dat` file, arity 8, whose leaves ARE the
 *    replica's 32-byte nodes (the Poseidon `leaf()` hook is the identity,
 *    `filecoin-hashers/src/poseidon.rs`); base tree i covers replica bytes
 *    [i·L·32, (i+1)·L·32) (`storage-proofs-core/src/merkle/builders.rs:split_config_and_replica`);
 *  - 32/64 GiB: a sub-tree level of arity 8 over groups of 8 base roots; 64 GiB: a top level of
 *    arity 2 over the two sub-tree roots. comm_r_last is the root of the whole thing.
 *
 * File content (merkletree `src/store/level_cache.rs`, `src/merkle.rs:get_merkle_tree_cache_size`):
 * only the rows above the `rows_to_discard` rows that sit above the base, lowest kept row first,
 * each row contiguous, 32 bytes per node; the base row is read from the replica
 * (`ExternalReader`) and the discarded rows are rebuilt per challenge from one segment of
 * 8^(rows_to_discard + 1) leaves. The loader insists the file size equals exactly that cache size.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { fileSize, openForRead, type ReadContext, readExactly, sizeError } from "./fileRead.js";
import { badInput, decodeNode, encodeNode, hashFr, hashRow, hashRowBytes, NODE_BYTES } from "./nodes.js";
import { PROOF_ERROR_CODES, proofError } from "./proofErrors.js";
import {
  rowsToDiscard,
  type SectorShape,
  treeRLastFileBytes,
  treeRLastFileNames,
  treeRowWidths,
} from "./sectorShapes.js";

/** Everything about one shape's tree-r-last that the builder and the prover need. */
export interface TreeGeometry {
  readonly shape: SectorShape;
  /** Leaves (replica nodes) per base tree, i.e. per cache file. */
  readonly leavesPerTree: number;
  /** Widths of one base tree's rows, base (row 0) first, root last. */
  readonly rowWidths: readonly number[];
  readonly rowsToDiscard: number;
  /** Lowest row stored in the cache file: rowsToDiscard + 1. */
  readonly cacheBaseRow: number;
  /** Leaves read from the replica per challenge: 8^cacheBaseRow (64 for 2 KiB, 512 otherwise). */
  readonly segmentLeaves: number;
  readonly segmentBytes: number;
  /** Node offset of each row inside a cache file; -1 for the base and discarded rows. */
  readonly rowNodeOffsets: readonly number[];
  /** Exact size of each cache file (= treeRLastFileBytes). */
  readonly fileBytes: number;
  readonly fileNames: readonly string[];
  /** Path elements in the base part of an inclusion proof: one per row below the root. */
  readonly basePathLength: number;
  /** Leaves of the whole sector (all base trees). */
  readonly totalLeaves: number;
}

const geometryCache = new Map<string, TreeGeometry>();

export function treeGeometry(shape: SectorShape): TreeGeometry {
  // Keyed by value, not identity: shapes arrive structured-cloned when this runs in a worker.
  const key = `${shape.name}/${shape.sectorSize}/${shape.leavesPerTree}/${shape.treeFiles}`;
  const hit = geometryCache.get(key);
  if (hit !== undefined) return hit;
  const rowWidths = treeRowWidths(shape.leavesPerTree);
  const discard = rowsToDiscard(rowWidths.length);
  const cacheBaseRow = discard + 1;
  const rowNodeOffsets: number[] = [];
  let off = 0;
  for (let r = 0; r < rowWidths.length; r++) {
    if (r < cacheBaseRow) {
      rowNodeOffsets.push(-1);
    } else {
      rowNodeOffsets.push(off);
      off += rowWidths[r]!;
    }
  }
  const fileBytes = off * NODE_BYTES;
  if (fileBytes !== treeRLastFileBytes(shape)) {
    throw badInput(`tree geometry of ${shape.name}: ${fileBytes} bytes ≠ treeRLastFileBytes`);
  }
  const segmentLeaves = shape.leavesPerTree / rowWidths[cacheBaseRow]!;
  const g: TreeGeometry = {
    shape,
    leavesPerTree: shape.leavesPerTree,
    rowWidths,
    rowsToDiscard: discard,
    cacheBaseRow,
    segmentLeaves,
    segmentBytes: segmentLeaves * NODE_BYTES,
    rowNodeOffsets,
    fileBytes,
    fileNames: treeRLastFileNames(shape),
    basePathLength: rowWidths.length - 1,
    totalLeaves: shape.sectorSize / NODE_BYTES,
  };
  geometryCache.set(key, g);
  return g;
}

/** Byte offset inside a cache file of node `node` of row `row` (row ≥ cacheBaseRow). */
export function rowByteOffset(geom: TreeGeometry, row: number, node: number): number {
  const base = geom.rowNodeOffsets[row];
  const width = geom.rowWidths[row];
  if (base === undefined || base < 0 || width === undefined || node < 0 || node >= width) {
    throw badInput(`row ${row} node ${node} is not stored in a tree-r-last cache file`);
  }
  return (base + node) * NODE_BYTES;
}

/** Byte offset of the root (the last node) inside a cache file. */
export function rootByteOffset(geom: TreeGeometry): number {
  return geom.fileBytes - NODE_BYTES;
}

/** Absolute paths of the cache files, in sub-tree order. */
export function treeRLastPaths(cacheDir: string, shape: SectorShape): string[] {
  return treeRLastFileNames(shape).map((n) => path.join(cacheDir, n));
}

/**
 * Check that every tree-r-last file of the sector exists and has exactly the LevelCacheStore
 * size; a file of another size would be rejected by merkletree
 * ("Inconsistent store size detected with external reader"). Returns the paths.
 */
export async function checkTreeRLastFiles(
  cacheDir: string,
  shape: SectorShape,
  sector?: bigint | number,
): Promise<string[]> {
  const geom = treeGeometry(shape);
  const files = treeRLastPaths(cacheDir, shape);
  await Promise.all(
    files.map(async (file) => {
      const ctx: ReadContext = { sector, file, what: "tree-r-last cache file" };
      const size = await fileSize(ctx);
      if (size !== geom.fileBytes) {
        throw sizeError(
          ctx,
          size,
          geom.fileBytes,
          `${shape.name} LevelCacheStore: rows above rows_to_discard=${geom.rowsToDiscard}, 32 bytes per node`,
        );
      }
    }),
  );
  return files;
}

/**
 * The 8 nodes (256 bytes) of the sibling group that holds node `node` of cached row `row`
 * (row < root row), read from an open cache file.
 */
export async function readRowGroup(
  fh: fs.FileHandle,
  geom: TreeGeometry,
  row: number,
  node: number,
  ctx: ReadContext,
): Promise<Uint8Array> {
  const start = node - (node % 8);
  const buf = new Uint8Array(8 * NODE_BYTES);
  await readExactly(fh, buf, rowByteOffset(geom, row, start), ctx);
  return buf;
}

/** Decode a cached node, turning a non-canonical value into PROOF_CORRUPT with file and offset. */
export function cachedNode(
  buf: Uint8Array,
  offsetInBuf: number,
  fileOffset: number,
  ctx: ReadContext,
): bigint {
  const x = decodeNode(buf, offsetInBuf);
  if (x === undefined) {
    throw proofError(
      PROOF_ERROR_CODES.corrupt,
      ctx.sector,
      `${ctx.what} ${ctx.file} holds a value that is not a BLS12-381 field element at byte ${fileOffset}; ` +
        "the file is corrupt",
      { file: ctx.file, offset: fileOffset },
    );
  }
  return x;
}

/** Root of sub-tree group `group` (8 base-tree roots) of a 32/64 GiB sector. */
export function subTreeRoot(roots: readonly bigint[], group: number): bigint {
  return hashFr(roots.slice(group * 8, group * 8 + 8));
}

/**
 * comm_r_last from the base-tree roots (the last node of each cache file): the single root;
 * Poseidon-8 of the 8 roots (32 GiB); Poseidon-2 of the two sub-tree roots (64 GiB).
 */
export function commRLastFromRoots(shape: SectorShape, roots: readonly bigint[]): bigint {
  if (roots.length !== shape.treeFiles) throw badInput(`expected ${shape.treeFiles} tree roots`);
  if (shape.subArity === 0) return roots[0]!;
  if (shape.topArity === 0) return subTreeRoot(roots, 0);
  return hashFr([subTreeRoot(roots, 0), subTreeRoot(roots, 1)]);
}

/**
 * Read and decode the root of every cache file of a sector (after `checkTreeRLastFiles`).
 * Returns the roots as field elements, in sub-tree order.
 */
export async function readTreeRoots(files: readonly string[], geom: TreeGeometry, sector?: bigint | number) {
  return Promise.all(
    files.map(async (file) => {
      const ctx: ReadContext = { sector, file, what: "tree-r-last cache file" };
      const fh = await openForRead(ctx);
      try {
        const buf = new Uint8Array(NODE_BYTES);
        await readExactly(fh, buf, rootByteOffset(geom), ctx);
        return cachedNode(buf, 0, rootByteOffset(geom), ctx);
      } finally {
        await fh.close();
      }
    }),
  );
}

export interface BuildTreeRLastOptions {
  readonly shape: SectorShape;
  readonly sealedFile: string;
  readonly cacheDir: string;
  /** For error messages only. */
  readonly sector?: bigint | number;
  /** Replica bytes per read; rounded down to whole segments (default 1 MiB). */
  readonly chunkBytes?: number;
}

export interface TreeRLastBuild {
  /** 32-byte comm_r_last. */
  readonly commRLast: Uint8Array;
  /** Root of each base tree (= last 32 bytes of each cache file), in file order. */
  readonly treeRoots: Uint8Array[];
}

/**
 * Build tree-r-last from a replica and write its cache files into `cacheDir` (created if needed),
 * sub-tree by sub-tree. The replica is streamed in chunks of whole segments; memory per sub-tree
 * is the cache file (9.1 MiB for 32 GiB) plus the lowest kept row as field elements. Each file
 * is written to a temporary name and renamed, so a crash never leaves a file of the right size
 * with wrong content. Cost: about one Poseidon-8 per 7 leaves (37,449 hashes for 8 MiB).
 */
export async function buildTreeRLast(opts: BuildTreeRLastOptions): Promise<TreeRLastBuild> {
  const { shape, sealedFile, cacheDir, sector } = opts;
  const geom = treeGeometry(shape);
  const replica: ReadContext = { sector, file: sealedFile, what: "sealed replica" };
  const size = await fileSize(replica);
  if (size < shape.sectorSize) throw sizeError(replica, size, shape.sectorSize, `${shape.name} sector`);
  await fs.mkdir(cacheDir, { recursive: true });
  const segsPerChunk = Math.max(1, Math.floor((opts.chunkBytes ?? 1 << 20) / geom.segmentBytes));
  const chunk = new Uint8Array(segsPerChunk * geom.segmentBytes);
  const fh = await openForRead(replica);
  const roots: bigint[] = [];
  try {
    for (let t = 0; t < shape.treeFiles; t++) {
      const width = geom.rowWidths[geom.cacheBaseRow]!;
      const lowest = new Uint8Array(width * NODE_BYTES);
      const treeStart = t * geom.leavesPerTree * NODE_BYTES;
      for (let seg = 0; seg < width; seg += segsPerChunk) {
        const n = Math.min(segsPerChunk, width - seg);
        const buf = chunk.subarray(0, n * geom.segmentBytes);
        const pos = treeStart + seg * geom.segmentBytes;
        await readExactly(fh, buf, pos, replica);
        for (let k = 0; k < n; k++) {
          const at = k * geom.segmentBytes;
          checkSegment(buf, at, geom.segmentLeaves, pos, replica);
          const top = hashUpBytes(buf.subarray(at, at + geom.segmentBytes), geom.cacheBaseRow);
          lowest.set(top, (seg + k) * NODE_BYTES);
          // One segment is ~73 hashes (~7 ms): let timers and I/O of a daemon run in between.
          await yieldToLoop();
        }
      }
      const file = path.join(cacheDir, geom.fileNames[t]!);
      roots.push(await writeCacheFile(file, geom, lowest));
    }
  } finally {
    await fh.close();
  }
  return {
    commRLast: encodeNode(commRLastFromRoots(shape, roots)),
    treeRoots: roots.map((r) => encodeNode(r)),
  };
}

/** Decode `count` leaves at `offset` of `buf`; `filePos` is buf[0]'s position in the replica. */
export function decodeSegment(
  buf: Uint8Array,
  offset: number,
  count: number,
  filePos: number,
  ctx: ReadContext,
): bigint[] {
  const out = new Array<bigint>(count);
  for (let i = 0; i < count; i++) {
    const at = offset + i * NODE_BYTES;
    const x = decodeNode(buf, at);
    if (x === undefined) throw corruptReplicaNode(ctx, filePos + at);
    out[i] = x;
  }
  return out;
}

/**
 * Range-check `count` leaves at `offset` of `buf` without decoding them, with the same error as
 * `decodeSegment` for the first non-canonical one. r's top byte is 0x73, so a node whose last
 * (most significant) byte is below 0x73 is canonical; only the others need the full comparison.
 */
export function checkSegment(
  buf: Uint8Array,
  offset: number,
  count: number,
  filePos: number,
  ctx: ReadContext,
): void {
  if (offset < 0 || offset + count * NODE_BYTES > buf.length)
    throw badInput("checkSegment: range out of buffer");
  for (let i = 0, at = offset; i < count; i++, at += NODE_BYTES) {
    if (buf[at + NODE_BYTES - 1]! >= 0x73 && decodeNode(buf, at) === undefined) {
      throw corruptReplicaNode(ctx, filePos + at);
    }
  }
}

function corruptReplicaNode(ctx: ReadContext, fileOffset: number) {
  return proofError(
    PROOF_ERROR_CODES.corrupt,
    ctx.sector,
    `${ctx.what} ${ctx.file} holds a node that is not a BLS12-381 field element at byte ${fileOffset}; ` +
      "the replica is corrupt",
    { file: ctx.file, offset: fileOffset },
  );
}

/** Hash a row up `levels` times with arity 8; returns the top row reached. */
export function hashUp(row: readonly bigint[], levels: number): bigint[] {
  let cur = row as bigint[];
  for (let l = 0; l < levels; l++) cur = hashRow(cur);
  return cur;
}

/** `hashUp` on node bytes (already range-checked): returns the bytes of the top row reached. */
export function hashUpBytes(row: Uint8Array, levels: number): Uint8Array {
  let cur = row;
  for (let l = 0; l < levels; l++) cur = hashRowBytes(cur);
  return cur;
}

/**
 * Compute the rows above the lowest kept one (node bytes, range-checked) and write the cache file
 * (rows in order, lowest first). Returns the root.
 */
export async function writeCacheFile(file: string, geom: TreeGeometry, lowest: Uint8Array): Promise<bigint> {
  if (lowest.length !== geom.rowWidths[geom.cacheBaseRow]! * NODE_BYTES) {
    throw badInput("lowest kept row has wrong width");
  }
  const out = new Uint8Array(geom.fileBytes);
  let row = lowest;
  for (let r = geom.cacheBaseRow; r < geom.rowWidths.length; r++) {
    const base = geom.rowNodeOffsets[r]! * NODE_BYTES;
    if (r > geom.cacheBaseRow) {
      row = await hashRowYielding(row, out.subarray(base, base + geom.rowWidths[r]! * NODE_BYTES));
    } else {
      out.set(row, base);
    }
  }
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, out);
  await fs.rename(tmp, file);
  return decodeNode(row, 0)!;
}

/** `hashRowBytes` into `out`, in slices of 64 parents with an event-loop turn between slices. */
async function hashRowYielding(row: Uint8Array, out: Uint8Array): Promise<Uint8Array> {
  const slice = 64 * 8 * NODE_BYTES;
  for (let i = 0; i < row.length; i += slice) {
    const end = Math.min(row.length, i + slice);
    hashRowBytes(row.subarray(i, end), 8, out.subarray(i / 8, end / 8));
    if (end < row.length) await yieldToLoop();
  }
  return out;
}

/** Write a field element as 32 little-endian bytes at `offset` of `out`. */
export function encodeInto(x: bigint, out: Uint8Array, offset: number): void {
  const dv = new DataView(out.buffer, out.byteOffset + offset, NODE_BYTES);
  const m = 0xffffffffffffffffn;
  dv.setBigUint64(0, x & m, true);
  dv.setBigUint64(8, (x >> 64n) & m, true);
  dv.setBigUint64(16, (x >> 128n) & m, true);
  dv.setBigUint64(24, x >> 192n, true);
}
