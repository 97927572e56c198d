/**
 * THE DEVNET WINDOWPOST PROOF FORMAT ("vanilla bundle").
 *
 * Mainnet proofs are Groth16 SNARKs over the vanilla proofs; the devnet has no SNARK verifier, so the
 * PoSter submits the vanilla proofs themselves. A SubmitWindowedPoSt message to the devnet carries
 * exactly ONE PoStProof whose PoStProof type equals the miner's WindowPoStProofType and whose
 * ProofBytes are:
 *
 *   u32 LE N, then N × ( u32 LE length L, L bytes of a bincode FallbackPoStSectorProof )
 *
 * (src/proofs/bincode.ts, the rust-fil-proofs vanilla format). There is one entry per proven sector,
 * in this order: partitions in the order the message lists them, and inside a partition ascending
 * sector number. The proven sectors of a partition are all its sectors except the message's Skipped
 * sectors and except faulty sectors that are not declared recovering (builtin-actors
 * record_proven_sectors proves the same set; it substitutes ignored sectors in the SNARK, the bundle
 * leaves them out).
 *
 * Each entry is checked: its sector id is the expected sector, its comm_r equals the on-chain
 * comm_r, and `verifySector` accepts it with the shape and ApiVersion of the miner's proof type,
 * challenge count 10, sectorIndex = the entry's position in the bundle (only V1_0_0 uses it), and
 * randomness = beacon randomness (WindowedPoStChallengeSeed, the deadline's Challenge epoch, CBOR of
 * the miner address) with byte 31 masked (& 0x3f). A missing, extra, out-of-order or failing entry
 * rejects the whole message.
 *
 * COMPRESSED FORM. The PoSter sends the bundle deflated (raw DEFLATE, RFC 1951) behind the 4 bytes
 * "VSMZ": a full 32 GiB partition's bundle is ~59 MB, and a message of three ~176 MB (235 MB of
 * JSON), which held the PoSter and the devnet for minutes and their memory in gigabytes. The sparse
 * sectors the devnet proves at that size compress about 30 times at level 1, 59 times at level 6.
 * The magic cannot start an uncompressed bundle (as a count it would need gigabytes of entries), so
 * the devnet takes both.
 * The PoSter compresses each partition's entries as soon as it is proven (deflateBundlePart) and
 * joins the parts into one stream when the message is built (joinDeflatedBundle).
 */
import { promisify } from "node:util";
import zlib from "node:zlib";
import { SmError } from "../util/errors.js";

const deflateRaw = promisify(zlib.deflateRaw);

/** The 4 bytes in front of a deflated bundle. */
export const DEFLATED_BUNDLE_MAGIC = Uint8Array.from([0x56, 0x53, 0x4d, 0x5a]); // "VSMZ"

/** Upper bound on one bundle: 3 partitions × 2349 32 GiB sectors of ~25 KB each is ~176 MB. */
export const MAX_BUNDLE_BYTES = 256 << 20;

export function encodeVanillaBundle(entries: readonly Uint8Array[]): Uint8Array {
  let total = 4;
  for (const e of entries) total += 4 + e.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, entries.length, true);
  let off = 4;
  for (const e of entries) {
    dv.setUint32(off, e.length, true);
    out.set(e, off + 4);
    off += 4 + e.length;
  }
  return out;
}

/** Splits a bundle; throws DEVNET_BAD_BUNDLE on a truncated or over-long one (no partial result). */
export function decodeVanillaBundle(bytes: Uint8Array): Uint8Array[] {
  if (!(bytes instanceof Uint8Array)) badBundle("not bytes");
  return decodeBundleChunks([bytes], bytes.length);
}

function badBundle(m: string): never {
  throw new SmError("DEVNET_BAD_BUNDLE", `malformed vanilla bundle: ${m}`);
}

/**
 * Reads a byte string held in pieces (an inflated bundle, as zlib hands it out) without joining
 * them: what lies inside one piece comes back as a view of it, only what spans two is copied.
 */
class Pieces {
  private i = 0;
  private off = 0;
  constructor(private readonly chunks: readonly Uint8Array[]) {}

  take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    let c = this.current();
    if (this.off + n <= c.length) {
      // A plain Uint8Array, as the whole-bundle form gives (a Buffer's methods differ in places).
      const v = new Uint8Array(c.buffer, c.byteOffset + this.off, n);
      this.off += n;
      return v;
    }
    const out = new Uint8Array(n);
    for (let got = 0; got < n; c = this.current()) {
      const k = Math.min(n - got, c.length - this.off);
      out.set(c.subarray(this.off, this.off + k), got);
      got += k;
      this.off += k;
    }
    return out;
  }

  u32(): number {
    const b = this.take(4);
    return (
      ((b[0] as number) | ((b[1] as number) << 8) | ((b[2] as number) << 16) | ((b[3] as number) << 24)) >>> 0
    );
  }

  /** The piece the next byte is in (the caller has checked that there is one). */
  private current(): Uint8Array {
    let c = this.chunks[this.i] as Uint8Array;
    while (this.off >= c.length) {
      this.i++;
      this.off = 0;
      c = this.chunks[this.i] as Uint8Array;
    }
    return c;
  }
}

/** decodeVanillaBundle of the bytes `chunks` hold, `total` of them, one after the other. */
function decodeBundleChunks(chunks: readonly Uint8Array[], total: number): Uint8Array[] {
  if (total > MAX_BUNDLE_BYTES) badBundle(`${total} bytes is more than ${MAX_BUNDLE_BYTES}`);
  if (total < 4) badBundle("shorter than the 4-byte count");
  const r = new Pieces(chunks);
  const n = r.u32();
  // Every entry needs at least its 4-byte length, so a count beyond that is a lie.
  if (n > (total - 4) / 4) badBundle(`count ${n} cannot fit in ${total} bytes`);
  const out: Uint8Array[] = [];
  let off = 4;
  for (let i = 0; i < n; i++) {
    if (off + 4 > total) badBundle(`entry ${i}: truncated length`);
    const len = r.u32();
    if (off + 4 + len > total) badBundle(`entry ${i}: length ${len} runs past the end`);
    out.push(r.take(len));
    off += 4 + len;
  }
  if (off !== total) badBundle(`${total - off} trailing bytes`);
  return out;
}

/**
 * One partition's entries (`u32 LE length, bytes` each, no count) as raw DEFLATE ending in a full
 * flush: byte-aligned, no final block, no reference back into other data. Parts compressed apart,
 * when each partition is proven, join into one stream (joinDeflatedBundle), as pigz joins its
 * blocks; the message then needs no compression when it is built.
 */
export async function deflateBundlePart(entries: readonly Uint8Array[], level = 1): Promise<Uint8Array> {
  let total = 0;
  for (const e of entries) total += 4 + e.length;
  const body = Buffer.allocUnsafe(total);
  let off = 0;
  for (const e of entries) {
    body.writeUInt32LE(e.length, off);
    body.set(e, off + 4);
    off += 4 + e.length;
  }
  // In slices compressed at once on zlib's thread pool: each ends in a full flush too, so they join
  // as the parts do. Two slices halve the time a full partition's part takes (~0.25 s at level 6),
  // which the last partition's message waits for.
  const slices = body.length >= MIN_SLICED_BYTES ? PART_SLICES : 1;
  const step = Math.ceil(body.length / slices);
  const out = await Promise.all(
    Array.from({ length: slices }, (_, i) =>
      deflateRaw(body.subarray(i * step, (i + 1) * step), {
        level,
        finishFlush: zlib.constants.Z_FULL_FLUSH,
      }),
    ),
  );
  return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
}

/** Slices a part is compressed in (see deflateBundlePart), from this size up. */
const PART_SLICES = 2;
const MIN_SLICED_BYTES = 1 << 20;

/**
 * The deflated bundle (DEFLATED_BUNDLE_MAGIC, then one raw DEFLATE stream) of `count` entries whose
 * parts, in bundle order, came from deflateBundlePart: the count's own flushed block, the parts, and
 * an empty final block.
 */
export function joinDeflatedBundle(count: number, parts: readonly Uint8Array[]): Uint8Array {
  const n = Buffer.alloc(4);
  n.writeUInt32LE(count);
  const head = zlib.deflateRawSync(n, { level: 1, finishFlush: zlib.constants.Z_FULL_FLUSH });
  const tail = zlib.deflateRawSync(Buffer.alloc(0), { level: 1 });
  let total = DEFLATED_BUNDLE_MAGIC.length + head.length + tail.length;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const piece of [DEFLATED_BUNDLE_MAGIC, head, ...parts, tail]) {
    out.set(piece, off);
    off += piece.length;
  }
  return out;
}

/** The bundle deflated behind DEFLATED_BUNDLE_MAGIC, off the event loop (zlib's thread pool). */
export async function deflateVanillaBundle(bundle: Uint8Array): Promise<Uint8Array> {
  const z = await deflateRaw(bundle, { level: 1 });
  const out = new Uint8Array(DEFLATED_BUNDLE_MAGIC.length + z.length);
  out.set(DEFLATED_BUNDLE_MAGIC);
  out.set(z, DEFLATED_BUNDLE_MAGIC.length);
  return out;
}

const INFLATE_CHUNK = 1 << 20;

function isDeflated(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && DEFLATED_BUNDLE_MAGIC.every((b, i) => bytes[i] === b);
}

/**
 * The bundle's entries, from either form. Inflation stops at MAX_BUNDLE_BYTES, so a small message
 * cannot make the devnet allocate without bound; a corrupt stream is DEVNET_BAD_BUNDLE.
 */
export async function openVanillaBundle(
  bytes: Uint8Array,
  maxBytes: number = MAX_BUNDLE_BYTES,
): Promise<Uint8Array[]> {
  if (!(bytes instanceof Uint8Array) || !isDeflated(bytes)) return decodeVanillaBundle(bytes);
  // Inflated as a stream, its 1 MiB pieces kept as they are: joining a message of three full
  // partitions (176 MB) into one buffer cost the devnet's event loop ~0.2 s. At zlib's default
  // 16 KiB pieces, the ~11,000 round trips between its pool and the event loop took ~1.1 s.
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const z = zlib.createInflateRaw({ chunkSize: INFLATE_CHUNK });
      z.on("data", (c: Buffer) => {
        total += c.length;
        if (total > maxBytes) z.destroy(new RangeError("too large"));
        else chunks.push(c);
      });
      z.on("end", resolve);
      z.on("error", reject);
      z.end(bytes.subarray(DEFLATED_BUNDLE_MAGIC.length));
    });
  } catch (e) {
    const why =
      e instanceof RangeError
        ? `inflates to more than ${maxBytes} bytes`
        : `its deflate stream is corrupt (${(e as Error).message})`;
    throw new SmError("DEVNET_BAD_BUNDLE", `malformed vanilla bundle: ${why}`);
  }
  return decodeBundleChunks(chunks, total);
}
