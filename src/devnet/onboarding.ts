/**
 * Onboarding of new (already proven) sectors into a devnet miner: validation, then deadline and
 * partition assignment as builtin-actors does it (assignment.ts). The devnet skips PreCommit and
 * ProveCommit; sectors appear active at once.
 */

import { BitField } from "../chain/bitfield.js";
import { cidToCommitment, FIL_COMMITMENT_SEALED } from "../proofs/commCid.js";
import { parseChainPoStProof } from "../proofs/proofTypes.js";
import { SmError } from "../util/errors.js";
import { assignDeadlines, fillPartitions } from "./assignment.js";
import { type DevnetMiner, type DevnetSector, sealProofSectorSize } from "./miner.js";
import { type DevnetPolicy, deadlineIsMutable } from "./policy.js";

export interface OnboardSector {
  readonly number: number;
  readonly sealProof: number;
  readonly sealedCid: string;
  /** Default: the current epoch. */
  readonly activation?: number;
  /** Default: activation + 540 days of mainnet epochs. */
  readonly expiration?: number;
}

export interface SectorLocation {
  readonly sector: number;
  readonly deadline: number;
  readonly partition: number;
}

/** Mainnet's usual 540-day commitment, in 30 s epochs. */
const DEFAULT_LIFETIME = 540 * 2880;

function bad(message: string): SmError {
  return new SmError("DEVNET_BAD_INPUT", message);
}

/** Validates all sectors first (nothing changes on error), then places them. Returns locations by sector. */
export function onboardSectors(
  m: DevnetMiner,
  sectors: readonly OnboardSector[],
  epoch: number,
  policy: DevnetPolicy,
): SectorLocation[] {
  const type = parseChainPoStProof(m.windowPoStProofType);
  const size = type.sectorsPerPartition;
  const fresh = new Map<number, DevnetSector>();
  for (const s of sectors) {
    if (!Number.isSafeInteger(s.number) || s.number < 0) throw bad(`bad sector number ${String(s.number)}`);
    if (m.sectors.has(s.number) || fresh.has(s.number)) throw bad(`sector ${s.number} already exists`);
    if (sealProofSectorSize(s.sealProof) !== type.shape.sectorSize) {
      throw bad(
        `sector ${s.number}: seal proof ${s.sealProof} does not match the miner's ${type.shape.name} sectors`,
      );
    }
    const c = cidToCommitment(s.sealedCid);
    if (c.codec !== FIL_COMMITMENT_SEALED)
      throw bad(`sector ${s.number}: ${s.sealedCid} is not a sealed CID`);
    const activation = s.activation ?? epoch;
    fresh.set(s.number, {
      number: s.number,
      sealProof: s.sealProof,
      sealedCid: s.sealedCid,
      commR: c.commitment,
      activation,
      expiration: s.expiration ?? activation + DEFAULT_LIFETIME,
    });
  }
  const loads = [];
  for (let i = 0; i < m.deadlines.length; i++) {
    if (!deadlineIsMutable(m.provingPeriodOffset, i, epoch, policy)) continue;
    const n = m.deadlines[i]!.partitions.reduce((a, p) => a + p.sectors.count(), 0);
    loads.push({ index: i, liveSectors: n, totalSectors: n });
  }
  const assigned = assignDeadlines(loads, size, [...fresh.keys()]);
  const out: SectorLocation[] = [];
  for (const [index, nums] of [...assigned.entries()].sort((a, b) => a[0] - b[0])) {
    const dl = m.deadlines[index]!;
    const last = dl.partitions[dl.partitions.length - 1];
    const { intoLast, newPartitions } = fillPartitions(last?.sectors.count(), size, nums);
    if (last && intoLast.length > 0) {
      last.sectors = last.sectors.union(BitField.fromNumbers(intoLast));
      for (const s of intoLast) out.push({ sector: s, deadline: index, partition: dl.partitions.length - 1 });
    }
    for (const list of newPartitions) {
      dl.partitions.push({
        sectors: BitField.fromNumbers(list),
        faulty: BitField.empty(),
        recovering: BitField.empty(),
      });
      for (const s of list) out.push({ sector: s, deadline: index, partition: dl.partitions.length - 1 });
    }
  }
  for (const [n, s] of fresh) m.sectors.set(n, s);
  return out.sort((a, b) => a.sector - b.sector);
}
