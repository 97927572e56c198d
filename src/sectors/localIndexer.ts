/**
 * Sector index in the embedded KV store.
 *
 * Key: bucket byte (normal/upgrade) + miner u64 BE + number u64 BE, so a scan lists one miner's
 * sectors in numeric order. Value: JSON `{"s": <sealed instance>, "c": <cache instance>}`.
 */
import type { KVStore } from "../store/interface.js";
import { Bucket, u64Key } from "../store/keys.js";
import { SmError } from "../util/errors.js";
import {
  type IndexerOptions,
  type IndexRecord,
  type IndexType,
  NOT_FOUND,
  type SectorIndexer,
  type SectorLocation,
  type SectorRef,
} from "./interface.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

function bucketOf(type: IndexType): Bucket {
  return type === "upgrade" ? Bucket.SectorIndexUpgrade : Bucket.SectorIndexNormal;
}

function decodeValue(raw: Uint8Array | undefined): SectorLocation {
  if (raw === undefined) return NOT_FOUND;
  let v: unknown;
  try {
    v = JSON.parse(dec.decode(raw));
  } catch {
    throw new SmError(
      "STORE_CORRUPT",
      "a sector index record is not valid JSON; the metadata store is damaged",
    );
  }
  const r = v as { s?: unknown; c?: unknown };
  if (typeof r.s !== "string")
    throw new SmError("STORE_CORRUPT", "a sector index record has no sealed instance name");
  // damocles: a missing cache location means "same instance as the sealed file".
  const cache = typeof r.c === "string" && r.c !== "" ? r.c : r.s;
  return { found: true, instance: { sealedFile: r.s, cacheDir: cache } };
}

export class LocalIndexer implements SectorIndexer {
  readonly description = "local";
  readonly readOnly = false;

  constructor(private readonly store: KVStore) {}

  async find(type: IndexType, sector: SectorRef, _opts?: IndexerOptions): Promise<SectorLocation> {
    return decodeValue(await this.store.get(u64Key(bucketOf(type), sector.miner, sector.number)));
  }

  async findMany(
    type: IndexType,
    sectors: readonly SectorRef[],
    _opts?: IndexerOptions,
  ): Promise<SectorLocation[]> {
    const b = bucketOf(type);
    const raws = await this.store.getMany(sectors.map((s) => u64Key(b, s.miner, s.number)));
    return raws.map(decodeValue);
  }

  async update(type: IndexType, records: readonly IndexRecord[], _opts?: IndexerOptions): Promise<void> {
    const b = bucketOf(type);
    for (const r of records) {
      if (r.sealedFile === "")
        throw new SmError(
          "SECTORS_INVALID_RECORD",
          `sector ${r.miner}-${r.number}: empty sealed instance name`,
        );
    }
    await this.store.transaction((tx) => {
      for (const r of records) {
        tx.put(
          u64Key(b, r.miner, r.number),
          enc.encode(JSON.stringify({ s: r.sealedFile, c: r.cacheDir || r.sealedFile })),
        );
      }
    });
  }

  async counts(_opts?: IndexerOptions): Promise<Record<IndexType, Record<string, number>>> {
    const out: Record<IndexType, Record<string, number>> = { normal: {}, upgrade: {} };
    for (const type of ["normal", "upgrade"] as const) {
      const bucket = out[type];
      for await (const { value } of this.store.scan(Uint8Array.of(bucketOf(type)))) {
        const loc = decodeValue(value);
        bucket[loc.instance.sealedFile] = (bucket[loc.instance.sealedFile] ?? 0) + 1;
      }
    }
    return out;
  }
}
