/**
 * Errors with stable codes.
 *
 * Every error the product raises on purpose is an `SmError`: it carries a code (stable across versions,
 * safe to match on), a message written for the operator (what is wrong and how to mend it), and optional
 * structured fields. `toJSON`/`fromJSON` let an error cross a process or JSON-RPC boundary intact.
 *
 * Codes are typed. Each domain lists its codes in its own errors module (`src/<domain>/errors.ts`,
 * `proofs/proofErrors.ts`) as an `as const` list and adds them to `ErrorCodes` below by module
 * augmentation. This file is the bottom layer and may name no domain, yet `ErrorCode` is the union of
 * every domain's codes: a code no domain declares does not compile (`new SmError("TYPO", ...)`,
 * `err.code === "TYPO"`), and a code declared by two domains does not compile either (the two
 * declarations give it different domain names). `rpc/errors.ts` holds the one runtime table of all
 * codes, which its type forces to be complete, and `isErrorCode` there is the guard for a code read
 * from another process.
 */

/** Codes of this layer: cancellation, time budgets, child processes of this CLI, the shared codecs. */
export const UTIL_ERROR_CODES = [
  /** Work was cancelled through its AbortSignal (shutdown, the deadline closed, the caller went away). */
  "ABORTED",
  /** An operation ran out of its time budget. */
  "TIMEOUT",
  /** An error from another process that carried no code, or one this version does not know (`fromJSON`). */
  "UNKNOWN",
  /** A child process of this CLI exited before it answered. */
  "PROCESS_EXITED",
  /** A varint that is truncated, not minimal or too large (the default of util/varint.ts). */
  "VARINT_INVALID",
  /** A base32 string of the wrong length, alphabet or padding bits (the default of util/base32.ts). */
  "BASE32_INVALID",
] as const;
export type UtilErrorCode = (typeof UTIL_ERROR_CODES)[number];

/**
 * Every error code, mapped to the domain that declares it. Each domain extends this interface from
 * its errors module (`declare module "../util/errors.js" { interface ErrorCodes extends
 * Record<XErrorCode, "x"> {} }`); the names are the codes, the values only tell the domains apart so
 * that a code declared twice is a type error (TS2320, reported on this line).
 */
export interface ErrorCodes extends Record<UtilErrorCode, "util"> {}

/** Any declared error code: the union of every domain's list. */
export type ErrorCode = keyof ErrorCodes & string;

export type ErrorFields = Record<string, unknown>;

export class SmError<C extends ErrorCode = ErrorCode> extends Error {
  override name = "SmError";
  readonly code: C;
  readonly fields: ErrorFields;

  constructor(code: C, message: string, fields: ErrorFields = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.fields = fields;
  }

  toJSON(): { code: C; message: string; fields: ErrorFields } {
    return { code: this.code, message: this.message, fields: this.fields };
  }

  /**
   * The error another process sent as `toJSON`. Its code is a string until `isCode` (rpc/errors.ts
   * `isErrorCode`; this layer cannot list the domains' codes) accepts it: a code this version does not
   * declare becomes UNKNOWN, with the code as sent kept in `fields.unknownCode` for the log.
   */
  static fromJSON(value: unknown, isCode: (code: string) => code is ErrorCode): SmError {
    if (typeof value === "object" && value !== null) {
      const v = value as Record<string, unknown>;
      const message = typeof v.message === "string" ? v.message : "unknown error";
      const fields = typeof v.fields === "object" && v.fields !== null ? (v.fields as ErrorFields) : {};
      if (typeof v.code !== "string") return new SmError("UNKNOWN", message, fields);
      if (!isCode(v.code)) return new SmError("UNKNOWN", message, { ...fields, unknownCode: v.code });
      return new SmError(v.code, message, fields);
    }
    return new SmError("UNKNOWN", String(value));
  }
}

/** Raised when work is cancelled through an AbortSignal. */
export class AbortedError extends SmError<"ABORTED"> {
  override name = "AbortedError";
  constructor(message = "operation aborted", fields: ErrorFields = {}) {
    super("ABORTED", message, fields);
  }
}

/** Raised when an operation exceeds its time budget. */
export class TimeoutError extends SmError<"TIMEOUT"> {
  override name = "TimeoutError";
  constructor(message: string, fields: ErrorFields = {}) {
    super("TIMEOUT", message, fields);
  }
}

/** The error to reject with when `signal` fires: its reason if that is one of ours, else an AbortedError. */
export function abortError(signal: AbortSignal | undefined, message: string): SmError {
  const r: unknown = signal?.reason;
  return r instanceof SmError ? r : new AbortedError(message);
}

/** Message of any thrown value, for logs and one-line CLI errors. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Node system error code (ENOENT, ECONNREFUSED, ...) if the value carries one. */
export function sysCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const c = (err as { code: unknown }).code;
    if (typeof c === "string") return c;
  }
  return undefined;
}
