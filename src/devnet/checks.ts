/**
 * Message checks of the devnet miner actor, kept apart from the state transitions (state.ts):
 * submit_windowed_post's pre-verification checks and declare_faults_recovered's validation
 * (builtin-actors miner/src/lib.rs). Pure functions; a returned string is the rejection reason.
 */
import type { BitField } from "../chain/bitfield.js";
import type { DeadlineInfo } from "../chain/interface.js";
import type { DeclareFaultsRecoveredParams, SubmitWindowedPoStParams } from "../chain/params.js";
import type { DevnetMiner } from "./miner.js";
import { type DevnetPolicy, deadlineInfo, nextNotElapsed, provingDeadlineAt } from "./policy.js";
import type { ExpectedProof } from "./post.js";

export interface PoStPlan {
  readonly dl: DeadlineInfo;
  readonly expected: ExpectedProof[];
}

/** Sectors a proof for this partition covers: all − skipped − (faulty − recovering). */
export function provenSet(
  p: { sectors: BitField; faulty: BitField; recovering: BitField },
  skipped: BitField,
): BitField {
  return p.sectors.subtract(skipped).subtract(p.faulty.subtract(p.recovering));
}

/**
 * The checks of builtin-actors submit_windowed_post that need no proof verification, in the actor's
 * order where it has one. A string is the rejection reason.
 */
export function planPoSt(
  m: DevnetMiner,
  params: SubmitWindowedPoStParams,
  epoch: number,
  pol: DevnetPolicy,
  chainCommitRand: (epoch: number) => Uint8Array,
): PoStPlan | string {
  if (!Number.isSafeInteger(params.deadline) || params.deadline >= pol.wPoStPeriodDeadlines) {
    return `invalid deadline ${params.deadline} of ${pol.wPoStPeriodDeadlines}`;
  }
  const cur = provingDeadlineAt(m.provingPeriodOffset, epoch, pol);
  if (params.deadline !== cur.index) {
    const prev = (cur.index + pol.wPoStPeriodDeadlines - 1) % pol.wPoStPeriodDeadlines;
    if (params.deadline === prev) {
      return `late submission: deadline ${prev} closed at epoch ${cur.open} (message at epoch ${epoch} ≥ Close)`;
    }
    return `invalid deadline ${params.deadline} at epoch ${epoch}, expected ${cur.index}`;
  }
  if (epoch < cur.open || epoch >= cur.close) {
    return `epoch ${epoch} is outside deadline ${cur.index}'s window [${cur.open}, ${cur.close})`;
  }
  if (params.partitions.length === 0) return "no partitions in the message";
  if (params.partitions.length > pol.postedPartitionsMax) {
    return `too many partitions ${params.partitions.length}, limit ${pol.postedPartitionsMax}`;
  }
  if (params.proofs.length !== 1) return `expected exactly one proof, got ${params.proofs.length}`;
  const proof = params.proofs[0]!;
  if (proof.postProof !== m.windowPoStProofType) {
    return `expected proof of type ${m.windowPoStProofType}, got ${proof.postProof}`;
  }
  if (params.chainCommitEpoch < cur.challenge) {
    return `expected chain commit epoch ${params.chainCommitEpoch} ≥ challenge epoch ${cur.challenge}`;
  }
  if (params.chainCommitEpoch >= epoch) {
    return `chain commit epoch ${params.chainCommitEpoch} must be less than the current epoch ${epoch}`;
  }
  const want = chainCommitRand(params.chainCommitEpoch);
  const got = params.chainCommitRand;
  if (got.length !== want.length || !got.every((b, i) => b === want[i])) {
    return `post commit randomness mismatched at epoch ${params.chainCommitEpoch}`;
  }
  const dl = m.deadlines[cur.index]!;
  const seen = new Set<number>();
  const expected: ExpectedProof[] = [];
  for (const post of params.partitions) {
    const p = dl.partitions[post.index];
    if (p === undefined) return `no such partition ${post.index} in deadline ${cur.index}`;
    if (seen.has(post.index)) return `partition ${post.index} listed twice`;
    seen.add(post.index);
    if (dl.proven.has(post.index)) return `partition ${post.index} of deadline ${cur.index} already proven`;
    const outside = post.skipped.subtract(p.sectors);
    if (!outside.isEmpty()) {
      return `skipped sectors ${outside.toNumbers(8).join(",")} are not in partition ${post.index}`;
    }
    for (const n of provenSet(p, post.skipped))
      expected.push({ partition: post.index, sector: m.sectors.get(n)! });
  }
  return { dl: cur, expected };
}

/** declare_faults_recovered validation; all-or-nothing, so the first bad declaration rejects. */
export function checkRecoveries(
  m: DevnetMiner,
  params: DeclareFaultsRecoveredParams,
  epoch: number,
  pol: DevnetPolicy,
): string | undefined {
  if (params.recoveries.length === 0) return "no recovery declarations";
  const periodStart = provingDeadlineAt(m.provingPeriodOffset, epoch, pol).periodStart;
  for (const d of params.recoveries) {
    const dl = m.deadlines[d.deadline];
    if (!Number.isSafeInteger(d.deadline) || dl === undefined) {
      return `invalid deadline ${d.deadline} of ${pol.wPoStPeriodDeadlines}`;
    }
    // declaration_deadline_info + validate_fr_declaration_deadline: the next not-yet-closed
    // occurrence of the deadline must still be before its fault cutoff.
    const target = nextNotElapsed(deadlineInfo(periodStart, d.deadline, epoch, pol), pol);
    if (epoch >= target.faultCutoff) {
      return `late fault or recovery declaration for deadline ${d.deadline} at epoch ${epoch} (fault cutoff ${target.faultCutoff})`;
    }
    const p = dl.partitions[d.partition];
    if (p === undefined) return `no such partition ${d.partition} in deadline ${d.deadline}`;
    const outside = d.sectors.subtract(p.sectors);
    if (!outside.isEmpty()) {
      return `sectors ${outside.toNumbers(8).join(",")} are not in deadline ${d.deadline} partition ${d.partition}`;
    }
    // Stricter than the actor, which silently ignores non-faulty sectors (see the report / README).
    const notFaulty = d.sectors.subtract(p.faulty);
    if (!notFaulty.isEmpty()) {
      return `sectors ${notFaulty.toNumbers(8).join(",")} in deadline ${d.deadline} partition ${d.partition} are not faulty`;
    }
  }
  return undefined;
}
