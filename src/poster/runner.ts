/**
 * One deadline of one miner, proven and submitted (what damocles' runner and Curio's compute +
 * submit tasks do), on the start tipset the tracker froze:
 *
 *   partitions and sectors at the start tipset → sector checks (strict per StrictCheck) → a plan per
 *   partition (skipped = bad sectors) → each partition proven on its own (no batch barrier), earliest
 *   Close first across miners through the prover's priority → sectors the prover reports as faults are
 *   added to Skipped and the partition is proven again → finished partitions grouped into messages of
 *   min(3, MaxPartitionsPerPoStMessage) → each message sent once submission is allowed.
 *
 * The signal aborts everything when the deadline closes or a reorg reverts below its challenge epoch.
 */
import { Address } from "../chain/address.js";
import { BitField } from "../chain/bitfield.js";
import {
  type ChainPort,
  type DeadlineInfo,
  HEAD,
  type MinerInfo,
  RANDOMNESS_TAG,
  type TipSetKey,
} from "../chain/interface.js";
import { cborAddressBytes } from "../chain/lotus/shapes.js";
import { MinerMethod } from "../chain/message.js";
import { encodeSubmitWindowedPoStParams } from "../chain/params.js";
import type { MinerConfig, SectorManagerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import { cidToCommitment } from "../proofs/commCid.js";
import { apiPoStProofName, parseChainPoStProof } from "../proofs/proofTypes.js";
import type { PoStOutput, PoStTask } from "../prover/protocol.js";
import { type CheckOutcome, checkSectors, type StrictProbe } from "../sectors/check.js";
import type { SectorIndexer } from "../sectors/interface.js";
import type { PersistStores } from "../sectors/stores.js";
import { errorMessage, SmError } from "../util/errors.js";
import {
  buildSubmitParams,
  MessageGrouper,
  type ProofFormat,
  type ProvenPartition,
  partitionPlan,
  postPartitionsPerMessage,
} from "./batch.js";

/** Runs one prover task; `priority` is the deadline's Close epoch (earliest first). */
export type ProveFn = (
  task: PoStTask,
  opts: { priority: number; signal: AbortSignal },
) => Promise<PoStOutput>;

export interface RunnerDeps {
  chain: ChainPort;
  indexer: SectorIndexer;
  stores: PersistStores;
  proving: SectorManagerConfig["Common"]["Proving"];
  prove: ProveFn;
  strictProbe?: StrictProbe;
  format: ProofFormat;
  /** Partitions per message the network allows (3 since nv21; the devnet's policy may say less). */
  networkMaxPartitions: number;
  logger: Logger;
}

export interface RunResult {
  /** Partitions sent in messages that executed with exit code 0. */
  proven: number[];
  /** Messages sent, with their exit codes. */
  messages: { partitions: number[]; cid: string; exitCode: number }[];
  /** Sectors skipped, with why. */
  skipped: { sector: number; reason: string }[];
}

const MAX_FAULT_ROUNDS = 5;

/** Failures that may pass: a node or the proxy's source restarting, a timeout. */
const TRANSIENT = new Set(["CHAIN_UNREACHABLE", "SECTORS_SOURCE_UNAVAILABLE", "RPC_UNREACHABLE", "TIMEOUT"]);

/**
 * Retry `fn` while it fails transiently, with backoff (0.5 s doubling to 5 s), until `signal` aborts:
 * a source node or chain node restarting mid-deadline must not cost the deadline.
 */
export async function retryTransient<T>(
  what: string,
  fn: () => Promise<T>,
  signal: AbortSignal,
  log: Logger,
): Promise<T> {
  for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await fn();
    } catch (e) {
      if (signal.aborted || !(e instanceof SmError) || !TRANSIENT.has(e.code)) throw e;
      log.warn(`${what} failed; retrying`, { err: e.message, retry_ms: delay });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        signal.addEventListener(
          "abort",
          () => {
            clearTimeout(t);
            resolve();
          },
          { once: true },
        );
      });
      signal.throwIfAborted();
    }
  }
}

/** The configured sender (owner/worker/control) with the highest balance; the worker when none is configured. */
export async function selectSender(
  chain: ChainPort,
  info: MinerInfo,
  senders: readonly string[],
  signal?: AbortSignal,
): Promise<string | undefined> {
  const allowed = new Set([info.owner, info.worker, ...info.controlAddresses]);
  const candidates: string[] = [];
  for (const s of senders.length ? senders : [info.worker]) {
    try {
      const id = await chain.stateLookupID(s, HEAD, { signal });
      if (allowed.has(id)) candidates.push(id);
    } catch {
      // an unknown address is simply not a candidate
    }
  }
  let best: { addr: string; balance: bigint } | undefined;
  for (const c of candidates) {
    const a = await chain.stateGetActor(c, HEAD, { signal }).catch(() => undefined);
    if (a && (!best || a.balance > best.balance)) best = { addr: c, balance: a.balance };
  }
  return best?.addr;
}

export async function runDeadline(
  minerCfg: MinerConfig,
  di: DeadlineInfo,
  tsk: TipSetKey,
  deps: RunnerDeps,
  opts: {
    signal: AbortSignal;
    submitAllowed: () => Promise<void>;
    /** Called once every message of the deadline has been pushed (only confirmations remain). */
    onAllPushed?: () => void;
  },
): Promise<RunResult> {
  const { chain, signal } = { chain: deps.chain, signal: opts.signal };
  const miner = `f0${minerCfg.Actor}`;
  const log = deps.logger.with({ miner, deadline: di.index, open: di.open, close: di.close });
  const result: RunResult = { proven: [], messages: [], skipped: [] };
  const retry = <T>(what: string, fn: () => Promise<T>) => retryTransient(what, fn, signal, log);
  const info = await retry("reading miner info", () => chain.stateMinerInfo(miner, tsk, { signal }));
  const proofType = parseChainPoStProof(info.windowPoStProofType);
  const partitions = await retry("reading partitions", () =>
    chain.stateMinerPartitions(miner, di.index, tsk, { signal }),
  );
  if (partitions.length === 0) return result;

  // Sectors to check: everything any partition expects proven.
  let wanted = BitField.empty();
  for (const p of partitions)
    wanted = wanted.union(p.liveSectors.subtract(p.faultySectors).union(p.recoveringSectors));
  const infos = new Map(
    (await retry("reading sectors", () => chain.stateMinerSectors(miner, wanted, tsk, { signal }))).map(
      (s) => [s.sectorNumber, s],
    ),
  );
  const targets = [...infos.values()].map((s) => ({
    miner: minerCfg.Actor,
    number: s.sectorNumber,
    upgrade: s.sectorKeyCid !== null,
    shape: proofType.shape,
    commR: cidToCommitment(s.sealedCid).commitment,
  }));
  const checkDeps = {
    indexer: deps.indexer,
    stores: deps.stores,
    proving: deps.proving,
    strictProbe: deps.strictProbe,
  };
  const checks = await retry("checking sectors", () =>
    checkSectors(targets, checkDeps, { strict: minerCfg.PoSt.StrictCheck, signal }),
  );
  const good = new Map<number, CheckOutcome>();
  for (const c of checks) {
    if (c.ok) good.set(c.number, c);
    else result.skipped.push({ sector: c.number, reason: c.reason ?? "check failed" });
  }
  for (const s of result.skipped) log.warn("sector skipped", { sector: s.sector, reason: s.reason });

  const plan = partitionPlan(partitions, (n) => good.has(n));
  const entropy = cborAddressBytes(Address.fromString(miner).toBytes());
  const seed = await retry("reading randomness", () =>
    chain.stateGetRandomnessFromBeacon(RANDOMNESS_TAG.WindowedPoStChallengeSeed, di.challenge, entropy, tsk, {
      signal,
    }),
  );
  seed[31] = (seed[31] ?? 0) & 0x3f;
  const apiName = apiPoStProofName(info.windowPoStProofType);
  const grouper = new MessageGrouper<ProvenPartition>(
    postPartitionsPerMessage(minerCfg.PoSt.MaxPartitionsPerPoStMessage, deps.networkMaxPartitions),
  );
  const sends: Promise<void>[] = [];
  const pushes: Promise<unknown>[] = [];

  const send = (group: readonly ProvenPartition[]) => {
    let pushedResolve: () => void = () => {};
    pushes.push(
      new Promise<void>((r) => {
        pushedResolve = r;
      }),
    );
    sends.push(
      (async () => {
        await opts.submitAllowed();
        signal.throwIfAborted();
        const sender = await selectSender(chain, info, minerCfg.PoSt.Senders, signal);
        if (!sender)
          throw new SmError(
            "POSTER_NO_SENDER",
            `no usable sender for ${miner}: [Miners.PoSt] Senders must include its owner, worker or a control address with funds`,
          );
        const chainCommitRand = await retry("reading commit randomness", () =>
          chain.stateGetRandomnessFromTickets(
            RANDOMNESS_TAG.PoStChainCommit,
            di.challenge,
            new Uint8Array(0),
            HEAD,
            { signal },
          ),
        );
        const params = buildSubmitParams(
          {
            deadline: di.index,
            partitions: group,
            proofType: info.windowPoStProofType,
            chainCommitEpoch: di.challenge,
            chainCommitRand,
          },
          deps.format,
        );
        const pushed = await chain.pushMessage(
          {
            from: sender,
            to: miner,
            method: MinerMethod.SubmitWindowedPoSt,
            params: encodeSubmitWindowedPoStParams(params),
            value: 0n,
            maxFeeCap: minerCfg.PoSt.GasFeeCap,
          },
          { signal },
        );
        const parts = group.map((g) => g.index);
        pushedResolve();
        log.info("window post message sent", { partitions: parts, cid: pushed.cid, sender });
        const receipt = await retry("waiting for the message", () =>
          chain.waitMessage(pushed.cid, minerCfg.PoSt.Confidence, { signal }),
        );
        result.messages.push({ partitions: parts, cid: pushed.cid, exitCode: receipt.exitCode });
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
      })().finally(() => pushedResolve()),
    );
  };

  const provePartition = async (p: (typeof plan.partitions)[number]) => {
    let skipped = p.skipped;
    let proven = p.proven;
    for (let round = 0; round < MAX_FAULT_ROUNDS && !proven.isEmpty(); round++) {
      const numbers = proven.toNumbers();
      const replicas = numbers.map((n) => {
        const c = good.get(n);
        const s = infos.get(n);
        if (!c?.sealedFile || !c.cacheDir || !s)
          throw new SmError("POSTER_INTERNAL", `sector ${n} has no checked location`);
        return {
          sectorId: n,
          commR: cidToCommitment(s.sealedCid).commitment,
          cacheDir: c.cacheDir,
          sealedFile: c.sealedFile,
        };
      });
      const out = await deps.prove(
        { minerId: minerCfg.Actor, proofType: apiName, replicas, seed },
        { priority: di.close, signal },
      );
      if (out.faults.length > 0) {
        // The prover could not prove these: skip them and prove the rest (one more pass).
        const faults = BitField.fromNumbers(out.faults);
        for (const f of out.faults)
          result.skipped.push({ sector: f, reason: "the prover reported it faulty" });
        log.warn("prover reported faulty sectors; proving the partition again without them", {
          partition: p.index,
          faults: out.faults,
        });
        skipped = skipped.union(faults.intersect(proven));
        proven = proven.subtract(faults);
        continue;
      }
      const partition: ProvenPartition =
        deps.format === "snark"
          ? { index: p.index, skipped, proven, snarkProof: out.proofs[0] }
          : {
              index: p.index,
              skipped,
              proven,
              sectorProofs: new Map(numbers.map((n, i) => [n, out.proofs[i] ?? new Uint8Array()])),
            };
      const group = grouper.add(partition);
      if (group) send(group);
      return;
    }
    log.warn("partition has nothing provable; left out (its sectors become faulty at Close)", {
      partition: p.index,
    });
  };

  const proving = await Promise.allSettled(plan.partitions.map(provePartition));
  for (const r of proving)
    if (r.status === "rejected" && !signal.aborted)
      log.error("partition proving failed", { err: errorMessage(r.reason) });
  const rest = grouper.finish();
  if (rest) send(rest);
  await Promise.all(pushes);
  opts.onAllPushed?.();
  const sent = await Promise.allSettled(sends);
  for (const r of sent)
    if (r.status === "rejected" && !signal.aborted)
      log.error("window post submission failed", { err: errorMessage(r.reason) });
  return result;
}
