/**
 * Layout-only sector files: real names, real directory layout and exact file sizes (sealed file of the
 * sector size, p_aux of 64 bytes, tree-r-last files of the LevelCacheStore size), with random contents
 * in which every 32-byte node is a valid field element. Fast fixtures for the attach and check tests:
 * they pass existence and size checks, but they are NOT sealed and their tree-r-last files are not a
 * Merkle tree over the data, so no vanilla proof over them verifies. Anything that proves uses
 * src/proofs/syntheticSector.ts instead.
 */
import { randomFillSync } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { cacheDirPath, sealedFilePath } from "../../src/proofs/sectorFiles.js";
import {
  P_AUX_BYTES,
  type SectorShape,
  treeRLastFileBytes,
  treeRLastFileNames,
} from "../../src/proofs/sectorShapes.js";
import type { IndexType } from "../../src/sectors/interface.js";

const CHUNK = 1 << 20;

/** Random bytes with each 32-byte node below the BLS12-381 scalar modulus (top two bits cleared). */
function fieldBytes(n: number): Buffer {
  const b = randomFillSync(Buffer.alloc(n));
  for (let i = 31; i < n; i += 32) b[i] = (b[i] ?? 0) & 0x3f;
  return b;
}

async function writeRandom(file: string, size: number): Promise<void> {
  const fh = await fs.open(file, "w");
  try {
    for (let off = 0; off < size; off += CHUNK) await fh.write(fieldBytes(Math.min(CHUNK, size - off)));
  } finally {
    await fh.close();
  }
}

export async function writeLayoutOnlySector(
  storeDir: string,
  type: IndexType,
  miner: number,
  num: number,
  shape: SectorShape,
): Promise<{ sealedFile: string; cacheDir: string }> {
  const sealedFile = sealedFilePath(storeDir, type, miner, num);
  const cacheDir = cacheDirPath(storeDir, type, miner, num);
  await fs.mkdir(path.dirname(sealedFile), { recursive: true });
  await fs.mkdir(cacheDir, { recursive: true });
  await writeRandom(sealedFile, shape.sectorSize);
  await fs.writeFile(path.join(cacheDir, "p_aux"), fieldBytes(P_AUX_BYTES));
  await fs.writeFile(path.join(cacheDir, "t_aux"), Buffer.from("layout-only synthetic sector\n"));
  const treeBytes = treeRLastFileBytes(shape);
  for (const name of treeRLastFileNames(shape)) await writeRandom(path.join(cacheDir, name), treeBytes);
  return { sealedFile, cacheDir };
}
