/**
 * ext-prover.cfg blocks → child specs. Without `Bin` the child is this program's own processor
 * (`venus-sector-manager wdpost` / `winpost`, run with the same Node); with `Bin`, `Args` are passed
 * verbatim (damocles does not append the stage either).
 */
import type { ExtProverBlock, ExtProverConfig } from "../../config/types.js";
import { cliEntry } from "../../util/childProcess.js";
import type { Stage } from "../protocol.js";
import type { ChildSpec } from "./child.js";

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
  };
}

export function specsFromConfig(cfg: ExtProverConfig, stage: Stage): ChildSpec[] {
  const blocks = stage === "window_post" ? cfg.WdPost : cfg.WinPost;
  return blocks.map((b, i) => specFromBlock(stage, i, b));
}
