/**
 * Message groups: how a deadline's proven partitions become SubmitWindowedPoSt messages, each sent by
 * exactly one node.
 *
 * Groups are formed from the proofs stored by completeTask, as the poster forms them today: a group
 * as soon as `perMessage` (min(3, MaxPartitionsPerPoStMessage)) proven partitions are waiting, in the
 * order they were proven, and the remainder once every task of the deadline is done or failed. A
 * group's partitions are listed by index.
 *
 * States: waiting → claimed (compare-and-set, under a lease) → sent (the CID is recorded, fenced) →
 * landed | failed (the receipt). A claimant that dies leaves its lease to expire, after which the
 * group is claimable again: a `claimed` group is sent afresh, a `sent` one keeps its CID, whose
 * receipt the new claimant awaits instead of sending again.
 *
 * Sending safely (for the caller, send.ts): claim; check the chain's PostSubmissions for the deadline;
 * record the push intent (recordGroupPush, fenced: refused once the lease is lost); push, checking the
 * lease on the local clock at the last moment; record the CID (fenced); await and record the receipt.
 * Messages are signed by the chain node or the messager, so the CID exists only after the push; a
 * successor that finds a push intent without a CID waits for that push to land before sending
 * (docs/cluster.md, "Sending under a lease"). `msg_signed` is kept for a node that signs itself.
 */
import type { Pg, PgQuery } from "../store/pg/db.js";
import { SmError } from "../util/errors.js";
import "./errors.js";
import { sessionError } from "./nodes.js";
import { CLUSTER_DEFAULTS, checkMs, checkNode, msInterval, num, sessionCurrent } from "./options.js";
import type { GroupKey, GroupLease, NodeIdentity } from "./types.js";

export type GroupState = "waiting" | "claimed" | "sent" | "landed" | "failed";

export interface GroupInfo extends GroupKey {
  deadline: number;
  close: number;
  partitions: number[];
  state: GroupState;
  claimedBy: string | null;
  msgCid: string | null;
  receipt: unknown;
  attempts: number;
  error: string | null;
  /** Another node may claim it now (waiting, or its claimant's lease expired); listGroups sets it. */
  claimable: boolean;
}

export interface ClaimedGroup extends GroupLease {
  deadline: number;
  close: number;
  /** Partition indexes, ascending. */
  partitions: number[];
  /** Set when a previous claimant recorded a message: push that one again and await it; never build a new one. */
  msgCid: string | null;
  /** The signed message recorded with `msgCid` (null when the recorder gave none). */
  signedMessage: Buffer | null;
  /** The claim took the group over from an expired lease. */
  takeover: boolean;
  /**
   * Height at which a holder last recorded it was about to push (recordGroupPush), null if none
   * did: a message may then be on its way although no CID was recorded.
   */
  pushHeight: number | null;
}

interface GroupRow {
  miner: string;
  open_epoch: string;
  group_index: number;
  deadline_index: number;
  close_epoch: string;
  partitions: number[];
  state: GroupState;
  claimed_by: string | null;
  claimed_session: string | null;
  msg_cid: string | null;
  receipt: unknown;
  attempts: number;
  error: string | null;
  claimable?: boolean;
}

const GROUP_COLUMNS =
  "miner, open_epoch, group_index, deadline_index, close_epoch, partitions, state, claimed_by, claimed_session, msg_cid, receipt, attempts, error";

function info(r: GroupRow): GroupInfo {
  return {
    miner: num(r.miner),
    open: num(r.open_epoch),
    group: r.group_index,
    deadline: r.deadline_index,
    close: num(r.close_epoch),
    partitions: r.partitions,
    state: r.state,
    claimedBy: r.claimed_by,
    msgCid: r.msg_cid,
    receipt: r.receipt,
    attempts: r.attempts,
    error: r.error,
    claimable: r.claimable ?? false,
  };
}

/**
 * Forms the groups that are due for one deadline occurrence (see the header); returns the groups this
 * call created. Any node may call it at any time, concurrently: the transaction is SERIALIZABLE, so two
 * nodes forming groups at once cannot both create one (the loser, told 40001 or 23505, is retried
 * and finds it done).
 */
export async function formGroups(
  pg: Pg,
  d: { miner: number; open: number; perMessage: number },
): Promise<GroupInfo[]> {
  if (!Number.isSafeInteger(d.perMessage) || d.perMessage < 1) {
    throw new SmError("CLUSTER_BAD_INPUT", `partitions per message must be ≥ 1, got ${d.perMessage}`);
  }
  // Two formers may both insert group index n, from different partitions: PostgreSQL reports the
  // loser as 23505 rather than 40001 in some interleavings, and tx retries only the latter. Retrying
  // the whole body re-reads the groups the winner made; DO NOTHING would instead keep both choices.
  for (let attempt = 1; ; attempt++) {
    try {
      return await formGroupsOnce(pg, d);
    } catch (e) {
      if (!(e instanceof SmError && e.fields.sqlstate === "23505" && attempt < FORM_ATTEMPTS)) throw e;
      await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
    }
  }
}

const FORM_ATTEMPTS = 8;

async function formGroupsOnce(
  pg: Pg,
  d: { miner: number; open: number; perMessage: number },
): Promise<GroupInfo[]> {
  return pg.tx(async (q) => {
    const tasks = await q.query<{ state: string; deadline_index: number; close_epoch: string }>(
      "SELECT state, deadline_index, close_epoch FROM partition_tasks WHERE miner = $1 AND open_epoch = $2",
      [d.miner, d.open],
    );
    const proofs = await q.query<{ partition_index: number; deadline_index: number; close_epoch: string }>(
      `SELECT partition_index, deadline_index, close_epoch FROM partition_proofs WHERE miner = $1 AND open_epoch = $2
       ORDER BY created_at, partition_index`,
      [d.miner, d.open],
    );
    const groups = await q.query<{ group_index: number; partitions: number[] }>(
      "SELECT group_index, partitions FROM message_groups WHERE miner = $1 AND open_epoch = $2",
      [d.miner, d.open],
    );
    const grouped = new Set(groups.flatMap((g) => g.partitions));
    const pending = proofs.filter((p) => !grouped.has(p.partition_index));
    const first = proofs[0];
    if (first === undefined) return [];
    const allFinished = tasks.length > 0 && tasks.every((t) => t.state === "done" || t.state === "failed");
    let next = groups.reduce((m, g) => Math.max(m, g.group_index + 1), 0);
    const made: GroupInfo[] = [];
    while (pending.length >= d.perMessage || (allFinished && pending.length > 0)) {
      const partitions = pending
        .splice(0, d.perMessage)
        .map((p) => p.partition_index)
        .sort((a, b) => a - b);
      const [row] = await q.query<GroupRow>(
        `INSERT INTO message_groups (miner, open_epoch, group_index, deadline_index, close_epoch, partitions, state, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6::TEXT::JSONB, 'waiting', now(), now())
         RETURNING ${GROUP_COLUMNS}`,
        [d.miner, d.open, next, first.deadline_index, first.close_epoch, JSON.stringify(partitions)],
      );
      if (row !== undefined) made.push(info(row));
      next++;
    }
    return made;
  });
}

/** The node's session must be current; a cordoned node takes nothing new (false). */
async function mayClaim(q: PgQuery, node: NodeIdentity): Promise<boolean> {
  const [me] = await q.query<{ cordoned: boolean }>(
    "SELECT cordoned FROM cluster_nodes WHERE name = $1 AND session = $2",
    [node.name, node.session],
  );
  if (me === undefined) throw await sessionError(q, node);
  return !me.cordoned;
}

/**
 * A group is claimable when waiting, or when its claimant's lease expired or session was replaced
 * before it landed (the latter as for tasks: see CLAIMABLE_TASK in tasks.ts).
 */
const CLAIMABLE = `(state = 'waiting' OR (state IN ('claimed', 'sent')
  AND (lease_expires_at <= now() OR NOT ${sessionCurrent("claimed_by", "claimed_session")})))`;

async function casGroup(
  q: PgQuery,
  node: NodeIdentity,
  key: GroupKey,
  leaseMs: number,
): Promise<ClaimedGroup | null> {
  // The compare-and-set: only the first of concurrent claimants finds the condition true.
  const [r] = await q.query<GroupRow & { msg_signed: Buffer | null; push_height: string | null }>(
    `UPDATE message_groups SET claimed_by = $4, claimed_session = $5, lease_expires_at = now() + ${msInterval(6)},
       attempts = attempts + 1, state = CASE WHEN state = 'sent' THEN 'sent' ELSE 'claimed' END, updated_at = now()
     WHERE miner = $1 AND open_epoch = $2 AND group_index = $3 AND ${CLAIMABLE} AND ${sessionCurrent("$4", "$5")}
     RETURNING ${GROUP_COLUMNS}, msg_signed, push_height`,
    [key.miner, key.open, key.group, node.name, node.session, leaseMs],
  );
  if (r === undefined) return null;
  return {
    miner: num(r.miner),
    open: num(r.open_epoch),
    group: r.group_index,
    attempt: r.attempts,
    deadline: r.deadline_index,
    close: num(r.close_epoch),
    partitions: r.partitions,
    msgCid: r.msg_cid,
    signedMessage: r.msg_signed,
    // A group never returns to waiting, so an earlier attempt means a lease that expired; this is
    // read from the row the compare-and-set wrote, not from an unlocked read before it.
    takeover: r.attempts > 1,
    pushHeight: r.push_height === null ? null : num(r.push_height),
  };
}

/** Claims one group by compare-and-set: of concurrent claimants exactly one gets it, the others null. */
export async function claimGroup(
  pg: Pg,
  node: NodeIdentity,
  key: GroupKey,
  opts: { leaseMs?: number } = {},
): Promise<ClaimedGroup | null> {
  checkNode(node);
  const leaseMs = checkMs(opts.leaseMs ?? CLUSTER_DEFAULTS.leaseMs, "leaseMs");
  return pg.tx(async (q) => ((await mayClaim(q, node)) ? casGroup(q, node, key, leaseMs) : null));
}

/** Claims the claimable group with the earliest Close still above `height`, if any. */
export async function claimNextGroup(
  pg: Pg,
  node: NodeIdentity,
  opts: { height: number; leaseMs?: number },
): Promise<ClaimedGroup | null> {
  checkNode(node);
  const leaseMs = checkMs(opts.leaseMs ?? CLUSTER_DEFAULTS.leaseMs, "leaseMs");
  // READ COMMITTED with SKIP LOCKED, for the reason given in claimTasks.
  return pg.tx(
    async (q) => {
      if (!(await mayClaim(q, node))) return null;
      const [c] = await q.query<{ miner: string; open_epoch: string; group_index: number }>(
        `SELECT miner, open_epoch, group_index FROM message_groups
         WHERE close_epoch > $1 AND ${CLAIMABLE}
         ORDER BY close_epoch, miner, open_epoch, group_index LIMIT 1 FOR UPDATE SKIP LOCKED`,
        [opts.height],
      );
      if (c === undefined) return null;
      return casGroup(
        q,
        node,
        { miner: num(c.miner), open: num(c.open_epoch), group: c.group_index },
        leaseMs,
      );
    },
    { isolation: "read committed" },
  );
}

/** Locks the group and checks that `node` holds `lease`, unexpired; CLUSTER_LEASE_LOST otherwise. */
async function fenceGroup(
  q: PgQuery,
  node: NodeIdentity,
  lease: GroupLease,
  what: string,
): Promise<GroupRow & { live: boolean; mine: boolean }> {
  const [g] = await q.query<GroupRow & { live: boolean; current: boolean }>(
    `SELECT ${GROUP_COLUMNS}, (lease_expires_at IS NOT NULL AND lease_expires_at > now()) AS live,
       ${sessionCurrent("claimed_by", "claimed_session")} AS current
     FROM message_groups WHERE miner = $1 AND open_epoch = $2 AND group_index = $3 FOR UPDATE`,
    [lease.miner, lease.open, lease.group],
  );
  if (g === undefined) {
    throw new SmError(
      "CLUSTER_LEASE_LOST",
      `${what}: no message group ${lease.group} of miner ${lease.miner}, open ${lease.open}`,
      {
        ...lease,
      },
    );
  }
  const mine =
    g.claimed_by === node.name && g.claimed_session === node.session && g.attempts === lease.attempt;
  // A replaced session holds nothing, however live its lease looks.
  return { ...g, mine, live: g.live && g.current };
}

function lost(
  what: string,
  lease: GroupLease,
  node: NodeIdentity,
  g: GroupRow & { live: boolean; mine: boolean },
): SmError {
  return new SmError(
    "CLUSTER_LEASE_LOST",
    `${what} of message group ${lease.group} of miner ${lease.miner} (deadline open ${lease.open}) refused: ${
      g.mine
        ? g.live
          ? `the group is ${g.state}`
          : "the lease expired"
        : `node ${node.name} no longer holds it (attempt ${g.attempts} by ${g.claimed_by ?? "nobody"})`
    }; nothing was recorded, and nothing may be sent`,
    { ...lease, node: node.name, state: g.state, holder: g.claimed_by },
  );
}

/** Extends the group's lease while its holder sends or awaits the receipt; CLUSTER_LEASE_LOST once lost. */
export async function renewGroupLease(
  pg: Pg,
  node: NodeIdentity,
  lease: GroupLease,
  opts: { leaseMs?: number; timeoutMs?: number } = {},
): Promise<void> {
  checkNode(node);
  const leaseMs = checkMs(opts.leaseMs ?? CLUSTER_DEFAULTS.leaseMs, "leaseMs");
  await pg.tx(
    async (q) => {
      const g = await fenceGroup(q, node, lease, "the renewal");
      if (!(g.mine && g.live && (g.state === "claimed" || g.state === "sent")))
        throw lost("the renewal", lease, node, g);
      await q.query(
        `UPDATE message_groups SET lease_expires_at = now() + ${msInterval(4)}, updated_at = now()
       WHERE miner = $1 AND open_epoch = $2 AND group_index = $3`,
        [lease.miner, lease.open, lease.group, leaseMs],
      );
    },
    { timeoutMs: opts.timeoutMs },
  );
}

/**
 * Records, fenced, that the holder is about to push the group's message at chain height `height`
 * (the engine's flow: claim, check the chain, recordGroupPush, push, recordGroupMessage). Refused with
 * CLUSTER_LEASE_LOST once the lease expired or passed to another node: the holder must then push
 * nothing. Returns how long the lease still runs on the database's clock, which bounds how long the
 * holder may still take to start the push.
 */
export async function recordGroupPush(
  pg: Pg,
  node: NodeIdentity,
  lease: GroupLease,
  push: { height: number },
): Promise<{ leaseLeftMs: number }> {
  checkNode(node);
  return pg.tx(async (q) => {
    const g = await fenceGroup(q, node, lease, "the push");
    if (!(g.mine && g.live && (g.state === "claimed" || g.state === "sent")))
      throw lost("the push", lease, node, g);
    const [r] = await q.query<{ left_ms: string }>(
      `UPDATE message_groups SET push_height = $4, updated_at = now()
       WHERE miner = $1 AND open_epoch = $2 AND group_index = $3
       RETURNING (EXTRACT(EPOCH FROM (lease_expires_at - now())) * 1000)::BIGINT AS left_ms`,
      [lease.miner, lease.open, lease.group, push.height],
    );
    return { leaseLeftMs: Math.max(0, num(r?.left_ms ?? 0)) };
  });
}

/**
 * Records the message CID (and its signed bytes, when the node signs) of a claimed group, checking
 * the claimant's lease again in the same transaction (fencing): refused with CLUSTER_LEASE_LOST,
 * changing nothing, once the lease expired or passed to another node. A holder that sends the group
 * again (its message was lost) records the new CID over the old one. Repeating the call with the same
 * CID after a lost answer succeeds (`already: true`).
 */
export async function recordGroupMessage(
  pg: Pg,
  node: NodeIdentity,
  lease: GroupLease,
  msg: { cid: string; signed?: Uint8Array },
): Promise<{ already: boolean }> {
  const cid = msg.cid;
  checkNode(node);
  return pg.tx(async (q) => {
    const g = await fenceGroup(q, node, lease, "the message CID");
    if (g.mine && g.state === "sent" && g.msg_cid === cid) return { already: true };
    if (!(g.mine && g.live && (g.state === "claimed" || g.state === "sent")))
      throw lost("the message CID", lease, node, g);
    await q.query(
      `UPDATE message_groups SET state = 'sent', msg_cid = $4, msg_signed = $5, updated_at = now()
       WHERE miner = $1 AND open_epoch = $2 AND group_index = $3`,
      [lease.miner, lease.open, lease.group, cid, msg.signed === undefined ? null : Buffer.from(msg.signed)],
    );
    return { already: false };
  });
}

/**
 * Records the receipt of the group's message: landed when `exitCode` is 0, else failed. Not fenced: a
 * receipt is a fact about the CID on chain, true whoever reads it; it is recorded only for the CID the
 * group was sent with. Returns whether this call changed the group (false when already recorded).
 */
export async function recordGroupReceipt(
  pg: Pg,
  key: GroupKey,
  cid: string,
  receipt: { exitCode: number; height: number; [k: string]: unknown },
): Promise<boolean> {
  const landed = receipt.exitCode === 0;
  const rows = await pg.tx((q) =>
    q.query(
      `UPDATE message_groups SET state = $5, receipt = $6::TEXT::JSONB, lease_expires_at = NULL,
         error = $7, updated_at = now()
       WHERE miner = $1 AND open_epoch = $2 AND group_index = $3 AND msg_cid = $4 AND state = 'sent'
       RETURNING group_index`,
      [
        key.miner,
        key.open,
        key.group,
        cid,
        landed ? "landed" : "failed",
        JSON.stringify(receipt),
        landed ? null : `the message ${cid} failed on chain with exit code ${receipt.exitCode}`,
      ],
    ),
  );
  return rows.length > 0;
}

/**
 * The group's partitions are proven on chain already, although its holder has no receipt for them (an
 * earlier holder's push landed before its CID was recorded, or another PoSter proved them): the group
 * ends landed, with the receipt saying so. Fenced like recordGroupMessage.
 */
export async function recordGroupOnChain(
  pg: Pg,
  node: NodeIdentity,
  lease: GroupLease,
  height: number,
): Promise<void> {
  checkNode(node);
  await pg.tx(async (q) => {
    const g = await fenceGroup(q, node, lease, "the on-chain record");
    if (g.mine && g.state === "landed") return;
    if (!(g.mine && g.live && (g.state === "claimed" || g.state === "sent")))
      throw lost("the on-chain record", lease, node, g);
    await q.query(
      `UPDATE message_groups SET state = 'landed', receipt = $4::TEXT::JSONB, lease_expires_at = NULL,
         error = NULL, updated_at = now()
       WHERE miner = $1 AND open_epoch = $2 AND group_index = $3`,
      [lease.miner, lease.open, lease.group, JSON.stringify({ onChain: true, height })],
    );
  });
}

/** Groups not yet sent whose Close is at or below `height` become failed with the reason. */
export async function expireGroupsAtClose(pg: Pg, height: number): Promise<GroupKey[]> {
  const rows = await pg.tx((q) =>
    q.query<{ miner: string; open_epoch: string; group_index: number }>(
      `UPDATE message_groups SET state = 'failed', lease_expires_at = NULL, updated_at = now(),
         error = $2
       WHERE state IN ('waiting', 'claimed') AND close_epoch <= $1::BIGINT
       RETURNING miner, open_epoch, group_index`,
      [height, `the deadline closed (chain height ${height}) before this group's message was sent`],
    ),
  );
  return rows.map((r) => ({ miner: num(r.miner), open: num(r.open_epoch), group: r.group_index }));
}

/** A deadline occurrence's groups, in order. */
export async function listGroups(pg: Pg, miner: number, open: number): Promise<GroupInfo[]> {
  const rows = await pg.query<GroupRow>(
    `SELECT ${GROUP_COLUMNS}, ${CLAIMABLE} AS claimable FROM message_groups
     WHERE miner = $1 AND open_epoch = $2 ORDER BY group_index`,
    [miner, open],
  );
  return rows.map(info);
}
