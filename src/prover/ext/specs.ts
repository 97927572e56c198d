/**
 * ext-prover.cfg blocks → child specs. Without `Bin` the child is this program's own processor
 * (`venus-sector-manager wdpost` / `winpost`, run with the same Node); with `Bin`, `Args` are passed
 * verbatim (damocles does not append the stage either).
 */
import {
  EXT_PROVER_CFG,
  EXT_PROVER_REQUEST_TIMEOUT_DEFAULT,
  EXT_PROVER_REQUEST_TIMEOUT_RANGE,
} from "../../config/schema.js";
import type { ExtProverBlock, ExtProverConfig } from "../../config/types.js";
import { formatGoDuration, parseGoDuration } from "../../config/units.js";
import { cliEntry } from "../../util/childProcess.js";
import { SmError } from "../../util/errors.js";
import type { Stage } from "../protocol.js";

const blockName = (stage: Stage) => (stage === "window_post" ? "WdPost" : "WinPost");

/** How to run one ext-prover child: one block of ext-prover.cfg, validated and resolved. */
export interface ChildSpec {
  stage: Stage;
  /** Position of the block in ext-prover.cfg (0-based), its identity across reloads. */
  index: number;
  bin: string;
  args: string[];
  /** Only the block's overrides (for display); the child gets process.env plus these. */
  envs: Record<string, string>;
  concurrent: number;
  weight: number;
  readyTimeoutMs: number;
  /** Longest a request may stay unanswered before the child is killed (RequestTimeout; default per stage). */
  requestTimeoutMs?: number;
  /** Longest response line accepted (default MAX_RESPONSE_LINE_BYTES). */
  maxLineBytes?: number;
}

/** The RequestTimeout a block gets when it does not set one, in milliseconds. */
export function defaultRequestTimeoutMs(stage: Stage): number {
  return parseGoDuration(EXT_PROVER_REQUEST_TIMEOUT_DEFAULT[blockName(stage)]) ?? 0;
}

const RANGE_MS = {
  min: parseGoDuration(EXT_PROVER_REQUEST_TIMEOUT_RANGE.min) ?? 0,
  max: parseGoDuration(EXT_PROVER_REQUEST_TIMEOUT_RANGE.max) ?? 0,
};

/** RequestTimeout of a block, refused with file:line:key when it is out of range. */
function requestTimeoutOf(stage: Stage, index: number, b: ExtProverBlock): number {
  const ms = b.RequestTimeoutMs ?? defaultRequestTimeoutMs(stage);
  if (Number.isFinite(ms) && ms >= RANGE_MS.min && ms <= RANGE_MS.max) return ms;
  const where = `${EXT_PROVER_CFG}${b.line !== undefined ? `:${b.line}` : ""}: ${blockName(stage)}[${index}].RequestTimeout`;
  throw new SmError(
    "CONFIG_INVALID",
    `${where}: ${formatGoDuration(ms)} is out of range; write a duration from ${EXT_PROVER_REQUEST_TIMEOUT_RANGE.min} to ${EXT_PROVER_REQUEST_TIMEOUT_RANGE.max}, at least the longest proof this child computes (default ${EXT_PROVER_REQUEST_TIMEOUT_DEFAULT[blockName(stage)]})`,
    { key: "RequestTimeout", line: b.line },
  );
}

export function specFromBlock(stage: Stage, index: number, b: ExtProverBlock): ChildSpec {
  const own = b.Bin === undefined;
  return {
    stage,
    index,
    bin: own ? process.execPath : (b.Bin ?? ""),
    args: own ? [cliEntry(), stage === "window_post" ? "wdpost" : "winpost"] : [...b.Args],
    envs: { ...b.Envs },
    concurrent: b.Concurrent,
    weight: b.Weight,
    readyTimeoutMs: b.ReadyTimeoutSecs * 1000,
    requestTimeoutMs: requestTimeoutOf(stage, index, b),
  };
}

export function specsFromConfig(cfg: ExtProverConfig, stage: Stage): ChildSpec[] {
  const blocks = stage === "window_post" ? cfg.WdPost : cfg.WinPost;
  return blocks.map((b, i) => specFromBlock(stage, i, b));
}
