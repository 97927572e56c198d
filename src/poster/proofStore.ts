/**
 * Finished partition proofs, kept in the node's metadata store until their deadline closes, so that a
 * PoSter restarted in the middle of a deadline submits what it had already proven instead of proving it
 * again (a 32 GiB partition costs minutes of GPU time; a restart near Close must not cost the deadline).
 *
 * Key: bucket PoStProofs, then (miner actor id, deadline Open epoch, partition index) as big-endian u64,
 * so one deadline's records are one prefix scan and old deadlines are pruned by a scan of the miner.
 * Value: one JSON document per partition (version 1):
 *
 *   { v: 1, seed: hex, proofType, format, skipped: RLE+ base64, proven: RLE+ base64,
 *     snark?: base64, sectors?: [[number, base64], …], provenAt: epoch, sentCid?: cid }
 *
 * A record is reused only for the same challenge: same seed (a reorg that changed the randomness makes
 * it useless), same proof type and format, and the same sectors to prove (proven ∪ skipped equal to
 * what the partition expects now). An unreadable record is reported and ignored, never trusted.
 */
import { BitField } from "../chain/bitfield.js";
import type { Logger } from "../log/logger.js";
import type { KVStore } from "../store/interface.js";
import { Bucket, bucketPrefix, readU64, u64Key } from "../store/keys.js";
import { errorMessage } from "../util/errors.js";
import type { ProofFormat, ProvenPartition } from "./batch.js";

const VERSION = 1;

export interface SavedProof {
  /** The masked 32-byte challenge seed the proof answers. */
  seed: Uint8Array;
  /** API proof type name sent to the prover (e.g. StackedDrgWindow32GiBV1_2). */
  proofType: string;
  format: ProofFormat;
  partition: ProvenPartition;
  /** Head epoch when it was proven. */
  provenAt: number;
  /** CID of the message that carried it, once pushed. */
  sentCid?: string;
}

export interface DeadlineKey {
  actor: number;
  /** The deadline's Open epoch: unique per deadline occurrence. */
  open: number;
}

interface Doc {
  v: number;
  seed: string;
  proofType: string;
  format: ProofFormat;
  skipped: string;
  proven: string;
  snark?: string;
  sectors?: [number, string][];
  provenAt: number;
  sentCid?: string;
}

const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
const fromB64 = (s: unknown, what: string): Uint8Array => {
  if (typeof s !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new Error(`${what} is not base64`);
  return new Uint8Array(Buffer.from(s, "base64"));
};

export function encodeSavedProof(p: SavedProof): Uint8Array {
  const doc: Doc = {
    v: VERSION,
    seed: Buffer.from(p.seed).toString("hex"),
    proofType: p.proofType,
    format: p.format,
    skipped: b64(p.partition.skipped.encode()),
    proven: b64(p.partition.proven.encode()),
    provenAt: p.provenAt,
  };
  if (p.partition.snarkProof) doc.snark = b64(p.partition.snarkProof);
  if (p.partition.sectorProofs) doc.sectors = [...p.partition.sectorProofs].map(([n, b]) => [n, b64(b)]);
  if (p.sentCid) doc.sentCid = p.sentCid;
  return new TextEncoder().encode(JSON.stringify(doc));
}

/** Decode a stored record of partition `index`; throws with what is wrong. */
export function decodeSavedProof(index: number, bytes: Uint8Array): SavedProof {
  const d = JSON.parse(new TextDecoder().decode(bytes)) as Partial<Doc>;
  if (typeof d !== "object" || d === null) throw new Error("not a JSON object");
  if (d.v !== VERSION) throw new Error(`unknown record version ${String(d.v)}`);
  if (typeof d.seed !== "string" || !/^[0-9a-f]{64}$/.test(d.seed))
    throw new Error("seed is not 32 hex bytes");
  if (typeof d.proofType !== "string" || d.proofType === "") throw new Error("proofType is missing");
  if (d.format !== "snark" && d.format !== "vanilla-bundle")
    throw new Error(`unknown format ${String(d.format)}`);
  if (!Number.isSafeInteger(d.provenAt)) throw new Error("provenAt is not an epoch");
  const skipped = BitField.decode(fromB64(d.skipped, "skipped"));
  const proven = BitField.decode(fromB64(d.proven, "proven"));
  if (proven.isEmpty()) throw new Error("proves no sector");
  let partition: ProvenPartition;
  if (d.format === "snark") {
    partition = { index, skipped, proven, snarkProof: fromB64(d.snark, "snark") };
  } else {
    if (!Array.isArray(d.sectors)) throw new Error("sector proofs are missing");
    const sectorProofs = new Map<number, Uint8Array>();
    for (const e of d.sectors) {
      if (!Array.isArray(e) || !Number.isSafeInteger(e[0]))
        throw new Error("a sector proof entry is malformed");
      sectorProofs.set(e[0] as number, fromB64(e[1], `proof of sector ${String(e[0])}`));
    }
    const want = proven.toNumbers();
    if (want.length !== sectorProofs.size || want.some((n) => !sectorProofs.has(n)))
      throw new Error("sector proofs do not match the proven sectors");
    partition = { index, skipped, proven, sectorProofs };
  }
  const out: SavedProof = {
    seed: new Uint8Array(Buffer.from(d.seed, "hex")),
    proofType: d.proofType,
    format: d.format,
    partition,
    provenAt: d.provenAt as number,
  };
  if (typeof d.sentCid === "string") out.sentCid = d.sentCid;
  return out;
}

export class ProofStore {
  constructor(
    private readonly kv: KVStore,
    private readonly log: Logger,
  ) {}

  async save(dl: DeadlineKey, p: SavedProof): Promise<void> {
    await this.kv.put(u64Key(Bucket.PoStProofs, dl.actor, dl.open, p.partition.index), encodeSavedProof(p));
  }

  /** Record that a message carrying these partitions was pushed (kept with each partition's proof). */
  async markSent(dl: DeadlineKey, partitions: readonly number[], cid: string): Promise<void> {
    const keys = partitions.map((i) => u64Key(Bucket.PoStProofs, dl.actor, dl.open, i));
    await this.kv.transaction((tx) => {
      keys.forEach((k, n) => {
        const raw = tx.get(k);
        if (raw === undefined) return;
        try {
          const rec = decodeSavedProof(partitions[n]!, raw);
          tx.put(k, encodeSavedProof({ ...rec, sentCid: cid }));
        } catch {
          // an unreadable record is reported (and dropped) by load()
        }
      });
    });
  }

  /** Every readable record of one deadline by partition index; unreadable ones are logged and deleted. */
  async load(dl: DeadlineKey): Promise<Map<number, SavedProof>> {
    const out = new Map<number, SavedProof>();
    const bad: Uint8Array[] = [];
    for await (const e of this.kv.scan(bucketPrefix(Bucket.PoStProofs, dl.actor, dl.open))) {
      const index = readU64(e.key, 2);
      try {
        out.set(index, decodeSavedProof(index, e.value));
      } catch (err) {
        this.log.warn("stored partition proof is unreadable; it will be proven again", {
          miner: `f0${dl.actor}`,
          open: dl.open,
          partition: index,
          err: errorMessage(err),
        });
        bad.push(e.key);
      }
    }
    if (bad.length > 0)
      await this.kv.transaction((tx) => {
        for (const k of bad) tx.delete(k);
      });
    return out;
  }

  /** Delete the records of `actor`'s deadlines that opened before `openBefore`; returns how many. */
  async prune(actor: number, openBefore: number): Promise<number> {
    const old: Uint8Array[] = [];
    for await (const e of this.kv.scan(bucketPrefix(Bucket.PoStProofs, actor))) {
      if (readU64(e.key, 1) >= openBefore) break;
      old.push(e.key);
    }
    if (old.length > 0)
      await this.kv.transaction((tx) => {
        for (const k of old) tx.delete(k);
      });
    return old.length;
  }
}

/** Whether a stored proof answers this challenge for this partition as it stands now. */
export function reusable(
  saved: SavedProof,
  want: { seed: Uint8Array; proofType: string; format: ProofFormat; toProve: BitField },
): boolean {
  return (
    Buffer.compare(Buffer.from(saved.seed), Buffer.from(want.seed)) === 0 &&
    saved.proofType === want.proofType &&
    saved.format === want.format &&
    saved.partition.proven.union(saved.partition.skipped).equals(want.toProve)
  );
}
