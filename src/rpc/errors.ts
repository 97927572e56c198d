/**
 * The one table mapping error codes to JSON-RPC error numbers, and the error type a client sees.
 *
 * Standard JSON-RPC codes for protocol problems; one number per application condition so a client can
 * tell "you may not do this" from "the source node is down". The SmError code string travels in
 * `error.data.code`, so the far side can rebuild the same error.
 */
import { SmError } from "../util/errors.js";

export const RPC_PARSE_ERROR = -32700;
export const RPC_INVALID_REQUEST = -32600;
export const RPC_METHOD_NOT_FOUND = -32601;
export const RPC_INVALID_PARAMS = -32602;
export const RPC_INTERNAL_ERROR = -32603;
/** go-jsonrpc's number for an error without a registered code; what damocles nodes send. */
export const RPC_APP_ERROR = 1;

const APP_CODES: Record<string, number> = {
  RPC_PERMISSION_DENIED: -32001,
  RPC_UNAUTHENTICATED: -32002,
  RPC_NEEDS_WEBSOCKET: -32003,
  SECTORS_READ_ONLY: -32010,
  SECTORS_SOURCE_UNAVAILABLE: -32011,
  SECTORS_INVALID_RECORD: -32012,
  SECTORS_INSTANCE_UNKNOWN: -32013,
  SECTORS_SOURCE_ERROR: -32014,
  SECTORS_SOURCE_REFUSED: -32015,
  SECTORS_BAD_RESPONSE: -32016,
  RPC_INVALID_PARAMS: RPC_INVALID_PARAMS,
  RPC_METHOD_NOT_FOUND: RPC_METHOD_NOT_FOUND,
  ABORTED: -32020,
  TIMEOUT: -32021,
  MINER_UNKNOWN: -32030,
  MINER_PROOF_DISABLED: -32031,
  WINNING_POST_SECTOR_NOT_FOUND: -32032,
  WINNING_POST_SECTOR_UNPROVABLE: -32033,
  WINNING_POST_PROVER_FAILED: -32034,
};

export function rpcCodeFor(code: string): number {
  return APP_CODES[code] ?? RPC_APP_ERROR;
}

/** An error answered by a JSON-RPC peer. `code` is the SmError code when the peer sent one. */
export class RpcError extends SmError {
  override name = "RpcError";
  readonly rpcCode: number;
  constructor(rpcCode: number, message: string, code?: string, fields: Record<string, unknown> = {}) {
    super(code ?? `RPC_${rpcCode}`, message, fields);
    this.rpcCode = rpcCode;
  }
}

export class InvalidParamsError extends SmError {
  override name = "InvalidParamsError";
  constructor(message: string) {
    super("RPC_INVALID_PARAMS", message);
  }
}
