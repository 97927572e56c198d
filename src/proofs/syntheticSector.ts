/**
 * Synthetic sectors with REAL PoSt material: a sealed file of random field elements, the true
 * tree-r-last cache files over it, a p_aux holding a random comm_c and the real comm_r_last, and
 * comm_r = Poseidon-2(comm_c, comm_r_last). Vanilla proofs over them verify exactly as over a
 * sealed sector; only the PoRep relation (comm_c, comm_d, the labels) is fake, which PoSt never
 * looks at. (test/helpers/layoutOnlySector.ts writes size-only fixtures for fast tests.)
 *
 * Cost is the tree build: ~16 s for 8 MiB on one core; 512 MiB takes ~17 min; 32/64 GiB are
 * out of reach this way (tests use sparse replicas instead).
 */
import { createHash, randomFillSync } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { commRFrom, NODE_BYTES } from "./nodes.js";
import { cacheDirPath, type IndexType, sealedFilePath } from "./sectorFiles.js";
import type { SectorShape } from "./sectorShapes.js";
import { buildTreeRLast } from "./treeRLast.js";

export { sealedCid, unsealedCid } from "./commCid.js";

/** Fills the array with random bytes. */
export type RandomSource = (out: Uint8Array) => void;

/** Cryptographic randomness (the default). */
export const cryptoRandom: RandomSource = (out) => {
  randomFillSync(out);
};

/**
 * Deterministic random bytes for fixtures: xoshiro128** seeded from SHA-256 of the seed.
 * Not cryptographic; only for reproducible tests.
 */
export function seededRandom(seed: string | number): RandomSource {
  const h = createHash("sha256").update(`vsm-synthetic:${seed}`).digest();
  const s = new Uint32Array([h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12)]);
  if (s.every((x) => x === 0)) s[0] = 1;
  const next = (): number => {
    const s0 = s[0]!;
    const s1 = s[1]!;
    const s2 = s[2]!;
    const s3 = s[3]!;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    const n2 = (s2 ^ s0) >>> 0;
    const n3 = (s3 ^ s1) >>> 0;
    s[1] = (s1 ^ n2) >>> 0;
    s[0] = (s0 ^ n3) >>> 0;
    s[2] = (n2 ^ t) >>> 0;
    s[3] = rotl(n3, 11);
    return r;
  };
  return (out) => {
    const whole = out.length & ~3;
    const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (let i = 0; i < whole; i += 4) dv.setUint32(i, next(), true);
    for (let i = whole; i < out.length; i++) out[i] = next() & 0xff;
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Random bytes in which every 32-byte node is a field element: the top two bits are cleared (< 2^254 < r). */
export function randomNodes(bytes: number, random: RandomSource): Uint8Array {
  const b = new Uint8Array(bytes);
  random(b);
  for (let i = NODE_BYTES - 1; i < bytes; i += NODE_BYTES) b[i] = b[i]! & 0x3f;
  return b;
}

export interface SyntheticSectorOptions {
  /** Root of a persist store (holds sealed/, cache/, update/, update-cache/). */
  readonly storeDir: string;
  readonly miner: number;
  readonly number: number;
  readonly shape: SectorShape;
  /** "normal" → sealed/ + cache/, "upgrade" → update/ + update-cache/ (default "normal"). */
  readonly type?: IndexType;
  /** Default: crypto randomness. Use `seededRandom(seed)` for reproducible fixtures. */
  readonly random?: RandomSource;
}

export interface SyntheticSector {
  /** 32-byte comm_r (the value on chain; `sealedCid(commR)` is its CID). */
  readonly commR: Uint8Array;
  readonly commC: Uint8Array;
  readonly commRLast: Uint8Array;
  readonly sealedFile: string;
  readonly cacheDir: string;
}

const CHUNK = 1 << 20;

/**
 * Write a sector in the real store layout: `sealed/s-t0<miner>-<n>` (or `update/…`) and the cache
 * directory with `sc-02-data-tree-r-last[-i].dat`, `p_aux` and a small `t_aux` placeholder
 * (PoSt never reads t_aux; `PrivateReplicaInfo::merkle_tree` recomputes the store configs).
 */
export async function writeSyntheticSector(opts: SyntheticSectorOptions): Promise<SyntheticSector> {
  const { storeDir, miner, number, shape } = opts;
  const type = opts.type ?? "normal";
  const random = opts.random ?? cryptoRandom;
  const sealedFile = sealedFilePath(storeDir, type, miner, number);
  const cacheDir = cacheDirPath(storeDir, type, miner, number);
  await fs.mkdir(path.dirname(sealedFile), { recursive: true });
  await fs.mkdir(cacheDir, { recursive: true });

  const fh = await fs.open(sealedFile, "w");
  try {
    for (let off = 0; off < shape.sectorSize; off += CHUNK) {
      await fh.write(randomNodes(Math.min(CHUNK, shape.sectorSize - off), random));
    }
  } finally {
    await fh.close();
  }

  const { commRLast } = await buildTreeRLast({ shape, sealedFile, cacheDir, sector: number });
  const commC = randomNodes(NODE_BYTES, random);
  const commR = commRFrom(commC, commRLast)!;
  const pAux = new Uint8Array(2 * NODE_BYTES);
  pAux.set(commC, 0);
  pAux.set(commRLast, NODE_BYTES);
  await fs.writeFile(path.join(cacheDir, "p_aux"), pAux);
  await fs.writeFile(
    path.join(cacheDir, "t_aux"),
    "synthetic sector: t_aux placeholder (not a bincode TemporaryAux; PoSt does not read it)\n",
  );
  return { commR, commC, commRLast, sealedFile, cacheDir };
}
