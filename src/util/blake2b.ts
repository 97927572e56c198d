/**
 * BLAKE2b (RFC 7693), unkeyed, any digest length 1..64: the hash behind every Filecoin CID
 * (blake2b-256), address payload (blake2b-160) and checksum (4 bytes).
 *
 * Its compression function runs as WebAssembly with native 64-bit words, generated below from the
 * RFC's definition. The pure JS implementation (@noble/hashes, 32-bit halves) hashes ~28 MB/s here,
 * this one ~570 MB/s: a devnet message carrying three partitions' vanilla proofs is ~3 MB and is
 * hashed at every push. OpenSSL in Node 20 has only BLAKE2b-512, whose parameter block differs.
 */

/** Initialisation vector (the SHA-512 IV, RFC 7693 section 2.6). */
const IV = [
  0x6a09e667f3bcc908n,
  0xbb67ae8584caa73bn,
  0x3c6ef372fe94f82bn,
  0xa54ff53a5f1d36f1n,
  0x510e527fade682d1n,
  0x9b05688c2b3e6c1fn,
  0x1f83d9abfb41bd6bn,
  0x5be0cd19137e2179n,
];

/** Message word permutations, one per round (rounds 10 and 11 reuse 0 and 1). RFC 7693 section 2.7. */
const SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

const BLOCK = 128;
/** Where the input blocks go in the module's memory (the state h is at 0..63). */
const INPUT = 128;
/** Input bytes per call: two 64 KiB pages less the state. */
const CHUNK = 2 * 65536 - INPUT;
const CHUNK_BLOCKS = Math.floor(CHUNK / BLOCK);

// --- the WebAssembly module, written as bytes ---

const op = {
  loop: 0x03,
  void: 0x40,
  end: 0x0b,
  brIf: 0x0d,
  get: 0x20,
  set: 0x21,
  tee: 0x22,
  i64load: 0x29,
  i64store: 0x37,
  i32const: 0x41,
  i64const: 0x42,
  i32add: 0x6a,
  i32sub: 0x6b,
  i64add: 0x7c,
  i64sub: 0x7d,
  i64xor: 0x85,
  i64rotr: 0x8a,
  i64extendI32u: 0xad,
  i64truncF64u: 0xb1,
} as const;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(v: bigint): number[] {
  const out: number[] = [];
  let x = BigInt.asIntN(64, v);
  for (;;) {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    if ((x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, "latin1")];

/**
 * compress(ptr, blocks, t, last): BLAKE2b's F over `blocks` 128-byte blocks at `ptr`, on the state at
 * 0. `t` is the byte counter after the first block (a float: < 2^53), +128 for each next one; `last`
 * sets the final-block flag.
 */
function compressBody(): number[] {
  // Locals: 0 ptr, 1 blocks, 2 t (f64), 3 last; 4..19 v0..v15; 20..35 m0..m15; 36 t (i64).
  const V = 4;
  const M = 20;
  const T = 36;
  const c: number[] = [];
  const get = (i: number) => c.push(op.get, i);
  const set = (i: number) => c.push(op.set, i);
  /** x = rotr(x ^ y, n) */
  const xorRot = (x: number, y: number, n: number) => {
    get(x);
    get(y);
    c.push(op.i64xor, op.i64const, ...sleb(BigInt(n)), op.i64rotr);
    set(x);
  };
  /** x = x + y (+ z) */
  const add = (x: number, y: number, z?: number) => {
    get(x);
    get(y);
    c.push(op.i64add);
    if (z !== undefined) {
      get(z);
      c.push(op.i64add);
    }
    set(x);
  };
  const g = (a: number, b: number, cc: number, d: number, x: number, y: number) => {
    add(V + a, V + b, M + x);
    xorRot(V + d, V + a, 32);
    add(V + cc, V + d);
    xorRot(V + b, V + cc, 24);
    add(V + a, V + b, M + y);
    xorRot(V + d, V + a, 16);
    add(V + cc, V + d);
    xorRot(V + b, V + cc, 63);
  };
  get(2);
  c.push(op.i64truncF64u);
  set(T);
  c.push(op.loop, op.void);
  for (let k = 0; k < 16; k++) {
    get(0);
    c.push(op.i64load, 3, ...uleb(8 * k));
    set(M + k);
  }
  for (let k = 0; k < 8; k++) {
    c.push(op.i32const, 0, op.i64load, 3, ...uleb(8 * k));
    set(V + k);
    c.push(op.i64const, ...sleb(IV[k] as bigint));
    set(V + 8 + k);
  }
  // v12 ^= t (the high word of the 128-bit counter stays 0); v14 = ~v14 on the last block.
  get(V + 12);
  get(T);
  c.push(op.i64xor);
  set(V + 12);
  get(V + 14);
  c.push(op.i64const, 0);
  get(3);
  c.push(op.i64extendI32u, op.i64sub, op.i64xor);
  set(V + 14);
  for (let r = 0; r < 12; r++) {
    const s = SIGMA[r % 10] as number[];
    const m = (i: number) => s[i] as number;
    g(0, 4, 8, 12, m(0), m(1));
    g(1, 5, 9, 13, m(2), m(3));
    g(2, 6, 10, 14, m(4), m(5));
    g(3, 7, 11, 15, m(6), m(7));
    g(0, 5, 10, 15, m(8), m(9));
    g(1, 6, 11, 12, m(10), m(11));
    g(2, 7, 8, 13, m(12), m(13));
    g(3, 4, 9, 14, m(14), m(15));
  }
  for (let i = 0; i < 8; i++) {
    c.push(op.i32const, 0, op.i32const, 0, op.i64load, 3, ...uleb(8 * i));
    get(V + i);
    c.push(op.i64xor);
    get(V + 8 + i);
    c.push(op.i64xor, op.i64store, 3, ...uleb(8 * i));
  }
  get(0);
  c.push(op.i32const, ...uleb(BLOCK), op.i32add);
  set(0);
  get(T);
  c.push(op.i64const, ...sleb(BigInt(BLOCK)), op.i64add);
  set(T);
  get(1);
  c.push(op.i32const, 1, op.i32sub, op.tee, 1, op.brIf, 0, op.end, op.end);
  const locals = vec([[33, 0x7e]]);
  const body = [...locals, ...c];
  return [...uleb(body.length), ...body];
}

function moduleBytes(): Uint8Array {
  const i32 = 0x7f;
  const f64 = 0x7c;
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec([[0x60, ...vec([[i32], [i32], [f64], [i32]]), 0]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, 2]])),
    ...section(
      7,
      vec([
        [...name("mem"), 0x02, 0],
        [...name("compress"), 0x00, 0],
      ]),
    ),
    ...section(10, vec([compressBody()])),
  ]);
}

type Compress = (ptr: number, blocks: number, t: number, last: number) => void;

/** The part of the WebAssembly global used here (the project's type libraries do not declare it). */
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { mem: { buffer: ArrayBuffer }; compress: Compress } };
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

let wasm: { mem: Uint8Array; state: DataView; compress: Compress } | undefined;

function instance(): NonNullable<typeof wasm> {
  if (!wasm) {
    const { exports } = new WebAssemblyApi.Instance(new WebAssemblyApi.Module(moduleBytes()));
    wasm = {
      mem: new Uint8Array(exports.mem.buffer),
      state: new DataView(exports.mem.buffer, 0, 64),
      compress: exports.compress,
    };
  }
  return wasm;
}

/** BLAKE2b of `data` with a digest of `outLen` bytes (1..64), unkeyed. */
export function blake2b(data: Uint8Array, outLen: number): Uint8Array {
  if (!Number.isInteger(outLen) || outLen < 1 || outLen > 64)
    throw new RangeError(`blake2b digest length must be 1..64 bytes, not ${outLen}`);
  const { mem, state, compress } = instance();
  for (let i = 0; i < 8; i++) state.setBigUint64(8 * i, IV[i] as bigint, true);
  // Parameter block: digest length, key length 0, fanout 1, depth 1.
  state.setUint32(0, state.getUint32(0, true) ^ 0x01010000 ^ outLen, true);
  const n = data.length;
  let off = 0;
  // Every block but the last one (which may be full) goes through here, a chunk at a time.
  while (n - off > BLOCK) {
    const blocks = Math.min(CHUNK_BLOCKS, Math.floor((n - off - 1) / BLOCK));
    mem.set(data.subarray(off, off + blocks * BLOCK), INPUT);
    compress(INPUT, blocks, off + BLOCK, 0);
    off += blocks * BLOCK;
  }
  mem.fill(0, INPUT, INPUT + BLOCK);
  mem.set(data.subarray(off), INPUT);
  compress(INPUT, 1, n, 1);
  return mem.slice(0, outLen);
}
