/**
 * When an ext-prover child is stopped, and how hard: the plans for a shutdown and a reload, and
 * the timers of one stop in progress. ExtChild (child.ts) closes the child's stdin when a stop
 * begins and supplies what each later step does (SIGTERM, SIGKILL, giving up); this file only
 * decides when, including what happens when a second stop with a shorter plan arrives while the
 * first is under way (a shutdown during a reload's stop): each step happens at the earlier time.
 */

/** setTimeout fires at once for anything above 2^31 - 1 ms (~24.8 days); every timer is clamped. */
export const MAX_TIMER_MS = 2_147_483_647;
export const timerMs = (ms: number) => Math.max(0, Math.min(ms, MAX_TIMER_MS));

/**
 * How a child is stopped: its stdin is closed at once (a processor exits on EOF), SIGTERM goes to its
 * process group `termMs` later and SIGKILL `killMs` later; `giveUpMs` after the stop began it is given
 * up on if its exit has still not been seen (a process stuck in the kernel cannot be waited for).
 */
export interface StopPlan {
  termMs: number;
  killMs: number;
  giveUpMs: number;
}

/**
 * Shutdown: the daemon must be gone within 2 s of SIGTERM whatever its children do. A child gets
 * 0.5 s to exit on EOF (a processor that first finishes the proof in hand does not get to: nobody is
 * left to take the answer), SIGTERM, and SIGKILL at 1.5 s; its exit is awaited until 1.9 s.
 */
export const SHUTDOWN_STOP: StopPlan = { termMs: 500, killMs: 1500, giveUpMs: 1900 };

/**
 * Reload (a removed or changed block, after its drain): the daemon keeps running, so the child may
 * end in its own time: 3 s after EOF before SIGTERM, SIGKILL 2 s later, given up on 3 s after that.
 */
export const RELOAD_STOP: StopPlan = { termMs: 3000, killMs: 5000, giveUpMs: 8000 };

/** What the steps of a stop do; each gets the stop's reason and the ms since it began. */
export interface StopSteps {
  term(reason: string, afterMs: number): void;
  kill(reason: string, afterMs: number): void;
  giveUp(reason: string, afterMs: number): void;
}

/** One stop in progress: when each step is due (ms after `begun`), which were sent, its end. */
export class StopSchedule {
  readonly begun = Date.now();
  /** Resolves when the stop has ended: the child exited, or was given up on. */
  readonly done: Promise<void>;
  private readonly at: StopPlan;
  private term: NodeJS.Timeout | undefined;
  private kill: NodeJS.Timeout | undefined;
  private giveUp: NodeJS.Timeout | undefined;
  private termSent = false;
  private killSent = false;
  private ended = false;
  private settle: () => void = () => {};

  constructor(
    plan: StopPlan,
    reason: string,
    private readonly steps: StopSteps,
  ) {
    this.done = new Promise<void>((r) => {
      this.settle = r;
    });
    this.at = { ...plan };
    this.arm(plan, reason, true);
  }

  /** A later stop: each step not yet taken moves to the earlier of its time and `plan`'s. */
  tighten(plan: StopPlan, reason: string): void {
    this.arm(plan, reason, false);
  }

  /** Ends the stop (the exit was seen, or the child was given up on); pending steps are dropped. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.term);
    clearTimeout(this.kill);
    clearTimeout(this.giveUp);
    this.settle();
  }

  private arm(plan: StopPlan, reason: string, first: boolean): void {
    if (this.ended) return;
    const since = Date.now() - this.begun;
    const at = (k: keyof StopPlan) => (first ? plan[k] : Math.min(this.at[k], since + plan[k]));
    const term = at("termMs");
    const kill = at("killMs");
    const giveUp = at("giveUpMs");
    if (!this.termSent && (first || term < this.at.termMs)) {
      clearTimeout(this.term);
      this.at.termMs = term;
      this.term = setTimeout(
        () => {
          this.termSent = true;
          this.steps.term(reason, Date.now() - this.begun);
        },
        timerMs(term - since),
      );
    }
    if (!this.killSent && (first || kill < this.at.killMs)) {
      clearTimeout(this.kill);
      this.at.killMs = kill;
      this.kill = setTimeout(
        () => {
          this.killSent = true;
          this.steps.kill(reason, Date.now() - this.begun);
        },
        timerMs(kill - since),
      );
    }
    if (first || giveUp < this.at.giveUpMs) {
      clearTimeout(this.giveUp);
      this.at.giveUpMs = giveUp;
      this.giveUp = setTimeout(
        () => {
          this.steps.giveUp(reason, Date.now() - this.begun);
          this.end();
        },
        timerMs(giveUp - since),
      );
    }
  }
}
