/**
 * Registered PoSt proof types, by name (rust-filecoin-proofs-api, as ext-prover passes them) and
 * by chain id (go-state-types `abi.RegisteredPoStProof`).
 *
 * API names (rust-filecoin-proofs-api `src/registry.rs`): `StackedDrgWinning<size>V1`,
 * `StackedDrgWindow<size>V1` (ApiVersion V1_0_0) and `StackedDrgWindow<size>V1_2`
 * (ApiVersion V1_2_0, the "grindability" fix), for size 2KiB, 8MiB, 512MiB, 32GiB, 64GiB.
 *
 * Chain ids (go-state-types `abi/sector.go`): winning 0..4, window V1 5..9, window V1_1 10..14,
 * each in size order 2KiB, 8MiB, 512MiB, 32GiB, 64GiB. filecoin-ffi maps the chain's
 * `StackedDrgWindow<size>V1_1` to the API's `StackedDrgWindow<size>V1_2` (rust/src/proofs/types.rs:
 * "WindowPoStV1_1 here -> Proofs api_version WindowPoStV1_2"); winning and window V1 keep their names.
 */

import { SmError } from "../util/errors.js";
import { WINDOW_POST_CHALLENGE_COUNT, WINNING_POST_CHALLENGE_COUNT } from "./challenges.js";
import { PROOF_ERROR_CODES, proofError } from "./proofErrors.js";
import { SECTOR_SHAPES, type SectorShape, shapeByName } from "./sectorShapes.js";

export type PoStProofKind = "window" | "winning";
/** ApiVersion of a registered PoSt proof; only these two exist for PoSt types. */
export type PoStProofApiVersion = "V1_0_0" | "V1_2_0";

export interface ParsedPoStProofType {
  /** The API name, e.g. "StackedDrgWindow32GiBV1_2". */
  readonly name: string;
  readonly kind: PoStProofKind;
  readonly shape: SectorShape;
  readonly apiVersion: PoStProofApiVersion;
  /** Challenges per sector: 10 (window) or 66 (winning). */
  readonly challengeCount: number;
  /** Sectors per partition (window) or 1 (winning, `WINNING_POST_SECTOR_COUNT`). */
  readonly sectorsPerPartition: number;
}

const SIZE_NAMES = SECTOR_SHAPES.map((s) => s.name);

/** Every API name ext-prover may receive, winning first, in the registry's order. */
export const POST_PROOF_TYPE_NAMES: readonly string[] = [
  ...SIZE_NAMES.map((s) => `StackedDrgWinning${s}V1`),
  ...SIZE_NAMES.map((s) => `StackedDrgWindow${s}V1`),
  ...SIZE_NAMES.map((s) => `StackedDrgWindow${s}V1_2`),
];

const NAME_RE = /^StackedDrg(Window|Winning)(2KiB|8MiB|512MiB|32GiB|64GiB)(V1|V1_2)$/;

/** Parse an API proof type name; anything else is PROOF_UNKNOWN_TYPE. */
export function parsePoStProofType(name: string): ParsedPoStProofType {
  const m = typeof name === "string" ? NAME_RE.exec(name) : null;
  const shape = m ? shapeByName(m[2]!) : undefined;
  // Winning PoSt has no V1_2 variant.
  if (!m || shape === undefined || (m[1] === "Winning" && m[3] !== "V1")) {
    throw proofError(
      PROOF_ERROR_CODES.unknownType,
      undefined,
      `unknown PoSt proof type ${JSON.stringify(name)}; known: ${POST_PROOF_TYPE_NAMES.join(", ")}`,
      { proofType: name },
    );
  }
  const kind: PoStProofKind = m[1] === "Window" ? "window" : "winning";
  return {
    name,
    kind,
    shape,
    apiVersion: m[3] === "V1_2" ? "V1_2_0" : "V1_0_0",
    challengeCount: kind === "window" ? WINDOW_POST_CHALLENGE_COUNT : WINNING_POST_CHALLENGE_COUNT,
    sectorsPerPartition: kind === "window" ? shape.sectorsPerPartition : 1,
  };
}

/** go-state-types `abi.RegisteredPoStProof` values by chain name. */
export const CHAIN_POST_PROOF_IDS: Readonly<Record<string, number>> = Object.fromEntries([
  ...SIZE_NAMES.map((s, i) => [`StackedDrgWinning${s}V1`, i] as const),
  ...SIZE_NAMES.map((s, i) => [`StackedDrgWindow${s}V1`, 5 + i] as const),
  ...SIZE_NAMES.map((s, i) => [`StackedDrgWindow${s}V1_1`, 10 + i] as const),
]);

/** Chain name of a `RegisteredPoStProof` id, e.g. 13 → "StackedDrgWindow32GiBV1_1". */
export function chainPoStProofName(id: number): string {
  for (const [name, v] of Object.entries(CHAIN_POST_PROOF_IDS)) if (v === id) return name;
  throw proofError(
    PROOF_ERROR_CODES.unknownType,
    undefined,
    `unknown RegisteredPoStProof id ${id} (known: 0..14)`,
    {
      proofType: id,
    },
  );
}

/** The API name the proofs library uses for a chain id: window V1_1 → `...V1_2`, others unchanged. */
export function apiPoStProofName(chainId: number): string {
  const name = chainPoStProofName(chainId);
  return name.endsWith("V1_1") ? `${name.slice(0, -4)}V1_2` : name;
}

/** The chain id for an API name: `...V1_2` → the window V1_1 id. */
export function chainPoStProofId(apiName: string): number {
  const p = parsePoStProofType(apiName);
  const chainName = p.apiVersion === "V1_2_0" ? `${apiName.slice(0, -4)}V1_1` : apiName;
  return CHAIN_POST_PROOF_IDS[chainName]!;
}

/** Parse a chain id straight to the API-level description. */
export function parseChainPoStProof(chainId: number): ParsedPoStProofType {
  return parsePoStProofType(apiPoStProofName(chainId));
}

/**
 * go-state-types `abi.RegisteredSealProof`: 0..4 `StackedDrg<size>V1`, 5..9 `…V1_1`, 10..14
 * `…V1_1_Feat_SyntheticPoRep`, 15..19 `…V1_2_Feat_NiPoRep`, each group in size order 2KiB, 8MiB,
 * 512MiB, 32GiB, 64GiB (abi/sector.go, `SealProofInfos`).
 */
export const SEAL_PROOF_IDS = 20;

/** The sector shape of a `RegisteredSealProof` id, or undefined when the id is unknown. */
export function sealProofShape(sealProof: number): SectorShape | undefined {
  if (!Number.isSafeInteger(sealProof) || sealProof < 0 || sealProof >= SEAL_PROOF_IDS) return undefined;
  return SECTOR_SHAPES[sealProof % SECTOR_SHAPES.length];
}

/**
 * `RegisteredSealProof.RegisteredWinningPoStProof()`: every seal proof of a size maps to that size's
 * `StackedDrgWinning<size>V1` (chain ids 0..4, the same name in the proofs API). Unknown ids throw
 * PROOF_UNKNOWN_TYPE, as go-state-types returns "unsupported proof type".
 */
export function winningPoStProofOfSeal(sealProof: number): number {
  const shape = sealProofShape(sealProof);
  if (!shape) {
    throw new SmError(
      PROOF_ERROR_CODES.unknownType,
      `unknown RegisteredSealProof ${sealProof} (known: 0..${SEAL_PROOF_IDS - 1})`,
      { sealProof },
    );
  }
  return CHAIN_POST_PROOF_IDS[`StackedDrgWinning${shape.name}V1`]!;
}
