/**
 * `Venus.*` JSON-RPC methods of the sector indexer.
 *
 * `Venus.SectorIndexerFind(indexType, {Miner, Number}) → {Found, Instance: {SealedFile, CacheDir}}` is
 * exactly damocles' method (positional params, PascalCase keys), so a damocles proxy can read our index
 * and our proxy can read a damocles source. The other methods are ours: a batched lookup (one call for a
 * whole partition instead of 2349), writes for `util storage attach`, counts and the store list.
 */
import fs from "node:fs/promises";
import { hasPermission } from "../rpc/auth.js";
import { InvalidParamsError } from "../rpc/errors.js";
import { arity, arrayParam, type MethodTable, objectParam, showParam, stringParam } from "../rpc/method.js";
import {
  INDEX_TYPES,
  type IndexCounts,
  type IndexRecord,
  type IndexType,
  type SectorIndexer,
  type SectorLocation,
  type SectorRef,
} from "./interface.js";
import type { PersistStores } from "./stores.js";

/** Most sectors in one batched call: ten full 32 GiB partitions and then some. */
export const MAX_SECTORS_PER_CALL = 100_000;

export function indexTypeParam(v: unknown): IndexType {
  const s = stringParam(v, "indexType");
  if (!(INDEX_TYPES as readonly string[]).includes(s)) {
    throw new InvalidParamsError(`indexType must be "normal" or "upgrade", got ${showParam(s)}`);
  }
  return s as IndexType;
}

/** Go's encoding/json matches struct keys case-insensitively; so do we. */
function field(o: Record<string, unknown>, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

function uintField(o: Record<string, unknown>, name: string, what: string): number {
  const v = field(o, name);
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new InvalidParamsError(`${what}.${name} must be a non-negative integer, got ${showParam(v)}`);
  }
  return v;
}

export function sectorRefParam(v: unknown, what = "sectorID"): SectorRef {
  const o = objectParam(v, what);
  return { miner: uintField(o, "Miner", what), number: uintField(o, "Number", what) };
}

function recordParam(v: unknown, what: string): IndexRecord {
  const o = objectParam(v, what);
  const sealed = field(o, "SealedFile");
  const cache = field(o, "CacheDir");
  if (typeof sealed !== "string" || sealed === "")
    throw new InvalidParamsError(`${what}.SealedFile must be a non-empty instance name`);
  if (cache !== undefined && typeof cache !== "string")
    throw new InvalidParamsError(`${what}.CacheDir must be a string`);
  return {
    ...sectorRefParam(v, what),
    sealedFile: sealed,
    cacheDir: (cache as string | undefined) || sealed,
  };
}

/** Instance names longer than this are not names (a config Name is a short label or a path). */
const MAX_INSTANCE_NAME = 4096;

export function isInstanceName(v: unknown): v is string {
  return typeof v === "string" && v !== "" && v.length <= MAX_INSTANCE_NAME;
}

function shortWire(v: unknown): string {
  return (JSON.stringify(v) ?? String(v)).slice(0, 120);
}

/**
 * A `Venus.SectorIndexerCounts` answer, checked: what is wrong with it as a string. Used by the proxy
 * (its source's answer) and the CLI (the daemon's).
 */
export function indexCountsFromWire(v: unknown): IndexCounts | string {
  const o = v as Record<string, unknown> | null;
  if (!o || typeof o !== "object" || Array.isArray(o)) return `not an object: ${shortWire(v)}`;
  const out: IndexCounts = { normal: {}, upgrade: {} };
  for (const type of ["normal", "upgrade"] as const) {
    const m = o[type] as Record<string, unknown> | null | undefined;
    if (!m || typeof m !== "object" || Array.isArray(m)) return `no "${type}" object: ${shortWire(v)}`;
    for (const [name, n] of Object.entries(m)) {
      if (!isInstanceName(name) || typeof n !== "number" || !Number.isSafeInteger(n) || n < 0)
        return `"${type}" has an entry that is not a name with a count: ${shortWire({ [name]: n })}`;
      out[type][name] = n;
    }
  }
  if (o.damaged !== undefined) {
    const d = o.damaged as Record<string, unknown> | null;
    const ok = (n: unknown) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
    if (!d || typeof d !== "object" || !ok(d.normal) || !ok(d.upgrade))
      return `"damaged" is not {normal: n, upgrade: n}: ${shortWire(o.damaged)}`;
    out.damaged = { normal: d.normal as number, upgrade: d.upgrade as number };
  }
  return out;
}

/** `Error` is ours (a damaged record of that sector); damocles' clients ignore it and see Found false. */
export function locationToWire(l: SectorLocation) {
  return {
    Found: l.found,
    Instance: { SealedFile: l.instance.sealedFile, CacheDir: l.instance.cacheDir },
    ...(l.error !== undefined ? { Error: l.error } : {}),
  };
}

export interface SectorIndexerApiDeps {
  indexer: SectorIndexer;
  stores: PersistStores;
}

export function sectorIndexerMethods(deps: SectorIndexerApiDeps): MethodTable {
  const { indexer, stores } = deps;
  return {
    "Venus.SectorIndexerFind": {
      perm: "read",
      doc: "Where a sector's files are: (indexType, {Miner, Number}) → {Found, Instance: {SealedFile, CacheDir}} (damocles-compatible).",
      async handler(params, ctx) {
        arity(params, 2);
        const type = indexTypeParam(params[0]);
        const ref = sectorRefParam(params[1]);
        return locationToWire(await indexer.find(type, ref, { signal: ctx.signal }));
      },
    },
    "Venus.SectorIndexerFindMany": {
      perm: "read",
      doc: `Batched lookup: (indexType, [{Miner, Number}, ...]) → [{Found, Instance, Error?}, ...] in the same order (Error: that sector's record is damaged); at most ${MAX_SECTORS_PER_CALL} per call.`,
      async handler(params, ctx) {
        arity(params, 2);
        const type = indexTypeParam(params[0]);
        const refs = arrayParam(params[1], "sectors", MAX_SECTORS_PER_CALL).map((v, i) =>
          sectorRefParam(v, `sectors[${i}]`),
        );
        return (await indexer.findMany(type, refs, { signal: ctx.signal })).map(locationToWire);
      },
    },
    "Venus.SectorIndexerStore": {
      perm: "write",
      doc: "Record locations: (indexType, [{Miner, Number, SealedFile, CacheDir}, ...]) → {Stored}. Refused on a proxy node.",
      async handler(params, ctx) {
        arity(params, 2);
        const type = indexTypeParam(params[0]);
        const recs = arrayParam(params[1], "records", MAX_SECTORS_PER_CALL).map((v, i) =>
          recordParam(v, `records[${i}]`),
        );
        await indexer.update(type, recs, { signal: ctx.signal });
        return { Stored: recs.length };
      },
    },
    "Venus.SectorIndexerCounts": {
      perm: "read",
      doc: "Indexed sectors per storage instance name: () → {normal: {name: n}, upgrade: {name: n}, damaged?: {normal: n, upgrade: n}}.",
      async handler(params, ctx) {
        arity(params, 0);
        return indexer.counts({ signal: ctx.signal });
      },
    },
    "Venus.SectorIndexerInfo": {
      perm: "read",
      doc: "Which indexer this node uses: () → {Description, ReadOnly}.",
      async handler(params) {
        arity(params, 0);
        return { Description: indexer.description, ReadOnly: indexer.readOnly };
      },
    },
    "Venus.StoreList": {
      perm: "read",
      doc: "Configured persist stores with their state and space: () → [{Name, Path, ReadOnly, Strict, Meta, HiddenMeta, Problem, Total, Free}]; Meta (plugin settings, may hold credentials) only for admin tokens.",
      async handler(params, ctx) {
        arity(params, 0);
        const status = await stores.status();
        const admin = hasPermission(ctx.perms, "admin");
        return Promise.all(
          status.map(async (s) => {
            const meta = stores.get(s.name)?.Meta ?? {};
            let total: number | null = null;
            let free: number | null = null;
            if (!s.problem) {
              try {
                const fsinfo = await fs.statfs(s.path);
                total = fsinfo.blocks * fsinfo.bsize;
                free = fsinfo.bavail * fsinfo.bsize;
              } catch {
                // space is informational; the directory check above is what matters
              }
            }
            return {
              Name: s.name,
              Path: s.path,
              ReadOnly: s.readOnly,
              Strict: s.strict,
              // Meta is handed to plugins and may carry their credentials: admin tokens only.
              Meta: admin ? meta : {},
              HiddenMeta: admin ? 0 : Object.keys(meta).length,
              Problem: s.problem ?? "",
              Total: total,
              Free: free,
            };
          }),
        );
      },
    },
  };
}
