/**
 * This node as a member of the PoSter cluster: the loop issue 13 describes, over the library's
 * transactions (nodes.ts, tasks.ts, groups.ts, recoveries.ts).
 *
 *  - join: register under its name with a new session (its previous life's tasks go back to waiting);
 *  - every renewEveryMs: renew every lease it holds (its tasks in one statement, each message group
 *    and recovery beside it), drop what comes back lost; beside the renewals, never holding them
 *    back: the heartbeat, the task count for the metrics, a changed prover capacity;
 *  - claim: whenever it has a free prover slot (woken when a task ends or a deadline's tasks are
 *    created, else every pollMs), claim tasks earliest Close first across all miners, up to its free
 *    capacity, and check + prove each here (proveTask.ts), then record the proof, fenced;
 *  - on each head: tasks and groups past their Close become failed, with the reason (one cheap check
 *    first: nearly always there are none);
 *  - on shutdown: hand every task it holds back (waiting), so another node takes it at once rather
 *    than after the lease.
 *
 * Every piece of work is held under a LocalLease (localLease.ts): when a renewal does not come back in
 * time (the database is unreachable, the node was frozen), the work's signal aborts and nothing more is
 * recorded or sent for it. A node that cannot reach the database therefore stops proving what it can
 * no longer record, and claims nothing (claims fail) until the database is back; then it goes on by
 * itself.
 */
import { performance } from "node:perf_hooks";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/metrics.js";
import { isTransient } from "../poster/retry.js";
import type { Pg } from "../store/pg/db.js";
import { errorMessage, SmError } from "../util/errors.js";
import { linkSignals } from "../util/signal.js";
import { sleep } from "../util/time.js";
import { expireGroupsAtClose, renewGroupLease } from "./groups.js";
import { LocalLease } from "./localLease.js";
import { heartbeat, listNodes, registerNode, setCapacity } from "./nodes.js";
import { type ClusterTimings, deadAfterMs } from "./options.js";
import type { TaskProveDeps } from "./proveTask.js";
import { pruneClosedDeadlines, pruneTaskHistory } from "./prune.js";
import { renewRecoveryLease } from "./recoveries.js";
import { runClaimedTask, type TaskEnd } from "./taskRun.js";
import { type ClaimedTask, claimTasks, expireTasksAtClose, failTask, renewTaskLeases } from "./tasks.js";
import { heldTasks, unfinishedPastClose } from "./taskViews.js";
import type { GroupLease, NodeIdentity, RecoveryKey, TaskLease } from "./types.js";

export interface MemberOptions {
  name: string;
  /** `host:port` where operators reach this node. */
  address: string;
  /** Partition tasks this node may prove at once: its ext-prover WdPost Concurrent sum, or worker threads. */
  capacity: () => number;
  timings: ClusterTimings;
  /** How often to look for work when nothing wakes the node, ms (default 1000). */
  pollMs?: number;
  deps: TaskProveDeps;
  metrics?: Metrics;
  logger: Logger;
}

/**
 * Local safety margin on every lease, ms: the node treats a lease as gone this long before the
 * database will, to cover the time between its last local check and a message reaching the chain node.
 */
const LEASE_MARGIN_MS = 1000;

/** How often the cluster's tasks are counted by state for vsm_cluster_tasks, ms. */
const TASK_COUNT_EVERY_MS = 5000;

/** How long a stopping node tries to hand its tasks back, ms. */
const HAND_BACK_MS = 2000;

/** Every this many heads, closed deadlines and old task history are pruned (cheap, idempotent). */
const PRUNE_EVERY_HEADS = 120;

interface HeldTask {
  lease: TaskLease;
  local: LocalLease;
  done: Promise<void>;
}

interface Held {
  lease: LocalLease;
  /** Renews it in the database; throws CLUSTER_LEASE_LOST once lost. Absent for tasks (renewed together). */
  renew?: () => Promise<void>;
}

export class ClusterMember {
  private readonly log: Logger;
  private readonly tasks = new Map<string, HeldTask>();
  private readonly others = new Map<string, Held>();
  private height = -1;
  private heads = 0;
  private capacity: number;
  private wakeUp: () => void = () => {};
  private readonly changeListeners = new Set<() => void>();
  private expiring = false;
  private lastHeartbeat = Number.NEGATIVE_INFINITY;
  private lastCount = Number.NEGATIVE_INFINITY;
  private housekeeping = false;
  /** Failures in a row of this node's tasks, and until when it claims nothing because of them. */
  private failStreak = 0;
  private claimPausedUntil = 0;
  /** Another process registered this node's name: it takes no work any more. */
  private stale = false;
  /**
   * When a claim whose answer was lost was sent (performance.now()): it may have been applied, so
   * the next round asks the database what this session holds (heldTasks).
   */
  private lostClaimAt: number | undefined;

  private constructor(
    private readonly pg: Pg,
    readonly id: NodeIdentity,
    private readonly opts: MemberOptions,
    capacity: number,
  ) {
    this.capacity = capacity;
    this.log = opts.logger;
  }

  /** Registers the node, retrying while the database is unreachable, until `signal` aborts. */
  static async join(pg: Pg, opts: MemberOptions, signal: AbortSignal): Promise<ClusterMember> {
    const capacity = opts.capacity();
    for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
      try {
        const id = await registerNode(pg, { name: opts.name, address: opts.address, capacity });
        opts.logger.info("joined the cluster", { name: id.name, session: id.session, capacity });
        return new ClusterMember(pg, id, opts, capacity);
      } catch (e) {
        if (signal.aborted || !isTransient(e)) throw e;
        opts.metrics?.clusterDbErrors.inc({ op: "register" });
        opts.logger.warn("cannot join the cluster yet; retrying", { err: errorMessage(e), retry_ms: delay });
        await sleep(delay, signal);
      }
    }
  }

  /** The chain head moved (the PoSter follows it): claims avoid closed deadlines, Close expiry runs. */
  onHead(height: number): void {
    if (height <= this.height) return;
    const first = this.height < 0;
    this.height = height;
    this.expireAtClose(height);
    // Claims need a height to start; after that the claim loop's own rounds and the local wakes find
    // the work (a head every 30 s on mainnet, but several a second on a devnet: not a claim each).
    if (first) this.wake();
  }

  /** Look for work now (a deadline's tasks were created, a task ended). */
  wake(): void {
    this.wakeUp();
  }

  /**
   * Resolves when one of this node's tasks ends, or after `ms`; rejects when `signal` aborts. Deadline
   * runs wait on it between reads of their state, so a proof finished here is grouped at once.
   */
  nextChange(ms: number, signal: AbortSignal): Promise<void> {
    let onChange: () => void = () => {};
    const changed = new Promise<void>((r) => {
      onChange = r;
    });
    this.changeListeners.add(onChange);
    return Promise.race([changed, sleep(ms, signal)]).finally(() => this.changeListeners.delete(onChange));
  }

  /**
   * When the local lease of a message group claimed at `claimedAt` starts: at the claim, or, when the
   * claim took so long to answer that most of the lease is gone on the local clock, at a renewal made
   * at once (as freshen does for tasks).
   */
  async groupLeaseStart(lease: GroupLease, claimedAt: number): Promise<number> {
    const { leaseMs } = this.opts.timings;
    if (performance.now() - claimedAt < slowClaimMs(leaseMs)) return claimedAt;
    const again = performance.now();
    try {
      await renewGroupLease(this.pg, this.id, lease, { leaseMs });
      return again;
    } catch (e) {
      // Lost, or no answer: the lease runs out from the claim, as it would have.
      this.log.warn("renewing a slowly claimed message group failed", { err: errorMessage(e) });
      return claimedAt;
    }
  }

  /** Holds a message group's lease, renewed with the others until released. */
  holdGroup(lease: GroupLease, startedAt: number): LocalLease {
    const what = `message group ${lease.group} of f0${lease.miner} (deadline open ${lease.open})`;
    return this.hold(`g/${lease.miner}/${lease.open}/${lease.group}`, what, startedAt, () =>
      renewGroupLease(this.pg, this.id, lease, this.renewOpts()),
    );
  }

  /** Holds a recovery's lease, renewed with the others until released. */
  holdRecovery(key: RecoveryKey, startedAt: number): LocalLease {
    const what = `recovery declaration of f0${key.miner} (deadline open ${key.open})`;
    return this.hold(`r/${key.miner}/${key.open}`, what, startedAt, () =>
      renewRecoveryLease(this.pg, this.id, key, this.renewOpts()),
    );
  }

  private renewOpts(): { leaseMs: number; timeoutMs: number } {
    return { leaseMs: this.opts.timings.leaseMs, timeoutMs: this.opts.timings.renewEveryMs };
  }

  private hold(key: string, what: string, startedAt: number, renew: () => Promise<void>): LocalLease {
    const lease = new LocalLease(what, this.opts.timings.leaseMs, LEASE_MARGIN_MS, startedAt);
    const held: Held = { lease, renew };
    // A run restarted by a reorg may hold the same key while the previous one unwinds: only the
    // entry's own end removes it.
    this.others.get(key)?.lease.lose("held again by a newer claim");
    this.others.set(key, held);
    const forget = () => {
      if (this.others.get(key) === held) this.others.delete(key);
    };
    lease.signal.addEventListener("abort", forget, { once: true });
    const release = lease.release.bind(lease);
    lease.release = () => {
      release();
      forget();
    };
    return lease;
  }

  /** Runs the member's loops until `signal` aborts, then hands back what it holds. */
  async run(signal: AbortSignal): Promise<void> {
    const renewing = this.renewLoop(signal);
    try {
      await this.claimLoop(signal);
    } finally {
      await renewing.catch(() => {});
      await this.handBack();
    }
  }

  private async renewLoop(signal: AbortSignal): Promise<void> {
    const { renewEveryMs } = this.opts.timings;
    while (!signal.aborted) {
      await sleep(renewEveryMs, signal).catch(() => {});
      if (signal.aborted) return;
      await this.renewOnce();
    }
  }

  /**
   * One round: every lease held, at once and first (what holds work must not wait behind a
   * heartbeat or a count), each bounded by the renewal interval so that a silent database cannot
   * hold the next round back; the heartbeat, the task count and the capacity beside them.
   */
  private async renewOnce(): Promise<void> {
    const started = performance.now();
    // Housekeeping runs beside the renewals and never holds the next round back.
    if (!this.housekeeping) {
      this.housekeeping = true;
      void this.keepHouse(started)
        .catch((e) => this.log.warn("cluster housekeeping failed", { err: errorMessage(e) }))
        .finally(() => {
          this.housekeeping = false;
        });
    }
    await Promise.all([this.renewTasks(started), this.renewOthers(started)]);
  }

  private async renewTasks(started: number): Promise<void> {
    // Work already dropped here is not kept alive in the database: let its lease run out for others.
    const held = [...this.tasks.values()].filter((h) => !h.local.signal.aborted);
    if (held.length === 0) return;
    const { leaseMs, renewEveryMs } = this.opts.timings;
    try {
      const { renewed, lost } = await renewTaskLeases(
        this.pg,
        this.id,
        held.map((h) => h.lease),
        { leaseMs, timeoutMs: renewEveryMs },
      );
      for (const l of renewed) this.tasks.get(taskKey(l))?.local.renewed(started);
      for (const l of lost)
        this.tasks.get(taskKey(l))?.local.lose("the database no longer has it under this node's lease");
    } catch (e) {
      this.opts.metrics?.clusterDbErrors.inc({ op: "renew" });
      this.log.warn("renewing task leases failed; work stops if this lasts a lease", {
        err: errorMessage(e),
        tasks: held.length,
        lease_ms: leaseMs,
      });
    }
  }

  private async renewOthers(started: number): Promise<void> {
    await Promise.all(
      [...this.others.values()].map(async (h) => {
        if (!h.renew || h.lease.signal.aborted) return;
        try {
          await h.renew();
          h.lease.renewed(started);
        } catch (e) {
          if (e instanceof SmError && e.code === "CLUSTER_LEASE_LOST") h.lease.lose(e.message);
          else this.opts.metrics?.clusterDbErrors.inc({ op: "renew" });
        }
      }),
    );
  }

  private async keepHouse(started: number): Promise<void> {
    const m = this.opts.metrics;
    const { heartbeatEveryMs, renewEveryMs } = this.opts.timings;
    if (started - this.lastHeartbeat >= heartbeatEveryMs - renewEveryMs / 2) {
      try {
        await heartbeat(this.pg, this.id);
        this.lastHeartbeat = started;
      } catch (e) {
        m?.clusterDbErrors.inc({ op: "heartbeat" });
        if (e instanceof SmError && e.code === "CLUSTER_SESSION_STALE") this.becomeStale(e);
        else this.log.warn("heartbeat failed", { err: errorMessage(e) });
      }
    }
    if (this.stale) return;
    if (m && started - this.lastCount >= TASK_COUNT_EVERY_MS) {
      this.lastCount = started;
      await this.countTasks(m);
    }
    const capacity = this.opts.capacity();
    if (capacity !== this.capacity) {
      await setCapacity(this.pg, this.id, capacity).then(
        () => {
          this.log.info("prover capacity changed", { from: this.capacity, to: capacity });
          this.capacity = capacity;
        },
        () => m?.clusterDbErrors.inc({ op: "capacity" }),
      );
    }
  }

  /** vsm_cluster_tasks and vsm_cluster_nodes: the cluster's tasks and nodes by state (every state set). */
  private async countTasks(m: Metrics): Promise<void> {
    try {
      const rows = await this.pg.query<{ state: string; n: string }>(
        "SELECT state, count(*) AS n FROM partition_tasks GROUP BY state",
      );
      const by = new Map(rows.map((r) => [r.state, Number(r.n)]));
      for (const state of ["waiting", "running", "done", "failed"])
        m.clusterTasks.set({ state }, by.get(state) ?? 0);
      const nodes = await listNodes(this.pg, { deadAfterMs: deadAfterMs(this.opts.timings) });
      const alive = nodes.filter((n) => n.alive).length;
      m.clusterNodes.set({ state: "alive" }, alive);
      m.clusterNodes.set({ state: "dead" }, nodes.length - alive);
      m.clusterNodes.set({ state: "cordoned" }, nodes.filter((n) => n.cordoned).length);
    } catch {
      m.clusterDbErrors.inc({ op: "count" });
    }
  }

  private becomeStale(e: SmError): void {
    if (this.stale) return;
    this.stale = true;
    this.log.error(
      "another process registered this node's name in the cluster: this one takes no more work. Give every node its own `daemon run --name`",
      { name: this.id.name, err: e.message },
    );
    for (const t of this.tasks.values()) t.local.lose("this node's session was replaced");
    for (const h of this.others.values()) h.lease.lose("this node's session was replaced");
  }

  private async claimLoop(signal: AbortSignal): Promise<void> {
    const pollMs = this.opts.pollMs ?? 1000;
    while (!signal.aborted) {
      const woken = new Promise<void>((r) => {
        this.wakeUp = r;
      });
      await this.claimOnce(signal);
      await Promise.race([woken, sleep(pollMs, signal).catch(() => {})]);
    }
  }

  private async claimOnce(signal: AbortSignal): Promise<void> {
    const free = this.capacity - this.tasks.size;
    if (this.stale || this.height < 0 || free <= 0 || signal.aborted) return;
    if (performance.now() < this.claimPausedUntil) return;
    const m = this.opts.metrics;
    if (this.lostClaimAt !== undefined) await this.adoptHeld(signal);
    const started = performance.now();
    let claimed: ClaimedTask[];
    try {
      const r = await claimTasks(this.pg, this.id, {
        height: this.height,
        max: free,
        leaseMs: this.opts.timings.leaseMs,
      });
      claimed = r.tasks;
      m?.clusterClaimDuration.observe((performance.now() - started) / 1000);
      if (r.takeovers > 0) m?.clusterTakeovers.inc({ kind: "task" }, r.takeovers);
    } catch (e) {
      m?.clusterDbErrors.inc({ op: "claim" });
      if (e instanceof SmError && e.code === "CLUSTER_SESSION_STALE") this.becomeStale(e);
      else {
        if (isTransient(e)) this.lostClaimAt = started;
        this.log.warn("claiming tasks failed", { err: errorMessage(e) });
      }
      return;
    }
    const startedAt = await this.freshen(claimed, started);
    for (const t of claimed) {
      const at = startedAt.get(taskKey(t));
      if (at !== undefined) this.start(t, at, signal);
    }
  }

  /**
   * A claim's local lease counts from when the claim was sent. One that took long to answer (its
   * call waited for a connection while the database restarted or failed over) comes back with
   * little or nothing of it left: its work would be dropped at once, and the task would wait out its
   * lease in the database before anyone took it again. Such tasks are renewed at once, and their work
   * counts from the renewal. Returns when each task's lease starts locally; a task the renewal found
   * lost is left out.
   */
  private async freshen(claimed: readonly ClaimedTask[], started: number): Promise<Map<string, number>> {
    const out = new Map(claimed.map((t) => [taskKey(t), started]));
    const { leaseMs } = this.opts.timings;
    if (claimed.length === 0 || performance.now() - started < slowClaimMs(leaseMs)) return out;
    const again = performance.now();
    try {
      const { lost } = await renewTaskLeases(this.pg, this.id, claimed, { leaseMs });
      for (const t of claimed) out.set(taskKey(t), again);
      for (const l of lost) out.delete(taskKey(l));
    } catch (e) {
      // Kept as claimed: the work stops when the claim's lease runs out, as it would have.
      this.opts.metrics?.clusterDbErrors.inc({ op: "renew" });
      this.log.warn("renewing slowly claimed tasks failed", { err: errorMessage(e), tasks: claimed.length });
    }
    return out;
  }

  /**
   * After a claim whose answer was lost: prove what it took (the database says this session holds it)
   * rather than leaving it idle for a lease. Its local lease starts when that claim was sent, which
   * is no later than the database's start of it.
   */
  private async adoptHeld(signal: AbortSignal): Promise<void> {
    const since = this.lostClaimAt as number;
    try {
      const held = await heldTasks(this.pg, this.id);
      this.lostClaimAt = undefined;
      for (const t of held) if (!this.tasks.has(taskKey(t))) this.start(t, since, signal);
    } catch {
      this.opts.metrics?.clusterDbErrors.inc({ op: "claim" });
    }
  }

  private start(t: ClaimedTask, startedAt: number, signal: AbortSignal): void {
    const lease: TaskLease = { miner: t.miner, open: t.open, partition: t.partition, attempt: t.attempt };
    const what = `partition ${t.partition} of f0${t.miner} deadline ${t.deadline} (open ${t.open})`;
    const local = new LocalLease(what, this.opts.timings.leaseMs, LEASE_MARGIN_MS, startedAt);
    const log = this.log.with({
      miner: `f0${t.miner}`,
      deadline: t.deadline,
      open: t.open,
      partition: t.partition,
      attempt: t.attempt,
    });
    if (t.takeover) log.info("took over a partition task", { from: t.previousHolder, close: t.close });
    else log.info("claimed a partition task", { close: t.close });
    const key = taskKey(lease);
    // This session's own expired lease claimed again: the database gave it a new attempt, so the
    // previous run (still unwinding) can record nothing; it must not outlive or remove the new one.
    this.tasks.get(key)?.local.lose("claimed again under a new attempt");
    const linked = linkSignals([signal, local.signal]);
    const entry: HeldTask = { lease, local, done: Promise.resolve() };
    entry.done = runClaimedTask(
      {
        pg: this.pg,
        id: this.id,
        deps: this.opts.deps,
        metrics: this.opts.metrics,
        log,
        height: this.height,
        ended: (outcome) => this.taskEnded(outcome),
      },
      t,
      lease,
      local,
      linked.signal,
    )
      .catch((e) => log.error("partition task ended in error", { err: errorMessage(e) }))
      .finally(() => {
        linked.done();
        local.release();
        if (this.tasks.get(key) === entry) this.tasks.delete(key);
        this.wake();
        for (const l of this.changeListeners) l();
      });
    this.tasks.set(key, entry);
  }

  /**
   * After a hand-back this node pauses its claims a little (doubling to 15 s while failures go on), so
   * the partition goes to another node instead of straight back to this one.
   */
  private taskEnded(outcome: TaskEnd): void {
    if (outcome === "done") this.failStreak = 0;
    else if (outcome === "failed" || outcome === "retry") {
      this.failStreak++;
      this.claimPausedUntil = performance.now() + Math.min(1000 * 2 ** this.failStreak, 15_000);
    }
  }

  /** Tasks and groups past their Close fail everywhere with the reason; now and then, old rows go. */
  private expireAtClose(height: number): void {
    if (this.expiring) return;
    this.expiring = true;
    const prune = ++this.heads % PRUNE_EVERY_HEADS === 0;
    void (async () => {
      try {
        if (!prune && !(await unfinishedPastClose(this.pg, height))) return;
        const tasks = await expireTasksAtClose(this.pg, height);
        const groups = await expireGroupsAtClose(this.pg, height);
        if (tasks.length > 0 || groups.length > 0)
          this.log.warn("deadlines closed with work unfinished; marked failed", {
            tasks: tasks.length,
            groups: groups.length,
            height,
          });
        if (prune) {
          await pruneClosedDeadlines(this.pg, { height });
          await pruneTaskHistory(this.pg);
        }
      } catch (e) {
        this.opts.metrics?.clusterDbErrors.inc({ op: "expire" });
        this.log.debug("closing expired work failed; the next head tries again", { err: errorMessage(e) });
      } finally {
        this.expiring = false;
      }
    })();
  }

  /** Shutdown: every task still held goes back to waiting at once, for the other nodes. */
  private async handBack(): Promise<void> {
    // The shutdown signal has already stopped their proving (their signals are linked to it).
    const held = [...this.tasks.values()];
    await Promise.allSettled(held.map((h) => h.done));
    // Bounded: a database that is down must not hold the shutdown (the leases then expire instead).
    const back = await Promise.race([
      Promise.all(
        held.map((h) =>
          failTask(this.pg, this.id, h.lease, { error: `node ${this.id.name} stopped`, retry: true }).then(
            (r) => !r.already,
            () => false,
          ),
        ),
      ),
      sleep(HAND_BACK_MS).then(() => [] as boolean[]),
    ]);
    const n = back.filter(Boolean).length;
    if (n > 0) this.log.info("handed partition tasks back to the cluster", { tasks: n });
  }
}

/** A claim that took this long to answer has lost half of its local lease: it is renewed at once. */
const slowClaimMs = (leaseMs: number): number => (leaseMs - LEASE_MARGIN_MS) / 2;

const taskKey = (k: { miner: number; open: number; partition: number }): string =>
  `${k.miner}/${k.open}/${k.partition}`;
