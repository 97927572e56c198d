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

/**
 * zlib levels. Ahead of the message, beside the proving: 6, which halves the message against 1 on
 * sparse sectors' proofs (59× against 30×, 3 MB of 176 MB for three partitions) for ~0.25 s of one
 * core a partition. When the message is built (a partition proven before a restart): 1, the fastest.
 */
const AHEAD_LEVEL = 6;
const AT_BUILD_LEVEL = 1;

function partOf(p: ProvenPartition, deadline: number, level: number): Promise<Uint8Array> {
  let part = parts.get(p);
  if (part === undefined) {
    try {
      part = deflateBundlePart(sectorProofsInOrder(p, { deadline, partition: p.index }), level);
    } catch (e) {
      part = Promise.reject(e);
    }
    // A failure is the message build's to report (it checks the same proofs), not an unhandled one;
    // it is not kept, so the next round of the push compresses again.
    const made = part;
    made.catch(() => {
      if (parts.get(p) === made) parts.delete(p);
    });
    parts.set(p, made);
  }
  return part;
}

/** Start compressing a proven partition's vanilla proofs (nothing for a SNARK). */
export function prepareBundlePart(p: ProvenPartition, deadline: number): void {
  if (p.sectorProofs !== undefined) void partOf(p, deadline, AHEAD_LEVEL);
}

/**
 * Settles once the parts already being compressed for `group` are done (failed ones included: the
 * message build reports those). Starts nothing: a part never prepared is compressed by the build.
 */
export async function preparedParts(group: readonly ProvenPartition[]): Promise<void> {
  await Promise.allSettled(group.map((p) => parts.get(p)).filter((x) => x !== undefined));
}

/** The deflated bundle of a message's partitions (in ascending index, as the message lists them). */
export async function deflatedBundle(
  group: readonly ProvenPartition[],
  deadline: number,
): Promise<Uint8Array> {
  const sorted = [...group].sort((a, b) => a.index - b.index);
  const pieces = await Promise.all(sorted.map((p) => partOf(p, deadline, AT_BUILD_LEVEL)));
  return joinDeflatedBundle(
    sorted.reduce((n, p) => n + p.proven.count(), 0),
    pieces,
  );
}
