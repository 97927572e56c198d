/**
 * The devnet ChainState: epoch, randomness seed and the miner actors' WindowPoSt state machine.
 *
 * Transitions follow builtin-actors `miner/src/lib.rs` (submit_windowed_post,
 * declare_faults_recovered, handle_proving_deadline) and `deadline_state.rs` / `partition_state.rs`
 * (record_proven_sectors, record_skipped_faults, recover_faults, record_missed_post), simplified to
 * what a PoSter can observe: no power, pledge, fees, terminations or fault expiry. A rejected message
 * changes nothing, as a failed actor call is rolled back.
 */

import { Address } from "../chain/address.js";
import { BitField } from "../chain/bitfield.js";
import type {
  DeadlineInfo,
  DeadlineState,
  MinerInfo,
  Partition,
  SectorOnChainInfo,
} from "../chain/interface.js";
import { RANDOMNESS_TAG } from "../chain/interface.js";
import type { DeclareFaultsRecoveredParams, SubmitWindowedPoStParams } from "../chain/params.js";
import { maskSeed } from "../proofs/challenges.js";
import { parseChainPoStProof } from "../proofs/proofTypes.js";
import { SmError } from "../util/errors.js";
import { checkRecoveries, planPoSt } from "./checks.js";
import { type DeadlineRecord, type DevnetMiner, emptyDeadline, emptyLog, isIdAddress } from "./miner.js";
import { type OnboardSector, onboardSectors, type SectorLocation } from "./onboarding.js";
import {
  type DevnetPolicy,
  MAINNET_POLICY,
  provingDeadlineAt,
  provingPeriod,
  validatePolicy,
} from "./policy.js";
import { defaultVerify, type VerifyFn, verifyBundle } from "./post.js";
import { expectedProofSectorsOf, minerInfoOf, partitionsOf, sectorInfoOf, sectorsOf } from "./queries.js";
import { beaconRandomness, minerEntropy, ticketRandomness } from "./randomness.js";

export interface NewMinerParams {
  /** ID address (f0… or t0…). */
  readonly address: string;
  readonly owner: string;
  readonly worker: string;
  readonly controlAddresses?: readonly string[];
  /** RegisteredPoStProof chain id of WindowPoSt (devnet: V1_1, ids 10..14). */
  readonly windowPoStProofType: number;
  /** 0 ≤ offset < proving period. */
  readonly provingPeriodOffset: number;
}

export type { OnboardSector, SectorLocation };

export type SubmitResult =
  | {
      ok: true;
      partitions: number[];
      newFaults: number[];
      recovered: number[];
      /** Sector proofs verified in full, of `entries` in the bundle (fewer with a verify sample). */
      verified: number;
      entries: number;
    }
  | { ok: false; reason: string };

export type DeclareResult = { ok: true; recovering: number[] } | { ok: false; reason: string };

function bad(message: string): SmError {
  return new SmError("DEVNET_BAD_INPUT", message);
}

function canonical(addr: string): string {
  return Address.fromString(addr).toString("f");
}

export class ChainState {
  #epoch: number;
  readonly seed: Uint8Array;
  readonly policy: DevnetPolicy;
  readonly miners = new Map<string, DevnetMiner>();
  readonly records: DeadlineRecord[] = [];
  /** Bumped on every state change; lets submitWindowedPoSt notice changes while it awaits verification. */
  #version = 0;

  constructor(opts: { seed: Uint8Array; policy?: DevnetPolicy; epoch?: number }) {
    if (!(opts.seed instanceof Uint8Array) || opts.seed.length !== 32) throw bad("seed must be 32 bytes");
    const epoch = opts.epoch ?? 0;
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw bad(`bad epoch ${String(epoch)}`);
    this.seed = opts.seed.slice();
    this.policy = validatePolicy(opts.policy ?? MAINNET_POLICY);
    this.#epoch = epoch;
  }

  get epoch(): number {
    return this.#epoch;
  }

  miner(address: string): DevnetMiner {
    let key: string;
    try {
      key = canonical(address);
    } catch {
      throw new SmError("DEVNET_UNKNOWN_MINER", `not a valid address: ${JSON.stringify(address)}`);
    }
    const m = this.miners.get(key);
    if (!m) throw new SmError("DEVNET_UNKNOWN_MINER", `actor ${key} is not a miner on this devnet`);
    return m;
  }

  addMiner(p: NewMinerParams): DevnetMiner {
    if (!isIdAddress(p.address)) throw bad(`miner address ${p.address} must be an ID address (f0…)`);
    const address = canonical(p.address);
    if (this.miners.has(address)) throw bad(`miner ${address} already exists`);
    const type = parseChainPoStProof(p.windowPoStProofType);
    if (type.kind !== "window") throw bad(`proof type ${p.windowPoStProofType} is not a WindowPoSt type`);
    const off = p.provingPeriodOffset;
    if (!Number.isSafeInteger(off) || off < 0 || off >= provingPeriod(this.policy)) {
      throw bad(`provingPeriodOffset ${off} must be in 0..${provingPeriod(this.policy) - 1}`);
    }
    const m: DevnetMiner = {
      address,
      owner: canonical(p.owner),
      worker: canonical(p.worker),
      controlAddresses: (p.controlAddresses ?? []).map(canonical),
      windowPoStProofType: p.windowPoStProofType,
      provingPeriodOffset: off,
      sectors: new Map(),
      deadlines: Array.from({ length: this.policy.wPoStPeriodDeadlines }, emptyDeadline),
    };
    this.miners.set(address, m);
    this.#version++;
    return m;
  }

  /**
   * Moves the chain to `epoch`, closing every deadline whose Close is ≤ epoch in epoch order
   * (builtin-actors runs handle_proving_deadline in cron at the deadline's last epoch, i.e. after
   * every message of epoch Close-1, which is the same). Returns the records of this call.
   */
  advanceTo(epoch: number): DeadlineRecord[] {
    if (!Number.isSafeInteger(epoch) || epoch < this.#epoch) {
      throw bad(`cannot move the chain from epoch ${this.#epoch} to ${String(epoch)}`);
    }
    const made: DeadlineRecord[] = [];
    const miners = [...this.miners.values()].sort(
      (a, b) => Address.fromString(a.address).actorId() - Address.fromString(b.address).actorId(),
    );
    for (;;) {
      let next = Number.POSITIVE_INFINITY;
      for (const m of miners)
        next = Math.min(next, provingDeadlineAt(m.provingPeriodOffset, this.#epoch, this.policy).close);
      if (next > epoch) break;
      for (const m of miners) {
        const dl = provingDeadlineAt(m.provingPeriodOffset, this.#epoch, this.policy);
        if (dl.close === next) made.push(this.#closeDeadline(m, dl));
      }
      this.#epoch = next;
      this.#version++;
    }
    if (this.#epoch !== epoch) this.#version++;
    this.#epoch = epoch;
    this.records.push(...made);
    return made;
  }

  /** Removes and returns every record accumulated so far. */
  takeRecords(): DeadlineRecord[] {
    return this.records.splice(0, this.records.length);
  }

  #closeDeadline(m: DevnetMiner, info: DeadlineInfo): DeadlineRecord {
    const dl = m.deadlines[info.index]!;
    const proven: number[] = [];
    const missed: number[] = [];
    let newFaults = dl.log.newFaults;
    dl.partitions.forEach((p, i) => {
      if (dl.proven.has(i)) {
        proven.push(i);
        return;
      }
      // record_missed_post: every non-faulty sector becomes faulty and pending recoveries are dropped.
      missed.push(i);
      newFaults = newFaults.union(p.sectors.subtract(p.faulty));
      p.faulty = p.sectors;
      p.recovering = BitField.empty();
    });
    const rec: DeadlineRecord = {
      miner: m.address,
      index: info.index,
      open: info.open,
      close: info.close,
      partitions: dl.partitions.length,
      proven,
      missed,
      newFaults: newFaults.toNumbers(),
      recovered: dl.log.recovered.toNumbers(),
      rejections: dl.log.rejections,
    };
    dl.proven = BitField.empty();
    dl.log = emptyLog();
    return rec;
  }

  beacon(tag: number, epoch: number, entropy: Uint8Array): Uint8Array {
    return beaconRandomness(this.seed, tag, epoch, entropy);
  }

  tickets(tag: number, epoch: number, entropy: Uint8Array): Uint8Array {
    return ticketRandomness(this.seed, tag, epoch, entropy);
  }

  /** The unmasked challenge randomness of a deadline, as StateGetRandomnessFromBeacon returns it. */
  windowPoStRandomness(minerAddr: string, dl: DeadlineInfo): Uint8Array {
    const m = this.miner(minerAddr);
    return this.beacon(RANDOMNESS_TAG.WindowedPoStChallengeSeed, dl.challenge, minerEntropy(m.address));
  }

  /** The PoStChainCommit randomness a SubmitWindowedPoSt must carry for `epoch` (no entropy). */
  chainCommitRand(epoch: number): Uint8Array {
    return this.tickets(RANDOMNESS_TAG.PoStChainCommit, epoch, new Uint8Array(0));
  }

  provingDeadline(minerAddr: string, epoch: number = this.#epoch): DeadlineInfo {
    return provingDeadlineAt(this.miner(minerAddr).provingPeriodOffset, epoch, this.policy);
  }

  partitions(minerAddr: string, deadline: number): Partition[] {
    return partitionsOf(this.miner(minerAddr), deadline);
  }

  /** Per deadline, the partitions proven in its current window (cleared when the deadline ends). */
  deadlineStates(minerAddr: string): DeadlineState[] {
    return this.miner(minerAddr).deadlines.map((dl) => ({
      postSubmissions: dl.proven,
      disputableProofCount: 0,
    }));
  }

  sectors(minerAddr: string, filter: BitField | null): SectorOnChainInfo[] {
    return sectorsOf(this.miner(minerAddr), filter);
  }

  sectorInfo(minerAddr: string, sector: number): SectorOnChainInfo | null {
    return sectorInfoOf(this.miner(minerAddr), sector);
  }

  minerInfo(minerAddr: string): MinerInfo {
    return minerInfoOf(this.miner(minerAddr));
  }

  /** Sector numbers a bundle for these partitions must prove, in bundle order (see proofs/vanillaBundle.ts). */
  expectedProofSectors(
    minerAddr: string,
    deadline: number,
    partitions: ReadonlyArray<{ index: number; skipped: BitField }>,
  ): number[] {
    return expectedProofSectorsOf(this.miner(minerAddr), deadline, partitions);
  }

  /** Adds proven sectors and assigns them to deadlines and partitions (onboarding.ts). */
  onboard(minerAddr: string, sectors: readonly OnboardSector[]): SectorLocation[] {
    const out = onboardSectors(this.miner(minerAddr), sectors, this.#epoch, this.policy);
    this.#version++;
    return out;
  }

  /**
   * SubmitWindowedPoSt at `epoch` (must be the chain's epoch). Rejections leave the state untouched
   * and are logged against the miner's current deadline. `sample`: verify only that many random
   * sector proofs per partition (post.ts verifyBundle); default all.
   */
  async submitWindowedPoSt(
    minerAddr: string,
    params: SubmitWindowedPoStParams,
    epoch: number,
    verify: VerifyFn = defaultVerify,
    sample?: number,
  ): Promise<SubmitResult> {
    const m = this.miner(minerAddr);
    if (epoch !== this.#epoch) throw bad(`message epoch ${epoch} is not the chain epoch ${this.#epoch}`);
    const reject = (reason: string): SubmitResult => {
      const cur = provingDeadlineAt(m.provingPeriodOffset, this.#epoch, this.policy);
      m.deadlines[cur.index]?.log.rejections.push(reason);
      return { ok: false, reason };
    };
    const first = planPoSt(m, params, epoch, this.policy, (e) => this.chainCommitRand(e));
    if (typeof first === "string") return reject(first);
    const version = this.#version;
    const proof = params.proofs[0]!;
    const randomness = maskSeed(this.windowPoStRandomness(m.address, first.dl));
    const judged = await verifyBundle(
      proof.proofBytes,
      first.expected,
      m.windowPoStProofType,
      randomness,
      verify,
      sample,
    );
    if (judged.failure !== undefined) return reject(judged.failure);
    if (this.#version !== version) {
      // The chain moved while the proofs were being checked: re-run the checks on the new state.
      const again = planPoSt(m, params, this.#epoch, this.policy, (e) => this.chainCommitRand(e));
      if (typeof again === "string") return reject(again);
      const a = again.expected.map((e) => e.sector.number).join(",");
      if (
        a !== first.expected.map((e) => e.sector.number).join(",") ||
        again.dl.challenge !== first.dl.challenge
      ) {
        return reject("miner state changed while the proof was being verified");
      }
    }
    const dl = m.deadlines[params.deadline]!;
    let newFaults = BitField.empty();
    let recovered = BitField.empty();
    for (const post of params.partitions) {
      const p = dl.partitions[post.index]!;
      // record_skipped_faults: skipped sectors not yet faulty become faulty; skipping a recovering sector retracts its recovery.
      const nf = post.skipped.subtract(p.faulty);
      // recover_faults: the rest of the declared recoveries are proven now.
      const rec = p.recovering.subtract(post.skipped);
      p.faulty = p.faulty.union(post.skipped).subtract(rec);
      p.recovering = BitField.empty();
      newFaults = newFaults.union(nf);
      recovered = recovered.union(rec);
      dl.proven = dl.proven.union(BitField.fromNumbers([post.index]));
    }
    dl.log.newFaults = dl.log.newFaults.union(newFaults);
    dl.log.recovered = dl.log.recovered.union(recovered);
    this.#version++;
    return {
      ok: true,
      partitions: params.partitions.map((p) => p.index),
      newFaults: newFaults.toNumbers(),
      recovered: recovered.toNumbers(),
      verified: judged.verified,
      entries: judged.entries,
    };
  }

  /**
   * DeclareFaultsRecovered at `epoch` (the chain's epoch). All-or-nothing: any bad declaration rejects
   * the message.
   */
  declareFaultsRecovered(
    minerAddr: string,
    params: DeclareFaultsRecoveredParams,
    epoch: number,
  ): DeclareResult {
    const m = this.miner(minerAddr);
    if (epoch !== this.#epoch) throw bad(`message epoch ${epoch} is not the chain epoch ${this.#epoch}`);
    const reason = checkRecoveries(m, params, epoch, this.policy);
    if (reason !== undefined) return { ok: false, reason };
    let all = BitField.empty();
    for (const d of params.recoveries) {
      const p = m.deadlines[d.deadline]!.partitions[d.partition]!;
      p.recovering = p.recovering.union(d.sectors);
      all = all.union(d.sectors);
    }
    this.#version++;
    return { ok: true, recovering: all.toNumbers() };
  }
}
