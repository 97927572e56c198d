/**
 * `vsm wdpost` / `vsm winpost` as real child processes, driven through the raw ext-prover protocol
 * exactly as damocles-manager (or our supervisor) drives them.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { decodeFallbackPoStSectorProof } from "../../src/proofs/bincode.js";
import { shapeByName } from "../../src/proofs/sectorShapes.js";
import { type SyntheticSector, writeSyntheticSector } from "../../src/proofs/syntheticSector.js";
import { verifySector } from "../../src/proofs/vanilla.js";
import { cliEntry } from "../../src/util/childProcess.js";
import { tempDir } from "../helpers/tmp.js";

const k2 = shapeByName("2KiB")!;
const seed = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
seed[31] = (seed[31] ?? 0) & 0x3f;

function replica(s: SyntheticSector, number: number) {
  return { sector_id: number, comm_r: Array.from(s.commR), cache_dir: s.cacheDir, sealed_file: s.sealedFile };
}

describe("vsm wdpost / winpost through the raw protocol", () => {
  let dir = "";
  let cleanup = async () => {};
  const sectors: SyntheticSector[] = [];

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-proc-"));
    for (let n = 1; n <= 4; n++)
      sectors.push(await writeSyntheticSector({ storeDir: dir, miner: 1000, number: n, shape: k2 }));
  });
  after(() => cleanup());

  test("wdpost: ready line, proofs that verify, several requests in flight, faults, task errors, malformed lines, EOF", async () => {
    const child = spawn(process.execPath, [cliEntry(), "wdpost", "--threads", "2"], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, VSM_LOG_LEVEL: "info" },
    });
    const out: string[] = [];
    const err: string[] = [];
    let buf = "";
    child.stdout.on("data", (c: Buffer) => {
      buf += c.toString();
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      out.push(...parts);
    });
    child.stderr.on("data", (c: Buffer) => err.push(...c.toString().split("\n").filter(Boolean)));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const waitFor = async (pred: () => boolean, what: string) => {
      for (let i = 0; i < 600 && !pred(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(pred(), `${what}; stdout:\n${out.join("\n")}\nstderr:\n${err.slice(-10).join("\n")}`);
    };
    const response = async (id: number) => {
      await waitFor(() => out.some((l) => l.startsWith(`{"id":${id},`)), `response ${id}`);
      return JSON.parse(out.find((l) => l.startsWith(`{"id":${id},`)) ?? "{}") as {
        id: number;
        err_msg: string | null;
        output: { proofs: string[]; faults: number[] } | null;
      };
    };
    const send = (o: unknown) => child.stdin.write(`${typeof o === "string" ? o : JSON.stringify(o)}\n`);
    try {
      await waitFor(() => out.length > 0, "ready line");
      assert.equal(out[0], "window_post processor ready");
      // stdout's ready line comes first; the log line on stderr may trail it.
      await waitFor(
        () => err.some((l) => /\tready\t\{"pid": \d+, "ppid": \d+, "proc": "wdpost"\}/.test(l)),
        "ready log line",
      );

      const task = (reps: unknown[], extra: Record<string, unknown> = {}) => ({
        miner_id: 1000,
        proof_type: "StackedDrgWindow2KiBV1_2",
        replicas: reps,
        seed: Array.from(seed),
        ...extra,
      });
      // Three requests in flight at once.
      send({ id: 1, task: task([replica(sectors[0]!, 1), replica(sectors[1]!, 2)]) });
      send({ id: 2, task: task([replica(sectors[2]!, 3)]) });
      send({ id: 3, task: task([replica(sectors[3]!, 4)], { proof_type: "StackedDrgWindow2KiBV1" }) });
      const r1 = await response(1);
      assert.equal(r1.err_msg, null);
      assert.equal(r1.output?.proofs.length, 2);
      assert.deepEqual(r1.output?.faults, []);
      for (const [i, b64] of (r1.output?.proofs ?? []).entries()) {
        const decoded = decodeFallbackPoStSectorProof(new Uint8Array(Buffer.from(b64, "base64")));
        assert.equal(decoded.sectorId, BigInt(i + 1));
        const v = await verifySector({
          shape: k2,
          sectorNumber: i + 1,
          randomness: seed,
          apiVersion: "V1_2_0",
          sectorIndex: i,
          challengeCount: 10,
          commR: sectors[i]!.commR,
          proof: decoded.vanillaProof.sectors[0]!,
        });
        assert.deepEqual(v, { ok: true }, `sector ${i + 1}`);
      }
      assert.equal((await response(2)).output?.proofs.length, 1);
      assert.equal((await response(3)).output?.proofs.length, 1, "V1 (legacy) proof type");

      // Faults: a corrupted cache and a missing sealed file come back as faults, not errors.
      const tree = path.join(sectors[1]!.cacheDir, "sc-02-data-tree-r-last.dat");
      const orig = await fs.readFile(tree);
      const bad = Buffer.from(orig);
      bad[0] = (bad[0] ?? 0) ^ 1;
      await fs.writeFile(tree, bad);
      send({
        id: 4,
        task: task([
          replica(sectors[0]!, 1),
          replica(sectors[1]!, 2),
          { ...replica(sectors[2]!, 3), sealed_file: `${dir}/nope` },
        ]),
      });
      const r4 = await response(4);
      assert.equal(r4.err_msg, null);
      assert.deepEqual(r4.output, { proofs: [], faults: [2, 3] });
      await fs.writeFile(tree, orig);
      await waitFor(
        () => err.some((l) => /sector cannot be proven; reported as a fault.*"sector": 2/.test(l)),
        "the reason is logged",
      );

      // Task errors.
      const masked = Array.from(seed);
      masked[31] = 0xff;
      send({ id: 5, task: task([replica(sectors[0]!, 1)], { seed: masked }) });
      assert.match((await response(5)).err_msg ?? "", /must mask it \(seed\[31\] &= 0x3f\)/);
      send({ id: 6, task: task([replica(sectors[0]!, 1)], { proof_type: "StackedDrgWindow4KiBV1" }) });
      assert.match((await response(6)).err_msg ?? "", /unknown PoSt proof type "StackedDrgWindow4KiBV1"/);
      send({ id: 7, task: task([replica(sectors[0]!, 1)], { proof_type: "StackedDrgWinning2KiBV1" }) });
      assert.match((await response(7)).err_msg ?? "", /this window_post processor proves window PoSt only/);

      // Malformed lines: garbage is skipped; a bad request with an id is answered.
      send("this is not json");
      send({ id: 8, task: { miner_id: "x" } });
      assert.match((await response(8)).err_msg ?? "", /malformed request: task\.(miner_id|replicas)/);
      await waitFor(() => err.some((l) => /malformed request line/.test(l)), "malformed line logged");
      send({ id: 9, task: task([replica(sectors[0]!, 1)]) });
      assert.equal((await response(9)).output?.proofs.length, 1, "still serving");

      child.stdin.end();
      assert.equal(await exited, 0, "stdin EOF ends the processor");
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("winpost: 66-challenge winning proofs", async () => {
    const child = spawn(process.execPath, [cliEntry(), "winpost", "--threads", "1"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    try {
      let text = "";
      child.stdout.on("data", (c: Buffer) => {
        text += c.toString();
      });
      child.stdin.write(
        `${JSON.stringify({ id: 1, task: { miner_id: 1000, proof_type: "StackedDrgWinning2KiBV1", replicas: [replica(sectors[0]!, 1)], seed: Array.from(seed) } })}\n`,
      );
      for (let i = 0; i < 600 && text.split("\n").length < 3; i++)
        await new Promise((r) => setTimeout(r, 50));
      const [ready, line] = text.split("\n");
      assert.equal(ready, "winning_post processor ready");
      const r = JSON.parse(line ?? "{}") as { output: { proofs: string[]; faults?: number[] } };
      assert.equal(r.output.faults, undefined, "winning output has proofs only");
      const decoded = decodeFallbackPoStSectorProof(
        new Uint8Array(Buffer.from(r.output.proofs[0] ?? "", "base64")),
      );
      const proof = decoded.vanillaProof.sectors[0]!;
      assert.equal(proof.inclusionProofs.length, 66);
      const v = await verifySector({
        shape: k2,
        sectorNumber: 1,
        randomness: seed,
        apiVersion: "V1_0_0",
        sectorIndex: 0,
        challengeCount: 66,
        commR: sectors[0]!.commR,
        proof,
      });
      assert.deepEqual(v, { ok: true });
    } finally {
      child.stdin.end();
      child.kill("SIGKILL");
    }
  });
});
