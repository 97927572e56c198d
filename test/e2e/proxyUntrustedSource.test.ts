/**
 * A proxy node does not trust its source (issue 10, finding 11), as real processes on loopback: a fake
 * source node (an HTTP server in this process on 127.0.0.1 that answers whatever a case sets) and a
 * real `daemon run --proxy` process in front of it.
 *
 * - wrong-shaped answers (counts, Find, FindMany) are refused with one error naming the source, and
 *   `util storage list` says so in one line instead of crashing on `Cannot read properties`;
 * - the source's error text is quoted on one line (no Go stack trace), and its auth errors are not
 *   answered as the proxy's own (RPC_UNAUTHENTICATED → SECTORS_SOURCE_REFUSED);
 * - a 200 MB answer is dropped while it streams in: the proxy's peak memory stays far below it;
 * - a damaged record the source reports fails only its own sector.
 * The proxy stays up through all of it.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { readApiFile } from "../../src/daemon/home.js";
import { RpcClient } from "../../src/rpc/client.js";
import { type Proc, runCli, startCli } from "../../src/util/childProcess.js";
import { SmError } from "../../src/util/errors.js";
import { tempDir } from "../helpers/tmp.js";

type Answer =
  | { result: unknown }
  | { error: { code: number; message: string; data?: unknown } }
  /** A plain HTTP answer (a gateway's error page, damocles' 401). */
  | { status: number; text: string }
  /** Stream this many bytes of a valid-looking result array, 1 MiB at a time, honouring back-pressure. */
  | { streamBytes: number };

const GO_PANIC = [
  "panic: runtime error: index out of range [3] with length 3",
  "",
  "goroutine 1 [running]:",
  "github.com/ipfs-force-community/damocles/damocles-manager/modules/impl/sectors.(*Indexer).Find(...)",
  "\t/build/damocles-manager/modules/impl/sectors/indexer.go:42 +0x1d",
].join("\n");

/** Peak resident memory of a process, in bytes (Linux). */
async function peakRss(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, "utf8");
  const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
  assert.ok(m, "VmHWM in /proc/<pid>/status");
  return Number(m[1]) * 1024;
}

describe("a proxy node in front of a source that misbehaves (real proxy process)", () => {
  let root = "";
  let cleanup = async () => {};
  let home = "";
  let proxy: Proc | undefined;
  let prx: RpcClient;
  let sourceAddr = "";
  const answers = new Map<string, Answer>();
  let streamed = 0;
  let server: http.Server | undefined;

  before(async () => {
    ({ dir: root, cleanup } = await tempDir("vsm-untrusted-"));
    home = path.join(root, "proxy-home");
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString("utf8");
      });
      req.on("end", () => {
        const call = JSON.parse(body) as { id: number; method: string };
        const a = answers.get(call.method) ?? {
          error: { code: -32601, message: `method '${call.method}' not found` },
        };
        if ("status" in a) {
          res.writeHead(a.status, { "content-type": "text/plain" });
          res.end(a.text);
          return;
        }
        res.setHeader("content-type", "application/json");
        if (!("streamBytes" in a)) {
          res.end(JSON.stringify({ jsonrpc: "2.0", id: call.id, ...a }));
          return;
        }
        const item = Buffer.from('{"Found":false,"Instance":{"SealedFile":"","CacheDir":""}},');
        const chunk = Buffer.alloc(1024 * 1024 - ((1024 * 1024) % item.length));
        for (let o = 0; o < chunk.length; o += item.length) item.copy(chunk, o);
        let sent = 0;
        let closed = false;
        res.on("close", () => {
          closed = true;
        });
        const pump = () => {
          while (!closed && sent < a.streamBytes) {
            sent += chunk.length;
            streamed += chunk.length;
            if (!res.write(chunk)) return void res.once("drain", pump);
          }
          if (!closed) res.end('{"Found":false,"Instance":{"SealedFile":"","CacheDir":""}}]}');
        };
        res.write(`{"jsonrpc":"2.0","id":${call.id},"result":[`);
        pump();
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    sourceAddr = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    answers.set("Venus.Version", { result: { Version: "fake-source\n\tgoroutine 7" } });

    const init = await runCli(["--home", home, "daemon", "init"]);
    assert.equal(init.code, 0, init.output);
    proxy = startCli(["--home", home, "daemon", "run", `--proxy=${sourceAddr}`, "--listen=127.0.0.1:0"], {
      env: { ...process.env, VSM_LOG_LEVEL: "info" },
    });
    await proxy.waitForLine(/node ready/, 20_000);
    assert.ok(
      proxy.lines.some((l) => /source node reachable.*"version": "fake-source"}/.test(l)),
      proxy.lines.join("\n"),
    );
    prx = new RpcClient({ url: `http://${await readApiFile(home)}/rpc/v0`, timeoutMs: 60_000 });
  });

  after(async () => {
    await proxy?.stop(5000);
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server?.closeAllConnections();
    await cleanup();
  });

  const rejectsWith = async (p: Promise<unknown>, code: string, re: RegExp) => {
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof SmError, String(e));
      assert.equal(e.code, code, e.message);
      assert.match(e.message, re);
      assert.ok(e.message.includes(`source node ${sourceAddr}`), `names the source: ${e.message}`);
      return true;
    });
  };

  test("wrong-shaped counts: `util storage list` fails in one line naming the source, no TypeError", async () => {
    for (const bad of [{ normal: 5 }, null, [], { normal: {}, upgrade: { s1: "many" } }, "x"]) {
      answers.set("Venus.SectorIndexerCounts", { result: bad });
      const r = await runCli(["--home", home, "util", "storage", "list"], { timeoutMs: 20_000 });
      assert.equal(r.code, 1, r.output);
      assert.doesNotMatch(r.output, /Cannot read properties|TypeError|undefined/, JSON.stringify(bad));
      const errors = r.lines.filter((l) => l.startsWith("error"));
      assert.equal(errors.length, 1, r.output);
      assert.match(
        errors[0]!,
        new RegExp(
          `source node ${sourceAddr} answered Venus\\.SectorIndexerCounts with counts of the wrong shape`,
        ),
      );
    }
    answers.set("Venus.SectorIndexerCounts", { result: { normal: { s1: 3 }, upgrade: {} } });
    const ok = await runCli(["--home", home, "util", "storage", "list"], { timeoutMs: 20_000 });
    assert.equal(ok.code, 0, ok.output);
    assert.match(ok.output, /WARNING: 3 normal sector\(s\) are indexed in instance "s1"/);
  });

  test("wrong-shaped lookups are refused, a damaged record the source reports fails only its sector", async () => {
    answers.set("Venus.SectorIndexerFind", { result: { Found: "yes" } });
    await rejectsWith(
      prx.call("Venus.SectorIndexerFind", ["normal", { Miner: 1000, Number: 1 }]),
      "SECTORS_BAD_RESPONSE",
      /without a Found flag/,
    );
    answers.set("Venus.SectorIndexerFind", { result: { Found: true, Instance: { SealedFile: 7 } } });
    await rejectsWith(
      prx.call("Venus.SectorIndexerFind", ["normal", { Miner: 1000, Number: 1 }]),
      "SECTORS_BAD_RESPONSE",
      /without a valid SealedFile/,
    );
    answers.set("Venus.SectorIndexerFindMany", { result: { not: "a list" } });
    await rejectsWith(
      prx.call("Venus.SectorIndexerFindMany", ["normal", [{ Miner: 1000, Number: 1 }]]),
      "SECTORS_BAD_RESPONSE",
      /no list/,
    );
    const ok = { Found: true, Instance: { SealedFile: "s1", CacheDir: "s1" } };
    answers.set("Venus.SectorIndexerFindMany", {
      result: [
        ok,
        { Found: false, Instance: { SealedFile: "", CacheDir: "" }, Error: "record damaged\nstack" },
        ok,
      ],
    });
    const many = await prx.call<{ Found: boolean; Error?: string }[]>("Venus.SectorIndexerFindMany", [
      "normal",
      [1, 2, 3].map((n) => ({ Miner: 1000, Number: n })),
    ]);
    assert.deepEqual(
      many.map((l) => l.Found),
      [true, false, true],
    );
    assert.equal(many[0]!.Error, undefined);
    assert.match(many[1]!.Error ?? "", new RegExp(`source node ${sourceAddr}: .*record damaged$`));
  });

  test("the source's error: one line naming the source, no stack trace; its auth errors are not ours", async () => {
    answers.set("Venus.SectorIndexerFind", { error: { code: 1, message: GO_PANIC } });
    await rejectsWith(
      prx.call("Venus.SectorIndexerFind", ["normal", { Miner: 1000, Number: 1 }]),
      "SECTORS_SOURCE_ERROR",
      /answered Venus\.SectorIndexerFind with an error: panic: runtime error: index out of range \[3\] with length 3; see the source node's log$/,
    );
    const raw = await fetch(`http://${await readApiFile(home)}/rpc/v0`, {
      method: "POST",
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "Venus.SectorIndexerFind",
        params: ["normal", { Miner: 1000, Number: 1 }],
      }),
    });
    const text = await raw.text();
    assert.doesNotMatch(text, /goroutine|indexer\.go|\\n|\\t/, text);

    for (const [code, dataCode] of [
      [-32002, "RPC_UNAUTHENTICATED"],
      [-32001, "RPC_PERMISSION_DENIED"],
    ] as const) {
      answers.set("Venus.SectorIndexerFindMany", {
        error: { code, message: "invalid token: signature mismatch", data: { code: dataCode } },
      });
      answers.set("Venus.SectorIndexerCounts", {
        error: { code, message: "no token", data: { code: dataCode } },
      });
      const res = await fetch(`http://${await readApiFile(home)}/rpc/v0`, {
        method: "POST",
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 2,
          method: "Venus.SectorIndexerFindMany",
          params: ["normal", [{ Miner: 1000, Number: 1 }]],
        }),
      });
      assert.equal(res.status, 200, "the proxy's caller is not told it is unauthenticated");
      const body = (await res.json()) as { error: { code: number; message: string; data: { code: string } } };
      assert.notEqual(body.error.code, code);
      assert.equal(body.error.data.code, "SECTORS_SOURCE_REFUSED");
      assert.match(body.error.message, new RegExp(`source node ${sourceAddr} refused .* --proxy-token`));
      await rejectsWith(prx.call("Venus.SectorIndexerCounts", []), "SECTORS_SOURCE_REFUSED", /--proxy-token/);
    }
  });

  test("a source that is stopping or behind a failing gateway is unavailable (retried), a plain 401 is a refusal", async () => {
    const find = () => prx.call("Venus.SectorIndexerFind", ["normal", { Miner: 1000, Number: 1 }]);
    answers.set("Venus.SectorIndexerFind", {
      error: { code: -32020, message: "the node is stopping", data: { code: "ABORTED" } },
    });
    await rejectsWith(
      find(),
      "SECTORS_SOURCE_UNAVAILABLE",
      /is unavailable \(it answered: the node is stopping\)/,
    );
    answers.set("Venus.SectorIndexerFind", { status: 503, text: "<html>503 Service Unavailable</html>" });
    await rejectsWith(find(), "SECTORS_SOURCE_UNAVAILABLE", /is unavailable \(HTTP 503\)/);
    answers.set("Venus.SectorIndexerFind", { status: 401, text: "JWT Verification failed" });
    await rejectsWith(
      find(),
      "SECTORS_SOURCE_REFUSED",
      /refused .*\(HTTP 401\); start the proxy with --proxy-token/,
    );
    answers.set("Venus.SectorIndexerFind", { status: 200, text: "hello\n\tgoroutine 1" });
    await rejectsWith(find(), "SECTORS_BAD_RESPONSE", /something that is not a JSON-RPC answer/);
  });

  test("a 200 MB answer is dropped while it streams in; the proxy's memory stays bounded", async () => {
    const before = await peakRss(proxy!.pid);
    answers.set("Venus.SectorIndexerFindMany", { streamBytes: 200 * 1024 * 1024 });
    streamed = 0;
    const call = prx.call("Venus.SectorIndexerFindMany", ["normal", [{ Miner: 1000, Number: 1 }]]);
    await call.catch(() => {});
    const peak = await peakRss(proxy!.pid);
    assert.ok(
      peak - before < 150 * 1024 * 1024,
      `proxy peak RSS grew by ${Math.round((peak - before) / 2 ** 20)} MiB (from ${Math.round(before / 2 ** 20)} MiB)`,
    );
    assert.ok(
      streamed < 120 * 1024 * 1024,
      `the source could send only ${streamed} bytes before the proxy hung up`,
    );
  });

  test("the proxy is still up and healthy", async () => {
    assert.equal(proxy!.child.exitCode, null);
    const h = await fetch(`http://${await readApiFile(home)}/healthcheck`);
    assert.equal(h.status, 200);
    answers.set("Venus.SectorIndexerFind", {
      result: { Found: true, Instance: { SealedFile: "s1", CacheDir: "" } },
    });
    assert.deepEqual(await prx.call("Venus.SectorIndexerFind", ["normal", { Miner: 1000, Number: 1 }]), {
      Found: true,
      Instance: { SealedFile: "s1", CacheDir: "s1" },
    });
    assert.ok(!proxy!.lines.some((l) => /unhandled|goroutine 1/.test(l)), proxy!.lines.join("\n"));
  });
});

describe("a --proxy that answers but is not a venus-sector-manager node (real proxy processes)", () => {
  let root = "";
  let cleanup = async () => {};
  const servers: http.Server[] = [];
  const procs: Proc[] = [];

  /** An HTTP server on loopback answering every request with `answer(method)`. */
  const serve = async (answer: (method: string, id: number) => { status: number; body: string }) => {
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString("utf8");
      });
      req.on("end", () => {
        let call = { id: 0, method: "" };
        try {
          call = JSON.parse(body) as { id: number; method: string };
        } catch {}
        const a = answer(call.method, call.id);
        res.writeHead(a.status, {
          "content-type": a.body.startsWith("{") ? "application/json" : "text/html",
        });
        res.end(a.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push(server);
    return `127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const notFound = (method: string, id: number) => ({
    status: 200,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id,
      error: { code: -32601, message: `method '${method}' not found` },
    }),
  });
  /** A proxy in front of `addr`: its start lines, and its home for the CLI. */
  const proxyOf = async (name: string, addr: string) => {
    const home = path.join(root, name);
    assert.equal((await runCli(["--home", home, "daemon", "init"])).code, 0);
    const p = startCli(["--home", home, "daemon", "run", `--proxy=${addr}`, "--listen=127.0.0.1:0"], {
      env: { ...process.env, VSM_LOG_LEVEL: "info" },
    });
    procs.push(p);
    await p.waitForLine(/node ready/, 20_000);
    return { home, lines: p.lines };
  };

  before(async () => {
    ({ dir: root, cleanup } = await tempDir("vsm-not-a-node-"));
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop(5000)));
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    await cleanup();
  });

  test("a Lotus node (JSON-RPC without our methods): said at start, and by every lookup", async () => {
    const addr = await serve(notFound);
    const { home, lines } = await proxyOf("lotus", addr);
    const said = lines.find((l) => /answers, but is not a venus-sector-manager node/.test(l));
    assert.ok(said, lines.join("\n"));
    assert.match(said, /ERROR/);
    assert.match(
      said,
      new RegExp(
        `source node ${addr} answers, but is not a venus-sector-manager node: it has no Venus.Version; --proxy must be the source node's RPC address`,
      ),
    );
    assert.ok(!lines.some((l) => /source node reachable/.test(l)));
    const find = await runCli(["--home", home, "util", "storage", "find", "1000", "1"]);
    assert.equal(find.code, 1, find.output);
    assert.match(
      find.output,
      /answers, but is not a venus-sector-manager node: it has no Venus.SectorIndexerFind/,
    );
  });

  test("a web server answering 404 pages: said at start", async () => {
    const addr = await serve(() => ({ status: 404, body: "<html><body>404 page not found</body></html>" }));
    const { lines } = await proxyOf("web", addr);
    assert.ok(
      lines.some((l) =>
        /answers, but is not a venus-sector-manager node: Venus\.Version: .*not JSON/.test(l),
      ),
      lines.join("\n"),
    );
  });

  test("a damocles-like source without Venus.Version whose lookup answers is a node", async () => {
    const addr = await serve((method, id) =>
      method === "Venus.SectorIndexerFind"
        ? {
            status: 200,
            body: JSON.stringify({
              jsonrpc: "2.0",
              id,
              result: { Found: false, Instance: { SealedFile: "", CacheDir: "" } },
            }),
          }
        : notFound(method, id),
    );
    const { lines } = await proxyOf("damocles", addr);
    assert.ok(
      lines.some((l) => /source node reachable/.test(l)),
      lines.join("\n"),
    );
    assert.ok(!lines.some((l) => /is not a venus-sector-manager node/.test(l)), lines.join("\n"));
  });
});
