/**
 * TreeRLast over an all-zero replica, in O(tree height) hashes instead of O(sector size).
 *
 * Every leaf is the zero node, so every node of a row is the same value: z[0] = 0 and
 * z[r] = Poseidon-8(z[r-1] × 8). One hash per row gives the whole tree, and every base tree (every
 * `sc-02-data-tree-r-last-i.dat`) of a sector has the same content: row r of the LevelCacheStore
 * file is z[r] repeated rowWidths[r] times, for the rows the file keeps (above rows_to_discard,
 * treeRLast.ts). That is what `buildTreeRLast` writes for a file of zeros; the unit test checks it
 * byte for byte at 8 MiB, where the full build is affordable.
 *
 * A sector whose replica is zeros is not what PoRep produces (a real replica is encoded data), but
 * PoSt never looks at how the replica came to be: inclusion proofs over these trees are as real as
 * over any other (sparseSeal.ts writes such sectors; only comm_c differs between them).
 */
import { decodeNode, encodeNode, hashRowBytes, NODE_BYTES } from "./nodes.js";
import type { SectorShape } from "./sectorShapes.js";
import { commRLastFromRoots, treeGeometry } from "./treeRLast.js";

/** zero[r]: the node value of row r of a base tree whose leaves are all zero (row 0 = leaves). */
export function zeroRows(shape: SectorShape): Uint8Array[] {
  const geom = treeGeometry(shape);
  const rows: Uint8Array[] = [new Uint8Array(NODE_BYTES)];
  const group = new Uint8Array(8 * NODE_BYTES);
  for (let r = 1; r < geom.rowWidths.length; r++) {
    for (let k = 0; k < 8; k++) group.set(rows[r - 1]!, k * NODE_BYTES);
    rows.push(hashRowBytes(group));
  }
  return rows;
}

/**
 * The content of every tree-r-last cache file of an all-zero sector (9,586,976 bytes for 32 and
 * 64 GiB): the kept rows, lowest first, each its zero node repeated. Filled by doubling copies, so
 * building it costs a memcpy of the file, not a hash per node.
 */
export function zeroTreeCacheFile(shape: SectorShape): Uint8Array {
  const geom = treeGeometry(shape);
  const zero = zeroRows(shape);
  const out = new Uint8Array(geom.fileBytes);
  for (let r = geom.cacheBaseRow; r < geom.rowWidths.length; r++) {
    const base = geom.rowNodeOffsets[r]! * NODE_BYTES;
    const end = base + geom.rowWidths[r]! * NODE_BYTES;
    out.set(zero[r]!, base);
    for (let filled = NODE_BYTES; base + filled < end; filled *= 2) {
      out.copyWithin(base + filled, base, base + Math.min(filled, end - base - filled));
    }
  }
  return out;
}

/** comm_r_last of an all-zero sector: the zero root of each base tree, combined as the shape says. */
export function zeroCommRLast(shape: SectorShape): Uint8Array {
  const geom = treeGeometry(shape);
  const root = decodeNode(zeroRows(shape)[geom.rowWidths.length - 1]!, 0)!;
  return encodeNode(commRLastFromRoots(shape, new Array<bigint>(shape.treeFiles).fill(root)));
}
