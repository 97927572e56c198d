/**
 * One message group of a deadline, sent by the node that claimed it, under its lease (groups.ts):
 *
 *  1. its partitions' proofs, as recorded by whichever nodes proved them;
 *  2. a message recorded by an earlier holder is awaited, not sent again; a push an earlier holder
 *     was about to make (push_height recorded, no CID) is given LOST_AFTER_EPOCHS to land first;
 *  3. the chain's PostSubmissions: partitions proven meanwhile are left out, and a group with none
 *     left ends landed;
 *  4. recordGroupPush (fenced: refused once the lease is lost), then the push, which checks the lease
 *     on the local clock at the last moment (PushOptions.beforeSend) — so a node resumed after a
 *     freeze or a partition sends nothing: the database and its own clock both say it no longer
 *     holds the group;
 *  5. the CID recorded (fenced), the receipt awaited and recorded; a message the chain node lost is
 *     sent again once the chain is LOST_AFTER_EPOCHS past its push, as the single-node submitter does.
 *
 * Messages are signed by the chain node (MpoolPushMessage) or the messager, never by this node, so a
 * CID exists only after the push: hence the push intent. Through a venus-messager the push also
 * carries an id derived from the group (PushOptions.id), which the messager keeps one message for.
 */
import { createHash } from "node:crypto";
import type { Logger } from "../log/logger.js";
import type { ProvenPartition } from "../poster/batch.js";
import { type DeadlineReads, readPosted } from "../poster/load.js";
import { decodeSavedProof } from "../poster/proofStore.js";
import { retryTransient } from "../poster/retry.js";
import {
  LOST_AFTER_EPOCHS,
  type MessageInput,
  pushRetryable,
  type SubmitChain,
  windowPostMessage,
} from "../poster/submit.js";
import type { LandedMessage } from "../poster/types.js";
import type { Pg } from "../store/pg/db.js";
import { errorMessage, SmError } from "../util/errors.js";
import { linkSignals } from "../util/signal.js";
import { sleep } from "../util/time.js";
import {
  type ClaimedGroup,
  recordGroupMessage,
  recordGroupOnChain,
  recordGroupPush,
  recordGroupReceipt,
} from "./groups.js";
import type { LocalLease } from "./localLease.js";
import type { ClusterMember } from "./member.js";
import { deadlineProofs } from "./taskViews.js";
import type { GroupLease } from "./types.js";

export interface GroupSendInput {
  pg: Pg;
  member: ClusterMember;
  /** The deadline's chain reads (PostSubmissions at the head). */
  reads: DeadlineReads;
  message: MessageInput;
  /** The challenge seed of this run: a recorded proof answering another one is never sent. */
  seed: Uint8Array;
  /** [Miners.PoSt] Confidence. */
  confidence: number;
  log: Logger;
  /** What happened, for the run's result. */
  report: {
    pushed(partitions: number[], cid: string): void;
    landed(m: LandedMessage): void;
  };
}

/** The id a messager deduplicates pushes by: the same for every node sending these partitions of this group. */
export function groupMessageId(g: GroupLease, partitions: readonly number[]): string {
  const h = createHash("sha256")
    .update(`vsm-wdpost/${g.miner}/${g.open}/${g.group}/${partitions.join(",")}`)
    .digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Sends one claimed group until its message lands, it is found proven on chain, or the lease or the
 * run ends. `claimedAt` is performance.now() when the claim was sent (the local lease starts there).
 */
export async function sendGroup(
  claimed: ClaimedGroup,
  claimedAt: number,
  input: GroupSendInput,
): Promise<void> {
  const { pg, member } = input;
  const glease: GroupLease = {
    miner: claimed.miner,
    open: claimed.open,
    group: claimed.group,
    attempt: claimed.attempt,
  };
  const lease = member.holdGroup(glease, await member.groupLeaseStart(glease, claimedAt));
  const linked = linkSignals([input.reads.signal, lease.signal]);
  const signal = linked.signal;
  const log = input.log.with({
    group: claimed.group,
    partitions: claimed.partitions,
    attempt: claimed.attempt,
  });
  if (claimed.takeover) log.info("took over a message group from a node whose lease expired");
  const db = <T>(what: string, fn: () => Promise<T>) => retryTransient(what, fn, signal, log);
  const reads: DeadlineReads = { ...input.reads, signal };
  const msgInput: MessageInput = { ...input.message, signal };
  const wait: Waits = { chain: input.message.chain, retry: reads.retry, signal, log };
  try {
    const proofs = await groupProofs(pg, claimed, input.seed);
    let cid = claimed.msgCid;
    let pushedAt = claimed.pushHeight;
    if (cid === null && pushedAt !== null) {
      log.info("an earlier holder was about to push this group; waiting to see whether its message lands", {
        push_height: pushedAt,
        until: pushedAt + LOST_AFTER_EPOCHS,
      });
      await untilHeight(wait, pushedAt + LOST_AFTER_EPOCHS);
    }
    for (;;) {
      if (cid !== null) {
        const landed = await waitLanded(cid, pushedAt, wait, input.confidence);
        if (landed) {
          await db("recording the receipt", () => recordGroupReceipt(pg, glease, cid as string, landed));
          input.report.landed({
            partitions: claimed.partitions,
            cid,
            exitCode: landed.exitCode,
            gasUsed: landed.gasUsed,
            height: landed.height,
          });
          if (landed.exitCode === 0)
            log.info("window post message succeeded", { cid, height: landed.height });
          else log.error("window post message failed on chain", { cid, exit_code: landed.exitCode });
          return;
        }
        cid = null;
      }
      const posted = await readPosted(reads);
      const pending = proofs.filter((p) => !posted.has(p.index));
      if (pending.length === 0) {
        const head = await headNow(wait);
        await db("recording the group proven on chain", () =>
          recordGroupOnChain(pg, member.id, glease, head.height),
        );
        log.info("the group's partitions are proven on chain already; nothing to send");
        return;
      }
      if (pending.length < proofs.length)
        log.info("partitions proven on chain meanwhile; left out of the message", {
          partitions: proofs.filter((p) => posted.has(p.index)).map((p) => p.index),
        });
      const msg = await windowPostMessage(msgInput, pending);
      const head = await headNow(wait);
      await db("recording the push", () => recordGroupPush(pg, member.id, glease, { height: head.height }));
      pushedAt = head.height;
      const parts = pending.map((p) => p.index);
      const pushed = await pushOnce(input, msg, lease, signal, groupMessageId(glease, parts), log, parts);
      if (pushed === null) continue;
      cid = pushed;
      input.report.pushed(parts, cid);
      const sent = cid;
      await db("recording the message CID", () => recordGroupMessage(pg, member.id, glease, { cid: sent }));
    }
  } catch (e) {
    if (e instanceof SmError && e.code === "CLUSTER_LEASE_LOST") lease.lose(e.message);
    if (lease.signal.aborted) {
      log.warn("message group dropped: this node no longer holds it; another node sends it", {
        why: errorMessage(lease.signal.reason),
      });
      return;
    }
    if (input.reads.signal.aborted) throw e;
    // Released below: the group becomes claimable again once the lease the database holds expires.
    log.error("sending the message group failed; it is retried after its lease", { err: errorMessage(e) });
  } finally {
    linked.done();
    lease.release();
  }
}

/** One push; null when it failed in a way worth another round (after a pause). */
async function pushOnce(
  input: GroupSendInput,
  msg: Awaited<ReturnType<typeof windowPostMessage>>,
  lease: LocalLease,
  signal: AbortSignal,
  id: string,
  log: Logger,
  parts: number[],
): Promise<string | null> {
  try {
    const { cid } = await input.message.chain.pushMessage(msg, {
      signal,
      beforeSend: () => lease.check(),
      id,
    });
    log.info("window post message sent", { partitions: parts, cid, sender: msg.from });
    return cid;
  } catch (e) {
    if (signal.aborted || (e instanceof SmError && e.code === "CLUSTER_LEASE_LOST")) throw e;
    if (!pushRetryable(e)) throw e;
    log.warn("sending the window post message failed; retrying", { err: errorMessage(e) });
    await sleep(1000, signal);
    return null;
  }
}

async function groupProofs(pg: Pg, g: ClaimedGroup, seed: Uint8Array): Promise<ProvenPartition[]> {
  const want = new Set(g.partitions);
  const stored = (await deadlineProofs(pg, g.miner, g.open)).filter((p) => want.has(p.partition));
  if (stored.length !== g.partitions.length)
    throw new SmError(
      "CLUSTER_BAD_INPUT",
      `message group ${g.group} lists partitions ${g.partitions.join(", ")} but the database has proofs of ${stored.map((p) => p.partition).join(", ") || "none"}`,
    );
  return stored.map((p) => {
    const saved = decodeSavedProof(p.partition, p.proof);
    if (!Buffer.from(saved.seed).equals(Buffer.from(seed)))
      throw new SmError(
        "CLUSTER_BAD_INPUT",
        `the recorded proof of partition ${p.partition} answers another challenge (a reorg changed the seed); not sent`,
      );
    return saved.partition;
  });
}

/** What the waits below use: the chain, its read retry, the group's signal. */
interface Waits {
  chain: SubmitChain;
  retry: DeadlineReads["retry"];
  signal: AbortSignal;
  log: Logger;
}

const headNow = (w: Waits) => w.retry("reading the head", () => w.chain.chainHead({ signal: w.signal }));

/** Waits until the head reaches `height` (polling), or the signal aborts. */
async function untilHeight(w: Waits, height: number): Promise<void> {
  for (let poll = 500; ; poll = Math.min(poll * 2, 4000)) {
    if ((await headNow(w)).height >= height) return;
    await sleep(poll, w.signal);
  }
}

/**
 * The message's receipt; null when the chain node lost it (the wait fails for good) and the chain is
 * LOST_AFTER_EPOCHS past its push, so its partitions are to be sent again.
 */
async function waitLanded(
  cid: string,
  pushedAt: number | null,
  w: Waits,
  confidence: number,
): Promise<{ exitCode: number; gasUsed: number; height: number } | null> {
  try {
    const r = await retryTransient(
      "waiting for the message",
      () => w.chain.waitMessage(cid, confidence, { signal: w.signal }),
      w.signal,
      w.log,
    );
    return { exitCode: r.exitCode, gasUsed: r.gasUsed, height: r.height };
  } catch (e) {
    if (w.signal.aborted) throw e;
    const after = (pushedAt ?? (await headNow(w)).height) + LOST_AFTER_EPOCHS;
    w.log.warn("lost track of the window post message; sending its partitions again", {
      cid,
      err: errorMessage(e),
      after_height: after,
    });
    await untilHeight(w, after);
    return null;
  }
}
