/**
 * Sector checks before proving (and for `util sealer proving check`, `attach --strict`).
 *
 * Non-strict: the sector is in the index, its storage instance is configured, and its files exist
 * with the right sizes (fileCheck.ts). Strict: additionally a one-challenge vanilla proof over the
 * real data verifies (the `strictProbe`), which catches unreadable or corrupted replicas and caches.
 *
 * The files of all the sectors are checked first on the file check thread (fileCheckThread.ts: one
 * message per 256 sectors, synchronous stats off the event loop); a sector that thread did not answer
 * for in time is checked on its own with async stats.
 *
 * Bounds, from `[Common.Proving]`: at most ParallelCheckLimit sectors at once; one sector may take
 * SingleCheckTimeout; the whole call PartitionCheckTimeout, after which unchecked sectors count as bad.
 * Every bad sector comes back with a one-line reason. When the sector index itself cannot be reached
 * (a proxy whose source is down) the call throws instead of declaring every sector bad: skipping a
 * whole partition is the caller's decision, not a side effect of an outage.
 */
import fs from "node:fs/promises";
import type { SectorManagerConfig } from "../config/types.js";
import { formatGoDuration } from "../config/units.js";
import type { SectorShape } from "../proofs/sectorShapes.js";
import { mapLimit } from "../util/concurrency.js";
import { errorMessage } from "../util/errors.js";
import { withTimeout } from "../util/time.js";
import { checkSectorFiles } from "./fileCheck.js";
import { checkFilesOnThread } from "./fileCheckThread.js";
import type { IndexType, SectorIndexer, SectorLocation } from "./interface.js";
import type { PersistStores } from "./stores.js";

export interface CheckTarget {
  miner: number;
  number: number;
  /** Snap-upgraded: look in the upgrade index and update/, update-cache/. */
  upgrade: boolean;
  /** The size the chain says the sector has; any known size when absent. */
  shape?: SectorShape;
  /** On-chain comm_r, for the strict probe. */
  commR?: Uint8Array;
}

export interface CheckOutcome {
  miner: number;
  number: number;
  ok: boolean;
  reason: string | undefined;
  sealedFile: string | undefined;
  cacheDir: string | undefined;
}

export interface ProbeInput {
  target: CheckTarget;
  shape: SectorShape;
  sealedFile: string;
  cacheDir: string;
}

/** Throws with the reason when the sector's data does not prove. */
export type StrictProbe = (input: ProbeInput, signal: AbortSignal) => Promise<void>;

export interface CheckDeps {
  indexer: SectorIndexer;
  stores: PersistStores;
  proving: SectorManagerConfig["Common"]["Proving"];
  strictProbe?: StrictProbe;
}

export async function checkSectors(
  targets: readonly CheckTarget[],
  deps: CheckDeps,
  opts: { strict: boolean; signal?: AbortSignal },
): Promise<CheckOutcome[]> {
  const { proving } = deps;
  const partition = AbortSignal.timeout(proving.PartitionCheckTimeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, partition]) : partition;

  // One batched index lookup per index type.
  const locations = new Map<CheckTarget, SectorLocation>();
  for (const type of ["normal", "upgrade"] as IndexType[]) {
    const group = targets.filter((t) => (type === "upgrade") === t.upgrade);
    if (group.length === 0) continue;
    const found = await deps.indexer.findMany(type, group, { signal: opts.signal });
    group.forEach((t, i) => {
      const l = found[i];
      if (l) locations.set(t, l);
    });
  }

  const bad = (
    t: CheckTarget,
    reason: string,
    paths?: { sealedFile: string; cacheDir: string },
  ): CheckOutcome => ({
    miner: t.miner,
    number: t.number,
    ok: false,
    reason,
    sealedFile: paths?.sealedFile,
    cacheDir: paths?.cacheDir,
  });

  /** Where each sector found in the index lives (or why it cannot be checked). */
  type Placed = { paths: { sealedFile: string; cacheDir: string }; loc: SectorLocation };
  const placed = new Map<CheckTarget, Placed>();
  const early = new Map<CheckTarget, CheckOutcome>();
  for (const t of targets) {
    const loc = locations.get(t);
    if (loc?.error !== undefined) early.set(t, bad(t, loc.error));
    else if (!loc?.found) early.set(t, bad(t, `not in the ${t.upgrade ? "upgrade" : "normal"} sector index`));
    else
      try {
        placed.set(t, { paths: deps.stores.resolve(t.upgrade ? "upgrade" : "normal", t, loc.instance), loc });
      } catch (e) {
        early.set(t, bad(t, errorMessage(e)));
      }
  }
  // The files of all of them on the file check thread, at once; a sector whose batch did not come
  // back (a hung mount) is checked below with async stats and its own time limit.
  const onThread = [...placed];
  const results = await checkFilesOnThread(
    onThread.map(([t, { paths }]) => ({ ...paths, expected: t.shape })),
    { batchTimeoutMs: proving.SingleCheckTimeoutMs, signal },
  );
  const files = new Map(onThread.map(([t], i) => [t, results[i]]));

  const checkOne = async (t: CheckTarget, sectorSignal: AbortSignal): Promise<CheckOutcome> => {
    const known = early.get(t);
    if (known) return known;
    const { paths, loc } = placed.get(t) as Placed;
    const found =
      files.get(t) ?? (await checkSectorFiles(paths.sealedFile, paths.cacheDir, t.shape, { notes: false }));
    if (typeof found === "string") return bad(t, found, paths);
    const link = await strictStoreLink(deps.stores, loc.instance, paths);
    if (link) return bad(t, link, paths);
    if (opts.strict) {
      if (!deps.strictProbe)
        return bad(t, "strict check requested but no vanilla prover is available", paths);
      try {
        await deps.strictProbe({ target: t, shape: found.shape, ...paths }, sectorSignal);
      } catch (e) {
        return bad(t, `vanilla proof check failed: ${errorMessage(e)}`, paths);
      }
    }
    return { miner: t.miner, number: t.number, ok: true, reason: undefined, ...paths };
  };
  /** Nothing left to wait for: no stat, no probe (the usual case once the thread has answered). */
  const settled = (t: CheckTarget): boolean => {
    if (early.has(t)) return true;
    const f = files.get(t);
    if (f === undefined) return false;
    if (typeof f === "string") return true;
    const instance = placed.get(t)?.loc.instance;
    return !opts.strict && instance !== undefined && !strictStoreInvolved(deps.stores, instance);
  };

  const singleText = `check did not finish within SingleCheckTimeout (${formatGoDuration(proving.SingleCheckTimeoutMs)})`;
  const partitionText = `not checked within PartitionCheckTimeout (${formatGoDuration(proving.PartitionCheckTimeoutMs)})`;
  /** Which limit stopped a sector, when one did. */
  const stoppedBy = (sectorSignal: AbortSignal): string | undefined => {
    if (opts.signal?.aborted) return "check aborted";
    if (partition.aborted) return partitionText;
    if (sectorSignal.aborted) return singleText;
    return undefined;
  };

  /** A settled sector's outcome, at once: a partition's worth of promises cost more than its stats. */
  const settledOutcome = (t: CheckTarget): CheckOutcome => {
    const known = early.get(t);
    if (known) return known;
    const { paths } = placed.get(t) as Placed;
    const found = files.get(t);
    if (typeof found === "string") return bad(t, found, paths);
    return { miner: t.miner, number: t.number, ok: true, reason: undefined, ...paths };
  };
  const out: CheckOutcome[] = new Array(targets.length);
  const rest: number[] = [];
  targets.forEach((t, i) => {
    // After an abort every sector gets its reason below, as one not yet checked would.
    if (!signal.aborted && settled(t)) out[i] = settledOutcome(t);
    else rest.push(i);
  });
  if (rest.length === 0) return out;

  const limit = proving.ParallelCheckLimit ?? targets.length;
  const checked = await mapLimit(rest, Math.max(1, limit), async (i) => {
    const t = targets[i] as CheckTarget;
    if (signal.aborted) return bad(t, opts.signal?.aborted ? "check aborted" : partitionText);
    // The probe is told to stop at the sector's time limit, so a slow proof frees its slot; only
    // uninterruptible I/O (a stat on a hung mount) can outlive it, and PartitionCheckTimeout bounds that.
    const sectorSignal = AbortSignal.any([signal, AbortSignal.timeout(proving.SingleCheckTimeoutMs)]);
    try {
      const out = await withTimeout(checkOne(t, sectorSignal), proving.SingleCheckTimeoutMs, singleText);
      const stop = out.ok ? undefined : stoppedBy(sectorSignal);
      return stop ? { ...out, reason: stop } : out;
    } catch (e) {
      return bad(t, stoppedBy(sectorSignal) ?? errorMessage(e));
    }
  });
  rest.forEach((i, k) => {
    out[i] = checked[k] as CheckOutcome;
  });
  return out;
}

/** Whether the sector's sealed file or cache dir is in a Strict store (strictStoreLink has to look). */
function strictStoreInvolved(
  stores: PersistStores,
  instance: { sealedFile: string; cacheDir: string },
): boolean {
  return (
    stores.get(instance.sealedFile)?.Strict === true ||
    stores.get(instance.cacheDir || instance.sealedFile)?.Strict === true
  );
}

/**
 * [[Common.PersistStores]] Strict: the objects this node reads from such a store must be regular
 * files and directories, not symbolic links (to another disk, a stale mount...). The reason when a
 * sector's sealed file or cache dir in a Strict store is a link; undefined otherwise.
 */
async function strictStoreLink(
  stores: PersistStores,
  instance: { sealedFile: string; cacheDir: string },
  paths: { sealedFile: string; cacheDir: string },
): Promise<string | undefined> {
  const objects: [string, string, string][] = [
    [instance.sealedFile, paths.sealedFile, "sealed file"],
    [instance.cacheDir || instance.sealedFile, paths.cacheDir, "cache dir"],
  ];
  for (const [name, file, what] of objects) {
    if (stores.get(name)?.Strict !== true) continue;
    const st = await fs.lstat(file).catch(() => undefined);
    if (st?.isSymbolicLink())
      return `${what} ${file} is a symbolic link, and store ${JSON.stringify(name)} is Strict (its objects must be regular files); put the file itself there, or set Strict = false for that store`;
  }
  return undefined;
}
