/**
 * Loading the config files of a home (or of `--conf-dir`).
 *
 * TOML (smol-toml) → key/line map → schema validation → file-specific rules (store names, miners) →
 * typed config. Any error is fatal and reported with file, line and key; warnings are returned for the
 * caller to log.
 */
import fsSync from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { parse, TomlError } from "smol-toml";
import { SmError, sysCode } from "../util/errors.js";
import { expandHome } from "../util/paths.js";
import { parsePostgresDsn } from "./dsn.js";
import { scanLines } from "./lines.js";
import {
  EXT_PROVER_CFG,
  extProverSchema,
  SECTOR_MANAGER_CFG,
  sectorManagerSchema,
  type TableSpec,
} from "./schema.js";
import type { ExtProverBlock, ExtProverConfig, PersistStoreConfig, SectorManagerConfig } from "./types.js";
import { lineOf, type Problem, type ValidationContext, validateTable } from "./validate.js";

export class ConfigError extends SmError {
  override name = "ConfigError";
  readonly problems: string[];
  constructor(message: string, problems: string[]) {
    super("CONFIG_INVALID", message, { problems });
    this.problems = problems;
  }
}

export interface Loaded<T> {
  config: T;
  /** One line each, `file:line: key: message`. */
  warnings: string[];
}

function fmt(file: string, p: Problem): string {
  return `${file}${p.line !== undefined ? `:${p.line}` : ""}: ${p.key}: ${p.message}`;
}

/** `Common . API` / `Common."API"` → `Common.API`, for comparing two headers. */
function headerKey(raw: string): string {
  return raw
    .split(".")
    .map((p) => p.trim().replace(/^"(.*)"$|^'(.*)'$/, "$1$2"))
    .join(".");
}

/**
 * smol-toml says only "trying to redefine an already defined table or value", at the second
 * definition. This is the commonest edit of the file `daemon init` writes (its tables have live
 * headers, and an operator pastes a second `[Common.API]` block under the first), so name the table
 * and where it was first defined, and say what to do instead.
 */
function redefinitionMessage(file: string, src: string, line: number, first: string): string | undefined {
  if (!/redefine an already defined table or value/.test(first)) return undefined;
  const lines = src.split("\n");
  const text = (lines[line - 1] ?? "").trim();
  const header = /^\[\s*([^[\]]+?)\s*\](?:\s*#.*)?$/.exec(text);
  if (header) {
    const name = headerKey(header[1] ?? "");
    // Back to the first definition, within the same [[...]] block when the table is inside one.
    let at = -1;
    for (let i = line - 2; i >= 0; i--) {
      const l = (lines[i] ?? "").trim();
      const block = /^\[\[\s*([^[\]]+?)\s*\]\]/.exec(l);
      if (block) {
        if (name.startsWith(`${headerKey(block[1] ?? "")}.`)) break;
        continue;
      }
      const m = /^\[\s*([^[\]]+?)\s*\]/.exec(l);
      if (m && headerKey(m[1] ?? "") === name) at = i;
    }
    const where =
      at >= 0
        ? `it was first defined at line ${at + 1}`
        : `it is already defined above (as a [[${name}]] block, or by a dotted key such as ${name.split(".").at(-1)}.Key = ...)`;
    return `${file}:${line}: table [${name}] is defined a second time; ${where}. A table may appear only once: edit the [${name}] table${at >= 0 ? ` at line ${at + 1}` : ""} (uncomment or add the keys there) instead of adding a second one, and remove this header`;
  }
  const key = /^([A-Za-z0-9_.\-"' ]+?)\s*=/.exec(text)?.[1]?.trim();
  if (key !== undefined) {
    // The table the key is in, and the earlier line that set the same key in it.
    let table = "";
    let at = -1;
    for (let i = 0; i < line - 1; i++) {
      const l = (lines[i] ?? "").trim();
      const h = /^\[\[?\s*([^[\]]+?)\s*\]\]?/.exec(l);
      if (h) {
        table = headerKey(h[1] ?? "");
        at = -1;
        continue;
      }
      const k = /^([A-Za-z0-9_.\-"' ]+?)\s*=/.exec(l)?.[1]?.trim();
      if (k !== undefined && headerKey(k) === headerKey(key)) at = i;
    }
    const where = at >= 0 ? ` (first set at line ${at + 1})` : "";
    return `${file}:${line}: ${headerKey(key)} is set a second time in ${table ? `[${table}]` : "the top level"}${where}; a key may appear only once in a table: keep one of them`;
  }
  return undefined;
}

function parseDocument(file: string, src: string, schema: TableSpec) {
  let doc: Record<string, unknown>;
  try {
    doc = parse(src) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split("\n")[0] ?? e.message;
      const msg =
        redefinitionMessage(file, src, e.line, first) ??
        `${file}:${e.line}:${e.column}: TOML syntax error: ${first.replace(/^Invalid TOML document: /, "")}`;
      throw new ConfigError(msg, [msg]);
    }
    throw e;
  }
  const ctx: ValidationContext = { lines: scanLines(src), errors: [], warnings: [] };
  const value = validateTable(schema, doc, [], ctx);
  return { value, ctx };
}

function finish<T>(file: string, ctx: ValidationContext, config: T): Loaded<T> {
  if (ctx.errors.length > 0) {
    // In file order, so the operator can fix them top to bottom.
    const sorted = [...ctx.errors].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    const problems = sorted.map((p) => fmt(file, p));
    const head =
      problems.length === 1
        ? problems[0]
        : `${file}: ${problems.length} problems:\n  ${problems.join("\n  ")}`;
    throw new ConfigError(head ?? file, problems);
  }
  const warnings = [...ctx.warnings].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return { config, warnings: warnings.map((p) => fmt(file, p)) };
}

/** Parse and validate sector-manager.cfg text. `baseDir` resolves relative store paths. */
export function parseSectorManagerConfig(
  file: string,
  src: string,
  baseDir: string,
): Loaded<SectorManagerConfig> {
  const { value, ctx } = parseDocument(file, src, sectorManagerSchema);
  const cfg = value as unknown as SectorManagerConfig & {
    Common: { PersistStores: (PersistStoreConfig & { Name?: string; Path?: string })[] };
    Miners: { PoSt: { Sender?: string; MaxFeeCap?: bigint } }[];
  };
  const err = (p: (string | number)[], message: string) =>
    ctx.errors.push({
      key: p
        .map((s) => (typeof s === "number" ? `[${s}]` : s))
        .join(".")
        .replace(/\.\[/g, "["),
      line: lineOf(ctx.lines, p),
      message,
    });

  // Persist stores: Path required, `~` and relative paths resolved, Name defaults to the path, names unique.
  const names = new Map<string, number>();
  cfg.Common.PersistStores.forEach((s, i) => {
    const p = ["Common", "PersistStores", i];
    if (!s.Path || s.Path.trim() === "") {
      err([...p, "Path"], "is required: the directory that holds sealed/ and cache/");
      return;
    }
    s.Path = s.Path.trim().startsWith("~") ? expandHome(s.Path) : path.resolve(baseDir, s.Path);
    if (s.Name === undefined || s.Name.trim() === "") s.Name = s.Path;
    const prev = names.get(s.Name);
    if (prev !== undefined)
      err(
        [...p, "Name"],
        `store name ${JSON.stringify(s.Name)} is already used by PersistStores[${prev}]; names must be unique`,
      );
    else names.set(s.Name, i);
  });

  const actors = new Map<number, number>();
  cfg.Miners.forEach((m, i) => {
    if (m.Actor !== undefined && m.Actor !== null) {
      const prev = actors.get(m.Actor);
      if (prev !== undefined)
        err(["Miners", i, "Actor"], `miner ${m.Actor} is already configured in Miners[${prev}]`);
      else actors.set(m.Actor, i);
    }
    // damocles: the deprecated Sender joins Senders; MaxFeeCap stands in for an empty GasFeeCap.
    const post = m.PoSt as unknown as {
      Sender?: string;
      Senders: string[];
      GasFeeCap: bigint;
      MaxFeeCap?: bigint;
    };
    if (post.Sender && !post.Senders.includes(post.Sender)) post.Senders.push(post.Sender);
    delete post.Sender;
    if (post.GasFeeCap === 0n && post.MaxFeeCap) post.GasFeeCap = post.MaxFeeCap;
    delete post.MaxFeeCap;
    const over = (m.PoSt as unknown as { GasOverEstimation: number }).GasOverEstimation;
    if (over > 0 && over < 1)
      err(
        ["Miners", i, "PoSt", "GasOverEstimation"],
        `${over} would give the message less gas than it uses, and it would fail out of gas; write 0 for the node's own setting, or 1 to 10 (damocles' default is 1.2)`,
      );
  });

  const db = cfg.Common.DB as { Driver: string; LMDB: { BaseDir: string } };
  if (db.Driver === "badger") db.Driver = "lmdb";
  checkPostgres(cfg, ctx, err);
  if (db.LMDB.BaseDir.trim() !== "") {
    // Relative to the config directory, like store paths.
    const raw = db.LMDB.BaseDir.trim();
    db.LMDB.BaseDir = raw.startsWith("~") ? expandHome(raw) : path.resolve(baseDir, raw);
    const why = notADirectory(db.LMDB.BaseDir);
    if (why)
      err(
        ["Common", "DB", "LMDB", "BaseDir"],
        `must be a directory (created when missing), but ${why}; point it at a directory, or leave it empty for <home>/db`,
      );
  } else db.LMDB.BaseDir = "";
  for (const [i, s] of cfg.Common.PersistStores.entries()) {
    const why = s.Path ? notADirectory(s.Path) : undefined;
    if (why)
      ctx.warnings.push({
        key: `Common.PersistStores[${i}].Path`,
        line: lineOf(ctx.lines, ["Common", "PersistStores", i, "Path"]),
        message: `must be a directory, but ${why}; this store's sectors are reported missing until it is`,
      });
  }
  return finish(file, ctx, cfg as SectorManagerConfig);
}

/**
 * `[Common.DB.Postgres]`: the DSN parses (when given), is given when Driver = "postgres", and the lease
 * and heartbeat settings leave room for lost renewals. Each rule names the keys to change.
 */
function checkPostgres(
  cfg: SectorManagerConfig,
  ctx: ValidationContext,
  err: (p: (string | number)[], message: string) => void,
): void {
  const pg = cfg.Common.DB.Postgres;
  const at = (k: string) => ["Common", "DB", "Postgres", k];
  const dsn = pg.DSN?.trim() ?? "";
  if (dsn !== "") {
    const parsed = parsePostgresDsn(dsn);
    if (typeof parsed === "string") err(at("DSN"), parsed);
    else pg.DSN = dsn;
  } else pg.DSN = undefined;
  if (cfg.Common.DB.Driver === "postgres" && dsn === "")
    err(
      ["Common", "DB", "Driver"],
      'is "postgres" but [Common.DB.Postgres] DSN is not set; set DSN = "postgres://user@host:port/database", or Driver = "lmdb" for the embedded store',
    );
  if (cfg.Common.DB.Driver !== "postgres" && dsn !== "")
    ctx.warnings.push({
      key: "Common.DB.Postgres.DSN",
      line: lineOf(ctx.lines, at("DSN")),
      message: `is not used: [Common.DB] Driver is "${cfg.Common.DB.Driver}"; set Driver = "postgres" to use the database`,
    });
  if (pg.LeaseRenewIntervalMs * 2 > pg.LeaseTimeoutMs)
    err(
      at("LeaseRenewInterval"),
      `must be at most half of LeaseTimeout (${pg.LeaseTimeoutMs} ms), so that one lost renewal does not cost a node its tasks; lower LeaseRenewInterval or raise LeaseTimeout`,
    );
  if (pg.HeartbeatIntervalMs * 2 > pg.NodeDeadAfterMs)
    err(
      at("NodeDeadAfter"),
      `must be at least twice HeartbeatInterval (${pg.HeartbeatIntervalMs} ms), so that one late heartbeat does not show a live node dead; raise NodeDeadAfter or lower HeartbeatInterval`,
    );
}

/**
 * Why `p` cannot be (or become) a directory: it, or its nearest existing ancestor, is something else.
 * undefined when it is a directory or could be created as one.
 */
function notADirectory(p: string): string | undefined {
  let cur = p;
  for (;;) {
    let st: fsSync.Stats;
    try {
      st = fsSync.statSync(cur);
    } catch (e) {
      const code = sysCode(e);
      if (code === "ENOENT") {
        const up = path.dirname(cur);
        if (up === cur) return undefined;
        cur = up;
        continue;
      }
      if (code === "ENOTDIR") return `a parent of ${p} is not a directory`;
      return undefined; // unreadable here (EACCES...): the open reports it with its own cause
    }
    if (st.isDirectory()) return undefined;
    const what = st.isFile() ? "a regular file" : st.isCharacterDevice() ? "a device" : "not a directory";
    return cur === p ? `${p} is ${what}` : `its parent ${cur} is ${what}`;
  }
}

function notAnExecutable(p: string): string | undefined {
  let st: fsSync.Stats;
  try {
    st = fsSync.statSync(p);
  } catch {
    // Missing here may be fine (a file shared with --conf-dir, a mount not there yet); spawn says so.
    return undefined;
  }
  if (st.isDirectory()) return `${p} is a directory`;
  if (!st.isFile()) return `${p} is not a regular file`;
  if ((st.mode & 0o111) === 0) return `${p} is not executable (chmod +x ${p})`;
  return undefined;
}

export function parseExtProverConfig(file: string, src: string): Loaded<ExtProverConfig> {
  const { value, ctx } = parseDocument(file, src, extProverSchema);
  const cfg = value as unknown as ExtProverConfig;
  for (const stage of ["WdPost", "WinPost"] as const) {
    cfg[stage].forEach((b: ExtProverBlock, i) => {
      b.line = ctx.lines.get(`${stage.toLowerCase()}[${i}]`);
      if (b.Bin !== undefined && b.Bin.trim() === "") b.Bin = undefined;
      // A path (not a name looked up in PATH) that can never be run. A warning: this file is read even
      // by a node started without --ext-prover; with it, the child then fails to start and says so.
      const why = b.Bin?.includes("/") ? notAnExecutable(b.Bin) : undefined;
      if (why)
        ctx.warnings.push({
          key: `${stage}[${i}].Bin`,
          line: lineOf(ctx.lines, [stage, i, "Bin"]),
          message: `must be an executable file, but ${why}`,
        });
    });
  }
  return finish(file, ctx, cfg);
}

/** The file's text; undefined when it does not exist. */
async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, "utf8");
  } catch (e) {
    if (sysCode(e) === "ENOENT") return undefined;
    if (sysCode(e) === "EISDIR")
      throw new SmError("CONFIG_UNREADABLE", `${file} is a directory; it must be a config file`);
    throw new SmError("CONFIG_UNREADABLE", `cannot read ${file}: ${(e as Error).message}`);
  }
}

export interface ConfigDirContents {
  dir: string;
  sectorManager: Loaded<SectorManagerConfig>;
  /**
   * undefined when ext-prover.cfg does not exist. An empty file is a file with no blocks, as damocles
   * reads it (`emptyExtProver` says so, for a caller that needs blocks to warn).
   */
  extProver: Loaded<ExtProverConfig> | undefined;
  /** ext-prover.cfg exists but holds nothing (0 bytes or only whitespace). */
  emptyExtProver: boolean;
  /** Other *.cfg files found in the directory, which this program does not read. */
  unknownFiles: string[];
}

/**
 * Read every config file of `dir` (the home, or `--conf-dir` when `opts.confDir` says so: then a
 * missing directory is a typo to check, not a home to initialise). sector-manager.cfg must exist and
 * hold something; ext-prover.cfg is optional here (the ext-prover pool decides whether it needs it).
 */
export async function loadConfigDir(
  dir: string,
  opts: { confDir?: boolean } = {},
): Promise<ConfigDirContents> {
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch (e) {
    const code = sysCode(e);
    if (code === "ENOENT") {
      throw new SmError(
        "CONFIG_DIR_MISSING",
        opts.confDir
          ? `--conf-dir ${JSON.stringify(dir)} does not exist; check the path for a typo (it names the directory that holds sector-manager.cfg, e.g. the source node's home)`
          : `config directory ${dir} does not exist; run \`vsm --home ${dir} daemon init\` or fix --conf-dir`,
        { dir },
      );
    }
    if (code === "ENOTDIR")
      throw new SmError(
        "CONFIG_DIR_MISSING",
        `${opts.confDir ? `--conf-dir ${JSON.stringify(dir)}` : `config directory ${dir}`} is not a directory; ${opts.confDir ? "check the path for a typo" : "fix --home"}`,
        { dir },
      );
    throw new SmError("CONFIG_UNREADABLE", `cannot read config directory ${dir}: ${(e as Error).message}`);
  }
  const smFile = path.join(dir, SECTOR_MANAGER_CFG);
  const smSrc = await readIfExists(smFile);
  if (smSrc === undefined) {
    throw new SmError(
      "CONFIG_MISSING",
      opts.confDir
        ? `${smFile} does not exist; check --conf-dir ${JSON.stringify(dir)} for a typo: it must name a directory that holds sector-manager.cfg`
        : `${smFile} does not exist; run \`vsm --home ${dir} daemon init\` to create it (or point --conf-dir at a directory that has it)`,
    );
  }
  // A sector-manager.cfg always has something in it (daemon init writes commented defaults); an empty
  // one is what a write on a full disk leaves behind, and running on it would silently drop every
  // setting. An empty ext-prover.cfg is a valid file with no blocks (damocles reads it so).
  if (smSrc.trim() === "") {
    throw new SmError(
      "CONFIG_EMPTY",
      `${smFile} is empty (${Buffer.byteLength(smSrc)} bytes), probably from a write that failed (disk full?); restore it from a backup, or delete it and run \`vsm daemon init\` to write the commented defaults`,
      { file: smFile },
    );
  }
  const sectorManager = parseSectorManagerConfig(smFile, smSrc, dir);
  const epFile = path.join(dir, EXT_PROVER_CFG);
  const epSrc = await readIfExists(epFile);
  const extProver = epSrc === undefined ? undefined : parseExtProverConfig(epFile, epSrc);
  const emptyExtProver = epSrc !== undefined && epSrc.trim() === "";
  const unknownFiles = entries
    .filter((e) => e.endsWith(".cfg") && e !== SECTOR_MANAGER_CFG && e !== EXT_PROVER_CFG)
    .sort();
  return { dir, sectorManager, extProver, emptyExtProver, unknownFiles };
}

/** Defaults, as an untouched `daemon init` file loads. */
export function defaultSectorManagerConfig(): SectorManagerConfig {
  return parseSectorManagerConfig("<defaults>", "", process.cwd()).config;
}
