/**
 * One miner's part of the dashboard, built from what the model cached at the last head: the
 * deadline grid, the current deadline's partitions (from the Poster's live run or, on a cluster
 * member, the database's tasks), the senders, and the balance a sender needs for a day of messages.
 */
import { BitField } from "../chain/bitfield.js";
import { newDeadlineInfo } from "../chain/dline.js";
import type { DeadlineInfo, DeadlineState, Partition, TipSet } from "../chain/interface.js";
import type { RunResult } from "../poster/types.js";
import { attoToFil } from "./alerts.js";
import type { CurrentPartitionView, DeadlineView, MinerView, SenderView } from "./types.js";

/** What the model read for one miner at the last head. */
export interface MinerCache {
  di: DeadlineInfo;
  tipset: TipSet;
  deadlines: DeadlineState[];
  partitions: Map<number, Partition[]>;
  senders: SenderView[];
  balancesAt: number;
  faults: number | null;
  /** The balance under which a worker or control address is low, in attoFIL, and how it was found. */
  need: { atto: bigint; why: string };
}

/** A deadline run of the Poster going on now (its result fills as the stages go). */
export interface LiveRun {
  miner: string;
  di: DeadlineInfo;
  result: RunResult;
}

/** A cluster task as the page shows it, keyed `f0<miner>@<open>#<partition>`. */
export interface TaskMark {
  state: string;
  node: string | null;
  skipped: number;
}

/**
 * Gas one SubmitWindowedPoSt is assumed to use until a message of the miner landed: a round figure
 * above what such messages usually use on mainnet (tens of millions), so the estimate errs high.
 */
export const ASSUMED_POST_GAS = 60_000_000;

/** Partitions per SubmitWindowedPoSt the day's estimate assumes (the network's limit since nv21). */
const PARTITIONS_PER_MESSAGE = 3;

/** Lotus' default GasOverEstimation: the gas limit a push sets over the estimate, paid at the base fee. */
const GAS_OVER_ESTIMATION = 1.25;

export interface DayOfMessages {
  messages: number;
  gasPerMessage: number;
  /** The estimate's cost in attoFIL; null without a base fee. */
  atto: bigint | null;
}

/**
 * What a day of this miner's PoSt messages costs: one SubmitWindowedPoSt per 3 partitions of every
 * deadline, each proving period of the day, at `gasPerMessage` gas limit × 1.25 paid at `baseFee`
 * (attoFIL per gas). The premium is left out (a few percent). Base fees move: this is today's cost.
 */
export function dayOfMessages(
  c: Pick<MinerCache, "di" | "partitions">,
  opts: { gasPerMessage: number; baseFee: bigint | null; blockSeconds: number },
): DayOfMessages {
  let perPeriod = 0;
  for (const ps of c.partitions.values()) perPeriod += Math.ceil(ps.length / PARTITIONS_PER_MESSAGE);
  const periodSeconds = c.di.wPoStProvingPeriod * opts.blockSeconds;
  const messages = Math.ceil(perPeriod * (86_400 / Math.max(1, periodSeconds)));
  const gasLimit = BigInt(Math.ceil(opts.gasPerMessage * GAS_OVER_ESTIMATION));
  return {
    messages,
    gasPerMessage: opts.gasPerMessage,
    atto: opts.baseFee === null ? null : BigInt(messages) * gasLimit * opts.baseFee,
  };
}

export interface MinerViewInputs {
  miner: string;
  cache: MinerCache;
  head: TipSet;
  blockSeconds: number;
  /** This node's name: who works on a partition of a standalone run before a prover takes it. */
  nodeName: string;
  run: LiveRun | undefined;
  tasks: ReadonlyMap<string, TaskMark>;
  lastMargin: number | null;
}

export function buildMinerView(i: MinerViewInputs): MinerView {
  const { cache: c, head } = i;
  const di = c.di;
  const at = (epoch: number) =>
    new Date((head.timestamp + (epoch - head.height) * i.blockSeconds) * 1000).toISOString();
  const deadlines: DeadlineView[] = [];
  for (let d = 0; d < di.wPoStPeriodDeadlines; d++) {
    const info = newDeadlineInfo(di.periodStart, d, head.height, di);
    const ps = c.partitions.get(d) ?? [];
    let sectors = 0;
    let faults = 0;
    let recoveries = 0;
    for (const p of ps) {
      sectors += p.liveSectors.count();
      faults += p.faultySectors.count();
      recoveries += p.recoveringSectors.count();
    }
    deadlines.push({
      index: d,
      state: gridState(d === di.index, ps.length, sectors, faults),
      partitions: ps.length,
      sectors,
      faults,
      recoveries,
      open: at(info.open),
      close: at(info.close),
      openEpoch: info.open,
      closeEpoch: info.close,
    });
  }
  const epochsLeft = Math.max(0, di.close - head.height);
  return {
    miner: i.miner,
    provingPeriodStart: di.periodStart,
    currentDeadline: di.index,
    deadlinesPerPeriod: di.wPoStPeriodDeadlines,
    deadlines,
    current: {
      index: di.index,
      closeEpoch: di.close,
      epochsLeft,
      secondsLeft: Math.round(epochsLeft * i.blockSeconds),
      partitions: currentPartitions(i),
      lastMargin: i.lastMargin,
    },
    senders: c.senders.map((s) => ({ ...s })),
    senderNeedFil: attoToFil(c.need.atto),
    senderNeedWhy: c.need.why,
  };
}

/**
 * The current deadline's partitions. A cluster task says who holds it; a standalone run says which
 * prover took it (RunResult.provers); before that, a partition due is being checked or waits for a
 * free prover ("checking"), one not due waits.
 */
function currentPartitions(i: MinerViewInputs): CurrentPartitionView[] {
  const di = i.cache.di;
  const posted = i.cache.deadlines[di.index]?.postSubmissions ?? BitField.empty();
  const r = i.run?.result;
  return (i.cache.partitions.get(di.index) ?? []).map((p, index) => {
    const sectors = p.liveSectors.subtract(p.faultySectors).union(p.recoveringSectors).count();
    const view: CurrentPartitionView = { index, stage: "waiting", by: null, sectors, skipped: 0 };
    const task = i.tasks.get(`${i.miner}@${di.open}#${index}`);
    if (task) {
      view.by = task.node;
      view.skipped = task.skipped;
      view.stage =
        task.state === "running"
          ? "proving"
          : task.state === "done"
            ? "proven"
            : task.state === "failed"
              ? "failed"
              : "waiting";
    }
    if (r) {
      const outcome = r.partitions.find((x) => x.index === index);
      if (!task) {
        const prover = r.provers?.[index];
        view.by = prover ?? i.nodeName;
        view.stage =
          prover !== undefined ? "proving" : r.due === null || r.due.includes(index) ? "checking" : "waiting";
      }
      if (outcome) {
        view.skipped = outcome.skipped;
        view.stage =
          outcome.source === "on-chain"
            ? "on-chain"
            : outcome.source === "failed" || outcome.source === "none"
              ? "failed"
              : "proven";
      }
      if (r.pushed.some((m) => m.partitions.includes(index))) view.stage = "submitted";
      const landed = r.messages.find((m) => m.partitions.includes(index));
      if (landed) view.stage = landed.exitCode === 0 ? "on-chain" : "failed";
    }
    if (posted.has(index)) view.stage = "on-chain";
    return view;
  });
}

/** Curio's grid vocabulary for one deadline. */
export function gridState(
  current: boolean,
  partitions: number,
  sectors: number,
  faults: number,
): DeadlineView["state"] {
  if (partitions === 0 || sectors === 0) return current ? "current" : "empty";
  if (current) return "current";
  if (faults === 0) return "proven";
  return faults >= sectors ? "faulty" : "partly-faulty";
}
