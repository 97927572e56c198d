/**
 * `util cluster nodes | tasks | cordon NAME | uncordon NAME`: what the PoSter cluster's nodes recorded
 * in the database of this config (`--home`, or `--conf-dir`), and the cordon switch for maintenance.
 *
 * Decisions (docs/cluster.md, "Operating the cluster"):
 * - These commands never create or migrate the schema (src/cli/database.ts): a database no node has
 *   started on is refused with CLUSTER_DB_EMPTY, so a wrong DSN is noticed instead of listing nothing.
 * - `alive` uses the config's NodeDeadAfter, on the database's clock, as the nodes do.
 * - Tasks are the most recent deadlines' (`--limit`, newest Open first), shown sorted by Close, miner
 *   and partition: the order the cluster proves them in.
 */
import type { Command } from "commander";
import { listNodes, type NodeInfo, setCordoned } from "../../cluster/nodes.js";
import type { TaskState } from "../../cluster/tasks.js";
import { listTasks, type TaskInfo } from "../../cluster/taskViews.js";
import type { Pg } from "../../store/pg/db.js";
import { SmError } from "../../util/errors.js";
import { action, parseMinerArg } from "../context.js";
import { confDirOption, loadDatabaseConfig, openClusterDbForReading, withDsn } from "../database.js";
import { plainTable } from "../format.js";

const NEED = "the cluster commands (util cluster ...) read the database the cluster's nodes share";
const STATES: readonly TaskState[] = ["waiting", "running", "done", "failed"];
/** deadline_index is a 32-bit column; a mainnet proving period has 48 deadlines (0 to 47). */
const MAX_DEADLINE = 2 ** 31 - 1;
const MAX_LIMIT = 100_000;
const ERROR_WIDTH = 60;

/** Opens the cluster database of the command's config, runs `fn`, closes it; failures name the DSN. */
async function withClusterDb<T>(
  cmd: Command,
  opts: Record<string, unknown>,
  command: string,
  fn: (pg: Pg, deadAfterMs: number) => Promise<T>,
): Promise<T> {
  const db = await loadDatabaseConfig(cmd, opts, NEED);
  const pg = await openClusterDbForReading(db, command);
  try {
    return await fn(pg, db.config.Common.DB.Postgres.NodeDeadAfterMs);
  } catch (e) {
    throw withDsn(e, db);
  } finally {
    await pg.close();
  }
}

/** `1m05s`-style age of a heartbeat. */
export function formatAge(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, "0")}h`;
}

/** An ISO time to the second, for tables. */
function shortTime(d: Date | null): string {
  return d === null ? "-" : `${d.toISOString().slice(0, 19)}Z`;
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

function nodeJson(n: NodeInfo) {
  return {
    name: n.name,
    address: n.address,
    alive: n.alive,
    lastHeartbeat: n.lastHeartbeat.toISOString(),
    heartbeatAgeMs: n.heartbeatAgeMs,
    capacity: n.capacity,
    tasksInFlight: n.tasksInFlight,
    cordoned: n.cordoned,
    startedAt: n.startedAt.toISOString(),
    session: n.session,
  };
}

function taskJson(t: TaskInfo) {
  return {
    miner: t.miner,
    deadline: t.deadline,
    partition: t.partition,
    open: t.open,
    close: t.close,
    state: t.state,
    node: t.node,
    attempts: t.attempts,
    created: t.createdAt.toISOString(),
    started: iso(t.startedAt),
    finished: iso(t.finishedAt),
    updated: t.updatedAt.toISOString(),
    leaseExpires: iso(t.leaseExpiresAt),
    leaseExpired: t.leaseExpired,
    error: t.error,
    skipped: t.skipped,
    faults: t.faults,
  };
}

function printNodes(nodes: NodeInfo[], deadAfterMs: number): void {
  if (nodes.length === 0) {
    process.stdout.write("no node has registered in the cluster database yet\n");
    return;
  }
  const t = plainTable([
    "NAME",
    "ADDRESS",
    "STATE",
    "LAST HEARTBEAT",
    "AGE",
    "CAPACITY",
    "IN FLIGHT",
    "CORDONED",
  ]);
  for (const n of nodes)
    t.push([
      n.name,
      n.address,
      n.alive ? "alive" : "DEAD",
      shortTime(n.lastHeartbeat),
      formatAge(n.heartbeatAgeMs),
      String(n.capacity),
      String(n.tasksInFlight),
      n.cordoned ? "yes" : "no",
    ]);
  const dead = nodes.filter((n) => !n.alive).length;
  const cordoned = nodes.filter((n) => n.cordoned).length;
  process.stdout.write(
    `${t.toString()}\n${nodes.length} node(s): ${nodes.length - dead} alive, ${dead} dead (no heartbeat for ${formatAge(deadAfterMs)}, NodeDeadAfter), ${cordoned} cordoned\n`,
  );
}

/** The display order: Close, then miner, then Open, then partition. */
function byClose(a: TaskInfo, b: TaskInfo): number {
  return a.close - b.close || a.miner - b.miner || a.open - b.open || a.partition - b.partition;
}

function printTasks(tasks: TaskInfo[], limited: boolean): void {
  if (tasks.length === 0) {
    process.stdout.write("no partition task matches\n");
    return;
  }
  const t = plainTable([
    "CLOSE",
    "MINER",
    "DEADLINE",
    "PARTITION",
    "STATE",
    "NODE",
    "ATTEMPTS",
    "STARTED",
    "FINISHED",
    "ERROR",
  ]);
  for (const x of tasks) {
    const error = x.error ?? "";
    t.push([
      String(x.close),
      String(x.miner),
      String(x.deadline),
      String(x.partition),
      x.state,
      // Still "running" in the database until another node claims it; say its holder stopped renewing.
      x.leaseExpired ? `${x.node ?? "-"} (lease expired)` : (x.node ?? "-"),
      String(x.attempts),
      shortTime(x.startedAt),
      shortTime(x.finishedAt),
      error.length > ERROR_WIDTH ? `${error.slice(0, ERROR_WIDTH - 3)}...` : error,
    ]);
  }
  const out = [t.toString()];
  for (const state of STATES) {
    const of = tasks.filter((x) => x.state === state);
    if (of.length === 0) continue;
    const nodes = [...new Set(of.map((x) => x.node).filter((n): n is string => n !== null))].sort();
    out.push(
      `${state.padEnd(7)} ${of.length}${nodes.length > 0 ? ` (${state === "waiting" ? "last held by" : "on"} ${nodes.join(", ")})` : ""}`,
    );
  }
  if (limited) out.push(`only the ${tasks.length} most recent shown; --limit N shows more`);
  process.stdout.write(`${out.join("\n")}\n`);
}

function parseDeadline(v: string): number {
  const n = /^\d{1,10}$/.test(v.trim()) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > MAX_DEADLINE)
    throw new SmError(
      "FLAG_INVALID",
      `--deadline ${JSON.stringify(v)} is not a deadline index; write a non-negative integer (0 to 47 on mainnet)`,
    );
  return n;
}

function parseLimit(v: string): number {
  const n = /^\d{1,7}$/.test(v.trim()) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_LIMIT)
    throw new SmError("FLAG_INVALID", `--limit ${JSON.stringify(v)} is not a count; write 1 to ${MAX_LIMIT}`);
  return n;
}

function parseMiner(v: string): number {
  try {
    return parseMinerArg(v);
  } catch {
    throw new SmError(
      "FLAG_INVALID",
      `--miner ${JSON.stringify(v)} is not a miner actor id; write 1000, f01000 or t01000`,
    );
  }
}

async function cordon(cmd: Command, opts: Record<string, unknown>, name: string, on: boolean): Promise<void> {
  const command = on ? "util cluster cordon" : "util cluster uncordon";
  await withClusterDb(cmd, opts, command, async (pg) => {
    const nodes = await listNodes(pg);
    const node = nodes.find((n) => n.name === name);
    if (node === undefined)
      throw new SmError(
        "CLUSTER_NODE_UNKNOWN",
        `no cluster node is registered under the name ${JSON.stringify(name)}; ${nodes.length > 0 ? `known nodes: ${nodes.map((n) => n.name).join(", ")}` : "no node has registered yet"} (\`vsm util cluster nodes\` lists them)`,
        { node: name },
      );
    await setCordoned(pg, name, on);
    const was = node.cordoned === on ? ` (it already was ${on ? "cordoned" : "uncordoned"})` : "";
    process.stdout.write(
      on
        ? `${name} is cordoned${was}: it finishes what it holds (${node.tasksInFlight} task(s) now) and takes nothing new, also after a restart; \`vsm util cluster uncordon ${name}\` ends the maintenance\n`
        : `${name} is uncordoned${was}: it takes new tasks again\n`,
    );
  });
}

export function registerCluster(util: Command): void {
  const cluster = util
    .command("cluster")
    .description(
      'the PoSter cluster on the database of this config ([Common.DB] Driver = "postgres"): nodes, tasks, cordon',
    );

  confDirOption(cluster.command("nodes"))
    .description(
      "every node of the cluster: address, last heartbeat and its age, alive (heartbeat younger than NodeDeadAfter), capacity, tasks in flight, cordoned",
    )
    .option("--json", "print a JSON array (times as ISO strings)", false)
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        await withClusterDb(cmd, opts, "util cluster nodes", async (pg, deadAfterMs) => {
          const nodes = await listNodes(pg, { deadAfterMs });
          if (opts.json) process.stdout.write(`${JSON.stringify(nodes.map(nodeJson), null, 2)}\n`);
          else printNodes(nodes, deadAfterMs);
        });
      }),
    );

  confDirOption(cluster.command("tasks"))
    .description(
      "partition tasks of the most recent deadlines (waiting, running, done, failed): which node holds or held each, attempts, times, error; sorted by Close, miner, partition",
    )
    .option("--miner <miner>", "only this miner (1000, f01000 or t01000)")
    .option("--deadline <n>", "only this deadline index")
    .option("--limit <n>", "at most this many tasks, of the most recent deadlines", "1000")
    .option("--json", "print a JSON array (times as ISO strings)", false)
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        // Flags are checked before the config and the database, so a typo is told as such.
        const miner = typeof opts.miner === "string" ? parseMiner(opts.miner) : undefined;
        const deadline = typeof opts.deadline === "string" ? parseDeadline(opts.deadline) : undefined;
        const limit = parseLimit(String(opts.limit));
        await withClusterDb(cmd, opts, "util cluster tasks", async (pg) => {
          const tasks = (await listTasks(pg, { miner, deadline, limit })).sort(byClose);
          if (opts.json) process.stdout.write(`${JSON.stringify(tasks.map(taskJson), null, 2)}\n`);
          else printTasks(tasks, tasks.length === limit);
        });
      }),
    );

  confDirOption(cluster.command("cordon"))
    .description(
      "maintenance: node NAME finishes what it holds and takes nothing new (kept across its restarts until uncordon)",
    )
    .argument("<name>", "the node's name (`util cluster nodes`)")
    .action(
      action(async (name: string, opts: Record<string, unknown>, cmd: Command) => {
        await cordon(cmd, opts, name, true);
      }),
    );

  confDirOption(cluster.command("uncordon"))
    .description("end the maintenance of node NAME: it takes new tasks again")
    .argument("<name>", "the node's name (`util cluster nodes`)")
    .action(
      action(async (name: string, opts: Record<string, unknown>, cmd: Command) => {
        await cordon(cmd, opts, name, false);
      }),
    );
}
