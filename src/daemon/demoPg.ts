/**
 * A throwaway PostgreSQL server for `vsm demo --cluster`: the server binaries of the machine
 * (`initdb`, `pg_ctl`), a data directory in a temp directory, a free loopback port, trust
 * authentication on loopback and a unix socket inside that directory only. Stopped and removed at the
 * end of the demo, also when the demo fails or is interrupted.
 *
 * Where the binaries are looked for, in order: `VSM_PG_BIN_DIR` (a directory holding both; set but
 * without them is an error, never a silent fallback), the highest major under
 * /usr/lib/postgresql/<major>/bin (Debian and Ubuntu keep them off PATH), then PATH. None found: the
 * error says how to install them.
 *
 * PostgreSQL refuses to run as root, so as root every server command runs as the `postgres` user
 * (runuser), which Debian's package creates. test/helpers/pgServer.ts does the same for tests; this
 * copy is the product's own (production code does not import test helpers) and is kept to what the
 * demo needs.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freeLoopbackPort, killAndWait, postmasterPids } from "../store/pg/localServer.js";
import { SmError } from "../util/errors.js";

export const PG_BIN_DIR_ENV = "VSM_PG_BIN_DIR";
const BIN_ROOT = "/usr/lib/postgresql";
const NEEDED = ["initdb", "pg_ctl"] as const;
const INSTALL_HINT =
  "install them with `apt-get install postgresql` (Debian, Ubuntu; `dnf install postgresql-server` on Fedora, `brew install postgresql` on macOS), or set VSM_PG_BIN_DIR to the directory that holds initdb and pg_ctl";

function hasBinaries(dir: string): boolean {
  return NEEDED.every((b) => {
    try {
      fs.accessSync(path.join(dir, b), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The directory of `initdb` and `pg_ctl`; DEMO_PG_MISSING, with how to install them, when there is
 * none. `env` and `binRoot` are parameters so tests can hide the machine's binaries.
 */
export function findPgBinDir(env: NodeJS.ProcessEnv = process.env, binRoot = BIN_ROOT): string {
  const forced = env[PG_BIN_DIR_ENV];
  if (forced !== undefined && forced !== "") {
    if (hasBinaries(forced)) return forced;
    throw new SmError(
      "DEMO_PG_MISSING",
      `${PG_BIN_DIR_ENV}=${forced} holds no executable ${NEEDED.join(" and ")}: the demo's cluster runs on a throwaway PostgreSQL server; ${INSTALL_HINT}`,
    );
  }
  let majors: number[] = [];
  try {
    majors = fs
      .readdirSync(binRoot)
      .map(Number)
      .filter((v) => Number.isInteger(v) && hasBinaries(path.join(binRoot, String(v), "bin")));
  } catch {
    // no such directory: PATH next
  }
  if (majors.length > 0) return path.join(binRoot, String(Math.max(...majors)), "bin");
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (dir !== "" && hasBinaries(dir)) return dir;
  }
  throw new SmError(
    "DEMO_PG_MISSING",
    `no PostgreSQL server binaries (${NEEDED.join(", ")}) under ${binRoot}/*/bin or on PATH: the demo's cluster runs on a throwaway PostgreSQL server; ${INSTALL_HINT}`,
  );
}

const asRoot = typeof process.getuid === "function" && process.getuid() === 0;

export interface DemoPg {
  readonly port: number;
  /** The temp directory: data directory, socket and server log. */
  readonly dir: string;
  /** `postgres://postgres@127.0.0.1:PORT/postgres`: the demo uses the server's own database. */
  readonly dsn: string;
  /** Stops the server (fast, then its processes killed if it does not stop) and removes its directory. */
  stop(): void;
}

/** Starts a throwaway server; every step is bounded in time, and a failure leaves nothing behind. */
export async function startDemoPg(binDir: string): Promise<DemoPg> {
  const run = (bin: string, args: string[], timeoutMs: number): string => {
    const file = path.join(binDir, bin);
    const [cmd, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", file, ...args]] : [file, args];
    const r = spawnSync(cmd, argv, { encoding: "utf8", timeout: timeoutMs, cwd: os.tmpdir() });
    if (r.error !== undefined || r.status !== 0) {
      const why = r.error !== undefined ? r.error.message : `exit ${r.status ?? r.signal}`;
      throw new SmError("DEMO_FAILED", `${bin} ${args.join(" ")} failed (${why}): ${r.stderr}${r.stdout}`);
    }
    return r.stdout;
  };
  if (asRoot) {
    const id = spawnSync("id", ["-u", "postgres"], { encoding: "utf8", timeout: 5000 });
    if (id.status !== 0) {
      throw new SmError(
        "DEMO_PG_MISSING",
        "running as root, the demo runs PostgreSQL as the `postgres` user (PostgreSQL refuses root), and there is no such user: install the server with `apt-get install postgresql`, which creates it, or run the demo as another user",
      );
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vsm-demo-pg-"));
  const data = path.join(dir, "data");
  const sock = path.join(dir, "sock");
  const logFile = path.join(dir, "server.log");
  let port = 0;
  const server: DemoPg = {
    get port() {
      return port;
    },
    dir,
    get dsn() {
      return `postgres://postgres@127.0.0.1:${port}/postgres`;
    },
    stop() {
      if (fs.existsSync(path.join(data, "postmaster.pid"))) {
        try {
          run("pg_ctl", ["-D", data, "-m", "fast", "-w", "-t", "20", "stop"], 30_000);
        } catch {
          // did not stop in time: killed below
        }
      }
      // Synchronous and bounded, so the signal handlers of the demo can use stop() too.
      killAndWait(postmasterPids(data), 2000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    fs.chmodSync(dir, 0o755);
    fs.mkdirSync(sock, { mode: 0o700 });
    if (asRoot) execFileSync("chown", ["-R", "postgres:postgres", dir]);
    run(
      "initdb",
      ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"],
      60_000,
    );
    // Loopback and the socket only: the server trusts every local user, so nothing else may reach it.
    fs.writeFileSync(
      path.join(data, "pg_hba.conf"),
      "local all all trust\nhost all all 127.0.0.1/32 trust\n",
    );
    const settings = (p: number) =>
      [
        "",
        `port = ${p}`,
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${sock}'`,
        // A demo's data is thrown away: no need to wait for the disk.
        "fsync = off",
        "synchronous_commit = off",
        "full_page_writes = off",
        "max_connections = 100",
        "shared_buffers = 16MB",
        "",
      ].join("\n");
    // The port may be taken between freeLoopbackPort() and the start: try another one a few times.
    for (let attempt = 1; ; attempt++) {
      port = await freeLoopbackPort();
      fs.appendFileSync(path.join(data, "postgresql.conf"), settings(port));
      if (asRoot) execFileSync("chown", ["-R", "postgres:postgres", dir]);
      const from = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
      try {
        run("pg_ctl", ["-D", data, "-l", logFile, "-w", "-t", "30", "start"], 40_000);
        return server;
      } catch (e) {
        const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8").slice(from) : "";
        if (attempt >= 5 || !log.includes("could not bind")) {
          throw new SmError("DEMO_FAILED", `${(e as Error).message}\nserver log:\n${log}`);
        }
      }
    }
  } catch (e) {
    server.stop();
    throw e;
  }
}
