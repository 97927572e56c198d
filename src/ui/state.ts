/**
 * The dashboard's model: builds `DashboardState` from the node's parts. Chain reads are cached and
 * refreshed when the head changes (one `chainHead` poll every few seconds; the miners' deadlines and
 * partitions once per new head; balances at most once a minute), never per HTTP request, so any
 * number of open pages costs the chain node nothing more. `snapshot()` is synchronous and cheap.
 *
 * Partition progress comes from the Poster's live runs (PosterHooks.onRun hands over the RunResult
 * the stages fill as they go) and, on a cluster member, from the database's tasks. The runner does
 * not say when a partition moves from its check to its prover, so a partition of a run whose due
 * list is known and that has no outcome yet shows "proving" ("checking" before the due list is read).
 */
import { BitField } from "../chain/bitfield.js";
import { newDeadlineInfo } from "../chain/dline.js";
import type { ChainPort, DeadlineInfo, DeadlineState, Partition, TipSet } from "../chain/interface.js";
import { listNodes, listTasks } from "../cluster/index.js";
import type { Logger } from "../log/logger.js";
import type { DeadlineOutcome, RunResult } from "../poster/types.js";
import type { ChildStatus } from "../prover/ext/pool.js";
import type { Pg } from "../store/pg/db.js";
import { errorMessage } from "../util/errors.js";
import { sleep } from "../util/time.js";
import { AlertBook, attoToFil, computeAlerts } from "./alerts.js";
import { MessageRing, watchRecoveryMessages } from "./messages.js";
import type {
  ClusterView,
  CurrentPartitionView,
  DashboardState,
  DeadlineView,
  MessageView,
  MinerView,
  ProvingTime,
  SenderView,
  TaskCounts,
} from "./types.js";

export * from "./types.js";

export interface DashboardOptions {
  /** Epochs before Close under which unproven partitions raise deadline-at-risk; null: window / 4. */
  atRiskEpochs: number | null;
  /** Seconds per epoch until two heads tell (30 on mainnet). */
  blockSeconds: number;
  /**
   * Worker/control balance under which sender-balance-low fires, in attoFIL ([Common.Dashboard]
   * MinSenderBalance). A conservative constant, not an estimate from the base fee, which the chain
   * port does not read: 48 SubmitWindowedPoSt a day at up to ~0.02 FIL each is about 1 FIL.
   */
  minBalanceAtto: bigint;
  /** How often the head is polled. */
  headPollMs: number;
  balanceEveryMs: number;
  clusterEveryMs: number;
  /** How long proving times are kept. */
  provingDays: number;
  /** Restarts within this many minutes that make a prover "flapping". */
  flappingMinutes: number;
  flappingRestarts: number;
  /** How long a missed deadline or new faults stay on the alert list. */
  alertHoldMs: number;
}

export const DEFAULT_DASHBOARD_OPTIONS: Readonly<DashboardOptions> = Object.freeze({
  atRiskEpochs: null,
  blockSeconds: 30,
  minBalanceAtto: 10n ** 18n,
  headPollMs: 3_000,
  balanceEveryMs: 60_000,
  clusterEveryMs: 5_000,
  provingDays: 3,
  flappingMinutes: 10,
  flappingRestarts: 3,
  alertHoldMs: 3_600_000,
});

export interface DashboardDeps {
  name: () => string;
  version: string;
  modules: string[];
  /** "f01000" for each [[Miners]] block with PoSt enabled (or all when the node only watches). */
  miners: string[];
  /** The chain client; undefined when no chain node is configured. */
  chain?: () => ChainPort;
  /** The ext-prover children (none without --ext-prover). */
  provers?: () => ChildStatus[];
  /** The cluster database when this node is a cluster member. */
  cluster?: { pg: Pg };
  /** Lease takeovers this node did (vsm_cluster_lease_takeovers_total). */
  takeovers?: () => Promise<number> | number;
  logger: Logger;
  now?: () => number;
  options?: Partial<DashboardOptions>;
}

interface MinerCache {
  di: DeadlineInfo;
  tipset: TipSet;
  deadlines: DeadlineState[];
  partitions: Map<number, Partition[]>;
  senders: SenderView[];
  balancesAt: number;
  faults: number | null;
}

interface LiveRun {
  miner: string;
  di: DeadlineInfo;
  result: RunResult;
}

const MAX_TIMES = 2000;

export class DashboardModel {
  private readonly o: DashboardOptions;
  private readonly now: () => number;
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;
  private head: TipSet | null = null;
  private network: string | null = null;
  private headError: string | null = null;
  private blockSeconds: number;
  private readonly minerCache = new Map<string, MinerCache>();
  private readonly runs = new Map<string, LiveRun>();
  private readonly messages = new MessageRing();
  private readonly times: ProvingTime[] = [];
  private readonly missed: { miner: string; index: number; open: number; outcome: string; at: number }[] = [];
  private readonly newFaults = new Map<string, { before: number; now: number; at: number }>();
  private readonly restarts = new Map<string, { t: number; restarts: number }[]>();
  private readonly lastMargin = new Map<string, number>();
  private cluster: ClusterView | null = null;
  private clusterTasks = new Map<string, { state: string; node: string | null; skipped: number }>();
  private clusterAt = 0;
  private readonly alerts = new AlertBook();
  private readonly listeners = new Set<() => void>();
  private fullRefreshHeads = 0;

  constructor(private readonly deps: DashboardDeps) {
    this.o = { ...DEFAULT_DASHBOARD_OPTIONS, ...deps.options };
    this.now = deps.now ?? Date.now;
    this.blockSeconds = this.o.blockSeconds;
  }

  /** Called whenever something the state is built from changed (the SSE stream compares snapshots). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) {
      try {
        fn();
      } catch (e) {
        this.deps.logger.warn("dashboard listener failed", { err: errorMessage(e) });
      }
    }
  }

  /** Starts the background refresh; `close()` stops it. */
  start(): void {
    this.loop ??= this.run(this.stop.signal);
  }

  async close(): Promise<void> {
    this.stop.abort();
    this.listeners.clear();
    await this.loop;
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.refresh(signal).catch((e) => {
        if (!signal.aborted) this.deps.logger.debug("dashboard refresh failed", { err: errorMessage(e) });
      });
      // sleep() ends at once when the signal has already aborted (close() during the refresh).
      await sleep(this.o.headPollMs, signal).catch(() => {});
    }
  }

  /** One refresh round: the head, and when it moved the miners; the cluster's views. Exposed for tests. */
  async refresh(signal: AbortSignal = this.stop.signal): Promise<void> {
    let moved = false;
    if (this.deps.chain) {
      const chain = this.deps.chain();
      if (this.network === null) this.network = await chain.networkName({ signal }).catch(() => null);
      let head: TipSet;
      try {
        head = await chain.chainHead({ signal });
        this.headError = null;
      } catch (e) {
        this.headError = errorMessage(e);
        this.changed();
        throw e;
      }
      if (!this.head || head.height !== this.head.height || head.key.join() !== this.head.key.join()) {
        if (this.head && head.height > this.head.height && head.timestamp > this.head.timestamp)
          this.blockSeconds = Math.max(
            1,
            (head.timestamp - this.head.timestamp) / (head.height - this.head.height),
          );
        moved = true;
        this.fullRefreshHeads = (this.fullRefreshHeads + 1) % 10;
        for (const m of this.deps.miners)
          await this.refreshMiner(chain, m, head, signal).catch((e) => {
            if (!signal.aborted)
              this.deps.logger.debug("dashboard: miner refresh failed", { miner: m, err: errorMessage(e) });
          });
        // The head is shown once the miners were read at it, so a page never sees a new head with
        // the deadlines of the last one (or none at all on the first round).
        this.head = head;
      }
    }
    if (this.deps.cluster && this.now() - this.clusterAt >= this.o.clusterEveryMs) {
      this.clusterAt = this.now();
      await this.refreshCluster(this.deps.cluster.pg).catch((e) =>
        this.deps.logger.debug("dashboard: cluster refresh failed", { err: errorMessage(e) }),
      );
      moved = true;
    }
    // A live run's partitions move between heads: let the streams look (they send only on a change).
    if (moved || this.deps.provers || this.runs.size > 0) this.changed();
  }

  private async refreshMiner(
    chain: ChainPort,
    miner: string,
    head: TipSet,
    signal: AbortSignal,
  ): Promise<void> {
    const o = { signal };
    const di = await chain.stateMinerProvingDeadline(miner, head.key, o);
    const deadlines = await chain.stateMinerDeadlines(miner, head.key, o);
    const prev = this.minerCache.get(miner);
    // Every deadline's partitions on a new proving period and every 10 heads; the current one and
    // the next every head (faults and recoveries are declared for the deadlines ahead).
    const full = !prev || prev.di.periodStart !== di.periodStart || this.fullRefreshHeads === 0;
    const partitions = new Map(prev?.partitions ?? []);
    const which = full ? deadlines.map((_, i) => i) : [di.index, (di.index + 1) % di.wPoStPeriodDeadlines];
    for (const i of which) partitions.set(i, await chain.stateMinerPartitions(miner, i, head.key, o));
    let senders = prev?.senders ?? [];
    let balancesAt = prev?.balancesAt ?? 0;
    if (!prev || this.now() - balancesAt >= this.o.balanceEveryMs) {
      const info = await chain.stateMinerInfo(miner, head.key, o);
      const roles: [string, SenderView["role"]][] = [
        [info.owner, "owner"],
        [info.worker, "worker"],
        ...info.controlAddresses.map((a): [string, SenderView["role"]] => [a, "control"]),
      ];
      senders = [];
      for (const [address, role] of roles) {
        const a = await chain.stateGetActor(address, head.key, o).catch(() => null);
        senders.push({ address, role, balanceFil: a ? attoToFil(a.balance) : "?" });
      }
      balancesAt = this.now();
    }
    let faults = 0;
    for (const ps of partitions.values()) for (const p of ps) faults += p.faultySectors.count();
    const before = prev?.faults ?? null;
    // On every read, full or not: a fault first seen by a read of the current or next deadline is in
    // the count from then on, so a later full read would never see it rise.
    if (before !== null && faults > before)
      this.newFaults.set(miner, { before, now: faults, at: this.now() });
    this.minerCache.set(miner, {
      di,
      tipset: head,
      deadlines,
      partitions,
      senders,
      balancesAt,
      faults: full ? faults : (prev?.faults ?? faults),
    });
  }

  private async refreshCluster(pg: Pg): Promise<void> {
    const nodes = await listNodes(pg);
    const tasks = await listTasks(pg, { limit: 1000 });
    const counts: TaskCounts = { waiting: 0, running: 0, done: 0, failed: 0 };
    const byKey = new Map<string, { state: string; node: string | null; skipped: number }>();
    // Counts of the last proving period (a day on mainnet): older tasks say nothing about now.
    const period = [...this.minerCache.values()][0]?.di.wPoStProvingPeriod ?? 2880;
    const since = this.head ? this.head.height - period : null;
    for (const t of tasks) {
      if (since !== null && t.close < since) continue;
      counts[t.state]++;
      byKey.set(`f0${t.miner}@${t.open}#${t.partition}`, {
        state: t.state,
        node: t.node,
        skipped: t.skipped?.length ?? 0,
      });
    }
    const takeovers = await this.deps.takeovers?.();
    this.clusterTasks = byKey;
    this.cluster = {
      nodes: nodes.map((n) => ({
        name: n.name,
        alive: n.alive,
        capacity: n.capacity,
        inFlight: n.tasksInFlight,
        cordoned: n.cordoned,
        lastHeartbeat: n.lastHeartbeat.toISOString(),
      })),
      takeovers: takeovers ?? 0,
      tasks: counts,
    };
  }

  /** PosterHooks.onRun: a deadline run started (its result fills as it goes) or was judged. */
  observeRun(e: {
    phase: "start" | "end";
    miner: string;
    di: DeadlineInfo;
    result: RunResult;
    outcome?: DeadlineOutcome;
  }): void {
    const key = `${e.miner}@${e.di.open}`;
    if (e.phase === "start") {
      this.runs.set(key, { miner: e.miner, di: e.di, result: e.result });
    } else {
      this.ingest({ miner: e.miner, di: e.di, result: e.result });
      const t = new Date(this.now()).toISOString();
      for (const p of e.result.partitions)
        if (p.source === "proved" && p.ms > 0)
          this.times.push({ t, miner: e.miner, partition: p.index, seconds: p.ms / 1000 });
      const keepFrom = this.now() - this.o.provingDays * 86_400_000;
      while (this.times.length > MAX_TIMES || Date.parse(this.times[0]?.t ?? "") < keepFrom)
        this.times.shift();
      if (e.outcome === "missed" || e.outcome === "partial")
        this.missed.push({
          miner: e.miner,
          index: e.di.index,
          open: e.di.open,
          outcome: e.outcome,
          at: this.now(),
        });
      this.runs.delete(key);
    }
    this.changed();
  }

  /** The messages of a run into the ring (pushed first, then their receipts). */
  private ingest(r: LiveRun): void {
    const view = (cid: string, partitions: number[]): MessageView => ({
      cid,
      miner: r.miner,
      method: "SubmitWindowedPoSt",
      partitions,
      gasUsed: null,
      exitCode: null,
      height: null,
      time: new Date(this.now()).toISOString(),
    });
    for (const p of r.result.pushed) this.messages.upsert(view(p.cid, p.partitions));
    for (const m of r.result.messages) {
      this.messages.upsert({
        ...view(m.cid, m.partitions),
        exitCode: m.exitCode,
        height: m.height,
        gasUsed: m.gasUsed ?? null,
      });
      if (m.exitCode === 0) this.lastMargin.set(r.miner, r.di.close - m.height);
    }
  }

  /**
   * `chain` with its DeclareFaultsRecovered messages shown on the page (the PoSter's chain client
   * is given through this; see messages.ts).
   */
  watchChain(chain: ChainPort): ChainPort {
    return watchRecoveryMessages(
      chain,
      {
        push: (m) => {
          this.messages.upsert(m);
          this.changed();
        },
        receipt: (cid, r) => {
          if (this.messages.receipt(cid, r)) this.changed();
        },
      },
      this.now,
    );
  }

  /** The whole state, built from the caches. */
  snapshot(): DashboardState {
    const nowMs = this.now();
    for (const r of this.runs.values()) this.ingest(r);
    const head = this.head;
    const headTime = head ? new Date(head.timestamp * 1000).toISOString() : null;
    const provers = (this.deps.provers?.() ?? []).map((c) => ({
      block: c.block,
      cudaVisibleDevices: c.envs.CUDA_VISIBLE_DEVICES ?? null,
      state: c.state,
      inFlight: c.inFlight,
      done: c.done,
      failed: c.failed,
      restarts: c.restarts,
      avgMs: c.avgMs,
    }));
    const state: DashboardState = {
      node: {
        name: this.deps.name(),
        version: this.deps.version,
        modules: this.deps.modules,
        now: new Date(nowMs).toISOString(),
      },
      chain: {
        head: head?.height ?? null,
        headTime,
        lagSeconds: head ? Math.max(0, Math.round(nowMs / 1000 - head.timestamp)) : null,
        network: this.network,
      },
      miners: this.deps.miners.flatMap((m) => {
        const v = this.minerView(m);
        return v ? [v] : [];
      }),
      provers,
      cluster: this.deps.cluster ? (this.cluster ?? { nodes: [], takeovers: 0, tasks: emptyCounts() }) : null,
      messages: this.messages.views(),
      alerts: [],
      provingTimes: [...this.times],
    };
    const hold = nowMs - this.o.alertHoldMs;
    while ((this.missed[0]?.at ?? hold) < hold) this.missed.shift();
    for (const [m, f] of this.newFaults) if (f.at < hold) this.newFaults.delete(m);
    state.alerts = this.alerts.stamp(
      computeAlerts({
        state,
        nowMs,
        headError: this.headError,
        blockSeconds: this.blockSeconds,
        atRiskEpochs: (m) =>
          this.o.atRiskEpochs ??
          Math.max(1, Math.floor((this.minerCache.get(m)?.di.wPoStChallengeWindow ?? 60) / 4)),
        minBalanceAtto: this.o.minBalanceAtto,
        missed: this.missed,
        newFaults: [...this.newFaults].map(([miner, f]) => ({ miner, before: f.before, now: f.now })),
        flapping: this.flapping(provers, nowMs),
      }),
      nowMs,
    );
    return state;
  }

  private flapping(provers: { block: string; restarts: number }[], nowMs: number) {
    const windowMs = this.o.flappingMinutes * 60_000;
    const out: { block: string; restarts: number; windowMinutes: number }[] = [];
    for (const p of provers) {
      const h = this.restarts.get(p.block) ?? [];
      if (h.at(-1)?.restarts !== p.restarts) h.push({ t: nowMs, restarts: p.restarts });
      // The baseline is the last reading taken before the window began: what came after it is inside.
      while ((h[1]?.t ?? nowMs) < nowMs - windowMs) h.shift();
      this.restarts.set(p.block, h);
      const n = p.restarts - (h[0]?.restarts ?? p.restarts);
      if (n >= this.o.flappingRestarts)
        out.push({ block: p.block, restarts: n, windowMinutes: this.o.flappingMinutes });
    }
    return out;
  }

  private minerView(miner: string): MinerView | null {
    const c = this.minerCache.get(miner);
    const head = this.head;
    if (!c || !head) return null;
    const di = c.di;
    const at = (epoch: number) =>
      new Date((head.timestamp + (epoch - head.height) * this.blockSeconds) * 1000).toISOString();
    const deadlines: DeadlineView[] = [];
    for (let i = 0; i < di.wPoStPeriodDeadlines; i++) {
      const d = newDeadlineInfo(di.periodStart, i, head.height, di);
      const ps = c.partitions.get(i) ?? [];
      let sectors = 0;
      let faults = 0;
      let recoveries = 0;
      for (const p of ps) {
        sectors += p.liveSectors.count();
        faults += p.faultySectors.count();
        recoveries += p.recoveringSectors.count();
      }
      deadlines.push({
        index: i,
        state: gridState(i === di.index, ps.length, sectors, faults),
        partitions: ps.length,
        sectors,
        faults,
        recoveries,
        open: at(d.open),
        close: at(d.close),
        openEpoch: d.open,
        closeEpoch: d.close,
      });
    }
    const epochsLeft = Math.max(0, di.close - head.height);
    return {
      miner,
      provingPeriodStart: di.periodStart,
      currentDeadline: di.index,
      deadlinesPerPeriod: di.wPoStPeriodDeadlines,
      deadlines,
      current: {
        index: di.index,
        closeEpoch: di.close,
        epochsLeft,
        secondsLeft: Math.round(epochsLeft * this.blockSeconds),
        partitions: this.currentPartitions(miner, c),
        lastMargin: this.lastMargin.get(miner) ?? null,
      },
      senders: c.senders.map((s) => ({ ...s })),
    };
  }

  private currentPartitions(miner: string, c: MinerCache): CurrentPartitionView[] {
    const di = c.di;
    const posted = c.deadlines[di.index]?.postSubmissions ?? BitField.empty();
    const run = this.runs.get(`${miner}@${di.open}`);
    const r = run?.result;
    return (c.partitions.get(di.index) ?? []).map((p, index) => {
      const sectors = p.liveSectors.subtract(p.faultySectors).union(p.recoveringSectors).count();
      const view: CurrentPartitionView = { index, stage: "waiting", by: null, sectors, skipped: 0 };
      const task = this.clusterTasks.get(`${miner}@${di.open}#${index}`);
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
          view.by = this.deps.name();
          view.stage = r.due === null ? "checking" : r.due.includes(index) ? "proving" : "waiting";
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

function emptyCounts(): TaskCounts {
  return { waiting: 0, running: 0, done: 0, failed: 0 };
}
