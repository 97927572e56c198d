/** Error codes of the provers: the worker-thread pool, the vanilla prover and the ext-prover children. */

export const PROVER_ERROR_CODES = [
  /** The built-in prover failed on one sector for a reason that is not a proof error. */
  "PROVER_FAILED",
  /** A task submitted to, or queued in, a worker pool that is shut down. */
  "PROVER_POOL_CLOSED",
  /** A worker-thread task threw something that is not an SmError. */
  "PROVER_TASK_FAILED",
  /** A worker thread was asked for a task it does not have. */
  "PROVER_UNKNOWN_TASK",
  /** A worker thread died with tasks in flight. */
  "PROVER_WORKER_DIED",
  /** A strict sector probe (check) failed. */
  "SECTOR_PROBE_FAILED",
  /** A line from an ext-prover child that breaks the damocles processor protocol. */
  "EXT_PROTOCOL",
  /** An ext-prover child answered with a line over the size limit of one response. */
  "EXT_PROVER_BAD_RESPONSE",
  /** An ext-prover child exited with the request in flight: retried on another child. */
  "EXT_PROVER_CHILD_EXITED",
  /** A request to an ext-prover pool that is shut down. */
  "EXT_PROVER_CLOSED",
  /** No ext-prover child of a stage became ready at start. */
  "EXT_PROVER_NONE_READY",
  /** An ext-prover child could not be started or did not become ready. */
  "EXT_PROVER_NOT_READY",
  /** ext-prover.cfg has no block for the stage asked for. */
  "EXT_PROVER_NO_CHILDREN",
  /** An ext-prover child reported that a task failed. */
  "EXT_PROVER_TASK_FAILED",
  /** A request to an ext-prover child that is not running. */
  "EXT_PROVER_UNAVAILABLE",
  /** --ext-prover without an ext-prover.cfg in the home. */
  "EXT_PROVER_CONFIG_MISSING",
  /** --ext-prover with an ext-prover.cfg that has no [[WdPost]] or [[WinPost]] block. */
  "EXT_PROVER_NO_BLOCKS",
  /** An ext-prover reload asked of a node that runs without --ext-prover. */
  "EXT_PROVER_OFF",
] as const;
export type ProverErrorCode = (typeof PROVER_ERROR_CODES)[number];

declare module "../util/errors.js" {
  interface ErrorCodes extends Record<ProverErrorCode, "prover"> {}
}
