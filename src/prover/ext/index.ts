/**
 * The ext-prover pools of a node (`daemon run --ext-prover`): one per stage with blocks in
 * ext-prover.cfg. WindowPoSt and WinningPoSt pools are separate, so WinningPoSt (a block every 30 s)
 * never waits behind WindowPoSt work.
 */
import type { ExtProverConfig } from "../../config/types.js";
import type { Logger } from "../../log/logger.js";
import type { Metrics } from "../../metrics/metrics.js";
import { untilAborted } from "../../util/time.js";
import { STAGES, type Stage } from "../protocol.js";
import { type ChildStatus, ExtProverPool, type ReloadCounts } from "./pool.js";
import { specsFromConfig } from "./specs.js";

export interface ExtProversDeps {
  logger: Logger;
  metrics?: Metrics;
  /** Shutdown during start: the children started so far are stopped and start() rejects. */
  signal?: AbortSignal;
}

export class ExtProvers {
  private readonly pools = new Map<Stage, ExtProverPool>();

  private constructor(private readonly deps: ExtProversDeps) {}

  /** Start a pool for each stage that has blocks; fails if a stage with blocks has no ready child. */
  static async start(cfg: ExtProverConfig, deps: ExtProversDeps): Promise<ExtProvers> {
    const p = new ExtProvers(deps);
    // Every block is checked before any child starts.
    const all = STAGES.map((stage) => [stage, specsFromConfig(cfg, stage)] as const);
    try {
      for (const [stage, specs] of all) {
        if (specs.length === 0) continue;
        const pool = new ExtProverPool(stage, specs, deps);
        p.pools.set(stage, pool);
        await (deps.signal
          ? untilAborted(pool.start(), deps.signal, "stopped while the children started")
          : pool.start());
      }
    } catch (e) {
      await p.close();
      throw e;
    }
    return p;
  }

  pool(stage: Stage): ExtProverPool | undefined {
    return this.pools.get(stage);
  }

  status(): ChildStatus[] {
    return [...this.pools.values()].flatMap((p) => p.status());
  }

  /** Apply an edited ext-prover.cfg: per stage, blocks are added, drained and removed, or restarted; blocks waiting for a retry are tried at once. */
  async reload(cfg: ExtProverConfig): Promise<Record<Stage, ReloadCounts>> {
    const out = {} as Record<Stage, ReloadCounts>;
    // An invalid block anywhere leaves every running child as it is.
    const all = STAGES.map((stage) => [stage, specsFromConfig(cfg, stage)] as const);
    for (const [stage, specs] of all) {
      let pool = this.pools.get(stage);
      if (!pool) {
        if (specs.length === 0) {
          out[stage] = { added: 0, removed: 0, changed: 0, retried: 0 };
          continue;
        }
        pool = new ExtProverPool(stage, [], this.deps);
        this.pools.set(stage, pool);
      }
      out[stage] = await pool.reload(specs);
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }
}
