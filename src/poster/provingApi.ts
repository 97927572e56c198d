/**
 * `proving check` and `proving compute` as RPC methods of the node, so that they run where the PoSter
 * runs: with its sector index (local or --proxy), its persist stores and its prover (lotus-miner does the
 * same: `proving check` asks the miner's CheckProvable, `proving compute windowed-post` its scheduler).
 *
 *  - Venus.ProvingCheck(miner, deadline[, {Slow}]) → each live sector of the deadline, good or bad with
 *    the reason; Slow = the strict check (one vanilla proof per sector), else files and sizes only.
 *  - Venus.ProvingCompute(miner, deadline) → a full dry run of the deadline's WindowPoSt (checks, every
 *    partition proven, messages built) that sends nothing and stores nothing. The deadline is the most
 *    recent occurrence whose challenge has been drawn (lotus's rule), so it can be computed at any time.
 *
 * Both are `write`: they read sector files and may keep GPUs busy for minutes, which an anonymous reader
 * must not be able to cause.
 */

import { newDeadlineInfo } from "../chain/dline.js";
import { HEAD } from "../chain/interface.js";
import type { SectorManagerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import { minerParam } from "../miner/computeProof.js";
import { parseChainPoStProof } from "../proofs/proofTypes.js";
import { InvalidParamsError } from "../rpc/errors.js";
import { arity, boolParam, type MethodTable, optionsParam, uintParam } from "../rpc/method.js";
import { checkSectors } from "../sectors/check.js";
import type { SectorIndexer } from "../sectors/interface.js";
import type { PersistStores } from "../sectors/stores.js";
import { SmError } from "../util/errors.js";
import { sectorCheckTargets } from "./check.js";
import { runDeadline } from "./runner.js";
import type { PostRuntime } from "./runtime.js";

export interface ProvingApiDeps {
  config: SectorManagerConfig;
  indexer: SectorIndexer;
  stores: PersistStores;
  runtime: PostRuntime;
  logger: Logger;
}

export interface CheckedSector {
  Sector: number;
  Good: boolean;
  Reason?: string;
}

export interface ProvingCheckResult {
  Miner: string;
  Deadline: number;
  Slow: boolean;
  Partitions: { Index: number; Sectors: CheckedSector[] }[];
}

export interface ProvingComputeResult {
  Miner: string;
  Deadline: number;
  Challenge: number;
  Open: number;
  Close: number;
  Network: string;
  Format: string;
  Prover: string;
  Ms: number;
  /** Source: proved, on-chain, stored, none (nothing provable) or failed (then Error says why). */
  Partitions: {
    Index: number;
    Source: string;
    Sectors: number;
    Skipped: number;
    Ms: number;
    Error?: string;
  }[];
  Skipped: { Sector: number; Reason: string }[];
  /** Each message the run would send; Error (and ParamsBytes 0) when it could not be built. */
  Messages: { Partitions: number[]; ParamsBytes: number; Error?: string }[];
}

/** The miner param, or the node's only configured miner when it is null. */
function actorOf(v: unknown, config: SectorManagerConfig): number {
  if (v !== null && v !== undefined) return minerParam(v);
  const ids = config.Miners.map((m) => m.Actor);
  if (ids.length === 1) return ids[0]!;
  throw new InvalidParamsError(
    ids.length === 0
      ? "no miner given and this node's config has no [[Miners]]; pass the miner (f0…)"
      : `no miner given and this node has several: ${ids.map((a) => `f0${a}`).join(", ")}; pass one`,
  );
}

function deadlineParam(v: unknown, deadlines: number): number {
  const n = uintParam(v, "deadline");
  if (n >= deadlines) throw new InvalidParamsError(`deadline ${n} out of range (0..${deadlines - 1})`);
  return n;
}

export function provingMethods(deps: ProvingApiDeps): MethodTable {
  const log = deps.logger.named("proving");
  return {
    "Venus.ProvingCheck": {
      perm: "write",
      doc: "(miner|null, deadline[, {Slow}]) → every live sector of the deadline's partitions, good or bad with the reason",
      async handler(params, ctx): Promise<ProvingCheckResult> {
        arity(params, 2, 3);
        const actor = actorOf(params[0], deps.config);
        const opts = params[2] === undefined ? {} : optionsParam(params[2], "options", ["Slow"]);
        const slow = opts.Slow === undefined ? false : boolParam(opts.Slow, "options.Slow");
        const miner = `f0${actor}`;
        const chain = deps.runtime.chain("proving check");
        const signal = ctx.signal;
        const cur = await chain.stateMinerProvingDeadline(miner, HEAD, { signal });
        const index = deadlineParam(params[1], cur.wPoStPeriodDeadlines);
        const info = await chain.stateMinerInfo(miner, HEAD, { signal });
        const shape = parseChainPoStProof(info.windowPoStProofType).shape;
        const partitions = await chain.stateMinerPartitions(miner, index, HEAD, { signal });
        const prover = slow ? deps.runtime.prover() : undefined;
        const out: ProvingCheckResult = { Miner: miner, Deadline: index, Slow: slow, Partitions: [] };
        for (const [i, p] of partitions.entries()) {
          const infos = p.liveSectors.isEmpty()
            ? []
            : await chain.stateMinerSectors(miner, p.liveSectors, HEAD, { signal });
          const checks = await checkSectors(
            sectorCheckTargets(actor, infos, shape),
            {
              indexer: deps.indexer,
              stores: deps.stores,
              proving: deps.config.Common.Proving,
              strictProbe: prover?.strictProbe,
            },
            { strict: slow, signal },
          );
          const sectors: CheckedSector[] = checks.map((c) =>
            c.ok ? { Sector: c.number, Good: true } : { Sector: c.number, Good: false, Reason: c.reason },
          );
          // A live sector the chain has no info for cannot be proven either.
          const known = new Set(infos.map((s) => s.sectorNumber));
          for (const n of p.liveSectors)
            if (!known.has(n))
              sectors.push({ Sector: n, Good: false, Reason: "the chain has no info for it" });
          sectors.sort((a, b) => a.Sector - b.Sector);
          out.Partitions.push({ Index: i, Sectors: sectors });
        }
        const bad = out.Partitions.reduce((n, p) => n + p.Sectors.filter((s) => !s.Good).length, 0);
        log.info("proving check", { miner, deadline: index, slow, partitions: partitions.length, bad });
        return out;
      },
    },
    "Venus.ProvingCompute": {
      perm: "write",
      doc: "(miner|null, deadline) → a full WindowPoSt dry run of the deadline's latest challenged occurrence: nothing is sent",
      async handler(params, ctx): Promise<ProvingComputeResult> {
        arity(params, 2);
        const actor = actorOf(params[0], deps.config);
        const miner = `f0${actor}`;
        const minerCfg = deps.config.Miners.find((m) => m.Actor === actor);
        if (!minerCfg)
          throw new SmError(
            "POSTER_MINER_NOT_CONFIGURED",
            `${miner} has no [[Miners]] block in this node's sector-manager.cfg; add one with Actor = ${actor} (its [Miners.PoSt] settings decide the checks and message sizes)`,
          );
        const signal = ctx.signal;
        const chain = deps.runtime.chain("proving compute");
        const head = await chain.chainHead({ signal });
        const cur = await chain.stateMinerProvingDeadline(miner, HEAD, { signal });
        const index = deadlineParam(params[1], cur.wPoStPeriodDeadlines);
        let di = newDeadlineInfo(cur.periodStart, index, head.height, cur);
        if (di.challenge > head.height) {
          // The previous period's occurrence, unless that one is from before the chain began (its
          // challenge epoch has no randomness, and no message could carry it): then there is none yet.
          const previous = newDeadlineInfo(cur.periodStart - cur.wPoStProvingPeriod, index, head.height, cur);
          if (previous.challenge < 0)
            throw new SmError(
              "POSTER_NOT_CHALLENGED_YET",
              `deadline ${index} of ${miner} has not been challenged yet on this chain: its first challenge is at epoch ${di.challenge} and the head is at ${head.height}; run proving compute ${index} again from epoch ${di.challenge}`,
            );
          di = previous;
        }
        if (di.challenge < 0) {
          // An occurrence of the chain's first period whose challenge epoch is before genesis: no
          // randomness was drawn for it, so it cannot be proven; the next period's can.
          const next = di.challenge + cur.wPoStProvingPeriod;
          throw new SmError(
            "POSTER_NOT_CHALLENGED_YET",
            `deadline ${index} of ${miner} has not been challenged yet on this chain: this period's occurrence would be challenged at epoch ${di.challenge}, before the chain began; its first challenge is at epoch ${next} and the head is at ${head.height}; run proving compute ${index} again from epoch ${next}`,
          );
        }
        const { network, format } = await deps.runtime.proofFormat(signal);
        const prover = deps.runtime.prover();
        const started = performance.now();
        log.info("proving compute: dry run", {
          miner,
          deadline: index,
          challenge: di.challenge,
          prover: prover.kind,
        });
        const r = await runDeadline(
          minerCfg,
          di,
          head.key,
          {
            chain,
            indexer: deps.indexer,
            stores: deps.stores,
            proving: deps.config.Common.Proving,
            prove: prover.prove,
            strictProbe: prover.strictProbe,
            format,
            networkMaxPartitions: 3,
            logger: log,
          },
          { signal, submitAllowed: async () => {}, dryRun: true },
        );
        return {
          Miner: miner,
          Deadline: index,
          Challenge: di.challenge,
          Open: di.open,
          Close: di.close,
          Network: network,
          Format: format,
          Prover: prover.kind,
          Ms: Math.round(performance.now() - started),
          Partitions: r.partitions.map((p) => ({
            Index: p.index,
            Source: p.source,
            Sectors: p.sectors,
            Skipped: p.skipped,
            Ms: p.ms,
            ...(p.error !== undefined ? { Error: p.error } : {}),
          })),
          Skipped: r.skipped.map((s) => ({ Sector: s.sector, Reason: s.reason })),
          Messages: (r.dryRun ?? []).map((m) => ({
            Partitions: m.partitions,
            ParamsBytes: m.paramsBytes,
            ...(m.error !== undefined ? { Error: m.error } : {}),
          })),
        };
      },
    },
  };
}
