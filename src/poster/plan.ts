/**
 * Stage 2 of a deadline run, pure: what each partition needs. A partition already proven on chain
 * needs nothing; one whose proof was stored before a restart, for this very challenge and these very
 * sectors, is submitted as stored; every other partition is checked and proven.
 */
import { BitField } from "../chain/bitfield.js";
import type { Partition } from "../chain/interface.js";
import type { ProofFormat, ProvenPartition } from "./batch.js";
import { reusable, type SavedProof } from "./proofStore.js";

/**
 * The sectors a partition's proof must cover: live − faulty + recovering, the set builtin-actors
 * `record_proven_sectors` expects (a faulty sector declared recovered is proven again; one that is
 * faulty and not recovering is left alone).
 */
export function sectorsToProve(p: Partition): BitField {
  return p.liveSectors.subtract(p.faultySectors).union(p.recoveringSectors);
}

/** Indexes of the partitions with something to prove: what the deadline owes the chain. */
export function duePartitions(partitions: readonly Partition[]): number[] {
  return partitions.flatMap((p, index) => (sectorsToProve(p).isEmpty() ? [] : [index]));
}

/** Sectors the chain holds faulty across the deadline's partitions. */
export function faultyCount(partitions: readonly Partition[]): number {
  return partitions.reduce((n, p) => n + p.faultySectors.count(), 0);
}

/** A partition to check and prove in this run. */
export interface TodoPartition {
  index: number;
  partition: Partition;
  /** sectorsToProve(partition); empty for a partition with nothing to prove (it ends as "none"). */
  toProve: BitField;
}

export interface DeadlinePlan {
  /** Proven on chain already, with how many sectors each covers. */
  onChain: { index: number; sectors: number }[];
  /** Reused from the proof store, ascending index. */
  stored: ProvenPartition[];
  /** To check and prove, ascending index. */
  todo: TodoPartition[];
  /** Every sector the todo partitions expect proven: the sector infos to read. */
  wanted: BitField;
}

/** What a stored proof must answer to be reused: this challenge, this proof type and format. */
export interface Challenge {
  seed: Uint8Array;
  proofType: string;
  format: ProofFormat;
}

export function planDeadline(
  partitions: readonly Partition[],
  posted: BitField,
  saved: ReadonlyMap<number, SavedProof>,
  challenge: Challenge,
): DeadlinePlan {
  const plan: DeadlinePlan = { onChain: [], stored: [], todo: [], wanted: BitField.empty() };
  partitions.forEach((partition, index) => {
    const toProve = sectorsToProve(partition);
    if (posted.has(index)) {
      plan.onChain.push({ index, sectors: toProve.count() });
      return;
    }
    const s = saved.get(index);
    if (s && reusable(s, { ...challenge, toProve })) {
      plan.stored.push(s.partition);
      return;
    }
    plan.todo.push({ index, partition, toProve });
    plan.wanted = plan.wanted.union(toProve);
  });
  return plan;
}
