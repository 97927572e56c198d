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

function parseDocument(file: string, src: string, schema: TableSpec) {
  let doc: Record<string, unknown>;
  try {
    doc = parse(src) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split("\n")[0] ?? e.message;
      const msg = `${file}:${e.line}:${e.column}: TOML syntax error: ${first.replace(/^Invalid TOML document: /, "")}`;
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

async function readIfExists(file: string): Promise<string | undefined> {
  let src: string;
  try {
    src = await fs.readFile(file, "utf8");
  } catch (e) {
    if (sysCode(e) === "ENOENT") return undefined;
    if (sysCode(e) === "EISDIR")
      throw new SmError("CONFIG_UNREADABLE", `${file} is a directory; it must be a config file`);
    throw new SmError("CONFIG_UNREADABLE", `cannot read ${file}: ${(e as Error).message}`);
  }
  // A config file always has something in it (daemon init writes commented defaults); an empty one is
  // what a write on a full disk leaves behind, and running on it would silently drop every setting.
  if (src.trim() === "") {
    throw new SmError(
      "CONFIG_EMPTY",
      `${file} is empty (${Buffer.byteLength(src)} bytes), probably from a write that failed (disk full?); restore it from a backup, or delete it and run \`vsm daemon init\` to write the commented defaults`,
      { file },
    );
  }
  return src;
}

export interface ConfigDirContents {
  dir: string;
  sectorManager: Loaded<SectorManagerConfig>;
  /** undefined when ext-prover.cfg does not exist. */
  extProver: Loaded<ExtProverConfig> | undefined;
  /** Other *.cfg files found in the directory, which this program does not read. */
  unknownFiles: string[];
}

/**
 * Read every config file of `dir` (the home, or `--conf-dir`). sector-manager.cfg must exist;
 * ext-prover.cfg is optional here (the ext-prover pool decides whether it needs it).
 */
export async function loadConfigDir(dir: string): Promise<ConfigDirContents> {
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch (e) {
    const code = sysCode(e);
    if (code === "ENOENT") {
      throw new SmError(
        "CONFIG_DIR_MISSING",
        `config directory ${dir} does not exist; run \`vsm --home ${dir} daemon init\` or fix --conf-dir`,
      );
    }
    if (code === "ENOTDIR")
      throw new SmError("CONFIG_DIR_MISSING", `config directory ${dir} is not a directory; fix --conf-dir`);
    throw new SmError("CONFIG_UNREADABLE", `cannot read config directory ${dir}: ${(e as Error).message}`);
  }
  const smFile = path.join(dir, SECTOR_MANAGER_CFG);
  const smSrc = await readIfExists(smFile);
  if (smSrc === undefined) {
    throw new SmError(
      "CONFIG_MISSING",
      `${smFile} does not exist; run \`vsm --home ${dir} daemon init\` to create it (or point --conf-dir at a directory that has it)`,
    );
  }
  const sectorManager = parseSectorManagerConfig(smFile, smSrc, dir);
  const epFile = path.join(dir, EXT_PROVER_CFG);
  const epSrc = await readIfExists(epFile);
  const extProver = epSrc === undefined ? undefined : parseExtProverConfig(epFile, epSrc);
  const unknownFiles = entries
    .filter((e) => e.endsWith(".cfg") && e !== SECTOR_MANAGER_CFG && e !== EXT_PROVER_CFG)
    .sort();
  return { dir, sectorManager, extProver, unknownFiles };
}

/** Defaults, as an untouched `daemon init` file loads. */
export function defaultSectorManagerConfig(): SectorManagerConfig {
  return parseSectorManagerConfig("<defaults>", "", process.cwd()).config;
}
