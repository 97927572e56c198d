/**
 * Miner actor parameters the PoSter sends, tuple-encoded (CBOR arrays in field order).
 *
 * Field order and types follow filecoin-project/go-state-types builtin/v19/miner/miner_types.go
 * (types) and builtin/v19/miner/cbor_gen.go (encoding), snapshot 8b01cf99 (June 2026), with
 * proof.PoStProof from proof/proof_types.go; the shapes are unchanged since builtin/v8:
 *
 *   SubmitWindowedPoStParams  [Deadline u64, Partitions []PoStPartition, Proofs []PoStProof,
 *                              ChainCommitEpoch i64 (abi.ChainEpoch), ChainCommitRand bytes]
 *   PoStPartition             [Index u64, Skipped BitField]
 *   PoStProof                 [PoStProof i64 (abi.RegisteredPoStProof), ProofBytes bytes]
 *   DeclareFaultsRecoveredParams [Recoveries []RecoveryDeclaration]
 *   RecoveryDeclaration       [Deadline u64, Partition u64, Sectors BitField]
 *   DeclareFaultsParams       [Faults []FaultDeclaration]
 *   FaultDeclaration          [Deadline u64, Partition u64, Sectors BitField]
 *
 * A BitField is a CBOR byte string of its RLE+ bytes (go-bitfield MarshalCBOR), at most 32 KiB.
 * cbor-gen limits are enforced both ways: slices <= 8192 items, byte arrays <= 2 MiB.
 * The decoders apply the chain's (ref-fvm) strict RLE+ rules to every bitfield.
 */

import type { BitField } from "./bitfield.js";
import { type CborValue, decodeCbor, encodeCbor } from "./cbor.js";
import {
  at,
  bitFieldBytes,
  type Ctx,
  checkBytes,
  checkI64,
  checkSlice,
  checkU64,
  readBitField,
  readBytes,
  readI64,
  readSlice,
  readTuple,
  readU64,
  shapeFail,
} from "./tuple.js";

/** RegisteredPoStProof ids (go-state-types abi/sector.go); Window PoSt V1_1 is what nv19+ uses. */
export const RegisteredPoStProof = {
  StackedDrgWindow2KiBV1: 5,
  StackedDrgWindow8MiBV1: 6,
  StackedDrgWindow512MiBV1: 7,
  StackedDrgWindow32GiBV1: 8,
  StackedDrgWindow64GiBV1: 9,
  StackedDrgWindow2KiBV1_1: 10,
  StackedDrgWindow8MiBV1_1: 11,
  StackedDrgWindow512MiBV1_1: 12,
  StackedDrgWindow32GiBV1_1: 13,
  StackedDrgWindow64GiBV1_1: 14,
} as const;

export interface PoStPartition {
  /** Partition index within the deadline. */
  readonly index: number;
  /** Sectors skipped while proving that were not already declared faulty. */
  readonly skipped: BitField;
}

export interface PoStProof {
  /** abi.RegisteredPoStProof (int64). */
  readonly postProof: number;
  readonly proofBytes: Uint8Array;
}

export interface SubmitWindowedPoStParams {
  readonly deadline: number;
  readonly partitions: readonly PoStPartition[];
  readonly proofs: readonly PoStProof[];
  readonly chainCommitEpoch: number;
  readonly chainCommitRand: Uint8Array;
}

/** Shared shape of RecoveryDeclaration and FaultDeclaration. */
export interface SectorDeclaration {
  readonly deadline: number;
  readonly partition: number;
  readonly sectors: BitField;
}
export type RecoveryDeclaration = SectorDeclaration;
export type FaultDeclaration = SectorDeclaration;

export interface DeclareFaultsRecoveredParams {
  readonly recoveries: readonly RecoveryDeclaration[];
}

export interface DeclareFaultsParams {
  readonly faults: readonly FaultDeclaration[];
}

const CODE = "PARAMS_INVALID";

function ctx(path: string): Ctx {
  return { code: CODE, path };
}

function asObject(v: unknown, c: Ctx): Record<string, unknown> {
  if (typeof v !== "object" || v === null) shapeFail(c, "expected an object");
  return v as Record<string, unknown>;
}

// --- SubmitWindowedPoSt ---------------------------------------------------------------------------

/**
 * Size limits of SubmitWindowedPoStParams. `maxProofBytes` defaults to cbor-gen's 2 MiB, what a real
 * chain decodes (3 SNARKs are 576 bytes); the devnet's vanilla bundles need more (~25 KB per 32 GiB
 * sector, ~59 MB per full partition), and only its codec paths raise it (MAX_BUNDLE_BYTES).
 */
export interface SubmitParamsLimits {
  readonly maxProofBytes?: number;
}

function submitToCbor(p: SubmitWindowedPoStParams, limits: SubmitParamsLimits = {}): CborValue {
  const c = ctx("SubmitWindowedPoStParams");
  const o = asObject(p, c);
  const partitions = checkSlice<PoStPartition>(o.partitions, at(c, "Partitions")).map((part, i) => {
    const pc = at(at(c, "Partitions"), i);
    const po = asObject(part, pc);
    return [checkU64(po.index, at(pc, "Index")), bitFieldBytes(po.skipped, at(pc, "Skipped"))];
  });
  const proofs = checkSlice<PoStProof>(o.proofs, at(c, "Proofs")).map((proof, i) => {
    const pc = at(at(c, "Proofs"), i);
    const po = asObject(proof, pc);
    return [
      checkI64(po.postProof, at(pc, "PoStProof")),
      checkBytes(po.proofBytes, at(pc, "ProofBytes"), limits.maxProofBytes),
    ];
  });
  return [
    checkU64(o.deadline, at(c, "Deadline")),
    partitions,
    proofs,
    checkI64(o.chainCommitEpoch, at(c, "ChainCommitEpoch")),
    checkBytes(o.chainCommitRand, at(c, "ChainCommitRand")),
  ];
}

export function encodeSubmitWindowedPoStParams(
  params: SubmitWindowedPoStParams,
  limits?: SubmitParamsLimits,
): Uint8Array {
  return encodeCbor(submitToCbor(params, limits));
}

export function decodeSubmitWindowedPoStParams(
  bytes: Uint8Array,
  limits: SubmitParamsLimits = {},
): SubmitWindowedPoStParams {
  const c = ctx("SubmitWindowedPoStParams");
  const [deadline, partitions, proofs, epoch, rand] = readTuple(decodeCbor(bytes), 5, c) as [
    CborValue,
    CborValue,
    CborValue,
    CborValue,
    CborValue,
  ];
  const pc = at(c, "Partitions");
  const fc = at(c, "Proofs");
  return {
    deadline: readU64(deadline, at(c, "Deadline")),
    partitions: readSlice(partitions, pc).map((v, i) => {
      const [index, skipped] = readTuple(v, 2, at(pc, i)) as [CborValue, CborValue];
      return {
        index: readU64(index, at(at(pc, i), "Index")),
        skipped: readBitField(skipped, at(at(pc, i), "Skipped")),
      };
    }),
    proofs: readSlice(proofs, fc).map((v, i) => {
      const [type, proofBytes] = readTuple(v, 2, at(fc, i)) as [CborValue, CborValue];
      return {
        postProof: readI64(type, at(at(fc, i), "PoStProof")),
        proofBytes: readBytes(proofBytes, at(at(fc, i), "ProofBytes"), limits.maxProofBytes),
      };
    }),
    chainCommitEpoch: readI64(epoch, at(c, "ChainCommitEpoch")),
    chainCommitRand: readBytes(rand, at(c, "ChainCommitRand")),
  };
}

// --- DeclareFaultsRecovered / DeclareFaults -------------------------------------------------------

function declarationsToCbor(list: unknown, c: Ctx): CborValue {
  return [
    checkSlice<SectorDeclaration>(list, c).map((d, i) => {
      const dc = at(c, i);
      const o = asObject(d, dc);
      return [
        checkU64(o.deadline, at(dc, "Deadline")),
        checkU64(o.partition, at(dc, "Partition")),
        bitFieldBytes(o.sectors, at(dc, "Sectors")),
      ];
    }),
  ];
}

function declarationsFromCbor(bytes: Uint8Array, struct: Ctx, field: string): SectorDeclaration[] {
  const [list] = readTuple(decodeCbor(bytes), 1, struct) as [CborValue];
  const c = at(struct, field);
  return readSlice(list, c).map((v, i) => {
    const dc = at(c, i);
    const [deadline, partition, sectors] = readTuple(v, 3, dc) as [CborValue, CborValue, CborValue];
    return {
      deadline: readU64(deadline, at(dc, "Deadline")),
      partition: readU64(partition, at(dc, "Partition")),
      sectors: readBitField(sectors, at(dc, "Sectors")),
    };
  });
}

export function encodeDeclareFaultsRecoveredParams(params: DeclareFaultsRecoveredParams): Uint8Array {
  const c = ctx("DeclareFaultsRecoveredParams");
  return encodeCbor(declarationsToCbor(asObject(params, c).recoveries, at(c, "Recoveries")));
}

export function decodeDeclareFaultsRecoveredParams(bytes: Uint8Array): DeclareFaultsRecoveredParams {
  return { recoveries: declarationsFromCbor(bytes, ctx("DeclareFaultsRecoveredParams"), "Recoveries") };
}

export function encodeDeclareFaultsParams(params: DeclareFaultsParams): Uint8Array {
  const c = ctx("DeclareFaultsParams");
  return encodeCbor(declarationsToCbor(asObject(params, c).faults, at(c, "Faults")));
}

export function decodeDeclareFaultsParams(bytes: Uint8Array): DeclareFaultsParams {
  return { faults: declarationsFromCbor(bytes, ctx("DeclareFaultsParams"), "Faults") };
}
