/**
 * 32 GiB and 64 GiB shapes over sparse replicas (see sparseSector.ts): real cache files (8 or 16 ×
 * 9,586,976 bytes), real sub-tree and top elements, proved and verified end to end. The challenged
 * segments of even n get random data, those of odd n stay zero, so both kinds are exercised.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { decodeFallbackPoStSectorProof, encodeFallbackPoStSectorProof } from "../../../src/proofs/bincode.js";
import { proofPathIndex } from "../../../src/proofs/merkleProof.js";
import { shapeByName } from "../../../src/proofs/sectorShapes.js";
import { seededRandom } from "../../../src/proofs/syntheticSector.js";
import { proveSector, sectorChallenges, verifySector } from "../../../src/proofs/vanilla.js";
import { tempDir } from "../../helpers/tmp.js";
import { cloneProof, fixedSeed, isCode } from "./proofTestUtil.js";
import { writeSparseSector } from "./sparseSector.js";

let dir = "";
let cleanup = async () => {};
before(async () => {
  ({ dir, cleanup } = await tempDir("vsm-sparse-"));
});
after(() => cleanup());

for (const name of ["32GiB", "64GiB"] as const) {
  describe(`${name} over a sparse replica`, () => {
    const shape = shapeByName(name)!;
    const NUMBER = 9;
    const challengeOpts = {
      shape,
      sectorNumber: NUMBER,
      randomness: fixedSeed(`sparse-${name}`),
      apiVersion: "V1_2_0" as const,
      sectorIndex: 0,
      challengeCount: 10,
    };
    const challenges = sectorChallenges(challengeOpts);
    let sector: Awaited<ReturnType<typeof writeSparseSector>>;
    let opts: typeof challengeOpts & { commR: Uint8Array };

    before(async () => {
      const written = challenges.filter((_, n) => n % 2 === 0).map((c) => Math.floor(c / 512));
      sector = await writeSparseSector(path.join(dir, name), shape, written, seededRandom(`sparse-${name}`));
      opts = { ...challengeOpts, commR: sector.commR };
    });

    test("prove and verify; sub/top elements carry the sub-tree and top indices", async (t) => {
      const st = await fs.stat(sector.sealedFile);
      assert.equal(st.size, shape.sectorSize);
      const t0 = performance.now();
      const proof = await proveSector({ ...opts, sealedFile: sector.sealedFile, cacheDir: sector.cacheDir });
      t.diagnostic(`prove ${name}: ${(performance.now() - t0).toFixed(0)} ms for 10 challenges`);
      for (let n = 0; n < 10; n++) {
        const p = proof.inclusionProofs[n]!;
        const c = challenges[n]!;
        const tree = Math.floor(c / 2 ** 27);
        assert.equal(p.kind, name === "32GiB" ? "sub" : "top", `proof ${n} variant`);
        if (p.kind !== "sub" && p.kind !== "top") continue;
        assert.equal(p.basePath.length, 9, `proof ${n} base path`);
        assert.equal(p.subPath.length, 1, `proof ${n} sub path`);
        assert.equal(p.subPath[0]!.index, tree % 8, `proof ${n} sub index`);
        assert.equal(p.subPath[0]!.hashes.length, 7, `proof ${n} sub hashes`);
        if (p.kind === "top") {
          assert.equal(p.topPath.length, 1, `proof ${n} top path`);
          assert.equal(p.topPath[0]!.index, Math.floor(tree / 8), `proof ${n} top index`);
          assert.equal(p.topPath[0]!.hashes.length, 1, `proof ${n} top hashes`);
        }
        assert.equal(proofPathIndex(p), c, `proof ${n} path index`);
        assert.deepEqual(p.root, sector.commRLast, `proof ${n} root`);
      }
      assert.deepEqual(await verifySector({ ...opts, proof }), { ok: true });

      // bincode: 2,484 bytes per 32 GiB inclusion proof (+ 240 + 8 + 4… for the top level).
      const bytes = encodeFallbackPoStSectorProof({
        sectorId: BigInt(NUMBER),
        commR: sector.commR,
        vanillaProof: { sectors: [proof] },
      });
      const perProof = name === "32GiB" ? 2484 : 2484 + 8 + 8 + 32 + 8;
      assert.equal(bytes.length, 8 + 32 + 8 + 8 + 10 * perProof + 64);
      const back = decodeFallbackPoStSectorProof(bytes);
      assert.deepEqual(back.vanillaProof.sectors[0], proof);
      assert.deepEqual(await verifySector({ ...opts, proof: back.vanillaProof.sectors[0]! }), { ok: true });

      // Sub-tree or top index changed: the path index (and the root) no longer match.
      const bad = cloneProof(proof);
      const p0 = bad.inclusionProofs[0]!;
      if (p0.kind === "sub" || p0.kind === "top") p0.subPath[0]!.index = (p0.subPath[0]!.index + 1) % 8;
      assert.equal((await verifySector({ ...opts, proof: bad })).ok, false);
      if (p0.kind === "top") {
        const bad2 = cloneProof(proof);
        const q = bad2.inclusionProofs[1]!;
        if (q.kind === "top") q.topPath[0]!.index = 1 - q.topPath[0]!.index;
        assert.equal((await verifySector({ ...opts, proof: bad2 })).ok, false);
      }
    });

    test("damaged sibling sub-tree root (last node of another cache file)", async () => {
      const victim = (Math.floor(challenges[0]! / 2 ** 27) + 1) % shape.treeFiles;
      const file = path.join(sector.cacheDir, `sc-02-data-tree-r-last-${victim}.dat`);
      const orig = await fs.readFile(file);
      const damaged = Buffer.from(orig);
      damaged[damaged.length - 32] = damaged[damaged.length - 32]! ^ 1;
      await fs.writeFile(file, damaged);
      try {
        await assert.rejects(
          proveSector({ ...opts, sealedFile: sector.sealedFile, cacheDir: sector.cacheDir }),
          isCode("PROOF_CORRUPT", `sector ${NUMBER}`, "comm_r_last"),
        );
      } finally {
        await fs.writeFile(file, orig);
      }
    });
  });
}
