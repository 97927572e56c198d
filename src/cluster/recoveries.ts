/**
 * Recovery declarations (DeclareFaultsRecovered for deadline + 2): one node declares them per miner
 * and deadline occurrence, with the same shape as message groups (groups.ts): created idempotently,
 * claimed by compare-and-set under a lease, the message CID recorded under a fenced check of that
 * lease before the message is pushed, the result recorded for that CID.
 *
 * The table has no attempt counter, so the fencing token is the claimant's name, session and
 * unexpired lease: the same session claiming again is the same process, whose record is current.
 */
import type { Pg, PgQuery } from "../store/pg/db.js";
import { SmError } from "../util/errors.js";
import "./errors.js";
import { sessionError } from "./nodes.js";
import { CLUSTER_DEFAULTS, checkMs, checkNode, msInterval, num, sessionCurrent } from "./options.js";
import type { NodeIdentity, RecoveryKey } from "./types.js";

export type RecoveryState = "waiting" | "claimed" | "sent" | "landed" | "failed";

export interface ClaimedRecovery extends RecoveryKey {
  deadline: number;
  /** What the creator stored: the sectors to declare (the caller's shape, as JSON). */
  sectors: unknown;
  /** Set when a previous claimant recorded a message: push that one again and await it; never build a new one. */
  msgCid: string | null;
  /** The signed message recorded with `msgCid` (null when the recorder gave none). */
  signedMessage: Buffer | null;
}

/** Creates the recovery of one deadline occurrence unless it exists; true when this call created it. */
export async function createRecovery(
  pg: Pg,
  r: { miner: number; open: number; deadline: number; sectors: unknown },
): Promise<boolean> {
  const rows = await pg.tx((q) =>
    q.query(
      `INSERT INTO recoveries (miner, open_epoch, deadline_index, state, sectors, created_at, updated_at)
       VALUES ($1, $2, $3, 'waiting', $4::TEXT::JSONB, now(), now())
       ON CONFLICT (miner, open_epoch) DO NOTHING RETURNING open_epoch`,
      [r.miner, r.open, r.deadline, JSON.stringify(r.sectors ?? null)],
    ),
  );
  return rows.length > 0;
}

/** Claims the recovery by compare-and-set: of concurrent claimants exactly one gets it, the others null. */
export async function claimRecovery(
  pg: Pg,
  node: NodeIdentity,
  key: RecoveryKey,
  opts: { leaseMs?: number } = {},
): Promise<ClaimedRecovery | null> {
  checkNode(node);
  const leaseMs = checkMs(opts.leaseMs ?? CLUSTER_DEFAULTS.leaseMs, "leaseMs");
  return pg.tx(async (q) => {
    const [me] = await q.query<{ cordoned: boolean }>(
      "SELECT cordoned FROM cluster_nodes WHERE name = $1 AND session = $2",
      [node.name, node.session],
    );
    if (me === undefined) throw await sessionError(q, node);
    if (me.cordoned) return null;
    const [r] = await q.query<{
      miner: string;
      open_epoch: string;
      deadline_index: number;
      sectors: unknown;
      msg_cid: string | null;
      msg_signed: Buffer | null;
    }>(
      `UPDATE recoveries SET declared_by = $3, declared_session = $4, lease_expires_at = now() + ${msInterval(5)},
         state = CASE WHEN state = 'sent' THEN 'sent' ELSE 'claimed' END, updated_at = now()
       WHERE miner = $1 AND open_epoch = $2
         AND (state = 'waiting' OR (state IN ('claimed', 'sent')
           AND (lease_expires_at <= now() OR NOT ${sessionCurrent("declared_by", "declared_session")})))
         AND ${sessionCurrent("$3", "$4")}
       RETURNING miner, open_epoch, deadline_index, sectors, msg_cid, msg_signed`,
      [key.miner, key.open, node.name, node.session, leaseMs],
    );
    if (r === undefined) return null;
    return {
      miner: num(r.miner),
      open: num(r.open_epoch),
      deadline: r.deadline_index,
      sectors: r.sectors,
      msgCid: r.msg_cid,
      signedMessage: r.msg_signed,
    };
  });
}

async function fenceRecovery(
  q: PgQuery,
  node: NodeIdentity,
  key: RecoveryKey,
  what: string,
  accept: (r: {
    state: RecoveryState;
    mine: boolean;
    live: boolean;
    msg_cid: string | null;
  }) => "ok" | "already" | "lost",
): Promise<"ok" | "already"> {
  const [r] = await q.query<{
    state: RecoveryState;
    declared_by: string | null;
    declared_session: string | null;
    live: boolean;
    msg_cid: string | null;
  }>(
    `SELECT state, declared_by, declared_session, msg_cid,
       (lease_expires_at IS NOT NULL AND lease_expires_at > now()
         AND ${sessionCurrent("declared_by", "declared_session")}) AS live
     FROM recoveries WHERE miner = $1 AND open_epoch = $2 FOR UPDATE`,
    [key.miner, key.open],
  );
  const mine = r !== undefined && r.declared_by === node.name && r.declared_session === node.session;
  const verdict =
    r === undefined ? "lost" : accept({ state: r.state, mine, live: r.live, msg_cid: r.msg_cid });
  if (verdict !== "lost") return verdict;
  throw new SmError(
    "CLUSTER_LEASE_LOST",
    `${what} of the recovery of miner ${key.miner} (deadline open ${key.open}) refused: node ${node.name} does not hold its lease (${
      r === undefined ? "no such recovery" : `${r.state}, by ${r.declared_by ?? "nobody"}`
    }); nothing was recorded, and nothing may be sent`,
    { ...key, node: node.name, state: r?.state, holder: r?.declared_by },
  );
}

/** Extends the recovery's lease; CLUSTER_LEASE_LOST once lost. */
export async function renewRecoveryLease(
  pg: Pg,
  node: NodeIdentity,
  key: RecoveryKey,
  opts: { leaseMs?: number; timeoutMs?: number } = {},
): Promise<void> {
  checkNode(node);
  const leaseMs = checkMs(opts.leaseMs ?? CLUSTER_DEFAULTS.leaseMs, "leaseMs");
  await pg.tx(
    async (q) => {
      await fenceRecovery(q, node, key, "the renewal", (r) =>
        r.mine && r.live && (r.state === "claimed" || r.state === "sent") ? "ok" : "lost",
      );
      await q.query(
        `UPDATE recoveries SET lease_expires_at = now() + ${msInterval(3)}, updated_at = now() WHERE miner = $1 AND open_epoch = $2`,
        [key.miner, key.open, leaseMs],
      );
    },
    { timeoutMs: opts.timeoutMs },
  );
}

/**
 * Records the declaration's message CID and signed bytes under a fenced check of the lease, before
 * the message is pushed (as recordGroupMessage).
 */
export async function recordRecoveryMessage(
  pg: Pg,
  node: NodeIdentity,
  key: RecoveryKey,
  msg: { cid: string; signed?: Uint8Array },
): Promise<{ already: boolean }> {
  const cid = msg.cid;
  checkNode(node);
  return pg.tx(async (q) => {
    const v = await fenceRecovery(q, node, key, "the message CID", (r) =>
      r.mine && r.state === "sent" && r.msg_cid === cid
        ? "already"
        : r.mine && r.live && r.state === "claimed"
          ? "ok"
          : "lost",
    );
    if (v === "already") return { already: true };
    await q.query(
      "UPDATE recoveries SET state = 'sent', msg_cid = $3, msg_signed = $4, updated_at = now() WHERE miner = $1 AND open_epoch = $2",
      [key.miner, key.open, cid, msg.signed === undefined ? null : Buffer.from(msg.signed)],
    );
    return { already: false };
  });
}

/** Records the result of the declaration's message (a chain fact, not fenced; only for its CID). */
export async function recordRecoveryResult(
  pg: Pg,
  key: RecoveryKey,
  cid: string,
  result: { exitCode: number },
): Promise<boolean> {
  const landed = result.exitCode === 0;
  const rows = await pg.tx((q) =>
    q.query(
      `UPDATE recoveries SET state = $4, lease_expires_at = NULL, error = $5, updated_at = now()
       WHERE miner = $1 AND open_epoch = $2 AND msg_cid = $3 AND state = 'sent' RETURNING open_epoch`,
      [
        key.miner,
        key.open,
        cid,
        landed ? "landed" : "failed",
        landed ? null : `the recovery message ${cid} failed on chain with exit code ${result.exitCode}`,
      ],
    ),
  );
  return rows.length > 0;
}

/**
 * The holder declared what it found to declare (`declared` sectors, 0 when nothing passed its check
 * or nothing was faulty), or failed with `error`: the recovery ends landed or failed. Fenced; repeating
 * it after a lost answer changes nothing.
 */
export async function finishRecovery(
  pg: Pg,
  node: NodeIdentity,
  key: RecoveryKey,
  outcome: { declared: number; error?: string },
): Promise<void> {
  checkNode(node);
  const state: RecoveryState = outcome.error === undefined ? "landed" : "failed";
  await pg.tx(async (q) => {
    const v = await fenceRecovery(q, node, key, "the result", (r) =>
      r.mine && r.state === state
        ? "already"
        : r.mine && r.live && (r.state === "claimed" || r.state === "sent")
          ? "ok"
          : "lost",
    );
    if (v === "already") return;
    await q.query(
      `UPDATE recoveries SET state = $3, lease_expires_at = NULL, error = $4, sectors = $5::TEXT::JSONB, updated_at = now()
       WHERE miner = $1 AND open_epoch = $2`,
      [key.miner, key.open, state, outcome.error ?? null, JSON.stringify({ declared: outcome.declared })],
    );
  });
}

/** The recovery's state, or null when there is no such row (pruned). */
export async function recoveryState(pg: Pg, key: RecoveryKey): Promise<RecoveryState | null> {
  const [r] = await pg.query<{ state: RecoveryState }>(
    "SELECT state FROM recoveries WHERE miner = $1 AND open_epoch = $2",
    [key.miner, key.open],
  );
  return r?.state ?? null;
}
