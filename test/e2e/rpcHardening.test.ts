/**
 * Issue 10, findings 1, 12, 13 and 14 against real processes: a `daemon run --ext-prover` node and a
 * `devnet run` chain, each sent the malformed request lines that used to kill them over raw loopback
 * sockets; what an anonymous reader of `Venus.ExtProverStatus` sees of a child's secrets; typed
 * params, token and `?token=` rules through the real daemon; and the listen notice.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { homePaths, readApiFile, readToken } from "../../src/daemon/home.js";
import { cliEntry, type Proc, runCli, startCli, startProcess } from "../../src/util/childProcess.js";
import { MALFORMED_REQUESTS, rawRequest } from "../helpers/rawHttp.js";
import { tempDir } from "../helpers/tmp.js";

// biome-ignore lint/suspicious/noExplicitAny: JSON-RPC answers are inspected structurally.
type Json = any;

const SECRET_VALUE = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
const STORE_SECRET = "plugin-password-0123456789";

describe("malformed requests and secrets against real node and devnet processes", {
  timeout: 120_000,
}, () => {
  let cleanup = async () => {};
  let home = "";
  let devHome = "";
  let node: Proc | undefined;
  let devnet: Proc | undefined;
  let nodeApi = "";
  let devApi = "";
  let admin = "";
  const env = { ...process.env, VSM_LOG_LEVEL: "info", VSM_PROVER_THREADS: "1" };

  before(async () => {
    let dir = "";
    ({ dir, cleanup } = await tempDir("vsm-rpc-e2e-"));
    home = path.join(dir, "node");
    devHome = path.join(dir, "devnet");
    const storeDir = path.join(dir, "store1");
    await fs.mkdir(storeDir);
    assert.equal((await runCli(["--home", home, "daemon", "init"])).code, 0);
    await fs.writeFile(
      path.join(home, "ext-prover.cfg"),
      `[[WdPost]]\n[WdPost.Envs]\nCUDA_VISIBLE_DEVICES = "0"\nTMPDIR = ${JSON.stringify(dir)}\nAWS_SECRET_ACCESS_KEY = "${SECRET_VALUE}"\n`,
    );
    await fs.appendFile(
      homePaths(home).sectorManagerCfg,
      `\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(storeDir)}\n[Common.PersistStores.Meta]\nPassword = "${STORE_SECRET}"\n`,
    );
    node = startCli(["--home", home, "daemon", "run", "--listen=127.0.0.1:0", "--ext-prover"], { env });
    devnet = startCli(["--home", devHome, "devnet", "run", "--listen", "127.0.0.1:0", "--block-time", "1s"], {
      env,
    });
    await node.waitForLine(/node ready/, 60_000);
    await devnet.waitForLine(/devnet ready/, 60_000);
    nodeApi = (await readApiFile(home)) ?? "";
    devApi = (await readApiFile(devHome)) ?? "";
    admin = (await readToken(home)) ?? "";
    assert.ok(nodeApi && devApi && admin);
  });
  after(async () => {
    await Promise.all([node?.stop(5000), devnet?.stop(5000)]);
    await cleanup();
  });

  const healthy = async (api: string) => {
    const res = await fetch(`http://${api}/healthcheck`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(res.status, 200);
    return (await res.json()) as Json;
  };
  const call = async (
    method: string,
    params: unknown[],
    headers: Record<string, string> = {},
    query = "",
  ) => {
    const res = await fetch(`http://${nodeApi}/rpc/v0${query}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, json: (await res.json()) as Json };
  };

  for (const which of ["node", "devnet"] as const) {
    test(`${which}: every malformed request line gets an HTTP answer and the process stays up`, async () => {
      const proc = which === "node" ? node : devnet;
      const api = which === "node" ? nodeApi : devApi;
      const port = Number(api.slice(api.lastIndexOf(":") + 1));
      for (const c of MALFORMED_REQUESTS) {
        const r = await rawRequest(port, c.request);
        assert.ok(c.status.includes(r.status), `${c.what}: status ${r.status}, answer:\n${r.text}`);
        assert.equal(
          proc?.child.exitCode,
          null,
          `${c.what}: the ${which} exited\n${proc?.lines.slice(-10).join("\n")}`,
        );
        assert.equal((await healthy(api)).ok, true, `${c.what}: healthcheck`);
      }
      assert.ok(
        !proc?.lines.some((l) => /Invalid URL|unhandled|uncaught/i.test(l)),
        proc?.lines.filter((l) => /Invalid URL|unhandled|uncaught/i.test(l)).join("\n"),
      );
    });
  }

  test("anonymous Venus.ExtProverStatus shows only CUDA_VISIBLE_DEVICES and TMPDIR; admin sees all", async () => {
    const anon = await call("Venus.ExtProverStatus", []);
    assert.equal(anon.status, 200);
    const text = JSON.stringify(anon.json);
    assert.ok(!text.includes(SECRET_VALUE), `the secret leaked: ${text}`);
    assert.ok(!text.includes("AWS_SECRET_ACCESS_KEY"), "the secret's key is not shown either");
    const [row] = anon.json.result;
    assert.deepEqual(Object.keys(row.envs).sort(), ["CUDA_VISIBLE_DEVICES", "TMPDIR"]);
    assert.equal(row.envs.CUDA_VISIBLE_DEVICES, "0");
    assert.equal(row.hiddenEnvs, 1);
    assert.equal(row.args, null, "args may carry credentials too");
    assert.equal(row.state, "ready");
    const full = await call("Venus.ExtProverStatus", [], { authorization: `Bearer ${admin}` });
    assert.equal(full.json.result[0].envs.AWS_SECRET_ACCESS_KEY, SECRET_VALUE);
    assert.equal(full.json.result[0].hiddenEnvs, 0);
    assert.ok(Array.isArray(full.json.result[0].args), "admin sees the args");
    // The CLI reads the home's admin token, so the operator still sees everything.
    const cli = await runCli(["--home", home, "util", "sealer", "proving", "provers"], { env });
    assert.equal(cli.code, 0, cli.output);
    assert.match(cli.output, new RegExp(`AWS_SECRET_ACCESS_KEY=${SECRET_VALUE}`));
    assert.match(cli.output, /CUDA_VISIBLE_DEVICES=0/);
  });

  test("anonymous Venus.StoreList hides the stores' Meta (plugin settings); admin sees it", async () => {
    const anon = await call("Venus.StoreList", []);
    assert.ok(!JSON.stringify(anon.json).includes(STORE_SECRET), JSON.stringify(anon.json));
    assert.deepEqual(anon.json.result[0].Meta, {});
    assert.equal(anon.json.result[0].HiddenMeta, 1);
    assert.equal(anon.json.result[0].Name, "store1");
    const full = await call("Venus.StoreList", [], { authorization: `Bearer ${admin}` });
    assert.deepEqual(full.json.result[0].Meta, { Password: STORE_SECRET });
  });

  test('{"Slow": "yes"} is -32602 from Venus.ProvingCheck, before any chain call', async () => {
    const r = await call("Venus.ProvingCheck", ["f01000", 0, { Slow: "yes" }], {
      authorization: `Bearer ${admin}`,
    });
    assert.equal(r.json.error?.code, -32602, JSON.stringify(r.json));
    assert.match(
      r.json.error.message,
      /^Venus\.ProvingCheck: invalid params: options\.Slow must be true or false, got "yes"/,
    );
    const typo = await call("Venus.ProvingCheck", ["f01000", 0, { Slw: true }], {
      authorization: `Bearer ${admin}`,
    });
    assert.equal(typo.json.error?.code, -32602);
    assert.match(typo.json.error.message, /unknown key "Slw"; the keys are Slow/);
  });

  test("the admin token with '!!' appended, and ?token= on a POST, are refused with 401", async () => {
    const junk = await call("Venus.AuthNew", ["admin"], { authorization: `Bearer ${admin}!!` });
    assert.equal(junk.status, 401);
    assert.equal(junk.json.error.data.code, "RPC_UNAUTHENTICATED");
    const verify = await call("Venus.AuthVerify", [`${admin}!!`]);
    assert.equal(verify.json.error?.data?.code, "RPC_UNAUTHENTICATED");
    const query = await call("Venus.AuthNew", ["read"], {}, `?token=${encodeURIComponent(admin)}`);
    assert.equal(query.status, 401);
    assert.match(query.json.error.message, /accepted only on a WebSocket upgrade/);
    const ok = await call("Venus.AuthNew", ["read"], { authorization: `Bearer ${admin}` });
    assert.equal(typeof ok.json.result, "string");
  });

  test("the devnet refuses base64 with stray bits (the class of the '<token>!!' bug) with -32602", async () => {
    const rand = async (entropy: string) => {
      const res = await fetch(`http://${devApi}/rpc/v1`, {
        method: "POST",
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "Filecoin.StateGetRandomnessFromBeacon",
          params: [2, 0, entropy, null],
        }),
        signal: AbortSignal.timeout(5_000),
      });
      return (await res.json()) as Json;
    };
    assert.equal(typeof (await rand("AA==")).result, "string");
    const stray = await rand("AB==");
    assert.equal(stray.error?.code, -32602, JSON.stringify(stray));
    assert.match(stray.error.message, /entropy is not canonical base64/);
  });

  test("nesting 100,000 deep is -32600 and the node stays up", async () => {
    const res = await fetch(`http://${nodeApi}/rpc/v0`, {
      method: "POST",
      body: `{"jsonrpc":"2.0","id":1,"method":"Venus.SectorIndexerFind","params":["normal",${"[".repeat(100_000)}]}`,
      signal: AbortSignal.timeout(10_000),
    });
    const j = (await res.json()) as Json;
    assert.equal(j.error.code, -32600);
    assert.match(j.error.message, /nested deeper than 64 levels/);
    assert.equal((await healthy(nodeApi)).ok, true);
  });

  test("on 127.0.0.1 there is no every-interface warning", () => {
    assert.ok(!node?.lines.some((l) => /every network interface/.test(l)));
  });
});

/**
 * Finding 14 with a real wildcard bind, inside a private network namespace (`unshare -rn`: only a
 * loopback device exists there), so the test listens on "every interface" without reaching any
 * network. `unshare` (util-linux) is on every Debian machine; where namespaces are refused the
 * test fails rather than skipping.
 */
describe("--listen on every interface (in a private network namespace)", { timeout: 60_000 }, () => {
  const cases = [
    { listen: ":0", anonymous: true, level: "WARN", re: /every network interface with anonymous reads on/ },
    {
      listen: "[::0]:0",
      anonymous: true,
      level: "WARN",
      re: /every network interface with anonymous reads on/,
    },
    {
      listen: ":0",
      anonymous: false,
      level: "INFO",
      re: /every network interface; every call needs a token/,
    },
  ];
  for (const c of cases) {
    test(`--listen=${c.listen}, AnonymousRead = ${c.anonymous}: one ${c.level} line`, async () => {
      const { dir, cleanup } = await tempDir("vsm-listen-");
      const home = path.join(dir, "h");
      let p: Proc | undefined;
      try {
        assert.equal((await runCli(["--home", home, "daemon", "init"])).code, 0);
        if (!c.anonymous) {
          const cfg = homePaths(home).sectorManagerCfg;
          const text = await fs.readFile(cfg, "utf8");
          assert.match(text, /#AnonymousRead = true/);
          await fs.writeFile(cfg, text.replace("#AnonymousRead = true", "AnonymousRead = false"));
        }
        p = startProcess(
          "unshare",
          ["-rn", process.execPath, cliEntry(), "--home", home, "daemon", "run", `--listen=${c.listen}`],
          { env: { ...process.env, VSM_LOG_LEVEL: "info" } },
        );
        await p.waitForLine(/node ready/, 30_000);
        const lines = p.lines.filter((l) => /every network interface/.test(l));
        assert.equal(lines.length, 1, lines.join("\n"));
        assert.match(lines[0] ?? "", new RegExp(`\\t${c.level}\\tdaemon\\t`));
        assert.match(lines[0] ?? "", c.re);
      } finally {
        await p?.stop(5000);
        await cleanup();
      }
    });
  }
});
