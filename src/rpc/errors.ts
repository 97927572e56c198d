/**
 * The one table mapping error codes to JSON-RPC error numbers, and the error type a client sees.
 *
 * Standard JSON-RPC codes for protocol problems; one number per application condition so a client can
 * tell "you may not do this" from "the source node is down". The SmError code string travels in
 * `error.data.code`, so the far side can rebuild the same error.
 *
 * The table (RPC_ERROR_NUMBERS) is typed `Record<DeclaredErrorCode, number>`: a code a domain declares
 * and this table does not place, or a code no domain declares, does not compile. That also makes it
 * the one runtime list of every declared code, which `isErrorCode` checks a code from another process
 * against.
 */
import { type ErrorCode, SmError } from "../util/errors.js";

export const RPC_PARSE_ERROR = -32700;
export const RPC_INVALID_REQUEST = -32600;
export const RPC_METHOD_NOT_FOUND = -32601;
export const RPC_INVALID_PARAMS = -32602;
export const RPC_INTERNAL_ERROR = -32603;
/** go-jsonrpc's number for an error without a registered code; what damocles nodes send. */
export const RPC_APP_ERROR = 1;

export const RPC_ERROR_CODES = [
  /** A request without a token, or with one that does not verify. */
  "RPC_UNAUTHENTICATED",
  /** A token that lacks the permission a method needs. */
  "RPC_PERMISSION_DENIED",
  /** A method that returns a channel, called over HTTP. */
  "RPC_NEEDS_WEBSOCKET",
  /** Parameters a method cannot use (wrong count, shape or value). */
  "RPC_INVALID_PARAMS",
  /** A method the peer does not have. */
  "RPC_METHOD_NOT_FOUND",
  /** The server cannot listen on its address (in use, not available). */
  "RPC_LISTEN_FAILED",
  /** The peer cannot be reached (refused, reset, DNS). */
  "RPC_UNREACHABLE",
  /** The peer answered with something that is not a JSON-RPC response. */
  "RPC_BAD_RESPONSE",
  /** The peer's answer is over this client's size limit. */
  "RPC_ANSWER_TOO_LARGE",
] as const;
export type RpcErrorCode = (typeof RPC_ERROR_CODES)[number];

/**
 * `RPC_<n>`: a peer answered JSON-RPC error number n without a code of ours in `data.code` (a
 * damocles or Lotus node, or a peer whose code this version does not know). The one family of codes:
 * the peer chooses n.
 */
export type RpcNumberCode = `RPC_${number}`;
const RPC_NUMBER_CODE = /^RPC_-?\d+$/;

/** Every code a domain lists by name: `ErrorCode` without the `RPC_<n>` family. */
export type DeclaredErrorCode = Exclude<ErrorCode, RpcNumberCode>;

export function isRpcNumberCode(code: string): code is RpcNumberCode {
  return RPC_NUMBER_CODE.test(code);
}

declare module "../util/errors.js" {
  interface ErrorCodes extends Record<RpcErrorCode, "rpc"> {
    [code: RpcNumberCode]: "rpc";
  }
}

/** The JSON-RPC number of every code; RPC_APP_ERROR where a client needs no number of its own. */
export const RPC_ERROR_NUMBERS: Readonly<Record<DeclaredErrorCode, number>> = {
  // util
  ABORTED: -32020,
  TIMEOUT: -32021,
  UNKNOWN: RPC_APP_ERROR,
  PROCESS_EXITED: RPC_APP_ERROR,
  VARINT_INVALID: RPC_APP_ERROR,
  BASE32_INVALID: RPC_APP_ERROR,
  // rpc
  RPC_PERMISSION_DENIED: -32001,
  RPC_UNAUTHENTICATED: -32002,
  RPC_NEEDS_WEBSOCKET: -32003,
  RPC_INVALID_PARAMS: RPC_INVALID_PARAMS,
  RPC_METHOD_NOT_FOUND: RPC_METHOD_NOT_FOUND,
  RPC_LISTEN_FAILED: RPC_APP_ERROR,
  RPC_UNREACHABLE: RPC_APP_ERROR,
  RPC_BAD_RESPONSE: RPC_APP_ERROR,
  RPC_ANSWER_TOO_LARGE: RPC_APP_ERROR,
  // sectors
  SECTORS_READ_ONLY: -32010,
  SECTORS_SOURCE_UNAVAILABLE: -32011,
  SECTORS_INVALID_RECORD: -32012,
  SECTORS_INSTANCE_UNKNOWN: -32013,
  SECTORS_SOURCE_ERROR: -32014,
  SECTORS_SOURCE_REFUSED: -32015,
  SECTORS_BAD_RESPONSE: -32016,
  ATTACH_WOULD_MOVE: RPC_APP_ERROR,
  ATTACH_BAD_PATH: RPC_APP_ERROR,
  // miner
  MINER_UNKNOWN: -32030,
  MINER_PROOF_DISABLED: -32031,
  WINNING_POST_SECTOR_NOT_FOUND: -32032,
  WINNING_POST_SECTOR_UNPROVABLE: -32033,
  WINNING_POST_PROVER_FAILED: -32034,
  GATEWAY_EVENT_INVALID: -32035,
  // proofs
  PROOF_FILE_MISSING: RPC_APP_ERROR,
  PROOF_FILE_SIZE: RPC_APP_ERROR,
  PROOF_UNREADABLE: RPC_APP_ERROR,
  PROOF_CORRUPT: RPC_APP_ERROR,
  PROOF_COMMR_MISMATCH: RPC_APP_ERROR,
  PROOF_BAD_RANDOMNESS: RPC_APP_ERROR,
  PROOF_UNKNOWN_TYPE: RPC_APP_ERROR,
  PROOF_BAD_INPUT: RPC_APP_ERROR,
  PROOF_DECODE: RPC_APP_ERROR,
  PROOF_SEAL_FAILED: RPC_APP_ERROR,
  DEVNET_BAD_BUNDLE: RPC_APP_ERROR,
  // store
  STORE_CORRUPT: RPC_APP_ERROR,
  STORE_DISK_FULL: RPC_APP_ERROR,
  STORE_OPEN_FAILED: RPC_APP_ERROR,
  STORE_READ_FAILED: RPC_APP_ERROR,
  STORE_WRITE_FAILED: RPC_APP_ERROR,
  STORE_VERSION_INVALID: RPC_APP_ERROR,
  STORE_VERSION_MISMATCH: RPC_APP_ERROR,
  STORE_DB_UNREACHABLE: RPC_APP_ERROR,
  STORE_DB_CONFLICT: RPC_APP_ERROR,
  STORE_DB_ERROR: RPC_APP_ERROR,
  STORE_DB_DSN_INVALID: RPC_APP_ERROR,
  // cluster
  CLUSTER_LEASE_LOST: RPC_APP_ERROR,
  CLUSTER_SESSION_STALE: RPC_APP_ERROR,
  CLUSTER_NODE_UNKNOWN: RPC_APP_ERROR,
  CLUSTER_BAD_INPUT: RPC_APP_ERROR,
  CLUSTER_BAD_JOB: RPC_APP_ERROR,
  // config
  CONFIG_DIR_MISSING: RPC_APP_ERROR,
  CONFIG_EMPTY: RPC_APP_ERROR,
  CONFIG_INVALID: RPC_APP_ERROR,
  CONFIG_MISSING: RPC_APP_ERROR,
  CONFIG_UNREADABLE: RPC_APP_ERROR,
  // chain
  ADDRESS_UNKNOWN_NETWORK: RPC_APP_ERROR,
  ADDRESS_WRONG_NETWORK: RPC_APP_ERROR,
  ADDRESS_UNKNOWN_PROTOCOL: RPC_APP_ERROR,
  ADDRESS_INVALID_PAYLOAD: RPC_APP_ERROR,
  ADDRESS_INVALID_LENGTH: RPC_APP_ERROR,
  ADDRESS_INVALID_CHECKSUM: RPC_APP_ERROR,
  ADDRESS_INVALID_ENCODING: RPC_APP_ERROR,
  ADDRESS_NOT_ID: RPC_APP_ERROR,
  BITFIELD_WRONG_VERSION: RPC_APP_ERROR,
  BITFIELD_NOT_MINIMAL: RPC_APP_ERROR,
  BITFIELD_INVALID_VARINT: RPC_APP_ERROR,
  BITFIELD_OVERFLOW: RPC_APP_ERROR,
  BITFIELD_UNSAFE_INTEGER: RPC_APP_ERROR,
  BITFIELD_INVALID_INPUT: RPC_APP_ERROR,
  BITFIELD_TOO_MANY: RPC_APP_ERROR,
  BITFIELD_NOT_ENOUGH_BITS: RPC_APP_ERROR,
  CBOR_DECODE: RPC_APP_ERROR,
  CBOR_ENCODE: RPC_APP_ERROR,
  CID_INVALID: RPC_APP_ERROR,
  BIGINT_INVALID: RPC_APP_ERROR,
  MESSAGE_INVALID: RPC_APP_ERROR,
  PARAMS_INVALID: RPC_APP_ERROR,
  CHAIN_BAD_RESPONSE: RPC_APP_ERROR,
  CHAIN_ENDPOINT_INVALID: RPC_APP_ERROR,
  CHAIN_INVALID_MESSAGE: RPC_APP_ERROR,
  CHAIN_MESSAGE_FAILED: RPC_APP_ERROR,
  CHAIN_RPC_ERROR: RPC_APP_ERROR,
  CHAIN_UNREACHABLE: RPC_APP_ERROR,
  CHAIN_VANILLA_PROOF_REFUSED: RPC_APP_ERROR,
  // prover
  PROVER_FAILED: RPC_APP_ERROR,
  PROVER_POOL_CLOSED: RPC_APP_ERROR,
  PROVER_TASK_FAILED: RPC_APP_ERROR,
  PROVER_UNKNOWN_TASK: RPC_APP_ERROR,
  PROVER_WORKER_DIED: RPC_APP_ERROR,
  SECTOR_PROBE_FAILED: RPC_APP_ERROR,
  EXT_PROTOCOL: RPC_APP_ERROR,
  EXT_PROVER_BAD_RESPONSE: RPC_APP_ERROR,
  EXT_PROVER_CHILD_EXITED: RPC_APP_ERROR,
  EXT_PROVER_CLOSED: RPC_APP_ERROR,
  EXT_PROVER_NONE_READY: RPC_APP_ERROR,
  EXT_PROVER_NOT_READY: RPC_APP_ERROR,
  EXT_PROVER_NO_CHILDREN: RPC_APP_ERROR,
  EXT_PROVER_TASK_FAILED: RPC_APP_ERROR,
  EXT_PROVER_UNAVAILABLE: RPC_APP_ERROR,
  EXT_PROVER_CONFIG_MISSING: RPC_APP_ERROR,
  EXT_PROVER_NO_BLOCKS: RPC_APP_ERROR,
  EXT_PROVER_OFF: RPC_APP_ERROR,
  // poster
  POSTER_BAD_BATCH_SIZE: RPC_APP_ERROR,
  POSTER_BAD_RECOVERY_INPUT: RPC_APP_ERROR,
  POSTER_BAD_SUBMIT_INPUT: RPC_APP_ERROR,
  POSTER_DUPLICATE_PARTITION: RPC_APP_ERROR,
  POSTER_INTERNAL: RPC_APP_ERROR,
  POSTER_BAD_JOB: RPC_APP_ERROR,
  POSTER_MINER_NOT_CONFIGURED: RPC_APP_ERROR,
  POSTER_MISSING_SECTOR_PROOF: RPC_APP_ERROR,
  POSTER_NOT_CHALLENGED_YET: RPC_APP_ERROR,
  POSTER_NO_CHAIN: RPC_APP_ERROR,
  POSTER_NO_SENDER: RPC_APP_ERROR,
  POSTER_UNEXPECTED_SECTOR_PROOF: RPC_APP_ERROR,
  // devnet
  DEVNET_BAD_INPUT: RPC_APP_ERROR,
  DEVNET_BAD_POLICY: RPC_APP_ERROR,
  DEVNET_BAD_SNAPSHOT: RPC_APP_ERROR,
  DEVNET_FUTURE_EPOCH: RPC_APP_ERROR,
  DEVNET_UNKNOWN_ACTOR: RPC_APP_ERROR,
  DEVNET_UNKNOWN_MESSAGE: RPC_APP_ERROR,
  DEVNET_UNKNOWN_MINER: RPC_APP_ERROR,
  DEVNET_UNKNOWN_TIPSET: RPC_APP_ERROR,
  DEVNET_UNREADABLE: RPC_APP_ERROR,
  // daemon
  HOME_CORRUPT: RPC_APP_ERROR,
  HOME_LOCKED: RPC_APP_ERROR,
  HOME_NOT_INITIALIZED: RPC_APP_ERROR,
  HOME_UNREADABLE: RPC_APP_ERROR,
  HOME_UNWRITABLE: RPC_APP_ERROR,
  FLAG_INVALID: RPC_APP_ERROR,
  DEMO_FAILED: RPC_APP_ERROR,
  DEMO_PG_MISSING: RPC_APP_ERROR,
  // cli
  CHAIN_NOT_CONFIGURED: RPC_APP_ERROR,
  DAEMON_NOT_READY: RPC_APP_ERROR,
  DAEMON_NOT_RUNNING: RPC_APP_ERROR,
  SECTOR_EXISTS: RPC_APP_ERROR,
  MIGRATE_DIFFERS: RPC_APP_ERROR,
  CLUSTER_DB_EMPTY: RPC_APP_ERROR,
};

/** Whether a code read from another process (a worker, a child, a JSON-RPC peer) is one this version declares. */
export function isErrorCode(code: string): code is ErrorCode {
  return isDeclaredErrorCode(code) || isRpcNumberCode(code);
}

export function isDeclaredErrorCode(code: string): code is DeclaredErrorCode {
  return Object.hasOwn(RPC_ERROR_NUMBERS, code);
}

/** The JSON-RPC number to answer an error with; `RPC_<n>` (a peer's error passed on) is RPC_APP_ERROR. */
export function rpcCodeFor(code: ErrorCode): number {
  return isDeclaredErrorCode(code) ? RPC_ERROR_NUMBERS[code] : RPC_APP_ERROR;
}

/**
 * An error answered by a JSON-RPC peer. `code` is the SmError code the peer sent, when this version
 * declares it; otherwise `RPC_<rpcCode>`, with an unknown code kept in `fields.peerCode` for the log.
 */
export class RpcError extends SmError {
  override name = "RpcError";
  readonly rpcCode: number;
  constructor(rpcCode: number, message: string, code?: string, fields: Record<string, unknown> = {}) {
    const known = code !== undefined && isErrorCode(code);
    super(
      known ? code : `RPC_${rpcCode}`,
      message,
      known || code === undefined ? fields : { ...fields, peerCode: code },
    );
    this.rpcCode = rpcCode;
  }
}

export class InvalidParamsError extends SmError {
  override name = "InvalidParamsError";
  constructor(message: string) {
    super("RPC_INVALID_PARAMS", message);
  }
}
