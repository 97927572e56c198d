/**
 * Warnings that repeat word for word (a chain node refusing a call at every head, a gateway down for
 * hours) are logged once per window per subject; the next one logged says how many were left out.
 */
import type { LogFields, Logger } from "./logger.js";

export class RepeatedWarnings<S> {
  readonly #last = new Map<S, { key: string; loggedAt: number; hidden: number }>();

  constructor(
    private readonly log: Logger,
    /** How long an identical warning about one subject stays quiet. */
    private readonly windowMs: number,
  ) {}

  /** `msg` about `subject` with `err` (compared too; "" for none), unless logged within the window. */
  warn(subject: S, msg: string, err: string, fields: LogFields = {}): void {
    const key = `${msg}\n${err}`;
    const now = Date.now();
    const last = this.#last.get(subject);
    if (last !== undefined && last.key === key && now - last.loggedAt < this.windowMs) {
      last.hidden++;
      return;
    }
    const hidden = last !== undefined && last.key === key ? last.hidden : 0;
    this.#last.set(subject, { key, loggedAt: now, hidden: 0 });
    this.log.warn(msg, {
      ...fields,
      ...(err === "" ? {} : { err }),
      ...(hidden > 0
        ? { repeated: hidden, repeated_in_s: Math.round((now - (last?.loggedAt ?? now)) / 1000) }
        : {}),
    });
  }

  /** The subject is well again: the next warning about it is logged at once. Whether one was held. */
  clear(subject: S): boolean {
    return this.#last.delete(subject);
  }
}
