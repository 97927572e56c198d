/**
 * Sector index in the embedded KV store.
 *
 * Key: bucket byte (normal/upgrade) + miner u64 BE + number u64 BE, so a scan lists one miner's
 * sectors in numeric order. Value: JSON `{"s": <sealed instance>, "c": <cache instance>}`.
 *
 * LMDB keeps no checksum of values, so a damaged record reads back as bytes that are not such a JSON
 * object. It fails only its own sector: `find` throws STORE_CORRUPT naming the sector, `findMany`
 * answers that sector with `error` and the others normally, `counts` counts it under `damaged`.
 * Re-attaching the store that holds the sector rewrites the record.
 */
import type { KVStore } from "../store/interface.js";
import { Bucket, readU64, u64Key } from "../store/keys.js";
import { SmError } from "../util/errors.js";
import {
  type IndexCounts,
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

/** What is wrong with a raw record, or its location. */
function decodeValue(raw: Uint8Array | undefined): SectorLocation | string {
  if (raw === undefined) return NOT_FOUND;
  let v: unknown;
  try {
    v = JSON.parse(dec.decode(raw));
  } catch {
    return "is not valid JSON";
  }
  const r = v as { s?: unknown; c?: unknown } | null;
  if (!r || typeof r !== "object" || typeof r.s !== "string" || r.s === "")
    return "has no sealed instance name";
  if (r.c !== undefined && typeof r.c !== "string") return "has a cache instance that is not a name";
  // damocles: a missing cache location means "same instance as the sealed file".
  const cache = typeof r.c === "string" && r.c !== "" ? r.c : r.s;
  return { found: true, instance: { sealedFile: r.s, cacheDir: cache } };
}

function damagedText(type: IndexType, s: SectorRef, what: string): string {
  return `the ${type} sector index record of sector ${s.miner}-${s.number} is damaged (it ${what}); re-attach the store that holds this sector with \`vsm util storage attach --name NAME PATH\` to rewrite it`;
}

function locate(type: IndexType, s: SectorRef, raw: Uint8Array | undefined): SectorLocation {
  const r = decodeValue(raw);
  if (typeof r !== "string") return r;
  return { found: false, instance: { sealedFile: "", cacheDir: "" }, error: damagedText(type, s, r) };
}

export class LocalIndexer implements SectorIndexer {
  readonly description = "local";
  readonly readOnly = false;

  constructor(private readonly store: KVStore) {}

  async find(type: IndexType, sector: SectorRef, _opts?: IndexerOptions): Promise<SectorLocation> {
    const loc = locate(
      type,
      sector,
      await this.store.get(u64Key(bucketOf(type), sector.miner, sector.number)),
    );
    if (loc.error !== undefined)
      throw new SmError("STORE_CORRUPT", loc.error, {
        miner: sector.miner,
        number: sector.number,
        index: type,
      });
    return loc;
  }

  async findMany(
    type: IndexType,
    sectors: readonly SectorRef[],
    _opts?: IndexerOptions,
  ): Promise<SectorLocation[]> {
    const b = bucketOf(type);
    const raws = await this.store.getMany(sectors.map((s) => u64Key(b, s.miner, s.number)));
    return raws.map((raw, i) => locate(type, sectors[i]!, raw));
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

  /**
   * Every record of one index in key order (miner, then number), for copying the index elsewhere
   * (`util db migrate`). A damaged record comes with `error` set; a key of the wrong length (never
   * written by this program) is reported the same way with number -1.
   */
  async *entries(type: IndexType): AsyncIterable<SectorRef & { location: SectorLocation }> {
    for await (const { key, value } of this.store.scan(Uint8Array.of(bucketOf(type)))) {
      if (key.length !== 17) {
        yield {
          miner: -1,
          number: -1,
          location: { ...NOT_FOUND, error: `a ${type} index key of ${key.length} bytes instead of 17` },
        };
        continue;
      }
      const ref = { miner: readU64(key, 0), number: readU64(key, 1) };
      yield { ...ref, location: locate(type, ref, value) };
    }
  }

  /**
   * Counted in slices of COUNT_SLICE records, each its own read, with a turn of the event loop between
   * them: the daemon answers this on the event loop that also runs the PoSter and the RPC server, and a
   * million records read in one go held it for seconds. The counts are therefore not one snapshot; an
   * attach running meanwhile may be counted in part. Records mostly repeat a few instance names, so
   * each distinct value is decoded once.
   */
  async counts(opts?: IndexerOptions): Promise<IndexCounts> {
    const out: IndexCounts = { normal: {}, upgrade: {} };
    const damaged: Record<IndexType, number> = { normal: 0, upgrade: 0 };
    for (const type of ["normal", "upgrade"] as const) {
      const bucket = out[type];
      const decoded = new Map<string, string | undefined>();
      const prefix = Uint8Array.of(bucketOf(type));
      let start: Uint8Array | undefined;
      for (;;) {
        opts?.signal?.throwIfAborted();
        let n = 0;
        let lastKey: Uint8Array | undefined;
        for await (const { key, value } of this.store.scan(prefix, { limit: COUNT_SLICE, start })) {
          n++;
          lastKey = key;
          const text = dec.decode(value);
          let sealed = decoded.get(text);
          if (sealed === undefined && !decoded.has(text)) {
            const loc = decodeValue(value);
            sealed = typeof loc === "string" ? undefined : loc.instance.sealedFile;
            if (decoded.size < DECODED_CACHE) decoded.set(text, sealed);
          }
          if (sealed === undefined) damaged[type]++;
          else bucket[sealed] = (bucket[sealed] ?? 0) + 1;
        }
        if (n < COUNT_SLICE || lastKey === undefined) break;
        start = keyAfter(lastKey);
        await new Promise((r) => setImmediate(r));
      }
    }
    if (damaged.normal + damaged.upgrade > 0) out.damaged = damaged;
    return out;
  }
}

/** Records per read of `counts` (a few milliseconds of the event loop). */
const COUNT_SLICE = 5000;
/** Distinct record values remembered by `counts`: instance-name pairs, a handful in practice. */
const DECODED_CACHE = 4096;

/** The smallest key after `key`: the key with a zero byte appended. */
function keyAfter(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}
