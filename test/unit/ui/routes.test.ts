/**
 * The dashboard's HTTP side on a running node (`startNode`, --poster, against a manual devnet):
 * /api/dashboard and /api/events with the RPC's token rules, a state event at once and another after
 * the head moves, streams ended by shutdown (no hang); and the static page's file handling.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { loadConfigDir } from "../../../src/config/load.js";
import { homePaths, initHome, readSecret } from "../../../src/daemon/home.js";
import { openMetadataStore } from "../../../src/daemon/metadataStore.js";
import { type DaemonFlags, type RunningNode, startNode } from "../../../src/daemon/node.js";
import { nullLogger } from "../../../src/log/logger.js";
import { signToken } from "../../../src/rpc/auth.js";
import { createDispatcher } from "../../../src/rpc/dispatch.js";
import { startRpcServer } from "../../../src/rpc/server.js";
import { LocalIndexer } from "../../../src/sectors/localIndexer.js";
import { uiRoutes } from "../../../src/ui/routes.js";
import { DashboardModel, type DashboardState } from "../../../src/ui/state.js";
import { type ManualDevnet, manualDevnetConfig, startManualDevnet } from "../../helpers/manualDevnet.js";
import { tempDir } from "../../helpers/tmp.js";

const flags: DaemonFlags = {
  listen: { host: "127.0.0.1", port: 0 },
  miner: false,
  poster: true,
  proxy: undefined,
  proxyIndexerOff: false,
  confDir: undefined,
  extProver: false,
  proxyToken: undefined,
  name: "dash1",
};

/** Reads `event: state` events off an SSE response, one at a time. */
function eventReader(res: Response) {
  assert.ok(res.body);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  return {
    async next(timeoutMs: number): Promise<DashboardState | null> {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const end = buf.indexOf("\n\n");
        if (end >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const lines = block.split("\n");
          assert.ok(lines.includes("event: state"), block.slice(0, 80));
          const data = lines.find((l) => l.startsWith("data: "));
          assert.ok(data);
          return JSON.parse(data.slice(6)) as DashboardState;
        }
        const left = until - Date.now();
        if (left <= 0) throw new Error("no event in time");
        let timer: NodeJS.Timeout | undefined;
        const r = await Promise.race([
          reader.read(),
          new Promise<never>((_, rej) => {
            timer = setTimeout(() => rej(new Error("no event in time")), left);
          }),
        ]).finally(() => clearTimeout(timer));
        if (r.done) return null;
        buf += dec.decode(r.value, { stream: true });
      }
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

describe("dashboard routes on a node", { timeout: 50_000 }, () => {
  let cleanup = async () => {};
  let m: ManualDevnet | undefined;
  let node: RunningNode | undefined;
  let home = "";
  let token = "";

  before(async () => {
    let dir: string;
    ({ dir, cleanup } = await tempDir("vsm-ui-routes-"));
    m = await startManualDevnet(dir, 2);
    home = path.join(dir, "node");
    await initHome(home);
    await fs.writeFile(
      homePaths(home).sectorManagerCfg,
      // A threshold no devnet worker reaches: the key is read, and the alert reaches the page.
      `[Common.RPC]\nAnonymousRead = false\n[Common.Dashboard]\nMinSenderBalance = "1000000000 FIL"\n${manualDevnetConfig(m)}`,
    );
    token = signToken(await readSecret(home), "read");
    // The node's own sector index knows the devnet's two sectors in store1, so its Poster proves them.
    const cfg = (await loadConfigDir(home)).sectorManager.config;
    const kv = await openMetadataStore(home, cfg);
    await new LocalIndexer(kv).update(
      "normal",
      [1, 2].map((number) => ({ miner: 1000, number, sealedFile: "store1", cacheDir: "store1" })),
    );
    await kv.close();
    node = await startNode(home, flags, { logger: nullLogger });
  });
  after(async () => {
    await node?.close();
    await m?.devnet.close();
    await cleanup();
  });

  const get = (p: string, headers: Record<string, string> = {}) =>
    fetch(`http://${node?.api}${p}`, { headers, signal: AbortSignal.timeout(10_000) });

  test("no token: 401 with a JSON error (AnonymousRead = false); ?token= only on /api/events", async () => {
    for (const p of ["/api/dashboard", "/api/events"]) {
      const r = await get(p);
      assert.equal(r.status, 401, p);
      const body = (await r.json()) as { error: string };
      assert.equal(typeof body.error, "string");
    }
    const bad = await get("/api/dashboard", { authorization: "Bearer nonsense" });
    assert.equal(bad.status, 401);
    await bad.body?.cancel();
    const query = await get(`/api/dashboard?token=${token}`);
    assert.equal(query.status, 401, "a token in the URL is for EventSource only");
    await query.body?.cancel();
    const post = await fetch(`http://${node?.api}/api/dashboard`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  });

  test("GET /api/dashboard: the node, the chain head and the miner's grid", async () => {
    let s: DashboardState | undefined;
    for (let i = 0; i < 50; i++) {
      const r = await get("/api/dashboard", { authorization: `Bearer ${token}` });
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-type") ?? "", /application\/json/);
      s = (await r.json()) as DashboardState;
      if (s.miners.length > 0) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.ok(s);
    assert.equal(s.node.name, "dash1");
    assert.deepEqual(s.node.modules, ["poster"]);
    assert.equal(s.chain.head, m?.devnet.node.head().height);
    assert.equal(s.miners[0]?.miner, "f01000");
    assert.equal(s.miners[0]?.deadlines.length, 4);
    assert.equal(s.cluster, null);
    assert.deepEqual(s.provers, []);
    const worker = s.miners[0]?.senders.find((x) => x.role === "worker");
    assert.ok(worker);
    const low = s.alerts.find((a) => a.kind === "sender-balance-low");
    assert.ok(low, JSON.stringify(s.alerts));
    assert.match(
      low.message,
      new RegExp(
        `${worker.address} holds ${worker.balanceFil} FIL, under the 1000000000 FIL a day of PoSt messages needs \\(\\[Common\\.Dashboard\\] MinSenderBalance, above`,
      ),
    );
  });

  test("the Poster's run reaches the page: its message, the margin it landed with, the proving time", async () => {
    let s: DashboardState | undefined;
    for (let i = 0; i < 100; i++) {
      await m?.devnet.node.produceBlock();
      await new Promise((res) => setTimeout(res, 150));
      const r = await get("/api/dashboard", { authorization: `Bearer ${token}` });
      s = (await r.json()) as DashboardState;
      if (s.messages.some((x) => x.exitCode === 0) && s.provingTimes.length > 0) break;
    }
    assert.ok(s);
    const msg = s.messages.find((x) => x.exitCode === 0);
    assert.ok(msg, JSON.stringify(s.messages));
    assert.equal(msg.miner, "f01000");
    assert.equal(msg.method, "SubmitWindowedPoSt");
    assert.deepEqual(msg.partitions, [0]);
    assert.ok((msg.gasUsed ?? 0) > 0, `gas used ${msg.gasUsed}`);
    assert.ok(msg.height !== null && msg.height > 0);
    assert.ok(s.provingTimes.every((p) => p.miner === "f01000" && p.seconds > 0));
    assert.equal(typeof s.miners[0]?.current?.lastMargin, "number");
  });

  test("GET /api/events: a state at once, another after a new head; the stream ends on shutdown", async () => {
    const res = await get(`/api/events?token=${encodeURIComponent(token)}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
    const ev = eventReader(res);
    const first = await ev.next(5_000);
    assert.ok(first && first.chain.head !== null);
    const h0 = first.chain.head ?? 0;
    await m?.devnet.node.produceBlock();
    let moved: DashboardState | null = null;
    for (let i = 0; i < 5 && !(moved && (moved.chain.head ?? 0) > h0); i++) moved = await ev.next(8_000);
    assert.ok(moved && (moved.chain.head ?? 0) > h0, "an event after the head moved");

    const started = Date.now();
    await node?.close();
    assert.ok(Date.now() - started < 15_000, `shutdown took ${Date.now() - started} ms`);
    // Whatever was still buffered, the stream then ends.
    let r: DashboardState | null | Error;
    do r = await ev.next(5_000).catch((e: Error) => e);
    while (r !== null && !(r instanceof Error));
    if (r instanceof Error) assert.doesNotMatch(r.message, /no event in time/);
  });
});

describe("dashboard static files", () => {
  test("/ and /assets/*: types, revalidation, no way out of the directory; API stays behind auth", async () => {
    const { dir, cleanup } = await tempDir("vsm-ui-static-");
    const ui = path.join(dir, "ui");
    await fs.mkdir(path.join(ui, "assets"), { recursive: true });
    await fs.writeFile(path.join(ui, "index.html"), "<!doctype html><p>x</p>");
    await fs.writeFile(path.join(ui, "assets", "app.js"), "console.log(1)");
    await fs.writeFile(path.join(dir, "secret.txt"), "no");
    await fs.writeFile(path.join(ui, "routes.js"), "no");
    const model = new DashboardModel({
      name: () => "s",
      version: "v",
      modules: [],
      miners: [],
      logger: nullLogger,
    });
    const routes = uiRoutes({ model, logger: nullLogger, staticDir: ui, keepAliveMs: 200 });
    const server = await startRpcServer({
      listen: { host: "127.0.0.1", port: 0 },
      dispatcher: createDispatcher({}, { logger: nullLogger }),
      secret: Buffer.alloc(32, 1),
      anonymousRead: true,
      logger: nullLogger,
      extraRoutes: routes.handle,
    });
    const base = `http://127.0.0.1:${server.address.port}`;
    try {
      const idx = await fetch(`${base}/`);
      assert.equal(idx.status, 200);
      assert.equal(idx.headers.get("content-type"), "text/html; charset=utf-8");
      assert.equal(idx.headers.get("cache-control"), "no-cache");
      assert.equal(await idx.text(), "<!doctype html><p>x</p>");
      const etag = idx.headers.get("etag") ?? "";
      const again = await fetch(`${base}/`, { headers: { "if-none-match": etag } });
      assert.equal(again.status, 304);
      const js = await fetch(`${base}/assets/app.js`);
      assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
      assert.equal(await js.text(), "console.log(1)");
      for (const p of [
        "/assets/..%2f..%2fsecret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/assets/nope.js",
        "/assets/..%2findex.html",
        "/assets/..%2froutes.js",
        "/assets/",
        "/routes.js",
      ]) {
        const r = await fetch(`${base}${p}`);
        assert.equal(r.status, 404, p);
        assert.doesNotMatch(await r.text(), /^no$/);
      }
      const empty = uiRoutes({ model, logger: nullLogger, staticDir: path.join(dir, "none") });
      const res = {
        status: 0,
        text: "",
        writeHead(s: number) {
          this.status = s;
          return this;
        },
        end(t: string) {
          this.text = t;
        },
      };
      assert.equal(
        empty.handle(
          { method: "GET" } as never,
          res as never,
          { pathname: "/", query: new URLSearchParams() },
          () => new Set(),
        ),
        true,
      );
      assert.equal(res.status, 404);
      assert.match(res.text, /not built.*npm run build/);
      // Anonymous reads are on here: the API answers without a token, and keep-alive events flow.
      const api = await fetch(`${base}/api/dashboard`);
      assert.equal(api.status, 200);
      const ev = eventReader(await fetch(`${base}/api/events`));
      assert.ok(await ev.next(2_000));
      assert.ok(await ev.next(2_000), "a keep-alive event");
      assert.equal(routes.streams, 1);
      routes.close();
      assert.equal(await ev.next(2_000), null);
      assert.equal(routes.streams, 0);
    } finally {
      routes.close();
      await server.close();
      await model.close();
      await cleanup();
    }
  });
});
