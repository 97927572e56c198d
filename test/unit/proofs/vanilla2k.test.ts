import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { PoStApiVersion } from "../../../src/proofs/challenges.js";
import { proofPathIndex } from "../../../src/proofs/merkleProof.js";
import { shapeByName } from "../../../src/proofs/sectorShapes.js";
import { randomNodes, seededRandom, writeSyntheticSector } from "../../../src/proofs/syntheticSector.js";
import { proveSector, readPAux, sectorChallenges, verifySector } from "../../../src/proofs/vanilla.js";
import { tempDir } from "../../helpers/tmp.js";
import { basePathOf, cloneProof, fixedSeed, flipByte, isCode } from "./proofTestUtil.js";

const shape = shapeByName("2KiB")!;
const MINER = 1000;
const NUMBER = 42;
const seed = fixedSeed("vanilla-2k");

let dir = "";
let cleanup = async () => {};
let sector: Awaited<ReturnType<typeof writeSyntheticSector>>;

before(async () => {
  ({ dir, cleanup } = await tempDir("vsm-vanilla2k-"));
  sector = await writeSyntheticSector({
    storeDir: path.join(dir, "store"),
    miner: MINER,
    number: NUMBER,
    shape,
    random: seededRandom("vanilla-2k"),
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

/** A private copy of the sector's files for a test that damages them. */
async function copySector(name: string): Promise<{ sealedFile: string; cacheDir: string }> {
  const sealedFile = path.join(dir, name, "sealed");
  const cacheDir = path.join(dir, name, "cache");
  await fs.mkdir(path.dirname(sealedFile), { recursive: true });
  await fs.copyFile(sector.sealedFile, sealedFile);
  await fs.cp(sector.cacheDir, cacheDir, { recursive: true });
  return { sealedFile, cacheDir };
}

describe("2 KiB round trips", () => {
  const cases: Array<[string, PoStApiVersion, number, number]> = [
    ["window V1, sector index 0", "V1_0_0", 0, 10],
    ["window V1, sector index 1", "V1_0_0", 1, 10],
    ["window V1_2", "V1_2_0", 1, 10],
    ["winning", "V1_0_0", 0, 66],
  ];
  for (const [name, apiVersion, sectorIndex, count] of cases) {
    test(name, async () => {
      const opts = base(apiVersion, sectorIndex, count);
      const proof = await proveSector({ ...opts, sealedFile: sector.sealedFile, cacheDir: sector.cacheDir });
      assert.equal(proof.inclusionProofs.length, count);
      assert.deepEqual(proof.commC, sector.commC);
      assert.deepEqual(proof.commRLast, sector.commRLast);
      const challenges = sectorChallenges(opts);
      const replica = await fs.readFile(sector.sealedFile);
      for (let n = 0; n < count; n++) {
        const p = proof.inclusionProofs[n]!;
        assert.equal(p.kind, "single", `proof ${n}`);
        assert.equal(basePathOf(p).length, 2, `proof ${n} path length`);
        assert.equal(proofPathIndex(p), challenges[n], `proof ${n} index`);
        const c = challenges[n]!;
        assert.deepEqual(p.leaf, new Uint8Array(replica.subarray(c * 32, c * 32 + 32)), `proof ${n} leaf`);
        assert.deepEqual(p.root, sector.commRLast, `proof ${n} root`);
      }
      assert.deepEqual(await verifySector({ ...opts, proof }), { ok: true });
      // Plain data: survives structured cloning (worker_threads) and still verifies.
      assert.deepEqual(await verifySector({ ...opts, proof: structuredClone(proof) }), { ok: true });
    });
  }

  test("V1 challenges depend on the sector index, V1_2 challenges do not", async () => {
    const v1 = await proveSector({ ...base("V1_0_0", 1, 10), ...sector });
    const r = await verifySector({ ...base("V1_0_0", 0, 10), proof: v1 });
    assert.equal(r.ok, false);
    const v12 = await proveSector({ ...base("V1_2_0", 0, 10), ...sector });
    assert.deepEqual(await verifySector({ ...base("V1_2_0", 5, 10), proof: v12 }), { ok: true });
  });

  test("the read concurrency does not change the proof", async () => {
    const one = await proveSector({ ...base("V1_2_0", 0, 66), ...sector, readConcurrency: 1 });
    const many = await proveSector({ ...base("V1_2_0", 0, 66), ...sector, readConcurrency: 16 });
    assert.deepEqual(one, many);
  });

  test("bad API version or challenge count is PROOF_BAD_INPUT", async () => {
    await assert.rejects(
      proveSector({ ...base("V9" as never, 0, 10), ...sector }),
      isCode("PROOF_BAD_INPUT", "V9"),
    );
    await assert.rejects(proveSector({ ...base("V1_2_0", 0, 0), ...sector }), isCode("PROOF_BAD_INPUT"));
  });

  test("readPAux returns comm_c and comm_r_last", async () => {
    assert.deepEqual(await readPAux(sector.cacheDir), { commC: sector.commC, commRLast: sector.commRLast });
  });
});

describe("2 KiB prove detects damage", () => {
  const prove = (files: { sealedFile: string; cacheDir: string }, extra: Record<string, unknown> = {}) =>
    proveSector({ ...base("V1_2_0", 0, 10), ...files, ...extra });
  const treeFile = (cacheDir: string) => path.join(cacheDir, "sc-02-data-tree-r-last.dat");

  test("flipped byte in the sealed file (the challenged segment is the whole sector)", async () => {
    const f = await copySector("flip-sealed");
    await flipByte(f.sealedFile, 700);
    await assert.rejects(prove(f), isCode("PROOF_CORRUPT", `sector ${NUMBER}`, f.sealedFile, "[0, 2048)"));
  });

  test("sealed node that is not a field element", async () => {
    const f = await copySector("nonfr-sealed");
    await flipByte(f.sealedFile, 64 * 31 + 31, 0xc0);
    await assert.rejects(prove(f), isCode("PROOF_CORRUPT", f.sealedFile, "not a BLS12-381 field element"));
  });

  test("flipped byte in the tree-r-last cache (2 KiB: the root)", async () => {
    const f = await copySector("flip-cache");
    await flipByte(treeFile(f.cacheDir), 3);
    await assert.rejects(prove(f), isCode("PROOF_CORRUPT", `sector ${NUMBER}`));
  });

  test("truncated, missing or directory cache file", async () => {
    const f = await copySector("trunc-cache");
    await fs.truncate(treeFile(f.cacheDir), 16);
    await assert.rejects(
      prove(f),
      isCode("PROOF_FILE_SIZE", treeFile(f.cacheDir), "16 bytes", "expected 32"),
    );
    await fs.rm(treeFile(f.cacheDir));
    await assert.rejects(prove(f), isCode("PROOF_FILE_MISSING", treeFile(f.cacheDir)));
    await fs.mkdir(treeFile(f.cacheDir));
    await assert.rejects(prove(f), isCode("PROOF_UNREADABLE", treeFile(f.cacheDir)));
  });

  test("missing or short p_aux", async () => {
    const f = await copySector("paux");
    const pAux = path.join(f.cacheDir, "p_aux");
    await fs.truncate(pAux, 40);
    await assert.rejects(prove(f), isCode("PROOF_FILE_SIZE", pAux, "40 bytes", "expected 64"));
    await fs.rm(pAux);
    await assert.rejects(prove(f), (err) => {
      isCode("PROOF_FILE_MISSING", pAux)(err);
      assert.equal((err as { fields: { sector: string } }).fields.sector, String(NUMBER));
      return true;
    });
  });

  test("missing, short or unreadable sealed file", async () => {
    const f = await copySector("sealed");
    await fs.truncate(f.sealedFile, 1024);
    await assert.rejects(prove(f), isCode("PROOF_FILE_SIZE", f.sealedFile, "1024 bytes", "expected 2048"));
    await fs.rm(f.sealedFile);
    await assert.rejects(prove(f), isCode("PROOF_FILE_MISSING", f.sealedFile));
    await fs.mkdir(f.sealedFile);
    await assert.rejects(prove(f), isCode("PROOF_UNREADABLE", f.sealedFile));
  });

  test("wrong or malformed comm_r", async () => {
    const other = randomNodes(32, seededRandom("other comm_r"));
    await assert.rejects(prove(sector, { commR: other }), isCode("PROOF_COMMR_MISMATCH", `sector ${NUMBER}`));
    await assert.rejects(prove(sector, { commR: new Uint8Array(32) }), isCode("PROOF_BAD_INPUT", "all-zero"));
    await assert.rejects(prove(sector, { commR: new Uint8Array(31) }), isCode("PROOF_BAD_INPUT"));
  });

  test("p_aux whose comm_r_last does not match the tree (comm_r consistent with p_aux)", async () => {
    const f = await copySector("paux-mismatch");
    const fakeLast = randomNodes(32, seededRandom("fake comm_r_last"));
    const pAux = new Uint8Array(64);
    pAux.set(sector.commC);
    pAux.set(fakeLast, 32);
    await fs.writeFile(path.join(f.cacheDir, "p_aux"), pAux);
    const { commRFrom } = await import("../../../src/proofs/nodes.js");
    const commR = commRFrom(sector.commC, fakeLast)!;
    await assert.rejects(prove(f, { commR }), isCode("PROOF_CORRUPT", "comm_r_last"));
  });

  test("randomness with the top bits set is refused with a hint to mask it", async () => {
    const raw = Uint8Array.from(seed);
    raw[31] = 0xff;
    await assert.rejects(
      prove(sector, { randomness: raw }),
      isCode("PROOF_BAD_RANDOMNESS", "maskSeed", "0x3f"),
    );
    await assert.rejects(
      verifySector({ ...base("V1_2_0", 0, 10), randomness: raw, proof: { inclusionProofs: [] } as never }),
      isCode("PROOF_BAD_RANDOMNESS"),
    );
  });
});

describe("2 KiB verify rejects modified proofs", () => {
  const opts = () => base("V1_2_0", 0, 10);
  let good: Awaited<ReturnType<typeof proveSector>>;
  before(async () => {
    good = await proveSector({ ...opts(), ...sector });
  });

  const expectInvalid = async (mutate: (p: typeof good) => void, why: RegExp, extra = {}) => {
    const p = cloneProof(good);
    mutate(p);
    const r = await verifySector({ ...opts(), ...extra, proof: p });
    assert.equal(r.ok, false, "modified proof must not verify");
    if (!r.ok) assert.match(r.reason, why);
  };

  test("changed sibling hash", async () => {
    for (const n of [0, 9]) {
      await expectInvalid((p) => {
        const h = basePathOf(p.inclusionProofs[n]!)[1]!.hashes[3]!;
        h[0] = h[0]! ^ 1;
      }, /does not hash to the proof's root/);
    }
  });

  test("changed index", async () => {
    await expectInvalid((p) => {
      const el = basePathOf(p.inclusionProofs[2]!)[0]!;
      el.index = (el.index + 1) % 8;
    }, /inclusion proof 2/);
    await expectInvalid((p) => {
      basePathOf(p.inclusionProofs[2]!)[0]!.index = 8;
    }, /outside 0\.\.7/);
  });

  test("wrong number of proofs", async () => {
    await expectInvalid((p) => p.inclusionProofs.pop(), /number of inclusion proofs: 9 ≠ 10/);
    await expectInvalid((p) => p.inclusionProofs.push(p.inclusionProofs[0]!), /11 ≠ 10/);
  });

  test("wrong comm_r, comm_c or comm_r_last", async () => {
    await expectInvalid(() => {}, /≠ comm_r/, { commR: randomNodes(32, seededRandom("x")) });
    await expectInvalid((p) => {
      p.commC[0] = p.commC[0]! ^ 1;
    }, /≠ comm_r/);
    await expectInvalid((p) => {
      p.commRLast[0] = p.commRLast[0]! ^ 1;
    }, /comm_r_last/);
  });

  test("changed leaf, wrong variant, extra path element, non-field bytes", async () => {
    await expectInvalid((p) => {
      p.inclusionProofs[4]!.leaf[0] = p.inclusionProofs[4]!.leaf[0]! ^ 1;
    }, /root/);
    await expectInvalid((p) => {
      const s = p.inclusionProofs[4]!;
      if (s.kind !== "single") throw new Error("unreachable");
      p.inclusionProofs[4] = { kind: "sub", basePath: s.path, subPath: [], root: s.root, leaf: s.leaf };
    }, /variant sub/);
    await expectInvalid((p) => {
      basePathOf(p.inclusionProofs[4]!).push({ hashes: [], index: 0 });
    }, /3 elements, expected 2/);
    await expectInvalid((p) => {
      basePathOf(p.inclusionProofs[4]!)[0]!.hashes[0]!.fill(0xff);
    }, /canonical field element/);
  });

  test("another randomness or sector number", async () => {
    await expectInvalid(() => {}, /path index/, { randomness: fixedSeed("other") });
    await expectInvalid(() => {}, /path index/, { sectorNumber: NUMBER + 1 });
  });
});
