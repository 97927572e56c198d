/**
 * Devnet miner-actor state: the parts of builtin-actors' miner State a PoSter observes (sectors,
 * deadlines, partitions with faulty and recovering sets, partitions proven in the current window).
 * Everything here is plain data; ChainState (state.ts) owns the transitions.
 */

import { BitField } from "../chain/bitfield.js";
import { SmError } from "../util/errors.js";

export interface DevnetSector {
  readonly number: number;
  /** RegisteredSealProof id. */
  readonly sealProof: number;
  readonly sealedCid: string;
  /** comm_r bytes of `sealedCid` (kept to avoid re-parsing the CID on every verification). */
  readonly commR: Uint8Array;
  readonly activation: number;
  readonly expiration: number;
}

export interface DevnetPartition {
  sectors: BitField;
  /** ⊆ sectors. */
  faulty: BitField;
  /** ⊆ faulty (builtin-actors keeps Recoveries ⊆ Faults). */
  recovering: BitField;
}

/** What happened in the current challenge window of one deadline; folded into a DeadlineRecord at Close. */
export interface WindowLog {
  newFaults: BitField;
  recovered: BitField;
  rejections: string[];
}

export interface DevnetDeadline {
  partitions: DevnetPartition[];
  /** Indexes of the partitions proven in the current window (builtin-actors PartitionsPoSted). */
  proven: BitField;
  log: WindowLog;
}

export interface DevnetMiner {
  /** ID address, f0…. */
  readonly address: string;
  readonly owner: string;
  readonly worker: string;
  readonly controlAddresses: readonly string[];
  /** RegisteredPoStProof chain id (devnet: the V1_1 ids 10..14). */
  readonly windowPoStProofType: number;
  /** Proving period start modulo the proving period (builtin-actors assigns it from a hash). */
  readonly provingPeriodOffset: number;
  readonly sectors: Map<number, DevnetSector>;
  readonly deadlines: DevnetDeadline[];
}

/** One closed deadline of one miner. Sector and partition numbers ascending. */
export interface DeadlineRecord {
  readonly miner: string;
  readonly index: number;
  readonly open: number;
  readonly close: number;
  /** Number of partitions the deadline had at Close. */
  readonly partitions: number;
  /** Partition indexes proven in the window. */
  readonly proven: number[];
  /** Partition indexes not proven (their non-faulty sectors became faulty). */
  readonly missed: number[];
  /** Sectors that became faulty in this window: skipped in a proof, or in a missed partition. */
  readonly newFaults: number[];
  /** Recovering sectors proven in this window (now active). */
  readonly recovered: number[];
  /** Reasons of SubmitWindowedPoSt messages rejected while this deadline was current. */
  readonly rejections: string[];
}

export function emptyLog(): WindowLog {
  return { newFaults: BitField.empty(), recovered: BitField.empty(), rejections: [] };
}

export function emptyDeadline(): DevnetDeadline {
  return { partitions: [], proven: BitField.empty(), log: emptyLog() };
}

/**
 * Sector size of a RegisteredSealProof id (go-state-types abi/sector.go): ids 0..19 come in groups
 * of five (V1, V1_1, V1_1_Feat_SyntheticPoRep, V1_2_Feat_NiPoRep), each in size order
 * 2KiB, 8MiB, 512MiB, 32GiB, 64GiB.
 */
export function sealProofSectorSize(id: number): number {
  const sizes = [2048, 8 << 20, 512 << 20, 32 * 2 ** 30, 64 * 2 ** 30];
  if (!Number.isSafeInteger(id) || id < 0 || id > 19) {
    throw new SmError("DEVNET_BAD_INPUT", `unknown RegisteredSealProof id ${id} (known: 0..19)`);
  }
  return sizes[id % 5]!;
}

/** Number of the sole address form the devnet knows for miners: f0<id>. */
export function isIdAddress(a: string): boolean {
  return /^[ft]0(0|[1-9][0-9]*)$/.test(a);
}
