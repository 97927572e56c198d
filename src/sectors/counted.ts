/**
 * A sector indexer that counts its lookups in `vsm_sector_index_lookups_total{indexer, result}`: one
 * per sector asked for, found, missing (not indexed) or error (its record unreadable, or the whole
 * lookup failed: the store, or the proxy's source). Every caller (the RPC methods, the PoSter, the
 * WinningPoSt service, proving check/compute) goes through the node's one indexer, so wrapping it
 * counts them all.
 */
import type { Metrics } from "../metrics/metrics.js";
import type {
  IndexCounts,
  IndexerOptions,
  IndexRecord,
  IndexType,
  SectorIndexer,
  SectorLocation,
  SectorRef,
} from "./interface.js";

export class CountedIndexer implements SectorIndexer {
  constructor(
    private readonly inner: SectorIndexer,
    private readonly metrics: Pick<Metrics, "indexLookups">,
    /** The `indexer` label: local, proxy or postgres. */
    private readonly kind: "local" | "proxy" | "postgres",
  ) {}

  get description(): string {
    return this.inner.description;
  }

  get readOnly(): boolean {
    return this.inner.readOnly;
  }

  private count(locations: readonly SectorLocation[]): void {
    let found = 0;
    let missing = 0;
    let error = 0;
    for (const l of locations) {
      if (l.found) found++;
      else if (l.error !== undefined) error++;
      else missing++;
    }
    const c = this.metrics.indexLookups;
    if (found > 0) c.inc({ indexer: this.kind, result: "found" }, found);
    if (missing > 0) c.inc({ indexer: this.kind, result: "missing" }, missing);
    if (error > 0) c.inc({ indexer: this.kind, result: "error" }, error);
  }

  async find(type: IndexType, sector: SectorRef, opts?: IndexerOptions): Promise<SectorLocation> {
    try {
      const l = await this.inner.find(type, sector, opts);
      this.count([l]);
      return l;
    } catch (e) {
      this.metrics.indexLookups.inc({ indexer: this.kind, result: "error" });
      throw e;
    }
  }

  async findMany(
    type: IndexType,
    sectors: readonly SectorRef[],
    opts?: IndexerOptions,
  ): Promise<SectorLocation[]> {
    try {
      const ls = await this.inner.findMany(type, sectors, opts);
      this.count(ls);
      return ls;
    } catch (e) {
      if (sectors.length > 0)
        this.metrics.indexLookups.inc({ indexer: this.kind, result: "error" }, sectors.length);
      throw e;
    }
  }

  update(type: IndexType, records: readonly IndexRecord[], opts?: IndexerOptions): Promise<void> {
    return this.inner.update(type, records, opts);
  }

  counts(opts?: IndexerOptions): Promise<IndexCounts> {
    return this.inner.counts(opts);
  }
}
