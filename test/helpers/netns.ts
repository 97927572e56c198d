/**
 * A network namespace joined to the host by a veth pair, for tests of a real network partition: a
 * process started inside (`exec`) reaches the host only through the pair, and `cut()` makes the
 * pair silently drop every packet, both ways, until `restore()`.
 *
 * Layout: namespace `vsmt-<owner pid>-<X>[-<name>]`, host end `vsmh<X>` with 10.213.X.1/30, namespace
 * end `vsmn<X>` with 10.213.X.2/30, loopback up inside. X (0–255) is chosen per call, starting at a
 * random value, skipping an X whose interface names exist or whose /30 overlaps any route or address
 * of the host, so parallel test files (separate processes) do not collide; creating the interface is
 * the atomic claim (a race loser gets "File exists" and tries the next X).
 *
 * How the cut works, and why so. A partition must look like a dead network: packets vanish, a TCP
 * connection hangs until its own timeouts, a new connect() hangs in SYN_SENT. Tested on Linux 6.18:
 * - `ip link set … down` is wrong: the kernel drops the connected /30 route with the link, so a
 *   connect() from that side fails at once with ENETUNREACH, like a refused connection.
 * - `tc qdisc … netem loss 100%` would likely do as well but needs the sch_netem module, absent from kernels
 *   built without it (this sandbox has no modules at all).
 * - `tc qdisc replace dev … root blackhole` (always built with traffic control) drops every packet
 *   the interface would send and reports success to the sender, so TCP retransmits into the void.
 *   Applied to both ends it cuts both directions. That is what `cut()` does.
 * Each end also gets a permanent neighbour entry for the other at creation, so no ARP ever runs on
 * the pair: whether a silent link later turns into EHOSTUNREACH then depends on nothing in the
 * kernel's neighbour state machine (a failed neighbour may be reported to the sender as
 * EHOSTUNREACH; a partition beyond a router never is). Measured here: with the entries, connects made
 * 1.5 s and 20 s into a 30 s cut were still pending with no error and completed after `restore()`;
 * without them the neighbour went FAILED and connects still hung for 50 s, so the entries are a
 * guard for other kernels, not a fix observed on this one.
 *
 * Only the namespace is cut off: a host process that dials `hostAddr` (a local address of the host)
 * is routed over loopback, not through the pair. So servers on the host can listen on `hostAddr` (or
 * on every interface) and serve both sides, and a cut isolates exactly the processes inside.
 *
 * Cleanup: `destroy()` kills every process in the namespace, deletes the pair and the namespace; it
 * is idempotent and synchronous, and runs for every live namespace at process exit (and on SIGINT /
 * SIGTERM), so a failed test leaves nothing. Namespaces and interfaces of an owner process that no
 * longer runs (a crashed earlier run) are removed by the next `createNetns`; the owner pid is in the
 * namespace name and in the host interface's alias.
 *
 * Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2 (`ip`, `tc`).
 */
import { type ChildProcess, type SpawnOptions, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";

const PREFIX = "vsmt-";
const COMMAND_TIMEOUT_MS = 10_000;

export interface Netns {
  /** The namespace name, for `ip netns exec NAME …` / `ip -n NAME …`. */
  readonly name: string;
  /** X of 10.213.X.0/30. */
  readonly index: number;
  /** The host end, 10.213.X.1: what a process inside dials to reach a server on the host. */
  readonly hostAddr: string;
  /** The namespace end, 10.213.X.2: what the host dials to reach a server inside. */
  readonly nsAddr: string;
  /** 10.213.X.0/30, e.g. for a pg_hba.conf entry. */
  readonly subnet: string;
  /** Interface names: host end and namespace end. */
  readonly hostIf: string;
  readonly nsIf: string;
  /** Whether the link is cut now. */
  readonly isCut: boolean;
  /** The command line that runs `cmd args` inside the namespace: `["ip", ["netns", "exec", NAME, cmd, ...args]]`. */
  spawnArgs(cmd: string, args: readonly string[]): [string, string[]];
  /** Spawns `cmd args` inside the namespace (`ip netns exec` execs it: the child's pid is the command's). */
  exec(cmd: string, args: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** Pids of every process inside the namespace. */
  pids(): number[];
  /** Makes both ends drop every packet silently (see the header for why this way). */
  cut(): void;
  /** Undoes `cut()`; a no-op when the link is not cut. */
  restore(): void;
  /** Kills what runs inside, deletes the pair and the namespace; idempotent. */
  destroy(): void;
}

interface CmdResult {
  ok: boolean;
  out: string;
  err: string;
}

function sh(cmd: string, args: readonly string[]): CmdResult {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: COMMAND_TIMEOUT_MS });
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    const hint =
      code === "ENOENT" ? ` (${cmd} not found: install iproute2, \`apt-get install -y iproute2\`)` : "";
    return { ok: false, out: "", err: `${r.error.message}${hint}` };
  }
  return { ok: r.status === 0, out: r.stdout, err: r.stderr };
}

/** Runs a command that must succeed; throws with its output and what it was for. */
function must(what: string, cmd: string, args: readonly string[]): string {
  const r = sh(cmd, args);
  if (!r.ok) throw new Error(`${what}: \`${cmd} ${args.join(" ")}\` failed: ${r.err.trim() || r.out.trim()}`);
  return r.out;
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function nsPids(name: string): number[] {
  const r = sh("ip", ["netns", "pids", name]);
  if (!r.ok) return [];
  return r.out
    .split(/\s+/)
    .filter((s) => s !== "")
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** SIGKILLs every process in the namespace and waits (bounded) until none runs. */
function killAll(name: string): void {
  for (let round = 0; round < 100; round++) {
    const pids = nsPids(name).filter(pidAlive);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // ended meanwhile
      }
    }
    sleepSync(20);
  }
}

function nsExists(name: string): boolean {
  return fs.existsSync(`/run/netns/${name}`);
}

function linkExists(ifName: string): boolean {
  return fs.existsSync(`/sys/class/net/${ifName}`);
}

/** Removes one namespace and its pair, whatever state they are in; never throws. */
function teardown(name: string, hostIf: string | undefined): void {
  if (nsExists(name)) killAll(name);
  // Deleting either end of a veth deletes both; the namespace end dies with the namespace anyway,
  // but only once no process holds the namespace, hence the kill first.
  if (hostIf !== undefined && linkExists(hostIf)) sh("ip", ["link", "del", hostIf]);
  if (nsExists(name)) sh("ip", ["netns", "del", name]);
}

/** Owner pid of a namespace name `vsmt-<pid>-…`, or undefined when the name is not ours. */
function ownerOf(name: string): number | undefined {
  const m = /^vsmt-(\d+)-/.exec(name);
  return m === null ? undefined : Number(m[1]);
}

/** Removes namespaces and host interfaces left by owner processes that no longer run. */
function cleanStale(): void {
  let names: string[] = [];
  try {
    names = fs.readdirSync("/run/netns");
  } catch {
    // no namespace at all
  }
  for (const name of names) {
    const owner = ownerOf(name);
    // A `vsmt-` name without an owner pid is from an older layout: stale too.
    if (name.startsWith(PREFIX) && (owner === undefined || (owner !== process.pid && !pidAlive(owner)))) {
      teardown(name, undefined);
    }
  }
  let links: string[] = [];
  try {
    links = fs.readdirSync("/sys/class/net").filter((n) => /^vsmh\d+$/.test(n));
  } catch {
    // no sysfs: nothing to find
  }
  for (const ifName of links) {
    let alias = "";
    try {
      alias = fs.readFileSync(`/sys/class/net/${ifName}/ifalias`, "utf8").trim();
    } catch {
      // gone meanwhile
    }
    // No alias: another process has just created it and not yet named its owner (or crashed in
    // that instant, which costs one X, nothing else): leave it.
    const owner = ownerOf(`${alias}-`);
    if (owner !== undefined && owner !== process.pid && !pidAlive(owner)) sh("ip", ["link", "del", ifName]);
  }
}

function ipToInt(ip: string): number {
  return ip.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
}

/** [first, last] address of an IPv4 prefix like "10.0.0.0/8" or a bare address. */
function range(prefix: string): [number, number] | undefined {
  const [addr, bitsText] = prefix.split("/");
  if (addr === undefined || !/^\d+\.\d+\.\d+\.\d+$/.test(addr)) return undefined;
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  const size = 2 ** (32 - bits);
  const start = Math.floor(ipToInt(addr) / size) * size;
  return [start, start + size - 1];
}

/** IPv4 ranges the host already uses: every route (all tables, but not the default) and address. */
function usedRanges(): [number, number][] {
  const out: [number, number][] = [];
  const routes = sh("ip", ["-j", "-4", "route", "show", "table", "all"]);
  if (routes.ok) {
    for (const r of JSON.parse(routes.out) as { dst?: string }[]) {
      const rg = r.dst === undefined || r.dst === "default" ? undefined : range(r.dst);
      if (rg !== undefined) out.push(rg);
    }
  }
  const addrs = sh("ip", ["-j", "-4", "addr", "show"]);
  if (addrs.ok) {
    for (const link of JSON.parse(addrs.out) as { addr_info?: { local?: string; prefixlen?: number }[] }[]) {
      for (const a of link.addr_info ?? []) {
        const rg = a.local === undefined ? undefined : range(`${a.local}/${a.prefixlen ?? 32}`);
        if (rg !== undefined) out.push(rg);
      }
    }
  }
  return out;
}

/** Namespaces of this process that `destroy()` has not removed yet, for the exit hook. */
const live = new Map<string, () => void>();
let hookInstalled = false;

function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.on("exit", destroyAllNow);
  for (const [sig, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    // Without a handler a signal skips the exit handlers; with one, Node no longer dies of it, so
    // exit with its usual code (the exit hook then runs too, finding nothing left).
    process.on(sig, () => {
      destroyAllNow();
      process.exit(code);
    });
  }
}

function destroyAllNow(): void {
  for (const destroy of [...live.values()]) {
    try {
      destroy();
    } catch {
      // nothing more can be done while exiting
    }
  }
}

/**
 * Creates a namespace with its veth pair (see the header). `name` is a label appended to the
 * namespace name, to tell namespaces apart in `ip netns list`.
 */
export function createNetns(opts: { name?: string } = {}): Netns {
  if (opts.name !== undefined && !/^[A-Za-z0-9_.-]{1,40}$/.test(opts.name)) {
    throw new Error(`createNetns: name ${JSON.stringify(opts.name)}: use 1 to 40 of A-Z a-z 0-9 _ . -`);
  }
  installExitHook();
  cleanStale();
  const used = usedRanges();
  const start = Math.floor(Math.random() * 256);
  let lastError = "";
  for (let i = 0; i < 256; i++) {
    const x = (start + i) % 256;
    const hostIf = `vsmh${x}`;
    const nsIf = `vsmn${x}`;
    const [lo, hi] = [ipToInt(`10.213.${x}.0`), ipToInt(`10.213.${x}.3`)];
    if (linkExists(hostIf) || linkExists(nsIf)) continue;
    if (used.some(([a, b]) => a <= hi && lo <= b)) continue;
    const name = `${PREFIX}${process.pid}-${x}${opts.name === undefined ? "" : `-${opts.name}`}`;
    // The atomic claim of X: another process that got here first makes this fail with "File exists".
    const add = sh("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", nsIf]);
    if (!add.ok) {
      lastError = add.err.trim();
      if (/exists/i.test(add.err)) continue;
      throw new Error(
        `createNetns: \`ip link add ${hostIf} type veth\` failed: ${lastError} (needs root and veth)`,
      );
    }
    try {
      return setUp(name, x, hostIf, nsIf);
    } catch (e) {
      teardown(name, hostIf);
      throw e;
    }
  }
  throw new Error(
    `createNetns: no free 10.213.X.0/30 with free vsmh<X>/vsmn<X> names (last error: ${lastError})`,
  );
}

function setUp(name: string, x: number, hostIf: string, nsIf: string): Netns {
  const hostAddr = `10.213.${x}.1`;
  const nsAddr = `10.213.${x}.2`;
  const what = `createNetns ${name}`;
  // The alias names the owner, so a later run knows this interface is stale once the owner is gone.
  must(what, "ip", ["link", "set", hostIf, "alias", `${PREFIX}${process.pid}`]);
  must(what, "ip", ["netns", "add", name]);
  let destroyed = false;
  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    teardown(name, hostIf);
    live.delete(name);
  };
  live.set(name, destroy);
  must(what, "ip", ["link", "set", nsIf, "netns", name]);
  must(what, "ip", ["addr", "add", `${hostAddr}/30`, "dev", hostIf]);
  must(what, "ip", ["link", "set", hostIf, "up"]);
  must(what, "ip", ["-n", name, "link", "set", "lo", "up"]);
  must(what, "ip", ["-n", name, "addr", "add", `${nsAddr}/30`, "dev", nsIf]);
  must(what, "ip", ["-n", name, "link", "set", nsIf, "up"]);
  // Permanent neighbour entries: no ARP on the pair, so a cut link never turns into EHOSTUNREACH.
  const hostMac = fs.readFileSync(`/sys/class/net/${hostIf}/address`, "utf8").trim();
  const nsLink = JSON.parse(must(what, "ip", ["-n", name, "-j", "link", "show", "dev", nsIf])) as {
    address: string;
  }[];
  const nsMac = nsLink[0]?.address;
  if (nsMac === undefined) throw new Error(`${what}: no MAC address for ${nsIf}`);
  must(what, "ip", ["neigh", "replace", nsAddr, "lladdr", nsMac, "dev", hostIf, "nud", "permanent"]);
  must(what, "ip", [
    "-n",
    name,
    "neigh",
    "replace",
    hostAddr,
    "lladdr",
    hostMac,
    "dev",
    nsIf,
    "nud",
    "permanent",
  ]);

  let isCut = false;
  const ns: Netns = {
    name,
    index: x,
    hostAddr,
    nsAddr,
    subnet: `10.213.${x}.0/30`,
    hostIf,
    nsIf,
    get isCut() {
      return isCut;
    },
    spawnArgs: (cmd, args) => ["ip", ["netns", "exec", name, cmd, ...args]],
    exec(cmd, args, spawnOpts = {}) {
      if (destroyed) throw new Error(`${name} is destroyed: cannot start ${cmd} in it`);
      const [c, a] = ns.spawnArgs(cmd, args);
      return spawn(c, a, spawnOpts);
    },
    pids: () => nsPids(name),
    cut() {
      if (destroyed) throw new Error(`${name} is destroyed: nothing to cut`);
      // `replace` makes a repeated cut harmless; each end's qdisc drops what that end sends.
      must(`cut ${name}`, "tc", ["qdisc", "replace", "dev", hostIf, "root", "blackhole"]);
      must(`cut ${name}`, "tc", ["-n", name, "qdisc", "replace", "dev", nsIf, "root", "blackhole"]);
      isCut = true;
    },
    restore() {
      if (destroyed) throw new Error(`${name} is destroyed: nothing to restore`);
      // Deleting the root qdisc brings back the veth default (noqueue); "no qdisc" means not cut.
      for (const args of [
        ["qdisc", "del", "dev", hostIf, "root"],
        ["-n", name, "qdisc", "del", "dev", nsIf, "root"],
      ]) {
        const r = sh("tc", args);
        if (!r.ok && !/Cannot delete qdisc with handle of zero|No such file/i.test(r.err)) {
          throw new Error(`restore ${name}: \`tc ${args.join(" ")}\` failed: ${r.err.trim()}`);
        }
      }
      isCut = false;
    },
    destroy,
  };
  return ns;
}
