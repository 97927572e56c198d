/**
 * 8 MiB: a real tree with discarded rows (rows_to_discard = 2, 16 KiB segments, 18,720-byte cache).
 * One synthetic sector is built once (~20 s); damage tests work on copies of its files.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { PoStApiVersion } from "../../../src/proofs/challenges.js";
import { proofPathIndex } from "../../../src/proofs/merkleProof.js";
import { shapeByName } from "../../../src/proofs/sectorShapes.js";
import { seededRandom, writeSyntheticSector } from "../../../src/proofs/syntheticSector.js";
import { rowByteOffset, treeGeometry } from "../../../src/proofs/treeRLast.js";
import { proveSector, sectorChallenges, verifySector } from "../../../src/proofs/vanilla.js";
import { tempDir } from "../../helpers/tmp.js";
import { basePathOf, cloneProof, fixedSeed, flipByte, isCode } from "./proofTestUtil.js";

const shape = shapeByName("8MiB")!;
const geom = treeGeometry(shape);
const NUMBER = 7;
const seed = fixedSeed("vanilla-8m");

let dir = "";
let cleanup = async () => {};
let sector: Awaited<ReturnType<typeof writeSyntheticSector>>;

before(async () => {
  ({ dir, cleanup } = await tempDir("vsm-vanilla8m-"));
  sector = await writeSyntheticSector({
    storeDir: path.join(dir, "store"),
    miner: 1000,
    number: NUMBER,
    shape,
    type: "upgrade",
    random: seededRandom("vanilla-8m"),
  });
});
after(() => cleanup());

function base(apiVersion: PoStApiVersion, sectorIndex: number, challengeCount: number) {
  return {
    shape,
    sectorNumber: NUMBER,
    commR: sector.commR,
    randomness: seed,
    apiVersion,
    sectorIndex,
    challengeCount,
  };
}

async function copySector(name: string): Promise<{ sealedFile: string; cacheDir: string }> {
  const sealedFile = path.join(dir, name, "sealed");
  const cacheDir = path.join(dir, name, "cache");
  await fs.mkdir(path.dirname(sealedFile), { recursive: true });
  await fs.copyFile(sector.sealedFile, sealedFile);
  await fs.cp(sector.cacheDir, cacheDir, { recursive: true });
  return { sealedFile, cacheDir };
}

describe("8 MiB round trips", () => {
  test("layout: update/ and update-cache/ for an upgraded sector, 18,720-byte cache", async () => {
    assert.match(sector.sealedFile, /update[/\\]s-t01000-7$/);
    assert.match(sector.cacheDir, /update-cache[/\\]s-t01000-7$/);
    const st = await fs.stat(path.join(sector.cacheDir, "sc-02-data-tree-r-last.dat"));
    assert.equal(st.size, 18_720);
  });

  const cases: Array<[string, PoStApiVersion, number, number]> = [
    ["window V1 (sector index 1)", "V1_0_0", 1, 10],
    ["window V1_2", "V1_2_0", 0, 10],
    ["winning (66 challenges)", "V1_0_0", 0, 66],
  ];
  for (const [name, apiVersion, sectorIndex, count] of cases) {
    test(name, async (t) => {
      const opts = base(apiVersion, sectorIndex, count);
      const t0 = performance.now();
      const proof = await proveSector({ ...opts, sealedFile: sector.sealedFile, cacheDir: sector.cacheDir });
      const ms = performance.now() - t0;
      t.diagnostic(
        `prove: ${count} challenges in ${ms.toFixed(0)} ms, ${(ms / count).toFixed(1)} ms/challenge`,
      );
      const challenges = sectorChallenges(opts);
      for (let n = 0; n < count; n++) {
        const p = proof.inclusionProofs[n]!;
        assert.equal(p.kind, "single", `proof ${n}`);
        assert.equal(basePathOf(p).length, 6, `proof ${n} path length`);
        assert.equal(proofPathIndex(p), challenges[n], `proof ${n} index`);
      }
      const t1 = performance.now();
      assert.deepEqual(await verifySector({ ...opts, proof }), { ok: true });
      t.diagnostic(`verify: ${(performance.now() - t1).toFixed(0)} ms`);
    });
  }

  test("verify rejects a changed sibling in a cached row and a changed sub-row index", async () => {
    const opts = base("V1_2_0", 0, 10);
    const good = await proveSector({ ...opts, ...sector });
    for (const row of [0, 2, 3, 5]) {
      const p = cloneProof(good);
      const h = basePathOf(p.inclusionProofs[1]!)[row]!.hashes[6]!;
      h[1] = h[1]! ^ 0x10;
      const r = await verifySector({ ...opts, proof: p });
      assert.equal(r.ok, false, `sibling changed in row ${row}`);
    }
    const p = cloneProof(good);
    const el = basePathOf(p.inclusionProofs[3]!)[4]!;
    el.index = (el.index + 3) % 8;
    assert.equal((await verifySector({ ...opts, proof: p })).ok, false);
  });
});

describe("8 MiB prove detects damage", () => {
  // Built lazily: `sector` exists only once the before() hook has run.
  let opts: ReturnType<typeof base>;
  before(() => {
    opts = base("V1_2_0", 0, 10);
  });
  const challenges = () => sectorChallenges(opts);
  const treeFile = (cacheDir: string) => path.join(cacheDir, "sc-02-data-tree-r-last.dat");

  test("flipped byte in the sealed file inside a challenged segment (not the leaf)", async () => {
    const f = await copySector("flip-sealed");
    const c = challenges()[3]!;
    const segStart = c - (c % 512);
    const victim = c === segStart ? segStart + 1 : segStart; // another node of the same segment
    await flipByte(f.sealedFile, victim * 32 + 5);
    const at = segStart * 32;
    await assert.rejects(
      proveSector({ ...opts, ...f }),
      isCode("PROOF_CORRUPT", `sector ${NUMBER}`, f.sealedFile, `[${at}, ${at + 16384})`, "row-3"),
    );
  });

  test("a flipped byte outside every challenged segment goes unnoticed, as upstream", async () => {
    const f = await copySector("flip-elsewhere");
    const segs = new Set(challenges().map((c) => Math.floor(c / 512)));
    let s = 0;
    while (segs.has(s)) s++;
    await flipByte(f.sealedFile, s * 16384 + 64);
    const proof = await proveSector({ ...opts, ...f });
    assert.deepEqual(await verifySector({ ...opts, proof }), { ok: true });
  });

  test("flipped byte in the cached row-3 node of a challenge", async () => {
    const f = await copySector("flip-row3");
    const node = Math.floor(challenges()[0]! / 512);
    const off = rowByteOffset(geom, 3, node);
    await flipByte(treeFile(f.cacheDir), off + 2);
    await assert.rejects(
      proveSector({ ...opts, ...f }),
      isCode("PROOF_CORRUPT", treeFile(f.cacheDir), `byte ${off}`, "corrupt"),
    );
  });

  test("flipped byte in a cached sibling (row 4) of a challenge path", async () => {
    const f = await copySector("flip-row4");
    const j = Math.floor(challenges()[0]! / 8 ** 4);
    const sibling = j % 8 === 0 ? j + 1 : j - 1;
    await flipByte(treeFile(f.cacheDir), rowByteOffset(geom, 4, sibling) + 9);
    await assert.rejects(
      proveSector({ ...opts, ...f }),
      isCode("PROOF_CORRUPT", treeFile(f.cacheDir), "does not verify"),
    );
  });

  test("truncated cache file", async () => {
    const f = await copySector("trunc");
    await fs.truncate(treeFile(f.cacheDir), 18_720 - 32);
    await assert.rejects(
      proveSector({ ...opts, ...f }),
      isCode("PROOF_FILE_SIZE", treeFile(f.cacheDir), "18688", "18720"),
    );
  });
});
