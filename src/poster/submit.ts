/**
 * Submission of one deadline's SubmitWindowedPoSt messages (split from runner.ts): once submission is
 * allowed, each group of finished partitions is checked against what the chain already has, sent from
 * the best sender, recorded with its stored proofs, and waited for; a failed push is retried, a lost
 * message is sent again, until the deadline's signal aborts. In a dry run the params are only built.
 */
import type { BitField } from "../chain/bitfield.js";
import {
  type ChainPort,
  type DeadlineInfo,
  HEAD,
  type MinerInfo,
  RANDOMNESS_TAG,
} from "../chain/interface.js";
import { MinerMethod } from "../chain/message.js";
import { encodeSubmitWindowedPoStParams } from "../chain/params.js";
import type { MinerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import { errorMessage, SmError } from "../util/errors.js";
import { sleep, untilAborted } from "../util/time.js";
import { buildSubmitParams, type ProofFormat, type ProvenPartition } from "./batch.js";
import type { DeadlineKey, ProofStore, SavedProof } from "./proofStore.js";
import { isTransient, retryTransient } from "./retry.js";
import type { RunResult } from "./runner.js";

/** A push failure worth another round: the node unreachable or answering an error of its own. */
const pushRetryable = (e: unknown): boolean =>
  isTransient(e) ||
  (e instanceof SmError && (e.code === "CHAIN_UNREACHABLE" || e.code === "CHAIN_RPC_ERROR"));

/**
 * Epochs after its push at which a message whose wait failed is presumed lost and sent again: the
 * block after the push would normally include it, and the one after that shows its effect.
 */
const LOST_AFTER_EPOCHS = 2;

/**
 * The configured sender (owner/worker/control) with the highest balance; the worker when none is
 * configured. An address the node cannot resolve is no candidate; but when no candidate is left and a
 * lookup failed, that failure is thrown (the chain node may be failing for a while, and "no sender"
 * would give up the deadline's message for good).
 */
export async function selectSender(
  chain: ChainPort,
  info: MinerInfo,
  senders: readonly string[],
  signal?: AbortSignal,
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
    if (a && (!best || a.balance > best.balance)) best = { addr: c, balance: a.balance };
  }
  if (!best && failure !== undefined) throw failure;
  return best?.addr;
}

export interface SubmitContext {
  chain: ChainPort;
  miner: string;
  minerCfg: MinerConfig;
  info: MinerInfo;
  di: DeadlineInfo;
  format: ProofFormat;
  signal: AbortSignal;
  log: Logger;
  /** Retries a chain read whatever the failure, until the run stops (runner.ts). */
  retry: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
  /** Filled in as messages land (proven, messages, dryRun). */
  result: RunResult;
  /** Proofs stored before a restart, with the CID of the message that carried them, if any. */
  saved: ReadonlyMap<number, SavedProof>;
  store: ProofStore | undefined;
  dlKey: DeadlineKey;
  /** Partitions of this deadline proven on chain now. */
  postedNow: () => Promise<BitField>;
  submitAllowed: () => Promise<void>;
  dryRun: boolean;
}

export class Submitter {
  /** One per message: settles when the message is on chain (or given up with the deadline). */
  readonly sends: Promise<void>[] = [];
  /** One per message: settles once it is pushed (or given up). */
  readonly pushes: Promise<unknown>[] = [];

  constructor(private readonly ctx: SubmitContext) {}

  private async buildParams(group: readonly ProvenPartition[]) {
    const { chain, di, info, signal, retry } = this.ctx;
    const chainCommitRand = await retry("reading commit randomness", () =>
      chain.stateGetRandomnessFromTickets(
        RANDOMNESS_TAG.PoStChainCommit,
        di.challenge,
        new Uint8Array(0),
        HEAD,
        { signal },
      ),
    );
    return buildSubmitParams(
      {
        deadline: di.index,
        partitions: group,
        proofType: info.windowPoStProofType,
        chainCommitEpoch: di.challenge,
        chainCommitRand,
      },
      this.ctx.format,
    );
  }

  send(all: readonly ProvenPartition[]): void {
    const { chain, miner, minerCfg, info, signal, log, retry, result, saved, store, dlKey, postedNow } =
      this.ctx;
    const { sends, pushes } = this;
    const buildParams = (g: readonly ProvenPartition[]) => this.buildParams(g);
    if (this.ctx.dryRun) {
      const partitions = all.map((g) => g.index);
      // A message that cannot be built is part of the answer (proving compute must not say "proven"
      // when the daemon could not have sent the proofs), not only a log line.
      sends.push(
        (async () => encodeSubmitWindowedPoStParams(await buildParams(all)).length)().then(
          (bytes) => {
            result.dryRun?.push({ partitions, paramsBytes: bytes });
          },
          (e) => {
            if (signal.aborted) throw e;
            log.error("building the message failed", { partitions, err: errorMessage(e) });
            result.dryRun?.push({ partitions, paramsBytes: 0, error: errorMessage(e) });
          },
        ),
      );
      return;
    }
    let pushedResolve: () => void = () => {};
    pushes.push(
      new Promise<void>((r) => {
        pushedResolve = r;
      }),
    );
    sends.push(
      (async () => {
        await untilAborted(
          this.ctx.submitAllowed(),
          signal,
          "deadline run stopped before submission was allowed",
        );
        let pending = all;
        // Messages that carried these partitions and have not landed (yet): one pushed before a
        // restart (recorded with the stored proofs), or one this run lost track of.
        let earlier = [
          ...new Set(all.map((g) => saved.get(g.index)?.sentCid).filter((c) => c !== undefined)),
        ];
        for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
          // An earlier message may have landed meanwhile: the actor would refuse a partition proven
          // twice, so leave those out (they count as proven).
          const onChain = await postedNow();
          const landed = pending.filter((g) => onChain.has(g.index)).map((g) => g.index);
          pending = pending.filter((g) => !onChain.has(g.index));
          if (landed.length > 0) {
            result.proven.push(...landed);
            log.info("partitions proven on chain meanwhile; left out of the message", { partitions: landed });
          }
          if (pending.length === 0) return;
          if (earlier.length > 0)
            log.warn("an earlier message of these partitions has not landed; sending them again", {
              partitions: pending.map((g) => g.index),
              earlier,
            });
          const sender = await retry("choosing the sender", () =>
            selectSender(chain, info, minerCfg.PoSt.Senders, signal),
          );
          if (!sender)
            throw new SmError(
              "POSTER_NO_SENDER",
              `no usable sender for ${miner}: [Miners.PoSt] Senders must include its owner, worker or a control address with funds`,
            );
          const params = await buildParams(pending);
          const parts = pending.map((g) => g.index);
          const pushedAt = (await retry("reading the head", () => chain.chainHead({ signal }))).height;
          let pushed: { cid: string };
          try {
            pushed = await chain.pushMessage(
              {
                from: sender,
                to: miner,
                method: MinerMethod.SubmitWindowedPoSt,
                params: encodeSubmitWindowedPoStParams(params),
                value: 0n,
                maxFeeCap: minerCfg.PoSt.GasFeeCap,
                gasOverEstimation: minerCfg.PoSt.GasOverEstimation,
                gasOverPremium: minerCfg.PoSt.GasOverPremium,
              },
              { signal },
            );
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
            continue;
          }
          pushedResolve();
          result.sent.push(...parts);
          result.pushed.push({ partitions: parts, cid: pushed.cid });
          log.info("window post message sent", { partitions: parts, cid: pushed.cid, sender });
          await store
            ?.markSent(dlKey, parts, pushed.cid)
            .catch((e) => log.warn("cannot record the sent message", { err: errorMessage(e) }));
          let receipt: { exitCode: number; height: number };
          try {
            // Only failures that may pass are waited through: a node that no longer knows the
            // message is handled below by sending again.
            receipt = await retryTransient(
              "waiting for the message",
              () => chain.waitMessage(pushed.cid, minerCfg.PoSt.Confidence, { signal }),
              signal,
              log,
            );
          } catch (e) {
            if (signal.aborted) throw e;
            // The node no longer knows the message: its pool was lost in a restart, the message was
            // dropped or replaced, or the messager gave up on it. Lotus' submit handler goes back to
            // its start state and submits again on a later head; so do we, for whichever partitions
            // have not landed once the chain is LOST_AFTER_EPOCHS past the push (a message normally
            // lands in the next block), so a node that keeps failing the wait gets one message per
            // that many epochs, not one per backoff step.
            log.warn("lost track of the window post message; sending its partitions again", {
              partitions: parts,
              cid: pushed.cid,
              err: errorMessage(e),
              after_height: pushedAt + LOST_AFTER_EPOCHS,
            });
            earlier = [pushed.cid];
            for (let poll = 500; ; poll = Math.min(poll * 2, 5000)) {
              const head = await retry("reading the head", () => chain.chainHead({ signal }));
              if (head.height >= pushedAt + LOST_AFTER_EPOCHS) break;
              await sleep(poll, signal);
            }
            continue;
          }
          result.messages.push({
            partitions: parts,
            cid: pushed.cid,
            exitCode: receipt.exitCode,
            height: receipt.height,
          });
          if (receipt.exitCode === 0) {
            result.proven.push(...parts);
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
          return;
        }
      })().finally(() => pushedResolve()),
    );
  }
}
