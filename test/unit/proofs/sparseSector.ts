/**
 * Test helper: sectors of any size over a SPARSE replica. The sealed file is truncated to the full
 * sector size (no disk used) and only a few 16 KiB segments are written. All-zero segments give
 * identical sub-trees, so each row of the tree is "the all-zero node of that level" except above
 * the written segments: the tree costs one hash per level plus ~80 hashes per written segment,
 * which makes real 32 GiB and 64 GiB cache files (9.1 MiB each, mostly repeated nodes) cheap.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { commRFrom, hashFr, NODE_BYTES } from "../../../src/proofs/nodes.js";
import type { SectorShape } from "../../../src/proofs/sectorShapes.js";
import { type RandomSource, randomNodes } from "../../../src/proofs/syntheticSector.js";
import {
  commRLastFromRoots,
  decodeSegment,
  encodeInto,
  hashUp,
  treeGeometry,
} from "../../../src/proofs/treeRLast.js";

export interface SparseSector {
  sealedFile: string;
  cacheDir: string;
  commR: Uint8Array;
  commC: Uint8Array;
  commRLast: Uint8Array;
}

/** zero[r] = the node of row r in a sub-tree whose leaves are all zero. */
function zeroNodes(rows: number): bigint[] {
  const z = [0n];
  for (let r = 1; r < rows; r++) z.push(hashFr(new Array<bigint>(8).fill(z[r - 1]!)));
  return z;
}

/**
 * Write a sparse sector: the sealed file at `dir/sealed`, the cache files and p_aux in
 * `dir/cache`. `segments` are sector-wide segment numbers (leaf index / segmentLeaves) that get
 * random content; everything else reads as zeros.
 */
export async function writeSparseSector(
  dir: string,
  shape: SectorShape,
  segments: Iterable<number>,
  random: RandomSource,
): Promise<SparseSector> {
  const geom = treeGeometry(shape);
  const sealedFile = path.join(dir, "sealed");
  const cacheDir = path.join(dir, "cache");
  await fs.mkdir(cacheDir, { recursive: true });
  const fh = await fs.open(sealedFile, "w");
  const perTree = new Map<number, Map<number, bigint>>(); // tree → (row-c index → node)
  try {
    await fh.truncate(shape.sectorSize);
    for (const seg of new Set(segments)) {
      const data = randomNodes(geom.segmentBytes, random);
      const pos = seg * geom.segmentBytes;
      await fh.write(data, 0, data.length, pos);
      const t = Math.floor((seg * geom.segmentLeaves) / geom.leavesPerTree);
      const local = seg - (t * geom.leavesPerTree) / geom.segmentLeaves;
      const leaves = decodeSegment(data, 0, geom.segmentLeaves, pos, {
        sector: 0,
        file: sealedFile,
        what: "x",
      });
      const m = perTree.get(t) ?? new Map<number, bigint>();
      perTree.set(t, m);
      m.set(local, hashUp(leaves, geom.cacheBaseRow)[0]!);
    }
  } finally {
    await fh.close();
  }

  const z = zeroNodes(geom.rowWidths.length);
  const roots: bigint[] = [];
  for (let t = 0; t < shape.treeFiles; t++) {
    const out = new Uint8Array(geom.fileBytes);
    let over = perTree.get(t) ?? new Map<number, bigint>();
    for (let r = geom.cacheBaseRow; r < geom.rowWidths.length; r++) {
      if (r > geom.cacheBaseRow) {
        const next = new Map<number, bigint>();
        for (const i of over.keys()) {
          const p = Math.floor(i / 8);
          if (next.has(p)) continue;
          const kids: bigint[] = [];
          for (let k = 0; k < 8; k++) kids.push(over.get(p * 8 + k) ?? z[r - 1]!);
          next.set(p, hashFr(kids));
        }
        over = next;
      }
      const base = geom.rowNodeOffsets[r]! * NODE_BYTES;
      const end = base + geom.rowWidths[r]! * NODE_BYTES;
      encodeInto(z[r]!, out, base);
      for (let filled = NODE_BYTES; base + filled < end; filled *= 2) {
        out.copyWithin(base + filled, base, base + Math.min(filled, end - base - filled));
      }
      for (const [i, v] of over) encodeInto(v, out, base + i * NODE_BYTES);
    }
    roots.push(over.get(0) ?? z[geom.rowWidths.length - 1]!);
    await fs.writeFile(path.join(cacheDir, geom.fileNames[t]!), out);
  }
  const commRLast = new Uint8Array(NODE_BYTES);
  encodeInto(commRLastFromRoots(shape, roots), commRLast, 0);
  const commC = randomNodes(NODE_BYTES, random);
  const pAux = new Uint8Array(2 * NODE_BYTES);
  pAux.set(commC);
  pAux.set(commRLast, NODE_BYTES);
  await fs.writeFile(path.join(cacheDir, "p_aux"), pAux);
  return { sealedFile, cacheDir, commR: commRFrom(commC, commRLast)!, commC, commRLast };
}
