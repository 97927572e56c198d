/**
 * Finished partition proofs, kept in the node's metadata store until their deadline closes, so that a
 * PoSter restarted in the middle of a deadline submits what it had already proven instead of proving it
 * again (a 32 GiB partition costs minutes of GPU time; a restart near Close must not cost the deadline).
 *
 * Key: bucket PoStProofs, then (miner actor id, deadline Open epoch, partition index) as big-endian u64,
 * so one deadline's records are one prefix scan and old deadlines are pruned by a scan of the miner.
 * Value (version 2): the 4 bytes "VSMP", a version byte 2, a u32 LE header length, the header as JSON,
 * then the sector proofs back to back:
 *
 *   header { seed: hex, proofType, format, skipped: RLE+ base64, proven: RLE+ base64, provenAt: epoch,
 *            snark?: base64, sectors?: [number, …], lengths?: [bytes, …], sentCid?: cid }
 *
 * A devnet partition of 2,349 32 GiB sectors carries ~59 MB of vanilla proofs: version 1 (one JSON
 * document, every proof in base64) cost ~0.3 s of the event loop to write and as much to read, and
 * marking it sent rewrote it whole. Version 1 records are still read.
 *
 * The CID of the message that carried a partition goes in its own small record (bucket PoStSent, same
 * key parts), so marking a pushed message never rewrites the proofs.
 *
 * A record is reused only for the same challenge: same seed (a reorg that changed the randomness makes
 * it useless), same proof type and format, and the same sectors to prove (proven ∪ skipped equal to
 * what the partition expects now). An unreadable record is reported and ignored, never trusted.
 */
import { BitField } from "../chain/bitfield.js";
import type { Logger } from "../log/logger.js";
import type { KVStore } from "../store/interface.js";
import { Bucket, bucketPrefix, readU64, u64Key } from "../store/keys.js";
import { decodeBase64 } from "../util/base64.js";
import { errorMessage } from "../util/errors.js";
import type { ProofFormat, ProvenPartition } from "./batch.js";

/** The JSON-only record of earlier releases (read, never written). */
const VERSION_JSON = 1;
const VERSION = 2;
const MAGIC = Buffer.from("VSMP", "latin1");
/** Magic, version byte, header length. */
const PREFIX_BYTES = MAGIC.length + 1 + 4;

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

interface Header {
  v: number;
  seed: string;
  proofType: string;
  format: ProofFormat;
  skipped: string;
  proven: string;
  snark?: string;
  /** Version 2: the sector numbers of the proofs after the header, in order, and their lengths. */
  sectors?: number[] | [number, string][];
  lengths?: number[];
  provenAt: number;
  sentCid?: string;
}

const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
const fromB64 = (s: unknown, what: string): Uint8Array => {
  const b = typeof s === "string" ? decodeBase64(s) : undefined;
  if (!b) throw new Error(`${what} is not base64`);
  return b;
};

export function encodeSavedProof(p: SavedProof): Uint8Array {
  const header: Header = {
    v: VERSION,
    seed: Buffer.from(p.seed).toString("hex"),
    proofType: p.proofType,
    format: p.format,
    skipped: b64(p.partition.skipped.encode()),
    proven: b64(p.partition.proven.encode()),
    provenAt: p.provenAt,
  };
  if (p.partition.snarkProof) header.snark = b64(p.partition.snarkProof);
  const proofs = p.partition.sectorProofs ? [...p.partition.sectorProofs] : [];
  if (p.partition.sectorProofs) {
    header.sectors = proofs.map(([n]) => n);
    header.lengths = proofs.map(([, b]) => b.length);
  }
  if (p.sentCid) header.sentCid = p.sentCid;
  const head = Buffer.from(JSON.stringify(header), "utf8");
  let total = PREFIX_BYTES + head.length;
  for (const [, b] of proofs) total += b.length;
  const out = Buffer.allocUnsafe(total);
  MAGIC.copy(out, 0);
  out[MAGIC.length] = VERSION;
  out.writeUInt32LE(head.length, MAGIC.length + 1);
  head.copy(out, PREFIX_BYTES);
  let off = PREFIX_BYTES + head.length;
  for (const [, b] of proofs) {
    out.set(b, off);
    off += b.length;
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The header and, for version 2, the bytes after it; throws with what is wrong. */
function splitRecord(bytes: Uint8Array): { header: Partial<Header>; body?: Uint8Array } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= PREFIX_BYTES && buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    const v = buf[MAGIC.length];
    if (v !== VERSION) throw new Error(`unknown record version ${String(v)}`);
    const len = buf.readUInt32LE(MAGIC.length + 1);
    if (PREFIX_BYTES + len > buf.length) throw new Error(`header of ${len} bytes runs past the record`);
    const header = JSON.parse(buf.toString("utf8", PREFIX_BYTES, PREFIX_BYTES + len)) as Partial<Header>;
    if (typeof header !== "object" || header === null) throw new Error("header is not a JSON object");
    if (header.v !== VERSION) throw new Error(`header says version ${String(header.v)}, not ${VERSION}`);
    // One copy of the proofs, so that they do not hold on to (or change with) the store's buffer.
    return { header, body: new Uint8Array(buf.subarray(PREFIX_BYTES + len)) };
  }
  const d = JSON.parse(buf.toString("utf8")) as Partial<Header>;
  if (typeof d !== "object" || d === null) throw new Error("not a JSON object");
  if (d.v !== VERSION_JSON) throw new Error(`unknown record version ${String(d.v)}`);
  return { header: d };
}

/** Version 2's sector proofs: numbers and lengths in the header, the bytes after it. */
function sectorProofsV2(d: Partial<Header>, body: Uint8Array): Map<number, Uint8Array> {
  const { sectors, lengths } = d;
  if (!Array.isArray(sectors) || !Array.isArray(lengths)) throw new Error("sector proofs are missing");
  if (sectors.length !== lengths.length) throw new Error("sector proof numbers and lengths differ in count");
  const out = new Map<number, Uint8Array>();
  let off = 0;
  sectors.forEach((n, i) => {
    const len = lengths[i];
    if (!Number.isSafeInteger(n) || !Number.isSafeInteger(len) || (len as number) < 0)
      throw new Error("a sector proof entry is malformed");
    if (off + (len as number) > body.length)
      throw new Error(`proof of sector ${String(n)} runs past the record`);
    out.set(n as number, body.subarray(off, off + (len as number)));
    off += len as number;
  });
  if (off !== body.length) throw new Error(`${body.length - off} bytes after the last sector proof`);
  return out;
}

/** Version 1's sector proofs: [number, base64] pairs in the JSON. */
function sectorProofsV1(d: Partial<Header>): Map<number, Uint8Array> {
  if (!Array.isArray(d.sectors)) throw new Error("sector proofs are missing");
  const out = new Map<number, Uint8Array>();
  for (const e of d.sectors) {
    if (!Array.isArray(e) || !Number.isSafeInteger(e[0]))
      throw new Error("a sector proof entry is malformed");
    out.set(e[0] as number, fromB64(e[1], `proof of sector ${String(e[0])}`));
  }
  return out;
}

/** Decode a stored record of partition `index` (version 2, or version 1's JSON); throws with what is wrong. */
export function decodeSavedProof(index: number, bytes: Uint8Array): SavedProof {
  const { header: d, body } = splitRecord(bytes);
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
    const sectorProofs = body ? sectorProofsV2(d, body) : sectorProofsV1(d);
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

  /**
   * Record that a message carrying these partitions was pushed: a small record beside each partition's
   * proof (the proofs themselves are not rewritten). A CID recorded for a partition without a stored
   * proof is never read; it goes with its deadline's prune.
   */
  async markSent(dl: DeadlineKey, partitions: readonly number[], cid: string): Promise<void> {
    const value = new TextEncoder().encode(cid);
    await this.kv.transaction((tx) => {
      for (const i of partitions) tx.put(u64Key(Bucket.PoStSent, dl.actor, dl.open, i), value);
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
    for await (const e of this.kv.scan(bucketPrefix(Bucket.PoStSent, dl.actor, dl.open))) {
      const rec = out.get(readU64(e.key, 2));
      if (rec) rec.sentCid = new TextDecoder().decode(e.value);
    }
    if (bad.length > 0)
      await this.kv.transaction((tx) => {
        for (const k of bad) tx.delete(k);
      });
    return out;
  }

  /** Delete the records of `actor`'s deadlines that opened before `openBefore`; returns how many proofs. */
  async prune(actor: number, openBefore: number): Promise<number> {
    const old = async (bucket: Bucket) => {
      const keys: Uint8Array[] = [];
      for await (const e of this.kv.scan(bucketPrefix(bucket, actor))) {
        if (readU64(e.key, 1) >= openBefore) break;
        keys.push(e.key);
      }
      return keys;
    };
    const proofs = await old(Bucket.PoStProofs);
    const sent = await old(Bucket.PoStSent);
    if (proofs.length + sent.length > 0)
      await this.kv.transaction((tx) => {
        for (const k of [...proofs, ...sent]) tx.delete(k);
      });
    return proofs.length;
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
