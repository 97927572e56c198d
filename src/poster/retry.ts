/**
 * Retrying what may pass: a chain node, the proxy's source or a prover failing for a while must not
 * cost a deadline, but a task that can never succeed must not be retried until Close either.
 */
import type { Logger } from "../log/logger.js";
import { AbortedError, errorMessage, SmError } from "../util/errors.js";
import { sleep } from "../util/time.js";

/** Failures that may pass: a node or the proxy's source restarting, a timeout. */
const TRANSIENT = new Set(["CHAIN_UNREACHABLE", "SECTORS_SOURCE_UNAVAILABLE", "RPC_UNREACHABLE", "TIMEOUT"]);

export const isTransient = (e: unknown): boolean => e instanceof SmError && TRANSIENT.has(e.code);

/**
 * Chain reads of a deadline are retried whatever the failure: a dropped connection, a timeout, an
 * error the node answered (a Lotus node still syncing, a state lookup on a tipset it has not loaded),
 * an answer of the wrong shape (a proxy's error page, a half-written frame). Each may pass, a read has
 * no side effect, and giving up costs the whole deadline; only the end of the run (Close, a reorg,
 * shutdown) stops the retries.
 */
export const isChainReadRetryable = (e: unknown): boolean => !(e instanceof AbortedError);

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
 * node, chain node or prover failing mid-deadline must not cost the deadline. When the signal stops a
 * retry that has failed, one line says what kept failing and why the run stopped (the deadline closed,
 * a reorg, shutdown), so a deadline lost to a failing read is never silent. `maxAttempts` bounds the
 * tries where nothing is at stake (a dry run): the last failure is then thrown.
 */
export async function retryTransient<T>(
  what: string,
  fn: () => Promise<T>,
  signal: AbortSignal,
  log: Logger,
  retryable: (e: unknown) => boolean = isTransient,
  maxAttempts = Number.POSITIVE_INFINITY,
): Promise<T> {
  let attempts = 0;
  let last: unknown;
  for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await fn();
    } catch (e) {
      if (signal.aborted) {
        if (attempts > 0) gaveUp(what, attempts, last, signal, log);
        throw e;
      }
      if (!retryable(e) || attempts + 1 >= maxAttempts) throw e;
      attempts++;
      last = e;
      log.warn(`${what} failed; retrying`, { err: errorMessage(e), attempt: attempts, retry_ms: delay });
      try {
        await sleep(delay, signal);
      } catch (stop) {
        gaveUp(what, attempts, last, signal, log);
        throw stop;
      }
    }
  }
}

function gaveUp(what: string, attempts: number, last: unknown, signal: AbortSignal, log: Logger): void {
  log.warn(`${what} still failing when the run stopped; given up`, {
    stopped: errorMessage(signal.reason),
    attempts,
    err: errorMessage(last),
  });
}
