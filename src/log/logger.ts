/**
 * Logging.
 *
 * Two formats:
 * - `console` (default): the zap console line that venus-sector-manager prints and the seed quotes,
 *   `2022-04-27T19:15:00.441+0800	INFO	ext-prover	prover/extProver.ts:122	ready	{"pid": 24764, "ppid": 24732}`
 *   (tab-separated: local time with offset, LEVEL, subsystem, caller file:line, message, JSON fields);
 * - `json`: one JSON object per line with zap's keys (`level`, `ts`, `logger`, `caller`, `msg`, fields).
 *
 * Policy: `error` = something failed that an operator must act on; `warn` = degraded but working;
 * `info` = lifecycle and per-deadline progress; `debug` = per-request detail. Fields are structured
 * (`{"miner": 1000}`), never interpolated into the message; tokens and secrets are never logged.
 *
 * The caller (`file:line`) is taken from a stack trace only for lines that are actually written.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "console" | "json";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger for another subsystem (`poster`, `ext-prover`, ...), optionally with fixed fields. */
  named(subsystem: string, fields?: LogFields): Logger;
  /** Same subsystem, more fixed fields. */
  with(fields: LogFields): Logger;
  isEnabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go; default: process.stderr. Each call receives one full line ending in "\n". */
  sink?: (line: string) => void;
  /** Disable caller capture (tests of exact output). */
  caller?: boolean;
}

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
export const LOG_FORMATS: readonly LogFormat[] = ["console", "json"];

export function parseLogLevel(v: string): LogLevel | undefined {
  const s = v.trim().toLowerCase();
  if (s === "warning") return "warn";
  return (LOG_LEVELS as readonly string[]).includes(s) ? (s as LogLevel) : undefined;
}

/**
 * go-log's GOLOG_LOG_LEVEL, which Filecoin operators often have set for Lotus: a default level, then
 * optional `subsystem=level` entries (`info,chain=debug`), and zap's dpanic/panic/fatal. We take the
 * default level (the first entry without `=`); the fatal family is `error` here. Undefined when no
 * level can be read from it.
 */
export function parseGoLogLevel(v: string): LogLevel | undefined {
  const first = v
    .split(",")
    .map((e) => e.trim())
    .find((e) => e !== "" && !e.includes("="));
  if (first === undefined) return undefined;
  const s = first.toLowerCase();
  if (s === "dpanic" || s === "panic" || s === "fatal") return "error";
  return parseLogLevel(s);
}

export function parseLogFormat(v: string): LogFormat | undefined {
  const s = v.trim().toLowerCase();
  if (s === "json") return "json";
  // go-log's GOLOG_LOG_FMT values: "color", "nocolor" are both console lines for us.
  if (s === "console" || s === "nocolor" || s === "color") return "console";
  return undefined;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** `2022-04-27T19:15:00.441+0800`: local time, milliseconds, numeric offset without a colon (zap). */
export function formatTimestamp(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const abs = Math.abs(off);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
    `T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
  );
}

function jsonValue(v: unknown): string {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Error) return JSON.stringify(v.message);
  if (v === undefined) return "null";
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x)) ?? "null";
  } catch {
    return JSON.stringify(String(v));
  }
}

/** `{"pid": 24764, "ppid": 24732, "loop": "resp"}` — zap's console field layout. */
export function formatFields(fields: LogFields): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(`${JSON.stringify(k)}: ${jsonValue(v)}`);
  return `{${parts.join(", ")}}`;
}

const SELF_MARKER = /[/\\]log[/\\]logger\.(ts|js)/;

/** `daemon/node.ts:42` from the first stack frame outside this file. */
function captureCaller(): string {
  const holder: { stack?: string } = {};
  const prev = Error.stackTraceLimit;
  Error.stackTraceLimit = 6;
  Error.captureStackTrace(holder);
  Error.stackTraceLimit = prev;
  const lines = (holder.stack ?? "").split("\n").slice(1);
  for (const line of lines) {
    if (SELF_MARKER.test(line)) continue;
    const m = /\(?((?:file:\/\/)?[^()\s]+):(\d+):\d+\)?\s*$/.exec(line);
    if (!m) continue;
    let file = (m[1] ?? "").replace(/^file:\/\//, "");
    const idx = Math.max(file.lastIndexOf("/src/"), file.lastIndexOf("/dist/"));
    if (idx >= 0) file = file.slice(file.indexOf("/", idx + 1) + 1);
    else file = file.split("/").slice(-2).join("/");
    return `${file}:${m[2]}`;
  }
  return "?";
}

class LoggerImpl implements Logger {
  constructor(
    private readonly opts: Required<LoggerOptions>,
    private readonly subsystem: string,
    private readonly fixed: LogFields,
  ) {}

  isEnabled(level: LogLevel): boolean {
    return LEVEL_RANK[level] >= LEVEL_RANK[this.opts.level];
  }

  private write(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.isEnabled(level)) return;
    const all = fields ? { ...this.fixed, ...fields } : this.fixed;
    const caller = this.opts.caller ? captureCaller() : "-";
    const ts = formatTimestamp(new Date());
    let line: string;
    if (this.opts.format === "json") {
      const obj: Record<string, unknown> = { level, ts, logger: this.subsystem, caller, msg };
      // A field named like a built-in key is kept under "_<name>" rather than overwriting it.
      for (const [k, v] of Object.entries(all))
        obj[k in obj ? `_${k}` : k] = v instanceof Error ? v.message : v;
      line = jsonValue(obj);
    } else {
      line = `${ts}\t${level.toUpperCase()}\t${this.subsystem}\t${caller}\t${msg}`;
      if (Object.keys(all).length > 0) line += `\t${formatFields(all)}`;
    }
    this.opts.sink(`${line}\n`);
  }

  debug(msg: string, fields?: LogFields): void {
    this.write("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.write("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.write("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.write("error", msg, fields);
  }
  named(subsystem: string, fields: LogFields = {}): Logger {
    return new LoggerImpl(this.opts, subsystem, { ...this.fixed, ...fields });
  }
  with(fields: LogFields): Logger {
    return new LoggerImpl(this.opts, this.subsystem, { ...this.fixed, ...fields });
  }
}

export function createLogger(opts: LoggerOptions, subsystem = "vsm"): Logger {
  const full: Required<LoggerOptions> = {
    level: opts.level,
    format: opts.format,
    sink: opts.sink ?? ((line: string) => process.stderr.write(line)),
    caller: opts.caller ?? true,
  };
  return new LoggerImpl(full, subsystem, {});
}

/** A logger that drops everything (library use, tests that do not look at logs). */
export const nullLogger: Logger = createLogger({
  level: "error",
  format: "console",
  sink: () => {},
  caller: false,
});

/** Lines captured in memory, for tests that assert on what an operator would see. */
export function memoryLogger(level: LogLevel = "debug"): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level, format: "json", sink: (l) => lines.push(l), caller: false });
  return { logger, lines };
}
