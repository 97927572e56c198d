/**
 * A throwaway PostgreSQL server for tests: Debian's binaries (`apt-get install -y postgresql`),
 * `initdb` into a temp directory, listening on a free loopback port and on a unix socket inside that
 * directory, trust authentication on loopback only (`listen`/`trust` add other addresses, e.g. the host
 * end of a test network namespace, test/helpers/netns.ts). Never a mock: the cluster's correctness rests on
 * the server's locking and isolation, which an imitation would not reproduce.
 *
 * PostgreSQL refuses to run as root, so when the test process is root every server command runs as
 * the `postgres` user (runuser); otherwise it runs directly. `startPg({standbyOf})` makes a streaming
 * standby of a running primary (pg_basebackup -R), which `promote()` turns into a primary, for the
 * failover tests.
 *
 * Every server started here is stopped by `stop()`; a test that forgets (or crashes before its
 * `after`) still leaves nothing running, because an exit hook stops them all immediately. Every
 * command has a time bound, so a stuck server fails the test instead of hanging it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freeLoopbackPort, killAndWait, postmasterPids } from "../../src/store/pg/localServer.js";

const BIN_ROOT = "/usr/lib/postgresql";
const COMMAND_TIMEOUT_MS = 30_000;

export interface PgServer {
  readonly port: number;
  /** The temp directory that holds the data directory, the socket and the log. */
  readonly dir: string;
  /** `postgres://postgres@HOST:port/db`; HOST is 127.0.0.1 unless given (one of `listen`). */
  dsn(db: string, host?: string): string;
  /** Creates a database (on a primary) and returns its DSN. */
  createDatabase(name: string): Promise<string>;
  /** Runs one SQL statement through psql as the superuser; returns its unaligned output. */
  psql(db: string, sql: string): string;
  /** Stops the server: "fast" rolls back and disconnects cleanly, "immediate" is a crash (no checkpoint). */
  stop(opts?: { mode?: "fast" | "immediate" }): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  /** Turns a standby into a primary and waits until it accepts writes. */
  promote(): Promise<void>;
  /**
   * SIGSTOPs (true) or SIGCONTs (false) the server and all its backends: connections stay open but
   * nothing answers, as with a frozen host or a silent network.
   */
  freeze(frozen: boolean): void;
  /** Stops the server if it runs and removes its directory. */
  destroy(): Promise<void>;
}

let binDirCache: string | undefined;

/** The bin directory of the highest installed PostgreSQL major. */
export function pgBinDir(): string {
  if (binDirCache !== undefined) return binDirCache;
  let versions: number[] = [];
  try {
    versions = fs
      .readdirSync(BIN_ROOT)
      .map(Number)
      .filter((v) => Number.isInteger(v) && fs.existsSync(path.join(BIN_ROOT, String(v), "bin", "initdb")));
  } catch {
    // no /usr/lib/postgresql at all: reported below
  }
  if (versions.length === 0) {
    throw new Error(
      `no PostgreSQL server binaries under ${BIN_ROOT}/*/bin: install them with \`apt-get install -y postgresql\``,
    );
  }
  binDirCache = path.join(BIN_ROOT, String(Math.max(...versions)), "bin");
  return binDirCache;
}

const asRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** Runs a server binary, as `postgres` when we are root; throws with its output when it fails. */
function run(bin: string, args: string[], timeoutMs = COMMAND_TIMEOUT_MS): string {
  const file = path.join(pgBinDir(), bin);
  const [cmd, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", file, ...args]] : [file, args];
  const r = spawnSync(cmd, argv, { encoding: "utf8", timeout: timeoutMs, cwd: os.tmpdir() });
  if (r.error !== undefined || r.status !== 0) {
    const why = r.error !== undefined ? r.error.message : `exit ${r.status ?? r.signal}`;
    throw new Error(`${bin} ${args.join(" ")} failed (${why}): ${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

/** Data directories of the servers that may run, for the exit hook. */
const running = new Set<string>();
let hookInstalled = false;

function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  // Last resort for a test that crashed before its `after`: an immediate stop is synchronous and
  // bounded, so it fits an exit handler.
  process.on("exit", stopAllNow);
  // A test run interrupted by a signal runs no `after` and no exit handler by default: stop the
  // servers, then die of the same signal's usual exit code.
  for (const [sig, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    // `on`, not `once`: a second signal during the cleanup must not kill the process half way.
    process.on(sig, () => {
      stopAllNow();
      process.exit(code);
    });
  }
}

/** Stops every server of this process at once; synchronous and bounded, for exit paths. */
function stopAllNow(): void {
  for (const data of running) {
    try {
      if (frozenPids.has(data)) for (const pid of postmasterPids(data)) process.kill(pid, "SIGCONT");
      run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "-t", "10", "stop"], 15_000);
    } catch {
      // already stopped, or pg_ctl could not stop it: killed below
    }
    try {
      killLeftover(data);
      fs.rmSync(path.dirname(data), { recursive: true, force: true });
    } catch {
      // nothing more can be done while exiting
    }
  }
  running.clear();
}

/** Data directories of servers left frozen, thawed before any stop. */
const frozenPids = new Set<string>();

/**
 * Kills what is left of the server of `data` when pg_ctl could not start or stop it in time: its
 * directory is about to be removed, after which neither pg_ctl nor the exit hook could reach it.
 * The pid comes from postmaster.pid and is trusted only if that process runs with this data
 * directory (a stale file may name a pid reused since).
 */
function killLeftover(data: string): void {
  killAndWait(postmasterPids(data), 1000);
}

/** Whether the server log written since `from` (a byte offset) says the port was taken. */
function bindFailed(logFile: string, from: number): boolean {
  try {
    return fs.readFileSync(logFile, "utf8").slice(from).includes("could not bind");
  } catch {
    return false;
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** Makes a directory the postgres user owns (initdb and the server write into it). */
function ownedDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (asRoot) execFileSync("chown", ["-R", "postgres:postgres", dir]);
}

export interface StartPgOptions {
  /** Streams from this primary as a standby (pg_basebackup -R). */
  standbyOf?: PgServer;
  /**
   * More addresses to listen on besides 127.0.0.1 (always there: the helper's own commands and the
   * standbys use it), e.g. a netns host end. Each must accept connections once started, or startPg
   * fails (PostgreSQL itself only warns about an address it cannot bind).
   */
  listen?: readonly string[];
  /** IPv4 prefixes (CIDR) whose clients are trusted like loopback, e.g. a netns `subnet`. */
  trust?: readonly string[];
}

/** Resolves when a TCP connect to host:port succeeds; rejects after `ms`. */
function probe(host: string, port: number, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer within ${ms} ms`));
    }, ms);
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.destroy();
      resolve();
    });
    sock.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export async function startPg(opts: StartPgOptions = {}): Promise<PgServer> {
  for (const cidr of opts.trust ?? []) {
    if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(cidr)) {
      throw new Error(`startPg: trust ${JSON.stringify(cidr)}: expected an IPv4 prefix like 10.213.7.0/30`);
    }
  }
  const extraListen = (opts.listen ?? []).filter((a) => a !== "127.0.0.1");
  for (const addr of extraListen) {
    if (!/^[0-9A-Za-z.:]+$/.test(addr)) {
      throw new Error(`startPg: listen ${JSON.stringify(addr)}: expected an IP address`);
    }
  }
  installExitHook();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vsm-pg-"));
  fs.chmodSync(dir, 0o755);
  if (asRoot) execFileSync("chown", ["postgres:postgres", dir]);
  const data = path.join(dir, "data");
  const sock = path.join(dir, "sock");
  const logFile = path.join(dir, "server.log");
  ownedDir(sock);
  let port = await freeLoopbackPort();
  // initdb or a base backup, then this server's own settings.
  const setup = (): void => {
    if (opts.standbyOf === undefined) {
      run(
        "initdb",
        ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"],
        60_000,
      );
      // Loopback only; the replication entry lets a standby stream from this server.
      fs.writeFileSync(
        path.join(data, "pg_hba.conf"),
        [
          "local all all trust",
          "local replication all trust",
          "host all all 127.0.0.1/32 trust",
          "host replication all 127.0.0.1/32 trust",
          "",
        ].join("\n"),
      );
    } else {
      ownedDir(data);
      fs.chmodSync(data, 0o700);
      run(
        "pg_basebackup",
        [
          "-h",
          "127.0.0.1",
          "-p",
          String(opts.standbyOf.port),
          "-U",
          "postgres",
          "-D",
          data,
          "-R",
          "-X",
          "stream",
          // An immediate checkpoint: the default spread one waits minutes on a primary with writes.
          "-c",
          "fast",
          "--no-sync",
        ],
        60_000,
      );
    }
    // Settings appended last win over the primary's copy in a base backup.
    fs.appendFileSync(
      path.join(data, "postgresql.conf"),
      [
        "",
        `port = ${port}`,
        `listen_addresses = '${["127.0.0.1", ...extraListen].join(",")}'`,
        `unix_socket_directories = '${sock}'`,
        "wal_level = replica",
        "max_wal_senders = 5",
        "hot_standby = on",
        "fsync = off",
        "full_page_writes = off",
        "max_connections = 100",
        "shared_buffers = 16MB",
        "",
      ].join("\n"),
    );
    // Also after a base backup: the standby's pg_hba.conf is the primary's copy.
    const trusted = (opts.trust ?? []).flatMap((cidr) => [
      `host all all ${cidr} trust`,
      `host replication all ${cidr} trust`,
    ]);
    if (trusted.length > 0) fs.appendFileSync(path.join(data, "pg_hba.conf"), `${trusted.join("\n")}\n`);
    if (asRoot) execFileSync("chown", ["-R", "postgres:postgres", dir]);
  };

  try {
    setup();
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  let started = false;
  const server: PgServer = {
    get port() {
      return port;
    },
    dir,
    dsn: (db, host = "127.0.0.1") =>
      `postgres://postgres@${host.includes(":") ? `[${host}]` : host}:${port}/${db}`,
    async createDatabase(name) {
      server.psql("postgres", `CREATE DATABASE "${name}"`);
      return server.dsn(name);
    },
    psql(db, sql) {
      return run("psql", [
        "-h",
        sock,
        "-p",
        String(port),
        "-U",
        "postgres",
        "-d",
        db,
        "-v",
        "ON_ERROR_STOP=1",
        "-XAtc",
        sql,
      ]);
    },
    async start() {
      running.add(data);
      // The port may be taken between freeLoopbackPort() and the start, or by another process while this
      // server was stopped: wait for it to be free again (a restart must keep its port).
      for (let attempt = 1; ; attempt++) {
        const from = fileSize(logFile);
        try {
          run("pg_ctl", ["-D", data, "-l", logFile, "-w", "-t", "30", "start"], 40_000);
          break;
        } catch (e) {
          if (attempt >= 10 || !bindFailed(logFile, from)) throw e;
          await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
      started = true;
    },
    async stop({ mode = "fast" } = {}) {
      if (!started) return;
      if (frozenPids.has(data)) server.freeze(false);
      run("pg_ctl", ["-D", data, "-m", mode, "-w", "-t", "30", "stop"], 40_000);
      started = false;
      running.delete(data);
    },
    async promote() {
      run("pg_ctl", ["-D", data, "-w", "-t", "30", "promote"], 40_000);
      // `-w` waits for the end of recovery; a write proves it.
      for (let i = 0; i < 100; i++) {
        if (server.psql("postgres", "SELECT pg_is_in_recovery()").trim() === "f") return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`standby on port ${port} still in recovery after promote`);
    },
    freeze(frozen) {
      const pids = postmasterPids(data);
      for (const pid of pids) {
        try {
          process.kill(pid, frozen ? "SIGSTOP" : "SIGCONT");
        } catch (e) {
          // A backend that ended since the list was read (a client just disconnected) is no matter.
          if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
        }
      }
      if (frozen) frozenPids.add(data);
      else frozenPids.delete(data);
    },
    async destroy() {
      try {
        await server.stop({ mode: "immediate" });
      } finally {
        killLeftover(data);
        running.delete(data);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  const first = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      const from = fileSize(logFile);
      try {
        running.add(data);
        run("pg_ctl", ["-D", data, "-l", logFile, "-w", "-t", "30", "start"], 40_000);
        started = true;
        return;
      } catch (e) {
        if (attempt >= 5 || !bindFailed(logFile, from)) throw e;
        // Nobody knows this server's port yet: take another (the last `port =` line wins).
        port = await freeLoopbackPort();
        fs.appendFileSync(path.join(data, "postgresql.conf"), `port = ${port}\n`);
      }
    }
  };
  try {
    await first();
    // PostgreSQL starts with a warning when it cannot bind some address: make that an error here,
    // from its log (a connect alone could be answered by something else on the way to a non-local
    // address), then prove the address answers.
    const startLog = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "";
    for (const addr of extraListen) {
      if (startLog.includes(`could not create listen socket for "${addr}"`)) {
        throw new Error(`PostgreSQL could not listen on ${addr}: is ${addr} a local address?`);
      }
      await probe(addr, port, 5_000).catch((e: Error) => {
        throw new Error(
          `PostgreSQL does not accept connections on ${addr}:${port} (${e.message}); is ${addr} a local address?`,
        );
      });
    }
  } catch (e) {
    killLeftover(data);
    let log = "";
    try {
      log = fs.readFileSync(logFile, "utf8");
    } catch {
      // no log written
    }
    running.delete(data);
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(e as Error).message}\n(its directory ${dir} was removed)\nserver log:\n${log}`);
  }
  return server;
}
