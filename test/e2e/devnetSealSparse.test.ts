/**
 * `devnet seal --sparse` as an operator runs it (the built CLI): 32 GiB sectors of zeros, one JSON
 * line each, the disk really used on stderr, help saying only PoRep is skipped, and a 32 GiB size
 * without --sparse refused with the flag that makes it possible.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { commRFrom } from "../../src/proofs/nodes.js";
import { shapeByName } from "../../src/proofs/sectorShapes.js";
import { readPAux } from "../../src/proofs/vanilla.js";
import { zeroCommRLast } from "../../src/proofs/zeroTree.js";
import { runCli } from "../../src/util/childProcess.js";
import { tempDir } from "../helpers/tmp.js";

describe("devnet seal --sparse", () => {
  let dir = "";
  let cleanup = async () => {};
  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-seal-sparse-"));
  });
  after(async () => cleanup());

  test("writes 32 GiB sectors of zeros, one JSON line each, and prints the disk used", async () => {
    const store = path.join(dir, "store");
    const r = await runCli(
      ["devnet", "seal", "--sparse", "--size", "32GiB", "--miner", "1000", "--store", store, "--count", "40"],
      { timeoutMs: 30_000 },
    );
    assert.equal(r.code, 0, r.output);
    const sectors = r.lines
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { number: number; size: string; comm_r: string; cache_dir: string });
    assert.deepEqual(
      sectors.map((s) => s.number).sort((a, b) => a - b),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    assert.ok(sectors.every((s) => s.size === "32GiB"));
    assert.equal(new Set(sectors.map((s) => s.comm_r)).size, 40, "every comm_r differs");
    const s0 = sectors[0]!;
    const aux = await readPAux(s0.cache_dir);
    assert.deepEqual(aux.commRLast, zeroCommRLast(shapeByName("32GiB")!));
    assert.equal(Buffer.from(commRFrom(aux.commC, aux.commRLast)!).toString("hex"), s0.comm_r);
    const summary = r.lines.find((l) => l.startsWith("wrote 40 sparse 32GiB sectors"));
    assert.ok(summary, r.output);
    const used = /disk used: ([\d.]+) MiB/.exec(summary)?.[1];
    assert.ok(used !== undefined && Number(used) < 20, `a few MiB, not 40 × 32 GiB: ${summary}`);
    assert.match(summary, /apparent size 1\.3 TiB/);
    // A second run continues after the highest number.
    const again = await runCli(
      ["devnet", "seal", "--sparse", "--size", "64GiB", "--miner", "1000", "--store", store, "--upgrade"],
      { timeoutMs: 30_000 },
    );
    assert.equal(again.code, 0, again.output);
    const st = await fs.stat(path.join(store, "update", "s-t01000-1"));
    assert.equal(st.size, 64 * 2 ** 30);
  });

  test("help says only PoRep is skipped; 32GiB without --sparse is refused with the way to do it", async () => {
    const help = await runCli(["devnet", "seal", "--help"]);
    assert.match(help.output.replace(/\s+/g, " "), /Only PoRep sealing is skipped/);
    assert.match(help.output, /--sparse/);
    const r = await runCli([
      "devnet",
      "seal",
      "--size",
      "32GiB",
      "--miner",
      "1000",
      "--store",
      path.join(dir, "other"),
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.output, /add --sparse for 32GiB sectors of zeros/);
  });
});
