/**
 * Checks on an LMDB environment's `data.mdb` before it is opened.
 *
 * LMDB memory-maps the file and trusts it: a file cut short makes the first access past its end a
 * SIGBUS, and garbage where the meta pages were can send it through wild pointers (SIGSEGV). Either
 * kills the process with no message. So before `open`, this reads the two meta pages the way LMDB does
 * (`mdb_env_read_header` in lmdb-js' mdb.c) and checks what can be checked without walking the tree:
 *
 * - the file holds at least the two meta pages;
 * - each meta page has the P_META flag, the LMDB magic and the data version this build's LMDB writes;
 * - the page size is a power of two LMDB can use;
 * - every page of the trees the newest meta page points at lies inside the file and says it is that
 *   page (a branch-page walk; LMDB never writes such pages past the file's end, so a page outside it
 *   means the file was truncated). The file may legitimately be shorter than the meta page's
 *   "last used page" (freed pages at the end are not written), so that number is not used.
 *
 * Layout (64-bit build, lmdb-js 3.x, `mdb.c`): page header 24 bytes (pgno u64, txnid u64, pad u16,
 * flags u16, ...), then MDB_meta: magic u32, version u32, address u64, mapsize u64, two MDB_db of 48
 * bytes (pad=psize u32, flags u16, depth u16, branch, leaf, overflow, entries, root: u64 each),
 * last_pg u64, txnid u64.
 */
import fs from "node:fs";
import path from "node:path";

const MDB_MAGIC = 0xbeefc0de;
/** MDB_DATA_VERSION of the LMDB inside lmdb-js 3.x. */
const MDB_DATA_VERSION = 2;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_META = 0x08;
const P_LEAF2 = 0x20;
const F_BIGDATA = 0x01;
const F_SUBDATA = 0x02;
/** Pages visited at most: an index of millions of sectors has a few tens of thousands. */
const MAX_WALK = 500_000;
const PAGE_HEADER = 24;
const META = PAGE_HEADER;
const DB_SIZE = 48;
const DBS = META + 4 + 4 + 8 + 8;
const LAST_PG = DBS + 2 * DB_SIZE;
const TXNID = LAST_PG + 8;
const META_BYTES = TXNID + 8;
/** md_root of an empty tree. */
const P_INVALID = 0xffffffffffffffffn;

interface Meta {
  psize: number;
  txnid: bigint;
  roots: bigint[];
}

/** What is wrong with a meta page, or its fields. */
function readMeta(buf: Buffer, which: number): Meta | string {
  if (buf.length < META_BYTES) return `meta page ${which} is cut short`;
  const flags = buf.readUInt16LE(18);
  if ((flags & P_META) === 0) return `page ${which} is not an LMDB meta page`;
  const magic = buf.readUInt32LE(META);
  if (magic !== MDB_MAGIC)
    return `meta page ${which} has magic 0x${magic.toString(16)}, not LMDB's 0x${MDB_MAGIC.toString(16)}`;
  const version = buf.readUInt32LE(META + 4) & 0xffff;
  if (version !== MDB_DATA_VERSION)
    return `meta page ${which} has data version ${version}, this build's LMDB reads version ${MDB_DATA_VERSION}`;
  const psize = buf.readUInt32LE(DBS);
  if (psize < 512 || psize > 65536 || (psize & (psize - 1)) !== 0)
    return `meta page ${which} gives page size ${psize}, which LMDB never writes`;
  const roots = [0, 1].map((d) => buf.readBigUInt64LE(DBS + d * DB_SIZE + 40));
  return { psize, txnid: buf.readBigUInt64LE(TXNID), roots };
}

function readAt(fd: number, pos: number, len: number): Buffer {
  const buf = Buffer.alloc(len);
  const n = fs.readSync(fd, buf, 0, len, pos);
  return buf.subarray(0, n);
}

/**
 * Why `<dir>/data.mdb` cannot be opened safely, or undefined when it looks sound or does not exist yet
 * (LMDB creates it). A 0-byte file is damage: LMDB writes both meta pages when it creates the file.
 */
export function lmdbDataFileProblem(dir: string): string | undefined {
  const file = path.join(dir, "data.mdb");
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return `cannot read it: ${(e as Error).message}`;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return "it is not a regular file";
    const size = st.size;
    if (size === 0) return "it is empty (0 bytes); LMDB writes two meta pages when it creates the file";
    const first = readMeta(readAt(fd, 0, META_BYTES), 0);
    if (typeof first === "string") return first;
    const psize = first.psize;
    if (size < 2 * psize)
      return `it is ${size} bytes, shorter than its two ${psize}-byte meta pages (truncated)`;
    const second = readMeta(readAt(fd, psize, META_BYTES), 1);
    if (typeof second === "string") return second;
    if (second.psize !== psize)
      return `its meta pages disagree on the page size (${psize} and ${second.psize})`;
    // LMDB uses the meta page with the higher transaction id.
    const meta = second.txnid > first.txnid ? second : first;
    return walkTrees(fd, psize, BigInt(Math.floor(size / psize)), meta.roots);
  } finally {
    fs.closeSync(fd);
  }
}

/** Walk the trees from `roots`: every page inside the file, with its own number and a tree page's flags. */
function walkTrees(fd: number, psize: number, pages: bigint, roots: bigint[]): string | undefined {
  const outside = (pg: bigint, what: string) =>
    `${what} page ${pg} lies past the end of the file (${pages} pages of ${psize} bytes): truncated`;
  const todo = roots.filter((r) => r !== P_INVALID);
  const seen = new Set<bigint>();
  const buf = Buffer.alloc(psize);
  while (todo.length > 0 && seen.size < MAX_WALK) {
    const pg = todo.pop() as bigint;
    if (seen.has(pg)) continue;
    seen.add(pg);
    if (pg >= pages) return outside(pg, "tree");
    if (fs.readSync(fd, buf, 0, psize, Number(pg) * psize) !== psize) return outside(pg, "tree");
    const own = buf.readBigUInt64LE(0);
    const flags = buf.readUInt16LE(18);
    if (own !== pg || (flags & (P_BRANCH | P_LEAF | P_LEAF2)) === 0)
      return `page ${pg} is not the tree page it should be (it says page ${own}, flags 0x${flags.toString(16)})`;
    if (flags & P_LEAF2) continue;
    const n = buf.readUInt16LE(20) >> 1;
    if (PAGE_HEADER + 2 * n > psize) return `page ${pg} claims ${n} entries, more than fit in a page`;
    for (let i = 0; i < n; i++) {
      const at = buf.readUInt16LE(PAGE_HEADER + 2 * i) + PAGE_HEADER;
      if (at + 8 > psize) return `page ${pg} has an entry outside the page`;
      const lo = BigInt(buf.readUInt16LE(at));
      const hi = BigInt(buf.readUInt16LE(at + 2));
      const nflags = buf.readUInt16LE(at + 4);
      const ksize = buf.readUInt16LE(at + 6);
      const data = at + 8 + ksize;
      if (data > psize) return `page ${pg} has a key running past the end of the page`;
      if (flags & P_BRANCH) {
        todo.push(lo | (hi << 16n) | (BigInt(nflags) << 32n));
        continue;
      }
      // Leaf: the value is in the page, on overflow pages, or is a named sub-database's root.
      if ((nflags & (F_BIGDATA | F_SUBDATA)) === 0 && data + Number(lo | (hi << 16n)) > psize)
        return `page ${pg} has a value running past the end of the page`;
      if (nflags & F_BIGDATA) {
        if (data + 8 > psize) return `page ${pg} has an entry outside the page`;
        const ov = buf.readBigUInt64LE(data);
        if (ov >= pages) return outside(ov, "overflow");
      } else if (nflags & F_SUBDATA) {
        if (data + DB_SIZE > psize) return `page ${pg} has an entry outside the page`;
        const root = buf.readBigUInt64LE(data + 40);
        if (root !== P_INVALID) todo.push(root);
      }
    }
  }
  return undefined;
}
