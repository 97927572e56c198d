/**
 * A lease as its holder sees it, on the holder's own monotonic clock.
 *
 * The database decides who holds what (options.ts: leases are `now() + lease` on its clock). But a
 * node that is frozen (SIGSTOP, a VM pause), cut off or slow cannot ask the database before every
 * step, and a chain node accepts a message from anyone. So the holder keeps its own, conservative view:
 * a lease renewed by a request that STARTED at local time t is valid locally until
 * t + lease − margin. The database wrote its expiry after t, so the local end comes first whatever
 * happens to the answer: while the local view says valid, nobody else can have taken the work over.
 *
 * `signal` aborts when the local end passes without a renewal (the timer fires first thing after a
 * process resumes from a freeze) or when the database says the lease is lost; `check()` tests the
 * clock itself, synchronously, for the last moment before a message leaves (PushOptions.beforeSend),
 * which a timer that has not run yet cannot guard.
 */
import { performance } from "node:perf_hooks";
import { SmError } from "../util/errors.js";
import "./errors.js";

export class LocalLease {
  private validUntil: number;
  private readonly ctl = new AbortController();
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param what for messages ("partition 3 of f01000, deadline open 1200")
   * @param startedAt performance.now() when the claim request was sent
   */
  constructor(
    readonly what: string,
    private readonly leaseMs: number,
    private readonly marginMs: number,
    startedAt: number,
  ) {
    this.validUntil = startedAt + leaseMs - marginMs;
    this.arm();
  }

  /** Aborts once the lease is lost or not renewed in time; the reason is CLUSTER_LEASE_LOST. */
  get signal(): AbortSignal {
    return this.ctl.signal;
  }

  /** A renewal sent at `startedAt` (performance.now()) succeeded. */
  renewed(startedAt: number): void {
    if (this.ctl.signal.aborted) return;
    this.validUntil = Math.max(this.validUntil, startedAt + this.leaseMs - this.marginMs);
    this.arm();
  }

  /** Milliseconds the lease is still valid locally (0 once lost). */
  left(): number {
    return this.ctl.signal.aborted ? 0 : Math.max(0, this.validUntil - performance.now());
  }

  /** Throws CLUSTER_LEASE_LOST unless the lease is still valid on the local clock, now. */
  check(): void {
    if (this.ctl.signal.aborted) throw this.ctl.signal.reason;
    if (performance.now() >= this.validUntil) {
      this.lose("not renewed within the lease (the node was frozen, slow, or cut off from the database)");
      throw this.ctl.signal.reason;
    }
  }

  /** The database said the lease is gone (or the work ended): stop everything done under it. */
  lose(why: string): void {
    if (this.ctl.signal.aborted) return;
    clearTimeout(this.timer);
    this.ctl.abort(
      new SmError(
        "CLUSTER_LEASE_LOST",
        `${this.what}: lease lost: ${why}; nothing more is sent or recorded for it`,
      ),
    );
  }

  /** The work ended normally: no more timer. */
  release(): void {
    clearTimeout(this.timer);
  }

  private arm(): void {
    clearTimeout(this.timer);
    const wait = this.validUntil - performance.now();
    this.timer = setTimeout(
      () => {
        if (performance.now() >= this.validUntil)
          this.lose("not renewed within the lease (the node was frozen, slow, or cut off from the database)");
        else this.arm();
      },
      Math.max(0, wait),
    );
    this.timer.unref();
  }
}
