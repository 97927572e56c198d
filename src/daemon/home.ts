/**
 * The home directory of a node: config files (unless `--conf-dir`), the metadata store, the API
 * secret and admin token, and while a daemon runs, its lock and API address files.
 *
 *   <home>/sector-manager.cfg, ext-prover.cfg   config (daemon init writes commented defaults)
 *   <home>/db/                                  LMDB metadata store
 *   <home>/auth.secret                          JWT signing secret (0600)
 *   <home>/token                                admin API token (0600)
 *   <home>/daemon.lock                          held by the running daemon (or an offline attach)
 *   <home>/api                                  host:port the running daemon answers on
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { renderExtProverDefault, renderSectorManagerDefault } from "../config/render.js";
import { EXT_PROVER_CFG, SECTOR_MANAGER_CFG } from "../config/schema.js";
import { newSecret, signToken } from "../rpc/auth.js";
import { SmError, sysCode } from "../util/errors.js";
import { expandHome } from "../util/paths.js";

export const DEFAULT_HOME = "~/.venus-sector-manager";
export const HOME_ENV_VARS = ["VENUS_SECTOR_MANAGER_PATH", "VSM_PATH"] as const;

export function resolveHome(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = HOME_ENV_VARS.map((k) => env[k]).find((v) => v !== undefined && v !== "");
  return expandHome(flag ?? fromEnv ?? DEFAULT_HOME);
}

export function homePaths(home: string) {
  return {
    home,
    sectorManagerCfg: path.join(home, SECTOR_MANAGER_CFG),
    extProverCfg: path.join(home, EXT_PROVER_CFG),
    db: path.join(home, "db"),
    secret: path.join(home, "auth.secret"),
    token: path.join(home, "token"),
    lock: path.join(home, "daemon.lock"),
    api: path.join(home, "api"),
  };
}

async function readOptional(p: string): Promise<string | undefined> {
  try {
    return await fs.readFile(p, "utf8");
  } catch (e) {
    if (sysCode(e) === "ENOENT") return undefined;
    throw new SmError("HOME_UNREADABLE", `cannot read ${p}: ${(e as Error).message}`);
  }
}

/** Errors of link(2) on filesystems without hard links (some FUSE, CIFS/SMB, vfat mounts). */
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"]);

/**
 * Write `file` so that it is either absent (or as before) or complete, never cut short by a full disk
 * or a crash: the content goes to a temp file in the same directory, is fsynced, and then takes the
 * name. `replace: false` never overwrites (link: EEXIST if the name exists); `replace: true` renames.
 * On failure the temp file is removed and the error thrown.
 *
 * Where the filesystem has no hard links (link fails with EPERM, ENOTSUP or ENOSYS: some FUSE and
 * CIFS mounts), `replace: false` creates the name itself exclusively (open "wx": still EEXIST if it
 * exists, so a lock stays a lock), writes and fsyncs; a write that fails (disk full) removes the file
 * it created, so it is still absent or complete, except after a crash in the middle of that write.
 * `opts.link` is for tests, to stand in for such a filesystem.
 */
export async function writeFileAtomic(
  file: string,
  content: string,
  mode: number,
  opts: { replace: boolean; link?: (from: string, to: string) => Promise<void> },
): Promise<void> {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`,
  );
  try {
    const fh = await fs.open(tmp, "wx", mode);
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (opts.replace) await fs.rename(tmp, file);
    else {
      try {
        await (opts.link ?? fs.link)(tmp, file);
      } catch (e) {
        if (!NO_HARD_LINKS.has(sysCode(e) ?? "")) throw e;
        await writeExclusive(file, content, mode);
      }
    }
  } finally {
    await fs.rm(tmp, { force: true }).catch(() => {});
  }
  // The new name must survive a crash too.
  try {
    const dir = await fs.open(path.dirname(file), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // not every filesystem lets a directory be fsynced; the file itself is durable
  }
}

/** Create `file` (EEXIST if it exists), write and fsync it; on failure remove what was created. */
async function writeExclusive(file: string, content: string, mode: number): Promise<void> {
  const fh = await fs.open(file, "wx", mode);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await fs.rm(file, { force: true }).catch(() => {});
    throw e;
  }
  await fh.close();
}

export interface InitReport {
  created: string[];
  kept: string[];
}

/** `daemon init`: create the home and whatever of its files is missing; never overwrite. */
export async function initHome(home: string): Promise<InitReport> {
  const p = homePaths(home);
  try {
    await fs.mkdir(home, { recursive: true, mode: 0o700 });
  } catch (e) {
    const code = sysCode(e);
    if (code === "EEXIST" || code === "ENOTDIR")
      throw new SmError(
        "HOME_UNWRITABLE",
        `home ${home} (or a parent) exists and is not a directory; --home must be a directory`,
      );
    throw new SmError("HOME_UNWRITABLE", `cannot create home directory ${home}: ${(e as Error).message}`);
  }
  const report: InitReport = { created: [], kept: [] };
  const writeNew = (file: string, content: string, mode: number) =>
    writeIfMissing(file, content, mode, report);
  await writeNew(p.sectorManagerCfg, renderSectorManagerDefault(), 0o644);
  await writeNew(p.extProverCfg, renderExtProverDefault(), 0o644);
  await ensureAuth(home, writeNew, report);
  return report;
}

/**
 * The API secret and admin token of a home (a node's or a devnet's): created when missing; a new secret
 * invalidates any old token, so the token is rewritten with it.
 */
export async function ensureAuth(
  home: string,
  writeNew?: (file: string, content: string, mode: number) => Promise<boolean>,
  report: InitReport = { created: [], kept: [] },
): Promise<InitReport> {
  const p = homePaths(home);
  const write =
    writeNew ??
    ((file: string, content: string, mode: number) => writeIfMissing(file, content, mode, report));
  const secretCreated = await write(p.secret, `${newSecret().toString("hex")}\n`, 0o600);
  const secret = await readSecret(home);
  if (secretCreated) {
    try {
      await writeFileAtomic(p.token, `${signToken(secret, "admin")}\n`, 0o600, { replace: true });
    } catch (e) {
      throw new SmError("HOME_UNWRITABLE", `cannot write ${p.token}: ${(e as Error).message}`);
    }
    report.created.push(p.token);
  } else {
    await write(p.token, `${signToken(secret, "admin")}\n`, 0o600);
  }
  return report;
}

/**
 * Create `file` unless it exists (never overwrite); note which in `report`. An existing empty file holds
 * nothing to keep (it is what an older version's write on a full disk left): it is replaced.
 */
async function writeIfMissing(
  file: string,
  content: string,
  mode: number,
  report: InitReport,
): Promise<boolean> {
  try {
    await writeFileAtomic(file, content, mode, { replace: false });
    report.created.push(file);
    return true;
  } catch (e) {
    if (sysCode(e) !== "EEXIST")
      throw new SmError("HOME_UNWRITABLE", `cannot write ${file}: ${(e as Error).message}`);
  }
  const st = await fs.stat(file).catch(() => undefined);
  if (st?.isFile() && st.size === 0) {
    try {
      await writeFileAtomic(file, content, mode, { replace: true });
    } catch (e) {
      throw new SmError("HOME_UNWRITABLE", `cannot write ${file}: ${(e as Error).message}`);
    }
    report.created.push(file);
    return true;
  }
  report.kept.push(file);
  return false;
}

export async function readSecret(home: string): Promise<Buffer> {
  const p = homePaths(home).secret;
  const raw = await readOptional(p);
  if (raw === undefined) {
    throw new SmError("HOME_NOT_INITIALIZED", `${p} does not exist; run \`vsm --home ${home} daemon init\``);
  }
  const hex = raw.trim();
  if (!/^[0-9a-f]{64}$/i.test(hex))
    throw new SmError(
      "HOME_CORRUPT",
      `${p} is not a 64-hex-digit secret; delete it and ${homePaths(home).token}, then run daemon init`,
    );
  return Buffer.from(hex, "hex");
}

export async function readToken(home: string): Promise<string | undefined> {
  return (await readOptional(homePaths(home).token))?.trim() || undefined;
}

/** The address a local client should use for a listen address (wildcards become loopback). */
export function dialableHost(host: string): string {
  if (host === "" || host === "0.0.0.0") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "::1";
  return host;
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export async function writeApiFile(home: string, host: string, port: number): Promise<string> {
  const addr = formatHostPort(dialableHost(host), port);
  await writeFileAtomic(homePaths(home).api, `${addr}\n`, 0o644, { replace: true });
  return addr;
}

export async function readApiFile(home: string): Promise<string | undefined> {
  return (await readOptional(homePaths(home).api))?.trim() || undefined;
}

export async function removeApiFile(home: string, expected: string): Promise<void> {
  if ((await readApiFile(home)) === expected) await fs.rm(homePaths(home).api, { force: true });
}

// --- lock ---

interface LockInfo {
  pid: number;
  purpose: string;
  startedAt: string;
  host: string;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return sysCode(e) === "EPERM";
  }
  return true;
}

/** On Linux, a pid reused by an unrelated program does not count as the lock holder. */
async function looksLikeUs(pid: number): Promise<boolean> {
  try {
    const cmd = await fs.readFile(`/proc/${pid}/cmdline`, "utf8");
    return /node|vsm|venus-sector-manager|tsx/.test(cmd);
  } catch {
    return true;
  }
}

export interface HomeLock {
  info: LockInfo;
  release(): Promise<void>;
}

export async function readLock(home: string): Promise<LockInfo | undefined> {
  const raw = await readOptional(homePaths(home).lock);
  if (raw === undefined) return undefined;
  try {
    const v = JSON.parse(raw) as LockInfo;
    return typeof v.pid === "number" ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The live holder of the home's lock, if any. */
export async function lockHolder(home: string): Promise<LockInfo | undefined> {
  const info = await readLock(home);
  if (!info) return undefined;
  if (info.host !== os.hostname()) return info;
  if (info.pid === process.pid) return info;
  return pidAlive(info.pid) && (await looksLikeUs(info.pid)) ? info : undefined;
}

/**
 * Take the home for this process. A second `daemon run` (or an offline attach while a daemon runs) on
 * the same home is refused with who holds it; a lock left by a crashed process is taken over.
 */
export async function acquireHomeLock(home: string, purpose: string): Promise<HomeLock> {
  const file = homePaths(home).lock;
  const info: LockInfo = {
    pid: process.pid,
    purpose,
    startedAt: new Date().toISOString(),
    host: os.hostname(),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFileAtomic(file, JSON.stringify(info), 0o644, { replace: false });
      let released = false;
      return {
        info,
        async release() {
          if (released) return;
          released = true;
          const cur = await readLock(home);
          if (cur?.pid === process.pid) await fs.rm(file, { force: true });
        },
      };
    } catch (e) {
      if (sysCode(e) !== "EEXIST")
        throw new SmError("HOME_UNWRITABLE", `cannot create ${file}: ${(e as Error).message}`);
    }
    const seen = await readLock(home);
    const holder = await lockHolder(home);
    if (holder) {
      throw new SmError(
        "HOME_LOCKED",
        `home ${home} is in use by another process (pid ${holder.pid}, ${holder.purpose}, since ${holder.startedAt}${holder.host !== os.hostname() ? ` on host ${holder.host}` : ""}); stop it first or use a different --home`,
        { pid: holder.pid },
      );
    }
    // Stale (its process is gone): remove it only if it is still that same record, so a lock another
    // process has just taken in the meantime is not deleted.
    const now = await readLock(home);
    if (now === undefined || (seen && now.pid === seen.pid && now.startedAt === seen.startedAt)) {
      await fs.rm(file, { force: true });
    }
  }
  throw new SmError("HOME_LOCKED", `could not take the lock ${file}; remove it if no daemon is running`);
}
