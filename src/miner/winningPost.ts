/**
 * The WinningPoSt service of `daemon run --miner`: when a miner wins a round it must prove, within the
 * epoch, that it still holds the one sector the chain's randomness challenged (66 leaf challenges in
 * it). This computes that proof for a configured miner, from the sector's location in this node's
 * index (local, or the source's with --proxy).
 *
 * Steps, as damocles-manager takes them (`modules/miner/proof_event.go` → `modules/impl/prover/ext/
 * prover.go` `GenerateWinningPoSt`, 4235a89):
 *  1. the miner must have a `[[Miners]]` block with `[Miners.Proof] Enabled` (damocles only listens
 *     for proof requests of such miners: `dep/gateway.go` `StartProofEvent`);
 *  2. the proof type follows the sector's seal proof (`RegisteredWinningPoStProof`);
 *  3. the randomness is masked, `seed[31] &= 0x3f`, so it is a field element (damocles masks before
 *     proving; without it the proofs library refuses the seed);
 *  4. the sector's files come from the index — the "upgrade" index and update/, update-cache/ when the
 *     sector has a SectorKey — and its comm_r from SealedCID;
 *  5. the winning task goes to the `[[WinPost]]` ext-prover children when ext-prover.cfg has any
 *     (`ExtProvers.pool("winning_post")`), else to the built-in prover in worker threads.
 *
 * Beyond damocles: the sector's files are checked (stat only) before proving, so a missing or
 * wrong-size file fails at once with the reason; and the whole call is bounded by
 * WINNING_POST_TIMEOUT_MS, because a proof that arrives after the block's deadline is worthless and
 * the miner should hear so rather than hang.
 *
 * What the proof is: the built-in prover (and the built-in `winpost` child, i.e. a [[WinPost]] block
 * without Bin) returns the *vanilla* proof, a bincode `FallbackPoStSectorProof` of the sector — the
 * input of the Groth16 SNARK, not the SNARK. Only the vsm devnet can judge it; a block on a real
 * network needs a [[WinPost]] block whose Bin computes the SNARK (e.g. damocles-worker's
 * `processor winning_post`), whose 192 bytes are passed through unchanged.
 */
import type { MinerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/metrics.js";
import { maskSeed } from "../proofs/challenges.js";
import { PROOF_ERROR_CODES } from "../proofs/proofErrors.js";
import { apiPoStProofName } from "../proofs/proofTypes.js";
import type { ExtProverPool } from "../prover/ext/pool.js";
import type { StageProver } from "../prover/processor.js";
import type { PoStOutput, PoStTask } from "../prover/protocol.js";
import { InvalidParamsError } from "../rpc/errors.js";
import { checkSectorFiles } from "../sectors/fileCheck.js";
import type { IndexType, SectorIndexer } from "../sectors/interface.js";
import type { PersistStores } from "../sectors/stores.js";
import { AbortedError, type ErrorCode, errorMessage, SmError, TimeoutError } from "../util/errors.js";
import type { ComputeProofRequest } from "./computeProof.js";

/**
 * Time budget of one WinningPoSt. An epoch is 30 s and the block must still be signed and propagated
 * after the proof (Lotus' propagation delay is 6 s, sophon-miner's default 12 s), so a proof later than
 * ~25 s cannot make its block; saying so beats leaving the miner waiting. A 32 GiB sector's vanilla
 * proof (66 challenges ≈ 4,800 Poseidon hashes plus 66 reads) takes about 2 s here.
 */
export const WINNING_POST_TIMEOUT_MS = 25_000;

/** The `result` label of a failed ComputeProof, by code; any other failure counts as "error". */
const OUTCOMES: Partial<Record<ErrorCode, string>> = {
  TIMEOUT: "timeout",
  ABORTED: "aborted",
  WINNING_POST_SECTOR_NOT_FOUND: "not_found",
  WINNING_POST_SECTOR_UNPROVABLE: "unprovable",
};

/** Sector-level failures of the built-in prover: the sector's data cannot be proven. */
const SECTOR_FAILURES = new Set<ErrorCode>([
  PROOF_ERROR_CODES.fileMissing,
  PROOF_ERROR_CODES.fileSize,
  PROOF_ERROR_CODES.unreadable,
  PROOF_ERROR_CODES.corrupt,
  PROOF_ERROR_CODES.commRMismatch,
]);

export interface WinningPoStProof {
  /** RegisteredPoStProof chain id (StackedDrgWinning<size>V1 = 0..4). */
  postProof: number;
  proofBytes: Uint8Array;
}

export interface WinningPoStDeps {
  miners: readonly MinerConfig[];
  indexer: SectorIndexer;
  stores: PersistStores;
  /** The [[WinPost]] pool, asked on every call: a reload of ext-prover.cfg may add or remove it. */
  extPool: () => ExtProverPool | undefined;
  /** The built-in prover, made on first use (worker threads cost memory when a pool serves instead). */
  builtin: () => StageProver;
  /** sector-manager.cfg as this node read it, for messages. */
  configFile: string;
  logger: Logger;
  metrics?: Metrics;
  timeoutMs?: number;
}

/** Settle with `p`, or reject with the signal's reason once it fires (a stat on a hung mount is not cancellable). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

export class WinningPoSt {
  private readonly log: Logger;
  private readonly timeoutMs: number;

  constructor(private readonly deps: WinningPoStDeps) {
    this.log = deps.logger;
    this.timeoutMs = deps.timeoutMs ?? WINNING_POST_TIMEOUT_MS;
  }

  /** Which prover a call made now would use, for logs. */
  proverKind(): "ext" | "builtin" {
    return this.deps.extPool() ? "ext" : "builtin";
  }

  /** The miner's config, or a refusal that names the key to set. */
  private minerConfig(miner: number): MinerConfig {
    const cfg = this.deps.miners.find((m) => m.Actor === miner);
    if (!cfg) {
      throw new SmError(
        "MINER_UNKNOWN",
        `miner f0${miner} is not configured on this node: add a [[Miners]] block with Actor = ${miner} and [Miners.Proof] Enabled = true to ${this.deps.configFile}, then restart`,
        { miner },
      );
    }
    if (!cfg.Proof.Enabled) {
      throw new SmError(
        "MINER_PROOF_DISABLED",
        `WinningPoSt is disabled for miner f0${miner}: set [Miners.Proof] Enabled = true in its [[Miners]] block of ${this.deps.configFile}, then restart`,
        { miner },
      );
    }
    return cfg;
  }

  async compute(req: ComputeProofRequest, opts: { signal?: AbortSignal } = {}): Promise<WinningPoStProof[]> {
    const started = performance.now();
    const mid = `f0${req.miner}`;
    const count = (result: string) =>
      this.deps.metrics?.winningPostRequests.inc({ miner: result === "refused" ? "" : mid, result });
    try {
      this.minerConfig(req.miner);
    } catch (e) {
      count("refused");
      throw e;
    }
    const sector = req.sectors[0];
    if (!sector || req.sectors.length !== 1)
      throw new InvalidParamsError("WinningPoSt proves exactly one sector, the challenged one");
    const kind = this.proverKind();
    const log = this.log.with({ miner: mid, sector: sector.sectorNumber, height: req.height });

    const budget = new AbortController();
    const timer = setTimeout(
      () =>
        budget.abort(
          new TimeoutError(
            `WinningPoSt for ${mid} sector ${sector.sectorNumber} did not finish within ${this.timeoutMs / 1000} s, too late for its block; ${kind === "ext" ? "the [[WinPost]] ext-prover children are too slow or busy" : "the built-in prover is too slow for this sector size on this machine; configure a [[WinPost]] ext-prover"}`,
            { miner: req.miner, sector: sector.sectorNumber, timeoutMs: this.timeoutMs },
          ),
        ),
      this.timeoutMs,
    );
    const signal = opts.signal ? AbortSignal.any([opts.signal, budget.signal]) : budget.signal;
    try {
      const proof = await untilAborted(this.prove(req, kind, signal), signal);
      const seconds = (performance.now() - started) / 1000;
      this.deps.metrics?.winningPostDuration.observe({ miner: mid, prover: kind }, seconds);
      count("ok");
      log.info("winning post computed", {
        prover: kind,
        proof_type: apiPoStProofName(req.postProof),
        network_version: req.networkVersion,
        bytes: proof.proofBytes.length,
        elapsed_ms: Math.round(seconds * 1000),
      });
      return [proof];
    } catch (e) {
      let err = e;
      if (budget.signal.aborted) err = budget.signal.reason;
      else if (opts.signal?.aborted)
        err = new AbortedError(`WinningPoSt for ${mid} was cancelled: the caller went away`);
      const code: ErrorCode | "INTERNAL" = err instanceof SmError ? err.code : "INTERNAL";
      count((code === "INTERNAL" ? undefined : OUTCOMES[code]) ?? "error");
      log.warn("winning post failed", { prover: kind, code, err: errorMessage(err) });
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private async prove(
    req: ComputeProofRequest,
    kind: "ext" | "builtin",
    signal: AbortSignal,
  ): Promise<WinningPoStProof> {
    const sector = req.sectors[0]!;
    const mid = `f0${req.miner}`;
    const what = `sector ${sector.sectorNumber} of ${mid}`;
    const type: IndexType = sector.sectorKey ? "upgrade" : "normal";
    const ref = { miner: req.miner, number: sector.sectorNumber };

    const loc = await this.deps.indexer.find(type, ref, { signal });
    if (!loc.found) {
      throw new SmError(
        "WINNING_POST_SECTOR_NOT_FOUND",
        `${what} is not in this node's ${type} sector index (${this.deps.indexer.description})${type === "upgrade" ? " (it has a SectorKey, so it is looked up as a snap-upgraded sector in update/ and update-cache/)" : ""}; attach the storage that holds it with \`vsm util storage attach\``,
        { miner: req.miner, sector: sector.sectorNumber, index: type },
      );
    }
    const paths = this.deps.stores.resolve(type, ref, loc.instance);
    const files = await checkSectorFiles(paths.sealedFile, paths.cacheDir, sector.shape);
    if (typeof files === "string") throw unprovable(what, files, sector.sectorNumber, req.miner);

    const task: PoStTask = {
      minerId: req.miner,
      proofType: apiPoStProofName(req.postProof),
      replicas: [
        {
          sectorId: sector.sectorNumber,
          commR: sector.commR,
          cacheDir: paths.cacheDir,
          sealedFile: paths.sealedFile,
        },
      ],
      seed: maskSeed(req.randomness),
    };
    let out: PoStOutput;
    const pool = kind === "ext" ? this.deps.extPool() : undefined;
    try {
      // Earlier rounds first, should several miners' requests queue for the same children.
      out = pool
        ? await pool.submit(task, { priority: req.height, signal })
        : await this.deps.builtin()(task, signal);
    } catch (e) {
      if (signal.aborted) throw e;
      if (e instanceof SmError && SECTOR_FAILURES.has(e.code))
        throw unprovable(what, e.message.replace(/^sector \d+: /, ""), sector.sectorNumber, req.miner);
      throw new SmError(
        "WINNING_POST_PROVER_FAILED",
        `${pool ? "the [[WinPost]] ext-prover" : "the built-in prover"} could not prove ${what}: ${errorMessage(e)}`,
        { miner: req.miner, sector: sector.sectorNumber },
      );
    }
    // A WinningPoSt is one proof (one partition of one sector). A processor that reports the sector as
    // a fault, or answers with nothing, has not proven it.
    if (out.faults.length > 0)
      throw unprovable(what, "the prover reported it faulty", sector.sectorNumber, req.miner);
    if (out.proofs.length !== 1 || !out.proofs[0] || out.proofs[0].length === 0) {
      throw new SmError(
        "WINNING_POST_PROVER_FAILED",
        `${pool ? "the [[WinPost]] ext-prover" : "the built-in prover"} returned ${out.proofs.length} proof(s) for ${what}, expected 1; its log says why`,
        { miner: req.miner, sector: sector.sectorNumber },
      );
    }
    return { postProof: req.postProof, proofBytes: out.proofs[0] };
  }
}

function unprovable(what: string, reason: string, sector: number, miner: number): SmError {
  return new SmError(
    "WINNING_POST_SECTOR_UNPROVABLE",
    `${what} cannot be proven: ${reason}. WinningPoSt cannot skip its challenged sector: repair the sector's files (or fix its index record) before the next win`,
    { miner, sector, reason },
  );
}
