import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import { memoryLogger, nullLogger } from "../../../src/log/logger.js";
import {
  decodeSavedProof,
  encodeSavedProof,
  ProofStore,
  reusable,
  type SavedProof,
} from "../../../src/poster/proofStore.js";
import { Bucket, u64Key } from "../../../src/store/keys.js";
import { MemoryStore } from "../../../src/store/memory.js";

const seed = new Uint8Array(32).fill(7);
const dl = { actor: 1000, open: 500 };

function vanilla(index: number, proven: number[], skipped: number[] = []): SavedProof {
  return {
    seed,
    proofType: "StackedDrgWindow2KiBV1_2",
    format: "vanilla-bundle",
    provenAt: 490,
    partition: {
      index,
      proven: BitField.fromNumbers(proven),
      skipped: BitField.fromNumbers(skipped),
      sectorProofs: new Map(proven.map((n) => [n, Uint8Array.of(n, 1, 2, 3)])),
    },
  };
}

describe("proof store records", () => {
  test("vanilla and snark records round-trip", () => {
    const v = decodeSavedProof(2, encodeSavedProof(vanilla(2, [1, 2, 9], [3])));
    assert.equal(v.partition.index, 2);
    assert.deepEqual(v.partition.proven.toNumbers(), [1, 2, 9]);
    assert.deepEqual(v.partition.skipped.toNumbers(), [3]);
    assert.deepEqual(v.partition.sectorProofs?.get(9), Uint8Array.of(9, 1, 2, 3));
    assert.deepEqual(v.seed, seed);
    assert.equal(v.sentCid, undefined);

    const snark = new Uint8Array(192).fill(5);
    const s: SavedProof = {
      seed,
      proofType: "StackedDrgWindow32GiBV1_2",
      format: "snark",
      provenAt: 1,
      sentCid: "bafy2bzaceexample",
      partition: {
        index: 0,
        proven: BitField.fromNumbers([4]),
        skipped: BitField.empty(),
        snarkProof: snark,
      },
    };
    const back = decodeSavedProof(0, encodeSavedProof(s));
    assert.deepEqual(back.partition.snarkProof, snark);
    assert.equal(back.sentCid, "bafy2bzaceexample");
  });

  const enc = (doc: unknown) => new TextEncoder().encode(JSON.stringify(doc));
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
  // A version 1 record (one JSON document), as earlier releases wrote it: still read.
  const good = {
    v: 1,
    seed: Buffer.from(seed).toString("hex"),
    proofType: "StackedDrgWindow2KiBV1_2",
    format: "vanilla-bundle",
    skipped: b64(BitField.empty().encode()),
    proven: b64(BitField.fromNumbers([1, 2]).encode()),
    sectors: [
      [1, b64(Uint8Array.of(1, 1, 2, 3))],
      [2, b64(Uint8Array.of(2, 1, 2, 3))],
    ],
    provenAt: 490,
    sentCid: "bafy2bzaceold",
  };

  test("a version 1 record (JSON) is still read", () => {
    const v = decodeSavedProof(0, enc(good));
    assert.deepEqual(v.partition.proven.toNumbers(), [1, 2]);
    assert.deepEqual(v.partition.sectorProofs?.get(2), Uint8Array.of(2, 1, 2, 3));
    assert.equal(v.sentCid, "bafy2bzaceold");
  });

  test("a version 2 record is the header then the proofs, without base64", () => {
    const bytes = encodeSavedProof(vanilla(0, [1, 2]));
    assert.equal(Buffer.from(bytes.subarray(0, 5)).toString("latin1"), "VSMP\x02");
    const len = Buffer.from(bytes).readUInt32LE(5);
    const header = JSON.parse(Buffer.from(bytes).toString("utf8", 9, 9 + len));
    assert.deepEqual(
      [header.sectors, header.lengths],
      [
        [1, 2],
        [4, 4],
      ],
    );
    assert.deepEqual([...bytes.subarray(9 + len)], [1, 1, 2, 3, 2, 1, 2, 3]);
  });

  for (const [what, doc, msg] of [
    ["not JSON", "{", /JSON/],
    ["a newer JSON version", { ...good, v: 3 }, /version 3/],
    ["a short seed", { ...good, seed: "00" }, /seed/],
    ["an unknown format", { ...good, format: "zk" }, /format zk/],
    ["a proven set that is not base64", { ...good, proven: "!!" }, /proven is not base64/],
    ["sector proofs that do not match the proven set", { ...good, sectors: [[1, "AQ=="]] }, /do not match/],
    ["no sector proofs", { ...good, sectors: undefined }, /missing/],
  ] as const) {
    test(`a record with ${what} is refused`, () => {
      const bytes = typeof doc === "string" ? new TextEncoder().encode(doc) : enc(doc);
      assert.throws(() => decodeSavedProof(0, bytes), msg);
    });
  }

  /** A version 2 record of partition 0 proving sectors 1 and 2, changed by `edit` (bytes, header). */
  const v2 = (edit: (b: Buffer, header: Record<string, unknown>) => Buffer) => {
    const b = Buffer.from(encodeSavedProof(vanilla(0, [1, 2])));
    const len = b.readUInt32LE(5);
    const header = JSON.parse(b.toString("utf8", 9, 9 + len)) as Record<string, unknown>;
    const changed = edit(b, header);
    if (changed !== b) return changed;
    const h = Buffer.from(JSON.stringify(header));
    const out = Buffer.concat([b.subarray(0, 5), Buffer.alloc(4), h, b.subarray(9 + len)]);
    out.writeUInt32LE(h.length, 5);
    return out;
  };
  for (const [what, edit, msg] of [
    [
      "an unknown binary version",
      (b: Buffer) => Buffer.concat([b.subarray(0, 4), Buffer.of(9), b.subarray(5)]),
      /version 9/,
    ],
    ["a header running past the end", (b: Buffer) => b.subarray(0, 20), /runs past/],
    ["a truncated proof", (b: Buffer) => b.subarray(0, b.length - 1), /proof of sector 2 runs past/],
    ["bytes after the last proof", (b: Buffer) => Buffer.concat([b, Buffer.of(0)]), /1 bytes after/],
    [
      "lengths that do not match the numbers",
      (b: Buffer, h: Record<string, unknown>) => {
        h.lengths = [8];
        return b;
      },
      /differ in count/,
    ],
    [
      "a negative length",
      (b: Buffer, h: Record<string, unknown>) => {
        h.lengths = [-1, 9];
        return b;
      },
      /malformed/,
    ],
    [
      "proofs of other sectors",
      (b: Buffer, h: Record<string, unknown>) => {
        h.sectors = [1, 3];
        return b;
      },
      /do not match/,
    ],
  ] as const) {
    test(`a version 2 record with ${what} is refused`, () => {
      assert.throws(() => decodeSavedProof(0, v2(edit)), msg);
    });
  }

  test("reusable only for the same seed, proof type, format and sector set", () => {
    const rec = vanilla(0, [1, 2], [3]);
    const want = {
      seed,
      proofType: rec.proofType,
      format: rec.format,
      toProve: BitField.fromNumbers([1, 2, 3]),
    };
    assert.equal(reusable(rec, want), true);
    assert.equal(reusable(rec, { ...want, seed: new Uint8Array(32) }), false, "another challenge");
    assert.equal(reusable(rec, { ...want, proofType: "StackedDrgWindow2KiBV1" }), false);
    assert.equal(reusable(rec, { ...want, format: "snark" }), false);
    assert.equal(
      reusable(rec, { ...want, toProve: BitField.fromNumbers([1, 2]) }),
      false,
      "sector 3 was declared faulty",
    );
    assert.equal(
      reusable(rec, { ...want, toProve: BitField.fromNumbers([1, 2, 3, 4]) }),
      false,
      "a new sector",
    );
  });
});

describe("ProofStore on a KV store", () => {
  test("save, load by deadline, mark sent, prune closed deadlines", async () => {
    const kv = new MemoryStore();
    const ps = new ProofStore(kv, nullLogger);
    await ps.save(dl, vanilla(0, [1, 2]));
    await ps.save(dl, vanilla(1, [3, 4]));
    await ps.save({ actor: 1000, open: 440 }, vanilla(0, [5]));
    await ps.save({ actor: 1001, open: 100 }, vanilla(0, [6]));
    const got = await ps.load(dl);
    assert.deepEqual([...got.keys()], [0, 1]);
    assert.deepEqual(got.get(1)?.partition.proven.toNumbers(), [3, 4]);

    await ps.markSent(dl, [1, 7], "bafy2bzacesent");
    const again = await ps.load(dl);
    assert.equal(again.get(1)?.sentCid, "bafy2bzacesent");
    assert.equal(again.get(0)?.sentCid, undefined);
    assert.equal(again.has(7), false, "a partition with no stored proof is not loaded for its CID");
    assert.deepEqual(
      [...(again.get(1)?.partition.sectorProofs?.get(3) ?? [])],
      [3, 1, 2, 3],
      "the proofs are not touched by marking",
    );

    assert.equal(await ps.prune(1000, 500), 1, "only miner 1000's deadline that opened at 440");
    assert.equal((await ps.load({ actor: 1000, open: 440 })).size, 0);
    assert.equal((await ps.load(dl)).size, 2);
    assert.equal(await ps.prune(1000, 501), 2, "the deadline at 500 and its sent CIDs");
    let left = 0;
    for await (const _ of kv.scan(Uint8Array.of(Bucket.PoStSent))) left++;
    assert.equal(left, 0, "no sent record outlives its deadline");
    assert.equal((await ps.load({ actor: 1001, open: 100 })).size, 1, "other miners untouched");
  });

  test("an unreadable record is dropped with a warning, the others load", async () => {
    const kv = new MemoryStore();
    const { logger, lines } = memoryLogger("warn");
    const ps = new ProofStore(kv, logger);
    await ps.save(dl, vanilla(0, [1, 2]));
    await kv.put(u64Key(Bucket.PoStProofs, dl.actor, dl.open, 1), new TextEncoder().encode("garbage"));
    const got = await ps.load(dl);
    assert.deepEqual([...got.keys()], [0]);
    // One warning, naming the record it dropped (its wording is for people, not asserted here).
    const warned = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      warned.map(({ level, miner, open, partition }) => ({ level, miner, open, partition })),
      [{ level: "warn", miner: "f01000", open: dl.open, partition: 1 }],
      lines.join("\n"),
    );
    assert.equal(await kv.get(u64Key(Bucket.PoStProofs, dl.actor, dl.open, 1)), undefined, "deleted");
  });
});
