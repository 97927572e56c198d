/**
 * The sector index of another node, over JSON-RPC (`daemon run --proxy=ip:port`).
 *
 * Read-only: writes are refused with a message that says where to make them. No cache: every answer
 * comes from the source at the time of the call, so a sector attached on the source is visible here
 * at once. When the source is down, lookups fail with a clear error and nothing else is affected; the
 * next lookup after it returns succeeds (a new connection is made per failure by fetch).
 *
 * Batches use `Venus.SectorIndexerFindMany`; against a damocles source, which has no such method,
 * the proxy falls back to one `Venus.SectorIndexerFind` per sector with bounded parallelism.
 */
import type { Logger } from "../log/logger.js";
import type { RpcClient } from "../rpc/client.js";
import { mapLimit } from "../util/concurrency.js";
import { SmError } from "../util/errors.js";
import type {
  IndexerOptions,
  IndexRecord,
  IndexType,
  SectorIndexer,
  SectorLocation,
  SectorRef,
} from "./interface.js";
import { MAX_SECTORS_PER_CALL } from "./rpcApi.js";

/** Parallel single lookups when the source has no batched method (damocles). */
const FALLBACK_PARALLELISM = 16;

function decodeLocation(v: unknown, peer: string): SectorLocation {
  const o = v as { Found?: unknown; Instance?: { SealedFile?: unknown; CacheDir?: unknown } | null };
  if (!o || typeof o !== "object" || typeof o.Found !== "boolean") {
    throw new SmError(
      "SECTORS_BAD_RESPONSE",
      `${peer} answered a sector lookup without a Found flag: ${JSON.stringify(v)?.slice(0, 120)}`,
    );
  }
  if (!o.Found) return { found: false, instance: { sealedFile: "", cacheDir: "" } };
  const sealed = o.Instance?.SealedFile;
  const cache = o.Instance?.CacheDir;
  if (typeof sealed !== "string" || sealed === "") {
    throw new SmError(
      "SECTORS_BAD_RESPONSE",
      `${peer} answered a found sector without a SealedFile instance name`,
    );
  }
  return {
    found: true,
    instance: { sealedFile: sealed, cacheDir: typeof cache === "string" && cache !== "" ? cache : sealed },
  };
}

export class ProxyIndexer implements SectorIndexer {
  readonly readOnly = true;
  readonly description: string;
  private hasFindMany: boolean | undefined;

  constructor(
    private readonly client: RpcClient,
    private readonly source: string,
    private readonly logger: Logger,
  ) {
    this.description = `proxy ${source}`;
  }

  private wrap(e: unknown): never {
    if (e instanceof SmError && (e.code === "RPC_UNREACHABLE" || e.code === "TIMEOUT")) {
      throw new SmError(
        "SECTORS_SOURCE_UNAVAILABLE",
        `sector lookup failed: source node ${this.source} is unavailable (${e.message}); this proxy keeps running and lookups succeed again as soon as the source is back`,
        { source: this.source },
      );
    }
    throw e;
  }

  async find(type: IndexType, s: SectorRef, opts: IndexerOptions = {}): Promise<SectorLocation> {
    try {
      const r = await this.client.call(
        "Venus.SectorIndexerFind",
        [type, { Miner: s.miner, Number: s.number }],
        opts,
      );
      return decodeLocation(r, this.client.peerName);
    } catch (e) {
      return this.wrap(e);
    }
  }

  async findMany(
    type: IndexType,
    sectors: readonly SectorRef[],
    opts: IndexerOptions = {},
  ): Promise<SectorLocation[]> {
    if (sectors.length === 0) return [];
    if (this.hasFindMany === false) return this.findEach(type, sectors, opts);
    const out: SectorLocation[] = [];
    try {
      for (let i = 0; i < sectors.length; i += MAX_SECTORS_PER_CALL) {
        const chunk = sectors
          .slice(i, i + MAX_SECTORS_PER_CALL)
          .map((s) => ({ Miner: s.miner, Number: s.number }));
        const r = await this.client.call<unknown>("Venus.SectorIndexerFindMany", [type, chunk], opts);
        if (!Array.isArray(r) || r.length !== chunk.length) {
          throw new SmError(
            "SECTORS_BAD_RESPONSE",
            `${this.client.peerName} answered a batch of ${chunk.length} lookups with ${Array.isArray(r) ? r.length : "no"} results`,
          );
        }
        for (const v of r) out.push(decodeLocation(v, this.client.peerName));
      }
      this.hasFindMany = true;
      return out;
    } catch (e) {
      if (e instanceof SmError && e.code === "RPC_METHOD_NOT_FOUND" && this.hasFindMany === undefined) {
        this.hasFindMany = false;
        this.logger.info("source has no batched lookup (damocles?); using one SectorIndexerFind per sector", {
          source: this.source,
        });
        return this.findEach(type, sectors, opts);
      }
      return this.wrap(e);
    }
  }

  private findEach(
    type: IndexType,
    sectors: readonly SectorRef[],
    opts: IndexerOptions,
  ): Promise<SectorLocation[]> {
    return mapLimit(sectors, FALLBACK_PARALLELISM, (s) => this.find(type, s, opts));
  }

  async update(_type: IndexType, _records: readonly IndexRecord[], _opts?: IndexerOptions): Promise<void> {
    throw new SmError(
      "SECTORS_READ_ONLY",
      `this node's sector index is read-only: it reads sector locations from the source node ${this.source} (--proxy); attach or index sectors on the source node instead`,
      { source: this.source },
    );
  }

  async counts(opts: IndexerOptions = {}): Promise<Record<IndexType, Record<string, number>>> {
    try {
      return await this.client.call("Venus.SectorIndexerCounts", [], opts);
    } catch (e) {
      return this.wrap(e);
    }
  }
}
