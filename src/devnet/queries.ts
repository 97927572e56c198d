/**
 * Read-only views of a devnet miner in the chain port's domain types (interface.ts), as
 * StateMinerPartitions, StateMinerSectors, StateSectorGetInfo and StateMinerInfo answer them.
 * No terminations exist on the devnet, so live = all sectors and active = all − faulty.
 */

import type { BitField } from "../chain/bitfield.js";
import type { MinerInfo, Partition, SectorOnChainInfo } from "../chain/interface.js";
import { parseChainPoStProof } from "../proofs/proofTypes.js";
import { SmError } from "../util/errors.js";
import { provenSet } from "./checks.js";
import type { DevnetMiner, DevnetSector } from "./miner.js";

function bad(message: string): SmError {
  return new SmError("DEVNET_BAD_INPUT", message);
}

export function partitionsOf(m: DevnetMiner, deadline: number): Partition[] {
  const dl = m.deadlines[deadline];
  if (!Number.isSafeInteger(deadline) || dl === undefined) throw bad(`deadline ${deadline} out of range`);
  return dl.partitions.map((p) => ({
    allSectors: p.sectors,
    faultySectors: p.faulty,
    recoveringSectors: p.recovering,
    liveSectors: p.sectors,
    activeSectors: p.sectors.subtract(p.faulty),
  }));
}

export function sectorsOf(m: DevnetMiner, filter: BitField | null): SectorOnChainInfo[] {
  const nums = filter ? filter.toNumbers() : [...m.sectors.keys()].sort((a, b) => a - b);
  const out: SectorOnChainInfo[] = [];
  for (const n of nums) {
    const s = m.sectors.get(n);
    if (s) out.push(toOnChain(s));
  }
  return out;
}

export function sectorInfoOf(m: DevnetMiner, sector: number): SectorOnChainInfo | null {
  const s = m.sectors.get(sector);
  return s ? toOnChain(s) : null;
}

export function minerInfoOf(m: DevnetMiner): MinerInfo {
  const type = parseChainPoStProof(m.windowPoStProofType);
  return {
    owner: m.owner,
    worker: m.worker,
    controlAddresses: [...m.controlAddresses],
    windowPoStProofType: m.windowPoStProofType,
    sectorSize: type.shape.sectorSize,
    windowPoStPartitionSectors: type.sectorsPerPartition,
  };
}

/** Sector numbers a bundle for these partitions must prove, in bundle order (see proofs/vanillaBundle.ts). */
export function expectedProofSectorsOf(
  m: DevnetMiner,
  deadline: number,
  partitions: ReadonlyArray<{ index: number; skipped: BitField }>,
): number[] {
  const dl = m.deadlines[deadline];
  if (dl === undefined) throw bad(`deadline ${deadline} out of range`);
  const out: number[] = [];
  for (const post of partitions) {
    const p = dl.partitions[post.index];
    if (p === undefined) throw bad(`deadline ${deadline} has no partition ${post.index}`);
    out.push(...provenSet(p, post.skipped).toNumbers());
  }
  return out;
}

function toOnChain(s: DevnetSector): SectorOnChainInfo {
  return {
    sectorNumber: s.number,
    sealProof: s.sealProof,
    sealedCid: s.sealedCid,
    activation: s.activation,
    expiration: s.expiration,
    sectorKeyCid: null,
  };
}
