/**
 * `util storage attach | list | find`.
 *
 * attach scans the directory itself (the files are on this machine), then records the good sectors
 * through the running daemon (write token from the home) or, when no daemon holds the home, directly
 * in the home's store under the home lock. Either way it first looks the sectors up: sectors indexed
 * under another instance name are not moved to the new one without --force.
 */
import fs from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { loadConfigDir } from "../../config/load.js";
import { SECTOR_MANAGER_CFG } from "../../config/schema.js";
import type { SectorManagerConfig } from "../../config/types.js";
import { commandNodeName, openConfiguredPg } from "../../daemon/clusterDb.js";
import { acquireHomeLock } from "../../daemon/home.js";
import { openMetadataStore } from "../../daemon/metadataStore.js";
import type { Logger } from "../../log/logger.js";
import { cacheDirPath, sealedFilePath } from "../../proofs/sectorFiles.js";
import { createStrictProbe } from "../../prover/strictProbe.js";
import { createWorkerPool } from "../../prover/workerPool.js";
import type { RpcClient } from "../../rpc/client.js";
import {
  type AttachProgress,
  type BadSector,
  type BatchLookup,
  type BatchWrite,
  type InstanceMove,
  instanceMoveError,
  type MoveGuard,
  recordAttached,
  type ScanResult,
  scanStoreDir,
} from "../../sectors/attach.js";
import type { IndexRecord, IndexType, SectorIndexer, SectorLocation } from "../../sectors/interface.js";
import { LocalIndexer } from "../../sectors/localIndexer.js";
import { PgIndexer } from "../../sectors/pgIndexer.js";
import { indexCountsFromWire } from "../../sectors/rpcApi.js";
import { migrate } from "../../store/pg/migrations.js";
import { SmError, sysCode } from "../../util/errors.js";
import { action, homeOf, loggerOf, parseMinerArg, parseUintArg } from "../context.js";
import { daemonClient, requireDaemon } from "../daemonClient.js";
import { human, plainTable } from "../format.js";
import { type Progress, progressReporter } from "../progress.js";

/** Records per write call: well under the server's per-call limit, small enough to report progress. */
const WRITE_BATCH = 10_000;
/** Sector files of one layout from which their checks report progress (a few seconds of stat calls). */
const SCAN_PROGRESS_FROM = 1000;

interface StoreRow {
  Name: string;
  Path: string;
  ReadOnly: boolean;
  Strict: boolean;
  Problem: string;
  Total: number | null;
  Free: number | null;
}

function isStoreRow(v: unknown): v is StoreRow {
  const o = v as Partial<StoreRow> | null;
  return (
    typeof o === "object" &&
    o !== null &&
    typeof o.Name === "string" &&
    typeof o.Path === "string" &&
    typeof o.ReadOnly === "boolean" &&
    typeof o.Strict === "boolean" &&
    typeof o.Problem === "string" &&
    (o.Free === null || typeof o.Free === "number")
  );
}

function snippet(name: string, dir: string, strict: boolean, readOnly: boolean): string {
  return [
    "[[Common.PersistStores]]",
    `Name = ${JSON.stringify(name)}`,
    `Path = ${JSON.stringify(dir)}`,
    `Strict = ${strict}`,
    `ReadOnly = ${readOnly}`,
  ].join("\n");
}

async function localConfig(home: string): Promise<SectorManagerConfig | undefined> {
  try {
    await fs.access(path.join(home, SECTOR_MANAGER_CFG));
  } catch {
    return undefined;
  }
  return (await loadConfigDir(home)).sectorManager.config;
}

function groupRecords(scan: ScanResult, name: string): Record<IndexType, IndexRecord[]> {
  const out: Record<IndexType, IndexRecord[]> = { normal: [], upgrade: [] };
  for (const s of scan.good)
    out[s.type].push({ miner: s.miner, number: s.number, sealedFile: name, cacheDir: name });
  return out;
}

/**
 * A progress line for one step of attach: the step's name is the log line's message and, on a
 * terminal, a line of its own above the counts (the terminal line shows counts only).
 */
function labelledProgress(total: number, log: Logger, what: string): Progress {
  if (process.stderr.isTTY === true) process.stderr.write(`${what}:\n`);
  return progressReporter(total, log, "sectors", what);
}

/** Progress of attach's look-up and write passes on stderr, when they take more than one batch. */
function passProgress(recs: Record<IndexType, IndexRecord[]>, log: Logger): AttachProgress | undefined {
  const total = recs.normal.length + recs.upgrade.length;
  if (total <= WRITE_BATCH) return undefined;
  const passes = new Map<string, Progress>();
  return (pass, done) => {
    const what = pass === "lookup" ? "looking the sectors up" : "recording the sectors";
    let r = passes.get(pass);
    if (!r) {
      r = labelledProgress(total, log, what);
      passes.set(pass, r);
    }
    r.update(done, done === total);
  };
}

/** The daemon's FindMany answer about one sector, checked (a wrong shape is an error, not "not found"). */
function wireLocation(v: unknown, peer: string): SectorLocation {
  const o = v as {
    Found?: unknown;
    Instance?: { SealedFile?: unknown; CacheDir?: unknown } | null;
    Error?: unknown;
  };
  const empty = { sealedFile: "", cacheDir: "" };
  if (o && typeof o === "object" && o.Found === false)
    return { found: false, instance: empty, ...(typeof o.Error === "string" ? { error: o.Error } : {}) };
  const sealed = o?.Instance?.SealedFile;
  const cache = o?.Instance?.CacheDir;
  if (o?.Found !== true || typeof sealed !== "string" || (cache !== undefined && typeof cache !== "string"))
    throw new SmError(
      "RPC_BAD_RESPONSE",
      `${peer} answered Venus.SectorIndexerFindMany with a result of the wrong shape: ${JSON.stringify(v)?.slice(0, 120)}`,
    );
  return { found: true, instance: { sealedFile: sealed, cacheDir: cache || sealed } };
}

function lookupOnline(client: RpcClient): BatchLookup {
  return async (type, list) => {
    const batch = list.map((r) => ({ Miner: r.miner, Number: r.number }));
    const r = await client.call<unknown>("Venus.SectorIndexerFindMany", [type, batch]);
    if (!Array.isArray(r) || r.length !== batch.length)
      throw new SmError(
        "RPC_BAD_RESPONSE",
        `${client.peerName} answered a batch of ${batch.length} lookups with ${Array.isArray(r) ? r.length : "no"} results`,
      );
    return r.map((v) => wireLocation(v, client.peerName));
  };
}

function writeOnline(client: RpcClient): BatchWrite {
  return async (type, list) => {
    const batch = list.map((r) => ({
      Miner: r.miner,
      Number: r.number,
      SealedFile: r.sealedFile,
      CacheDir: r.cacheDir,
    }));
    await client.call("Venus.SectorIndexerStore", [type, batch]);
  };
}

async function writeOffline(
  home: string,
  cfg: SectorManagerConfig | undefined,
  recs: Record<IndexType, IndexRecord[]>,
  name: string,
  guard: MoveGuard,
  logger: Logger,
): Promise<InstanceMove[]> {
  try {
    const st = await fs.stat(home);
    if (!st.isDirectory()) throw new Error("not a directory");
  } catch {
    throw new SmError(
      "HOME_NOT_INITIALIZED",
      `home ${home} does not exist; run \`vsm --home ${home} daemon init\` first`,
    );
  }
  const lock = await acquireHomeLock(home, "util storage attach");
  try {
    if (cfg?.Common.DB.Driver === "postgres") return await writeToDb(cfg, recs, name, guard, logger);
    const store = await openMetadataStore(home, cfg);
    try {
      // Under the home lock: nothing can change the index between this look-up and the write.
      return await writeGuarded(new LocalIndexer(store), recs, name, guard, logger);
    } finally {
      await store.close();
    }
  } finally {
    await lock.release();
  }
}

/** Look the records up, let `guard` refuse moves between instances, then write them in batches. */
function writeGuarded(
  idx: SectorIndexer,
  recs: Record<IndexType, IndexRecord[]>,
  name: string,
  guard: MoveGuard,
  logger: Logger,
): Promise<InstanceMove[]> {
  return recordAttached(recs, {
    name,
    guard,
    lookup: (type, batch) => idx.findMany(type, batch),
    write: (type, batch) => idx.update(type, batch),
    batch: WRITE_BATCH,
    onProgress: passProgress(recs, logger),
  });
}

/**
 * Offline attach on a home whose config says Driver = "postgres": the records go to the cluster
 * database, as a running daemon of that home would write them. The look-up and the write are two
 * statements: an attach of the same sectors by another machine in between is not detected (the last
 * write wins, as two attaches through two daemons would).
 */
async function writeToDb(
  cfg: SectorManagerConfig,
  recs: Record<IndexType, IndexRecord[]>,
  name: string,
  guard: MoveGuard,
  logger: Logger,
): Promise<InstanceMove[]> {
  const pg = openConfiguredPg(cfg, logger, commandNodeName("util storage attach"));
  try {
    await migrate(pg, { logger, node: commandNodeName("util storage attach") });
    return await writeGuarded(new PgIndexer(pg), recs, name, guard, logger);
  } finally {
    await pg.close();
  }
}

function badLine(b: BadSector): string {
  const who = b.miner !== undefined ? `sector ${b.miner}-${b.number}` : path.basename(b.file);
  return `  ${who} (${b.type}): ${b.reason}  [${b.file}]`;
}

export function registerStorage(util: Command): void {
  const storage = util.command("storage").description("persist stores and the sector index");

  storage
    .command("attach")
    .description(
      "index the sealed sectors found in a storage directory (sealed/, cache/, update/, update-cache/)",
    )
    .argument("<path>", "directory of the persist store")
    .option("--name <name>", "instance name to record (default: the absolute path)")
    .option(
      "--strict",
      "also prove one random challenge per sector from its data (and mark the store Strict)",
      false,
    )
    .option("--read-only", "mark the store ReadOnly in the printed config block", false)
    .option(
      "--force",
      "record the sectors under --name even when the index has them under another instance name (moves them)",
      false,
    )
    .option("-v, --verbose", "list every sector found", false)
    .option("--json", "print the result as JSON", false)
    .action(
      action(async (dirArg: string, opts: Record<string, unknown>, cmd: Command) => {
        const home = homeOf(cmd);
        const dir = path.resolve(dirArg);
        try {
          if (!(await fs.stat(dir)).isDirectory())
            throw new SmError("ATTACH_BAD_PATH", `${dir} is not a directory`);
        } catch (e) {
          if (e instanceof SmError) throw e;
          throw new SmError(
            "ATTACH_BAD_PATH",
            sysCode(e) === "ENOENT" ? `${dir} does not exist` : `cannot read ${dir}: ${(e as Error).message}`,
          );
        }
        const name = typeof opts.name === "string" && opts.name.trim() !== "" ? opts.name.trim() : dir;
        const strict = opts.strict === true;
        const readOnly = opts.readOnly === true;

        // Progress of the file checks of a large store (a stat of every file, a proof with --strict).
        const reporters = new Map<string, Progress>();
        const onChecked = (stage: "files" | "proofs", type: IndexType, done: number, total: number) => {
          if (total < SCAN_PROGRESS_FROM) return;
          let r = reporters.get(`${stage} ${type}`);
          if (!r) {
            const what =
              stage === "files"
                ? `checking ${type} sector files`
                : `proving one random challenge per ${type} sector`;
            r = labelledProgress(total, loggerOf(cmd), what);
            reporters.set(`${stage} ${type}`, r);
          }
          r.update(done, done === total);
        };
        let scan: ScanResult;
        if (strict) {
          // The strict check proves one random challenge per sector, in worker threads.
          const pool = createWorkerPool("check", { logger: loggerOf(cmd) });
          try {
            scan = await scanStoreDir(dir, { strict, probe: createStrictProbe(pool), onChecked });
          } finally {
            await pool.close();
          }
        } else scan = await scanStoreDir(dir, { strict, onChecked });
        const recs = groupRecords(scan, name);
        const client = await daemonClient(home);
        let configured: { Name: string; Path: string }[];
        const guard =
          (stores: { Name: string; Path: string }[]): MoveGuard =>
          (moves) => {
            if (moves.length > 0 && opts.force !== true) throw instanceMoveError(moves, name, dir, stores);
            return moves;
          };
        let moves: InstanceMove[] = [];
        let cfgDriver = "lmdb";
        if (client) {
          const listed = await client.call<unknown>("Venus.StoreList", []);
          configured = Array.isArray(listed)
            ? listed.filter(
                (s): s is StoreRow =>
                  typeof s === "object" &&
                  s !== null &&
                  typeof s.Name === "string" &&
                  typeof s.Path === "string",
              )
            : [];
          const info = await client.call<{ ReadOnly?: unknown } | null>("Venus.SectorIndexerInfo", []);
          // A read-only (proxy) daemon refuses the write with the message that says where to attach.
          moves = await recordAttached(recs, {
            name,
            guard: guard(configured),
            lookup: info?.ReadOnly !== true ? lookupOnline(client) : undefined,
            write: writeOnline(client),
            batch: WRITE_BATCH,
            onProgress: passProgress(recs, loggerOf(cmd)),
          });
        } else {
          const cfg = await localConfig(home);
          cfgDriver = cfg?.Common.DB.Driver ?? "lmdb";
          configured = (cfg?.Common.PersistStores ?? []).map((s) => ({ Name: s.Name, Path: s.Path }));
          moves = await writeOffline(home, cfg, recs, name, guard(configured), loggerOf(cmd));
        }
        const movedFrom: Record<string, number> = {};
        for (const m of moves) movedFrom[m.from] = (movedFrom[m.from] ?? 0) + 1;
        const sameName = configured.find((s) => s.Name === name);
        const block = snippet(name, dir, strict, readOnly);
        const configNote =
          sameName && sameName.Path === dir
            ? `store ${JSON.stringify(name)} is already in [[Common.PersistStores]]`
            : sameName
              ? `WARNING: a store named ${JSON.stringify(name)} is configured with path ${sameName.Path}, not ${dir}; the index now points sectors at that name — fix the config or re-attach with another --name`
              : "add this block to sector-manager.cfg (of every node that reads this index, or share it with --conf-dir), then restart the daemon:";

        if (opts.json === true) {
          process.stdout.write(
            `${JSON.stringify(
              {
                name,
                path: dir,
                via: client ? "daemon" : cfgDriver === "postgres" ? "offline-database" : "offline",
                attached: { normal: recs.normal.length, upgrade: recs.upgrade.length },
                moved: movedFrom,
                sectors: scan.good.map((s) => ({
                  type: s.type,
                  miner: s.miner,
                  number: s.number,
                  size: s.shape.name,
                  notes: s.notes,
                })),
                bad: scan.bad,
                configured: Boolean(sameName && sameName.Path === dir),
                snippet: block,
              },
              null,
              2,
            )}\n`,
          );
          return;
        }
        const out: string[] = [];
        out.push(
          `scanned ${dir} (${client ? "recorded through the running daemon" : cfgDriver === "postgres" ? "recorded offline in the cluster database" : "recorded offline in the home's store"})`,
        );
        out.push(
          `attached ${scan.good.length} sector(s) as instance ${JSON.stringify(name)}: ${recs.normal.length} normal, ${recs.upgrade.length} upgrade`,
        );
        for (const [from, n] of Object.entries(movedFrom))
          out.push(
            `moved ${n} sector(s) from instance ${JSON.stringify(from)} to ${JSON.stringify(name)} (--force)`,
          );
        if (opts.verbose === true) {
          for (const s of scan.good)
            out.push(
              `  sector ${s.miner}-${s.number} (${s.type}, ${s.shape.name})${s.notes.length ? `: ${s.notes.join("; ")}` : ""}`,
            );
        }
        if (scan.good.length === 0 && scan.bad.length === 0)
          out.push(`no sector files under ${dir}/sealed or ${dir}/update`);
        if (scan.bad.length > 0) {
          out.push(`${scan.bad.length} problem(s), not indexed:`);
          for (const b of scan.bad) out.push(badLine(b));
        }
        out.push("", configNote);
        if (!(sameName && sameName.Path === dir)) out.push("", block);
        process.stdout.write(`${out.join("\n")}\n`);
      }),
    );

  storage
    .command("list")
    .description("list the persist stores of the running daemon with their indexed sectors and free space")
    .option("--json", "print as JSON", false)
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        const client = await requireDaemon(homeOf(cmd));
        const [storesRaw, countsRaw, infoRaw] = await Promise.all([
          client.call<unknown>("Venus.StoreList", []),
          client.call<unknown>("Venus.SectorIndexerCounts", []),
          client.call<unknown>("Venus.SectorIndexerInfo", []),
        ]);
        const wrongShape = (method: string, what: string) =>
          new SmError("RPC_BAD_RESPONSE", `${client.peerName} answered ${method} with ${what}`);
        if (!Array.isArray(storesRaw) || !storesRaw.every(isStoreRow))
          throw wrongShape("Venus.StoreList", "something that is not a list of stores");
        const stores = storesRaw;
        const counts = indexCountsFromWire(countsRaw);
        if (typeof counts === "string")
          throw wrongShape("Venus.SectorIndexerCounts", `counts of the wrong shape (${counts})`);
        const i = infoRaw as { Description?: unknown; ReadOnly?: unknown } | null;
        if (!i || typeof i.Description !== "string" || typeof i.ReadOnly !== "boolean")
          throw wrongShape("Venus.SectorIndexerInfo", "no {Description, ReadOnly}");
        const info = { Description: i.Description, ReadOnly: i.ReadOnly };
        if (opts.json === true) {
          process.stdout.write(`${JSON.stringify({ indexer: info, stores, counts }, null, 2)}\n`);
          return;
        }
        const t = plainTable(["NAME", "PATH", "SECTORS", "UPGRADE", "FREE", "FLAGS", "STATUS"]);
        for (const s of stores) {
          const flags = [s.ReadOnly && "read-only", s.Strict && "strict"].filter(Boolean).join(",") || "-";
          t.push([
            s.Name,
            s.Path,
            String(counts.normal[s.Name] ?? 0),
            String(counts.upgrade[s.Name] ?? 0),
            human(s.Free),
            flags,
            s.Problem || "ok",
          ]);
        }
        const known = new Set(stores.map((s) => s.Name));
        const lines = [
          `sector index: ${info.Description}${info.ReadOnly ? " (read-only)" : ""}`,
          t.toString(),
        ];
        for (const type of ["normal", "upgrade"] as const) {
          for (const [name, n] of Object.entries(counts[type])) {
            if (!known.has(name))
              lines.push(
                `WARNING: ${n} ${type} sector(s) are indexed in instance ${JSON.stringify(name)}, which is not configured on this node`,
              );
          }
        }
        for (const type of ["normal", "upgrade"] as const) {
          const n = counts.damaged?.[type] ?? 0;
          if (n > 0)
            lines.push(
              `WARNING: ${n} ${type} sector index record(s) are damaged and cannot be read; \`vsm util sealer proving check\` names the sectors, and re-attaching the stores that hold them (\`vsm util storage attach --name NAME PATH\`) rewrites them`,
            );
        }
        if (stores.length === 0)
          lines.push(
            "no persist store configured; attach one with `vsm util storage attach --name NAME PATH`",
          );
        process.stdout.write(`${lines.join("\n")}\n`);
      }),
    );

  storage
    .command("find")
    .description("where a sector's files are, according to the running daemon's sector index")
    .argument("<miner>", "miner actor id (1000, f01000 or t01000)")
    .argument("<number>", "sector number")
    .option("--upgrade", "look in the upgrade (snap) index", false)
    .option("--json", "print as JSON", false)
    .action(
      action(async (minerArg: string, numArg: string, opts: Record<string, unknown>, cmd: Command) => {
        const miner = parseMinerArg(minerArg);
        const number = parseUintArg(numArg, "sector number");
        const type: IndexType = opts.upgrade === true ? "upgrade" : "normal";
        const client = await requireDaemon(homeOf(cmd));
        const [loc, stores] = await Promise.all([
          client.call<{ Found: boolean; Instance: { SealedFile: string; CacheDir: string } }>(
            "Venus.SectorIndexerFind",
            [type, { Miner: miner, Number: number }],
          ),
          client.call<StoreRow[]>("Venus.StoreList", []),
        ]);
        if (
          typeof loc?.Found !== "boolean" ||
          typeof loc.Instance?.SealedFile !== "string" ||
          typeof loc.Instance.CacheDir !== "string" ||
          !Array.isArray(stores)
        )
          throw new SmError(
            "RPC_BAD_RESPONSE",
            `${client.peerName} answered the sector lookup with a result of the wrong shape: ${JSON.stringify(loc)?.slice(0, 120)}`,
          );
        const pathOf = (name: string) => stores.find((s) => s.Name === name)?.Path;
        const sealedStore = pathOf(loc.Instance.SealedFile);
        const cacheStore = pathOf(loc.Instance.CacheDir);
        const sealedFile = sealedStore ? sealedFilePath(sealedStore, type, miner, number) : undefined;
        const cacheDir = cacheStore ? cacheDirPath(cacheStore, type, miner, number) : undefined;
        // A sector not indexed is a failed lookup: exit 1, also with --json (scripts test the code).
        if (!loc.Found) process.exitCode = 1;
        if (opts.json === true) {
          process.stdout.write(
            `${JSON.stringify({ miner, number, indexType: type, ...loc, Paths: { SealedFile: sealedFile ?? null, CacheDir: cacheDir ?? null } }, null, 2)}\n`,
          );
          return;
        }
        if (!loc.Found) {
          const other = type === "normal" ? "--upgrade looks in the upgrade index; " : "";
          process.stdout.write(
            `sector ${miner}-${number} is not in the ${type} index (${other}vsm util storage attach indexes a store's sectors)\n`,
          );
          return;
        }
        const unknown =
          "(instance not configured on this node: add it as a [[Common.PersistStores]] block, or start a proxy with --conf-dir=<source home>)";
        process.stdout.write(
          [
            `sector ${miner}-${number} (${type} index):`,
            `  sealed file: ${loc.Instance.SealedFile}  ${sealedFile ?? unknown}`,
            `  cache dir:   ${loc.Instance.CacheDir}  ${cacheDir ?? unknown}`,
          ].join("\n") + "\n",
        );
      }),
    );
}
