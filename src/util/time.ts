import { TimeoutError } from "./errors.js";

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
