/**
 * bincode 1 encoding of `FallbackPoStSectorProof`, the vanilla-proof hand-off format of
 * rust-filecoin-proofs-api (`src/post.rs`: `generate_single_vanilla_proof` serializes with
 * `bincode::serialize`; `generate_window_post_with_vanilla` / `generate_winning_post_with_vanilla`
 * deserialize with `bincode::deserialize`; bincode = "1.1.2" in its Cargo.toml, resolved to 1.3.3
 * by rust-fil-proofs' Cargo.lock).
 *
 * bincode 1 default layout (`bincode::serialize`, fixint little-endian): u32/u64 as 4/8 LE bytes,
 * usize as u64, `Vec<T>` as a u64 length then the elements, fixed arrays `[u8; 32]` raw (no
 * length), structs as their fields in declaration order with no framing, newtype structs as their
 * content, enums as a u32 variant index then the variant's fields; `#[serde(skip)]` fields and
 * PhantomData are absent.
 *
 * Types and field order, from the Rust sources (rust-fil-proofs 87348a7; `H::Domain` is
 * PoseidonDomain for every PoSt tree, `DefaultTreeHasher = PoseidonHasher` in
 * filecoin-proofs/src/constants.rs):
 *   FallbackPoStSectorProof {            // filecoin-proofs/src/types/mod.rs
 *     sector_id: SectorId(u64),          //   u64 LE (storage-proofs-core/src/sector.rs, newtype)
 *     comm_r: PoseidonDomain,            //   32 raw bytes (filecoin-hashers/src/poseidon.rs: newtype
 *                                        //   over blstrs Scalar's Repr, `[u8; 32]` in blstrs 0.7.1)
 *     vanilla_proof: Proof {             // VanillaProof<Tree> = fallback::Proof (types/mod.rs),
 *       sectors: Vec<SectorProof>,       //   storage-proofs-post/src/fallback/vanilla.rs; u64 count
 *     },
 *   }
 *   SectorProof {                        // fallback/vanilla.rs
 *     inclusion_proofs: Vec<MerkleProof>,//   u64 count
 *     comm_c: Domain,                    //   32 bytes
 *     comm_r_last: Domain,               //   32 bytes
 *   }
 *   MerkleProof { data: ProofData }      // storage-proofs-core/src/merkle/proof.rs (1-field struct)
 *   ProofData = enum {                   //   u32 variant index:
 *     0 Single(SingleProof { root, leaf, path: InclusionPath }),
 *     1 Sub(SubProof { base_proof, sub_proof: InclusionPath, root, leaf }),
 *     2 Top(TopProof { base_proof, sub_proof, top_proof: InclusionPath, root, leaf }),
 *   }
 *   InclusionPath { path: Vec<PathElement> }           // u64 count
 *   PathElement { hashes: Vec<Domain>, index: usize }  // u64 count, 32 bytes each, then u64
 *                                                      // (`_arity: PhantomData` is #[serde(skip)])
 * No type on this path has a hand-written Serialize impl or a serde attribute other than `bound`
 * and that `skip` (rust-fil-proofs has none outside its tooling).
 * A 32 GiB inclusion proof is 4 + (8 + 9·240) + (8 + 240) + 64 = 2,484 bytes.
 *
 * VERIFIED (`npm run check:bincode-rust`, scripts/bincode-rust-check.ts; not part of `npm test`):
 * the declarations above were re-checked against rust-fil-proofs commit
 * 87348a749d80447d00c595af834a8ed73c09e4d9 (these files are unchanged since tag
 * filecoin-proofs-v19.0.0, the version rust-filecoin-proofs-api 19.0.0 depends on), and
 * tools/bincode-check mirrors them in Rust (same field names, order, types, the ProofData enum,
 * the skipped PhantomData, the SectorId and PoseidonDomain newtypes) and runs the real bincode
 * 1.3.3 with serde derive (Debian's packaged crates). Blobs this module encodes from real 2 KiB,
 * 8 MiB, 32 GiB (Sub) and 64 GiB (Top) proofs deserialize there, re-serialize to the same bytes
 * and hold the same value in every named field; blobs Rust serializes (all three variants, path
 * lengths 0 to 9, sector id u64::MAX, an index above 2^32, 0 to 3 sectors, mixed variants) decode
 * here to the same fields and re-encode byte-exactly; both sides reject the same truncated
 * prefixes and ProofData variant 3; bincode accepts a trailing byte, this module only with
 * `allowTrailing`.
 *
 * NOT VERIFIED: a blob from rust-fil-proofs' own `generate_single_vanilla_proof` (rust-fil-proofs
 * cannot be built here), so the match rests on the mirror being faithful to the sources; and
 * nothing here says whether Rust's verifier or SNARK prover accepts the proofs inside (that is
 * vanilla.ts's business, not the layout's).
 *
 * Decoding never trusts a length: every read is bounds-checked and a count is rejected when the
 * remaining bytes cannot hold it, so garbage yields PROOF_DECODE, never a RangeError or a huge
 * allocation. Unlike `bincode::deserialize`, trailing bytes are rejected unless allowed.
 */
import type { MerkleProof, PathElement, SectorProof } from "./merkleProof.js";
import { badInput } from "./nodes.js";
import { PROOF_ERROR_CODES, proofError } from "./proofErrors.js";

/** `FallbackPoStSectorProof` as plain data. */
export interface FallbackPoStSectorProof {
  /** Sector number (u64). */
  sectorId: bigint;
  commR: Uint8Array;
  /** `Proof { sectors }`: one SectorProof from `generate_single_vanilla_proof`. */
  vanillaProof: { sectors: SectorProof[] };
}

const TAG = { single: 0, sub: 1, top: 2 } as const;
const U64_MAX = (1n << 64n) - 1n;

class Writer {
  private buf = new Uint8Array(4096);
  private dv = new DataView(this.buf.buffer);
  len = 0;
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  u32(v: number): void {
    this.ensure(4);
    this.dv.setUint32(this.len, v, true);
    this.len += 4;
  }
  u64(v: bigint | number): void {
    const b = BigInt(v);
    if (b < 0n || b > U64_MAX) throw badInput(`bincode: ${v} is not a u64`);
    this.ensure(8);
    this.dv.setBigUint64(this.len, b, true);
    this.len += 8;
  }
  domain(d: Uint8Array, what: string): void {
    if (!(d instanceof Uint8Array) || d.length !== 32) throw badInput(`bincode: ${what} must be 32 bytes`);
    this.ensure(32);
    this.buf.set(d, this.len);
    this.len += 32;
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function writePath(w: Writer, path: readonly PathElement[]): void {
  w.u64(path.length);
  for (const el of path) {
    w.u64(el.hashes.length);
    for (const h of el.hashes) w.domain(h, "path hash");
    if (!Number.isSafeInteger(el.index) || el.index < 0) throw badInput("bincode: path index must be ≥ 0");
    w.u64(el.index);
  }
}

function writeMerkleProof(w: Writer, p: MerkleProof): void {
  w.u32(TAG[p.kind]);
  switch (p.kind) {
    case "single":
      w.domain(p.root, "root");
      w.domain(p.leaf, "leaf");
      writePath(w, p.path);
      return;
    case "sub":
      writePath(w, p.basePath);
      writePath(w, p.subPath);
      w.domain(p.root, "root");
      w.domain(p.leaf, "leaf");
      return;
    case "top":
      writePath(w, p.basePath);
      writePath(w, p.subPath);
      writePath(w, p.topPath);
      w.domain(p.root, "root");
      w.domain(p.leaf, "leaf");
      return;
  }
}

/** Serialize a `FallbackPoStSectorProof` (see the layout above). */
export function encodeFallbackPoStSectorProof(v: FallbackPoStSectorProof): Uint8Array {
  const w = new Writer();
  w.u64(v.sectorId);
  w.domain(v.commR, "comm_r");
  w.u64(v.vanillaProof.sectors.length);
  for (const s of v.vanillaProof.sectors) {
    w.u64(s.inclusionProofs.length);
    for (const p of s.inclusionProofs) writeMerkleProof(w, p);
    w.domain(s.commC, "comm_c");
    w.domain(s.commRLast, "comm_r_last");
  }
  return w.bytes();
}

class Reader {
  pos = 0;
  private readonly dv: DataView;
  constructor(private readonly b: Uint8Array) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  fail(reason: string): never {
    throw proofError(PROOF_ERROR_CODES.decode, undefined, `bad FallbackPoStSectorProof bytes: ${reason}`, {
      offset: this.pos,
    });
  }
  need(n: number, what: string): void {
    if (this.b.length - this.pos < n) {
      this.fail(
        `truncated: ${what} needs ${n} bytes at offset ${this.pos}, ${this.b.length - this.pos} left`,
      );
    }
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(what: string): bigint {
    this.need(8, what);
    const v = this.dv.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** A Vec length, rejected when `minElemBytes` per element cannot fit in what is left. */
  count(what: string, minElemBytes: number): number {
    const at = this.pos;
    const n = this.u64(`${what} length`);
    if (n * BigInt(minElemBytes) > BigInt(this.b.length - this.pos)) {
      this.pos = at;
      this.fail(`${what} length ${n} at offset ${at} exceeds the remaining ${this.b.length - at - 8} bytes`);
    }
    return Number(n);
  }
  domain(what: string): Uint8Array {
    this.need(32, what);
    const v = this.b.slice(this.pos, this.pos + 32);
    this.pos += 32;
    return v;
  }
  get left(): number {
    return this.b.length - this.pos;
  }
}

function readPath(r: Reader, what: string): PathElement[] {
  const n = r.count(what, 16);
  const out: PathElement[] = [];
  for (let i = 0; i < n; i++) {
    const m = r.count(`${what}[${i}].hashes`, 32);
    const hashes: Uint8Array[] = [];
    for (let k = 0; k < m; k++) hashes.push(r.domain(`${what}[${i}].hashes[${k}]`));
    const at = r.pos;
    const index = r.u64(`${what}[${i}].index`);
    if (index > BigInt(Number.MAX_SAFE_INTEGER)) {
      r.pos = at;
      r.fail(`${what}[${i}].index ${index} is out of range`);
    }
    out.push({ hashes, index: Number(index) });
  }
  return out;
}

function readMerkleProof(r: Reader, what: string): MerkleProof {
  const at = r.pos;
  const tag = r.u32(`${what} variant`);
  switch (tag) {
    case TAG.single: {
      const root = r.domain(`${what}.root`);
      const leaf = r.domain(`${what}.leaf`);
      return { kind: "single", root, leaf, path: readPath(r, `${what}.path`) };
    }
    case TAG.sub: {
      const basePath = readPath(r, `${what}.base_proof`);
      const subPath = readPath(r, `${what}.sub_proof`);
      return {
        kind: "sub",
        basePath,
        subPath,
        root: r.domain(`${what}.root`),
        leaf: r.domain(`${what}.leaf`),
      };
    }
    case TAG.top: {
      const basePath = readPath(r, `${what}.base_proof`);
      const subPath = readPath(r, `${what}.sub_proof`);
      const topPath = readPath(r, `${what}.top_proof`);
      const root = r.domain(`${what}.root`);
      return { kind: "top", basePath, subPath, topPath, root, leaf: r.domain(`${what}.leaf`) };
    }
    default:
      r.pos = at;
      return r.fail(`${what}: unknown ProofData variant ${tag} (expected 0 Single, 1 Sub, 2 Top)`);
  }
}

/** The fixed start of a FallbackPoStSectorProof, and a reader left at its first SectorProof. */
function readHeader(bytes: Uint8Array): { r: Reader; sectorId: bigint; commR: Uint8Array; sectors: number } {
  if (!(bytes instanceof Uint8Array)) {
    throw proofError(
      PROOF_ERROR_CODES.decode,
      undefined,
      "bad FallbackPoStSectorProof bytes: not a Uint8Array",
    );
  }
  const r = new Reader(bytes);
  const sectorId = r.u64("sector_id");
  const commR = r.domain("comm_r");
  // Smallest SectorProof: empty Vec (8) + comm_c + comm_r_last; smallest MerkleProof: 4 + 64 + 8.
  const sectors = r.count("sectors", 72);
  return { r, sectorId, commR, sectors };
}

/**
 * The sector id, comm_r and number of sector proofs of a FallbackPoStSectorProof, without decoding
 * the proofs (48 bytes read; the count is checked against the bytes left, as the full decoder does).
 * Throws PROOF_DECODE like decodeFallbackPoStSectorProof.
 */
export function readFallbackPoStSectorHeader(bytes: Uint8Array): {
  sectorId: bigint;
  commR: Uint8Array;
  sectors: number;
} {
  const { sectorId, commR, sectors } = readHeader(bytes);
  return { sectorId, commR, sectors };
}

/**
 * Parse bincode bytes of a `FallbackPoStSectorProof`. Throws PROOF_DECODE (with the offset) on
 * truncated or malformed input, and on trailing bytes unless `allowTrailing` (Rust allows them).
 * Domains are returned as raw bytes; whether they are canonical field elements is the
 * verifier's business, as in Rust.
 */
export function decodeFallbackPoStSectorProof(
  bytes: Uint8Array,
  opts: { allowTrailing?: boolean } = {},
): FallbackPoStSectorProof {
  const { r, sectorId, commR, sectors: ns } = readHeader(bytes);
  const sectors: SectorProof[] = [];
  for (let s = 0; s < ns; s++) {
    const np = r.count(`sectors[${s}].inclusion_proofs`, 76);
    const inclusionProofs: MerkleProof[] = [];
    for (let i = 0; i < np; i++)
      inclusionProofs.push(readMerkleProof(r, `sectors[${s}].inclusion_proofs[${i}]`));
    const commC = r.domain(`sectors[${s}].comm_c`);
    const commRLast = r.domain(`sectors[${s}].comm_r_last`);
    sectors.push({ inclusionProofs, commC, commRLast });
  }
  if (r.left !== 0 && opts.allowTrailing !== true) r.fail(`${r.left} trailing bytes after the proof`);
  return { sectorId, commR, vanillaProof: { sectors } };
}
