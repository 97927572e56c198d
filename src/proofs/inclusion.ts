/**
 * Generating tree-r-last inclusion proofs from a replica and its LevelCacheStore cache files,
 * as merkletree's `gen_cached_proof` / `gen_proof_with_partial_tree` (src/merkle.rs) and the
 * compound `gen_cached_sub_tree_proof` / `gen_cached_top_tree_proof` do
 * (reference/post-proofs.md §1.7):
 *  1. read the segment of 8^(rows_to_discard+1) leaves holding the challenged leaf (16 KiB; the
 *     whole 2 KiB sector for 2 KiB);
 *  2. rebuild the discarded rows from it; unlike Rust, CHECK the rebuilt node against the cached
 *     row entry, so a corrupt replica or cache is reported with the file and offset instead of
 *     surfacing as "invalid proof";
 *  3. path rows below the cache come from the rebuilt partial tree, rows in the cache from 256-byte
 *     sibling groups of the challenged base tree's file;
 *  4. sub-tree element: the other base-tree roots of the group (last node of each sibling file);
 *     top element (64 GiB): the other sub-tree root.
 * Every proof is re-verified (root and path index) before it is returned, as `vanilla_proof` does.
 */
import type { FileHandle } from "node:fs/promises";
import { fileSize, openForRead, type ReadContext, readExactly, sizeError } from "./fileRead.js";
import { checkInclusionProof, type MerkleProof, type PathElement } from "./merkleProof.js";
import { bytesEqual, encodeNode, hashRowBytes, NODE_BYTES } from "./nodes.js";
import { PROOF_ERROR_CODES, proofError } from "./proofErrors.js";
import type { SectorShape } from "./sectorShapes.js";
import {
  cachedNode,
  checkSegment,
  checkTreeRLastFiles,
  commRLastFromRoots,
  readRowGroup,
  rootByteOffset,
  rowByteOffset,
  subTreeRoot,
  type TreeGeometry,
  treeGeometry,
} from "./treeRLast.js";
import { zeroRows } from "./zeroTree.js";

export interface SectorTreeReaderOptions {
  readonly shape: SectorShape;
  readonly sealedFile: string;
  readonly cacheDir: string;
  /** For error messages. */
  readonly sector?: bigint | number;
  /**
   * The top rows of each cache file are read once per sector when they fit in this many bytes
   * (default 32 KiB: the whole 18.7 KiB file for 8 MiB, rows 6..root for 32/64 GiB), so a
   * challenge needs one replica read plus one 256-byte read per lower cached row.
   */
  readonly tailBytes?: number;
}

interface CacheFile {
  readonly ctx: ReadContext;
  /** Bytes [tailStart, fileBytes) of the file. */
  readonly tail: Uint8Array;
  handle?: Promise<FileHandle>;
}

/**
 * Read access to one sector's replica and tree-r-last for proving: validates the cache file
 * sizes and the replica size, reads the roots, and produces inclusion proofs. Call `close()`.
 */
export class SectorTreeReader {
  readonly geom: TreeGeometry;
  /** Base-tree roots (last node of each cache file), in file order. */
  readonly roots: readonly bigint[];
  /** comm_r_last computed from the roots. */
  readonly commRLast: Uint8Array;
  private readonly tailRow: number;
  private readonly tailStart: number;
  private readonly subRoots: readonly bigint[];

  private constructor(
    private readonly opts: SectorTreeReaderOptions,
    private readonly replica: FileHandle,
    private readonly files: CacheFile[],
    tailRow: number,
  ) {
    this.geom = treeGeometry(opts.shape);
    this.tailRow = tailRow;
    this.tailStart = rowByteOffset(this.geom, tailRow, 0);
    const root = rootByteOffset(this.geom) - this.tailStart;
    this.roots = files.map((f) => cachedNode(f.tail, root, rootByteOffset(this.geom), f.ctx));
    this.commRLast = encodeNode(commRLastFromRoots(opts.shape, this.roots));
    this.subRoots = opts.shape.topArity === 0 ? [] : [subTreeRoot(this.roots, 0), subTreeRoot(this.roots, 1)];
  }

  static async open(opts: SectorTreeReaderOptions): Promise<SectorTreeReader> {
    const { shape, sector } = opts;
    const geom = treeGeometry(shape);
    const paths = await checkTreeRLastFiles(opts.cacheDir, shape, sector);
    const replicaCtx: ReadContext = { sector, file: opts.sealedFile, what: "sealed replica" };
    const size = await fileSize(replicaCtx);
    // Rust only needs the challenged ranges to exist; a replica shorter than the sector is
    // certainly damaged, a longer one is tolerated as it is upstream.
    if (size < shape.sectorSize) throw sizeError(replicaCtx, size, shape.sectorSize, `${shape.name} sector`);
    const limit = opts.tailBytes ?? 32 << 10;
    let tailRow = geom.rowWidths.length - 1;
    while (
      tailRow - 1 >= geom.cacheBaseRow &&
      geom.fileBytes - rowByteOffset(geom, tailRow - 1, 0) <= limit
    ) {
      tailRow--;
    }
    const tailStart = rowByteOffset(geom, tailRow, 0);
    const files = await Promise.all(
      paths.map(async (file): Promise<CacheFile> => {
        const ctx: ReadContext = { sector, file, what: "tree-r-last cache file" };
        const fh = await openForRead(ctx);
        try {
          const tail = new Uint8Array(geom.fileBytes - tailStart);
          await readExactly(fh, tail, tailStart, ctx);
          return { ctx, tail };
        } finally {
          await fh.close();
        }
      }),
    );
    const replica = await openForRead(replicaCtx);
    try {
      return new SectorTreeReader(opts, replica, files, tailRow);
    } catch (err) {
      await replica.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    const handles = this.files.map((f) => f.handle).filter((h) => h !== undefined);
    await Promise.allSettled([this.replica.close(), ...handles.map(async (h) => (await h).close())]);
  }

  private handle(t: number): Promise<FileHandle> {
    const f = this.files[t]!;
    if (f.handle === undefined) {
      f.handle = openForRead(f.ctx);
      f.handle.catch(() => {}); // awaited by the caller; keep an early rejection from going unhandled
    }
    return f.handle;
  }

  /** 256-byte sibling group holding node `node` of cached row `row` of file `t`, and its file offset. */
  private async group(t: number, row: number, node: number): Promise<{ buf: Uint8Array; at: number }> {
    const start = node - (node % 8);
    const at = rowByteOffset(this.geom, row, start);
    if (row >= this.tailRow) {
      const off = at - this.tailStart;
      return { buf: this.files[t]!.tail.subarray(off, off + 8 * NODE_BYTES), at };
    }
    return { buf: await readRowGroup(await this.handle(t), this.geom, row, node, this.files[t]!.ctx), at };
  }

  /** Inclusion proof for `challenge` (leaf index in the whole sector), checked before return. */
  async prove(challenge: number): Promise<MerkleProof> {
    const { geom, opts } = this;
    const { sector } = opts;
    if (!Number.isSafeInteger(challenge) || challenge < 0 || challenge >= geom.totalLeaves) {
      throw proofError(PROOF_ERROR_CODES.badInput, sector, `challenge ${challenge} is outside the sector`);
    }
    const L = geom.leavesPerTree;
    const t = Math.floor(challenge / L);
    const leaf = challenge % L;
    const segStart = leaf - (leaf % geom.segmentLeaves);
    const replicaPos = (t * L + segStart) * NODE_BYTES;
    const top = geom.rowWidths.length - 1;
    const c = geom.cacheBaseRow;
    const replicaCtx: ReadContext = { sector, file: opts.sealedFile, what: "sealed replica" };

    // All reads of this challenge at once: the segment and the lower cached rows' groups.
    const segment = new Uint8Array(geom.segmentBytes);
    const cachedRows: number[] = [];
    for (let r = c; r < top; r++) cachedRows.push(r);
    const [, ...groups] = await Promise.all([
      readExactly(this.replica, segment, replicaPos, replicaCtx),
      ...cachedRows.map((r) => this.group(t, r, Math.floor(leaf / 8 ** r))),
    ]);

    // Partial tree: rows 0..c over the segment, as node bytes; rows[c] is a single node.
    checkSegment(segment, 0, geom.segmentLeaves, replicaPos, replicaCtx);
    const rows: Uint8Array[] = zeroPartialRows(geom, segment) ?? [segment];
    for (let r = rows.length; r <= c; r++) rows.push(hashRowBytes(rows[r - 1]!));
    const rebuilt = rows[c]!;
    const fileCtx = this.files[t]!.ctx;
    const jc = Math.floor(leaf / 8 ** c);
    let cached: Uint8Array;
    if (c === top) {
      cached = encodeNode(this.roots[t]!);
    } else {
      const off = (jc % 8) * NODE_BYTES;
      cachedNode(groups[0]!.buf, off, groups[0]!.at + off, fileCtx); // range check, names the offset
      cached = groups[0]!.buf.subarray(off, off + NODE_BYTES);
    }
    if (!bytesEqual(cached, rebuilt)) {
      const at = c === top ? rootByteOffset(geom) : rowByteOffset(geom, c, jc);
      throw proofError(
        PROOF_ERROR_CODES.corrupt,
        sector,
        `replica segment at bytes [${replicaPos}, ${replicaPos + geom.segmentBytes}) of ${opts.sealedFile} ` +
          `(challenge ${challenge}) rebuilds a row-${c} node that differs from the cached node at byte ${at} ` +
          `of ${fileCtx.file}: the sealed data or the tree-r-last cache is corrupt`,
        { file: opts.sealedFile, offset: replicaPos, cacheFile: fileCtx.file, cacheOffset: at, challenge },
      );
    }

    const basePath: PathElement[] = [];
    for (let r = 0; r < top; r++) {
      const j = Math.floor(leaf / 8 ** r);
      const index = j % 8;
      const hashes: Uint8Array[] = [];
      if (r < c) {
        const local = j - index - Math.floor(segStart / 8 ** r);
        for (let k = 0; k < 8; k++) {
          if (k !== index)
            hashes.push(rows[r]!.slice((local + k) * NODE_BYTES, (local + k + 1) * NODE_BYTES));
        }
      } else {
        const g = groups[r - c]!;
        for (let k = 0; k < 8; k++) {
          if (k === index) continue;
          cachedNode(g.buf, k * NODE_BYTES, g.at + k * NODE_BYTES, fileCtx); // range check, names the offset
          hashes.push(g.buf.slice(k * NODE_BYTES, (k + 1) * NODE_BYTES));
        }
      }
      basePath.push({ hashes, index });
    }
    const leafBytes = segment.slice((leaf - segStart) * NODE_BYTES, (leaf - segStart + 1) * NODE_BYTES);
    const proof = this.assemble(t, basePath, leafBytes);
    const reason = checkInclusionProof(proof, opts.shape, challenge);
    if (reason !== undefined) {
      throw proofError(
        PROOF_ERROR_CODES.corrupt,
        sector,
        `inclusion proof for challenge ${challenge} does not verify (${reason}): ` +
          `the tree-r-last cache ${fileCtx.file} is inconsistent`,
        { file: fileCtx.file, challenge },
      );
    }
    return proof;
  }

  /** Wrap a base path into the shape's variant, adding the sub-tree and top elements. */
  private assemble(t: number, basePath: PathElement[], leaf: Uint8Array): MerkleProof {
    const { shape } = this.opts;
    const root = this.commRLast;
    if (shape.subArity === 0) return { kind: "single", root, leaf, path: basePath };
    const group = Math.floor(t / 8);
    const subIndex = t % 8;
    const subHashes: Uint8Array[] = [];
    for (let k = 0; k < 8; k++) if (k !== subIndex) subHashes.push(encodeNode(this.roots[group * 8 + k]!));
    const subPath: PathElement[] = [{ hashes: subHashes, index: subIndex }];
    if (shape.topArity === 0) return { kind: "sub", basePath, subPath, root, leaf };
    const topPath: PathElement[] = [{ hashes: [encodeNode(this.subRoots[1 - group]!)], index: group }];
    return { kind: "top", basePath, subPath, topPath, root, leaf };
  }
}

/** Per shape: an all-zero segment and the rows its partial tree rebuilds to (rows 0..cacheBaseRow). */
const zeroSegments = new Map<string, { zero: Buffer; rows: Uint8Array[] }>();

/**
 * The partial tree of a segment whose leaves are all zero, without hashing: row r is the zero node
 * of row r repeated (zeroTree.ts), exactly what hashing would give. A sealed replica is encoded data
 * and never holds 16 KiB of zeros, so on real sectors this only costs a memcmp; on the sparse
 * sectors of `devnet seal --sparse` it saves the 73 hashes of each challenge's rebuild, about three
 * quarters of a vanilla proof's cost (13 ms a sector instead of 51-63 ms, bench:vanilla). The proof is checked against the cached row exactly as otherwise.
 */
function zeroPartialRows(geom: TreeGeometry, segment: Uint8Array): Uint8Array[] | undefined {
  const key = geom.shape.name;
  let z = zeroSegments.get(key);
  if (z === undefined) {
    const nodes = zeroRows(geom.shape);
    const rows: Uint8Array[] = [];
    for (let r = 0; r <= geom.cacheBaseRow; r++) {
      const row = new Uint8Array((geom.segmentLeaves / 8 ** r) * NODE_BYTES);
      for (let o = 0; o < row.length; o += NODE_BYTES) row.set(nodes[r]!, o);
      rows.push(row);
    }
    z = { zero: Buffer.alloc(geom.segmentBytes), rows };
    zeroSegments.set(key, z);
  }
  if (!z.zero.equals(segment)) return undefined;
  // Shared, not copied: `prove` only reads the rows (path elements are sliced out of them).
  return z.rows;
}
