/**
 * What a sector needs on disk for PoSt, checked with stat calls only: the sealed (or update) file is a
 * regular file of a sector size (the expected one when known), and its cache dir holds `p_aux`
 * (64 bytes) and every tree-r-last file the size needs, each of exactly the LevelCacheStore size.
 * Shared by `util storage attach`, the pre-proving sector check and the PoSter.
 */
import fsSync from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import {
  KNOWN_SIZES_TEXT,
  P_AUX_BYTES,
  type SectorShape,
  shapeBySize,
  treeRLastFileBytes,
  treeRLastFileNames,
} from "../proofs/sectorShapes.js";
import { sysCode } from "../util/errors.js";

/** What the checks read of a stat: present or not (undefined), type and size. */
type Stat = { size: number; isFile(): boolean; isDirectory(): boolean } | undefined;

const absent = (e: unknown) => sysCode(e) === "ENOENT" || sysCode(e) === "ENOTDIR";

async function statOrUndefined(p: string): Promise<Stat> {
  try {
    return await fs.stat(p);
  } catch (e) {
    if (absent(e)) return undefined;
    throw e;
  }
}

function statSyncOrUndefined(p: string): Stat {
  try {
    return fsSync.statSync(p, { throwIfNoEntry: false });
  } catch (e) {
    if (absent(e)) return undefined;
    throw e;
  }
}

export interface FileCheckOk {
  shape: SectorShape;
  /** Non-fatal observations (t_aux missing, ...). */
  notes: string[];
}

export interface FileCheckOptions {
  /**
   * false: skip what only feeds `notes` (the t_aux stat), for callers that drop them: the checks
   * before proving, which make ~2,349 stats fewer a full partition so. Default true.
   */
  notes?: boolean;
}

type Outcome = FileCheckOk | string;

/**
 * The check as a sequence of paths to stat: it yields each path and is given its stat (undefined when
 * absent), so the same rules run on async stats (checkSectorFiles) and on a worker thread's
 * synchronous ones (checkSectorFilesSync, fileCheckThread.ts).
 */
function* fileCheckSteps(
  sealedFile: string,
  cacheDir: string,
  expected: SectorShape | undefined,
  opts: FileCheckOptions,
): Generator<string, Outcome, Stat> {
  const st = yield sealedFile;
  if (!st) return `sealed file ${sealedFile} is missing`;
  if (!st.isFile()) return `sealed file ${sealedFile} is not a regular file`;
  const shape = shapeBySize(st.size);
  if (!shape) return `sealed file is ${st.size} bytes, not a known sector size (${KNOWN_SIZES_TEXT})`;
  if (expected && shape.sectorSize !== expected.sectorSize) {
    return `sealed file is ${st.size} bytes (${shape.name}) but the sector is ${expected.name}`;
  }
  // The cache dir itself is looked at only when p_aux is not there: a stat fewer a sector, 2,349 fewer
  // for a full partition. Paths are joined by hand: path.join cost more than the stat.
  const dir = cacheDir.endsWith(path.sep) ? cacheDir : cacheDir + path.sep;
  const pst = yield `${dir}p_aux`;
  if (!pst) {
    const cst = yield cacheDir;
    if (!cst)
      return `cache dir ${path.basename(path.dirname(cacheDir))}/${path.basename(cacheDir)} is missing`;
    if (!cst.isDirectory()) return `cache ${cacheDir} is not a directory`;
    return "p_aux is missing from the cache dir";
  }
  if (pst.size !== P_AUX_BYTES) return `p_aux is ${pst.size} bytes, expected ${P_AUX_BYTES}`;
  const want = treeRLastFileBytes(shape);
  const names = treeFileNames(shape);
  for (const name of names) {
    const tst = yield dir + name;
    if (!tst)
      return `${name} is missing from the cache dir (a ${shape.name} sector needs ${names.length} tree-r-last file(s))`;
    if (tst.size !== want) return `${name} is ${tst.size} bytes, expected ${want} for a ${shape.name} sector`;
  }
  const notes: string[] = [];
  if (opts.notes !== false && !(yield `${dir}t_aux`)) notes.push("t_aux missing (not needed for PoSt)");
  return { shape, notes };
}

/** treeRLastFileNames, made once per size. */
const treeNames = new Map<number, readonly string[]>();
function treeFileNames(shape: SectorShape): readonly string[] {
  let names = treeNames.get(shape.sectorSize);
  if (!names) {
    names = treeRLastFileNames(shape);
    treeNames.set(shape.sectorSize, names);
  }
  return names;
}

const unreadable = (e: unknown) => `unreadable: ${(e as Error).message}`;

/** The sector's files are usable for PoSt, or a one-line reason why not. */
export async function checkSectorFiles(
  sealedFile: string,
  cacheDir: string,
  expected?: SectorShape,
  opts: FileCheckOptions = {},
): Promise<Outcome> {
  try {
    const steps = fileCheckSteps(sealedFile, cacheDir, expected, opts);
    for (let step = steps.next(undefined); ; step = steps.next(await statOrUndefined(step.value)))
      if (step.done) return step.value;
  } catch (e) {
    return unreadable(e);
  }
}

/**
 * checkSectorFiles with synchronous stats, for a worker thread: ~3 µs a stat where a promise costs
 * the event loop ~20 µs, and a partition of 2,349 sectors is ~23,500 of them (without notes).
 */
export function checkSectorFilesSync(
  sealedFile: string,
  cacheDir: string,
  expected?: SectorShape,
  opts: FileCheckOptions = {},
): Outcome {
  try {
    const steps = fileCheckSteps(sealedFile, cacheDir, expected, opts);
    for (let step = steps.next(undefined); ; step = steps.next(statSyncOrUndefined(step.value)))
      if (step.done) return step.value;
  } catch (e) {
    return unreadable(e);
  }
}
