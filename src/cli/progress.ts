/**
 * Progress of a long command on stderr (stdout stays the command's result, `--json` included): on a
 * terminal one line rewritten in place; otherwise an info log line at most every 5 s, so a command
 * that works through a million sectors is never silent and never floods a log.
 */
import type { Logger } from "../log/logger.js";

export interface ProgressReporter {
  /** `done` of the total so far; `final` prints the last figure (on a terminal) whatever the time. */
  update(done: number, final?: boolean): void;
}

/** `what` names the work ("copying the sector index"), `unit` what is counted ("records"). */
export function progressReporter(
  total: number,
  log: Logger,
  what: string,
  unit = "records",
): ProgressReporter {
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
          `\r  ${done}/${total} ${unit} (${pct}%), ${Math.round(rate)}/s${eta !== undefined && !final ? `, ETA ${eta}s` : ""}: ${what}   ${final ? "\n" : ""}`,
        );
      } else if (!final) {
        log.info(what, { done, total, percent: pct, per_second: Math.round(rate), eta_s: eta });
      }
    },
  };
}
