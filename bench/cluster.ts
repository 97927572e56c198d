/**
 * Issue 13 benchmark: the PoSter cluster on a devnet and a throwaway PostgreSQL, N PoSter nodes × K
 * ext-prover children of fixed proving time T (test/fixtures/fixedTimeProcessor.mjs: real proofs
 * behind a fixed delay, verified by the devnet), one miner whose deadline has P partitions.
 *
 *  1. makespan: first claim to last partition done, from the database's task times (started_at of
 *     the first claim, finished_at of the last completion), against the bound
 *     max(⌈P/(N·K)⌉·T, T); goal ≤ 1.10×. Measured on the first occurrence of the deadline (every
 *     ext-prover child proves for the first time: processes cold on a small machine) and on the next;
 *  2. DB round trips: the server logs every statement (log_statement = all, with the application
 *     name), and the statements of the nodes (application `vsm …`; the bench's own queries are left
 *     out) are counted from the deadline's first task created to its last message group landed, per
 *     partition, split into work (tasks, proofs, history, sector lookups, groups, messages) and
 *     polling (what every node runs on each head or timer whatever the work: Close expiry, claim
 *     rounds that find nothing, heartbeats, pruning; it scales with heads × nodes, so with the devnet's 5 heads a second
 *     it dominates, and on mainnet's one head per 30 s it does not), BEGIN and COMMIT counted with
 *     their transaction.
 *     Each logged statement is one exchange with the server; pg_stat_statements is not needed;
 *  3. takeover: on a later occurrence a node is SIGKILLed as soon as it holds a task; printed are
 *     the time from the kill to the expiry of its lease on the database (its last renewal plus the
 *     lease) and to the first re-run of one of its tasks by another node (the new attempt's started_at);
 *     goal ≤ 10 s. With the default lease (8 s), then with every node restarted on a short one (3 s).
 *     The re-run also waits for a free prover: the other nodes may still be busy when the lease expires.
 *
 * Run: npm run bench:cluster [-- --nodes 3 --children 2 --ms 2000 --partitions 12] (about 3½ minutes
 * on 2 cores: the deadline comes round once per 36 s proving period; five occurrences plus set-up).
 * `--keep-log FILE` keeps the server's statement log.
 */
import fs from "node:fs";
import path from "node:path";
import type { DeadlineInfo } from "../src/chain/interface.js";
import { homePaths } from "../src/daemon/home.js";
import { provingPeriod } from "../src/devnet/policy.js";
import { ClusterStack, FAST_LEASES } from "../test/helpers/clusterStack.js";
import { type PgServer, startPg } from "../test/helpers/pgServer.js";
import { fixedTimeWdPostBlocks } from "../test/helpers/posterStack.js";
import { tempDir } from "../test/helpers/tmp.js";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg("nodes", 3);
const K = arg("children", 2);
const T = arg("ms", 2000);
const P = arg("partitions", 12);
const BLOCK_MS = 200;
const MINER = 1000;
const BOUND = Math.max(Math.ceil(P / (N * K)) * T, T);
/** The documented defaults (src/cluster/options.ts), written out so the first run uses exactly them. */
const DEFAULT_LEASES = {
  LeaseTimeout: "8s",
  LeaseRenewInterval: "2s",
  HeartbeatInterval: "2s",
  NodeDeadAfter: "6s",
};
// Challenge to Close (lookback + window) must hold a takeover after the default lease plus the rest of
// the proving and the messages: 95 epochs of 200 ms = 19 s for the default 2 s × 12 on 3 × 2.
const WINDOW = Math.max(50, Math.ceil((BOUND * 2 + 8000 + 2 * T + 4000) / 2 / BLOCK_MS));
const POLICY = { deadlines: 3, window: WINDOW, lookback: WINDOW - 5, cutoff: WINDOW - 4 };
const NAMES = Array.from({ length: N }, (_, i) => `n${i + 1}`);

/** `control` only until its transaction is known (statements()); an unfinished one stays `control`. */
type Kind = "control" | "polling" | "work";

interface Statement {
  t: number;
  app: string;
  kind: Kind;
}

/**
 * What a statement is for. `control`: BEGIN, COMMIT, ROLLBACK (then given their transaction's kind). `polling`: what a node runs on every
 * head or timer whatever the work (Close expiry of tasks and groups, its capacity before a claim,
 * heartbeats, cordon reads, claim rounds that find nothing, pruning): it scales with heads × nodes,
 * not with partitions. `work`:
 * the rest (creating, claiming, renewing and completing tasks, proofs, history, sector lookups,
 * groups, messages, recoveries).
 */
const POLLING = [
  /state IN \('waiting', 'running'\) AND close_epoch <=/,
  /UPDATE message_groups SET state = 'failed'[\s\S]*close_epoch <=/,
  /SELECT n\.capacity, n\.cordoned/,
  // A claim round's candidate read: run on every head while a node has free capacity, whether or
  // not there is anything to claim. A round that claims something is work by its UPDATE.
  /FOR UPDATE SKIP LOCKED/,
  /UPDATE cluster_nodes SET last_heartbeat/,
  /SELECT cordoned FROM cluster_nodes/,
  /^\s*DELETE FROM/,
];
function kindOf(text: string): Kind {
  if (/^\s*(begin|commit|rollback)\b/i.test(text)) return "control";
  return POLLING.some((re) => re.test(text)) ? "polling" : "work";
}

/**
 * The nodes' statements in the server log (`%m|%a|%p|` prefix, UTC; continuation lines start with a
 * tab). BEGIN and COMMIT (or ROLLBACK) take the kind of their transaction, told by backend pid: work
 * if any statement in it is work, else polling.
 */
function statements(logFile: string): Statement[] {
  const out: Statement[] = [];
  const re =
    /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) UTC\|([^|]*)\|(\d+)\|LOG: {2}(?:statement|execute [^:]*): ?(.*)$/;
  const open = new Map<string, Statement[]>();
  let cur: { t: number; app: string; pid: string; text: string } | undefined;
  const flush = () => {
    const e = cur;
    cur = undefined;
    if (!e?.app.startsWith("vsm")) return;
    const st: Statement = { t: e.t, app: e.app, kind: kindOf(e.text) };
    out.push(st);
    const tx = open.get(e.pid);
    if (/^\s*begin\b/i.test(e.text)) open.set(e.pid, [st]);
    else if (tx) {
      tx.push(st);
      if (st.kind === "control") {
        const kind: Kind = tx.some((x) => x.kind === "work") ? "work" : "polling";
        for (const x of tx) if (x.kind === "control") x.kind = kind;
        open.delete(e.pid);
      }
    }
  };
  for (const line of fs.readFileSync(logFile, "utf8").split("\n")) {
    if (line.startsWith("\t")) {
      if (cur) cur.text += `\n${line}`;
      continue;
    }
    flush();
    const m = re.exec(line);
    if (m) cur = { t: Date.parse(`${m[1]}T${m[2]}Z`), app: m[3] ?? "", pid: m[4] ?? "", text: m[5] ?? "" };
  }
  flush();
  return out;
}

const count = (s: Statement[], from: number, to: number, kind?: Kind) =>
  s.filter((x) => x.t >= from && x.t <= to && (kind === undefined || x.kind === kind)).length;

interface Makespan {
  open: number;
  makespanMs: number;
  ratio: number;
  nodes: number;
  /** Statements from the first task created to the last group landed, all, and by kind. */
  deadlineStatements: Record<Kind | "all", number>;
  deadlineMs: number;
  /** Statements a second over 5 s after the deadline closed, when no task exists. */
  idlePerSec: number;
  /** Per partition: node, claim and completion in ms after the first claim. */
  timeline: { partition: number; node: string; claimMs: number; doneMs: number }[];
}

async function measureMakespan(c: ClusterStack, pg: PgServer, d: DeadlineInfo): Promise<Makespan> {
  const s = c.stack;
  const rec = await s.waitForRecord(MINER, d.open, (d.close - (await s.epoch())) * BLOCK_MS * 3 + 30_000);
  if (rec.missed.length > 0 || rec.proven.length !== P || rec.rejections.length > 0)
    throw new Error(`deadline at ${d.open} not fully proven: ${JSON.stringify(rec)}`);
  const [t] = await c.sql<{ created: Date; first: Date; last: Date; nodes: number }[]>`
    SELECT min(created_at) AS created, min(started_at) AS first, max(finished_at) AS last,
      count(DISTINCT holder)::INT AS nodes
    FROM partition_tasks WHERE miner = ${MINER} AND open_epoch = ${d.open} AND state = 'done'`;
  const [g] = await c.sql<{ landed: Date | null }[]>`
    SELECT max(updated_at) AS landed FROM message_groups WHERE miner = ${MINER} AND open_epoch = ${d.open}`;
  if (!t || !g?.landed) throw new Error(`deadline at ${d.open}: no task or group rows`);
  const created = t.created.getTime();
  // The idle rate: the seconds right after the deadline closed, when no task exists (the deadline's
  // rows are done, the next occurrence is not challenged yet) and nothing else writes.
  const idleFrom = Date.now() + 500;
  const idleTo = idleFrom + 5000;
  await new Promise((r) => setTimeout(r, idleTo - Date.now() + 1000));
  const st = statements(path.join(pg.dir, "server.log"));
  const makespan = t.last.getTime() - t.first.getTime();
  const rows = await c.sql<
    { partition_index: number; holder: string; started_at: Date; finished_at: Date }[]
  >`
    SELECT partition_index, holder, started_at, finished_at FROM partition_tasks
    WHERE miner = ${MINER} AND open_epoch = ${d.open} ORDER BY started_at, partition_index`;
  const timeline = rows.map((r) => ({
    partition: r.partition_index,
    node: r.holder,
    claimMs: r.started_at.getTime() - t.first.getTime(),
    doneMs: r.finished_at.getTime() - t.first.getTime(),
  }));
  return {
    timeline,
    open: d.open,
    makespanMs: makespan,
    ratio: makespan / BOUND,
    nodes: t.nodes,
    deadlineStatements: {
      all: count(st, created, g.landed.getTime()),
      control: count(st, created, g.landed.getTime(), "control"),
      polling: count(st, created, g.landed.getTime(), "polling"),
      work: count(st, created, g.landed.getTime(), "work"),
    },
    deadlineMs: g.landed.getTime() - created,
    idlePerSec: (count(st, idleFrom, idleTo) * 1000) / (idleTo - idleFrom),
  };
}

interface Takeover {
  lease: string;
  victim: string;
  held: number[];
  expiryMs: number;
  rerunMs: number;
  by: string;
  proven: boolean;
}

async function measureTakeover(c: ClusterStack, d: DeadlineInfo, lease: string): Promise<Takeover> {
  const s = c.stack;
  const until = Date.now() + (d.close - (await s.epoch())) * BLOCK_MS * 2;
  let victim: string | undefined;
  while (!victim) {
    if (Date.now() > until) throw new Error(`deadline at ${d.open}: no task was claimed`);
    const running = (await c.tasks(MINER, d.open)).find((x) => x.state === "running" && x.holder);
    if (running?.holder) victim = running.holder;
    else await new Promise((r) => setTimeout(r, 20));
  }
  const killedAt = Date.now();
  const proc = c.nodes.get(victim);
  proc?.kill("SIGKILL");
  await proc?.exited;
  // Dead, the victim renews nothing more: what it holds now, and its leases, stay as they are.
  const held = await c.sql<{ partition_index: number; lease_expires_at: Date }[]>`
    SELECT partition_index, lease_expires_at FROM partition_tasks
    WHERE miner = ${MINER} AND open_epoch = ${d.open} AND state = 'running' AND holder = ${victim}`;
  if (held.length === 0) throw new Error(`${victim} held nothing when killed (its task finished meanwhile)`);
  const parts = held.map((h) => h.partition_index);
  const expiry = Math.min(...held.map((h) => h.lease_expires_at.getTime()));
  let rerun: { at: number; by: string } | undefined;
  while (!rerun) {
    if (Date.now() - killedAt > 60_000) throw new Error(`${victim}'s tasks were not taken over within 60 s`);
    const rows = await c.sql<{ started_at: Date; holder: string }[]>`
      SELECT started_at, holder FROM partition_tasks
      WHERE miner = ${MINER} AND open_epoch = ${d.open} AND partition_index IN ${c.sql(parts)}
        AND holder IS NOT NULL AND holder <> ${victim} AND attempts >= 2
      ORDER BY started_at LIMIT 1`;
    const r = rows[0];
    if (r) rerun = { at: r.started_at.getTime(), by: r.holder };
    else await new Promise((res) => setTimeout(res, 50));
  }
  const rec = await s.waitForRecord(MINER, d.open, (d.close - (await s.epoch())) * BLOCK_MS * 3 + 30_000);
  return {
    lease,
    victim,
    held: parts,
    expiryMs: expiry - killedAt,
    rerunMs: rerun.at - killedAt,
    by: rerun.by,
    proven: rec.missed.length === 0 && rec.rejections.length === 0 && rec.proven.length === P,
  };
}

async function main() {
  const { dir, cleanup } = await tempDir("vsm-bench-cluster-");
  const pg = await startPg();
  let c: ClusterStack | undefined;
  const makespans: Makespan[] = [];
  const takeovers: Takeover[] = [];
  try {
    // Every statement in the log with its time and the client's application name (`vsm NAME`).
    for (const set of ["log_statement = 'all'", "log_line_prefix = '%m|%a|%p|'", "log_timezone = 'UTC'"])
      pg.psql("postgres", `ALTER SYSTEM SET ${set}`);
    pg.psql("postgres", "SELECT pg_reload_conf()");
    c = new ClusterStack({
      dir,
      dsn: await pg.createDatabase("bench"),
      blockTimeMs: BLOCK_MS,
      policy: POLICY,
      miners: [{ actor: MINER, challengeConfidence: 1, submitConfidence: 1 }],
      extProverCfg: fixedTimeWdPostBlocks(K, { delayMs: T }),
      leases: DEFAULT_LEASES,
    });
    await c.start(NAMES);
    const s = c.stack;
    // With 3 deadlines exactly one is mutable at a time: every sector lands in it.
    const from = (await s.epoch()) + 1;
    const at = Math.min(...[0, 1, 2].map((i) => s.onboardingEpoch(MINER, i, from, 40)));
    await s.waitForEpoch(at, 120_000);
    const placed = [...(await s.seal(MINER, 2 * P))];
    if (placed.length !== 1) throw new Error(`sectors spread over deadlines ${placed.join(", ")}`);
    await s.attach();
    const period = provingPeriod(s.policy);
    const first = s.nextDeadline(MINER, placed[0] ?? 0, await s.epoch());
    const nth = (k: number): DeadlineInfo => ({
      ...first,
      open: first.open + k * period,
      close: first.close + k * period,
      challenge: first.challenge + k * period,
    });
    process.stderr.write(`deadline ${first.index}: measuring the makespan at open ${first.open}\n`);
    makespans.push(await measureMakespan(c, pg, nth(0)));
    process.stderr.write(`measuring the makespan again at open ${nth(1).open} (provers warm)\n`);
    makespans.push(await measureMakespan(c, pg, nth(1)));
    process.stderr.write(`killing a node at open ${nth(2).open} (lease ${DEFAULT_LEASES.LeaseTimeout})\n`);
    takeovers.push(await measureTakeover(c, nth(2), DEFAULT_LEASES.LeaseTimeout));

    // The short lease: every node restarted on the edited shared config (the dead one comes back).
    const cfgFile = homePaths(s.srcHome).sectorManagerCfg;
    let cfg = fs.readFileSync(cfgFile, "utf8");
    for (const [k, v] of Object.entries(FAST_LEASES)) {
      const was = `${k} = "${DEFAULT_LEASES[k as keyof typeof DEFAULT_LEASES]}"`;
      if (!cfg.includes(was)) throw new Error(`${cfgFile} has no line ${was}`);
      cfg = cfg.replace(was, `${k} = "${v}"`);
    }
    fs.writeFileSync(cfgFile, cfg);
    await Promise.all(NAMES.map((n) => c?.nodes.get(n)?.stop(10_000)));
    for (const n of NAMES) await c.startNode(n);
    const now = await s.epoch();
    let k = 3;
    while (nth(k).challenge <= now + 2) k++;
    process.stderr.write(`killing a node at open ${nth(k).open} (lease ${FAST_LEASES.LeaseTimeout})\n`);
    takeovers.push(await measureTakeover(c, nth(k), FAST_LEASES.LeaseTimeout));
  } finally {
    await c?.stop();
    const keep = process.argv.indexOf("--keep-log");
    if (keep > 0 && process.argv[keep + 1])
      fs.copyFileSync(path.join(pg.dir, "server.log"), process.argv[keep + 1] ?? "");
    await pg.destroy();
    await cleanup();
  }

  const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(
    `PoSter cluster: ${N} nodes × ${K} children of ${T} ms, ${P} partitions (devnet, ${BLOCK_MS} ms blocks, real proofs behind a fixed delay)`,
  );
  for (const [i, m] of makespans.entries()) {
    const label = i === 0 ? "first deadline, provers cold" : "next occurrence, provers warm";
    console.log(
      `  makespan, ${label} (first claim → last partition done, database times): ${sec(m.makespanMs)} vs bound max(⌈P/(N·K)⌉·T, T) = ${sec(BOUND)}: ${m.ratio.toFixed(3)}× (goal ≤ 1.10: ${m.ratio <= 1.1 ? "met" : "NOT met"}); partitions proven by ${m.nodes} nodes`,
    );
    console.log(
      `    per partition (claim → done, s after the first claim): ${m.timeline.map((x) => `p${x.partition} ${x.node} ${(x.claimMs / 1000).toFixed(2)}→${(x.doneMs / 1000).toFixed(2)}`).join("; ")}`,
    );
    const d = m.deadlineStatements;
    const perP = (n: number) => (n / P).toFixed(1);
    const heads = m.deadlineMs / BLOCK_MS;
    console.log(
      `    DB round trips (statements the ${N + 1} nodes sent, one exchange each, from the first task created to the last group landed, ${sec(m.deadlineMs)}): ${perP(d.all)} per partition = ${perP(d.work)} work (tasks, proofs, history, sector lookups, groups, messages; BEGIN/COMMIT of their transactions included) + ${perP(d.polling)} polling${d.control > 0 ? ` + ${perP(d.control)} BEGIN/COMMIT of transactions cut by the window` : ""}; polling is per head and timer, not per partition: ${(d.polling / heads / (N + 1)).toFixed(1)} per head per node at ${1000 / BLOCK_MS} heads/s; idle, ${m.idlePerSec.toFixed(0)} statements/s in all`,
    );
  }
  for (const x of takeovers) {
    console.log(
      `  takeover, lease ${x.lease}: ${x.victim} SIGKILLed holding partition(s) ${x.held.join(",")}; its lease expired ${sec(x.expiryMs)} after the kill, first re-run by ${x.by} ${sec(x.rerunMs)} after it (goal ≤ 10 s: ${x.rerunMs <= 10_000 ? "met" : "NOT met"}); deadline ${x.proven ? "proven" : "NOT fully proven"}`,
    );
  }
  console.log(
    JSON.stringify({
      bench: "cluster",
      nodes: N,
      children: K,
      ms: T,
      partitions: P,
      blockMs: BLOCK_MS,
      boundMs: BOUND,
      makespans,
      takeovers,
    }),
  );
}

await main();
