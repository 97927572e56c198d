/**
 * This node as a member of the PoSter cluster: the loop issue 13 describes, over the library's
 * transactions (nodes.ts, tasks.ts, groups.ts, recoveries.ts).
 *
 *  - join: register under its name with a new session (its previous life's tasks go back to waiting);
 *  - every renewEveryMs: heartbeat, renew every lease it holds (tasks in one statement, then each
 *    message group and recovery), drop what comes back lost; report a changed prover capacity;
 *  - claim: whenever it has a free prover slot (woken when a task ends or a deadline's tasks are
 *    created, else every pollMs), claim tasks earliest Close first across all miners, up to its free
 *    capacity, and check + prove each here (proveTask.ts), then record the proof, fenced;
 *  - on each head: tasks and groups past their Close become failed, with the reason;
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
import { heartbeat, registerNode, setCapacity } from "./nodes.js";
import type { ClusterTimings } from "./options.js";
import { proveTask, type TaskProveDeps } from "./proveTask.js";
import { pruneClosedDeadlines, pruneTaskHistory } from "./prune.js";
import { renewRecoveryLease } from "./recoveries.js";
import { parseTaskJob } from "./taskJob.js";
import {
  type ClaimedTask,
  claimTasks,
  completeTask,
  expireTasksAtClose,
  failTask,
  renewTaskLeases,
} from "./tasks.js";
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

/** A failed check or proof is handed back for another node this many times, then failed for good. */
const TASK_ATTEMPTS = 3;

/** Every this many heads, closed deadlines and old task history are pruned (cheap, idempotent). */
const PRUNE_EVERY_HEADS = 120;

interface Held {
  lease: LocalLease;
  /** Renews it in the database; throws CLUSTER_LEASE_LOST once lost. Absent for tasks (renewed together). */
  renew?: () => Promise<void>;
}

export class ClusterMember {
  private readonly log: Logger;
  private readonly tasks = new Map<string, { lease: TaskLease; local: LocalLease; done: Promise<void> }>();
  private readonly others = new Map<string, Held>();
  private height = -1;
  private heads = 0;
  private capacity: number;
  private wakeUp: () => void = () => {};
  private readonly changeListeners = new Set<() => void>();
  private expiring = false;
  private lastHeartbeat = Number.NEGATIVE_INFINITY;
  /** Another process registered this node's name: it takes no work any more. */
  private stale = false;

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
    this.height = height;
    this.expireAtClose(height);
    this.wake();
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
      renewGroupLease(this.pg, this.id, lease, { leaseMs: this.opts.timings.leaseMs }),
    );
  }

  /** Holds a recovery's lease, renewed with the others until released. */
  holdRecovery(key: RecoveryKey, startedAt: number): LocalLease {
    const what = `recovery declaration of f0${key.miner} (deadline open ${key.open})`;
    return this.hold(`r/${key.miner}/${key.open}`, what, startedAt, () =>
      renewRecoveryLease(this.pg, this.id, key, { leaseMs: this.opts.timings.leaseMs }),
    );
  }

  private hold(key: string, what: string, startedAt: number, renew: () => Promise<void>): LocalLease {
    const lease = new LocalLease(what, this.opts.timings.leaseMs, LEASE_MARGIN_MS, startedAt);
    this.others.set(key, { lease, renew });
    lease.signal.addEventListener("abort", () => this.others.delete(key), { once: true });
    const release = lease.release.bind(lease);
    lease.release = () => {
      release();
      this.others.delete(key);
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

  /** One round: heartbeat, capacity, then every lease held. */
  private async renewOnce(): Promise<void> {
    const m = this.opts.metrics;
    const started = performance.now();
    if (
      started - this.lastHeartbeat >=
      this.opts.timings.heartbeatEveryMs - this.opts.timings.renewEveryMs / 2
    ) {
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
    const held = [...this.tasks.values()];
    if (held.length > 0) {
      try {
        const { renewed, lost } = await renewTaskLeases(
          this.pg,
          this.id,
          held.map((h) => h.lease),
          { leaseMs: this.opts.timings.leaseMs },
        );
        for (const l of renewed) this.tasks.get(taskKey(l))?.local.renewed(started);
        for (const l of lost)
          this.tasks.get(taskKey(l))?.local.lose("the database no longer has it under this node's lease");
      } catch (e) {
        m?.clusterDbErrors.inc({ op: "renew" });
        this.log.warn("renewing task leases failed; work stops if this lasts a lease", {
          err: errorMessage(e),
          tasks: held.length,
          lease_ms: this.opts.timings.leaseMs,
        });
      }
    }
    await Promise.all(
      [...this.others.values()].map(async (h) => {
        if (!h.renew) return;
        try {
          await h.renew();
          h.lease.renewed(started);
        } catch (e) {
          if (e instanceof SmError && e.code === "CLUSTER_LEASE_LOST") h.lease.lose(e.message);
          else m?.clusterDbErrors.inc({ op: "renew" });
        }
      }),
    );
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
    const m = this.opts.metrics;
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
      else this.log.warn("claiming tasks failed", { err: errorMessage(e) });
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
    const linked = linkSignals([signal, local.signal]);
    const done = this.runTask(t, lease, local, linked.signal, log)
      .catch((e) => log.error("partition task ended in error", { err: errorMessage(e) }))
      .finally(() => {
        linked.done();
        local.release();
        this.tasks.delete(key);
        this.wake();
        for (const l of this.changeListeners) l();
      });
    this.tasks.set(key, { lease, local, done });
  }

  private async runTask(
    t: ClaimedTask,
    lease: TaskLease,
    local: LocalLease,
    signal: AbortSignal,
    log: Logger,
  ): Promise<void> {
    const m = this.opts.metrics;
    let outcome: Awaited<ReturnType<typeof proveTask>>;
    try {
      const job = parseTaskJob(t.job);
      outcome = await proveTask(job, this.opts.deps, { height: this.height, signal, log });
      // A check stopped by the signal reports its sectors skipped ("check aborted"), which is no
      // outcome: recorded, it would fail the partition for good ("nothing provable").
      signal.throwIfAborted();
    } catch (e) {
      if (local.signal.aborted) {
        m?.clusterTaskResults.inc({ outcome: "lost" });
        log.warn("partition task dropped: this node no longer holds it", {
          why: errorMessage(local.signal.reason),
        });
        return;
      }
      if (signal.aborted) return; // shutdown: handBack() returns it
      const retry =
        isTransient(e) ||
        (t.attempt < TASK_ATTEMPTS && !(e instanceof SmError && e.code === "CLUSTER_BAD_JOB"));
      log.error(
        retry ? "partition task failed; handed back for another try" : "partition task failed for good",
        {
          err: errorMessage(e),
        },
      );
      await this.record("fail", local, () =>
        failTask(this.pg, this.id, lease, { error: errorMessage(e), retry }),
      );
      m?.clusterTaskResults.inc({ outcome: retry ? "retry" : "failed" });
      return;
    }
    if (outcome.kind === "none") {
      const error = `nothing provable: ${outcome.skipped.length} sector(s) failed their check or were reported faulty; the partition is left out`;
      log.warn("partition has nothing provable; left out (its sectors become faulty at Close)", {
        skipped: outcome.skipped.length,
      });
      await this.record("fail", local, () => failTask(this.pg, this.id, lease, { error, retry: false }));
      m?.clusterTaskResults.inc({ outcome: "failed" });
      return;
    }
    const ok = await this.record("complete", local, () =>
      completeTask(this.pg, this.id, lease, {
        proof: outcome.proof,
        skipped: outcome.skipped,
        faults: outcome.faults,
      }),
    );
    if (ok) {
      m?.clusterTaskResults.inc({ outcome: "done" });
      log.info("partition proven", {
        sectors: outcome.sectors,
        skipped: outcome.skipped.length,
        ms: outcome.ms,
      });
    } else m?.clusterTaskResults.inc({ outcome: "lost" });
  }

  /**
   * Records a task's end, retrying through an unreachable database while the lease is still valid
   * locally (every call is safe to repeat); false when the lease was lost (nothing recorded).
   */
  private async record(
    op: "complete" | "fail",
    local: LocalLease,
    write: () => Promise<unknown>,
  ): Promise<boolean> {
    for (let delay = 200; ; delay = Math.min(delay * 2, 2000)) {
      if (local.left() <= 0) {
        this.log.warn("result not recorded: the lease ran out before the database answered", {
          task: local.what,
        });
        return false;
      }
      try {
        await write();
        return true;
      } catch (e) {
        this.opts.metrics?.clusterDbErrors.inc({ op });
        if (e instanceof SmError && e.code === "CLUSTER_LEASE_LOST") {
          this.log.warn("result refused: another node holds the task now", { err: e.message });
          return false;
        }
        if (!isTransient(e)) throw e;
        await sleep(Math.min(delay, local.left()));
      }
    }
  }

  /** Tasks and groups past their Close fail everywhere with the reason; now and then, old rows go. */
  private expireAtClose(height: number): void {
    if (this.expiring) return;
    this.expiring = true;
    const prune = ++this.heads % PRUNE_EVERY_HEADS === 0;
    void (async () => {
      try {
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
    await Promise.allSettled(
      held.map((h) =>
        failTask(this.pg, this.id, h.lease, { error: `node ${this.id.name} stopped`, retry: true }).catch(
          () => {},
        ),
      ),
    );
    if (held.length > 0) this.log.info("handed partition tasks back to the cluster", { tasks: held.length });
  }
}

/** A claim that took this long to answer has lost half of its local lease: it is renewed at once. */
const slowClaimMs = (leaseMs: number): number => (leaseMs - LEASE_MARGIN_MS) / 2;

const taskKey = (k: { miner: number; open: number; partition: number }): string =>
  `${k.miner}/${k.open}/${k.partition}`;
