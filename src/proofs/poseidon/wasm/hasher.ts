/**
 * Run-time side of the WebAssembly Poseidon: one PoseidonWasm per arity and per thread, created on
 * first use (generating and compiling a module takes 15–45 ms for arity 8, synchronously, once;
 * each worker thread builds its own, as module-level state is per thread), and a batched byte API.
 *
 * Data crosses the JS/WASM boundary as bytes only: callers pass whole rows of 32-byte little-endian
 * nodes and get 32-byte digests back, so a tree row costs one call per chunk, not one per hash, and
 * no BigInt is created on the way.
 *
 * A call: `poseidonWasm(arity)` returns this thread's PoseidonWasm; `hashInto(input, output)`
 * copies up to CHUNK_GROUPS groups at a time into the module's I/O area (`ioBase` onwards, sized
 * and grown here once), calls the exported `hash(inPtr, outPtr, count)`, and copies the digests
 * out; a negative result means every node was canonical, otherwise it is the first bad node.
 *
 * Reading order for the WebAssembly Poseidon: this file (how JS uses a module), module.ts (what
 * a module holds: memory layout, functions, scales and the bound check), limbs.ts (the 9 × 29-bit
 * limb representation and operands), montgomery.ts (the multiplications and their overflow
 * bounds), canonical.ts (node bytes ↔ limbs) and emitter.ts (the binary writer). The tests in
 * test/unit/proofs/poseidonWasm.test.ts compare every path with the BigInt implementations, which
 * poseidon.test.ts checks against neptune's vectors.
 */
import { getPoseidonConstants } from "../constants.js";
import { FR_MODULUS } from "../field.js";
import { buildPoseidonWasm, type PoseidonWasmBuild } from "./module.js";

/** The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmExports {
  readonly memory: WasmMemory;
  hash(inPtr: number, outPtr: number, count: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports?: object) => { readonly exports: unknown };
};

const NODE = 32;
/** Groups hashed per call: bounds the I/O area in linear memory (arity 8: 256 KiB in, 32 KiB out). */
const CHUNK_GROUPS = 1024;
/** Smallest arity whose batches use the two-lane module (see PoseidonWasm). */
const PAIRS_FROM_ARITY = 8;

/** One instantiated module with its I/O area. */
class Instance {
  readonly exports: WasmExports;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly inPtr: number;
  readonly outPtr: number;

  constructor(
    readonly build: PoseidonWasmBuild,
    arity: number,
  ) {
    this.exports = instantiateWasm(build.bytes) as WasmExports;
    this.inPtr = build.ioBase;
    this.outPtr = this.inPtr + CHUNK_GROUPS * arity * NODE;
    const needed = this.outPtr + CHUNK_GROUPS * NODE;
    const have = this.exports.memory.buffer.byteLength;
    if (needed > have) this.exports.memory.grow(Math.ceil((needed - have) / 65536));
    // Nothing grows the memory after this point, so these views stay valid.
    this.bytes = new Uint8Array(this.exports.memory.buffer);
    this.view = new DataView(this.exports.memory.buffer);
    this.bytes.set(build.memoryImage, 0);
  }
}

/**
 * The WebAssembly Poseidon for one arity: a scalar module for single hashes and, for arities ≥ 8,
 * a two-lane SIMD module built on the first batch of two or more groups, which hashes the groups
 * in pairs. Measured per group against scalar: arity 8 1.13–1.17×, 11 and 16 1.2×, but 2 and 4
 * only 1.0–1.07× (their partial rounds are too short to pay for the lane shuffles), so those stay
 * scalar; a single group would be slower in two lanes than in one, so single hashes are scalar. If
 * the SIMD module cannot be compiled (a CPU without the instructions V8 needs), batches stay on
 * the scalar module.
 */
export class PoseidonWasm {
  readonly arity: number;
  private readonly scalar: Instance;
  private pairs: Instance | null | undefined;

  constructor(arity: number) {
    const c = getPoseidonConstants(arity);
    this.arity = c.arity;
    this.scalar = new Instance(buildPoseidonWasm(c, 1), this.arity);
  }

  /** The scalar module's build (layout, matrix form), for tests and reports. */
  get build(): PoseidonWasmBuild {
    return this.scalar.build;
  }

  /** Whether batches of two or more groups run on the two-lane module (built on first call). */
  get pairedBatches(): boolean {
    return this.pairInstance() !== this.scalar;
  }

  private pairInstance(): Instance {
    if (this.pairs === undefined && this.arity < PAIRS_FROM_ARITY) this.pairs = null;
    if (this.pairs === undefined) {
      try {
        this.pairs = new Instance(buildPoseidonWasm(getPoseidonConstants(this.arity), 2), this.arity);
      } catch {
        this.pairs = null;
      }
    }
    return this.pairs ?? this.scalar;
  }

  /**
   * Hash consecutive groups of `arity` nodes: `input` holds count·arity·32 bytes, `output`
   * receives count·32 bytes. Returns −1 when every node was canonical, otherwise the index
   * (group·arity + child) of the first node ≥ r; digests of the groups before it are written,
   * the rest of `output` is unspecified. Throws RangeError on lengths that do not match.
   */
  hashInto(input: Uint8Array, output: Uint8Array): number {
    const groupBytes = this.arity * NODE;
    if (input.length % groupBytes !== 0) {
      throw new RangeError(
        `Poseidon arity ${this.arity}: input of ${input.length} bytes is not a whole number of ${groupBytes}-byte groups`,
      );
    }
    const count = input.length / groupBytes;
    if (output.length !== count * NODE) {
      throw new RangeError(
        `Poseidon arity ${this.arity}: output must be ${count * NODE} bytes for ${count} groups, got ${output.length}`,
      );
    }
    const inst = count >= 2 ? this.pairInstance() : this.scalar;
    const bad = hashWith(inst, this.arity, input, output, count);
    const g = Math.floor(bad / this.arity);
    if (bad >= 0 && inst !== this.scalar && g % 2 === 1) {
      // The bad node is in lane 1 of a pair, so lane 0 (group g − 1) was not written either.
      const groupBytes = this.arity * NODE;
      const prev = input.subarray((g - 1) * groupBytes, g * groupBytes);
      hashWith(this.scalar, this.arity, prev, output.subarray((g - 1) * NODE, g * NODE), 1);
    }
    return bad;
  }

  /** `hashInto` on the scalar module only (tests compare the two modules). */
  hashIntoScalar(input: Uint8Array, output: Uint8Array): number {
    const count = input.length / (this.arity * NODE);
    if (!Number.isInteger(count) || output.length !== count * NODE)
      throw new RangeError("hashIntoScalar: lengths");
    return hashWith(this.scalar, this.arity, input, output, count);
  }

  /**
   * Hash one group given as separate 32-byte nodes (lengths must already be checked). Returns
   * −1 or the index of the first non-canonical child; the digest goes to `output` (32 bytes).
   */
  hashChildrenInto(children: readonly Uint8Array[], output: Uint8Array): number {
    const { bytes: mem, inPtr, outPtr, exports } = this.scalar;
    for (let i = 0; i < this.arity; i++) mem.set(children[i]!, inPtr + i * NODE);
    const bad = exports.hash(inPtr, outPtr, 1);
    if (bad >= 0) return bad;
    output.set(mem.subarray(outPtr, outPtr + NODE));
    return -1;
  }

  /**
   * Hash `arity` field elements given as BigInts, each in [0, r) (RangeError otherwise). The
   * values are written straight into linear memory as little-endian words: no byte arrays.
   */
  hashElements(elements: readonly bigint[]): bigint {
    if (elements.length !== this.arity) {
      throw new RangeError(
        `Poseidon arity ${this.arity}: expected ${this.arity} elements, got ${elements.length}`,
      );
    }
    const { view: v, inPtr, outPtr, exports } = this.scalar;
    for (let i = 0; i < this.arity; i++) {
      const x = elements[i]!;
      if (!(x >= 0n && x < FR_MODULUS)) {
        throw new RangeError(
          `Poseidon arity ${this.arity}: element ${i} is not a canonical Fr value in [0, r)`,
        );
      }
      const at = inPtr + i * NODE;
      v.setBigUint64(at, BigInt.asUintN(64, x), true);
      v.setBigUint64(at + 8, BigInt.asUintN(64, x >> 64n), true);
      v.setBigUint64(at + 16, BigInt.asUintN(64, x >> 128n), true);
      v.setBigUint64(at + 24, x >> 192n, true);
    }
    if (exports.hash(inPtr, outPtr, 1) >= 0) throw new Error("Poseidon wasm: rejected a checked input");
    const o = outPtr;
    return (
      v.getBigUint64(o, true) |
      (v.getBigUint64(o + 8, true) << 64n) |
      (v.getBigUint64(o + 16, true) << 128n) |
      (v.getBigUint64(o + 24, true) << 192n)
    );
  }
}

function hashWith(
  inst: Instance,
  arity: number,
  input: Uint8Array,
  output: Uint8Array,
  count: number,
): number {
  const groupBytes = arity * NODE;
  const mem = inst.bytes;
  for (let g = 0; g < count; g += CHUNK_GROUPS) {
    const n = Math.min(CHUNK_GROUPS, count - g);
    mem.set(input.subarray(g * groupBytes, (g + n) * groupBytes), inst.inPtr);
    const bad = inst.exports.hash(inst.inPtr, inst.outPtr, n);
    const done = bad < 0 ? n : Math.floor(bad / arity);
    output.set(mem.subarray(inst.outPtr, inst.outPtr + done * NODE), g * NODE);
    if (bad >= 0) return g * arity + bad;
  }
  return -1;
}

/** Instantiate module bytes with no imports (also used by tests of the code generator). */
export function instantiateWasm(bytes: Uint8Array): unknown {
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports;
}

const instances = new Map<number, PoseidonWasm>();

/** This thread's WebAssembly Poseidon for `arity` (built on first use; throws on unsupported arity). */
export function poseidonWasm(arity: number): PoseidonWasm {
  let w = instances.get(arity);
  if (w === undefined) {
    w = new PoseidonWasm(arity);
    instances.set(arity, w);
  }
  return w;
}
