/**
 * What a sector needs on disk for PoSt, checked with stat calls only: the sealed (or update) file is a
 * regular file of a sector size (the expected one when known), and its cache dir holds `p_aux`
 * (64 bytes) and every tree-r-last file the size needs, each of exactly the LevelCacheStore size.
 * Shared by `util storage attach`, the pre-proving sector check and the PoSter.
 */
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

async function statOrUndefined(p: string) {
  try {
    return await fs.stat(p);
  } catch (e) {
    if (sysCode(e) === "ENOENT" || sysCode(e) === "ENOTDIR") return undefined;
    throw e;
  }
}

export interface FileCheckOk {
  shape: SectorShape;
  /** Non-fatal observations (t_aux missing, ...). */
  notes: string[];
}

/** The sector's files are usable for PoSt, or a one-line reason why not. */
export async function checkSectorFiles(
  sealedFile: string,
  cacheDir: string,
  expected?: SectorShape,
): Promise<FileCheckOk | string> {
  try {
    const st = await statOrUndefined(sealedFile);
    if (!st) return `sealed file ${sealedFile} is missing`;
    if (!st.isFile()) return `sealed file ${sealedFile} is not a regular file`;
    const shape = shapeBySize(st.size);
    if (!shape) return `sealed file is ${st.size} bytes, not a known sector size (${KNOWN_SIZES_TEXT})`;
    if (expected && shape.sectorSize !== expected.sectorSize) {
      return `sealed file is ${st.size} bytes (${shape.name}) but the sector is ${expected.name}`;
    }
    const cst = await statOrUndefined(cacheDir);
    if (!cst)
      return `cache dir ${path.basename(path.dirname(cacheDir))}/${path.basename(cacheDir)} is missing`;
    if (!cst.isDirectory()) return `cache ${cacheDir} is not a directory`;
    const pst = await statOrUndefined(path.join(cacheDir, "p_aux"));
    if (!pst) return "p_aux is missing from the cache dir";
    if (pst.size !== P_AUX_BYTES) return `p_aux is ${pst.size} bytes, expected ${P_AUX_BYTES}`;
    const want = treeRLastFileBytes(shape);
    const names = treeRLastFileNames(shape);
    for (const name of names) {
      const tst = await statOrUndefined(path.join(cacheDir, name));
      if (!tst)
        return `${name} is missing from the cache dir (a ${shape.name} sector needs ${names.length} tree-r-last file(s))`;
      if (tst.size !== want)
        return `${name} is ${tst.size} bytes, expected ${want} for a ${shape.name} sector`;
    }
    const notes: string[] = [];
    if (!(await statOrUndefined(path.join(cacheDir, "t_aux"))))
      notes.push("t_aux missing (not needed for PoSt)");
    return { shape, notes };
  } catch (e) {
    return `unreadable: ${(e as Error).message}`;
  }
}
