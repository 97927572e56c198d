/**
 * Poseidon round constants from the Grain LFSR, reproducing neptune bit for bit.
 *
 * Procedure (Poseidon paper, appendix F; neptune `src/round_constants.rs`, which was aligned
 * with hadeshash `code/scripts/create_rcs_grain.sage` in neptune PR #28):
 *  - an 80-bit state is seeded MSB-first with: field type (2 bits), S-box code (4 bits),
 *    field bit size (12), width t (12), R_F (10), R_P (10), then thirty 1-bits;
 *  - each new bit is b[i+80] = b[i+62] ^ b[i+51] ^ b[i+38] ^ b[i+23] ^ b[i+13] ^ b[i];
 *  - the first 160 generated bits are discarded;
 *  - afterwards bits are drawn in pairs and the second bit is kept only if the first is 1
 *    ("self-shrinking" mode);
 *  - each constant is `fieldBits` kept bits read MSB-first; values >= modulus are skipped.
 *
 * The S-box code is the subtle part: the older Sage script (and neptune, `SBOX = 1` in
 * `src/lib.rs`) encodes x^5 as 1, whereas the newer hadeshash script encodes x^alpha as 0.
 * Using 0 gives a different, incompatible constant set.
 */

/** Parameters of one Grain instance; names follow the Poseidon paper. */
export interface GrainParams {
  /** 1 = GF(p). neptune only supports prime fields (`FIELD = 1` in `src/lib.rs`). */
  readonly fieldType: number;
  /** S-box code in the old Sage encoding: 0 = x^3, 1 = x^5, 2 = x^-1. neptune uses 1. */
  readonly sbox: number;
  /** Bit length of the modulus (255 for BLS12-381 Fr; neptune passes `F::NUM_BITS`). */
  readonly fieldBits: number;
  readonly modulus: bigint;
  /** Width t = arity + 1. */
  readonly t: number;
  readonly roundsFull: number;
  readonly roundsPartial: number;
}

const STATE_BITS = 80;

/** Self-shrinking Grain LFSR over a ring buffer; no per-bit allocation. */
class GrainLfsr {
  // Ring buffer of the last 80 bits; `pos` indexes the oldest bit b[i].
  private readonly bits = new Uint8Array(STATE_BITS);
  private pos = 0;

  constructor(seed: readonly number[]) {
    if (seed.length !== STATE_BITS) throw new Error(`Grain seed must be ${STATE_BITS} bits`);
    for (let i = 0; i < STATE_BITS; i++) this.bits[i] = seed[i]! & 1;
    for (let i = 0; i < 160; i++) this.step();
  }

  private at(offset: number): number {
    return this.bits[(this.pos + offset) % STATE_BITS]!;
  }

  /** Produce the next raw LFSR bit and shift it into the state. */
  private step(): number {
    const b = this.at(62) ^ this.at(51) ^ this.at(38) ^ this.at(23) ^ this.at(13) ^ this.at(0);
    // The oldest bit is replaced by the new one, which becomes the newest.
    this.bits[this.pos] = b;
    this.pos = (this.pos + 1) % STATE_BITS;
    return b;
  }

  /** Next output bit in self-shrinking mode. */
  nextBit(): number {
    for (;;) {
      const keep = this.step();
      const bit = this.step();
      if (keep === 1) return bit;
    }
  }
}

function pushBits(out: number[], width: number, value: number): void {
  if (value < 0 || value >= 2 ** width)
    throw new RangeError(`Grain seed field ${value} does not fit ${width} bits`);
  for (let i = width - 1; i >= 0; i--) out.push(Math.floor(value / 2 ** i) % 2);
}

/** The 80-bit seed, MSB-first per field, as laid out in neptune `generate_constants`. */
export function grainSeed(p: GrainParams): number[] {
  const seed: number[] = [];
  pushBits(seed, 2, p.fieldType);
  pushBits(seed, 4, p.sbox);
  pushBits(seed, 12, p.fieldBits);
  pushBits(seed, 12, p.t);
  pushBits(seed, 10, p.roundsFull);
  pushBits(seed, 10, p.roundsPartial);
  for (let i = 0; i < 30; i++) seed.push(1);
  return seed;
}

/**
 * Generate `(R_F + R_P) * t` round constants, in round-major order
 * (constant for round r, element i is at index r * t + i).
 */
export function grainRoundConstants(p: GrainParams): bigint[] {
  if (p.fieldType !== 1) throw new Error("Grain: only prime fields (field type 1) are supported");
  const lfsr = new GrainLfsr(grainSeed(p));
  const count = (p.roundsFull + p.roundsPartial) * p.t;
  const out: bigint[] = [];
  while (out.length < count) {
    // Accumulate in 32-bit Number chunks, then fold into a BigInt: far fewer BigInt ops
    // than shifting a BigInt once per bit.
    let x = 0n;
    let remaining = p.fieldBits;
    while (remaining > 0) {
      const take = Math.min(remaining, 30);
      let chunk = 0;
      for (let i = 0; i < take; i++) chunk = chunk * 2 + lfsr.nextBit();
      x = (x << BigInt(take)) | BigInt(chunk);
      remaining -= take;
    }
    if (x < p.modulus) out.push(x);
  }
  return out;
}
