/**
 * Verification of a devnet WindowPoSt proof bundle (format: proofs/vanillaBundle.ts) against the sectors the
 * message must prove. Pure apart from `verify`, which the caller may route to a worker pool.
 */
import { randomInt } from "node:crypto";
import { readFallbackPoStSectorHeader } from "../proofs/bincode.js";
import { WINDOW_POST_CHALLENGE_COUNT } from "../proofs/challenges.js";
import { parseChainPoStProof } from "../proofs/proofTypes.js";
import type { VerifyResult } from "../proofs/vanilla.js";
import { openVanillaBundle } from "../proofs/vanillaBundle.js";
import { type SectorProofBytesInput, verifySectorProofBytes } from "../proofs/verifyBytes.js";
import { errorMessage } from "../util/errors.js";
import type { DevnetSector } from "./miner.js";

/** Decodes and verifies one entry's proof bytes (the devnet routes it to its worker pool). */
export type VerifyFn = (opts: SectorProofBytesInput) => Promise<VerifyResult>;

export const defaultVerify: VerifyFn = (opts) => verifySectorProofBytes(opts);

export interface ExpectedProof {
  readonly partition: number;
  readonly sector: DevnetSector;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What the judgement of one bundle found. */
export interface BundleJudgement {
  /** Undefined when the bundle is accepted, else the reason naming the first bad sector. */
  readonly failure: string | undefined;
  /** Sector proofs verified in full (all of them, or the sample). */
  readonly verified: number;
  /** Sector proofs in the bundle. */
  readonly entries: number;
}

/**
 * Judges a bundle. Every entry's sector, comm_r and proof count are checked (from its header);
 * then the sector proofs are decoded and verified in full: all of them, or with `sample` a random
 * `sample` of each partition's (the devnet's one shortcut, `devnet run --verify-sample`: TypeScript
 * verification of 2,349 32 GiB sectors takes ~17 core-seconds per partition). The sample is drawn
 * after the message is in, so a prover cannot know which sectors will be checked. `randomness` must
 * already be masked.
 */
export async function verifyBundle(
  proofBytes: Uint8Array,
  expected: readonly ExpectedProof[],
  windowPoStProofType: number,
  randomness: Uint8Array,
  verify: VerifyFn,
  sample?: number,
): Promise<BundleJudgement> {
  let entries: Uint8Array[];
  const judged = (failure: string | undefined, verified = 0): BundleJudgement => ({
    failure,
    verified,
    entries: entries?.length ?? 0,
  });
  try {
    entries = await openVanillaBundle(proofBytes);
  } catch (err) {
    entries = [];
    return judged(errorMessage(err));
  }
  const type = parseChainPoStProof(windowPoStProofType);
  const jobs: Job[] = [];
  for (let i = 0; i < Math.max(entries.length, expected.length); i++) {
    const want = expected[i];
    const bytes = entries[i];
    if (want === undefined) {
      return judged(
        `proof bundle has ${entries.length} entries but ${expected.length} sectors are to be proven (extra entry #${i})`,
      );
    }
    const name = `sector ${want.sector.number} (partition ${want.partition}, bundle entry #${i})`;
    if (bytes === undefined) return judged(`missing proof for ${name}`);
    // Matched from the entry's first 48 bytes only: decoding every proof here (7,047 of ~25 KB for a
    // message of three 32 GiB partitions) held the devnet's event loop for seconds, most of it in
    // garbage collection. The proofs to verify are decoded with their verification, on the pool.
    let header: ReturnType<typeof readFallbackPoStSectorHeader>;
    try {
      header = readFallbackPoStSectorHeader(bytes);
    } catch (err) {
      return judged(`undecodable proof for ${name}: ${errorMessage(err)}`);
    }
    if (header.sectorId !== BigInt(want.sector.number)) {
      return judged(
        `proof for ${name} is for sector ${header.sectorId} (entries must follow partition order, then ascending sector number)`,
      );
    }
    if (!bytesEqual(header.commR, want.sector.commR)) {
      return judged(`proof for ${name} has comm_r ${hex(header.commR)}, on chain ${hex(want.sector.commR)}`);
    }
    if (header.sectors !== 1) {
      return judged(`proof for ${name} holds ${header.sectors} sector proofs, expected 1`);
    }
    const opts: SectorProofBytesInput = {
      shape: type.shape,
      sectorNumber: want.sector.number,
      randomness,
      apiVersion: type.apiVersion,
      sectorIndex: i,
      challengeCount: WINDOW_POST_CHALLENGE_COUNT,
      commR: want.sector.commR,
      proofBytes: bytes,
    };
    jobs.push({ i, partition: want.partition, sector: want.sector.number, run: () => verify(opts) });
  }
  const chosen = sample === undefined ? jobs : sampleEachPartition(jobs, sample);
  // All entries are well-formed: verify them concurrently (the callback may use a worker pool) and
  // report the first failure in bundle order, so the reason does not depend on timing.
  const results = await Promise.all(
    chosen.map(async (j) => {
      try {
        return await j.run();
      } catch (err) {
        return { ok: false, reason: errorMessage(err) } as const;
      }
    }),
  );
  for (let k = 0; k < results.length; k++) {
    const r = results[k]!;
    const j = chosen[k]!;
    if (!r.ok)
      return judged(
        `invalid proof for sector ${j.sector} (bundle entry #${j.i}): ${r.reason}`,
        chosen.length,
      );
  }
  return judged(undefined, chosen.length);
}

interface Job {
  readonly i: number;
  readonly partition: number;
  readonly sector: number;
  readonly run: () => Promise<VerifyResult>;
}

/** `k` jobs of each partition drawn uniformly without replacement (all when it has ≤ k), in bundle order. */
export function sampleEachPartition<T extends { i: number; partition: number }>(
  jobs: readonly T[],
  k: number,
): T[] {
  const byPartition = new Map<number, T[]>();
  for (const j of jobs) {
    const list = byPartition.get(j.partition);
    if (list) list.push(j);
    else byPartition.set(j.partition, [j]);
  }
  const out: T[] = [];
  for (const list of byPartition.values()) {
    // Partial Fisher-Yates: the first k places get a uniform k-subset.
    const n = Math.min(k, list.length);
    for (let a = 0; a < n; a++) {
      const b = a + randomInt(list.length - a);
      [list[a], list[b]] = [list[b]!, list[a]!];
    }
    out.push(...list.slice(0, n));
  }
  return out.sort((x, y) => x.i - y.i);
}
