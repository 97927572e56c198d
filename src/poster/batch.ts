/**
 * WindowPoSt proof batching: which sectors of each partition are proven, how finished partitions are
 * grouped into SubmitWindowedPoSt messages, and the message params. Pure logic, no I/O: the runner
 * checks sectors and calls provers, then feeds the results through here.
 *
 * Sources: damocles-poster.md §4.4–§4.6 (damocles `modules/poster`, `modules/impl/sectors/proving.go`);
 * the sector set each partition must prove is the one builtin-actors `record_proven_sectors` expects,
 * mirrored by the devnet in src/devnet/checks.ts `provenSet`; the devnet proof format is
 * documented in src/proofs/vanillaBundle.ts.
 *
 * Deliberate difference from damocles: damocles cuts the partition list into fixed consecutive
 * batches up front and proves each batch as a unit. Here each partition is proven on its own and
 * finished partitions are grouped into messages as they complete (`MessageGrouper`), so one slow or
 * failing partition does not hold back the partitions that happen to share its batch.
 */
import { BitField } from "../chain/bitfield.js";
import type { Partition } from "../chain/interface.js";
import type { PoStPartition, PoStProof, SubmitWindowedPoStParams } from "../chain/params.js";
import { encodeVanillaBundle } from "../proofs/vanillaBundle.js";
import { SmError } from "../util/errors.js";

/**
 * go-state-types / builtin-actors PoStedPartitionsMax (3 since nv21). venus `GetMaxPoStPartitions`
 * also caps by AddressedSectorsMax (25 000) / sectors-per-partition, which is ≥ 10 for every
 * proof type, so 3 is the binding limit on every current network version (damocles-poster.md §4.5).
 */
export const POSTED_PARTITIONS_MAX = 3;

/** Bytes of one Groth16 WindowPoSt SNARK (one per partition; lotus/filecoin-ffi concatenate them). */
export const SNARK_PROOF_BYTES = 192;

/** Bytes of chain randomness (abi.Randomness; builtin-actors rejects a longer ChainCommitRand). */
export const RANDOMNESS_BYTES = 32;

export type PosterBatchErrorCode =
  | "POSTER_BAD_BATCH_SIZE"
  | "POSTER_DUPLICATE_PARTITION"
  | "POSTER_BAD_SUBMIT_INPUT"
  | "POSTER_MISSING_SECTOR_PROOF"
  | "POSTER_UNEXPECTED_SECTOR_PROOF";

function fail(code: PosterBatchErrorCode, message: string, fields: Record<string, unknown> = {}): never {
  throw new SmError(code, message, fields);
}

function checkIndex(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    fail("POSTER_BAD_SUBMIT_INPUT", `${what} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

// --- partition plan --------------------------------------------------------------------------------

export interface PartitionPlan {
  /** Partition index within the deadline (its position in StateMinerPartitions). */
  readonly index: number;
  /** (Live − Faulty) ∪ Recovering: what the actor expects proven (damocles-poster.md §4.5). */
  readonly toProve: BitField;
  /** toProve − good: goes into the message's Skipped bitfield and becomes faulty on chain. */
  readonly skipped: BitField;
  /** toProve − skipped: the sectors the prover must prove. */
  readonly proven: BitField;
}

export interface PartitionPlanResult {
  /** Partitions with at least one provable sector, ascending index. */
  readonly partitions: readonly PartitionPlan[];
  /**
   * Partitions left out of the proof: nothing to prove (toProve empty: all faulty or empty), or every
   * sector failed its check (damocles omits partitions with zero good sectors, §4.5). Reported so the
   * runner can log them; the skipped sectors of an all-bad partition are not declared by leaving it
   * out, the chain marks them faulty when the deadline closes unproven.
   */
  readonly omitted: readonly PartitionPlan[];
}

/**
 * One partition: toProve = (live − faulty) ∪ recovering; skipped = toProve − good; proven =
 * toProve − skipped. `good` is only asked about sectors in toProve, so faulty-and-not-recovering
 * sectors never land in Skipped (the actor would count them as new faults otherwise).
 */
export function planPartition(p: Partition, index: number, good: (sector: number) => boolean): PartitionPlan {
  const toProve = p.liveSectors.subtract(p.faultySectors).union(p.recoveringSectors);
  const bad: number[] = [];
  for (const s of toProve) if (!good(s)) bad.push(s);
  const skipped = BitField.fromNumbers(bad);
  return { index, toProve, skipped, proven: toProve.subtract(skipped) };
}

/**
 * Every partition planned (`planPartition`); `partitions[i]` is partition index i, as
 * StateMinerPartitions returns them.
 */
export function partitionPlan(
  partitions: readonly Partition[],
  good: (sector: number) => boolean,
): PartitionPlanResult {
  const planned: PartitionPlan[] = [];
  const omitted: PartitionPlan[] = [];
  partitions.forEach((p, index) => {
    const plan = planPartition(p, index, good);
    (plan.proven.isEmpty() ? omitted : planned).push(plan);
  });
  return { partitions: planned, omitted };
}

// --- grouping into messages ------------------------------------------------------------------------

/**
 * Partitions per SubmitWindowedPoSt: the network maximum, lowered by MaxPartitionsPerPoStMessage
 * (null = network max; validated config never holds 0, the loader maps 0 to null).
 */
export function postPartitionsPerMessage(
  configured: number | null,
  networkMax: number = POSTED_PARTITIONS_MAX,
): number {
  const check = (v: number, what: string): number => {
    if (!Number.isSafeInteger(v) || v < 1) {
      fail("POSTER_BAD_BATCH_SIZE", `${what} must be a positive integer, got ${String(v)}`);
    }
    return v;
  };
  const max = check(networkMax, "network partitions per message");
  return configured === null ? max : Math.min(max, check(configured, "MaxPartitionsPerPoStMessage"));
}

/**
 * Groups finished partitions into messages as they complete, with no barrier: a group is emitted as
 * soon as it holds `maxPerMessage` partitions; `finish` emits the remainder once the caller knows no
 * more will complete. Within a group partitions are ordered by index (the order the message lists
 * them, which is also the vanilla bundle's order).
 */
export class MessageGrouper<T extends { readonly index: number }> {
  readonly maxPerMessage: number;
  #pending: T[] = [];
  readonly #seen = new Set<number>();
  #finished = false;

  constructor(maxPerMessage: number) {
    this.maxPerMessage = postPartitionsPerMessage(maxPerMessage, Number.MAX_SAFE_INTEGER);
  }

  /** Adds one finished partition; returns the group it completed, if any. */
  add(partition: T): T[] | undefined {
    if (this.#finished) fail("POSTER_BAD_SUBMIT_INPUT", "partition added after the grouper was finished");
    const index = checkIndex(partition.index, "partition index");
    if (this.#seen.has(index)) {
      fail("POSTER_DUPLICATE_PARTITION", `partition ${index} completed twice`, { partition: index });
    }
    this.#seen.add(index);
    this.#pending.push(partition);
    if (this.#pending.length < this.maxPerMessage) return undefined;
    return this.#take();
  }

  /** Partitions waiting for a group to fill. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** No more partitions will complete: the remainder as a last group (undefined when none). */
  finish(): T[] | undefined {
    this.#finished = true;
    return this.#pending.length === 0 ? undefined : this.#take();
  }

  #take(): T[] {
    const group = this.#pending.sort((a, b) => a.index - b.index);
    this.#pending = [];
    return group;
  }
}

/** All groups for partitions listed in completion order (MessageGrouper over the whole list). */
export function groupForMessages<T extends { readonly index: number }>(
  completed: Iterable<T>,
  maxPerMessage: number = POSTED_PARTITIONS_MAX,
): T[][] {
  const g = new MessageGrouper<T>(maxPerMessage);
  const out: T[][] = [];
  for (const p of completed) {
    const group = g.add(p);
    if (group) out.push(group);
  }
  const rest = g.finish();
  if (rest) out.push(rest);
  return out;
}

// --- SubmitWindowedPoSt params ---------------------------------------------------------------------

export type ProofFormat = "vanilla-bundle" | "snark";

export interface ProvenPartition {
  readonly index: number;
  /** PartitionPlan.skipped. */
  readonly skipped: BitField;
  /** PartitionPlan.proven: the sectors the proof covers. */
  readonly proven: BitField;
  /** "vanilla-bundle": bincode FallbackPoStSectorProof per proven sector (src/proofs/bincode.ts). */
  readonly sectorProofs?: ReadonlyMap<number, Uint8Array>;
  /** "snark": this partition's 192-byte Groth16 proof. */
  readonly snarkProof?: Uint8Array;
}

/**
 * Lets a partition's vanilla proofs go (~59 MB a full 32 GiB partition) once its message has
 * executed: the run sends it no more, and the proof store keeps the proofs for a restart. Nothing
 * for a SNARK.
 */
export function releaseSectorProofs(p: ProvenPartition): void {
  if (p.sectorProofs instanceof Map) p.sectorProofs.clear();
}

export interface SubmitInput {
  readonly deadline: number;
  readonly partitions: readonly ProvenPartition[];
  /** The miner's WindowPoStProofType (abi.RegisteredPoStProof). */
  readonly proofType: number;
  readonly chainCommitEpoch: number;
  readonly chainCommitRand: Uint8Array;
}

/**
 * SubmitWindowedPoSt params for one message. Partitions are listed by ascending index. The proof:
 *  - "vanilla-bundle" (devnet): ONE PoStProof whose bytes are encodeVanillaBundle of the per-sector
 *    proofs, partitions in message order then ascending sector number (src/proofs/vanillaBundle.ts);
 *    every proven sector needs a proof and no other sector may have one (the devnet rejects a
 *    missing, extra or out-of-order entry).
 *  - "snark": ONE PoStProof whose bytes are the partitions' 192-byte proofs concatenated in message
 *    order (what filecoin-ffi GenerateWindowPoSt returns for several partitions and lotus submits).
 */
export function buildSubmitParams(
  input: SubmitInput,
  format: ProofFormat,
  /** "vanilla-bundle": the bundle's bytes made from these partitions' entries beforehand (deflated). */
  opts: { vanillaBytes?: Uint8Array } = {},
): SubmitWindowedPoStParams {
  const deadline = checkIndex(input.deadline, "deadline");
  const postProof = checkIndex(input.proofType, "proofType");
  const chainCommitEpoch = checkIndex(input.chainCommitEpoch, "chainCommitEpoch");
  if (!(input.chainCommitRand instanceof Uint8Array) || input.chainCommitRand.length !== RANDOMNESS_BYTES) {
    fail("POSTER_BAD_SUBMIT_INPUT", `chainCommitRand must be ${RANDOMNESS_BYTES} bytes`);
  }
  if (format !== "vanilla-bundle" && format !== "snark") {
    fail("POSTER_BAD_SUBMIT_INPUT", `unknown proof format ${String(format)}`);
  }
  if (input.partitions.length === 0) {
    fail(
      "POSTER_BAD_SUBMIT_INPUT",
      `deadline ${deadline}: a SubmitWindowedPoSt needs at least one partition`,
    );
  }

  const sorted = [...input.partitions].sort((a, b) => a.index - b.index);
  const partitions: PoStPartition[] = [];
  const chunks: Uint8Array[] = [];
  let prev = -1;
  for (const p of sorted) {
    const index = checkIndex(p.index, "partition index");
    const where = { deadline, partition: index };
    if (index === prev)
      fail("POSTER_DUPLICATE_PARTITION", `deadline ${deadline}: partition ${index} listed twice`, where);
    prev = index;
    if (p.proven.isEmpty()) {
      // partitionPlan leaves such partitions out; listing one would prove nothing.
      fail("POSTER_BAD_SUBMIT_INPUT", `deadline ${deadline} partition ${index}: no proven sectors`, where);
    }
    if (!p.proven.intersect(p.skipped).isEmpty()) {
      fail(
        "POSTER_BAD_SUBMIT_INPUT",
        `deadline ${deadline} partition ${index}: a sector is both proven and skipped`,
        {
          ...where,
          sectors: p.proven.intersect(p.skipped).toString(),
        },
      );
    }
    partitions.push({ index, skipped: p.skipped });
    if (format === "vanilla-bundle") chunks.push(...sectorProofsInOrder(p, where));
    else chunks.push(snarkOf(p, where));
  }

  const proofBytes =
    format === "vanilla-bundle" ? (opts.vanillaBytes ?? encodeVanillaBundle(chunks)) : concat(chunks);
  const proofs: PoStProof[] = [{ postProof, proofBytes }];
  return { deadline, partitions, proofs, chainCommitEpoch, chainCommitRand: input.chainCommitRand };
}

/**
 * A partition's vanilla proofs in bundle order (ascending sector number), checked: one for every
 * proven sector and none for another.
 */
export function sectorProofsInOrder(
  p: ProvenPartition,
  where: { deadline: number; partition: number },
): Uint8Array[] {
  const map = p.sectorProofs;
  if (map === undefined) {
    fail(
      "POSTER_BAD_SUBMIT_INPUT",
      `deadline ${where.deadline} partition ${where.partition}: no sector proofs`,
      where,
    );
  }
  const out: Uint8Array[] = [];
  // BitField iterates in ascending order: exactly the bundle's order inside a partition.
  for (const sector of p.proven) {
    const proof = map.get(sector);
    if (!(proof instanceof Uint8Array) || proof.length === 0) {
      fail(
        "POSTER_MISSING_SECTOR_PROOF",
        `deadline ${where.deadline} partition ${where.partition}: no vanilla proof for sector ${sector}`,
        { ...where, sector },
      );
    }
    out.push(proof);
  }
  for (const sector of map.keys()) {
    if (!p.proven.has(sector)) {
      fail(
        "POSTER_UNEXPECTED_SECTOR_PROOF",
        `deadline ${where.deadline} partition ${where.partition}: proof for sector ${sector}, which is not among the proven sectors`,
        { ...where, sector },
      );
    }
  }
  return out;
}

function snarkOf(p: ProvenPartition, where: { deadline: number; partition: number }): Uint8Array {
  const proof = p.snarkProof;
  if (!(proof instanceof Uint8Array) || proof.length !== SNARK_PROOF_BYTES) {
    fail(
      "POSTER_BAD_SUBMIT_INPUT",
      `deadline ${where.deadline} partition ${where.partition}: SNARK proof must be ${SNARK_PROOF_BYTES} bytes, got ${
        proof instanceof Uint8Array ? proof.length : "none"
      }`,
      where,
    );
  }
  return proof;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
