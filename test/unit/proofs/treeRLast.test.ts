import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { poseidonHashBytes } from "../../../src/proofs/poseidon.js";
import { SECTOR_SHAPES, shapeByName, treeRLastFileBytes } from "../../../src/proofs/sectorShapes.js";
import { randomNodes, seededRandom } from "../../../src/proofs/syntheticSector.js";
import {
  buildTreeRLast,
  checkTreeRLastFiles,
  readRowGroup,
  rootByteOffset,
  rowByteOffset,
  treeGeometry,
  treeRLastPaths,
} from "../../../src/proofs/treeRLast.js";
import { SmError } from "../../../src/util/errors.js";
import { tempDir } from "../../helpers/tmp.js";
import { writeSparseSector } from "./sparseSector.js";

const k2 = shapeByName("2KiB")!;
const m8 = shapeByName("8MiB")!;
const g32 = shapeByName("32GiB")!;

function isCode(code: string, ...parts: string[]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof SmError, `expected SmError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const p of parts) assert.ok(err.message.includes(p), `message "${err.message}" should mention ${p}`);
    return true;
  };
}

describe("tree geometry", () => {
  test("file sizes equal the LevelCacheStore formula for every shape", () => {
    for (const s of SECTOR_SHAPES) {
      const g = treeGeometry(s);
      assert.equal(g.fileBytes, treeRLastFileBytes(s), s.name);
      assert.equal(g.fileNames.length, s.treeFiles, s.name);
      assert.equal(g.segmentLeaves, s.name === "2KiB" ? 64 : 512, s.name);
      assert.equal(g.segmentBytes, s.name === "2KiB" ? 2048 : 16384, s.name);
    }
    assert.equal(treeGeometry(k2).basePathLength, 2);
    assert.equal(treeGeometry(m8).basePathLength, 6);
    assert.equal(treeGeometry(g32).basePathLength, 9);
  });

  test("32 GiB row offsets match reference/post-proofs.md §1.6", () => {
    const g = treeGeometry(g32);
    const expected: Array<[number, number]> = [
      [3, 0],
      [4, 262_144],
      [5, 294_912],
      [6, 299_008],
      [7, 299_520],
      [8, 299_584],
      [9, 299_592],
    ];
    for (const [row, node] of expected) assert.equal(rowByteOffset(g, row, 0), node * 32, `row ${row}`);
    assert.equal(rootByteOffset(g), 299_592 * 32);
    assert.throws(() => rowByteOffset(g, 2, 0), isCode("PROOF_BAD_INPUT"));
  });
});

describe("buildTreeRLast", () => {
  let dir = "";
  let cleanup = async () => {};
  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-tree-"));
  });
  after(() => cleanup());

  test("2 KiB: root equals a naive Poseidon tree over the replica; file holds only the root", async () => {
    const data = randomNodes(2048, seededRandom("tree-2k"));
    const sealed = path.join(dir, "k2.sealed");
    await fs.writeFile(sealed, data);
    const cacheDir = path.join(dir, "k2.cache");
    const built = await buildTreeRLast({ shape: k2, sealedFile: sealed, cacheDir });
    let row: Uint8Array[] = [];
    for (let i = 0; i < 64; i++) row.push(data.subarray(i * 32, i * 32 + 32));
    while (row.length > 1) {
      const next: Uint8Array[] = [];
      for (let i = 0; i < row.length; i += 8) next.push(poseidonHashBytes(row.slice(i, i + 8)));
      row = next;
    }
    assert.deepEqual(built.commRLast, row[0]);
    const file = await fs.readFile(path.join(cacheDir, "sc-02-data-tree-r-last.dat"));
    assert.equal(file.length, 32);
    assert.deepEqual(new Uint8Array(file), row[0]);
  });

  test("8 MiB sparse helper writes the same cache file as the streaming builder", async () => {
    const sub = path.join(dir, "m8");
    const sparse = await writeSparseSector(sub, m8, [0, 3, 511], seededRandom("tree-8m"));
    const cacheDir = path.join(dir, "m8.rebuilt");
    const built = await buildTreeRLast({ shape: m8, sealedFile: sparse.sealedFile, cacheDir });
    assert.deepEqual(built.commRLast, sparse.commRLast);
    const a = await fs.readFile(path.join(sparse.cacheDir, "sc-02-data-tree-r-last.dat"));
    const b = await fs.readFile(path.join(cacheDir, "sc-02-data-tree-r-last.dat"));
    assert.equal(b.length, 18_720);
    assert.ok(a.equals(b), "cache files differ");
    // Root is the last node; row 3 node 3 covers segment 3, which is non-zero.
    assert.deepEqual(new Uint8Array(b.subarray(b.length - 32)), built.commRLast);
    const g = treeGeometry(m8);
    const fh = await fs.open(path.join(cacheDir, "sc-02-data-tree-r-last.dat"));
    try {
      const group = await readRowGroup(fh, g, 3, 3, { sector: 1, file: "f", what: "tree-r-last cache file" });
      assert.equal(group.length, 256);
      assert.ok(Buffer.from(group).equals(b.subarray(0, 256)));
    } finally {
      await fh.close();
    }
  });

  test("checkTreeRLastFiles: missing and wrong-size files are named with both sizes", async () => {
    const cacheDir = path.join(dir, "check");
    await fs.mkdir(cacheDir, { recursive: true });
    await assert.rejects(checkTreeRLastFiles(cacheDir, k2, 7), isCode("PROOF_FILE_MISSING", "sector 7"));
    const [file] = treeRLastPaths(cacheDir, k2);
    await fs.writeFile(file!, new Uint8Array(31));
    await assert.rejects(checkTreeRLastFiles(cacheDir, k2, 7), isCode("PROOF_FILE_SIZE", file!, "31", "32"));
    await fs.rm(file!);
    await fs.mkdir(file!);
    await assert.rejects(checkTreeRLastFiles(cacheDir, k2, 7), isCode("PROOF_UNREADABLE", file!));
  });

  test("a replica node that is not a field element is reported with its offset", async () => {
    const data = randomNodes(2048, seededRandom("bad-node"));
    data[5 * 32 + 31] = 0xff;
    const sealed = path.join(dir, "bad.sealed");
    await fs.writeFile(sealed, data);
    await assert.rejects(
      buildTreeRLast({ shape: k2, sealedFile: sealed, cacheDir: path.join(dir, "bad.cache"), sector: 3 }),
      isCode("PROOF_CORRUPT", "sector 3", sealed, "byte 160"),
    );
  });
});
