/**
 * `daemon run --miner` in a Venus deployment, as real processes on loopback: the node registers its
 * miner at a sophon-gateway stand-in (test/helpers/gatewayStandIn.ts, go-jsonrpc's channel dialect and
 * the gateway's proof-event methods), which pushes InitConnect, then ComputeProof requests for the
 * miner's sectors (synthetic 2 KiB sectors attached to the node, as in winningPost.test.ts). The answers
 * are checked with the project's WinningPoSt vanilla verifier and against the 25 s budget; bad events
 * get error answers; `util miner gateways` and the metrics show the registration; the stand-in is
 * killed and restarted, and the node registers again and answers again.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { homePaths, readApiFile, readToken } from "../../src/daemon/home.js";
import type { GatewayRegistration } from "../../src/miner/gateway/index.js";
import { shapeByName } from "../../src/proofs/sectorShapes.js";
import { type SyntheticSector, sealedCid, writeSyntheticSector } from "../../src/proofs/syntheticSector.js";
import { type Proc, runCli, startCli } from "../../src/util/childProcess.js";
import { b64, GatewayStandIn, type ProofResponse } from "../helpers/gatewayStandIn.js";
import { tempDir } from "../helpers/tmp.js";
import { assertVerifies, type WireProof } from "../helpers/winningProof.js";

const MINER = 1000;
const k2 = shapeByName("2KiB")!;
const RAND = Uint8Array.from({ length: 32 }, (_, i) => (i * 53 + 7) & 0xff);
RAND[31] = 0xe1;
const BUDGET_MS = 25_000;

/** A ComputeProofRequest payload as sophon-gateway marshals it. */
const payload = (s: SyntheticSector, number: number) => ({
  SectorInfos: [
    { SealProof: 5, SectorNumber: number, SectorKey: null, SealedCID: { "/": sealedCid(s.commR) } },
  ],
  Rand: Buffer.from(RAND).toString("base64"),
  Height: 5150,
  NWVersion: 21,
});

async function verified(r: ProofResponse, s: SyntheticSector, number: number): Promise<void> {
  assert.equal(r.Error, "", r.Error);
  assert.ok(r.ms >= 0 && r.ms < BUDGET_MS, `answered in ${r.ms} ms, within the budget`);
  const proofs = JSON.parse(Buffer.from(r.Payload ?? "", "base64").toString("utf8")) as WireProof[];
  await assertVerifies(proofs, s, number, RAND);
}

describe("daemon run --miner: WinningPoSt through sophon-gateway proof events", () => {
  let dir = "";
  let cleanup = async () => {};
  let home = "";
  let daemon: Proc | undefined;
  const gw = new GatewayStandIn();
  const sectors = new Map<number, SyntheticSector>();

  const gateways = async (): Promise<{ code: number | null; rows: GatewayRegistration[] }> => {
    const r = await runCli(["--home", home, "util", "miner", "gateways", "--json"]);
    assert.equal(r.code, 0, r.output);
    return {
      code: r.code,
      rows: JSON.parse(r.output) as GatewayRegistration[],
    };
  };

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-gateway-e2e-"));
    await gw.start();
    home = path.join(dir, ".venus-sector-manager");
    const store = path.join(dir, "store1");
    for (const n of [1, 2])
      sectors.set(n, await writeSyntheticSector({ storeDir: store, miner: MINER, number: n, shape: k2 }));
    assert.equal((await runCli(["--home", home, "daemon", "init"])).code, 0);
    const cfgFile = homePaths(home).sectorManagerCfg;
    const cfg = await fs.readFile(cfgFile, "utf8");
    assert.match(cfg, /#Gateway = \[\]/);
    await fs.writeFile(
      cfgFile,
      `${cfg.replace("#Gateway = []", `Gateway = [${JSON.stringify(gw.apiInfo("gw-token"))}]`)}\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(store)}\n\n[[Miners]]\nActor = ${MINER}\n[Miners.PoSt]\nEnabled = false\n[Miners.Proof]\nEnabled = true\n`,
    );
    daemon = startCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0", "--miner"], {
      env: { ...process.env, VSM_LOG_LEVEL: "info" },
    });
    await daemon.waitForLine(/node ready/, 30_000);
    const attach = await runCli(["--home", home, "util", "storage", "attach", "--name", "store1", store]);
    assert.equal(attach.code, 0, attach.output);
  });
  after(async () => {
    await daemon?.stop(5000);
    await gw.kill();
    await cleanup();
  });

  test("registers the miner, answers ComputeProof with a proof that verifies, within the budget", async () => {
    await gw.waitRegistered("f01000");
    const ch = gw.openChannels("f01000")[0]!;
    assert.equal(ch.path, "/rpc/v2");
    assert.equal(ch.headers.authorization, "Bearer gw-token");
    assert.equal(ch.headers["x-venus-api-namespace"], "gateway.IGateway");
    const d = daemon as Proc;
    await d.waitForLine(
      new RegExp(`confirmed the registration \\(InitConnect\\).*"channel": "${ch.channelId}"`),
      5000,
    );
    // Honesty: the built-in prover's answers are vanilla; said once for the gateway.
    const honest = d.lines.filter((l) => /answers the gateway's ComputeProof with vanilla proofs/.test(l));
    assert.equal(honest.length, 1, d.lines.join("\n"));
    assert.match(honest[0] ?? "", new RegExp(`"gateway": "127.0.0.1:${gw.port}"`));

    await verified(await gw.computeProof("f01000", payload(sectors.get(1)!, 1)), sectors.get(1)!, 1);
    await verified(await gw.computeProof("f01000", payload(sectors.get(2)!, 2)), sectors.get(2)!, 2);
  });

  test("bad events are answered with an error and a warning; the node keeps answering", async () => {
    const ch = gw.openChannels("f01000")[0]!;
    const unknown = await gw.request(ch, {
      Id: "0b7c9d3e-2f1a-4c5b-8d6e-7f8091a2b3c4",
      Method: "SectorsUnsealPiece",
      Payload: b64("{}"),
    });
    assert.match(unknown.Error, /unknown proof event method "SectorsUnsealPiece"/);
    const malformed = await gw.computeProof("f01000", { SectorInfos: "nope", Rand: "" });
    assert.match(malformed.Error, /the ComputeProof payload cannot be used: sectorInfos must be an array/);
    // A sector this node does not hold for the channel's miner (another miner's request routed here).
    const s1 = sectors.get(1)!;
    const wrong = await gw.computeProof("f01000", payload(s1, 77));
    assert.match(wrong.Error, /sector 77 of f01000 is not in this node's normal sector index/);
    await verified(await gw.computeProof("f01000", payload(s1, 1)), s1, 1);
    const d = daemon as Proc;
    assert.ok(
      d.lines.some((l) => /WARN.*refusing a proof event this node cannot act on.*SectorsUnsealPiece/.test(l)),
    );
  });

  test("util miner gateways and the metrics show the registration and its requests", async () => {
    // The stand-in holds the last answer a moment before the node has the gateway's reply and counts it.
    let { rows } = await gateways();
    for (let i = 0; i < 50 && rows[0]?.answered !== 3; i++) {
      await sleep(100);
      ({ rows } = await gateways());
    }
    assert.equal(rows.length, 1);
    const r = rows[0]!;
    assert.equal(r.gateway, `127.0.0.1:${gw.port}`);
    assert.equal(r.miner, "f01000");
    assert.equal(r.connected, true);
    assert.equal(r.channelId, gw.openChannels("f01000")[0]?.channelId);
    assert.equal(r.answered, 3);
    assert.equal(r.lastRequest?.result, "ok");
    assert.match(r.lastError?.message ?? "", /sector 77/);
    const table = await runCli(["--home", home, "util", "miner", "gateways"]);
    assert.equal(table.code, 0, table.output);
    assert.match(table.output, /GATEWAY\s+MINER\s+STATE/);
    assert.match(table.output, new RegExp(`127\\.0\\.0\\.1:${gw.port}\\s+f01000\\s+registered`));
    const metrics = await (await fetch(`http://${await readApiFile(home)}/metrics`)).text();
    assert.match(metrics, /vsm_gateway_requests_total\{gateway="[^"]+",miner="f01000",result="ok"\} 3/);
    assert.match(metrics, /vsm_gateway_requests_total\{gateway="[^"]+",miner="f01000",result="invalid"\} 2/);
    assert.match(metrics, /vsm_gateway_answer_duration_seconds_count\{gateway="[^"]+",miner="f01000"\} 6/);
    assert.match(metrics, /vsm_gateway_connected\{gateway="[^"]+",miner="f01000"\} 1/);
    // The dashboard's state carries the same registration (its Gateways panel).
    const dash = await fetch(`http://${await readApiFile(home)}/api/dashboard`, {
      headers: { authorization: `Bearer ${(await readToken(home)) ?? ""}` },
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(dash.status, 200);
    const state = (await dash.json()) as {
      gateways?: { gateway: string; miner: string; connected: boolean; answered: number }[];
    };
    assert.deepEqual(
      state.gateways?.map((g) => [g.gateway, g.miner, g.connected, g.answered]),
      [[`127.0.0.1:${gw.port}`, "f01000", true, 3]],
    );
  });

  test("util miner gateways against a node without --miner says so", async () => {
    const other = path.join(dir, ".venus-no-miner");
    assert.equal((await runCli(["--home", other, "daemon", "init"])).code, 0);
    const p = startCli(["--home", other, "daemon", "run", "--listen=127.0.0.1:0"], {
      env: { ...process.env, VSM_LOG_LEVEL: "info" },
    });
    try {
      await p.waitForLine(/node ready/, 30_000);
      const r = await runCli(["--home", other, "util", "miner", "gateways"]);
      assert.equal(r.code, 1);
      assert.match(r.output, /runs without --miner, so it registers at no gateway/);
    } finally {
      await p.stop(5000);
    }
  });

  test("the gateway is killed and restarted: the node registers again and answers again", async () => {
    await gw.kill();
    let down: GatewayRegistration[] = [];
    for (let i = 0; i < 100; i++) {
      const r = await runCli(["--home", home, "util", "miner", "gateways", "--json"]);
      down = JSON.parse(r.output) as GatewayRegistration[];
      if (down[0]?.connected === false) {
        assert.equal(r.code, 1, "a lost registration is the command's exit code");
        break;
      }
      await sleep(100);
    }
    assert.equal(down[0]?.connected, false, "the lost registration is shown");
    await sleep(1000);
    const restarted = Date.now();
    await gw.restart();
    await gw.waitRegistered("f01000");
    const back = Date.now() - restarted;
    assert.ok(back < 6_000, `registered again ${back} ms after the restart (backoff capped at 2 s)`);
    const s2 = sectors.get(2)!;
    await verified(await gw.computeProof("f01000", payload(s2, 2)), s2, 2);
    const { rows } = await gateways();
    assert.equal(rows[0]?.connected, true);
    assert.match(rows[0]?.lastError?.message ?? "", /lost|cannot reach/);
    const d = daemon as Proc;
    assert.ok(
      d.lines.some((l) =>
        /proof event channel lost; registering again|cannot register for proof events/.test(l),
      ),
    );
  });
});
