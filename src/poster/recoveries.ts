/**
 * Fault recovery for the deadline two ahead (as Lotus, Curio and damocles do): its faulty sectors that
 * pass the sector check again are declared recovered before its FaultCutoff, so the next proof of that
 * deadline proves them and they become active. Honours MaxRecoverSectorLimit and
 * MaxPartitionsPerRecoveryMessage (recovery.ts plans; this file does the I/O).
 */
import { BitField } from "../chain/bitfield.js";
import { type DeadlineInfo, HEAD } from "../chain/interface.js";
import { MinerMethod } from "../chain/message.js";
import { encodeDeclareFaultsRecoveredParams } from "../chain/params.js";
import type { MinerConfig } from "../config/types.js";
import { parseChainPoStProof } from "../proofs/proofTypes.js";
import { checkSectors } from "../sectors/check.js";
import { sectorCheckTargets } from "./check.js";
import { chainReadRetry } from "./load.js";
import { planRecoveries, recoveryCandidates, recoveryTargetDeadline, shouldDeclareNow } from "./recovery.js";
import { retryTransient } from "./retry.js";
import { recordSenderBalance, selectSender } from "./submit.js";
import type { RunnerDeps } from "./types.js";

export async function declareRecoveries(
  minerCfg: MinerConfig,
  current: DeadlineInfo,
  head: number,
  deps: RunnerDeps,
  signal: AbortSignal,
): Promise<number> {
  const { chain } = deps;
  const miner = `f0${minerCfg.Actor}`;
  const target = recoveryTargetDeadline(current);
  const log = deps.logger.with({ miner, recovery_deadline: target.index, fault_cutoff: target.faultCutoff });
  if (!shouldDeclareNow(target, head)) return 0;
  // Chain reads whatever the failure, sector checks through failures that may pass (as a deadline run).
  const retry = chainReadRetry(signal, log, false);
  const partitions = await retry("reading partitions", () =>
    chain.stateMinerPartitions(miner, target.index, HEAD, { signal }),
  );
  const candidates = recoveryCandidates(partitions);
  if (candidates.length === 0) return 0;
  const info = await retry("reading miner info", () => chain.stateMinerInfo(miner, HEAD, { signal }));
  const shape = parseChainPoStProof(info.windowPoStProofType).shape;
  const all = BitField.unionAll(candidates.map((c) => c.sectors));
  const sectors = await retry("reading sectors", () => chain.stateMinerSectors(miner, all, HEAD, { signal }));
  const checks = await retryTransient(
    "checking faulty sectors",
    () =>
      checkSectors(
        sectorCheckTargets(minerCfg.Actor, sectors, shape),
        { indexer: deps.indexer, stores: deps.stores, proving: deps.proving, strictProbe: deps.strictProbe },
        { strict: minerCfg.PoSt.StrictCheck, signal },
      ),
    signal,
    log,
  );
  const good = new Set(checks.filter((c) => c.ok).map((c) => c.number));
  const plan = planRecoveries(partitions, target.index, (n) => good.has(n), minerCfg.PoSt);
  if (plan.messages.length === 0) return 0;
  const sender = await retry("choosing the sender", () =>
    selectSender(chain, info, minerCfg.PoSt.Senders, signal, recordSenderBalance(deps.metrics, miner)),
  );
  if (!sender) {
    log.warn("no usable sender; recoveries not declared");
    return 0;
  }
  for (const params of plan.messages) {
    const pushed = await chain.pushMessage(
      {
        from: sender,
        to: miner,
        method: MinerMethod.DeclareFaultsRecovered,
        params: encodeDeclareFaultsRecoveredParams(params),
        value: 0n,
        maxFeeCap: minerCfg.PoSt.GasFeeCap,
        gasOverEstimation: minerCfg.PoSt.GasOverEstimation,
        gasOverPremium: minerCfg.PoSt.GasOverPremium,
      },
      { signal },
    );
    const receipt = await retryTransient(
      "waiting for the recovery message",
      () => chain.waitMessage(pushed.cid, minerCfg.PoSt.Confidence, { signal }),
      signal,
      log,
    );
    const sectorsDeclared = params.recoveries.reduce((n, r) => n + r.sectors.count(), 0);
    if (receipt.exitCode === 0)
      log.info("faults declared recovered", {
        sectors: sectorsDeclared,
        cid: pushed.cid,
        limited: plan.limited,
      });
    else
      log.error("DeclareFaultsRecovered failed on chain", { exit_code: receipt.exitCode, cid: pushed.cid });
  }
  return plan.declared;
}
