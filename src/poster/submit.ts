/**
 * Stage 6 of a deadline run: its SubmitWindowedPoSt messages. Once submission is allowed, each group
 * of finished partitions (stage 5, batch.ts MessageGrouper) is checked against what the chain already
 * has, sent from the best sender, recorded with its stored proofs, and waited for; a failed push is
 * retried, a lost message is sent again, until the deadline's signal aborts. In a dry run the params
 * are only built. What happens is told through SubmitReport, never by writing the run's result.
 */

import { performance } from "node:perf_hooks";
import type { BitField } from "../chain/bitfield.js";
import {
  type ChainPort,
  type DeadlineInfo,
  HEAD,
  type MinerInfo,
  type OutgoingMessage,
  RANDOMNESS_TAG,
} from "../chain/interface.js";
import { MinerMethod } from "../chain/message.js";
import { encodeSubmitWindowedPoStParams, type SubmitParamsLimits } from "../chain/params.js";
import type { MinerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import { attoToFil, type Metrics } from "../metrics/metrics.js";
import { MAX_BUNDLE_BYTES } from "../proofs/vanillaBundle.js";
import { errorMessage, SmError } from "../util/errors.js";
import { sleep, untilAborted } from "../util/time.js";
import { buildSubmitParams, type ProofFormat, type ProvenPartition, releaseSectorProofs } from "./batch.js";
import { deflatedBundle, preparedParts } from "./bundleParts.js";
import { isTransient, retryTransient } from "./retry.js";
import type { DryRunMessage, LandedMessage } from "./types.js";

/** A push failure worth another round: the node unreachable or answering an error of its own. */
export const pushRetryable = (e: unknown): boolean =>
  isTransient(e) ||
  (e instanceof SmError && (e.code === "CHAIN_UNREACHABLE" || e.code === "CHAIN_RPC_ERROR"));

/**
 * Epochs after its push at which a message whose wait failed is presumed lost and sent again: the
 * block after the push would normally include it, and the one after that shows its effect.
 */
export const LOST_AFTER_EPOCHS = 2;

/** Told the balance of each sender candidate read (vsm_sender_balance_fil). */
export type SenderBalanceFn = (
  address: string,
  role: "owner" | "worker" | "control",
  balance: bigint,
) => void;

/** A sender's role for the miner (worker first: the owner may also be the worker). */
export function senderRole(info: MinerInfo, id: string): "owner" | "worker" | "control" {
  return id === info.worker ? "worker" : id === info.owner ? "owner" : "control";
}

/** vsm_sender_balance_fil of the miner's sender candidates (nothing without metrics). */
export function recordSenderBalance(
  metrics: Metrics | undefined,
  miner: string,
): SenderBalanceFn | undefined {
  return (
    metrics &&
    ((address, role, balance) => metrics.senderBalance.set({ miner, address, role }, attoToFil(balance)))
  );
}

/**
 * The configured sender (owner/worker/control) with the highest balance; the worker when none is
 * configured. An address the node cannot resolve is no candidate; but when no candidate is left and a
 * lookup failed, that failure is thrown (the chain node may be failing for a while, and "no sender"
 * would give up the deadline's message for good).
 */
export async function selectSender(
  chain: Pick<ChainPort, "stateLookupID" | "stateGetActor">,
  info: MinerInfo,
  senders: readonly string[],
  signal?: AbortSignal,
  seen?: SenderBalanceFn,
): Promise<string | undefined> {
  const allowed = new Set([info.owner, info.worker, ...info.controlAddresses]);
  const candidates: string[] = [];
  let failure: unknown;
  for (const s of senders.length ? senders : [info.worker]) {
    try {
      const id = await chain.stateLookupID(s, HEAD, { signal });
      if (allowed.has(id)) candidates.push(id);
    } catch (e) {
      failure ??= e;
    }
  }
  let best: { addr: string; balance: bigint } | undefined;
  for (const c of candidates) {
    const a = await chain.stateGetActor(c, HEAD, { signal }).catch((e) => {
      failure ??= e;
      return undefined;
    });
    if (a) seen?.(c, senderRole(info, c), a.balance);
    if (a && (!best || a.balance > best.balance)) best = { addr: c, balance: a.balance };
  }
  if (!best && failure !== undefined) throw failure;
  return best?.addr;
}

/** What the chain node is asked while submitting. */
export type SubmitChain = Pick<
  ChainPort,
  | "stateGetRandomnessFromTickets"
  | "stateLookupID"
  | "stateGetActor"
  | "chainHead"
  | "pushMessage"
  | "waitMessage"
>;

/** The message: whose, for which deadline, and how it is sent and paid for ([Miners.PoSt]). */
export interface SubmitMessage {
  /** f0 address of the miner. */
  miner: string;
  /** Its owner, worker and control addresses (the senders allowed) and its WindowPoSt proof type. */
  info: MinerInfo;
  deadline: Pick<DeadlineInfo, "index" | "challenge">;
  format: ProofFormat;
  post: Pick<
    MinerConfig["PoSt"],
    "Senders" | "GasFeeCap" | "GasOverEstimation" | "GasOverPremium" | "Confidence"
  >;
}

/** What the submitter tells the run, as it happens. */
export interface SubmitReport {
  /** Partitions known proven on chain: landed meanwhile, or carried by a message that succeeded. */
  proven(partitions: number[]): void;
  /** A message carrying these partitions was pushed to the node. */
  pushed(partitions: number[], cid: string): void;
  /** A message executed (exit code 0 or not). */
  landed(message: LandedMessage): void;
  /** Dry run: a message built, or why it could not be. */
  built(message: DryRunMessage): void;
  /** Time spent reading the chain before a push ("chain"), building ("build") and pushing ("push") a message (stageTimes.ts). */
  stage?(stage: "chain" | "build" | "push", ms: number): void;
  /**
   * Time a message waited for its proofs' own preparation before its build and push: the devnet's
   * bundle parts still compressing, the proofs still being stored. Not a stage: with SNARKs neither
   * exists, and with vanilla proofs both begin when each partition is proven.
   */
  waitedForProofs?(ms: number): void;
}

/** The deadline's messages as the proof store records them (absent: nothing is recorded). */
export interface SentRecords {
  /** CID of a message pushed earlier (before a restart) with the partition's stored proof, if any. */
  sentCid(partition: number): string | undefined;
  /** Record that a message carrying these partitions was pushed. */
  markSent(partitions: readonly number[], cid: string): Promise<void>;
}

export interface SubmitterInput {
  chain: SubmitChain;
  message: SubmitMessage;
  /** Partitions of this deadline proven on chain now (load.ts readPosted). */
  provenOnChain: () => Promise<BitField>;
  /** Retries a chain read whatever the failure, until the run stops (load.ts chainReadRetry). */
  retry: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
  records?: SentRecords;
  /** A partition's proof store write, if one is under way: its message is pushed only after it. */
  stored?: (partition: number) => Promise<void> | undefined;
  submitAllowed: () => Promise<void>;
  dryRun: boolean;
  signal: AbortSignal;
  log: Logger;
  report: SubmitReport;
  /** Told each sender candidate's balance when a sender is chosen. */
  senderBalance?: SenderBalanceFn;
}

/** What building a SubmitWindowedPoSt message needs (a part of SubmitterInput). */
export type MessageInput = Pick<SubmitterInput, "chain" | "message" | "retry" | "signal" | "senderBalance">;

/**
 * Encoding limits by proof format: SNARKs keep the chain's 2 MiB; a devnet vanilla bundle is ~59 MB
 * per full 32 GiB partition, which the devnet accepts up to MAX_BUNDLE_BYTES.
 */
function paramsLimits(format: ProofFormat): SubmitParamsLimits {
  return format === "vanilla-bundle" ? { maxProofBytes: MAX_BUNDLE_BYTES } : {};
}

/** The SubmitWindowedPoSt params of one group, with the chain commit randomness of the deadline's challenge. */
export async function submitParams(input: MessageInput, group: readonly ProvenPartition[]) {
  const { chain, message, signal, retry } = input;
  const chainCommitRand = await retry("reading commit randomness", () =>
    chain.stateGetRandomnessFromTickets(
      RANDOMNESS_TAG.PoStChainCommit,
      message.deadline.challenge,
      new Uint8Array(0),
      HEAD,
      { signal },
    ),
  );
  // The devnet's bundle goes deflated (vanillaBundle.ts): ~59 MB a full 32 GiB partition otherwise;
  // its parts were mostly compressed as the partitions were proven (bundleParts.ts).
  const vanillaBytes =
    message.format === "vanilla-bundle" ? await deflatedBundle(group, message.deadline.index) : undefined;
  return buildSubmitParams(
    {
      deadline: message.deadline.index,
      partitions: group,
      proofType: message.info.windowPoStProofType,
      chainCommitEpoch: message.deadline.challenge,
      chainCommitRand,
    },
    message.format,
    { vanillaBytes },
  );
}

/**
 * The SubmitWindowedPoSt message of one group, from the best sender; POSTER_NO_SENDER when no
 * configured sender can send for the miner.
 */
export async function windowPostMessage(
  input: MessageInput,
  group: readonly ProvenPartition[],
): Promise<OutgoingMessage> {
  const { chain, message, signal, retry } = input;
  const sender = await retry("choosing the sender", () =>
    selectSender(chain, message.info, message.post.Senders, signal, input.senderBalance),
  );
  if (!sender)
    throw new SmError(
      "POSTER_NO_SENDER",
      `no usable sender for ${message.miner}: [Miners.PoSt] Senders must include its owner, worker or a control address with funds`,
    );
  return {
    from: sender,
    to: message.miner,
    method: MinerMethod.SubmitWindowedPoSt,
    params: encodeSubmitWindowedPoStParams(await submitParams(input, group), paramsLimits(message.format)),
    value: 0n,
    maxFeeCap: message.post.GasFeeCap,
    gasOverEstimation: message.post.GasOverEstimation,
    gasOverPremium: message.post.GasOverPremium,
  };
}

export class Submitter {
  /** One per message: settles when the message is on chain (or given up with the deadline). */
  readonly sends: Promise<void>[] = [];
  /** One per message: settles once it is pushed (or given up). */
  readonly pushes: Promise<unknown>[] = [];

  constructor(private readonly input: SubmitterInput) {}

  /** Submit one group of finished partitions (in a dry run: build its params). */
  send(group: readonly ProvenPartition[]): void {
    if (this.input.dryRun) {
      this.#keep(this.#build(group));
      return;
    }
    let pushed: () => void = () => {};
    this.pushes.push(
      new Promise<void>((r) => {
        pushed = r;
      }),
    );
    this.#keep(this.#submit(group, () => pushed()).finally(() => pushed()));
  }

  /**
   * Keep a send for the run to settle once every partition is done. It may fail long before that (no
   * sender, a push refused, the run aborted while others still prove): the empty handler keeps that
   * from being an unhandled rejection, and the run still sees and logs the failure.
   */
  #keep(send: Promise<void>): void {
    send.catch(() => {});
    this.sends.push(send);
  }

  #params(group: readonly ProvenPartition[]) {
    return submitParams(this.input, group);
  }

  /**
   * Dry run: a message that cannot be built is part of the answer (proving compute must not say
   * "proven" when the daemon could not have sent the proofs), not only a log line.
   */
  async #build(group: readonly ProvenPartition[]): Promise<void> {
    const partitions = group.map((g) => g.index);
    let paramsBytes: number;
    try {
      paramsBytes = encodeSubmitWindowedPoStParams(
        await this.#params(group),
        paramsLimits(this.input.message.format),
      ).length;
    } catch (e) {
      if (this.input.signal.aborted) throw e;
      this.input.log.error("building the message failed", { partitions, err: errorMessage(e) });
      this.input.report.built({ partitions, paramsBytes: 0, error: errorMessage(e) });
      return;
    }
    this.input.report.built({ partitions, paramsBytes });
  }

  /** Send the group until it is on chain; `onPushed` once a message carrying it is pushed. */
  async #submit(all: readonly ProvenPartition[], onPushed: () => void): Promise<void> {
    const { signal, log, records } = this.input;
    await untilAborted(
      this.input.submitAllowed(),
      signal,
      "deadline run stopped before submission was allowed",
    );
    let pending = all;
    // Messages that carried these partitions and have not landed (yet): one pushed before a
    // restart (recorded with the stored proofs), or one this run lost track of.
    let earlier = [...new Set(all.map((g) => records?.sentCid(g.index)).filter((c) => c !== undefined))];
    for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
      const read = performance.now();
      pending = await this.#notYetOnChain(pending);
      this.input.report.stage?.("chain", performance.now() - read);
      if (pending.length === 0) return;
      if (earlier.length > 0)
        log.warn("an earlier message of these partitions has not landed; sending them again", {
          partitions: pending.map((g) => g.index),
          earlier,
        });
      const parts = pending.map((g) => g.index);
      const pushed = await this.#push(pending, delay);
      if (!pushed) continue;
      onPushed();
      this.input.report.pushed(parts, pushed.cid);
      await records
        ?.markSent(parts, pushed.cid)
        .catch((e) => log.warn("cannot record the sent message", { err: errorMessage(e) }));
      if (await this.#waitLanded(parts, pushed)) {
        // Executed: this run sends these partitions no more; their proofs need not wait for the
        // deadline's end to be let go.
        for (const g of pending) releaseSectorProofs(g);
        return;
      }
      earlier = [pushed.cid];
    }
  }

  /**
   * An earlier message may have landed meanwhile: the actor would refuse a partition proven twice,
   * so those are left out (they count as proven).
   */
  async #notYetOnChain(pending: readonly ProvenPartition[]): Promise<readonly ProvenPartition[]> {
    const onChain = await this.input.provenOnChain();
    const landed = pending.filter((g) => onChain.has(g.index)).map((g) => g.index);
    if (landed.length > 0) {
      this.input.report.proven(landed);
      this.input.log.info("partitions proven on chain meanwhile; left out of the message", {
        partitions: landed,
      });
    }
    return pending.filter((g) => !onChain.has(g.index));
  }

  /** One push of a message carrying `pending`; undefined (after `delay` ms) when it is worth another round. */
  async #push(
    pending: readonly ProvenPartition[],
    delay: number,
  ): Promise<{ cid: string; pushedAt: number } | undefined> {
    const { chain, signal, log, retry, report } = this.input;
    // The proofs' own preparation, begun as each partition was proven (the devnet's bundle parts,
    // compressed on zlib's threads), is not the message's build: it is waited for apart, as the
    // proofs' storing is below.
    const preparing = performance.now();
    await preparedParts(pending);
    report.waitedForProofs?.(performance.now() - preparing);
    const built = performance.now();
    const msg = await windowPostMessage(this.input, pending);
    report.stage?.("build", performance.now() - built);
    const parts = pending.map((g) => g.index);
    // Never a message whose proofs a restart could not find: wait for them to be stored.
    const storing = performance.now();
    await Promise.all(parts.map((i) => this.input.stored?.(i)));
    report.waitedForProofs?.(performance.now() - storing);
    const head = performance.now();
    const pushedAt = (await retry("reading the head", () => chain.chainHead({ signal }))).height;
    report.stage?.("chain", performance.now() - head);
    const pushing = performance.now();
    let pushMs = 0;
    try {
      const { cid } = await chain.pushMessage(msg, { signal }).finally(() => {
        pushMs = performance.now() - pushing;
        report.stage?.("push", pushMs);
      });
      log.info("window post message sent", {
        partitions: parts,
        cid,
        sender: msg.from,
        push_ms: Math.round(pushMs),
      });
      return { cid, pushedAt };
    } catch (e) {
      // The node is unreachable (the message was not sent, or was and the answer was lost) or
      // refused it (not in sync, gas estimation failing on a state it has not caught up with).
      // Not replayed blindly: the next round looks at the chain first. A message the client
      // refuses to send (vanilla proofs to a real network, a malformed message) is not retried.
      if (signal.aborted || !pushRetryable(e)) throw e;
      log.warn("sending the window post message failed; retrying", {
        partitions: parts,
        err: errorMessage(e),
        retry_ms: delay,
      });
      await sleep(delay, signal);
      return undefined;
    }
  }

  /**
   * Wait for the pushed message; true once it executed (reported), false when the node lost it and
   * the chain is LOST_AFTER_EPOCHS past the push, so the partitions are to be sent again.
   */
  async #waitLanded(parts: number[], pushed: { cid: string; pushedAt: number }): Promise<boolean> {
    const { chain, message, signal, log, retry, report } = this.input;
    let receipt: { exitCode: number; gasUsed?: number; height: number };
    try {
      // Only failures that may pass are waited through: a node that no longer knows the message is
      // handled below by sending again.
      receipt = await retryTransient(
        "waiting for the message",
        () => chain.waitMessage(pushed.cid, message.post.Confidence, { signal }),
        signal,
        log,
      );
    } catch (e) {
      if (signal.aborted) throw e;
      // The node no longer knows the message: its pool was lost in a restart, the message was
      // dropped or replaced, or the messager gave up on it. Lotus' submit handler goes back to its
      // start state and submits again on a later head; so do we, for whichever partitions have not
      // landed once the chain is LOST_AFTER_EPOCHS past the push (a message normally lands in the
      // next block), so a node that keeps failing the wait gets one message per that many epochs,
      // not one per backoff step.
      log.warn("lost track of the window post message; sending its partitions again", {
        partitions: parts,
        cid: pushed.cid,
        err: errorMessage(e),
        after_height: pushed.pushedAt + LOST_AFTER_EPOCHS,
      });
      for (let poll = 500; ; poll = Math.min(poll * 2, 5000)) {
        const head = await retry("reading the head", () => chain.chainHead({ signal }));
        if (head.height >= pushed.pushedAt + LOST_AFTER_EPOCHS) return false;
        await sleep(poll, signal);
      }
    }
    report.landed({
      partitions: parts,
      cid: pushed.cid,
      exitCode: receipt.exitCode,
      gasUsed: receipt.gasUsed,
      height: receipt.height,
    });
    if (receipt.exitCode === 0) {
      report.proven(parts);
      log.info("window post message succeeded", {
        partitions: parts,
        cid: pushed.cid,
        height: receipt.height,
      });
    } else
      log.error("window post message failed on chain", {
        partitions: parts,
        cid: pushed.cid,
        exit_code: receipt.exitCode,
      });
    return true;
  }
}
