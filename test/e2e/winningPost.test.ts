/**
 * `daemon run --miner` serving WinningPoSt as real processes on loopback: a source node with synthetic
 * sectors attached computes `Venus.ComputeProof` with the built-in prover; a second node reads the
 * source's index (`--proxy`, `--conf-dir`) and proves through its `[[WinPost]]` ext-prover child
 * (our own `winpost`). Every proof is checked with our verifier for the challenges the randomness
 * picks; bad input and unprovable sectors come back as JSON-RPC errors, and the daemons keep serving.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { homePaths, readApiFile, readToken } from "../../src/daemon/home.js";
import { shapeByName } from "../../src/proofs/sectorShapes.js";
import { type SyntheticSector, sealedCid, writeSyntheticSector } from "../../src/proofs/syntheticSector.js";
import { RpcClient } from "../../src/rpc/client.js";
import { RpcError } from "../../src/rpc/errors.js";
import { type Proc, runCli, startCli } from "../../src/util/childProcess.js";
import { tempDir } from "../helpers/tmp.js";
import { assertVerifies, type WireProof } from "../helpers/winningProof.js";

const MINER = 1000;
const k2 = shapeByName("2KiB")!;
/** The WinningPoStChallengeSeed draw as the chain gives it: top bits set, so it must be masked. */
const RAND = Uint8Array.from({ length: 32 }, (_, i) => (i * 91 + 13) & 0xff);
RAND[31] = 0xc5;
const RAND_B64 = Buffer.from(RAND).toString("base64");

/** The proof of sector `number` for RAND verifies. */
const verifies = (proofs: WireProof[], s: SyntheticSector, number: number) =>
  assertVerifies(proofs, s, number, RAND);

/** The gateway's ExtendedSectorInfo JSON for one of our sectors (SealProof 5 = StackedDrg2KiBV1_1). */
const info = (s: SyntheticSector, number: number, extra: Record<string, unknown> = {}) => ({
  SealProof: 5,
  SectorNumber: number,
  SectorKey: null,
  SealedCID: { "/": sealedCid(s.commR) },
  ...extra,
});

async function fails(p: Promise<unknown>, rpcCode: number, code: string, re: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RpcError, String(e));
    assert.equal(e.rpcCode, rpcCode, e.message);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });
}

describe("daemon run --miner: WinningPoSt over JSON-RPC", () => {
  let dir = "";
  let cleanup = async () => {};
  let srcHome = "";
  let store = "";
  const sectors = new Map<number, SyntheticSector>();
  let upgraded: SyntheticSector;
  const procs: Proc[] = [];
  const env = { ...process.env, VSM_LOG_LEVEL: "info" };
  let src: Proc;
  let rpc: RpcClient;
  let url = "";

  const daemon = async (home: string, args: string[]) => {
    const p = startCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0", ...args], { env });
    procs.push(p);
    await p.waitForLine(/node ready/, 30_000);
    return p;
  };
  const compute = (params: unknown[], client = rpc) =>
    client.call<WireProof[]>("Venus.ComputeProof", params, { timeoutMs: 30_000 });

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-winning-e2e-"));
    srcHome = path.join(dir, ".venus-sector-manager");
    store = path.join(dir, "store1");
    for (const n of [1, 2, 3])
      sectors.set(n, await writeSyntheticSector({ storeDir: store, miner: MINER, number: n, shape: k2 }));
    upgraded = await writeSyntheticSector({
      storeDir: store,
      miner: MINER,
      number: 4,
      shape: k2,
      type: "upgrade",
    });
    assert.equal((await runCli(["--home", srcHome, "daemon", "init"])).code, 0);
    await fs.appendFile(
      homePaths(srcHome).sectorManagerCfg,
      `\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(store)}\n\n[[Miners]]\nActor = ${MINER}\n[Miners.PoSt]\nEnabled = false\n[Miners.Proof]\nEnabled = true\n\n[[Miners]]\nActor = 1001\n`,
    );
    // Read only by the node started with --conf-dir and --ext-prover: one winpost child, our own.
    await fs.writeFile(
      homePaths(srcHome).extProverCfg,
      '[[WinPost]]\n[WinPost.Envs]\nCUDA_VISIBLE_DEVICES = "0"\n',
    );
    src = await daemon(srcHome, ["--miner"]);
    const attach = await runCli(["--home", srcHome, "util", "storage", "attach", "--name", "store1", store]);
    assert.equal(attach.code, 0, attach.output);
    url = `http://${await readApiFile(srcHome)}/rpc/v0`;
    rpc = new RpcClient({ url, token: await readToken(srcHome) });
  });
  after(async () => {
    await Promise.all(procs.reverse().map((p) => p.stop(5000)));
    await cleanup();
  });

  test("the source node proves the challenged sector with the built-in prover; the proof verifies", async () => {
    assert.ok(
      src.lines.some((l) =>
        /WinningPoSt service ready \(Venus\.ComputeProof\).*"miners": \["f01000"\].*built-in vanilla prover/.test(
          l,
        ),
      ),
      src.lines.join("\n"),
    );
    assert.ok(
      src.lines.some((l) => /are vanilla proofs, not SNARKs/.test(l)),
      "says what the proof is",
    );
    const proofs = await compute(["f01000", [info(sectors.get(1)!, 1)], RAND_B64, 4242, 21]);
    await verifies(proofs, sectors.get(1)!, 1);
    // The gateway's v1 form (no height, no network version) and the actor id as a number.
    await verifies(await compute([MINER, [info(sectors.get(2)!, 2)], RAND_B64]), sectors.get(2)!, 2);
    // A snap-upgraded sector (SectorKey set) is found in the upgrade index, files in update/.
    const key = { "/": sealedCid(new Uint8Array(32).fill(3)) };
    await verifies(await compute(["t01000", [info(upgraded, 4, { SectorKey: key })], RAND_B64]), upgraded, 4);
    const line = await src.waitForLine(/winning post computed.*"sector": 4/, 5000);
    assert.match(line, /"prover": "builtin"/);
  });

  test("bad calls are JSON-RPC errors that say what is wrong; the node keeps serving", async () => {
    const s1 = sectors.get(1)!;
    const anonymous = new RpcClient({ url });
    await fails(
      compute(["f01000", [info(s1, 1)], RAND_B64], anonymous),
      -32001,
      "RPC_PERMISSION_DENIED",
      /Venus\.ComputeProof needs the 'write' permission/,
    );
    const readOnly = await rpc.call<string>("Venus.AuthNew", ["read"]);
    await fails(
      compute(["f01000", [info(s1, 1)], RAND_B64], new RpcClient({ url, token: readOnly })),
      -32001,
      "RPC_PERMISSION_DENIED",
      /needs the 'write' permission/,
    );
    await fails(
      compute(["f09999", [info(s1, 1)], RAND_B64]),
      -32030,
      "MINER_UNKNOWN",
      /miner f09999 is not configured on this node: add a \[\[Miners\]\] block with Actor = 9999 and \[Miners\.Proof\] Enabled = true to .*sector-manager\.cfg/,
    );
    await fails(
      compute(["f01001", [info(s1, 1)], RAND_B64]),
      -32031,
      "MINER_PROOF_DISABLED",
      /WinningPoSt is disabled for miner f01001: set \[Miners\.Proof\] Enabled = true/,
    );
    const invalid = [
      [
        ["f01000", [{ SealProof: 5, SectorNumber: 1 }], RAND_B64],
        /sectorInfos\[0\]\.SealedCID must be an object/,
      ],
      [
        ["f01000", [info(s1, 1, { SealProof: 42 })], RAND_B64],
        /SealProof 42 is not a known RegisteredSealProof/,
      ],
      [
        ["f01000", [info(s1, 1)], Buffer.alloc(16, 7).toString("base64")],
        /rand is 16 bytes; chain randomness is 32 bytes/,
      ],
      [["f01000", [info(s1, 1)], RAND_B64.replace(/=$/, "")], /rand is not standard base64 with padding/],
      [["f01000", [info(s1, 1)], "not base64 at all!"], /rand is not standard base64/],
      [["f01000", [], RAND_B64], /sectorInfos is empty/],
      [["f01000", [info(s1, 1), info(s1, 2)], RAND_B64], /exactly 1 \(WINNING_POST_SECTOR_COUNT\)/],
      [["f3notanaddress", [info(s1, 1)], RAND_B64], /miner "f3notanaddress" is not an address/],
      [["f01000"], /expected 3 to 5 positional parameter\(s\), got 1/],
    ] as const;
    for (const [params, re] of invalid) {
      await fails(
        compute([...params]),
        -32602,
        "RPC_INVALID_PARAMS",
        new RegExp(`^Venus\\.ComputeProof: invalid params: .*${re.source}`),
      );
    }
    await fails(
      compute(["f01000", [info(s1, 77)], RAND_B64]),
      -32032,
      "WINNING_POST_SECTOR_NOT_FOUND",
      /sector 77 of f01000 is not in this node's normal sector index \(local\); attach the storage/,
    );
    await fails(
      compute(["f01000", [info(s1, 1, { SealProof: 8 })], RAND_B64]),
      -32033,
      "WINNING_POST_SECTOR_UNPROVABLE",
      /sector 1 of f01000 cannot be proven: sealed file is 2048 bytes \(2KiB\) but the sector is 32GiB/,
    );
    await fails(
      compute(["f01000", [info(sectors.get(2)!, 1)], RAND_B64]),
      -32033,
      "WINNING_POST_SECTOR_UNPROVABLE",
      /sector 1 of f01000 cannot be proven: comm_r .* ≠ Poseidon\(comm_c, comm_r_last\)/,
    );
    // Named params, as a JSON-RPC client might send them, are refused by the dispatcher.
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await readToken(srcHome)}` },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "Venus.ComputeProof",
        params: { miner: "f01000" },
      }),
    });
    assert.equal(((await res.json()) as { error: { code: number } }).error.code, -32602);

    await verifies(await compute(["f01000", [info(s1, 1)], RAND_B64]), s1, 1);
    const metrics = await (await fetch(url.replace("/rpc/v0", "/metrics"))).text();
    assert.match(metrics, /vsm_winning_post_requests_total\{miner="f01000",result="ok"\} [4-9]/);
    assert.match(metrics, /vsm_winning_post_requests_total\{miner="",result="refused"\} 2/);
    assert.match(metrics, /vsm_winning_post_duration_seconds_count\{miner="f01000",prover="builtin"\} [4-9]/);
  });

  test("a --proxy node proves through its [[WinPost]] child, reading the source's index", async () => {
    const home = path.join(dir, ".venus-miner-proxy");
    assert.equal((await runCli(["--home", home, "daemon", "init"])).code, 0);
    const p = await daemon(home, [
      `--proxy=${await readApiFile(srcHome)}`,
      `--conf-dir=${srcHome}`,
      "--miner",
      "--ext-prover",
    ]);
    assert.ok(
      p.lines.some((l) => /WinningPoSt service ready.*ext-prover \[\[WinPost\]\] children/.test(l)),
      p.lines.join("\n"),
    );
    assert.ok(
      p.lines.some((l) => /"proc": "winpost"/.test(l)),
      "the winpost child is ready",
    );
    const proxied = new RpcClient({
      url: `http://${await readApiFile(home)}/rpc/v0`,
      token: await readToken(home),
    });
    await verifies(
      await compute(["f01000", [info(sectors.get(3)!, 3)], RAND_B64], proxied),
      sectors.get(3)!,
      3,
    );
    await p.waitForLine(/winning post computed.*"sector": 3.*"prover": "ext"/, 5000);
    const status = await proxied.call<{ stage: string; done: number }[]>("Venus.ExtProverStatus", []);
    assert.deepEqual(
      status.map((s) => [s.stage, s.done]),
      [["winning_post", 1]],
    );

    // Damage the sector's tree cache (sizes unchanged): the child finds it while proving and says why.
    const tree = path.join(sectors.get(3)!.cacheDir, "sc-02-data-tree-r-last.dat");
    const orig = await fs.readFile(tree);
    const bad = Buffer.from(orig);
    bad[5] = (bad[5] ?? 0) ^ 1;
    await fs.writeFile(tree, bad);
    try {
      await fails(
        compute(["f01000", [info(sectors.get(3)!, 3)], RAND_B64], proxied),
        -32034,
        "WINNING_POST_PROVER_FAILED",
        /the \[\[WinPost\]\] ext-prover could not prove sector 3 of f01000: WinPost\[0\] \(pid \d+\): sector 3: .*corrupt/,
      );
    } finally {
      await fs.writeFile(tree, orig);
    }
    // A sector the source does not know is reported through the proxy as well.
    await fails(
      compute(["f01000", [info(sectors.get(3)!, 55)], RAND_B64], proxied),
      -32032,
      "WINNING_POST_SECTOR_NOT_FOUND",
      /sector 55 of f01000 is not in this node's normal sector index \(proxy /,
    );
    await verifies(
      await compute(["f01000", [info(sectors.get(3)!, 3)], RAND_B64], proxied),
      sectors.get(3)!,
      3,
    );
    for (let i = 0; i < 20 && !p.lines.some((l) => /winning post failed/.test(l)); i++) await sleep(50);
    assert.ok(p.lines.some((l) => /WARN\tminer\t.*winning post failed.*WINNING_POST_PROVER_FAILED/.test(l)));
  });
});
