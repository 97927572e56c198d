/**
 * Helpers for a PostgreSQL server this machine runs itself (`vsm demo --cluster`, and the tests'
 * throwaway servers): a free loopback port, and the server's processes found and stopped for certain
 * when pg_ctl cannot (Linux /proc).
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

/** A loopback port free right now (another process may take it before the server binds it: retry then). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === "object" && addr !== null ? resolve(addr.port) : reject(new Error("no port")),
      );
    });
  });
}

/** Whether a process runs (a zombie does not: a container's init may never reap it). */
export function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/**
 * The postmaster of the data directory `data` and every process it started, if it runs with that data
 * directory (a stale postmaster.pid may name a pid reused since); [] when none runs.
 */
export function postmasterPids(data: string): number[] {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(data, "postmaster.pid"), "utf8").split("\n")[0]);
    if (!fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(data)) return [];
  } catch {
    return [];
  }
  const out = [pid];
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(e));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

/**
 * SIGKILLs `pids` and waits until they are gone, at most `waitMs`. Synchronous, so that exit and
 * signal handlers can use it too.
 */
export function killAndWait(pids: readonly number[], waitMs: number): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // ended meanwhile
    }
  }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < waitMs / 20 && pids.some(isRunning); i++) Atomics.wait(pause, 0, 0, 20);
}
