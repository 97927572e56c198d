/**
 * `venus-sector-manager wdpost` / `winpost`: the built-in ext-prover processors. A supervisor (ours
 * with `--ext-prover`, or damocles-manager) starts them and speaks the stdio protocol; logs go to
 * stderr, which the supervisor relays.
 */
import type { Command } from "commander";
import { SUPERVISED_ENV } from "../../prover/ext/child.js";
import { MIN_PROOF_TIME_ENV, withMinProofTime } from "../../prover/minProofTime.js";
import { runProcessor } from "../../prover/processor.js";
import type { Stage } from "../../prover/protocol.js";
import { createVanillaProver } from "../../prover/vanillaProver.js";
import { createWorkerPool } from "../../prover/workerPool.js";
import { action, loggerOf, parseUintArg } from "../context.js";

function register(program: Command, name: string, stage: Stage, what: string): void {
  program
    .command(name)
    .description(`${what} processor child (ext-prover stdio protocol; vanilla proofs, no SNARK)`)
    .option("--threads <n>", "hashing threads (env VSM_PROVER_THREADS; default: all cores)")
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        const log = loggerOf(cmd).named("processor-cmd");
        const raw = (opts.threads as string | undefined) ?? process.env.VSM_PROVER_THREADS;
        const threads = raw !== undefined ? parseUintArg(raw, "--threads") : undefined;
        // A floor on each proof's time (demos and benchmarks on small sectors; minProofTime.ts).
        const rawMin = process.env[MIN_PROOF_TIME_ENV]?.trim();
        const minMs = rawMin ? parseUintArg(rawMin, MIN_PROOF_TIME_ENV) : 0;
        const pool = createWorkerPool("processor", { threads, logger: log });
        log.info("processor starting", {
          proc: name,
          stage,
          threads: pool.size,
          cuda_visible_devices: process.env.CUDA_VISIBLE_DEVICES ?? null,
          tmpdir: process.env.TMPDIR ?? null,
          ...(minMs > 0 ? { min_proof_ms: minMs } : {}),
        });
        try {
          await runProcessor({
            stage,
            input: process.stdin,
            output: process.stdout,
            logger: log,
            prove: withMinProofTime(createVanillaProver(stage, pool, log), minMs),
            // Our daemon logs the ready line of each child itself; damocles-manager does not.
            logReady: process.env[SUPERVISED_ENV] !== "1",
          });
        } finally {
          await pool.close();
        }
        // In-flight work was aborted at EOF; do not wait for it.
        process.exit(0);
      }),
    );
}

export function registerProcessors(program: Command): void {
  register(program, "wdpost", "window_post", "WindowPoSt");
  register(program, "winpost", "winning_post", "WinningPoSt");
}
