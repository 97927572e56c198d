/**
 * The on-disk layout lotus and damocles write inside a persist store:
 * `sealed/s-t0<miner>-<num>`, `cache/s-t0<miner>-<num>/`, and for snap-upgraded sectors
 * `update/s-t0<miner>-<num>`, `update-cache/s-t0<miner>-<num>/`. The `t0` prefix is literal, even on
 * mainnet.
 *
 * It lives in `proofs` because proving reads these files (`syntheticSector.ts` writes them); the
 * sector index (`sectors/`) records which storage instance holds them.
 */
import path from "node:path";

/** The two layouts: "normal" (sealed/, cache/) and "upgrade" (update/, update-cache/ of snap-upgraded sectors). */
export type IndexType = "normal" | "upgrade";
export const INDEX_TYPES: readonly IndexType[] = ["normal", "upgrade"];

export function sectorFileName(miner: number, num: number): string {
  return `s-t0${miner}-${num}`;
}

const NAME_RE = /^s-t0(\d{1,19})-(\d{1,19})$/;

/** Parse `s-t01000-17` → {miner: 1000, number: 17}; undefined when the name is not a sector name. */
export function parseSectorFileName(name: string): { miner: number; number: number } | undefined {
  const m = NAME_RE.exec(name);
  if (!m) return undefined;
  const miner = Number(m[1]);
  const number = Number(m[2]);
  if (!Number.isSafeInteger(miner) || !Number.isSafeInteger(number)) return undefined;
  return { miner, number };
}

export function sealedDirName(type: IndexType): string {
  return type === "upgrade" ? "update" : "sealed";
}

export function cacheDirName(type: IndexType): string {
  return type === "upgrade" ? "update-cache" : "cache";
}

export function sealedFilePath(storePath: string, type: IndexType, miner: number, num: number): string {
  return path.join(storePath, sealedDirName(type), sectorFileName(miner, num));
}

export function cacheDirPath(storePath: string, type: IndexType, miner: number, num: number): string {
  return path.join(storePath, cacheDirName(type), sectorFileName(miner, num));
}
