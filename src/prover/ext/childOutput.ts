/**
 * Reading what an ext-prover child prints besides its responses: stderr lines relayed into our log,
 * and the request id at the head of a stdout line too long to parse. Nothing here may throw on
 * anything a child prints (child.ts calls these from its stream handlers).
 */
import type { Logger } from "../../log/logger.js";

/** A response line's id, read from the first bytes of a line too long to parse (`{"id":12,...`). */
export function leadingId(head: Buffer): number | undefined {
  const m = /^\s*\{\s*"id"\s*:\s*(\d{1,15})\s*[,}]/.exec(head.toString("latin1"));
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/**
 * A child's stderr line into our log, tagged with its pid and block. A line in our own console format
 * (timestamp, LEVEL, rest) keeps the child's level and drops its timestamp; anything else (a Rust
 * processor's tracing output) is logged at info as it is.
 */
export function relayStderr(log: Logger, raw: string): void {
  const line = raw.length > 4000 ? `${raw.slice(0, 4000)}…` : raw;
  if (line.trim() === "") return;
  const m = /^\S+\t(DEBUG|INFO|WARN|ERROR)\t(.*)$/.exec(line);
  const level = (m?.[1]?.toLowerCase() ?? "info") as "debug" | "info" | "warn" | "error";
  log[level](m?.[2] ?? line);
}
