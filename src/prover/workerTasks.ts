/**
 * Functions that run inside the prover's worker threads. Arguments and results must survive
 * structured cloning (Uint8Array, bigint, plain objects); errors go back as SmError JSON (code kept).
 */
import { randomFillSync } from "node:crypto";
import { encodeFallbackPoStSectorProof } from "../proofs/bincode.js";
import {
  frFromBytesLE,
  frToBytesLE,
  poseidonHash,
  poseidonHashBytes,
  poseidonHashGroupsInto,
} from "../proofs/poseidon.js";
import type { SectorShape } from "../proofs/sectorShapes.js";
import { type SyntheticSectorOptions, writeSyntheticSector } from "../proofs/syntheticSector.js";
import {
  type ProveSectorOptions,
  proveSector,
  readPAux,
  type VerifyResult,
  verifySector,
} from "../proofs/vanilla.js";
import { type SectorProofBytesInput, verifySectorProofBytes } from "../proofs/verifyBytes.js";

/**
 * Hash consecutive groups of `arity` 32-byte nodes: one tree row from the row below it, in one
 * pass through the WebAssembly Poseidon. A non-canonical node gets the same error as
 * `poseidonHashBytes` on its group ("Poseidon child i: not a canonical …").
 */
async function hashRow(arity: number, nodes: Uint8Array): Promise<Uint8Array> {
  const groupBytes = arity * 32;
  if (nodes.length % groupBytes !== 0)
    throw new Error(`row of ${nodes.length} bytes is not a whole number of ${arity}-node groups`);
  const out = new Uint8Array(nodes.length / arity);
  if (nodes.length === 0) return out;
  const bad = poseidonHashGroupsInto(arity, nodes, out);
  if (bad >= 0) {
    const start = Math.floor(bad / arity) * groupBytes;
    poseidonHashBytes(
      Array.from({ length: arity }, (_, i) => nodes.subarray(start + 32 * i, start + 32 * (i + 1))),
    );
  }
  return out;
}

/** One sector's vanilla proof, serialised as bincode `FallbackPoStSectorProof` (what a SNARK prover takes). */
async function proveSectorBytes(opts: ProveSectorOptions): Promise<Uint8Array> {
  const proof = await proveSector(opts);
  return encodeFallbackPoStSectorProof({
    sectorId: BigInt(opts.sectorNumber),
    commR: opts.commR,
    vanillaProof: { sectors: [proof] },
  });
}

/** Decode and verify one serialised sector proof against the expected sector and comm_r. */
async function verifySectorBytes(opts: SectorProofBytesInput): Promise<VerifyResult> {
  return verifySectorProofBytes(opts);
}

export interface ProbeOptions {
  shape: SectorShape;
  sectorNumber: number;
  sealedFile: string;
  cacheDir: string;
  /** The on-chain comm_r; when unknown (attach), the one p_aux implies. */
  commR?: Uint8Array;
}

/**
 * The strict sector check: one random challenge proven from the real files and verified. Catches an
 * unreadable or altered replica segment or cache, and (with the chain's comm_r) a wrong p_aux.
 */
async function probeSector(opts: ProbeOptions): Promise<VerifyResult> {
  let commR = opts.commR;
  if (!commR) {
    const aux = await readPAux(opts.cacheDir, opts.sectorNumber);
    commR = frToBytesLE(poseidonHash(2, [frFromBytesLE(aux.commC), frFromBytesLE(aux.commRLast)]));
  }
  const randomness = randomFillSync(new Uint8Array(32));
  randomness[31] = (randomness[31] ?? 0) & 0x3f;
  const input = {
    shape: opts.shape,
    sectorNumber: opts.sectorNumber,
    randomness,
    apiVersion: "V1_2_0" as const,
    sectorIndex: 0,
    challengeCount: 1,
  };
  const proof = await proveSector({ ...input, commR, sealedFile: opts.sealedFile, cacheDir: opts.cacheDir });
  return verifySector({ ...input, commR, proof });
}

async function writeSynthetic(opts: Omit<SyntheticSectorOptions, "random">) {
  return writeSyntheticSector(opts);
}

export const workerTasks = {
  hashRow,
  proveSectorBytes,
  verifySectorBytes,
  probeSector,
  writeSynthetic,
};

export type WorkerTasks = typeof workerTasks;
export type TaskName = keyof WorkerTasks;
