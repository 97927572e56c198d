/**
 * Mainnet-shaped synthetic sectors that fit on a test disk (`devnet seal --sparse`, issue 15).
 *
 * Each sector gets the real store layout with real PoSt material, at almost no cost in time or disk:
 *  - `sealed/s-t0<miner>-<n>`: a sparse file of the full sector size (ftruncate; no block written),
 *    which reads as zeros;
 *  - the tree-r-last cache files of an all-zero replica (zeroTree.ts): computed once per run in
 *    O(tree height) hashes, written once, and HARD-LINKED into every sector's cache directory (all
 *    8 or 16 files of all sectors share a few inodes), with `t_aux` likewise;
 *  - its own `p_aux` with a random comm_c, so comm_r = Poseidon-2(comm_c, comm_r_last) differs per
 *    sector, as the chain requires.
 * Vanilla proofs over them are real and verify: the prover reads the zero leaves from the sealed
 * file and the cached rows from the linked files like any other sector's. Only PoRep is skipped.
 *
 * Shared inodes: writing INTO one sector's cache file changes every sector linked to it. A test that
 * damages one sector must replace the file (write a new one and rename it over), never write into it.
 * A file keeps at most MAX_LINKS names (ext4 allows 65,000), then a fresh copy starts.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { mapLimit } from "../util/concurrency.js";
import { SmError, sysCode } from "../util/errors.js";
import { commRFrom, NODE_BYTES } from "./nodes.js";
import { PROOF_ERROR_CODES, proofError } from "./proofErrors.js";
import { cacheDirPath, type IndexType, sealedFilePath } from "./sectorFiles.js";
import { type SectorShape, treeRLastFileNames } from "./sectorShapes.js";
import { cryptoRandom, type RandomSource, randomNodes } from "./syntheticSector.js";
import { zeroCommRLast, zeroTreeCacheFile } from "./zeroTree.js";

/** Names per shared inode: well under ext4's 65,000 and XFS's and btrfs's limits. */
export const MAX_LINKS = 32_000;

const T_AUX_TEXT =
  "synthetic sparse sector: t_aux placeholder (not a bincode TemporaryAux; PoSt does not read it)\n";

export interface SparseSealOptions {
  /** Root of a persist store (holds sealed/, cache/, update/, update-cache/). */
  readonly storeDir: string;
  readonly miner: number;
  /** First sector number; the sectors are start, start+1, …, start+count-1. */
  readonly start: number;
  readonly count: number;
  /** Any shape; meant for 32GiB and 64GiB. */
  readonly shape: SectorShape;
  /** "normal" → sealed/ + cache/ (default), "upgrade" → update/ + update-cache/. */
  readonly type?: IndexType;
  /** comm_c source (default: crypto randomness). */
  readonly random?: RandomSource;
  /** Sectors written at once (default 16): file-system calls, not CPU. */
  readonly concurrency?: number;
  /** Called after each sector is complete, in completion order. */
  readonly onSector?: (s: SparseSector, done: number) => void;
  readonly signal?: AbortSignal;
  /** Names per shared inode (default MAX_LINKS; tests lower it to see a fresh copy start). */
  readonly maxLinks?: number;
}

export interface SparseSector {
  readonly number: number;
  /** 32-byte comm_r, as the chain holds it (`sealedCid(commR)`). */
  readonly commR: Uint8Array;
  readonly commC: Uint8Array;
  readonly sealedFile: string;
  readonly cacheDir: string;
}

export interface SparseSealResult {
  /** In sector-number order. */
  readonly sectors: SparseSector[];
  /** The shared comm_r_last of every sector (the all-zero tree's root). */
  readonly commRLast: Uint8Array;
}

function sealError(sector: number, reason: string, fields: Record<string, unknown>, cause?: unknown) {
  return proofError(PROOF_ERROR_CODES.sealFailed, sector, reason, fields, cause);
}

/**
 * One content, placed under many names as hard links to a few inodes. The first name of each inode
 * is written (to a temporary name, then renamed, so a crash never leaves a partial file under a
 * sector's name); later names link to it, until the inode has MAX_LINKS names or the file system
 * says it has too many (EMLINK), when the next name gets a fresh copy.
 */
class SharedFile {
  #source: Promise<string> | undefined;
  #names = 0;

  constructor(
    private readonly content: Uint8Array,
    private readonly maxLinks: number,
  ) {}

  async place(target: string, sector: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.#source === undefined || this.#names >= this.maxLinks) {
        this.#names = 1;
        const p = this.#write(target, sector);
        this.#source = p;
        await p;
        return;
      }
      this.#names++;
      const source = this.#source;
      const from = await source;
      try {
        await fs.link(from, target);
        return;
      } catch (e) {
        const code = sysCode(e);
        if (code === "EMLINK" && attempt === 0) {
          // This inode is full on this file system: the next name starts a new one.
          if (this.#source === source) this.#source = undefined;
          continue;
        }
        if (code === "EEXIST")
          throw sealError(sector, `${target} already exists`, { file: target, sysCode: code }, e);
        throw sealError(
          sector,
          `cannot hard-link ${target} to ${from} (${code ?? "error"}: ${(e as Error).message}); sparse sectors share their tree-r-last files, so the store must be on a file system with hard links (ext4, XFS, btrfs)`,
          { file: target, sysCode: code },
          e,
        );
      }
    }
  }

  async #write(target: string, sector: number): Promise<string> {
    const tmp = `${target}.tmp-${process.pid}`;
    try {
      await fs.writeFile(tmp, this.content);
      await fs.link(tmp, target);
      await fs.unlink(tmp);
    } catch (e) {
      await fs.rm(tmp, { force: true }).catch(() => {});
      throw sealError(
        sector,
        `cannot write ${target}: ${(e as Error).message}`,
        { file: target, sysCode: sysCode(e) },
        e,
      );
    }
    return target;
  }
}

/**
 * Write `count` sparse sectors into `storeDir` (see the header). Refuses, before writing anything,
 * sector numbers whose sealed file already exists. Cost per sector: a dozen file-system calls and
 * one Poseidon-2 hash (comm_r); the shared tree is hashed once per call.
 */
export async function writeSparseSectors(opts: SparseSealOptions): Promise<SparseSealResult> {
  const { storeDir, miner, start, count, shape } = opts;
  const type = opts.type ?? "normal";
  const random = opts.random ?? cryptoRandom;
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(count) || count < 0) {
    throw new SmError("PROOF_BAD_INPUT", `bad sector range: start ${start}, count ${count}`);
  }
  const numbers = Array.from({ length: count }, (_, i) => start + i);
  const taken = await mapLimit(numbers, 32, (n) =>
    fs.lstat(sealedFilePath(storeDir, type, miner, n)).then(
      () => true,
      () => false,
    ),
  );
  const first = taken.indexOf(true);
  if (first >= 0) {
    const f = sealedFilePath(storeDir, type, miner, numbers[first]!);
    throw sealError(numbers[first]!, `${f} already exists; choose another first sector number`, { file: f });
  }
  await fs.mkdir(path.dirname(sealedFilePath(storeDir, type, miner, 0)), { recursive: true });
  await fs.mkdir(path.dirname(cacheDirPath(storeDir, type, miner, 0)), { recursive: true });

  const commRLast = zeroCommRLast(shape);
  const tree = new SharedFile(zeroTreeCacheFile(shape), opts.maxLinks ?? MAX_LINKS);
  const tAux = new SharedFile(new TextEncoder().encode(T_AUX_TEXT), opts.maxLinks ?? MAX_LINKS);
  const treeNames = treeRLastFileNames(shape);
  const sectors = new Array<SparseSector>(count);
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (;;) {
      opts.signal?.throwIfAborted();
      const i = next++;
      if (i >= count) return;
      const number = numbers[i]!;
      const sealedFile = sealedFilePath(storeDir, type, miner, number);
      const cacheDir = cacheDirPath(storeDir, type, miner, number);
      const commC = randomNodes(NODE_BYTES, random);
      const commR = commRFrom(commC, commRLast)!;
      await writeSealed(sealedFile, shape.sectorSize, number);
      await fs.mkdir(cacheDir, { recursive: true });
      // Tree files one after another: the first name of a fresh inode must exist before it is linked.
      for (const name of treeNames) await tree.place(path.join(cacheDir, name), number);
      await tAux.place(path.join(cacheDir, "t_aux"), number);
      const pAux = new Uint8Array(2 * NODE_BYTES);
      pAux.set(commC, 0);
      pAux.set(commRLast, NODE_BYTES);
      try {
        await fs.writeFile(path.join(cacheDir, "p_aux"), pAux, { flag: "wx" });
      } catch (e) {
        throw sealError(number, `cannot write ${path.join(cacheDir, "p_aux")}: ${(e as Error).message}`, {
          file: path.join(cacheDir, "p_aux"),
          sysCode: sysCode(e),
        });
      }
      const s: SparseSector = { number, commR, commC, sealedFile, cacheDir };
      sectors[i] = s;
      opts.onSector?.(s, ++done);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 16, count)) }, worker));
  return { sectors, commRLast };
}

/** The sealed file: created (never over an existing one) and truncated to the sector size. */
async function writeSealed(file: string, size: number, sector: number): Promise<void> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, "wx");
  } catch (e) {
    throw sealError(
      sector,
      `cannot create ${file}: ${(e as Error).message}`,
      { file, sysCode: sysCode(e) },
      e,
    );
  }
  try {
    await fh.truncate(size);
  } catch (e) {
    throw sealError(sector, `cannot extend ${file} to ${size} bytes: ${(e as Error).message}`, { file }, e);
  } finally {
    await fh.close();
  }
}
