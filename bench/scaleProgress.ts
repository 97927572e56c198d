/**
 * Progress and small statistics for bench/scale.ts. On a terminal one line is rewritten in place; in
 * a log (CI, `| tee`) a line is printed at most every few seconds, so a long run is never silent and
 * never floods the log.
 */
import fs from "node:fs";
import { performance } from "node:perf_hooks";

const LOG_EVERY_MS = 5000;
const TTY_EVERY_MS = 200;

export interface Progress {
  /** `done` of `total` so far; prints when due. */
  tick(done: number): void;
  /** The final figure, always printed. */
  end(note?: string): void;
}

export function progress(label: string, total: number): Progress {
  const tty = process.stderr.isTTY === true;
  const started = performance.now();
  let last = started;
  let printed = -1;
  const line = (done: number) => {
    const s = (performance.now() - started) / 1000;
    const rate = s > 0 ? Math.round(done / s) : 0;
    return `${label}: ${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")} (${((100 * done) / total).toFixed(0)}%, ${rate.toLocaleString("en-US")}/s, ${s.toFixed(1)} s)`;
  };
  return {
    tick(done) {
      const now = performance.now();
      if (now - last < (tty ? TTY_EVERY_MS : LOG_EVERY_MS)) return;
      last = now;
      printed = done;
      if (tty) process.stderr.write(`\r${line(done)}\x1b[K`);
      else process.stderr.write(`${line(done)}\n`);
    },
    end(note) {
      if (!tty && printed === total && note === undefined) return;
      const text = `${line(total)}${note ? ` ${note}` : ""}`;
      process.stderr.write(tty ? `\r${text}\x1b[K\n` : `${text}\n`);
    },
  };
}

/** The q-quantile (0..1) of `xs` by nearest rank; NaN for none. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
}

/** Peak resident set of this process so far, MiB (the kernel's high-water mark). */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Peak and current resident set of another process, MiB, from /proc (Linux). */
export function procRssMb(pid: number): { peak: number; now: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { peak: kb("VmHWM") / 1024, now: kb("VmRSS") / 1024 };
}

/** Bytes the files under `dir` take on disk (allocated blocks, so sparse files count what they use). */
export function diskBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) total += diskBytes(p);
    else if (e.isFile()) total += fs.statSync(p).blocks * 512;
  }
  return total;
}
