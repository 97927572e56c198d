/**
 * Retrying what may pass: a chain node, the proxy's source or a prover failing for a while must not
 * cost a deadline, but a task that can never succeed must not be retried until Close either.
 */
import type { Logger } from "../log/logger.js";
import { type DeclaredErrorCode, isDeclaredErrorCode } from "../rpc/errors.js";
import { AbortedError, type ErrorCode, errorMessage, SmError } from "../util/errors.js";
import { sleep } from "../util/time.js";

/**
 * What a failure is worth to a retry, by its code:
 * - "transient": it may pass by itself (a node or the proxy's source restarting, a timeout), so
 *   every retry tries again;
 * - "permanent": it fails the same way however often it is tried (a task the prover cannot take, a
 *   bug on our side, a prover shutting down with the node), so nothing tries again;
 * - "failure": anything else. The default retry (isTransient) does not try again; the retries that
 *   accept any failure that may pass do (a prover call, isRetryableProverFailure; a chain read,
 *   isChainReadRetryable).
 */
export type RetryClass = "transient" | "permanent" | "failure";

/** The retry class of a code; a peer's `RPC_<n>` error is a plain failure. */
export function retryClassOf(code: ErrorCode): RetryClass {
  return isDeclaredErrorCode(code) ? RETRY[code] : "failure";
}

export const isTransient = (e: unknown): boolean =>
  e instanceof SmError && retryClassOf(e.code) === "transient";

/**
 * Chain reads of a deadline are retried whatever the failure: a dropped connection, a timeout, an
 * error the node answered (a Lotus node still syncing, a state lookup on a tipset it has not loaded),
 * an answer of the wrong shape (a proxy's error page, a half-written frame). Each may pass, a read has
 * no side effect, and giving up costs the whole deadline; only the end of the run (Close, a reorg,
 * shutdown) stops the retries.
 */
export const isChainReadRetryable = (e: unknown): boolean => !(e instanceof AbortedError);

/**
 * Whether a failed prover call is worth another try. Sector faults never get here (the prover returns
 * them in `faults`), so a rejection is about the prover: a child that died with the task in flight
 * (EXT_PROVER_CHILD_EXITED), a worker thread that died, a task failure reported by a child (a GPU
 * error, an out-of-memory kill, and a damocles processor's error text carries no code to tell them
 * apart), a timeout. Trying again costs prover time; not trying costs the partition.
 */
export const isRetryableProverFailure = (e: unknown): boolean =>
  e instanceof SmError && retryClassOf(e.code) !== "permanent";

/**
 * Retry `fn` while it fails with an error `retryable` accepts (default: transient, as a node or the
 * proxy's source restarting), with backoff (0.5 s doubling to 5 s), until `signal` aborts: a source
 * node, chain node or prover failing mid-deadline must not cost the deadline. When the signal stops a
 * retry that has failed, one line says what kept failing and why the run stopped (the deadline closed,
 * a reorg, shutdown), so a deadline lost to a failing read is never silent. `maxAttempts` bounds the
 * tries where nothing is at stake (a dry run): the last failure is then thrown.
 */
export async function retryTransient<T>(
  what: string,
  fn: () => Promise<T>,
  signal: AbortSignal,
  log: Logger,
  retryable: (e: unknown) => boolean = isTransient,
  maxAttempts = Number.POSITIVE_INFINITY,
): Promise<T> {
  let attempts = 0;
  let last: unknown;
  for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await fn();
    } catch (e) {
      if (signal.aborted) {
        if (attempts > 0) gaveUp(what, attempts, last, signal, log);
        throw e;
      }
      if (!retryable(e) || attempts + 1 >= maxAttempts) throw e;
      attempts++;
      last = e;
      log.warn(`${what} failed; retrying`, { err: errorMessage(e), attempt: attempts, retry_ms: delay });
      try {
        await sleep(delay, signal);
      } catch (stop) {
        gaveUp(what, attempts, last, signal, log);
        throw stop;
      }
    }
  }
}

function gaveUp(what: string, attempts: number, last: unknown, signal: AbortSignal, log: Logger): void {
  log.warn(`${what} still failing when the run stopped; given up`, {
    stopped: errorMessage(signal.reason),
    attempts,
    err: errorMessage(last),
  });
}

/**
 * The retry class of every declared code: a new code does not compile until it is placed here.
 * Permanent prover failures: an unknown proof type, an unmasked seed or a malformed job (a task no
 * prover can take),
 * POSTER_INTERNAL (a bug), the pools shut down with the node.
 */
const RETRY: Record<DeclaredErrorCode, RetryClass> = {
  // util
  ABORTED: "failure",
  TIMEOUT: "transient",
  UNKNOWN: "failure",
  PROCESS_EXITED: "failure",
  VARINT_INVALID: "failure",
  BASE32_INVALID: "failure",
  // rpc
  RPC_PERMISSION_DENIED: "failure",
  RPC_UNAUTHENTICATED: "failure",
  RPC_NEEDS_WEBSOCKET: "failure",
  RPC_INVALID_PARAMS: "failure",
  RPC_METHOD_NOT_FOUND: "failure",
  RPC_LISTEN_FAILED: "failure",
  RPC_UNREACHABLE: "transient",
  RPC_BAD_RESPONSE: "failure",
  RPC_ANSWER_TOO_LARGE: "failure",
  // sectors
  SECTORS_READ_ONLY: "failure",
  SECTORS_SOURCE_UNAVAILABLE: "transient",
  SECTORS_INVALID_RECORD: "failure",
  SECTORS_INSTANCE_UNKNOWN: "failure",
  SECTORS_SOURCE_ERROR: "failure",
  SECTORS_SOURCE_REFUSED: "failure",
  SECTORS_BAD_RESPONSE: "failure",
  ATTACH_WOULD_MOVE: "failure",
  ATTACH_BAD_PATH: "failure",
  // miner
  MINER_UNKNOWN: "failure",
  MINER_PROOF_DISABLED: "failure",
  WINNING_POST_SECTOR_NOT_FOUND: "failure",
  WINNING_POST_SECTOR_UNPROVABLE: "failure",
  WINNING_POST_PROVER_FAILED: "failure",
  GATEWAY_EVENT_INVALID: "failure",
  // proofs
  PROOF_FILE_MISSING: "failure",
  PROOF_FILE_SIZE: "failure",
  PROOF_UNREADABLE: "failure",
  PROOF_CORRUPT: "failure",
  PROOF_COMMR_MISMATCH: "failure",
  PROOF_BAD_RANDOMNESS: "permanent",
  PROOF_UNKNOWN_TYPE: "permanent",
  PROOF_BAD_INPUT: "failure",
  PROOF_DECODE: "failure",
  PROOF_SEAL_FAILED: "failure",
  DEVNET_BAD_BUNDLE: "failure",
  // store
  STORE_CORRUPT: "failure",
  STORE_DISK_FULL: "failure",
  STORE_OPEN_FAILED: "failure",
  STORE_READ_FAILED: "failure",
  STORE_WRITE_FAILED: "failure",
  STORE_VERSION_INVALID: "failure",
  STORE_VERSION_MISMATCH: "failure",
  // A database restarting or failing over, or a conflict that outlived its retries, may pass by itself.
  STORE_DB_UNREACHABLE: "transient",
  STORE_DB_CONFLICT: "transient",
  STORE_DB_ERROR: "failure",
  STORE_DB_DSN_INVALID: "failure",
  // cluster: a lost lease or a replaced session never comes back by retrying the same call
  CLUSTER_LEASE_LOST: "failure",
  CLUSTER_SESSION_STALE: "failure",
  CLUSTER_NODE_UNKNOWN: "failure",
  CLUSTER_BAD_INPUT: "failure",
  CLUSTER_BAD_JOB: "failure",
  // config
  CONFIG_DIR_MISSING: "failure",
  CONFIG_EMPTY: "failure",
  CONFIG_INVALID: "failure",
  CONFIG_MISSING: "failure",
  CONFIG_UNREADABLE: "failure",
  // chain
  ADDRESS_UNKNOWN_NETWORK: "failure",
  ADDRESS_WRONG_NETWORK: "failure",
  ADDRESS_UNKNOWN_PROTOCOL: "failure",
  ADDRESS_INVALID_PAYLOAD: "failure",
  ADDRESS_INVALID_LENGTH: "failure",
  ADDRESS_INVALID_CHECKSUM: "failure",
  ADDRESS_INVALID_ENCODING: "failure",
  ADDRESS_NOT_ID: "failure",
  BITFIELD_WRONG_VERSION: "failure",
  BITFIELD_NOT_MINIMAL: "failure",
  BITFIELD_INVALID_VARINT: "failure",
  BITFIELD_OVERFLOW: "failure",
  BITFIELD_UNSAFE_INTEGER: "failure",
  BITFIELD_INVALID_INPUT: "failure",
  BITFIELD_TOO_MANY: "failure",
  BITFIELD_NOT_ENOUGH_BITS: "failure",
  CBOR_DECODE: "failure",
  CBOR_ENCODE: "failure",
  CID_INVALID: "failure",
  BIGINT_INVALID: "failure",
  MESSAGE_INVALID: "failure",
  PARAMS_INVALID: "failure",
  CHAIN_BAD_RESPONSE: "failure",
  CHAIN_ENDPOINT_INVALID: "failure",
  CHAIN_INVALID_MESSAGE: "failure",
  CHAIN_MESSAGE_FAILED: "failure",
  CHAIN_RPC_ERROR: "failure",
  CHAIN_UNREACHABLE: "transient",
  CHAIN_VANILLA_PROOF_REFUSED: "failure",
  // prover
  PROVER_FAILED: "failure",
  PROVER_POOL_CLOSED: "permanent",
  PROVER_TASK_FAILED: "failure",
  PROVER_UNKNOWN_TASK: "failure",
  PROVER_WORKER_DIED: "failure",
  SECTOR_PROBE_FAILED: "failure",
  EXT_PROTOCOL: "failure",
  EXT_PROVER_BAD_RESPONSE: "failure",
  EXT_PROVER_CHILD_EXITED: "failure",
  EXT_PROVER_CLOSED: "permanent",
  EXT_PROVER_NONE_READY: "failure",
  EXT_PROVER_NOT_READY: "failure",
  EXT_PROVER_NO_CHILDREN: "failure",
  EXT_PROVER_TASK_FAILED: "failure",
  EXT_PROVER_UNAVAILABLE: "failure",
  EXT_PROVER_CONFIG_MISSING: "failure",
  EXT_PROVER_NO_BLOCKS: "failure",
  EXT_PROVER_OFF: "failure",
  // poster
  POSTER_BAD_BATCH_SIZE: "failure",
  POSTER_BAD_RECOVERY_INPUT: "failure",
  POSTER_BAD_SUBMIT_INPUT: "failure",
  POSTER_DUPLICATE_PARTITION: "failure",
  POSTER_INTERNAL: "permanent",
  POSTER_BAD_JOB: "permanent",
  POSTER_MINER_NOT_CONFIGURED: "failure",
  POSTER_MISSING_SECTOR_PROOF: "failure",
  POSTER_NOT_CHALLENGED_YET: "failure",
  POSTER_NO_CHAIN: "failure",
  POSTER_NO_SENDER: "failure",
  POSTER_UNEXPECTED_SECTOR_PROOF: "failure",
  // devnet
  DEVNET_BAD_INPUT: "failure",
  DEVNET_BAD_POLICY: "failure",
  DEVNET_BAD_SNAPSHOT: "failure",
  DEVNET_FUTURE_EPOCH: "failure",
  DEVNET_UNKNOWN_ACTOR: "failure",
  DEVNET_UNKNOWN_MESSAGE: "failure",
  DEVNET_UNKNOWN_MINER: "failure",
  DEVNET_UNKNOWN_TIPSET: "failure",
  DEVNET_UNREADABLE: "failure",
  // daemon
  HOME_CORRUPT: "failure",
  HOME_LOCKED: "failure",
  HOME_NOT_INITIALIZED: "failure",
  HOME_UNREADABLE: "failure",
  HOME_UNWRITABLE: "failure",
  FLAG_INVALID: "failure",
  DEMO_FAILED: "failure",
  DEMO_PG_MISSING: "failure",
  // cli
  CHAIN_NOT_CONFIGURED: "failure",
  DAEMON_NOT_READY: "failure",
  DAEMON_NOT_RUNNING: "failure",
  SECTOR_EXISTS: "failure",
  MIGRATE_DIFFERS: "failure",
  CLUSTER_DB_EMPTY: "failure",
};
