/**
 * The all-zero tree (zeroTree.ts) and the sparse sectors built on it (sparseSeal.ts): the zero tree
 * equals a full build where a full build is affordable (8 MiB, same cache-file code path) and the
 * independent per-level computation of the test helper at 32/64 GiB; sparse sectors have the real
 * layout, share their tree files through hard links, differ in comm_c and comm_r, and prove and
 * verify for real.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { commRFrom, hashRowBytes } from "../../../src/proofs/nodes.js";
import { sectorFileName } from "../../../src/proofs/sectorFiles.js";
import { shapeByName, treeRLastFileNames } from "../../../src/proofs/sectorShapes.js";
import { writeSparseSectors } from "../../../src/proofs/sparseSeal.js";
import { seededRandom } from "../../../src/proofs/syntheticSector.js";
import { buildTreeRLast, treeGeometry } from "../../../src/proofs/treeRLast.js";
import { proveSector, readPAux, verifySector } from "../../../src/proofs/vanilla.js";
import { zeroCommRLast, zeroRows, zeroTreeCacheFile } from "../../../src/proofs/zeroTree.js";
import { diskUsage } from "../../../src/util/diskUsage.js";
import { tempDir } from "../../helpers/tmp.js";
import { fixedSeed, isCode } from "./proofTestUtil.js";
import { writeSparseSector } from "./sparseSector.js";

let dir = "";
let cleanup = async () => {};
before(async () => {
  ({ dir, cleanup } = await tempDir("vsm-sparse-seal-"));
});
after(() => cleanup());

const g32 = shapeByName("32GiB")!;
const g64 = shapeByName("64GiB")!;
const m8 = shapeByName("8MiB")!;

describe("the all-zero tree", () => {
  test("row r is Poseidon-8 of eight copies of row r-1, from the zero leaf", () => {
    const rows = zeroRows(g32);
    assert.equal(rows.length, treeGeometry(g32).rowWidths.length);
    assert.deepEqual(rows[0], new Uint8Array(32));
    for (let r = 1; r < rows.length; r++) {
      const group = new Uint8Array(256);
      for (let k = 0; k < 8; k++) group.set(rows[r - 1]!, 32 * k);
      assert.deepEqual(rows[r], hashRowBytes(group), `row ${r}`);
      assert.notDeepEqual(rows[r], rows[r - 1], `row ${r} differs from the row below`);
    }
  });

  test("8 MiB: the cache file and comm_r_last equal a full build over a file of zeros", async () => {
    const sub = path.join(dir, "full-8m");
    await fs.mkdir(sub, { recursive: true });
    const sealed = path.join(sub, "sealed");
    const fh = await fs.open(sealed, "w");
    await fh.truncate(m8.sectorSize);
    await fh.close();
    const built = await buildTreeRLast({ shape: m8, sealedFile: sealed, cacheDir: path.join(sub, "cache") });
    const file = await fs.readFile(path.join(sub, "cache", treeRLastFileNames(m8)[0]!));
    assert.ok(Buffer.from(zeroTreeCacheFile(m8)).equals(file), "cache file byte for byte");
    assert.deepEqual(zeroCommRLast(m8), built.commRLast);
  });

  for (const shape of [g32, g64]) {
    test(`${shape.name}: equals the per-level computation of the sparse test helper (no written segment)`, async () => {
      const helper = await writeSparseSector(
        path.join(dir, `helper-${shape.name}`),
        shape,
        [],
        seededRandom(1),
      );
      assert.deepEqual(zeroCommRLast(shape), helper.commRLast);
      const file = await fs.readFile(path.join(helper.cacheDir, treeRLastFileNames(shape)[0]!));
      assert.ok(Buffer.from(zeroTreeCacheFile(shape)).equals(file), "cache file byte for byte");
    });
  }
});

describe("sparse sectors", () => {
  const store = () => path.join(dir, "store");
  const COUNT = 3;
  let result: Awaited<ReturnType<typeof writeSparseSectors>>;

  before(async () => {
    const seen: number[] = [];
    result = await writeSparseSectors({
      storeDir: store(),
      miner: 1000,
      start: 10,
      count: COUNT,
      shape: g32,
      random: seededRandom("sparse-seal"),
      // 8 tree files per sector: a fresh inode after 10 names, so 3 sectors use 3 inodes.
      maxLinks: 10,
      onSector: (_s, done) => seen.push(done),
    });
    assert.deepEqual(seen, [1, 2, 3]);
  });

  test("the layout: a sparse sealed file of the full size, linked tree files, t_aux, own p_aux", async () => {
    const inodes = new Set<number>();
    for (const s of result.sectors) {
      assert.equal(path.basename(s.sealedFile), sectorFileName(1000, s.number));
      const st = await fs.stat(s.sealedFile);
      assert.equal(st.size, g32.sectorSize);
      assert.ok(
        st.blocks * 512 <= 64 << 10,
        `sealed file ${s.sealedFile} holds no data blocks (${st.blocks})`,
      );
      for (const name of treeRLastFileNames(g32)) {
        const t = await fs.stat(path.join(s.cacheDir, name));
        assert.equal(t.size, treeGeometry(g32).fileBytes, name);
        assert.ok(t.nlink > 1, `${name} is a hard link`);
        inodes.add(t.ino);
      }
      assert.ok((await fs.stat(path.join(s.cacheDir, "t_aux"))).nlink > 1);
      const aux = await readPAux(s.cacheDir, s.number);
      assert.deepEqual(aux.commC, s.commC);
      assert.deepEqual(aux.commRLast, result.commRLast);
      assert.deepEqual(commRFrom(aux.commC, aux.commRLast), s.commR);
    }
    assert.equal(inodes.size, 3, "24 tree-file names over inodes of at most 10 names");
    assert.equal(new Set(result.sectors.map((s) => Buffer.from(s.commR).toString("hex"))).size, COUNT);
    const leftovers = (await fs.readdir(result.sectors[0]!.cacheDir)).filter((n) => n.includes(".tmp-"));
    assert.deepEqual(leftovers, [], "no temporary file is left");
  });

  test("disk used counts blocks once per inode: three 32 GiB sectors take ~3 tree files", async () => {
    const du = await diskUsage([path.join(store(), "sealed"), path.join(store(), "cache")]);
    const tree = treeGeometry(g32).fileBytes;
    assert.ok(du.apparentBytes > COUNT * g32.sectorSize, "apparent size is the full sectors");
    assert.ok(du.bytes >= 3 * tree, `at least the 3 distinct tree files (${du.bytes})`);
    assert.ok(du.bytes < 3 * tree + (1 << 20), `not much more than them (${du.bytes})`);
  });

  test("vanilla proofs of every sector verify", async () => {
    for (const s of result.sectors) {
      const input = {
        shape: g32,
        sectorNumber: s.number,
        randomness: fixedSeed(`sparse-seal-${s.number}`),
        apiVersion: "V1_2_0" as const,
        sectorIndex: 0,
        challengeCount: 10,
        commR: s.commR,
      };
      const proof = await proveSector({ ...input, sealedFile: s.sealedFile, cacheDir: s.cacheDir });
      assert.deepEqual(await verifySector({ ...input, proof }), { ok: true }, `sector ${s.number}`);
      // Another sector's comm_r does not verify this proof.
      const other = result.sectors.find((o) => o.number !== s.number)!;
      assert.equal((await verifySector({ ...input, commR: other.commR, proof })).ok, false);
    }
  });

  test("a sector that exists is refused before anything is written", async () => {
    await assert.rejects(
      writeSparseSectors({ storeDir: store(), miner: 1000, start: 12, count: 2, shape: g32 }),
      isCode("PROOF_SEAL_FAILED", "sector 12", "already exists"),
    );
    await assert.rejects(fs.stat(path.join(store(), "sealed", sectorFileName(1000, 13))), /ENOENT/);
  });
});
