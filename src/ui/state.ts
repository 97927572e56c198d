/**
 * The dashboard's model: builds `DashboardState` from the node's parts. Chain reads are cached and
 * refreshed when the head changes (one `chainHead` poll every few seconds; the miners' deadlines and
 * partitions once per new head; balances at most once a minute), never per HTTP request, so any
 * number of open pages costs the chain node nothing more. `snapshot()` is synchronous and cheap.
 *
 * Partition progress comes from the Poster's live runs (PosterHooks.onRun hands over the RunResult
 * the stages fill as they go, including which prover took each partition) and, on a cluster member,
 * from the database's tasks; minerView.ts turns them into stages. The sender need (a day of the
 * miner's messages at the head's base fee) is worked out once per head, with the miner's reads.
 */
import type { ChainPort, DeadlineInfo, TipSet } from "../chain/interface.js";
import type { Logger } from "../log/logger.js";
import type { DeadlineOutcome, RunResult } from "../poster/types.js";
import type { ChildStatus } from "../prover/ext/pool.js";
import type { Pg } from "../store/pg/db.js";
import { errorMessage } from "../util/errors.js";
import { sleep } from "../util/time.js";
import { AlertBook, attoToFil, computeAlerts } from "./alerts.js";
import { emptyCounts, readCluster } from "./clusterView.js";
import { type GatewayRow, gatewayViews } from "./gateways.js";
import { MessageRing, watchRecoveryMessages } from "./messages.js";
import {
  ASSUMED_POST_GAS,
  buildMinerView,
  dayOfMessages,
  type LiveRun,
  type MinerCache,
  type TaskMark,
} from "./minerView.js";
import type {
  ClusterView,
  DashboardState,
  MessageView,
  MinerView,
  ProvingTime,
  SenderView,
} from "./types.js";

export * from "./types.js";

export interface DashboardOptions {
  /** Epochs before Close under which unproven partitions raise deadline-at-risk; null: window / 4. */
  atRiskEpochs: number | null;
  /** Seconds per epoch until two heads tell (30 on mainnet). */
  blockSeconds: number;
  /**
   * The floor of the balance under which a worker or control address raises sender-balance-low, in
   * attoFIL ([Common.Dashboard] MinSenderBalance). Above it, the need is a day of the miner's PoSt
   * messages at the head's base fee (minerView.ts dayOfMessages).
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
  /** A --miner node's sophon-gateway registrations (none: the panel stays hidden). */
  gateways?: () => readonly GatewayRow[];
  /** Told each miner's sender need (FIL) once per head: vsm_sender_need_fil. */
  onSenderNeed?: (miner: string, fil: string) => void;
  /** The cluster database when this node is a cluster member. */
  cluster?: { pg: Pg };
  logger: Logger;
  now?: () => number;
  options?: Partial<DashboardOptions>;
}

const MAX_TIMES = 2000;
/** A page counts as open this long after its last request (its poll comes every 3 s). */
const VIEW_HOLD_MS = 60_000;
/** Heads between two reads of the miners while no page is open (5 min on mainnet). */
export const UNWATCHED_EVERY = 10;

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
  private clusterTasks = new Map<string, TaskMark>();
  private clusterAt = 0;
  private readonly alerts = new AlertBook();
  private readonly listeners = new Set<() => void>();
  /** Reads of the miners so far, modulo 10: every 10th reads every deadline's partitions. */
  private minerReads = 0;
  /** The head key the miners were last read at; heads since. */
  private minersAt: string | null = null;
  private headsSinceRead = 0;
  /** When a page last asked for the state (snapshot). */
  private viewedAt = Number.NEGATIVE_INFINITY;

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
        this.headsSinceRead++;
      }
      // The miners cost ~9 chain calls each: read at every head while someone looks at the page
      // (a stream open, or a request within VIEW_HOLD_MS), else every UNWATCHED_EVERY heads, which
      // keeps vsm_sender_need_fil and the fault count going. A page that opens is served at once.
      const key = head.key.join();
      const watched = this.listeners.size > 0 || this.now() - this.viewedAt < VIEW_HOLD_MS;
      if (
        this.minersAt !== key &&
        (watched || this.minersAt === null || this.headsSinceRead >= UNWATCHED_EVERY)
      ) {
        this.minerReads = (this.minerReads + 1) % 10;
        for (const m of this.deps.miners)
          await this.refreshMiner(chain, m, head, signal).catch((e) => {
            if (!signal.aborted)
              this.deps.logger.debug("dashboard: miner refresh failed", { miner: m, err: errorMessage(e) });
          });
        this.minersAt = key;
        this.headsSinceRead = 0;
        moved = true;
      }
      // The head is shown once the miners were read at it (when someone looks), so a page never sees
      // a new head with the deadlines of the last one (or none at all on the first round).
      if (moved && (this.minersAt === key || !watched)) this.head = head;
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
    const full = !prev || prev.di.periodStart !== di.periodStart || this.minerReads === 0;
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
    const need = this.senderNeed(miner, { di, partitions }, head);
    this.minerCache.set(miner, {
      di,
      tipset: head,
      deadlines,
      partitions,
      senders,
      balancesAt,
      faults: full ? faults : (prev?.faults ?? faults),
      need,
    });
    this.deps.onSenderNeed?.(miner, attoToFil(need.atto));
  }

  private async refreshCluster(pg: Pg): Promise<void> {
    // Counts of the last proving period (a day on mainnet): older tasks say nothing about now.
    const period = [...this.minerCache.values()][0]?.di.wPoStProvingPeriod ?? 2880;
    const r = await readCluster(pg, this.head ? this.head.height - period : null);
    this.clusterTasks = r.tasks;
    this.cluster = r.view;
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
    this.viewedAt = nowMs;
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
    const gateways = this.deps.gateways?.() ?? [];
    if (gateways.length > 0) state.gateways = gatewayViews(gateways);
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
    return buildMinerView({
      miner,
      cache: c,
      head,
      blockSeconds: this.blockSeconds,
      nodeName: this.deps.name(),
      run: this.runs.get(`${miner}@${c.di.open}`),
      tasks: this.clusterTasks,
      lastMargin: this.lastMargin.get(miner) ?? null,
    });
  }

  /**
   * What a worker or control address of `miner` should hold: a day of its PoSt messages at the
   * head's base fee, with the gas its own landed messages used (the median) once there are any, and
   * never less than the configured floor.
   */
  private senderNeed(
    miner: string,
    c: Pick<MinerCache, "di" | "partitions">,
    head: TipSet,
  ): { atto: bigint; why: string } {
    const used = this.messages
      .views()
      .flatMap((m) =>
        m.miner === miner && m.method === "SubmitWindowedPoSt" && m.exitCode === 0 && m.gasUsed !== null
          ? [m.gasUsed]
          : [],
      )
      .sort((a, b) => a - b);
    const gas = used[Math.floor(used.length / 2)] ?? ASSUMED_POST_GAS;
    const fee = head.parentBaseFee ?? null;
    const day = dayOfMessages(c, { gasPerMessage: gas, baseFee: fee, blockSeconds: this.blockSeconds });
    const floor = this.o.minBalanceAtto;
    const basis = `${day.messages} message${day.messages === 1 ? "" : "s"} a day × ${gas} gas (${used.length > 0 ? "the median of its own" : "assumed"})`;
    if (day.atto === null)
      return {
        atto: floor,
        why: `[Common.Dashboard] MinSenderBalance (the chain node gives no base fee to price ${basis})`,
      };
    if (day.atto <= floor)
      return {
        atto: floor,
        why: `[Common.Dashboard] MinSenderBalance, above the ${attoToFil(day.atto)} FIL of ${basis} × 1.25 gas limit at a base fee of ${fee} attoFIL`,
      };
    return { atto: day.atto, why: `${basis} × 1.25 gas limit at a base fee of ${fee} attoFIL` };
  }
}
