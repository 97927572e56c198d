/**
 * Errors with stable codes.
 *
 * Every error the product raises on purpose is an `SmError`: it carries a code (stable across versions,
 * safe to match on), a message written for the operator (what is wrong and how to mend it), and optional
 * structured fields. `toJSON`/`fromJSON` let an error cross a process or JSON-RPC boundary intact.
 */

export type ErrorFields = Record<string, unknown>;

export class SmError extends Error {
  override name = "SmError";
  readonly code: string;
  readonly fields: ErrorFields;

  constructor(code: string, message: string, fields: ErrorFields = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.fields = fields;
  }

  toJSON(): { code: string; message: string; fields: ErrorFields } {
    return { code: this.code, message: this.message, fields: this.fields };
  }

  static fromJSON(value: unknown): SmError {
    if (typeof value === "object" && value !== null) {
      const v = value as Record<string, unknown>;
      const code = typeof v.code === "string" ? v.code : "UNKNOWN";
      const message = typeof v.message === "string" ? v.message : "unknown error";
      const fields = typeof v.fields === "object" && v.fields !== null ? (v.fields as ErrorFields) : {};
      return new SmError(code, message, fields);
    }
    return new SmError("UNKNOWN", String(value));
  }
}

/** Raised when work is cancelled through an AbortSignal. */
export class AbortedError extends SmError {
  override name = "AbortedError";
  constructor(message = "operation aborted", fields: ErrorFields = {}) {
    super("ABORTED", message, fields);
  }
}

/** Raised when an operation exceeds its time budget. */
export class TimeoutError extends SmError {
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
