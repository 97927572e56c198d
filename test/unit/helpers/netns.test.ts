/**
 * The network-partition helper with real processes: a client inside a network namespace queries a
 * PostgreSQL listening on the host end of the veth pair; after `cut()` a query on an open connection
 * and a new connection both hang (no answer, no error: not refused, not unreachable); after
 * `restore()` a new connection works; `destroy()` leaves no namespace, no interface, no process.
 * Also: a namespace and interface left by a dead owner are removed by the next `createNetns`.
 *
 * Needs root (namespaces and veth pairs need CAP_NET_ADMIN), as in CI; skipped otherwise.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { after, before, describe, test } from "node:test";
import postgres from "postgres";
import { createNetns, type Netns } from "../../helpers/netns.js";
import { type PgServer, startPg } from "../../helpers/pgServer.js";
import { alive } from "../../helpers/process.js";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../..");
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** How long a query may take before it counts as hung: a local answer takes milliseconds. */
const HANG_MS = 1500;

/**
 * A PostgreSQL client (the `postgres` package) as a process: one query per stdin line, one result
 * per stdout line: "ok 1", "hung" (no answer within HANG_MS) or "error <code>". The first query runs
 * at start; its connection is kept for the next ones.
 */
const CLIENT = `
const postgres = require("postgres");
const sql = postgres(process.argv[1], { max: 1, connect_timeout: 60, idle_timeout: 0, onnotice: () => {} });
const query = () =>
  Promise.race([
    sql\`select 1 as n\`.then((r) => "ok " + r[0].n),
    new Promise((r) => setTimeout(() => r("hung"), ${HANG_MS})),
  ]).catch((e) => "error " + (e.code ?? e.message));
const rl = require("node:readline").createInterface({ input: process.stdin });
(async () => {
  console.log(await query());
  for await (const _ of rl) console.log(await query());
})();
`;

interface Client {
  proc: ChildProcess;
  next(): Promise<string>;
  query(): Promise<string>;
}

function startClient(ns: Netns, dsn: string): Client {
  const proc = ns.exec(process.execPath, ["-e", CLIENT, dsn], {
    cwd: root,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: ((l: string) => void)[] = [];
  let stderr = "";
  proc.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  readline.createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", (l) => {
    const w = waiters.shift();
    if (w) w(l);
    else lines.push(l);
  });
  const next = (): Promise<string> => {
    const l = lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`client gave no result in 15 s; stderr: ${stderr}`)),
        15_000,
      );
      waiters.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  };
  return {
    proc,
    next,
    query() {
      proc.stdin?.write("q\n");
      return next();
    },
  };
}

describe("netns helper: a real network partition", { timeout: 55_000, skip: !isRoot && "needs root" }, () => {
  let ns: Netns;
  let pg: PgServer;
  let dsn: string;
  const clients: Client[] = [];

  before(async () => {
    ns = createNetns({ name: "selftest" });
    pg = await startPg({ listen: [ns.hostAddr], trust: [ns.subnet] });
    await pg.createDatabase("probe");
    dsn = pg.dsn("probe", ns.hostAddr);
  });

  after(async () => {
    for (const c of clients) c.proc.kill("SIGKILL");
    ns?.destroy();
    await pg?.destroy();
  });

  test("the namespace reaches the host only through its pair", () => {
    assert.match(ns.name, new RegExp(`^vsmt-${process.pid}-${ns.index}-selftest$`));
    assert.equal(ns.hostAddr, `10.213.${ns.index}.1`);
    assert.equal(ns.nsAddr, `10.213.${ns.index}.2`);
    const [cmd, args] = ns.spawnArgs("ip", ["-4", "-o", "addr"]);
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    // Loopback up, the namespace end, nothing else (the host's interfaces are not in there).
    const addrs = r.stdout.split("\n").filter((l) => l.trim() !== "");
    assert.equal(addrs.length, 2, r.stdout);
    assert.match(r.stdout, /\blo\s+inet 127\.0\.0\.1\/8/);
    assert.match(r.stdout, new RegExp(`${ns.nsIf}\\s+inet ${ns.nsAddr.replaceAll(".", "\\.")}/30`));
  });

  test("a query from inside works; after cut() it hangs on an open and on a new connection; after restore() it works again", async () => {
    const held = startClient(ns, dsn);
    clients.push(held);
    assert.equal(await held.next(), "ok 1");

    ns.cut();
    assert.equal(ns.isCut, true);
    const t0 = Date.now();
    assert.equal(await held.query(), "hung", "a query on an open connection must hang, not fail");
    assert.ok(Date.now() - t0 >= HANG_MS - 100);
    const fresh = startClient(ns, dsn);
    clients.push(fresh);
    assert.equal(await fresh.next(), "hung", "a new connection must hang, not be refused");
    // The host itself still reaches the host end: that address is local, routed over loopback.
    const hostSide = postgres(dsn, { max: 1, connect_timeout: 5, onnotice: () => {} });
    try {
      assert.deepEqual([...(await hostSide`select 1 as n`)], [{ n: 1 }]);
    } finally {
      await hostSide.end({ timeout: 1 });
    }
    // Still nothing seconds later, past the first SYN retransmissions (1 s, 3 s): no late error either.
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(await fresh.query(), "hung");

    ns.restore();
    assert.equal(ns.isCut, false);
    const after = startClient(ns, dsn);
    clients.push(after);
    assert.equal(await after.next(), "ok 1");
    ns.restore(); // a second restore is a no-op
  });

  test("destroy() leaves no namespace, no interface and no process; a second destroy() is a no-op", async () => {
    const sleeper = ns.exec("sleep", ["300"], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(sleeper.pid !== undefined && ns.pids().includes(sleeper.pid), "sleep runs inside");
    const inside = [...ns.pids(), ...clients.map((c) => c.proc.pid ?? 0)];
    ns.destroy();
    ns.destroy();
    assert.equal(fs.existsSync(`/run/netns/${ns.name}`), false);
    assert.equal(fs.existsSync(`/sys/class/net/${ns.hostIf}`), false);
    assert.doesNotMatch(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout, new RegExp(ns.name));
    // Give the kernel's SIGKILLs a moment to be reaped by our own child handling.
    await new Promise((r) => setTimeout(r, 100));
    for (const pid of inside) assert.equal(alive(pid), false, `pid ${pid} still runs`);
    assert.throws(() => ns.exec("true", []), /destroyed/);
  });

  for (const how of ["exit", "SIGTERM"] as const) {
    test(`a process that ends by ${how} without destroy() leaves no namespace and no interface`, async () => {
      const helper = path.join(root, "test/helpers/netns.ts");
      const script =
        `const { createNetns } = await import(${JSON.stringify(helper)});` +
        "const ns = createNetns({ name: 'exithook' });" +
        "ns.exec('sleep', ['300'], { stdio: 'ignore' });" +
        "console.log(ns.name, ns.hostIf);" +
        (how === "exit" ? "setTimeout(() => process.exit(3), 300);" : "setInterval(() => {}, 1000);");
      const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => {
        out += String(d);
      });
      child.stderr.on("data", (d) => {
        err += String(d);
      });
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      for (let i = 0; i < 200 && !out.includes("\n"); i++) await new Promise((r) => setTimeout(r, 25));
      const [name, hostIf] = out.trim().split(" ");
      assert.ok(name?.startsWith("vsmt-") && hostIf !== undefined, `child printed ${out}; stderr: ${err}`);
      assert.ok(fs.existsSync(`/run/netns/${name}`), "the child created its namespace");
      if (how === "SIGTERM") child.kill("SIGTERM");
      assert.equal(await exited, how === "exit" ? 3 : 143);
      assert.equal(fs.existsSync(`/run/netns/${name}`), false, "namespace removed at exit");
      assert.equal(fs.existsSync(`/sys/class/net/${hostIf}`), false, "interface removed at exit");
    });
  }

  test("a namespace and a pair left by a dead owner are removed by the next createNetns", async () => {
    const dead = spawnSync("true").pid;
    assert.ok(dead !== undefined && !alive(dead));
    // What a crashed run leaves: a namespace named after it with a process inside, its pair.
    const stale = `vsmt-${dead}-999`;
    const x = 255;
    const hostIf = `vsmh${x}`;
    if (fs.existsSync(`/sys/class/net/${hostIf}`)) return; // another live test file owns it
    const must = (args: string[]) => {
      const r = spawnSync("ip", args, { encoding: "utf8" });
      assert.equal(r.status, 0, `ip ${args.join(" ")}: ${r.stderr}`);
    };
    must(["netns", "add", stale]);
    must(["link", "add", hostIf, "type", "veth", "peer", "name", `vsmn${x}`]);
    must(["link", "set", hostIf, "alias", `vsmt-${dead}`]);
    must(["link", "set", `vsmn${x}`, "netns", stale]);
    const orphan = spawn("ip", ["netns", "exec", stale, "sleep", "300"], { stdio: "ignore" });
    try {
      // `ip netns exec` enters the namespace a moment after the spawn.
      for (let i = 0; i < 100; i++) {
        if (
          spawnSync("ip", ["netns", "pids", stale], { encoding: "utf8" }).stdout.includes(String(orphan.pid))
        )
          break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const fresh = createNetns();
      try {
        assert.equal(fs.existsSync(`/run/netns/${stale}`), false, "stale namespace removed");
        assert.equal(fs.existsSync(`/sys/class/net/${hostIf}`), false, "stale interface removed");
        assert.equal(orphan.pid !== undefined && alive(orphan.pid), false, "process inside killed");
        assert.ok(fs.existsSync(`/run/netns/${fresh.name}`));
      } finally {
        fresh.destroy();
      }
    } finally {
      orphan.kill("SIGKILL");
      spawnSync("ip", ["link", "del", hostIf]);
      spawnSync("ip", ["netns", "del", stale]);
    }
  });
});
