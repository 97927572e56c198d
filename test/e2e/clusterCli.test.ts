/**
 * `vsm util cluster nodes | tasks | cordon | uncordon` through the built CLI against a real PostgreSQL
 * server, each test on a fresh database whose nodes and tasks are made through the cluster library:
 * the JSON and table outputs, a dead node marked, filters, cordon's effect on claims, and every
 * refusal (a config without the database, an unreachable database named by its redacted DSN, a
 * database no node started on, an older schema, bad flags, an unknown node name).
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  claimTasks,
  completeTask,
  createDeadlineTasks,
  failTask,
  type NodeIdentity,
} from "../../src/cluster/index.js";
import type { Pg } from "../../src/store/pg/db.js";
import { cliSplit } from "../helpers/cli.js";
import { clusterDbFixture } from "../helpers/clusterDb.js";
import { tempDir } from "../helpers/tmp.js";

interface NodeJson {
  name: string;
  address: string;
  alive: boolean;
  lastHeartbeat: string;
  heartbeatAgeMs: number;
  capacity: number;
  tasksInFlight: number;
  cordoned: boolean;
}

interface TaskJson {
  miner: number;
  deadline: number;
  partition: number;
  open: number;
  close: number;
  state: string;
  node: string | null;
  attempts: number;
  created: string;
  started: string | null;
  finished: string | null;
  error: string | null;
  leaseExpired: boolean;
}

const job = (miner: number, partition: number) => ({ actor: miner, partition });

async function deadline(pg: Pg, miner: number, dl: number, open: number, n: number): Promise<void> {
  const partitions = Array.from({ length: n }, (_, i) => ({ partition: i, job: job(miner, i) }));
  await createDeadlineTasks(pg, { miner, deadline: dl, open, close: open + 60, partitions });
}

/** A port nothing listens on: taken from the kernel, then released. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function noStack(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at /m, stderr);
}

describe("util cluster", { timeout: 55_000 }, () => {
  const fx = clusterDbFixture("clicli");
  let root = "";
  let cleanup = async () => {};
  let homes = 0;
  before(async () => {
    ({ dir: root, cleanup } = await tempDir("vsm-cluster-cli-"));
  });
  after(async () => {
    await cleanup();
  });

  /** A home whose sector-manager.cfg holds `body`. */
  async function home(body: string): Promise<string> {
    const dir = path.join(root, `home${++homes}`);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, "sector-manager.cfg"), body);
    return dir;
  }
  const pgHome = (dsn: string) =>
    home(`[Common.DB]\nDriver = "postgres"\n[Common.DB.Postgres]\nDSN = ${JSON.stringify(dsn)}\n`);

  /** A fresh database, a home naming it, and `vsm --home H util cluster ...`. */
  async function cluster() {
    const { dsn, pg } = await fx.freshDb();
    const h = await pgHome(dsn);
    const run = (...args: string[]) => cliSplit(["--home", h, "util", "cluster", ...args]);
    const json = async <T>(...args: string[]): Promise<T> => {
      const r = await run(...args, "--json");
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as T;
    };
    return { dsn, pg, home: h, run, json };
  }

  test("nodes: JSON and table, a dead node marked, tasks in flight and cordon shown", async () => {
    const { pg, run, json } = await cluster();
    const n1 = await fx.node(pg, "n1", 2);
    await fx.node(pg, "n2", 3);
    await fx.node(pg, "n3", 1);
    // n3 went silent an hour ago (as if killed); n2 is under maintenance.
    await pg.query("UPDATE cluster_nodes SET last_heartbeat = now() - INTERVAL '1 hour' WHERE name = 'n3'");
    await pg.query("UPDATE cluster_nodes SET cordoned = TRUE WHERE name = 'n2'");
    await deadline(pg, 1000, 5, 100, 3);
    assert.equal((await claimTasks(pg, n1, { height: 0 })).tasks.length, 2);

    const nodes = await json<NodeJson[]>("nodes");
    assert.deepEqual(
      nodes.map((n) => [n.name, n.address, n.alive, n.capacity, n.tasksInFlight, n.cordoned]),
      [
        ["n1", "n1:1", true, 2, 2, false],
        ["n2", "n2:1", true, 3, 0, true],
        ["n3", "n3:1", false, 1, 0, false],
      ],
    );
    const n3 = nodes[2]!;
    assert.ok(n3.heartbeatAgeMs >= 3_599_000 && n3.heartbeatAgeMs < 3_700_000, String(n3.heartbeatAgeMs));
    assert.ok(Math.abs(Date.now() - 3_600_000 - Date.parse(n3.lastHeartbeat)) < 60_000, n3.lastHeartbeat);
    assert.match(n3.lastHeartbeat, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const table = await run("nodes");
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(
      lines[0]!,
      /^NAME\s+ADDRESS\s+STATE\s+LAST HEARTBEAT\s+AGE\s+CAPACITY\s+IN FLIGHT\s+CORDONED$/,
    );
    assert.match(lines[1]!, /^n1\s+n1:1\s+alive\s+\S+Z\s+\d+s\s+2\s+2\s+no$/);
    assert.match(lines[2]!, /^n2\s+n2:1\s+alive\s+\S+Z\s+\d+s\s+3\s+0\s+yes$/);
    assert.match(lines[3]!, /^n3\s+n3:1\s+DEAD\s+\S+Z\s+(59m\d\ds|1h00m)\s+1\s+0\s+no$/);
    // Aligned: every row's STATE column starts where the header's does.
    const col = lines[0]!.indexOf("STATE");
    for (const l of lines.slice(1, 4)) assert.match(l.slice(col), /^(alive|DEAD)/, l);
    assert.match(
      lines[4]!,
      /^3 node\(s\): 2 alive, 1 dead \(no heartbeat for 6s, NodeDeadAfter\), 1 cordoned$/,
    );
  });

  test("nodes on a database with no node yet say so", async () => {
    const { run, json } = await cluster();
    assert.deepEqual(await json<NodeJson[]>("nodes"), []);
    const r = await run("nodes");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "no node has registered in the cluster database yet\n");
  });

  test("tasks: states, holders, attempts, times and errors; filters; sorted by Close; a summary per state", async () => {
    const { pg, run, json } = await cluster();
    const n1 = await fx.node(pg, "n1", 2);
    const n2 = await fx.node(pg, "n2", 1);
    await deadline(pg, 1000, 5, 100, 3); // close 160
    await deadline(pg, 2000, 3, 80, 2); // close 140: claimed first
    await deadline(pg, 1000, 6, 160, 1); // close 220
    const c1 = await claimTasks(pg, n1, { height: 0 });
    assert.deepEqual(
      c1.tasks.map((t) => [t.miner, t.partition]),
      [
        [2000, 0],
        [2000, 1],
      ],
    );
    await completeTask(pg, n1, c1.tasks[0]!, { proof: new Uint8Array([1, 2, 3]) });
    await failTask(pg, n1, c1.tasks[1]!, { error: "vanilla proof of sector 7 failed: bad sealed file" });
    // A lease no slow machine outlives during the test (the CLI runs below take seconds each under
    // load); the test expires it on purpose further down.
    const c2 = await claimTasks(pg, n2, { height: 0, leaseMs: 600_000 });
    assert.deepEqual(
      c2.tasks.map((t) => [t.miner, t.deadline, t.partition]),
      [[1000, 5, 0]],
    );

    const all = await json<TaskJson[]>("tasks");
    assert.deepEqual(
      all.map((t) => [t.close, t.miner, t.deadline, t.partition, t.state, t.node, t.attempts, t.error]),
      [
        [140, 2000, 3, 0, "done", "n1", 1, null],
        [140, 2000, 3, 1, "failed", "n1", 1, "vanilla proof of sector 7 failed: bad sealed file"],
        [160, 1000, 5, 0, "running", "n2", 1, null],
        [160, 1000, 5, 1, "waiting", null, 0, null],
        [160, 1000, 5, 2, "waiting", null, 0, null],
        [220, 1000, 6, 0, "waiting", null, 0, null],
      ],
    );
    const done = all[0]!;
    assert.equal(done.open, 80);
    for (const t of [done.created, done.started, done.finished])
      assert.match(t ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Date.parse(done.finished!) >= Date.parse(done.started!));
    assert.equal(all[2]!.finished, null);
    assert.equal(all[3]!.started, null);

    for (const m of ["1000", "f01000", "t01000"]) {
      const only = await json<TaskJson[]>("tasks", "--miner", m);
      assert.deepEqual(
        only.map((t) => [t.miner, t.deadline, t.partition]),
        [
          [1000, 5, 0],
          [1000, 5, 1],
          [1000, 5, 2],
          [1000, 6, 0],
        ],
        m,
      );
    }
    const d6 = await json<TaskJson[]>("tasks", "--miner", "f01000", "--deadline", "6");
    assert.deepEqual(
      d6.map((t) => [t.miner, t.deadline, t.partition]),
      [[1000, 6, 0]],
    );
    assert.deepEqual(await json<TaskJson[]>("tasks", "--deadline", "47"), []);
    // --limit keeps the most recent deadlines (highest Open).
    const recent = await json<TaskJson[]>("tasks", "--limit", "2");
    assert.deepEqual(
      recent.map((t) => [t.open, t.partition]),
      [
        [100, 0],
        [160, 0],
      ],
    );

    const table = await run("tasks");
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(
      lines[0]!,
      /^CLOSE\s+MINER\s+DEADLINE\s+PARTITION\s+STATE\s+NODE\s+ATTEMPTS\s+STARTED\s+FINISHED\s+ERROR$/,
    );
    assert.match(lines[1]!, /^140\s+2000\s+3\s+0\s+done\s+n1\s+1\s+\S+Z\s+\S+Z$/);
    assert.match(
      lines[2]!,
      /^140\s+2000\s+3\s+1\s+failed\s+n1\s+1\s+\S+Z\s+\S+Z\s+vanilla proof of sector 7 failed/,
    );
    assert.match(lines[3]!, /^160\s+1000\s+5\s+0\s+running\s+n2\s+1\s+\S+Z\s+-$/);
    assert.match(lines[4]!, /^160\s+1000\s+5\s+1\s+waiting\s+-\s+0\s+-\s+-$/);
    assert.match(lines[6]!, /^220\s+1000\s+6\s+0\s+waiting/);
    assert.deepEqual(lines.slice(7), [
      "waiting 3",
      "running 1 (on n2)",
      "done    1 (on n1)",
      "failed  1 (on n1)",
    ]);

    const limited = await run("tasks", "--limit", "2");
    assert.match(limited.stdout, /only the 2 most recent shown; --limit N shows more\n$/);
    // n2 stops renewing: its task stays running until someone claims it, shown with the lease expired.
    assert.equal(all[2]!.leaseExpired, false);
    await pg.query(
      "UPDATE partition_tasks SET lease_expires_at = now() - INTERVAL '1 second' WHERE holder = 'n2'",
    );
    const stale = await json<TaskJson[]>("tasks", "--miner", "1000", "--deadline", "5");
    assert.deepEqual(
      stale.map((t) => [t.partition, t.state, t.node, t.leaseExpired]),
      [
        [0, "running", "n2", true],
        [1, "waiting", null, false],
        [2, "waiting", null, false],
      ],
    );
    const staleTable = await run("tasks", "--deadline", "5");
    assert.match(staleTable.stdout, /^160\s+1000\s+5\s+0\s+running\s+n2 \(lease expired\)\s+1\s/m);

    const none = await run("tasks", "--miner", "3000");
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, "no partition task matches\n");
  });

  test("cordon: the node takes nothing new until uncordoned; an unknown name lists the known nodes", async () => {
    const { pg, run, json } = await cluster();
    const n1: NodeIdentity = await fx.node(pg, "n1", 2);
    await fx.node(pg, "n2", 2);
    await deadline(pg, 1000, 5, 100, 4);
    assert.equal((await claimTasks(pg, n1, { height: 0, max: 1 })).tasks.length, 1);

    const c = await run("cordon", "n1");
    assert.equal(c.code, 0, c.stderr);
    assert.equal(
      c.stdout,
      "n1 is cordoned: it finishes what it holds (1 task(s) now) and takes nothing new, also after a restart; `vsm util cluster uncordon n1` ends the maintenance\n",
    );
    const nodes = await json<NodeJson[]>("nodes");
    assert.deepEqual(
      nodes.map((n) => [n.name, n.cordoned, n.tasksInFlight]),
      [
        ["n1", true, 1],
        ["n2", false, 0],
      ],
    );
    assert.deepEqual((await claimTasks(pg, n1, { height: 0 })).tasks, []);
    const again = await run("cordon", "n1");
    assert.match(again.stdout, /^n1 is cordoned \(it already was cordoned\): /);

    const u = await run("uncordon", "n1");
    assert.equal(u.code, 0, u.stderr);
    assert.equal(u.stdout, "n1 is uncordoned: it takes new tasks again\n");
    assert.equal((await claimTasks(pg, n1, { height: 0 })).tasks.length, 1);
    assert.equal((await json<NodeJson[]>("nodes"))[0]!.cordoned, false);

    for (const verb of ["cordon", "uncordon"]) {
      const bad = await run(verb, "n9");
      assert.equal(bad.code, 1);
      assert.equal(bad.stdout, "");
      assert.equal(
        bad.stderr,
        'error: no cluster node is registered under the name "n9"; known nodes: n1, n2 (`vsm util cluster nodes` lists them)\n',
      );
    }
  });

  test("refused: a config without the database, an unreachable database, bad flags", async () => {
    const lmdb = await home('[Common.DB]\nDriver = "lmdb"\n');
    for (const args of [["nodes"], ["tasks"], ["cordon", "n1"]]) {
      const r = await cliSplit(["--home", lmdb, "util", "cluster", ...args]);
      assert.equal(r.code, 1);
      noStack(r.stderr);
      assert.match(
        r.stderr,
        /^error: .*sector-manager\.cfg has \[Common\.DB\] Driver = "lmdb"; the cluster commands \(util cluster \.\.\.\) read the database the cluster's nodes share, which needs \[Common\.DB\] Driver = "postgres" and a \[Common\.DB\.Postgres\] DSN/,
      );
    }

    const port = await closedPort();
    const down = await pgHome(`postgres://vsm:s3cret@127.0.0.1:${port}/vsm`);
    for (const args of [["nodes", "--json"], ["tasks"], ["uncordon", "n1"]]) {
      const r = await cliSplit(["--home", down, "util", "cluster", ...args]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, "");
      noStack(r.stderr);
      assert.doesNotMatch(r.stderr, /s3cret/);
      assert.match(
        r.stderr,
        new RegExp(
          `^error: cannot reach the cluster database postgres://vsm:\\*\\*\\*@127\\.0\\.0\\.1:${port}/vsm: .*ECONNREFUSED.*; check that it is running and that \\[Common\\.DB\\.Postgres\\] DSN in .*sector-manager\\.cfg names it\\n$`,
        ),
      );
    }
    // --conf-dir is read instead of the home.
    const viaConf = await cliSplit(["--home", lmdb, "util", "cluster", "nodes", "--conf-dir", down]);
    assert.match(viaConf.stderr, /^error: cannot reach the cluster database postgres:\/\/vsm:\*\*\*@/);

    const flags: [string[], RegExp][] = [
      [
        ["--miner", "f0x1"],
        /^error: --miner "f0x1" is not a miner actor id; write 1000, f01000 or t01000\n$/,
      ],
      [["--miner", "-5"], /^error: --miner "-5" is not a miner actor id/],
      [
        ["--deadline", "-1"],
        /^error: --deadline "-1" is not a deadline index; write a non-negative integer \(0 to 47 on mainnet\)\n$/,
      ],
      [["--deadline", "4.5"], /^error: --deadline "4\.5" is not a deadline index/],
      [["--limit", "0"], /^error: --limit "0" is not a count; write 1 to 100000\n$/],
    ];
    for (const [args, re] of flags) {
      // The flags are refused before the database is tried.
      const r = await cliSplit(["--home", down, "util", "cluster", "tasks", ...args]);
      assert.equal(r.code, 1, args.join(" "));
      assert.match(r.stderr, re);
    }
  });

  test("refused: a database no node has started on (left unchanged), one that does not exist, an older or newer schema", async () => {
    const { dsn, pg, run } = await cluster();
    await pg.query("CREATE DATABASE clicli_empty");
    const emptyDsn = dsn.replace(/\/[^/?]+(\?|$)/, "/clicli_empty$1");
    const empty = await pgHome(emptyDsn);
    const r = await cliSplit(["--home", empty, "util", "cluster", "nodes"]);
    assert.equal(r.code, 1);
    noStack(r.stderr);
    assert.match(
      r.stderr,
      /^error: the cluster database postgres:\/\/postgres@127\.0\.0\.1:\d+\/clicli_empty has no cluster schema: no node has started on this database yet\. Start a node whose config names it/,
    );
    const emptyPg = fx.open(emptyDsn);
    const [t] = await emptyPg.query<{ n: string }>(
      "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = current_schema()",
    );
    assert.equal(Number(t!.n), 0, "the read-only command created tables");

    // A database that does not exist: the server's answer, with the DSN it concerns.
    const missing = await pgHome(dsn.replace(/\/[^/?]+(\?|$)/, "/clicli_nosuch$1"));
    const m = await cliSplit(["--home", missing, "util", "cluster", "tasks", "--json"]);
    assert.equal(m.code, 1);
    assert.equal(m.stdout, "");
    noStack(m.stderr);
    assert.match(
      m.stderr,
      /^error: the cluster database postgres:\/\/postgres@127\.0\.0\.1:\d+\/clicli_nosuch \(\[Common\.DB\.Postgres\] DSN in .*sector-manager\.cfg\): .*database "clicli_nosuch" does not exist/,
    );

    await pg.query("UPDATE vsm_schema SET version = version - 1");
    const old = await run("tasks");
    assert.equal(old.code, 1);
    assert.match(
      old.stderr,
      /^error: the cluster database postgres:\/\/postgres@.* has schema version \d+, older than this build's \(\d+\): its nodes run an older version/,
    );
    await pg.query("UPDATE vsm_schema SET version = version + 2");
    const newer = await run("nodes");
    assert.equal(newer.code, 1);
    assert.match(newer.stderr, /has schema version \d+, newer than this build knows/);
  });
});
