/**
 * Deterministic devnet randomness. A real chain draws beacon randomness from drand and ticket
 * randomness from block tickets (lotus `DrawRandomness`: blake2b over tag ‖ vrf digest ‖ epoch ‖
 * entropy); the devnet has neither, so both come from a 32-byte seed:
 *
 *   SHA-256( domain ‖ seed ‖ tag u64 BE ‖ epoch i64 BE ‖ entropy )
 *
 * with domain the ASCII bytes "beacon" or "ticket". Big-endian integers follow lotus' DrawRandomness.
 * Any epoch (also before genesis) has randomness, so a chain restarted from a snapshot answers the
 * same values.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { Address } from "../chain/address.js";
import { encodeCbor } from "../chain/cbor.js";
import { SmError } from "../util/errors.js";

const BEACON = new TextEncoder().encode("beacon");
const TICKET = new TextEncoder().encode("ticket");

function draw(
  domain: Uint8Array,
  seed: Uint8Array,
  tag: number,
  epoch: number,
  entropy: Uint8Array,
): Uint8Array {
  if (!Number.isSafeInteger(tag) || tag < 0)
    throw new SmError("DEVNET_BAD_INPUT", `bad randomness tag ${tag}`);
  if (!Number.isSafeInteger(epoch)) throw new SmError("DEVNET_BAD_INPUT", `bad randomness epoch ${epoch}`);
  const buf = new Uint8Array(domain.length + seed.length + 16 + entropy.length);
  buf.set(domain, 0);
  buf.set(seed, domain.length);
  const dv = new DataView(buf.buffer);
  dv.setBigUint64(domain.length + seed.length, BigInt(tag), false);
  dv.setBigInt64(domain.length + seed.length + 8, BigInt(epoch), false);
  buf.set(entropy, domain.length + seed.length + 16);
  return sha256(buf);
}

export function beaconRandomness(
  seed: Uint8Array,
  tag: number,
  epoch: number,
  entropy: Uint8Array,
): Uint8Array {
  return draw(BEACON, seed, tag, epoch, entropy);
}

export function ticketRandomness(
  seed: Uint8Array,
  tag: number,
  epoch: number,
  entropy: Uint8Array,
): Uint8Array {
  return draw(TICKET, seed, tag, epoch, entropy);
}

/**
 * Entropy of the WindowPoSt challenge: the CBOR encoding of the miner address (lotus
 * `addr.MarshalCBOR` = a CBOR byte string of the address bytes; damocles-poster.md §4.5).
 */
export function minerEntropy(miner: string): Uint8Array {
  return encodeCbor(Address.fromString(miner).toBytes());
}
