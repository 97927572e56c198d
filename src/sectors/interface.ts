/**
 * The sector indexer port: where each sector's files live.
 *
 * Per sector (miner actor id, sector number) the index records the NAMES of the storage instances that
 * hold the sealed (or update) file and the cache dir — never paths. A node turns names into paths with
 * its own `[[Common.PersistStores]]`, which is why a proxy node shares the source's config (`--conf-dir`).
 *
 * Two indexes exist: "normal" (sealed/, cache/) and "upgrade" (update/, update-cache/ of snap-upgraded
 * sectors). Implementations: `LocalIndexer` (the embedded store) and `ProxyIndexer` (another node's
 * index over JSON-RPC, read-only).
 */

import type { IndexType } from "../proofs/sectorFiles.js";

// The two indexes follow the two file layouts, so their names are defined with the layout.
export { INDEX_TYPES, type IndexType } from "../proofs/sectorFiles.js";

export interface SectorRef {
  /** Miner actor id (1000 for f01000). */
  miner: number;
  number: number;
}

/** Instance names holding a sector's files. */
export interface SectorAccess {
  sealedFile: string;
  cacheDir: string;
}

export interface SectorLocation {
  found: boolean;
  /** Empty names when not found. */
  instance: SectorAccess;
  /**
   * Set (with `found: false`) when this sector's record could not be read: a damaged record, or a bad
   * answer about it from the source. The message says what is wrong and how to mend it; the other
   * sectors of the same batch are answered normally.
   */
  error?: string;
}

/** Indexed sectors per storage instance name, per index; `damaged` counts unreadable records. */
export interface IndexCounts {
  normal: Record<string, number>;
  upgrade: Record<string, number>;
  /** Present only when some records could not be read. */
  damaged?: Record<IndexType, number>;
}

export interface IndexRecord extends SectorRef, SectorAccess {}

export interface IndexerOptions {
  signal?: AbortSignal;
}

export interface SectorIndexer {
  /** "local", or "proxy <host:port>": shown in logs and status. */
  readonly description: string;
  /** True when `update` always refuses (proxy mode). */
  readonly readOnly: boolean;
  find(type: IndexType, sector: SectorRef, opts?: IndexerOptions): Promise<SectorLocation>;
  /**
   * Answers in the order of `sectors`, from one consistent snapshot where the backend allows. A record
   * that cannot be read fails only its own sector (`error` set); a failure of the whole backend throws.
   */
  findMany(type: IndexType, sectors: readonly SectorRef[], opts?: IndexerOptions): Promise<SectorLocation[]>;
  /** Record (or overwrite) locations; atomic for the whole batch. */
  update(type: IndexType, records: readonly IndexRecord[], opts?: IndexerOptions): Promise<void>;
  /** Number of indexed sectors per instance name (sealed file location), per index. */
  counts(opts?: IndexerOptions): Promise<IndexCounts>;
}

export const NOT_FOUND: SectorLocation = Object.freeze({
  found: false,
  instance: Object.freeze({ sealedFile: "", cacheDir: "" }),
}) as SectorLocation;
