import { abortError, TimeoutError } from "./errors.js";

/**
 * Settle with `p`, or reject with a TimeoutError after `ms`. The underlying work is not cancelled
 * (a stat on a hung mount cannot be), only no longer waited for.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(message)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * Settle with `p`, or reject when `signal` aborts (with `abortError`). For waits on promises that may
 * never settle once the work is cancelled, such as "submission is allowed" for a deadline that closed.
 */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal, message: string): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal, message));
  let onAbort: () => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(signal, message));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([p, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}

/**
 * The one interruptible wait of the node: every backoff, poll interval and retry delay goes through
 * it, so shutdown (and the end of a deadline run) never waits out a timer. Resolves after `ms`;
 * rejects with `abortError(signal)` as soon as `signal` aborts (at once when it already has).
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal, "wait aborted"));
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortError(signal, "wait aborted"));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
