/**
 * Progress of a long CLI job: on a terminal, one line on stderr rewritten in place (count, percent,
 * rate, ETA) at most 5 times a second; otherwise (a log file, CI) an INFO log line every 5 seconds,
 * so a log is not flooded and a stuck job still shows where it stopped.
 */
import type { Logger } from "../log/logger.js";

export interface Progress {
  /** `done` items of the total so far; `final` prints the last state and ends the terminal line. */
  update(done: number, final?: boolean): void;
}

/** `what` names the items ("records", "sectors"); `message` is the log line's message. */
export function progressReporter(total: number, log: Logger, what: string, message: string): Progress {
  const started = Date.now();
  const tty = process.stderr.isTTY === true;
  let last = 0;
  return {
    update(done: number, final = false) {
      const now = Date.now();
      if (!final && now - last < (tty ? 200 : 5000)) return;
      last = now;
      const secs = (now - started) / 1000;
      const rate = secs > 0 ? done / secs : 0;
      const eta = rate > 0 ? Math.ceil((total - done) / rate) : undefined;
      const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
      if (tty) {
        process.stderr.write(
          `\r  ${done}/${total} ${what} (${pct}%), ${Math.round(rate)}/s${eta !== undefined && !final ? `, ETA ${eta}s` : ""}   ${final ? "\n" : ""}`,
        );
      } else if (!final) {
        log.info(message, { done, total, percent: pct, per_second: Math.round(rate), eta_s: eta });
      }
    },
  };
}
