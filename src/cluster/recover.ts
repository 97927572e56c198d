/**
 * Fault recoveries in the cluster: every member that follows a miner reaches the moment to declare the
 * recoveries of deadline + 2 (poster/recoveries.ts), and exactly one of them declares: the recovery of
 * each deadline occurrence is a row (recoveries.ts) claimed by compare-and-set under a lease. The
 * claimant runs the poster's own declaration, with its pushes fenced by the lease on the local clock
 * (PushOptions.beforeSend); a member whose lease ran out sends nothing, and the declaration is taken
 * over once the database's lease expires. A declaration repeated by a successor is harmless: the actor
 * ignores sectors already declared recovered.
 */
import { performance } from "node:perf_hooks";
import type { ChainPort } from "../chain/interface.js";
import { declareRecoveries } from "../poster/recoveries.js";
import { recoveryTargetDeadline, shouldDeclareNow } from "../poster/recovery.js";
import { retryTransient } from "../poster/retry.js";
import type { Pg } from "../store/pg/db.js";
import { errorMessage } from "../util/errors.js";
import { linkSignals } from "../util/signal.js";
import { sleep } from "../util/time.js";
import type { LocalLease } from "./localLease.js";
import type { ClusterMember } from "./member.js";
import { claimRecovery, createRecovery, finishRecovery, recoveryState } from "./recoveries.js";

export function clusterRecoveries(c: {
  pg: Pg;
  member: ClusterMember;
  leaseMs: number;
}): typeof declareRecoveries {
  return async (minerCfg, current, head, deps, signal) => {
    const target = recoveryTargetDeadline(current);
    if (!shouldDeclareNow(target, head)) return 0;
    const key = { miner: minerCfg.Actor, open: target.open };
    const log = deps.logger.with({ miner: `f0${minerCfg.Actor}`, recovery_deadline: target.index });
    const db = <T>(what: string, fn: () => Promise<T>) => retryTransient(what, fn, signal, log);
    await db("creating the recovery declaration", () =>
      createRecovery(c.pg, { ...key, deadline: target.index, sectors: null }),
    );
    // Another member may hold it: wait while it is held, and take it over if its holder's lease
    // expires (dead, hung, cut off) while the declaration is still due.
    // The lease counts from the try that got the declaration, not from the first of the retries
    // (as for message groups, deadline.ts).
    let claimedAt = performance.now();
    const claim = () =>
      db("claiming the recovery declaration", () => {
        claimedAt = performance.now();
        return claimRecovery(c.pg, c.member.id, key, { leaseMs: c.leaseMs });
      });
    let claimed = await claim();
    while (!claimed) {
      const state = await db("reading the recovery declaration", () => recoveryState(c.pg, key));
      if (state === "landed" || state === "failed" || state === null) return 0;
      await sleep(Math.max(500, c.leaseMs / 2), signal);
      const now = await deps.chain.chainHead({ signal }).catch(() => undefined);
      if (now && !shouldDeclareNow(target, now.height)) return 0;
      claimed = await claim();
      if (claimed) log.info("took over the recovery declaration from a member whose lease expired");
    }
    const lease = c.member.holdRecovery(key, claimedAt);
    const linked = linkSignals([signal, lease.signal]);
    try {
      const declared = await declareRecoveries(
        minerCfg,
        current,
        head,
        { ...deps, chain: fencedChain(deps.chain, lease) },
        linked.signal,
      );
      await db("recording the recovery declaration", () =>
        finishRecovery(c.pg, c.member.id, key, { declared }),
      ).catch((e) => {
        // Declared on chain already: only the record is missing, and a successor's repeat is harmless.
        log.warn("recovery declared, but its record was refused", { err: errorMessage(e) });
      });
      return declared;
    } catch (e) {
      if (lease.signal.aborted) {
        log.warn("recovery declaration dropped: this node no longer holds it", {
          why: errorMessage(lease.signal.reason),
        });
        return 0;
      }
      if (!signal.aborted)
        await finishRecovery(c.pg, c.member.id, key, { declared: 0, error: errorMessage(e) }).catch(() => {});
      throw e;
    } finally {
      linked.done();
      lease.release();
    }
  };
}

/** The chain, with every push checking the lease at its last moment. */
function fencedChain(chain: ChainPort, lease: LocalLease): ChainPort {
  return new Proxy(chain, {
    get(target, prop) {
      if (prop === "pushMessage")
        return (
          msg: Parameters<ChainPort["pushMessage"]>[0],
          opts: Parameters<ChainPort["pushMessage"]>[1] = {},
        ) => target.pushMessage(msg, { ...opts, beforeSend: () => lease.check() });
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}
