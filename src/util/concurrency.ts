import { abortError } from "./errors.js";

/**
 * Run `fn` over `items` with at most `limit` calls in flight, keeping results in input order.
 * Used wherever many files or RPCs are touched (attach scans, sector checks) so that a store with
 * 100k sectors neither serialises nor opens 100k descriptors at once.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const width = Math.max(1, Math.min(limit, items.length));
  const workers: Promise<void>[] = [];
  for (let w = 0; w < width; w++) {
    workers.push(
      (async () => {
        for (;;) {
          const i = next++;
          if (i >= items.length) return;
          results[i] = await fn(items[i] as T, i);
        }
      })(),
    );
  }
  await Promise.all(workers);
  return results;
}

/**
 * At most `limit` calls of the returned function run at once; the others wait in arrival order. A
 * call whose signal has aborted, or aborts while it waits, never runs: it is rejected with the
 * signal's reason when that is an SmError, else with ABORTED.
 */
export function limitInFlight(limit: number): <T>(fn: () => Promise<T>, signal?: AbortSignal) => Promise<T> {
  let running = 0;
  const waiting: { go: () => void }[] = [];
  const release = () => {
    running--;
    waiting.shift()?.go();
  };
  return async <T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> => {
    if (signal?.aborted) throw abortError(signal, "aborted before it started");
    if (running >= limit) {
      await new Promise<void>((resolve, reject) => {
        const entry = {
          go: () => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          const i = waiting.indexOf(entry);
          if (i >= 0) waiting.splice(i, 1);
          reject(abortError(signal, "waiting for a free slot was aborted"));
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        waiting.push(entry);
      });
    }
    running++;
    try {
      return await fn();
    } finally {
      release();
    }
  };
}
