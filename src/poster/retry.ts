/**
 * Retrying what may pass: a chain node, the proxy's source or a prover failing for a while must not
 * cost a deadline, but a task that can never succeed must not be retried until Close either.
 */
import type { Logger } from "../log/logger.js";
import { errorMessage, SmError } from "../util/errors.js";

/** Failures that may pass: a node or the proxy's source restarting, a timeout. */
const TRANSIENT = new Set(["CHAIN_UNREACHABLE", "SECTORS_SOURCE_UNAVAILABLE", "RPC_UNREACHABLE", "TIMEOUT"]);

export const isTransient = (e: unknown): boolean => e instanceof SmError && TRANSIENT.has(e.code);

/**
 * Prover failures that fail the same way however often they are tried: a task the prover cannot take
 * (unknown proof type, unmasked seed), a bug on our side, a prover shutting down with the node.
 */
const PROVER_PERMANENT = new Set([
  "PROOF_UNKNOWN_TYPE",
  "PROOF_BAD_RANDOMNESS",
  "POSTER_INTERNAL",
  "EXT_PROVER_CLOSED",
  "PROVER_POOL_CLOSED",
]);

/**
 * Whether a failed prover call is worth another try. Sector faults never get here (the prover returns
 * them in `faults`), so a rejection is about the prover: a child that died with the task in flight
 * (EXT_PROVER_CHILD_EXITED), a worker thread that died, a task failure reported by a child (a GPU
 * error, an out-of-memory kill, and a damocles processor's error text carries no code to tell them
 * apart), a timeout. Trying again costs prover time; not trying costs the partition.
 */
export const isRetryableProverFailure = (e: unknown): boolean =>
  e instanceof SmError && !PROVER_PERMANENT.has(e.code);

/**
 * Retry `fn` while it fails with an error `retryable` accepts (default: transient, as a node or the
 * proxy's source restarting), with backoff (0.5 s doubling to 5 s), until `signal` aborts: a source
 * node, chain node or prover failing mid-deadline must not cost the deadline.
 */
export async function retryTransient<T>(
  what: string,
  fn: () => Promise<T>,
  signal: AbortSignal,
  log: Logger,
  retryable: (e: unknown) => boolean = isTransient,
): Promise<T> {
  for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await fn();
    } catch (e) {
      if (signal.aborted || !retryable(e)) throw e;
      log.warn(`${what} failed; retrying`, { err: errorMessage(e), retry_ms: delay });
      await pause(delay, signal);
    }
  }
}

/** Wait `ms`, or less when `signal` aborts; then throw if it has. */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
  signal.throwIfAborted();
}
