/**
 * The cluster's schema, as an ordered list of migrations. Never edit a released migration: add one.
 *
 * The SQL is the subset PostgreSQL, YugabyteDB and CockroachDB all accept (docs/cluster.md, "SQL"):
 * BIGINT, INT, TEXT, BYTEA, BOOLEAN, TIMESTAMPTZ, JSONB, UUID; primary keys, CHECK, plain indexes;
 * `IF NOT EXISTS`. No SERIAL or sequences (CockroachDB's differ, and natural keys are what the
 * cluster looks rows up by), no server-generated ids (ids are made by the node), no advisory locks,
 * no LISTEN/NOTIFY, no triggers, no foreign keys (each row is written by whichever node gets there
 * first; the keys say what belongs together). One statement per string: each is sent on its own.
 *
 * Time: every lease and heartbeat is written and compared with the DATABASE's clock (`now()`), never a
 * node's, so nodes with skewed clocks agree on who holds what.
 */

export interface Migration {
  /** 1, 2, 3, ... with no gap; the database records the highest one applied. */
  version: number;
  name: string;
  statements: readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "cluster: nodes, sector index, partition tasks, proofs, message groups, recoveries, task history",
    statements: [
      // One row per node name. `session` changes at each start of the node, so a restarted node never
      // takes a lease of its previous life for its own.
      `CREATE TABLE IF NOT EXISTS cluster_nodes (
        name TEXT PRIMARY KEY,
        address TEXT NOT NULL,
        session UUID NOT NULL,
        capacity INT NOT NULL DEFAULT 0,
        cordoned BOOLEAN NOT NULL DEFAULT FALSE,
        started_at TIMESTAMPTZ NOT NULL,
        last_heartbeat TIMESTAMPTZ NOT NULL
      )`,
      // Instance names, never paths, as in the embedded index: each node maps names to its own paths.
      `CREATE TABLE IF NOT EXISTS sector_index (
        miner BIGINT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('normal', 'upgrade')),
        number BIGINT NOT NULL,
        sealed_instance TEXT NOT NULL,
        cache_instance TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (miner, kind, number)
      )`,
      // One task per (miner, deadline open epoch, partition): the key makes creation idempotent when
      // several nodes see the deadline at once. `job` is the poster's PartitionJob (JSON). The holder's
      // name and session plus the lease expiry are the fencing token a result is recorded under.
      `CREATE TABLE IF NOT EXISTS partition_tasks (
        miner BIGINT NOT NULL,
        open_epoch BIGINT NOT NULL,
        partition_index INT NOT NULL,
        deadline_index INT NOT NULL,
        close_epoch BIGINT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('waiting', 'running', 'done', 'failed')),
        job JSONB NOT NULL,
        holder TEXT,
        holder_session UUID,
        lease_expires_at TIMESTAMPTZ,
        attempts INT NOT NULL DEFAULT 0,
        error TEXT,
        skipped JSONB,
        faults JSONB,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        PRIMARY KEY (miner, open_epoch, partition_index)
      )`,
      // Claims read waiting (and expired running) tasks earliest Close first.
      "CREATE INDEX IF NOT EXISTS partition_tasks_by_close ON partition_tasks (state, close_epoch)",
      // A finished partition proof survives its prover and is reused until Close.
      `CREATE TABLE IF NOT EXISTS partition_proofs (
        miner BIGINT NOT NULL,
        open_epoch BIGINT NOT NULL,
        partition_index INT NOT NULL,
        deadline_index INT NOT NULL,
        close_epoch BIGINT NOT NULL,
        proof BYTEA NOT NULL,
        skipped JSONB,
        proven_by TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (miner, open_epoch, partition_index)
      )`,
      // One row per message of a deadline (its partitions, at most min(3, MaxPartitionsPerPoStMessage)).
      // Claimed by compare-and-set; the lease is checked again in the transaction that records the CID.
      `CREATE TABLE IF NOT EXISTS message_groups (
        miner BIGINT NOT NULL,
        open_epoch BIGINT NOT NULL,
        group_index INT NOT NULL,
        deadline_index INT NOT NULL,
        close_epoch BIGINT NOT NULL,
        partitions JSONB NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('waiting', 'claimed', 'sent', 'landed', 'failed')),
        claimed_by TEXT,
        claimed_session UUID,
        lease_expires_at TIMESTAMPTZ,
        msg_cid TEXT,
        receipt JSONB,
        attempts INT NOT NULL DEFAULT 0,
        error TEXT,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (miner, open_epoch, group_index)
      )`,
      // Recoveries declared for deadline + 2: one node declares them, under the same kind of lease.
      `CREATE TABLE IF NOT EXISTS recoveries (
        miner BIGINT NOT NULL,
        open_epoch BIGINT NOT NULL,
        deadline_index INT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('waiting', 'claimed', 'sent', 'landed', 'failed')),
        sectors JSONB,
        declared_by TEXT,
        declared_session UUID,
        lease_expires_at TIMESTAMPTZ,
        msg_cid TEXT,
        error TEXT,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (miner, open_epoch)
      )`,
      // One row per finished attempt of a task; pruned by age and count (bounded), ids made by the node.
      `CREATE TABLE IF NOT EXISTS task_history (
        id UUID PRIMARY KEY,
        miner BIGINT NOT NULL,
        open_epoch BIGINT NOT NULL,
        partition_index INT NOT NULL,
        deadline_index INT NOT NULL,
        node TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('done', 'failed', 'lost')),
        attempt INT NOT NULL,
        error TEXT,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ NOT NULL
      )`,
      "CREATE INDEX IF NOT EXISTS task_history_by_time ON task_history (finished_at)",
    ],
  },
  {
    version: 2,
    name: "cluster: the signed message of a group or recovery, so whoever takes it over can push it again",
    statements: [
      // A group's CID is recorded (fenced) before its message is pushed. If the recorder then dies,
      // the node that takes the group over must push that very message (same nonce, same CID: the
      // chain cannot take it twice), not a new one; so the signed bytes are kept with the CID.
      "ALTER TABLE message_groups ADD COLUMN IF NOT EXISTS msg_signed BYTEA",
      "ALTER TABLE recoveries ADD COLUMN IF NOT EXISTS msg_signed BYTEA",
    ],
  },
  {
    version: 3,
    name: "cluster: a group's push intent (the height at which its holder was about to push)",
    statements: [
      // Messages are signed by the chain node (MpoolPushMessage) or the messager, so a CID is known
      // only once the push returns. The holder records, fenced, that it is about to push and at what
      // height; a node that takes the group over without a CID then waits until the chain is past that
      // height by the lost-message margin before it pushes again, so a push that did reach the chain
      // node lands (and is seen on chain) instead of being duplicated.
      "ALTER TABLE message_groups ADD COLUMN IF NOT EXISTS push_height BIGINT",
    ],
  },
];

/** The schema version this build writes and understands. */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
