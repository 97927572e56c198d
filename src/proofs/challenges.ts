/**
 * PoSt challenge derivation, byte-exact with rust-fil-proofs (commit 87348a7):
 *  - leaf challenges: `storage-proofs-post/src/fallback/vanilla.rs`
 *    (`generate_leaf_challenge`, `generate_leaf_challenge_inner`);
 *  - challenge index by API version: `storage-proofs-post/src/fallback/utils.rs`
 *    (`get_challenge_index`);
 *  - per-sector driver: `filecoin-proofs/src/api/post_util.rs`
 *    (`generate_fallback_sector_challenges`);
 *  - WinningPoSt sector selection: `vanilla.rs` (`generate_sector_challenge`), reached from
 *    `filecoin-proofs/src/api/winning_post.rs` (`generate_winning_post_sector_challenge`).
 *
 * All u64 quantities are bigint. Randomness and prover ids must be canonical Fr encodings,
 * as `as_safe_commitment` (`filecoin-proofs/src/api/util.rs`) requires; chain randomness
 * has to go through `maskSeed` first, exactly as lotus and the FVM do.
 */
import { createHash } from "node:crypto";
import { encodeUvarintBigInt } from "../util/varint.js";
import { bytesToBigIntLE, FR_BYTES, FR_MODULUS } from "./poseidon/field.js";

/** Bytes per tree leaf / node (`NODE_SIZE` in storage-proofs-core). */
export const NODE_SIZE = 32;
/** `WINDOW_POST_CHALLENGE_COUNT` (filecoin-proofs/src/constants.rs). */
export const WINDOW_POST_CHALLENGE_COUNT = 10;
/** `WINNING_POST_CHALLENGE_COUNT` (filecoin-proofs/src/constants.rs). */
export const WINNING_POST_CHALLENGE_COUNT = 66;
/** `WINNING_POST_SECTOR_COUNT` (filecoin-proofs/src/constants.rs). */
export const WINNING_POST_SECTOR_COUNT = 1;

/**
 * rust-fil-proofs `ApiVersion`. The `...V1` PoSt proof types map to V1_0_0 (V1_1_0 behaves
 * the same for PoSt), the `...V1_2` types to V1_2_0 (rust-filecoin-proofs-api `src/registry.rs`).
 */
export type PoStApiVersion = "V1_0_0" | "V1_1_0" | "V1_2_0";

export type PoStType = "window" | "winning";

const U64_MAX = (1n << 64n) - 1n;

function checkU64(x: bigint, what: string): void {
  if (typeof x !== "bigint" || x < 0n || x > U64_MAX) throw new RangeError(`${what} must be a u64 bigint`);
}

function check32(bytes: Uint8Array, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== FR_BYTES) {
    throw new RangeError(`${what}: expected ${FR_BYTES} bytes, got ${bytes?.length ?? typeof bytes}`);
  }
}

/**
 * Copy of a 32-byte seed with the top two bits cleared (`seed[31] &= 0x3f`), which is how
 * lotus and the FVM (`verify_post`) turn chain randomness into a value below the Fr modulus.
 * The input is not modified.
 */
export function maskSeed(seed: Uint8Array): Uint8Array {
  check32(seed, "maskSeed");
  const out = Uint8Array.from(seed);
  out[31] = out[31]! & 0x3f;
  return out;
}

/** True if 32 bytes, read little-endian, are below the BLS12-381 scalar modulus. */
export function isCanonicalFrBytes(bytes: Uint8Array): boolean {
  return bytes instanceof Uint8Array && bytes.length === FR_BYTES && bytesToBigIntLE(bytes) < FR_MODULUS;
}

/**
 * Throw unless `bytes` is a canonical 32-byte Fr encoding, mirroring `as_safe_commitment`
 * ("Invalid commitment (randomness)") so that a TS prover rejects exactly what Rust rejects.
 */
export function assertCanonicalFrBytes(bytes: Uint8Array, what = "randomness"): void {
  check32(bytes, what);
  if (bytesToBigIntLE(bytes) >= FR_MODULUS) {
    throw new RangeError(
      `${what} is not a canonical BLS12-381 Fr element (little-endian value >= modulus); ` +
        "chain randomness must be masked with maskSeed() (seed[31] &= 0x3f) first",
    );
  }
}

/**
 * The challenge index fed into the leaf-challenge hash (`get_challenge_index`):
 * V1_0_0 / V1_1_0: `sectorIndex * challengeCount + n`; V1_2_0: just `n`.
 * `sectorIndex` is the sector's position in the proving set: partition_index *
 * sectors_per_partition + position inside the partition.
 */
export function postChallengeIndex(
  apiVersion: PoStApiVersion,
  sectorIndex: number,
  challengeCount: number,
  n: number,
): bigint {
  for (const [v, what] of [
    [sectorIndex, "sectorIndex"],
    [challengeCount, "challengeCount"],
    [n, "n"],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what} must be a non-negative integer`);
  }
  switch (apiVersion) {
    case "V1_0_0":
    case "V1_1_0":
      return BigInt(sectorIndex) * BigInt(challengeCount) + BigInt(n);
    case "V1_2_0":
      return BigInt(n);
    default:
      throw new RangeError(`unknown PoSt API version ${String(apiVersion)}`);
  }
}

function checkSectorSize(sectorSize: bigint): bigint {
  checkU64(sectorSize, "sectorSize");
  if (sectorSize === 0n || sectorSize % BigInt(NODE_SIZE) !== 0n) {
    throw new RangeError(`sectorSize ${sectorSize} must be a positive multiple of ${NODE_SIZE}`);
  }
  return sectorSize / BigInt(NODE_SIZE);
}

/**
 * One leaf challenge: SHA-256(randomness[32] ‖ sectorNumber u64 LE ‖ challengeIndex u64 LE),
 * first 8 digest bytes as a little-endian u64, modulo the number of 32-byte nodes in the
 * sector. Returns the challenged node index.
 */
export function generateLeafChallenge(
  randomness: Uint8Array,
  sectorNumber: bigint,
  challengeIndex: bigint,
  sectorSize: bigint,
): bigint {
  assertCanonicalFrBytes(randomness);
  checkU64(sectorNumber, "sectorNumber");
  checkU64(challengeIndex, "challengeIndex");
  const leaves = checkSectorSize(sectorSize);
  return leafChallengeUnchecked(randomness, sectorNumber, challengeIndex, leaves);
}

// 48-byte message buffer reused across calls (synchronous use only).
const leafMsg = new Uint8Array(48);
const leafView = new DataView(leafMsg.buffer);

function leafChallengeUnchecked(
  randomness: Uint8Array,
  sectorNumber: bigint,
  challengeIndex: bigint,
  leaves: bigint,
): bigint {
  leafMsg.set(randomness, 0);
  leafView.setBigUint64(32, sectorNumber, true);
  leafView.setBigUint64(40, challengeIndex, true);
  const digest = createHash("sha256").update(leafMsg).digest();
  return digest.readBigUInt64LE(0) % leaves;
}

/** Options for the challenges of one sector. */
export interface SectorChallengeOptions {
  /** Canonical 32-byte randomness (already masked). */
  readonly randomness: Uint8Array;
  readonly sectorNumber: bigint;
  /** Sector size in bytes, e.g. 34359738368n for 32 GiB. */
  readonly sectorSize: bigint;
  readonly apiVersion: PoStApiVersion;
  /** Position of the sector in the proving set (only used under V1_0_0/V1_1_0). */
  readonly sectorIndex: number;
  /** Challenges per sector: 10 for WindowPoSt (default), 66 for WinningPoSt. */
  readonly challengeCount?: number;
}

/** All leaf challenges of one sector, n = 0..challengeCount−1. */
export function generateSectorLeafChallenges(opts: SectorChallengeOptions): bigint[] {
  const count = opts.challengeCount ?? WINDOW_POST_CHALLENGE_COUNT;
  assertCanonicalFrBytes(opts.randomness);
  checkU64(opts.sectorNumber, "sectorNumber");
  const leaves = checkSectorSize(opts.sectorSize);
  const out: bigint[] = [];
  for (let n = 0; n < count; n++) {
    const idx = postChallengeIndex(opts.apiVersion, opts.sectorIndex, count, n);
    out.push(leafChallengeUnchecked(opts.randomness, opts.sectorNumber, idx, leaves));
  }
  return out;
}

/** Options mirroring rust-fil-proofs `PoStConfig` as used by `generate_fallback_sector_challenges`. */
export interface FallbackChallengeOptions {
  readonly type: PoStType;
  readonly randomness: Uint8Array;
  readonly sectorSize: bigint;
  readonly apiVersion: PoStApiVersion;
  /** `PoStConfig::sector_count`: sectors per partition (window) or 1 (winning). */
  readonly sectorCount: number;
  /** `PoStConfig::challenge_count`: 10 (window) or 66 (winning). */
  readonly challengeCount: number;
}

/**
 * Port of `generate_fallback_sector_challenges`: `sectors` are split into chunks of
 * `sectorCount`; for WindowPoSt there are ceil(len / sectorCount) partitions, for
 * WinningPoSt exactly one (so only the first `sectorCount` sectors get challenges, as in
 * Rust). The sector index used under V1_0_0 is partition_index * sectorCount + position.
 * The map keeps insertion order; a repeated sector number keeps its last entry, as the Rust
 * BTreeMap does. The prover id is not an input (it is unused upstream).
 */
export function generateFallbackSectorChallenges(
  opts: FallbackChallengeOptions,
  sectors: readonly bigint[],
): Map<bigint, bigint[]> {
  const { type, sectorCount, challengeCount } = opts;
  if (!Number.isSafeInteger(sectorCount) || sectorCount <= 0) throw new RangeError("sectorCount must be > 0");
  if (!Number.isSafeInteger(challengeCount) || challengeCount <= 0) {
    throw new RangeError("challengeCount must be > 0");
  }
  assertCanonicalFrBytes(opts.randomness);
  const leaves = checkSectorSize(opts.sectorSize);
  const partitions = type === "window" ? Math.max(1, Math.ceil(sectors.length / sectorCount)) : 1;
  const out = new Map<bigint, bigint[]>();
  for (let p = 0; p < partitions; p++) {
    const chunk = sectors.slice(p * sectorCount, (p + 1) * sectorCount);
    // Rust returns "invalid number of sectors/partition index" when the chunk is missing.
    if (chunk.length === 0) throw new RangeError("invalid number of sectors/partition index");
    for (let i = 0; i < chunk.length; i++) {
      const sector = chunk[i]!;
      checkU64(sector, "sector number");
      const sectorIndex = p * sectorCount + i;
      const challenges: bigint[] = [];
      for (let n = 0; n < challengeCount; n++) {
        const idx = postChallengeIndex(opts.apiVersion, sectorIndex, challengeCount, n);
        challenges.push(leafChallengeUnchecked(opts.randomness, sector, idx, leaves));
      }
      out.set(sector, challenges);
    }
  }
  return out;
}

/**
 * WindowPoSt challenges for the sectors of one partition, in partition order, as
 * `generate_fallback_sector_challenges` computes them when handed the whole proving set.
 * `partitionIndex` and `sectorsPerPartition` only matter under V1_0_0/V1_1_0.
 */
export function generateWindowPoStChallenges(opts: {
  readonly randomness: Uint8Array;
  readonly sectorSize: bigint;
  readonly apiVersion: PoStApiVersion;
  readonly sectorNumbers: readonly bigint[];
  readonly partitionIndex?: number;
  readonly sectorsPerPartition?: number;
}): bigint[][] {
  const partitionIndex = opts.partitionIndex ?? 0;
  const spp = opts.sectorsPerPartition ?? opts.sectorNumbers.length;
  if (opts.sectorNumbers.length > spp) throw new RangeError("more sectors than sectorsPerPartition");
  return opts.sectorNumbers.map((sectorNumber, i) =>
    generateSectorLeafChallenges({
      randomness: opts.randomness,
      sectorNumber,
      sectorSize: opts.sectorSize,
      apiVersion: opts.apiVersion,
      sectorIndex: partitionIndex * spp + i,
      challengeCount: WINDOW_POST_CHALLENGE_COUNT,
    }),
  );
}

/**
 * The 32-byte prover id of a miner actor, as filecoin-ffi `toProverID` builds it: the
 * payload of the ID address (the actor id as an unsigned LEB128 varint), zero-padded to 32
 * bytes. Always a canonical Fr encoding.
 */
export function proverIdFromActorId(actorId: bigint): Uint8Array {
  checkU64(actorId, "actorId");
  const out = new Uint8Array(FR_BYTES);
  out.set(encodeUvarintBigInt(actorId));
  return out;
}

/**
 * One WinningPoSt sector challenge (`generate_sector_challenge`):
 * SHA-256(proverId[32] ‖ randomness[32] ‖ n u64 LE) — 72 bytes — first 8 digest bytes as a
 * little-endian u64, modulo `sectorSetSize`. Returns an index into the eligible sector set.
 */
export function generateSectorChallenge(
  randomness: Uint8Array,
  n: bigint,
  sectorSetSize: bigint,
  proverId: Uint8Array,
): bigint {
  assertCanonicalFrBytes(randomness, "randomness");
  assertCanonicalFrBytes(proverId, "prover_id");
  checkU64(n, "n");
  checkU64(sectorSetSize, "sectorSetSize");
  // Rust's `generate_winning_post_sector_challenge` rejects an empty set up front
  // ("empty sector set is invalid"); the raw function would divide by zero.
  if (sectorSetSize === 0n) throw new RangeError("empty sector set is invalid");
  const msg = new Uint8Array(72);
  msg.set(proverId, 0);
  msg.set(randomness, 32);
  new DataView(msg.buffer).setBigUint64(64, n, true);
  const digest = createHash("sha256").update(msg).digest();
  return digest.readBigUInt64LE(0) % sectorSetSize;
}

/**
 * `generate_winning_post_sector_challenge`: `count` (WINNING_POST_SECTOR_COUNT = 1) indices
 * into the eligible sector set, for n = 0..count−1.
 */
export function generateWinningPoStSectorChallenge(
  randomness: Uint8Array,
  sectorSetSize: bigint,
  proverId: Uint8Array,
  count: number = WINNING_POST_SECTOR_COUNT,
): bigint[] {
  const out: bigint[] = [];
  for (let n = 0; n < count; n++)
    out.push(generateSectorChallenge(randomness, BigInt(n), sectorSetSize, proverId));
  return out;
}

/**
 * The 66 leaf challenges of the (single) WinningPoSt sector. With one sector per proof the
 * sector index is 0, so V1 and V1_2 both use challenge indices 0..65.
 */
export function generateWinningPoStLeafChallenges(
  randomness: Uint8Array,
  sectorNumber: bigint,
  sectorSize: bigint,
  apiVersion: PoStApiVersion = "V1_2_0",
): bigint[] {
  return generateSectorLeafChallenges({
    randomness,
    sectorNumber,
    sectorSize,
    apiVersion,
    sectorIndex: 0,
    challengeCount: WINNING_POST_CHALLENGE_COUNT,
  });
}
