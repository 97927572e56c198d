/**
 * The wire shapes of `Venus.ComputeProof`, the WinningPoSt call, decoded with the checks a Go
 * go-jsonrpc server would make and a few it would not (so that bad input fails here, with the
 * parameter named, instead of deep in a prover).
 *
 * Where the shape comes from (verified in the sources, not guessed):
 *  - sophon-miner computes a block's WinningPoSt by calling its gateway:
 *    `miner/minerwpp.go` `ComputeProof` → `Gateway.ComputeProof(miner, mbi.Sectors, rand, round, nv)`
 *    (ipfs-force-community/sophon-miner 5cc9dbb, `miner/multiminer.go`).
 *  - That method is venus `venus-shared/api/gateway/v2/proof_event.go`:
 *    `ComputeProof(ctx, miner address.Address, sectorInfos []builtin.ExtendedSectorInfo,
 *    rand abi.PoStRandomness, height abi.ChainEpoch, nwVersion network.Version)
 *    ([]builtin.PoStProof, error) //perm:admin`; its v1 form (`sophon-gateway api/wrapper.go`) has
 *    only the first three parameters.
 *  - The gateway forwards it to damocles-manager as a `ComputeProof` proof event whose payload is
 *    `{SectorInfos, Rand, Height, NWVersion}`; damocles (`damocles-manager/modules/miner/
 *    proof_event.go`, 4235a89) takes the proof type from `SectorInfos[0].SealProof`
 *    (`RegisteredWinningPoStProof()`), refuses an empty list, and calls
 *    `GenerateWinningPoSt(actor, ppt, SectorInfos, Rand)`.
 * This node serves the same call directly under our namespace, with the same positional params, so
 * a miner (or a bridge from a gateway) needs no proof-event plumbing.
 *
 * JSON (Lotus / go encoding/json): the miner is an address string ("f01000"); each sector is
 * `{"SealProof": n, "SectorNumber": n, "SectorKey": {"/": cid} | null, "SealedCID": {"/": cid}}`;
 * `rand` is []byte, i.e. standard padded base64; height and network version are numbers. The result
 * is `[{"PoStProof": n, "ProofBytes": base64}]`.
 *
 * The sectors are the *challenged* ones, not the eligible set: Lotus/venus `MinerGetBaseInfo` returns
 * `Sectors` already selected by `GenerateWinningPoStSectorChallenge`, and rust-fil-proofs'
 * `generate_winning_post` insists on exactly `WINNING_POST_SECTOR_COUNT` (1) replica ("invalid amount
 * of replicas"). So this call takes exactly one sector and says so otherwise.
 */
import { Address } from "../chain/address.js";
import { cidStringProblem } from "../chain/lotus/decode.js";
import { isCanonicalFrBytes, WINNING_POST_SECTOR_COUNT } from "../proofs/challenges.js";
import { cidToCommitment, FIL_COMMITMENT_SEALED, POSEIDON_BLS12_381_A2_FC1 } from "../proofs/commCid.js";
import { SEAL_PROOF_IDS, sealProofShape, winningPoStProofOfSeal } from "../proofs/proofTypes.js";
import type { SectorShape } from "../proofs/sectorShapes.js";
import { InvalidParamsError } from "../rpc/errors.js";
import { arity, objectParam, showParam } from "../rpc/method.js";
import { errorMessage } from "../util/errors.js";

/** Chain randomness is 32 bytes (a BLAKE2b-256 digest, `abi.Randomness`). */
export const RANDOMNESS_BYTES = 32;

/** One `builtin.ExtendedSectorInfo`, decoded. */
export interface WinningSector {
  sealProof: number;
  sectorNumber: number;
  /** Set for snap-upgraded sectors: their files are in update/ and update-cache/ (the "upgrade" index). */
  sectorKey: string | null;
  sealedCid: string;
  /** comm_r from SealedCID. */
  commR: Uint8Array;
  shape: SectorShape;
}

export interface ComputeProofRequest {
  /** Miner actor id (1000 for f01000). */
  miner: number;
  sectors: WinningSector[];
  /** The randomness as sent (unmasked); the service masks a copy. */
  randomness: Uint8Array;
  /** RegisteredPoStProof chain id of the WinningPoSt (0..4). */
  postProof: number;
  /** Informational: the round being mined and its network version (0 when the caller omits them). */
  height: number;
  networkVersion: number;
}

/** Go's encoding/json matches struct keys case-insensitively; so do we. */
export function field(o: Record<string, unknown>, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

const show = showParam;

function uint(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    throw new InvalidParamsError(`${what} must be a non-negative integer, got ${show(v)}`);
  return v;
}

/** `miner`: an ID address ("f01000" / "t01000"), or the actor id as a number. */
export function minerParam(v: unknown): number {
  if (typeof v === "number") return uint(v, "miner");
  if (typeof v !== "string")
    throw new InvalidParamsError(`miner must be an ID address such as "f01000", got ${show(v)}`);
  let addr: Address;
  try {
    addr = Address.fromString(v);
  } catch (e) {
    throw new InvalidParamsError(`miner ${show(v)} is not an address: ${errorMessage(e)}`);
  }
  if (addr.protocol !== 0)
    throw new InvalidParamsError(
      `miner ${v} is not an ID address; pass the miner actor's ID address (f0…), as sophon-miner does`,
    );
  return addr.actorId();
}

/** A Lotus CID `{"/": "<cid>"}`. */
function cidParam(v: unknown, what: string): string {
  const o = objectParam(v, what);
  const s = o["/"];
  if (typeof s !== "string") throw new InvalidParamsError(`${what} must be a CID as {"/": "<cid>"}`);
  const problem = cidStringProblem(s);
  if (problem !== null) throw new InvalidParamsError(`${what} ${problem}`);
  return s;
}

export function sectorInfoParam(v: unknown, what: string): WinningSector {
  const o = objectParam(v, what);
  const sealProof = uint(field(o, "SealProof"), `${what}.SealProof`);
  const shape = sealProofShape(sealProof);
  if (!shape)
    throw new InvalidParamsError(
      `${what}.SealProof ${sealProof} is not a known RegisteredSealProof (0..${SEAL_PROOF_IDS - 1})`,
    );
  const sectorNumber = uint(field(o, "SectorNumber"), `${what}.SectorNumber`);
  const key = field(o, "SectorKey");
  const sectorKey = key === null || key === undefined ? null : cidParam(key, `${what}.SectorKey`);
  const sealedCid = cidParam(field(o, "SealedCID"), `${what}.SealedCID`);
  let commR: Uint8Array;
  try {
    const c = cidToCommitment(sealedCid);
    if (c.codec !== FIL_COMMITMENT_SEALED || c.hashCode !== POSEIDON_BLS12_381_A2_FC1)
      throw new Error(
        `codec 0x${c.codec.toString(16)} / multihash 0x${c.hashCode.toString(16)} is not a sealed commitment (0xf102 / 0xb401)`,
      );
    commR = c.commitment;
  } catch (e) {
    throw new InvalidParamsError(`${what}.SealedCID ${sealedCid}: ${errorMessage(e)}`);
  }
  // rust-fil-proofs reads comm_r through `as_safe_commitment`, which refuses non-field elements.
  if (!isCanonicalFrBytes(commR))
    throw new InvalidParamsError(
      `${what}.SealedCID ${sealedCid} holds a comm_r that is not a BLS12-381 field element`,
    );
  return { sealProof, sectorNumber, sectorKey, sealedCid, commR, shape };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * `rand`: Go []byte, standard base64 with padding, exactly 32 bytes. Encodings Go would refuse
 * (URL-safe alphabet, missing padding) and ones that do not round-trip (stray bits in the last
 * character) are refused too: randomness that is not exactly what the chain gave is a bug upstream,
 * and a proof over it would be rejected.
 */
export function randomnessParam(v: unknown): Uint8Array {
  if (typeof v !== "string")
    throw new InvalidParamsError(`rand must be the randomness as base64 (Go []byte), got ${show(v)}`);
  if (!BASE64.test(v)) throw new InvalidParamsError("rand is not standard base64 with padding");
  const bytes = Buffer.from(v, "base64");
  if (bytes.toString("base64") !== v)
    throw new InvalidParamsError("rand is not canonical base64 (its last character carries stray bits)");
  if (bytes.length !== RANDOMNESS_BYTES)
    throw new InvalidParamsError(
      `rand is ${bytes.length} bytes; chain randomness is ${RANDOMNESS_BYTES} bytes (the WinningPoStChallengeSeed beacon draw)`,
    );
  return new Uint8Array(bytes);
}

/** `(miner, sectorInfos, rand[, height, nwVersion])` → a checked request. */
export function decodeComputeProofParams(params: readonly unknown[]): ComputeProofRequest {
  arity(params, 3, 5);
  const miner = minerParam(params[0]);
  const list = params[1];
  if (!Array.isArray(list))
    throw new InvalidParamsError(
      `sectorInfos must be an array of ExtendedSectorInfo, got ${list === null ? "null" : show(list)}`,
    );
  if (list.length === 0)
    throw new InvalidParamsError(
      "sectorInfos is empty: WinningPoSt proves the challenged sector, which MinerGetBaseInfo returns in Sectors",
    );
  if (list.length !== WINNING_POST_SECTOR_COUNT)
    throw new InvalidParamsError(
      `sectorInfos has ${list.length} sectors; WinningPoSt proves exactly ${WINNING_POST_SECTOR_COUNT} (WINNING_POST_SECTOR_COUNT), the challenged one that MinerGetBaseInfo returns in Sectors, not the whole eligible set`,
    );
  const sectors = list.map((s, i) => sectorInfoParam(s, `sectorInfos[${i}]`));
  const randomness = randomnessParam(params[2]);
  const height = params[3] === undefined ? 0 : uint(params[3], "height");
  const networkVersion = params[4] === undefined ? 0 : uint(params[4], "nwVersion");
  // As damocles does: the proof type follows the (first and only) sector's seal proof.
  const postProof = winningPoStProofOfSeal(sectors[0]!.sealProof);
  return { miner, sectors, randomness, postProof, height, networkVersion };
}

/** `[]builtin.PoStProof` as Lotus JSON. */
export function poStProofsToWire(
  proofs: readonly { postProof: number; proofBytes: Uint8Array }[],
): { PoStProof: number; ProofBytes: string }[] {
  return proofs.map((p) => ({
    PoStProof: p.postProof,
    ProofBytes: Buffer.from(p.proofBytes.buffer, p.proofBytes.byteOffset, p.proofBytes.byteLength).toString(
      "base64",
    ),
  }));
}
