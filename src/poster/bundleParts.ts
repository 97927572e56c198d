/**
 * The devnet's deflated vanilla bundle, compressed partition by partition as each is proven: a full
 * 32 GiB partition's ~59 MB of proofs took ~0.5 s of zlib when its message was built, three of them
 * to a message. Compressed ahead (proofs/vanillaBundle.ts deflateBundlePart) beside the proving of
 * the others, a message is then only joined. A partition proven before a restart, or handed over in
 * a cluster, is compressed when its message is built.
 */
import { deflateBundlePart, joinDeflatedBundle } from "../proofs/vanillaBundle.js";
import { type ProvenPartition, sectorProofsInOrder } from "./batch.js";

const parts = new WeakMap<ProvenPartition, Promise<Uint8Array>>();

function partOf(p: ProvenPartition, deadline: number): Promise<Uint8Array> {
  let part = parts.get(p);
  if (part === undefined) {
    try {
      part = deflateBundlePart(sectorProofsInOrder(p, { deadline, partition: p.index }));
    } catch (e) {
      part = Promise.reject(e);
    }
    // A failure is the message build's to report (it checks the same proofs), not an unhandled one.
    part.catch(() => {});
    parts.set(p, part);
  }
  return part;
}

/** Start compressing a proven partition's vanilla proofs (nothing for a SNARK). */
export function prepareBundlePart(p: ProvenPartition, deadline: number): void {
  if (p.sectorProofs !== undefined) void partOf(p, deadline);
}

/** The deflated bundle of a message's partitions (in ascending index, as the message lists them). */
export async function deflatedBundle(
  group: readonly ProvenPartition[],
  deadline: number,
): Promise<Uint8Array> {
  const sorted = [...group].sort((a, b) => a.index - b.index);
  const pieces = await Promise.all(sorted.map((p) => partOf(p, deadline)));
  return joinDeflatedBundle(
    sorted.reduce((n, p) => n + p.proven.count(), 0),
    pieces,
  );
}
