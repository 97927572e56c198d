/**
 * `util storage attach`: find the sealed sectors in a directory and check that each has what PoSt
 * needs, before anything is written to the index.
 *
 * For the normal layout (sealed/ + cache/) and the upgrade layout (update/ + update-cache/), each
 * `s-t0<miner>-<num>` file is checked:
 * - the sealed (or update) file is a regular file whose size is a known sector size;
 * - its cache dir exists with `p_aux` (64 bytes) and every tree-r-last file the size needs, each of
 *   exactly the size the LevelCacheStore layout gives (a truncated copy is caught here, not at proving
 *   time);
 * - `t_aux` is noted when missing (builds with fixed rows-to-discard do not write it; PoSt never reads it).
 * With `strict`, the two commitments in p_aux must also be canonical field elements, and when a
 * `probe` is given (the CLI passes the prover pool's), each sector must prove one random challenge
 * from its real data (the same check the PoSter runs with StrictCheck).
 *
 * Stat calls run with bounded parallelism so a store of 100k sectors on HDDs neither serialises nor
 * opens 100k descriptors at once.
 *
 * Before writing, attach compares what it would record with the index (`instanceMoves`): a sector
 * already indexed under another instance name would silently move to the new name (the same path
 * attached again with another --name, or without one), so attach refuses unless --force is given.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { cacheDirName, parseSectorFileName, sealedDirName } from "../proofs/sectorFiles.js";
import type { SectorShape } from "../proofs/sectorShapes.js";
import { mapLimit } from "../util/concurrency.js";
import { SmError, sysCode } from "../util/errors.js";
import type { StrictProbe } from "./check.js";
import { checkSectorFiles } from "./fileCheck.js";
import type { IndexRecord, IndexType, SectorLocation } from "./interface.js";

/** BLS12-381 scalar field modulus: 32-byte commitments must be below it. */
const FR_MODULUS = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001n;

export interface ScannedSector {
  type: IndexType;
  miner: number;
  number: number;
  shape: SectorShape;
  sealedFile: string;
  cacheDir: string;
  /** Non-fatal observations (t_aux missing, ...). */
  notes: string[];
}

export interface BadSector {
  type: IndexType;
  /** The file or directory the problem is about. */
  file: string;
  miner: number | undefined;
  number: number | undefined;
  reason: string;
}

export interface ScanResult {
  root: string;
  good: ScannedSector[];
  bad: BadSector[];
}

export interface ScanOptions {
  strict?: boolean;
  /** The strict vanilla-proof check, run on sectors that pass the file checks when `strict` is set. */
  probe?: StrictProbe;
  /** Parallel file checks (default 32). */
  concurrency?: number;
  signal?: AbortSignal;
  /**
   * Told after each sector's file checks ("files"), then after each strict proof ("proofs": with
   * `strict` and a `probe`; sectors whose files failed are counted done at once), per index type: how
   * many of `total` are done.
   */
  onChecked?: (stage: "files" | "proofs", type: IndexType, done: number, total: number) => void;
}

async function listDir(p: string): Promise<string[]> {
  try {
    return (await fs.readdir(p)).sort();
  } catch (e) {
    if (sysCode(e) === "ENOENT") return [];
    throw e;
  }
}

function leU256(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] ?? 0);
  return v;
}

/** Check one sector's files; a reason string when bad. */
async function checkSector(
  sealedFile: string,
  cacheDir: string,
  strict: boolean,
): Promise<{ shape: SectorShape; notes: string[] } | string> {
  const r = await checkSectorFiles(sealedFile, cacheDir);
  if (typeof r === "string" || !strict) return r;
  // --strict marks the store Strict, whose objects must be regular files (sectors/check.ts): a link
  // would pass here and fail every check of the PoSter.
  for (const [what, p] of [
    ["sealed file", sealedFile],
    ["cache dir", cacheDir],
  ] as const)
    if ((await fs.lstat(p)).isSymbolicLink())
      return `${what} is a symbolic link; a Strict store (--strict) must hold the files themselves`;
  const buf = await fs.readFile(path.join(cacheDir, "p_aux"));
  if (leU256(buf.subarray(0, 32)) >= FR_MODULUS) return "p_aux comm_c is not a valid field element";
  if (leU256(buf.subarray(32, 64)) >= FR_MODULUS) return "p_aux comm_r_last is not a valid field element";
  return r;
}

export async function scanStoreDir(root: string, opts: ScanOptions = {}): Promise<ScanResult> {
  const good: ScannedSector[] = [];
  const bad: BadSector[] = [];
  for (const type of ["normal", "upgrade"] as const) {
    const sealedDir = path.join(root, sealedDirName(type));
    const cacheRoot = path.join(root, cacheDirName(type));
    const names = await listDir(sealedDir);
    const seen = new Set<string>();
    const candidates: { name: string; miner: number; number: number }[] = [];
    for (const name of names) {
      const id = parseSectorFileName(name);
      if (!id) {
        bad.push({
          type,
          file: path.join(sealedDir, name),
          miner: undefined,
          number: undefined,
          reason: "not a sector file name (expected s-t0<miner>-<number>)",
        });
        continue;
      }
      seen.add(name);
      candidates.push({ name, ...id });
    }
    let checked = 0;
    const results = await mapLimit(candidates, opts.concurrency ?? 32, async (c) => {
      opts.signal?.throwIfAborted();
      const sealedFile = path.join(sealedDir, c.name);
      const cacheDir = path.join(cacheRoot, c.name);
      try {
        return {
          c,
          sealedFile,
          cacheDir,
          r: await checkSector(sealedFile, cacheDir, opts.strict ?? false),
        };
      } catch (e) {
        return { c, sealedFile, cacheDir, r: `unreadable: ${(e as Error).message}` };
      } finally {
        opts.onChecked?.("files", type, ++checked, candidates.length);
      }
    });
    const probe = opts.strict ? opts.probe : undefined;
    let proven = 0;
    const probed = await mapLimit(results, opts.concurrency ?? 32, async (x) => {
      if (!probe) return x.r;
      if (typeof x.r === "string") {
        opts.onChecked?.("proofs", type, ++proven, results.length);
        return x.r;
      }
      try {
        const signal = opts.signal ?? new AbortController().signal;
        const target = { miner: x.c.miner, number: x.c.number, upgrade: type === "upgrade" };
        await probe({ target, shape: x.r.shape, sealedFile: x.sealedFile, cacheDir: x.cacheDir }, signal);
        return x.r;
      } catch (e) {
        return `vanilla proof check failed: ${(e as Error).message}`;
      } finally {
        opts.onChecked?.("proofs", type, ++proven, results.length);
      }
    });
    results.forEach(({ c, sealedFile, cacheDir }, i) => {
      const r = probed[i];
      if (r === undefined) return;
      if (typeof r === "string")
        bad.push({ type, file: sealedFile, miner: c.miner, number: c.number, reason: r });
      else
        good.push({
          type,
          miner: c.miner,
          number: c.number,
          shape: r.shape,
          sealedFile,
          cacheDir,
          notes: r.notes,
        });
    });
    // A cache dir whose sealed file is gone is worth telling the operator about.
    for (const name of await listDir(cacheRoot)) {
      const id = parseSectorFileName(name);
      if (id && !seen.has(name)) {
        bad.push({
          type,
          file: path.join(cacheRoot, name),
          miner: id.miner,
          number: id.number,
          reason: `cache dir without a ${sealedDirName(type)} file`,
        });
      }
    }
  }
  return { root, good, bad };
}

/** A sector that attach would move from one storage instance name to another. */
export interface InstanceMove {
  type: IndexType;
  miner: number;
  number: number;
  /** The instance the index names now (its sealed file's). */
  from: string;
}

/**
 * The records of `recs` (all under instance `name`) whose sector the index already places in another
 * instance, given the index's answers `found[type][i]` for `recs[type][i]`. A damaged record is not a
 * move: rewriting it is the repair.
 */
export function instanceMoves(
  recs: Record<IndexType, readonly { miner: number; number: number }[]>,
  found: Record<IndexType, readonly SectorLocation[]>,
  name: string,
): InstanceMove[] {
  const out: InstanceMove[] = [];
  for (const type of ["normal", "upgrade"] as const) {
    recs[type].forEach((r, i) => {
      const l = found[type][i];
      if (!l?.found || l.error !== undefined) return;
      const from = l.instance.sealedFile !== name ? l.instance.sealedFile : l.instance.cacheDir;
      if (from !== name) out.push({ type, miner: r.miner, number: r.number, from });
    });
  }
  return out;
}

/**
 * The refusal of an attach that would move sectors to another instance name: both names, how many
 * sectors, where the old instance is configured, and the two ways on (the old --name, or --force).
 */
export function instanceMoveError(
  moves: readonly InstanceMove[],
  name: string,
  dir: string,
  configured: readonly { Name: string; Path: string }[],
): SmError {
  const byFrom = new Map<string, InstanceMove[]>();
  for (const m of moves) byFrom.set(m.from, [...(byFrom.get(m.from) ?? []), m]);
  const parts = [...byFrom].map(([from, ms]) => {
    const cfg = configured.find((c) => c.Name === from);
    const where = !cfg
      ? "not configured on this node"
      : cfg.Path === dir
        ? `configured with this same path`
        : `configured with path ${cfg.Path}`;
    const first = ms[0]!;
    return `${ms.length} in instance ${JSON.stringify(from)} (${where}; e.g. sector ${first.miner}-${first.number})`;
  });
  const olds = [...byFrom.keys()];
  return new SmError(
    "ATTACH_WOULD_MOVE",
    `refusing to attach ${dir} as instance ${JSON.stringify(name)}: ${moves.length} of its sectors are already indexed in another instance: ${parts.join(", ")}; attaching would move them to ${JSON.stringify(name)}. To keep them where they are, attach with ${olds.length === 1 ? `--name ${JSON.stringify(olds[0])}` : "the --name they were attached with"}; to move them on purpose (the files moved, or the instance is renamed in [[Common.PersistStores]]), add --force`,
    { name, path: dir, from: olds, sectors: moves.length },
  );
}

/** What attach does about sectors indexed under another name: throws when not forced. */
export type MoveGuard = (moves: InstanceMove[]) => InstanceMove[];
/** One batch's look-up (answers in the batch's order), or its write. */
export type BatchLookup = (type: IndexType, batch: IndexRecord[]) => Promise<SectorLocation[]>;
export type BatchWrite = (type: IndexType, batch: IndexRecord[]) => Promise<void>;
/** `done` records of a pass so far (both index types together). */
export type AttachProgress = (pass: "lookup" | "write", done: number) => void;

export interface RecordOptions {
  /** The instance name every record is under. */
  name: string;
  guard: MoveGuard;
  /** None (a read-only daemon, which refuses the write with its own message): no look-up pass. */
  lookup: BatchLookup | undefined;
  write: BatchWrite;
  /** Records per look-up and per write. */
  batch: number;
  onProgress?: AttachProgress;
}

/**
 * attach's two passes over its records, `batch` at a time: every sector looked up and the moves
 * between instances collected, which `guard` refuses before anything is written; then the writes.
 * Only the moves are kept between the passes, not an answer for every sector of a large store, and
 * each look-up is a short read (a million sectors at once was, on PostgreSQL, one read transaction of
 * hundreds of statements, which a slow database could take past its transaction time bound).
 */
export async function recordAttached(
  recs: Record<IndexType, IndexRecord[]>,
  o: RecordOptions,
): Promise<InstanceMove[]> {
  const pass = async (which: "lookup" | "write", fn: BatchWrite) => {
    let done = 0;
    // Told at 0 too, so a rate measured from the first report covers the first batch.
    o.onProgress?.(which, 0);
    for (const type of ["normal", "upgrade"] as const) {
      for (let i = 0; i < recs[type].length; i += o.batch) {
        const part = recs[type].slice(i, i + o.batch);
        await fn(type, part);
        done += part.length;
        o.onProgress?.(which, done);
      }
    }
  };
  const moves: InstanceMove[] = [];
  const lookup = o.lookup;
  if (lookup) {
    await pass("lookup", async (type, part) => {
      const found = await lookup(type, part);
      const none = { normal: [], upgrade: [] };
      moves.push(...instanceMoves({ ...none, [type]: part }, { ...none, [type]: found }, o.name));
    });
  }
  o.guard(moves);
  await pass("write", o.write);
  return moves;
}
