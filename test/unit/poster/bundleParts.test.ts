import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import type { ProvenPartition } from "../../../src/poster/batch.js";
import { deflatedBundle, prepareBundlePart } from "../../../src/poster/bundleParts.js";
import { encodeVanillaBundle, openVanillaBundle } from "../../../src/proofs/vanillaBundle.js";

/** A partition proving `sectors`, each proof 2,000 bytes naming its sector. */
function partition(index: number, sectors: number[], skipped: number[] = []): ProvenPartition {
  return {
    index,
    proven: BitField.fromNumbers(sectors),
    skipped: BitField.fromNumbers(skipped),
    sectorProofs: new Map(sectors.map((n) => [n, new Uint8Array(2_000).fill(n % 256)])),
  };
}

describe("the devnet bundle compressed partition by partition", () => {
  test("parts compressed ahead or at build time join into the bundle of the message, partitions in index order", async () => {
    const p0 = partition(0, [1, 2, 3]);
    const p1 = partition(1, [10, 12], [11]);
    const p2 = partition(2, [20]);
    prepareBundlePart(p2, 5);
    prepareBundlePart(p0, 5);
    // p1 is compressed only when the message is built (as after a restart).
    const z = await deflatedBundle([p2, p1, p0], 5);
    const entries = await openVanillaBundle(z);
    assert.deepEqual(
      entries.map((e) => e[0]),
      [1, 2, 3, 10, 12, 20],
    );
    const plain = encodeVanillaBundle([1, 2, 3, 10, 12, 20].map((n) => new Uint8Array(2_000).fill(n)));
    assert.ok(entries.every((e) => e.length === 2_000 && e.every((b) => b === e[0])));
    assert.ok(z.length * 10 < plain.length, `compressed: ${z.length} of ${plain.length}`);
    // Built again (a push retried): the same bytes.
    assert.deepEqual(await deflatedBundle([p0, p1, p2], 5), z);
  });

  test("a partition with a missing proof fails the build with the message build's error, every time", async () => {
    const bad: ProvenPartition = { ...partition(0, [1, 2]), sectorProofs: new Map([[1, Uint8Array.of(1)]]) };
    prepareBundlePart(bad, 7);
    for (let i = 0; i < 2; i++)
      await assert.rejects(deflatedBundle([bad], 7), /deadline 7 partition 0: no vanilla proof for sector 2/);
  });
});
