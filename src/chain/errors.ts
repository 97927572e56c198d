/**
 * Error codes of the chain domain: codecs (addresses, RLE+ bitfields, DAG-CBOR, CIDs, big ints,
 * message and parameter shapes) and the Lotus/Venus client.
 */

/** Codes of `chain/address.ts`. */
export const ADDRESS_ERROR_CODES = [
  /** An address string starts with neither "f" nor "t". */
  "ADDRESS_UNKNOWN_NETWORK",
  /** An address of the other network ("f" where "t" is expected, or the reverse). */
  "ADDRESS_WRONG_NETWORK",
  /** A protocol byte or digit that is not 0 to 4. */
  "ADDRESS_UNKNOWN_PROTOCOL",
  /** A payload that is not valid for its protocol (ID varint, delegated namespace, BLS key). */
  "ADDRESS_INVALID_PAYLOAD",
  /** A payload or address string of the wrong length for its protocol. */
  "ADDRESS_INVALID_LENGTH",
  /** The blake2b checksum at the end of the base32 text does not match. */
  "ADDRESS_INVALID_CHECKSUM",
  /** Text that is not valid lower-case base32. */
  "ADDRESS_INVALID_ENCODING",
  /** An ID address (f0...) was required and another protocol was given. */
  "ADDRESS_NOT_ID",
] as const;
export type AddressErrorCode = (typeof ADDRESS_ERROR_CODES)[number];

/** Codes of `chain/bitfield.ts`. */
export const BITFIELD_ERROR_CODES = [
  /** RLE+ bytes whose version bits are not 0. */
  "BITFIELD_WRONG_VERSION",
  /** RLE+ bytes that are valid but not the unique minimal encoding (strict decoding only). */
  "BITFIELD_NOT_MINIMAL",
  /** A run length varint in RLE+ that is truncated or too long. */
  "BITFIELD_INVALID_VARINT",
  /** Runs that add up past 2^64 bits. */
  "BITFIELD_OVERFLOW",
  /** A set bit beyond Number.MAX_SAFE_INTEGER. */
  "BITFIELD_UNSAFE_INTEGER",
  /** A bit index or argument that is negative, fractional or not a number. */
  "BITFIELD_INVALID_INPUT",
  /** More set bits than a caller's limit. */
  "BITFIELD_TOO_MANY",
  /** Fewer set bits than a slice or selection asked for. */
  "BITFIELD_NOT_ENOUGH_BITS",
] as const;
export type BitFieldErrorCode = (typeof BITFIELD_ERROR_CODES)[number];

export const CHAIN_ERROR_CODES = [
  ...ADDRESS_ERROR_CODES,
  ...BITFIELD_ERROR_CODES,
  /** Bytes that are not the DAG-CBOR the chain writes; the message names the byte offset. */
  "CBOR_DECODE",
  /** A value DAG-CBOR cannot hold (a float, an unsafe integer, an unknown type). */
  "CBOR_ENCODE",
  /** A CID that cannot be parsed, in text or in CBOR tag 42. */
  "CID_INVALID",
  /** Big-int bytes or text that are not a Filecoin big int. */
  "BIGINT_INVALID",
  /** A chain message (JSON or CBOR) that does not have the shape of a Message. */
  "MESSAGE_INVALID",
  /** Method parameters that do not have the shape of their actor struct. */
  "PARAMS_INVALID",
  /** The chain node answered with a result of the wrong shape. */
  "CHAIN_BAD_RESPONSE",
  /** A configured API endpoint that cannot be parsed. */
  "CHAIN_ENDPOINT_INVALID",
  /** A message refused before it is sent (a negative value or fee cap). */
  "CHAIN_INVALID_MESSAGE",
  /** venus-messager reports a pushed message as failed or replaced. */
  "CHAIN_MESSAGE_FAILED",
  /** The chain node answered a call with an error. */
  "CHAIN_RPC_ERROR",
  /** The chain node cannot be reached (refused, reset, timed out). */
  "CHAIN_UNREACHABLE",
  /** WindowPoSt proofs that are not SNARKs, refused before they reach a real network. */
  "CHAIN_VANILLA_PROOF_REFUSED",
] as const;
export type ChainErrorCode = (typeof CHAIN_ERROR_CODES)[number];

declare module "../util/errors.js" {
  interface ErrorCodes extends Record<ChainErrorCode, "chain"> {}
}
