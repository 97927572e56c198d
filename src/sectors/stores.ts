/**
 * Persist stores: storage instance names → directories, from `[[Common.PersistStores]]`.
 */
import fs from "node:fs/promises";
import type { PersistStoreConfig } from "../config/types.js";
import { cacheDirPath, sealedFilePath } from "../proofs/sectorFiles.js";
import { SmError, sysCode } from "../util/errors.js";
import type { IndexType, SectorAccess, SectorRef } from "./interface.js";

export interface StoreStatus {
  name: string;
  path: string;
  readOnly: boolean;
  strict: boolean;
  /** Why the directory is unusable, when it is. */
  problem: string | undefined;
}

export class PersistStores {
  private readonly byName: Map<string, PersistStoreConfig>;

  constructor(private readonly configs: readonly PersistStoreConfig[]) {
    this.byName = new Map(configs.map((c) => [c.Name, c]));
  }

  list(): readonly PersistStoreConfig[] {
    return this.configs;
  }

  get(name: string): PersistStoreConfig | undefined {
    return this.byName.get(name);
  }

  /** The store whose Path is `dir`, if one is configured. */
  byPath(dir: string): PersistStoreConfig | undefined {
    return this.configs.find((c) => c.Path === dir);
  }

  /** Absolute paths of a sector's files from the instance names the index returned. */
  resolve(
    type: IndexType,
    sector: SectorRef,
    access: SectorAccess,
  ): { sealedFile: string; cacheDir: string } {
    const sealed = this.byName.get(access.sealedFile);
    const cache = this.byName.get(access.cacheDir || access.sealedFile);
    const missing = !sealed ? access.sealedFile : !cache ? access.cacheDir : undefined;
    if (missing !== undefined || !sealed || !cache) {
      throw new SmError(
        "SECTORS_INSTANCE_UNKNOWN",
        `sector ${sector.miner}-${sector.number} is indexed in storage instance ${JSON.stringify(missing)}, which is not in [[Common.PersistStores]] of this node's config; add it (or run with --conf-dir pointing at the source node's config)`,
        { miner: sector.miner, number: sector.number, instance: missing },
      );
    }
    return {
      sealedFile: sealedFilePath(sealed.Path, type, sector.miner, sector.number),
      cacheDir: cacheDirPath(cache.Path, type, sector.miner, sector.number),
    };
  }

  /** Check every configured directory; a missing mount is reported, not fatal (PoSt goes on without it). */
  async status(): Promise<StoreStatus[]> {
    return Promise.all(
      this.configs.map(async (c) => {
        let problem: string | undefined;
        try {
          const st = await fs.stat(c.Path);
          if (!st.isDirectory()) problem = "not a directory";
        } catch (e) {
          problem =
            sysCode(e) === "ENOENT" ? "directory does not exist" : `unreadable: ${(e as Error).message}`;
        }
        return { name: c.Name, path: c.Path, readOnly: c.ReadOnly, strict: c.Strict, problem };
      }),
    );
  }
}
