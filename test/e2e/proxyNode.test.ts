/**
 * The seed's "Proxy node mode" and "--conf-dir" sections, as real processes on loopback:
 * a source node and a proxy PoSter node with different homes and ports, the proxy reading the
 * source's config through --conf-dir; attach on the source; identical answers; writes refused on the
 * proxy; the source killed and restarted while the proxy keeps running and recovers.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { homePaths, readApiFile, readToken } from "../../src/daemon/home.js";
import { shapeByName } from "../../src/proofs/sectorShapes.js";
import { writeSyntheticSector } from "../../src/proofs/syntheticSector.js";
import { RpcClient } from "../../src/rpc/client.js";
import { type Proc, runCli, startCli, startProcess } from "../../src/util/childProcess.js";
import { SmError } from "../../src/util/errors.js";
import { tempDir } from "../helpers/tmp.js";

const MINER = 1000;
const SECTORS = 20;
const READY = /node ready/;
const k2 = shapeByName("2KiB")!;

describe("source node + proxy PoSter node (real processes)", () => {
  let root = "";
  let cleanup = async () => {};
  let sourceHome = "";
  let posterHome = "";
  let storeDir = "";
  const procs: Proc[] = [];
  let sourceApi = "";
  let posterApi = "";

  const daemon = async (home: string, args: string[]) => {
    // The test runner quiets logs (VSM_LOG_LEVEL=warn); these daemons must print their info lines.
    const p = startCli(["--home", home, "daemon", "run", ...args], {
      env: { ...process.env, VSM_LOG_LEVEL: "info" },
    });
    procs.push(p);
    await p.waitForLine(READY, 20_000);
    return p;
  };
  const refs = (n: number) => Array.from({ length: n }, (_, i) => ({ Miner: MINER, Number: i + 1 }));

  before(async () => {
    ({ dir: root, cleanup } = await tempDir("vsm-e2e-"));
    sourceHome = path.join(root, ".venus-sector-manager");
    posterHome = path.join(root, ".venus-individual-poster");
    storeDir = path.join(root, "store1");
    for (let n = 1; n <= SECTORS; n++)
      await writeSyntheticSector({ storeDir, miner: MINER, number: n, shape: k2 });
    await writeSyntheticSector({ storeDir, miner: MINER, number: 5, shape: k2, type: "upgrade" });
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop(2000)));
    await cleanup();
  });

  test("daemon init on both homes", async () => {
    for (const home of [sourceHome, posterHome]) {
      const r = await runCli(["--home", home, "daemon", "init"]);
      assert.equal(r.code, 0, r.output);
      assert.match(r.output, /created .*sector-manager\.cfg/);
      assert.match(r.output, /created .*ext-prover\.cfg/);
    }
    await fs.appendFile(
      homePaths(sourceHome).sectorManagerCfg,
      `\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(storeDir)}\n\n[[Miners]]\nActor = ${MINER}\n[Miners.PoSt]\nEnabled = false\n`,
    );
    const again = await runCli(["--home", sourceHome, "daemon", "init"]);
    assert.equal(again.code, 0);
    assert.match(again.output, /kept .*sector-manager\.cfg \(exists\)/);
    assert.match(
      await fs.readFile(homePaths(sourceHome).sectorManagerCfg, "utf8"),
      /Name = "store1"/,
      "init did not overwrite",
    );
  });

  test("the source node starts (daemon run --miner); a second daemon on its home is refused", async () => {
    const p = await daemon(sourceHome, ["--miner", "--listen=127.0.0.1:0"]);
    sourceApi = (await readApiFile(sourceHome)) ?? "";
    assert.match(sourceApi, /^127\.0\.0\.1:\d+$/);
    assert.ok(
      p.lines.some((l) =>
        /^\d{4}-\d\d-\d\dT[\d:.]+[+-]\d{4}\tINFO\tdaemon\tdaemon\/node\.ts:\d+\tnode ready\t\{.*"indexer": "local"/.test(
          l,
        ),
      ),
      p.lines.join("\n"),
    );
    const second = await runCli(["--home", sourceHome, "daemon", "run", "--listen=127.0.0.1:0"]);
    assert.equal(second.code, 1);
    assert.match(second.output, /^error: home .* is in use by another process \(pid \d+, daemon run/m);
  });

  test("attach on the running source indexes the store through its API", async () => {
    const r = await runCli(["--home", sourceHome, "util", "storage", "attach", "--name", "store1", storeDir]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /recorded through the running daemon/);
    assert.match(
      r.output,
      new RegExp(`attached ${SECTORS + 1} sector\\(s\\) as instance "store1": ${SECTORS} normal, 1 upgrade`),
    );
    assert.match(r.output, /store "store1" is already in \[\[Common\.PersistStores\]\]/);
  });

  test("the proxy node (--proxy, --conf-dir, --poster) answers exactly as the source", async () => {
    const p = await daemon(posterHome, [
      `--proxy=${sourceApi}`,
      "--listen=127.0.0.1:0",
      `--conf-dir=${sourceHome}`,
      "--poster",
    ]);
    posterApi = (await readApiFile(posterHome)) ?? "";
    assert.notEqual(posterApi, sourceApi);
    assert.ok(p.lines.some((l) => /source node reachable/.test(l)));
    assert.ok(p.lines.some((l) => /node ready.*"indexer": "proxy 127\.0\.0\.1:\d+"/.test(l)));
    const src = new RpcClient({ url: `http://${sourceApi}/rpc/v0` });
    const prx = new RpcClient({ url: `http://${posterApi}/rpc/v0` });
    for (const type of ["normal", "upgrade"]) {
      const a = await src.call("Venus.SectorIndexerFindMany", [type, refs(SECTORS + 3)]);
      const b = await prx.call("Venus.SectorIndexerFindMany", [type, refs(SECTORS + 3)]);
      assert.deepEqual(b, a, type);
      for (const r of refs(4))
        assert.deepEqual(
          await prx.call("Venus.SectorIndexerFind", [type, r]),
          await src.call("Venus.SectorIndexerFind", [type, r]),
        );
    }
    // Paths come from the source's config, read by the proxy through --conf-dir.
    const find = await runCli(["--home", posterHome, "util", "storage", "find", "f01000", "5", "--upgrade"]);
    assert.equal(find.code, 0, find.output);
    assert.ok(find.output.includes(`store1  ${path.join(storeDir, "update", "s-t01000-5")}`), find.output);
    const list = await runCli(["--home", posterHome, "util", "storage", "list"]);
    assert.equal(list.code, 0, list.output);
    assert.match(list.output, /sector index: proxy 127\.0\.0\.1:\d+ \(read-only\)/);
    assert.match(
      list.output,
      new RegExp(`store1\\s+${storeDir.replace(/[/.]/g, "\\$&")}\\s+${SECTORS}\\s+1\\s`),
    );
  });

  test("a sector attached on the source is visible through the proxy at once", async () => {
    const prx = new RpcClient({ url: `http://${posterApi}/rpc/v0` });
    const n = SECTORS + 1;
    assert.equal(
      (await prx.call<{ Found: boolean }>("Venus.SectorIndexerFind", ["normal", { Miner: MINER, Number: n }]))
        .Found,
      false,
    );
    await writeSyntheticSector({ storeDir, miner: MINER, number: n, shape: k2 });
    assert.equal(
      (await runCli(["--home", sourceHome, "util", "storage", "attach", "--name", "store1", storeDir])).code,
      0,
    );
    assert.equal(
      (await prx.call<{ Found: boolean }>("Venus.SectorIndexerFind", ["normal", { Miner: MINER, Number: n }]))
        .Found,
      true,
    );
  });

  test("writes through the proxy are refused, even with its admin token", async () => {
    const r = await runCli(["--home", posterHome, "util", "storage", "attach", "--name", "store1", storeDir]);
    assert.equal(r.code, 1);
    assert.match(
      r.output,
      /^error: this node's sector index is read-only: it reads sector locations from the source node/m,
    );
    const admin = new RpcClient({ url: `http://${posterApi}/rpc/v0`, token: await readToken(posterHome) });
    await assert.rejects(
      admin.call("Venus.SectorIndexerStore", [
        "normal",
        [{ Miner: MINER, Number: 1, SealedFile: "x", CacheDir: "x" }],
      ]),
      (e: unknown) => e instanceof SmError && e.code === "SECTORS_READ_ONLY",
    );
    const anon = new RpcClient({ url: `http://${posterApi}/rpc/v0` });
    await assert.rejects(
      anon.call("Venus.SectorIndexerStore", ["normal", []]),
      (e: unknown) => e instanceof SmError && e.code === "RPC_PERMISSION_DENIED",
    );
  });

  test("the source dies: the proxy fails lookups clearly and keeps running; it recovers when the source returns", async () => {
    const prx = new RpcClient({ url: `http://${posterApi}/rpc/v0` });
    const source = procs[0]!;
    source.kill("SIGKILL");
    await source.exited;
    await assert.rejects(
      prx.call("Venus.SectorIndexerFind", ["normal", { Miner: MINER, Number: 1 }]),
      (e: unknown) => {
        return (
          e instanceof SmError &&
          e.code === "SECTORS_SOURCE_UNAVAILABLE" &&
          e.message.includes(sourceApi) &&
          /connection refused/.test(e.message)
        );
      },
    );
    const cli = await runCli(["--home", posterHome, "util", "storage", "find", "1000", "1"]);
    assert.equal(cli.code, 1);
    assert.match(cli.output, /^error: sector lookup failed: source node .* is unavailable/m);
    assert.equal((await fetch(`http://${posterApi}/healthcheck`)).status, 200, "the proxy is still serving");
    assert.equal(procs[1]!.child.exitCode, null, "the proxy process is alive");
    // The source comes back on the same address (its stale lock is taken over).
    await daemon(sourceHome, ["--miner", `--listen=${sourceApi}`]);
    const back = await prx.call<{ Found: boolean; Instance: { SealedFile: string } }>(
      "Venus.SectorIndexerFind",
      ["normal", { Miner: MINER, Number: 1 }],
    );
    assert.deepEqual(back, { Found: true, Instance: { SealedFile: "store1", CacheDir: "store1" } });
  });

  test("SIGTERM stops both cleanly and removes their api and lock files", async () => {
    for (const p of procs.slice(1)) {
      const r = await p.stop(10_000);
      assert.equal(r.code, 0, p.lines.slice(-5).join("\n"));
      assert.ok(p.lines.some((l) => /node stopped/.test(l)));
    }
    for (const home of [sourceHome, posterHome]) {
      await assert.rejects(fs.access(homePaths(home).api), `${home}/api removed`);
      await assert.rejects(fs.access(homePaths(home).lock), `${home}/daemon.lock removed`);
    }
  });

  test("attach works offline when no daemon holds the home", async () => {
    await writeSyntheticSector({ storeDir, miner: MINER, number: 100, shape: k2 });
    const r = await runCli([
      "--home",
      sourceHome,
      "util",
      "storage",
      "attach",
      "--name",
      "store1",
      "--json",
      storeDir,
    ]);
    assert.equal(r.code, 0, r.output);
    const out = JSON.parse(r.output) as { via: string; attached: { normal: number } };
    assert.equal(out.via, "offline");
    assert.equal(out.attached.normal, SECTORS + 2);
    const p = await daemon(sourceHome, ["--listen=127.0.0.1:0"]);
    const find = await runCli(["--home", sourceHome, "util", "storage", "find", "1000", "100", "--json"]);
    assert.equal((JSON.parse(find.output) as { Found: boolean }).Found, true);
    await p.stop();
  });
});

describe("CLI bad input: one clear line and a non-zero exit", () => {
  let dir = "";
  let cleanup = async () => {};
  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-cli-"));
    await runCli(["--home", path.join(dir, "h"), "daemon", "init"]);
  });
  after(() => cleanup());

  const cases: [string, (h: string) => Promise<string[]> | string[], RegExp][] = [
    [
      "uninitialised home",
      (h) => ["--home", `${h}-missing`, "daemon", "run", "--listen=127.0.0.1:0"],
      /does not exist; run `vsm --home .* daemon init`/,
    ],
    [
      "--listen without a port",
      (h) => ["--home", h, "daemon", "run", "--listen=1789"],
      /--listen="1789": expected \[host\]:port/,
    ],
    [
      "--proxy with a scheme",
      (h) => ["--home", h, "daemon", "run", "--listen=127.0.0.1:0", "--proxy=http://127.0.0.1:1789"],
      /without a scheme/,
    ],
    [
      "--conf-dir that does not exist",
      (h) => ["--home", h, "daemon", "run", "--listen=127.0.0.1:0", `--conf-dir=${h}/nope`],
      /--conf-dir ".*nope" does not exist; check the path for a typo/,
    ],
    [
      "--ext-prover with no blocks",
      async (h) => {
        await fs.writeFile(path.join(h, "ext-prover.cfg"), "# nothing\n");
        return ["--home", h, "daemon", "run", "--listen=127.0.0.1:0", "--ext-prover"];
      },
      /--ext-prover is set but .*ext-prover\.cfg has no \[\[WdPost\]\] or \[\[WinPost\]\] block/,
    ],
    [
      "a bad config value",
      async (h) => {
        const f = path.join(h, "sector-manager.cfg");
        await fs.writeFile(
          f,
          (await fs.readFile(f, "utf8")).replace('#SingleCheckTimeout = "10m0s"', "SingleCheckTimeout = 10"),
        );
        return ["--home", h, "daemon", "run", "--listen=127.0.0.1:0"];
      },
      /sector-manager\.cfg:\d+: Common\.Proving\.SingleCheckTimeout: expected a duration string/,
    ],
    [
      "util storage list without a daemon",
      (h) => ["--home", h, "util", "storage", "list"],
      /no daemon is running for home/,
    ],
    [
      "util storage find with a bad miner",
      (h) => ["--home", h, "util", "storage", "find", "f1abc", "1"],
      /miner "f1abc" is not an actor id/,
    ],
    [
      "attach of a missing directory",
      (h) => ["--home", h, "util", "storage", "attach", `${h}/nowhere`],
      /nowhere does not exist/,
    ],
    ["an unknown flag", (h) => ["--home", h, "daemon", "run", "--lisen=:1"], /unknown option '--lisen=:1'/],
  ];
  for (const [name, args, re] of cases) {
    test(name, async () => {
      const r = await runCli(await args(path.join(dir, "h")), { timeoutMs: 20_000 });
      assert.notEqual(r.code, 0, r.output);
      assert.match(r.output, re);
      const errors = r.lines.filter((l) => l.startsWith("error"));
      assert.equal(errors.length, 1, r.output);
    });
  }
});

describe("npm run demo", () => {
  test("runs the seed's scenario end to end and leaves nothing running", async () => {
    // Through npm itself, so the package.json script is what is tested (npm_execpath is set under npm test).
    const npm = process.env.npm_execpath;
    const p = npm
      ? startProcess(process.execPath, [npm, "run", "-s", "demo"])
      : startProcess("npm", ["run", "-s", "demo"]);
    const killer = setTimeout(() => p.kill("SIGKILL"), 180_000);
    const exit = await p.exited;
    clearTimeout(killer);
    const r = { code: exit.code, output: p.lines.join("\n") };
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /identical answers: yes/);
    assert.match(r.output, /proxy lookup of sector 1 after the restart: found/);
    assert.match(r.output, /demo finished in/);
    const pids = [...r.output.matchAll(/ready \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 4, "devnet, source, poster, restarted source");
    assert.match(r.output, /new faults \[1\]/, "the injected fault is judged");
    assert.match(r.output, /recovered \[1\]/, "and recovered");
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `daemon pid ${pid} is gone`);
  });
});
