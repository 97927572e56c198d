/**
 * A floor on the built-in processor's proving time (`VSM_PROVER_MIN_MS`), for demos and benchmarks
 * on small sectors: a 2KiB vanilla proof takes milliseconds where a GPU takes minutes on a 32GiB
 * partition, so without a floor a demo could never show a node holding a task when it dies. The
 * answer is the real proof, given no sooner than `minMs` after the request started; failures are not
 * delayed (a demo must not hide them), and an abort (the parent gone) ends the wait at once.
 */
import { sleep } from "../util/time.js";
import type { StageProver } from "./processor.js";

/** The environment variable of the floor, in milliseconds (read by `vsm wdpost` / `winpost`). */
export const MIN_PROOF_TIME_ENV = "VSM_PROVER_MIN_MS";

/** `prove`, answering no sooner than `minMs` after each call started (0: `prove` itself). */
export function withMinProofTime(prove: StageProver, minMs: number): StageProver {
  if (minMs <= 0) return prove;
  return async (task, signal, priority) => {
    const started = Date.now();
    const out = await prove(task, signal, priority);
    const left = started + minMs - Date.now();
    if (left > 0) await sleep(left, signal);
    return out;
  };
}
