/**
 * Deadline and partition assignment of new sectors, following the rules of builtin-actors
 * `miner/src/deadline_assignment.rs` (assign_deadlines) and `Deadline::add_sectors` (not copied):
 *
 *  - only mutable deadlines take sectors (never the current or the next one);
 *  - sectors go one by one, in ascending number, to the "cheapest" deadline, compared by:
 *    1. partitions needed after adding one sector, counting only live sectors (compaction view);
 *    2. a deadline whose last partition still has room beats one that needs a new partition;
 *    3. partitions needed after adding one sector, counting all sectors;
 *    4. fewer live sectors; 5. fewer total sectors; 6. lower index.
 *  - inside a deadline, the last partition is filled up to the partition size, then new ones open.
 *
 * The devnet never terminates sectors, so live = total; the comparator keeps both for fidelity.
 * The actor's per-deadline partition cap (max_partitions_per_deadline) is not enforced.
 */

export interface DeadlineLoad {
  readonly index: number;
  liveSectors: number;
  totalSectors: number;
}

const divUp = (a: number, b: number): number => Math.floor((a + b - 1) / b);

function compare(a: DeadlineLoad, b: DeadlineLoad, size: number): number {
  const ac = divUp(a.liveSectors + 1, size);
  const bc = divUp(b.liveSectors + 1, size);
  if (ac !== bc) return ac - bc;
  const aFull = a.totalSectors % size === 0;
  const bFull = b.totalSectors % size === 0;
  if (aFull !== bFull) return aFull ? 1 : -1;
  const ap = divUp(a.totalSectors + 1, size);
  const bp = divUp(b.totalSectors + 1, size);
  if (ap !== bp) return ap - bp;
  if (a.liveSectors !== b.liveSectors) return a.liveSectors - b.liveSectors;
  if (a.totalSectors !== b.totalSectors) return a.totalSectors - b.totalSectors;
  return a.index - b.index;
}

/**
 * Returns, per deadline index, the sector numbers assigned to it (ascending). `loads` holds only
 * the mutable deadlines. Deterministic: a linear scan picks the minimum (deadline counts are small).
 */
export function assignDeadlines(
  loads: readonly DeadlineLoad[],
  partitionSize: number,
  sectorNumbers: readonly number[],
): Map<number, number[]> {
  const work = loads.map((l) => ({ ...l }));
  const out = new Map<number, number[]>();
  if (work.length === 0) return out;
  const sorted = [...sectorNumbers].sort((a, b) => a - b);
  for (const s of sorted) {
    let best = work[0]!;
    for (const w of work) if (compare(w, best, partitionSize) < 0) best = w;
    best.liveSectors++;
    best.totalSectors++;
    const list = out.get(best.index);
    if (list) list.push(s);
    else out.set(best.index, [s]);
  }
  return out;
}

/**
 * Deadline::add_sectors: fills the last partition (given its current size) up to `partitionSize`,
 * then opens new partitions. Returns the sectors for the last existing partition (may be empty)
 * and the sector lists of the new partitions.
 */
export function fillPartitions(
  lastPartitionSize: number | undefined,
  partitionSize: number,
  sectors: readonly number[],
): { intoLast: number[]; newPartitions: number[][] } {
  let i = 0;
  const intoLast: number[] = [];
  if (lastPartitionSize !== undefined) {
    const room = Math.max(0, partitionSize - lastPartitionSize);
    while (i < sectors.length && intoLast.length < room) intoLast.push(sectors[i++]!);
  }
  const newPartitions: number[][] = [];
  while (i < sectors.length) {
    newPartitions.push(sectors.slice(i, i + partitionSize));
    i += partitionSize;
  }
  return { intoLast, newPartitions };
}
