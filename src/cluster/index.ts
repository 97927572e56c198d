/**
 * The PoSter cluster engine (issue 13): several nodes share every miner's deadlines through one
 * PostgreSQL-compatible database (src/store/pg). A library of short transactions over `Pg`; the
 * daemon drives it (next step of issue 13). docs/cluster.md, "Tasks and leases", describes the state
 * machines and the fencing rule.
 *
 *   nodes.ts       registration (a new session per start), heartbeats, the node list, cordon, capacity
 *   tasks.ts       partition tasks: creation, claims earliest Close first, leases, fenced results, Close
 *   groups.ts      message groups: formation, CAS claims, fenced CID recording, receipts
 *   recoveries.ts  recovery declarations: one declarer per miner and deadline, fenced the same way
 *   taskViews.ts   the task list, stored proofs and attempts, read only
 *   prune.ts       deletion of closed deadlines' rows and of old task history
 *   options.ts     lease and heartbeat defaults, with their reasoning
 *
 * Driving it: member.ts (a node's loop: join, heartbeat, renewals, claims, proving via proveTask.ts,
 * Close expiry), deadline.ts (the Poster's deadline runner on the database: tasks, groups, sending via
 * send.ts), recover.ts (one declarer of recoveries), localLease.ts (a lease on the node's own clock).
 * A call that fails with STORE_DB_UNREACHABLE may have been applied: every write here is safe to
 * repeat, and a node that cannot reach the database loses its leases and must stop sending.
 */
export * from "./errors.js";
export * from "./groups.js";
export * from "./nodes.js";
export * from "./options.js";
export * from "./prune.js";
export * from "./recoveries.js";
export * from "./tasks.js";
export * from "./taskViews.js";
export * from "./types.js";
