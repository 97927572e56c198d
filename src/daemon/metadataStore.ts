/**
 * The metadata store of a home: the sector index and the PoSter's finished partition proofs, in LMDB.
 * `daemon run` and `util storage attach` without a running daemon both open it here, each under the
 * home lock, so they always agree on where it is.
 */
import path from "node:path";
import type { SectorManagerConfig } from "../config/types.js";
import type { KVStore } from "../store/interface.js";
import { type LmdbStoreOptions, openLmdbStore } from "../store/lmdb.js";

/** [Common.DB.LMDB] BaseDir, else `<home>/db` (also when the home has no readable config). */
export function metadataStoreDir(home: string, config: SectorManagerConfig | undefined): string {
  return config?.Common.DB.LMDB.BaseDir || path.join(home, "db");
}

export function openMetadataStore(
  home: string,
  config: SectorManagerConfig | undefined,
  opts: LmdbStoreOptions = {},
): Promise<KVStore> {
  return openLmdbStore(metadataStoreDir(home, config), opts);
}
