/**
 * What every command needs from the process: the home, a logger from the global flags and env, and
 * one way to fail (one line on stderr naming what is wrong and how to mend it, non-zero exit).
 */
import type { Command } from "commander";
import { ConfigError } from "../config/load.js";
import { resolveHome } from "../daemon/home.js";
import {
  createLogger,
  type LogFormat,
  type Logger,
  type LogLevel,
  parseGoLogLevel,
  parseLogFormat,
  parseLogLevel,
} from "../log/logger.js";
import { errorMessage, SmError } from "../util/errors.js";

export interface GlobalOptions {
  home?: string;
  logLevel?: string;
  logFormat?: string;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

export function homeOf(cmd: Command): string {
  return resolveHome(globals(cmd).home);
}

/**
 * The global --log-level / --log-format (or their env) checked before any command runs, so a typo is
 * refused the same way by every command, also those that never log. Throws FLAG_INVALID.
 */
export function checkLogFlags(cmd: Command): void {
  logSettings(cmd);
}

export function loggerOf(cmd: Command): Logger {
  const { level, format, unread } = logSettings(cmd);
  const logger = createLogger({ level, format });
  for (const [name, value] of unread)
    logger.warn(
      `${name} is not something this node can read; using ${name === "GOLOG_LOG_LEVEL" ? "info (set --log-level or VSM_LOG_LEVEL)" : "console lines (set --log-format or VSM_LOG_FORMAT)"}`,
      { [name]: value },
    );
  return logger;
}

function logSettings(cmd: Command): { level: LogLevel; format: LogFormat; unread: [string, string][] } {
  const g = globals(cmd);
  const env = process.env;
  // Our own flag and env are checked strictly; go-log's variables, set for Lotus on many machines,
  // are read as go-log reads them, and one we cannot read is a warning, never a refusal.
  const ownLevel = g.logLevel ?? env.VSM_LOG_LEVEL;
  let level: LogLevel | undefined;
  let goLevelUnread: string | undefined;
  if (ownLevel !== undefined) {
    level = parseLogLevel(ownLevel);
    if (!level)
      throw new SmError(
        "FLAG_INVALID",
        `${g.logLevel !== undefined ? "--log-level" : "VSM_LOG_LEVEL"} ${JSON.stringify(ownLevel)} is not a log level; use one of debug, info, warn, error`,
      );
  } else if (env.GOLOG_LOG_LEVEL !== undefined) {
    level = parseGoLogLevel(env.GOLOG_LOG_LEVEL);
    if (!level) goLevelUnread = env.GOLOG_LOG_LEVEL;
  }
  const ownFormat = g.logFormat ?? env.VSM_LOG_FORMAT;
  let format: LogFormat | undefined;
  let goFormatUnread: string | undefined;
  if (ownFormat !== undefined) {
    format = parseLogFormat(ownFormat);
    if (!format)
      throw new SmError(
        "FLAG_INVALID",
        `${g.logFormat !== undefined ? "--log-format" : "VSM_LOG_FORMAT"} ${JSON.stringify(ownFormat)} is not a log format; use console or json`,
      );
  } else if (env.GOLOG_LOG_FMT !== undefined) {
    format = parseLogFormat(env.GOLOG_LOG_FMT);
    if (!format) goFormatUnread = env.GOLOG_LOG_FMT;
  }
  const unread: [string, string][] = [];
  if (goLevelUnread !== undefined) unread.push(["GOLOG_LOG_LEVEL", goLevelUnread]);
  if (goFormatUnread !== undefined) unread.push(["GOLOG_LOG_FMT", goFormatUnread]);
  return { level: level ?? "info", format: format ?? "console", unread };
}

/** Print a failure the way every command does and set a non-zero exit code. */
export function reportFailure(e: unknown): void {
  if (e instanceof ConfigError && e.problems.length > 1) {
    process.stderr.write(`error: ${e.problems.length} problems in the config:\n`);
    for (const p of e.problems) process.stderr.write(`  ${p}\n`);
  } else if (e instanceof SmError) {
    process.stderr.write(`error: ${e.message}\n`);
  } else {
    process.stderr.write(`error: ${errorMessage(e)}\n`);
    if (process.env.VSM_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  }
  process.exitCode = 1;
}

/** Wrap a command action so that any failure is reported in one place. */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      reportFailure(e);
    }
  };
}

/** Miner as `1000`, `f01000` or `t01000` → actor id. */
export function parseMinerArg(v: string): number {
  const m = /^(?:[ft]0)?(\d{1,19})$/.exec(v.trim());
  const n = m ? Number(m[1]) : Number.NaN;
  if (!Number.isSafeInteger(n))
    throw new SmError(
      "FLAG_INVALID",
      `miner ${JSON.stringify(v)} is not an actor id; write 1000, f01000 or t01000`,
    );
  return n;
}

export function parseUintArg(v: string, what: string): number {
  const n = /^\d{1,19}$/.test(v.trim()) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n))
    throw new SmError("FLAG_INVALID", `${what} ${JSON.stringify(v)} is not a non-negative integer`);
  return n;
}
