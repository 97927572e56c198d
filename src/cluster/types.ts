/**
 * The cluster engine's data types: who a node is, and the lease tokens it records results under.
 *
 * Fencing: a node holds a task (or a message group, or a recovery) under a lease, and every write that
 * ends or extends the work names the lease it holds: node name + session + attempt. The database
 * accepts it only while that lease is the task's current one, has not expired on the database's
 * clock, and its session is still the name's registered one (cluster_nodes.session); otherwise it
 * changes nothing and answers CLUSTER_LEASE_LOST. A node that was frozen, cut off
 * or restarted therefore cannot record anything from its past.
 */

/** A running node: its name in the cluster and the session it started with. */
export interface NodeIdentity {
  /** Unique in the cluster (`daemon run --name`, default `<hostname>:<port>`). */
  readonly name: string;
  /** A new UUID at every start: a restarted node is a new session and takes over nothing of its previous one. */
  readonly session: string;
}

/** Which partition task: the deadline occurrence (miner, open epoch) and the partition index. */
export interface TaskKey {
  readonly miner: number;
  /** The deadline's Open epoch. */
  readonly open: number;
  readonly partition: number;
}

/** The lease a task was claimed under: what complete, fail and renew must name. */
export interface TaskLease extends TaskKey {
  /** The task's attempt number at the claim (1 for the first claim). */
  readonly attempt: number;
}

/** Which message group of a deadline. */
export interface GroupKey {
  readonly miner: number;
  readonly open: number;
  /** 0, 1, 2, ... in the order the groups were formed. */
  readonly group: number;
}

export interface GroupLease extends GroupKey {
  readonly attempt: number;
}

/** Which recovery declaration: one per miner and deadline occurrence (the deadline being recovered). */
export interface RecoveryKey {
  readonly miner: number;
  /** Open epoch of the deadline whose faults are declared recovered (deadline + 2 of the current one). */
  readonly open: number;
}
