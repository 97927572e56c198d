/**
 * Cluster membership: registration at start, heartbeats, the node list, cordon and capacity.
 *
 * A node registers under its name with a new session UUID at every start. Registering replaces the
 * previous session of that name: its tasks go back to `waiting` at once (recorded as `lost` in the
 * task history), because the previous life of this node is over and nobody else will renew them; its
 * results, if that old process is in fact still running, are refused by fencing. The cordon flag
 * belongs to the name, so it survives a restart: maintenance ends when an operator uncordons.
 */
import { randomUUID } from "node:crypto";
import type { Pg, PgQuery } from "../store/pg/db.js";
import { SmError } from "../util/errors.js";
import "./errors.js";
import { CLUSTER_DEFAULTS, checkCount, checkNode, deadAfterMs, msInterval, num } from "./options.js";
import type { NodeIdentity } from "./types.js";

export interface RegisterInput {
  name: string;
  /** Where operators and other nodes can reach it (`host:port`), for display. */
  address: string;
  /** Partition tasks it may hold at once (the sum of its provers' Concurrent, or its worker threads). */
  capacity: number;
  /** Default a new UUID. A caller that retries a registration whose answer was lost passes the same one. */
  session?: string;
}

export interface NodeInfo {
  name: string;
  address: string;
  session: string;
  capacity: number;
  cordoned: boolean;
  startedAt: Date;
  lastHeartbeat: Date;
  /** Milliseconds since the last heartbeat, on the database's clock. */
  heartbeatAgeMs: number;
  /** Heartbeat younger than the dead-after bound (missedHeartbeats × heartbeatEveryMs). */
  alive: boolean;
  /** Tasks this node's current session holds under an unexpired lease. */
  tasksInFlight: number;
}

/** Registers (or re-registers) a node and returns its identity for this start. */
export async function registerNode(pg: Pg, input: RegisterInput): Promise<NodeIdentity> {
  const session = input.session ?? randomUUID();
  const id = { name: input.name, session };
  checkNode(id);
  checkCount(input.capacity, "capacity");
  await pg.tx(async (q) => {
    await q.query(
      `INSERT INTO cluster_nodes (name, address, session, capacity, cordoned, started_at, last_heartbeat)
       VALUES ($1, $2, $3, $4, FALSE, now(), now())
       ON CONFLICT (name) DO UPDATE SET address = $2, session = $3, capacity = $4,
         started_at = CASE WHEN cluster_nodes.session = $3 THEN cluster_nodes.started_at ELSE now() END,
         last_heartbeat = now()`,
      [input.name, input.address, session, input.capacity],
    );
    await releasePreviousSessions(q, id);
  });
  return id;
}

/** Tasks held by earlier sessions of this name go back to waiting; each lost attempt is recorded. */
async function releasePreviousSessions(q: PgQuery, id: NodeIdentity): Promise<void> {
  const released = await q.query<{
    miner: string;
    open_epoch: string;
    partition_index: number;
    deadline_index: number;
    attempts: number;
    started_at: Date | null;
  }>(
    `UPDATE partition_tasks SET state = 'waiting', lease_expires_at = NULL, updated_at = now()
     WHERE state = 'running' AND holder = $1 AND holder_session <> $2
     RETURNING miner, open_epoch, partition_index, deadline_index, attempts, started_at`,
    [id.name, id.session],
  );
  for (const t of released) {
    await q.query(
      `INSERT INTO task_history (id, miner, open_epoch, partition_index, deadline_index, node, state, attempt, error, started_at, finished_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'lost', $7, $8, $9, now())`,
      [
        randomUUID(),
        t.miner,
        t.open_epoch,
        t.partition_index,
        t.deadline_index,
        id.name,
        t.attempts,
        "the node restarted under the same name while it held this task",
        t.started_at,
      ],
    );
  }
  // Groups and recoveries of the old session become claimable at once too; their CIDs stay recorded.
  await q.query(
    `UPDATE message_groups SET lease_expires_at = now(), updated_at = now()
     WHERE claimed_by = $1 AND claimed_session <> $2 AND state IN ('claimed', 'sent') AND lease_expires_at > now()`,
    [id.name, id.session],
  );
  await q.query(
    `UPDATE recoveries SET lease_expires_at = now(), updated_at = now()
     WHERE declared_by = $1 AND declared_session <> $2 AND state IN ('claimed', 'sent') AND lease_expires_at > now()`,
    [id.name, id.session],
  );
}

/**
 * Why a write naming `node` matched no row: the name is unknown, or its session was replaced.
 * Runs inside the caller's transaction, after the write found nothing.
 */
export async function sessionError(q: PgQuery, node: NodeIdentity): Promise<SmError> {
  const [row] = await q.query<{ session: string }>("SELECT session FROM cluster_nodes WHERE name = $1", [
    node.name,
  ]);
  if (row === undefined) {
    return new SmError("CLUSTER_NODE_UNKNOWN", `no cluster node is registered under the name ${node.name}`, {
      node: node.name,
    });
  }
  return new SmError(
    "CLUSTER_SESSION_STALE",
    `the node ${node.name} was started again (session ${row.session}); this process (session ${node.session}) must stop working for the cluster`,
    { node: node.name, session: node.session, current: row.session },
  );
}

/** Records a heartbeat (database clock). Refused with CLUSTER_SESSION_STALE once the name has a newer session. */
export async function heartbeat(pg: Pg, node: NodeIdentity): Promise<void> {
  checkNode(node);
  await pg.tx(async (q) => {
    const rows = await q.query(
      "UPDATE cluster_nodes SET last_heartbeat = now() WHERE name = $1 AND session = $2 RETURNING name",
      [node.name, node.session],
    );
    if (rows.length === 0) throw await sessionError(q, node);
  });
}

/** Every node, with liveness computed on the database's clock. */
export async function listNodes(pg: Pg, opts: { deadAfterMs?: number } = {}): Promise<NodeInfo[]> {
  const dead = opts.deadAfterMs ?? deadAfterMs(CLUSTER_DEFAULTS);
  const rows = await pg.query<{
    name: string;
    address: string;
    session: string;
    capacity: number;
    cordoned: boolean;
    started_at: Date;
    last_heartbeat: Date;
    age_ms: string;
    alive: boolean;
    in_flight: string;
  }>(
    `SELECT n.name, n.address, n.session, n.capacity, n.cordoned, n.started_at, n.last_heartbeat,
       CAST(EXTRACT(EPOCH FROM (now() - n.last_heartbeat)) * 1000 AS BIGINT) AS age_ms,
       n.last_heartbeat > now() - ${msInterval(1)} AS alive,
       (SELECT count(*) FROM partition_tasks t
         WHERE t.state = 'running' AND t.holder = n.name AND t.holder_session = n.session
           AND t.lease_expires_at > now()) AS in_flight
     FROM cluster_nodes n ORDER BY n.name`,
    [dead],
  );
  return rows.map((r) => ({
    name: r.name,
    address: r.address,
    session: r.session,
    capacity: r.capacity,
    cordoned: r.cordoned,
    startedAt: r.started_at,
    lastHeartbeat: r.last_heartbeat,
    heartbeatAgeMs: Math.max(0, num(r.age_ms)),
    alive: r.alive,
    tasksInFlight: num(r.in_flight),
  }));
}

/**
 * Cordons (true) or uncordons (false) a node by name: a cordoned node keeps and finishes what it
 * holds and claims nothing new. Idempotent. CLUSTER_NODE_UNKNOWN for a name never registered.
 */
export async function setCordoned(pg: Pg, name: string, cordoned: boolean): Promise<void> {
  const rows = await pg.query("UPDATE cluster_nodes SET cordoned = $2 WHERE name = $1 RETURNING name", [
    name,
    cordoned,
  ]);
  if (rows.length === 0) {
    throw new SmError("CLUSTER_NODE_UNKNOWN", `no cluster node is registered under the name ${name}`, {
      node: name,
    });
  }
}

/** Changes how many tasks the node may hold (its provers changed). Only its current session may. */
export async function setCapacity(pg: Pg, node: NodeIdentity, capacity: number): Promise<void> {
  checkNode(node);
  checkCount(capacity, "capacity");
  await pg.tx(async (q) => {
    const rows = await q.query(
      "UPDATE cluster_nodes SET capacity = $3 WHERE name = $1 AND session = $2 RETURNING name",
      [node.name, node.session, capacity],
    );
    if (rows.length === 0) throw await sessionError(q, node);
  });
}
