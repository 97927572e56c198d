/**
 * Failures in the middle of a deadline must not cost the deadline (issue 6). The seed's deployment as
 * real processes on loopback, as in poster.test.ts: the devnet chain, a source node (`--miner`) with
 * synthetic sectors, and a standalone PoSter (`--proxy`, `--conf-dir`, `--poster`, `--ext-prover` with
 * two [[WdPost]] children). The devnet judges every proof; its records say whether a deadline was made.
 *
 *  1. the PoSter SIGKILLed after proving a deadline and before sending it, then restarted: it sends the
 *     proofs it had stored instead of proving again, and the deadline is proven;
 *  2. an ext-prover child SIGKILLed while it proves: its partition fails, is proven again on another
 *     child (or the respawned one), and the deadline is proven;
 *  3. the chain node SIGKILLed right after the PoSter sent a deadline's message and restarted on the
 *     same home and port: the PoSter reconnects, and that deadline and the next one are proven.
 *
 * The PoSter reads its own config directory (rewritten before each start), so each test chooses its
 * SubmitConfidence and children. It logs JSON lines, which the tests read for what it did and when.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { HEAD } from "../../src/chain/interface.js";
import { LotusChainClient } from "../../src/chain/lotus/client.js";
import { readApiFile } from "../../src/daemon/home.js";
import type { DeadlineRecord } from "../../src/devnet/miner.js";
import type { ChildStatus } from "../../src/prover/ext/pool.js";
import { RpcClient } from "../../src/rpc/client.js";
import { cliEntry, type Proc } from "../../src/util/childProcess.js";
import { PosterStack } from "../helpers/posterStack.js";
import { tempDir } from "../helpers/tmp.js";

const MINER = "f01000";
/**
 * 4 deadlines of 30 epochs at 150 ms (4.5 s each). The challenge comes 20 epochs before Open, as on
 * mainnet (20 of 60): proving starts ~7 s before Close, time enough for a PoSter restart on a
 * loaded 2-core machine (measured up to ~5.5 s with two busy loops beside the test).
 */
const POLICY = { deadlines: 4, window: 30, lookback: 20, cutoff: 25 };
const BLOCK_MS = 150;
const DELAYED = fileURLToPath(new URL("../fixtures/delayedProcessor.mjs", import.meta.url));

/** One JSON log line of the PoSter: zap's keys plus the line's fields. */
interface LogLine {
  msg: string;
  deadline?: number;
  open?: number;
  challenge?: number;
  partition?: number;
  partitions?: number[];
  [k: string]: unknown;
}

function logLines(p: Proc): LogLine[] {
  const out: LogLine[] = [];
  for (const l of p.lines) {
    if (!l.startsWith("{")) continue;
    try {
      const o = JSON.parse(l) as LogLine;
      if (typeof o.msg === "string") out.push(o);
    } catch {
      // a child's stderr relayed as text, or a partial line
    }
  }
  return out;
}

/** Poll `fn` until it returns a value; fail with `what` and `context()` after `timeoutMs`. */
async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  context: () => string = () => "",
  everyMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`${what}: not within ${timeoutMs} ms\n${context()}`);
    await sleep(everyMs);
  }
}

describe("a standalone PoSter makes its deadlines through failures mid-deadline", () => {
  let cleanup = async () => {};
  let stack: PosterStack;
  let chain: LotusChainClient | undefined;
  let posterConf = "";
  /** Partitions per deadline index, for the deadlines that have sectors. */
  const parts = new Map<number, number>();
  let poster: Proc | undefined;

  const records = () => stack.records(1000);
  const epoch = () => stack.epoch();
  const tail = (p: Proc | undefined, n = 30) => p?.lines.slice(-n).join("\n") ?? "";

  /** The devnet's judgement of one deadline occurrence, once it has closed. */
  const judged = (index: number, open: number, timeoutMs = 30_000) =>
    waitFor(
      `deadline ${index} opened at ${open} judged`,
      async () => (await records()).find((r) => r.index === index && r.open === open),
      timeoutMs,
      () => tail(poster),
    );
  /** Made: every partition proven, none missed, no new fault, no rejection. */
  const assertMade = (r: DeadlineRecord, what: string) => {
    const n = parts.get(r.index);
    assert.deepEqual(
      {
        partitions: r.partitions,
        proven: r.proven.length,
        missed: r.missed,
        newFaults: r.newFaults,
        rejections: r.rejections,
      },
      { partitions: n, proven: n, missed: [], newFaults: [], rejections: [] },
      `${what}: deadline ${r.index} opened at ${r.open}; the PoSter's last lines:\n${tail(poster, 40)}`,
    );
  };

  /**
   * (Re)start the PoSter with its config rewritten: `delayMs` makes both [[WdPost]] children hold
   * every answer that long (a real `wdpost` behind test/fixtures/delayedProcessor.mjs).
   */
  const startPoster = async (o: { submitConfidence: number; delayMs?: number }) => {
    await poster?.stop(5000);
    await fs.writeFile(
      path.join(posterConf, "sector-manager.cfg"),
      `[Common.API]\n${stack.chainLine}\n\n[[Common.PersistStores]]\nName = "store1"\nPath = ${JSON.stringify(stack.store)}\n\n[[Miners]]\nActor = 1000\n[Miners.PoSt]\nChallengeConfidence = 1\nSubmitConfidence = ${o.submitConfidence}\nConfidence = 1\n`,
    );
    const child = (gpu: number) =>
      o.delayMs === undefined
        ? `[[WdPost]]\nReadyTimeoutSecs = 30\n[WdPost.Envs]\nCUDA_VISIBLE_DEVICES = "${gpu}"\n`
        : `[[WdPost]]\nBin = ${JSON.stringify(process.execPath)}\nArgs = ${JSON.stringify([DELAYED, process.execPath, cliEntry(), "wdpost"])}\nReadyTimeoutSecs = 30\n[WdPost.Envs]\nCUDA_VISIBLE_DEVICES = "${gpu}"\nDELAY_MS = "${o.delayMs}"\n`;
    await fs.writeFile(path.join(posterConf, "ext-prover.cfg"), `${child(0)}\n${child(1)}`);
    poster = await stack.startPoster({ confDir: posterConf, globalArgs: ["--log-format=json"] });
    return poster;
  };

  before(async () => {
    let dir: string;
    ({ dir, cleanup } = await tempDir("vsm-resilience-"));
    stack = new PosterStack({
      dir,
      blockTimeMs: BLOCK_MS,
      policy: POLICY,
      // The source's config; the PoSter reads its own (startPoster).
      miners: [{ actor: 1000 }],
      readyTimeoutMs: 30_000,
    });
    posterConf = path.join(dir, "poster-conf");
    // The restart in test 3 binds the same address (stack.devnetApi), so the nodes' Chain stays right.
    await stack.startDevnet();
    await stack.seal(1000, 6, { threads: 2 });
    chain = LotusChainClient.fromConfig(
      { Gateway: [], Chain: stack.chainLine.replace(/^Chain = "(.*)"$/, "$1"), Messager: "", Token: "" },
      { backoffMinMs: 100, backoffMaxMs: 500 },
    );
    for (let i = 0; i < 4; i++) {
      const n = (await chain.stateMinerPartitions(MINER, i, HEAD)).length;
      if (n > 0) parts.set(i, n);
    }
    assert.ok(
      [...parts.values()].some((n) => n >= 2),
      `a deadline with 2 partitions: ${JSON.stringify([...parts])}`,
    );

    await stack.initSource();
    await stack.startSource();
    await stack.attach();
    await stack.initPoster();
    await fs.mkdir(posterConf);
  });
  after(async () => {
    chain?.close();
    // Every process ever started (replaced ones included); stop() is a no-op for those already gone.
    await stack?.stop();
    await cleanup();
  });

  test("the PoSter SIGKILLed between proving and sending, then restarted, sends its stored proofs in time", async (t) => {
    // SubmitConfidence 10: a deadline's proofs are done around Open − 18, its message may go at Open + 10.
    const first = await startPoster({ submitConfidence: 10 });
    const from = await epoch();
    const target = await waitFor(
      "a deadline with every partition proven and nothing sent",
      () => {
        const lines = logLines(first);
        const proven = new Map<string, { index: number; open: number; n: number }>();
        for (const l of lines)
          if (l.msg === "partition proven" && (l.open ?? 0) > from) {
            const k = `${l.deadline}@${l.open}`;
            const e = proven.get(k) ?? { index: l.deadline ?? -1, open: l.open ?? -1, n: 0 };
            e.n++;
            proven.set(k, e);
          }
        return [...proven.values()].find(
          (e) =>
            e.n === parts.get(e.index) &&
            !lines.some((l) => l.msg === "window post message sent" && l.open === e.open),
        );
      },
      60_000,
      () => tail(first),
      50,
    );
    first.kill("SIGKILL");
    await first.exited;
    const killedAt = await epoch();
    for (const l of logLines(first).filter((x) => x.msg === "partition proven" && x.open === target.open))
      assert.ok(
        typeof l.store_ms === "number" && l.store_ms >= 0,
        `"partition proven" says how long storing took: ${JSON.stringify(l)}`,
      );
    assert.ok(
      !logLines(first).some((l) => l.msg === "window post message sent" && l.open === target.open),
      "the kill came before the message",
    );
    t.diagnostic(`deadline ${target.index} (open ${target.open}) proven; PoSter killed at epoch ${killedAt}`);

    const second = await startPoster({ submitConfidence: 10 });
    t.diagnostic(`restarted at epoch ${await epoch()}`);
    const reuse = await waitFor(
      "the restarted PoSter reuses the stored proofs",
      () =>
        logLines(second).find(
          (l) => l.msg === "reusing partition proofs finished before a restart" && l.open === target.open,
        ),
      30_000,
      () => tail(second),
    );
    assert.deepEqual(
      reuse.partitions,
      Array.from({ length: parts.get(target.index) ?? 0 }, (_, i) => i),
      "every partition of the deadline reused",
    );
    assertMade(await judged(target.index, target.open), "the deadline of the kill");
    assert.ok(
      !logLines(second).some((l) => l.msg === "partition proven" && l.open === target.open),
      "nothing proven again after the restart",
    );
  });

  test("an ext-prover child SIGKILLed mid-proof: its partition is proven again and the deadline is made", async (t) => {
    const p = await startPoster({ submitConfidence: 1, delayMs: 800 });
    const from = await epoch();
    const rpc = new RpcClient({ url: `http://${await readApiFile(stack.posterHome)}/rpc/v0` });
    const status = () => rpc.call<ChildStatus[]>("Venus.ExtProverStatus", []);
    // A deadline this PoSter proves from its challenge, not one it picked up half gone at its start:
    // the kill must cost time inside a normal deadline.
    const target = await waitFor(
      "a deadline with sectors started",
      () =>
        logLines(p).find(
          (l) => l.msg === "proving deadline" && parts.has(l.deadline ?? -1) && (l.challenge ?? 0) > from,
        ),
      60_000,
      () => tail(p),
      50,
    );
    const victim = await waitFor(
      "a WdPost child proving it",
      async () => (await status()).find((c) => c.stage === "window_post" && c.inFlight > 0),
      10_000,
      () => tail(p),
      50,
    );
    process.kill(victim.pid, "SIGKILL");
    // The pool sends the request to the other child at once (fail-over); when that is not possible
    // (the other child busy with a request of its own that failed too), the PoSter retries it.
    const retry = await waitFor(
      "the failed partition proven again",
      () =>
        logLines(p).find(
          (l) =>
            l.msg === "ext-prover request failed over to another child" ||
            (l.msg === "proving the partition failed; retrying" && l.open === target.open),
        ),
      10_000,
      () => tail(p),
    );
    assert.match(String(retry.err), /exited|killed/, "the failure is the child's death");
    t.diagnostic(`killed ${victim.block} (pid ${victim.pid}) while proving deadline ${target.deadline}`);
    assertMade(await judged(target.deadline ?? -1, target.open ?? -1), "the deadline of the kill");
    const back = await waitFor(
      "the killed child respawned",
      async () =>
        (await status()).find((c) => c.block === victim.block && c.pid !== victim.pid && c.state === "ready"),
      30_000,
      () => tail(p),
    );
    assert.ok(back.restarts >= 1 && back.failed >= 1, JSON.stringify(back));
  });

  test("the chain node SIGKILLed after a message was sent and restarted: that deadline and the next are proven", async (t) => {
    const p = await startPoster({ submitConfidence: 1 });
    const from = await epoch();
    const sent = await waitFor(
      "a deadline's message sent",
      () =>
        logLines(p).find(
          (l) => l.msg === "window post message sent" && (l.open ?? 0) > from && parts.has(l.deadline ?? -1),
        ),
      60_000,
      () => tail(p),
      20,
    );
    stack.devnetProc.kill("SIGKILL");
    await stack.devnetProc.exited;
    // Down long enough for the PoSter to notice (its reads and its subscription fail), then back on the
    // same home and address.
    await waitFor(
      "the PoSter notices the chain node is gone",
      () => p.lines.find((l) => l.includes("connection lost") || l.includes("subscription failed")),
      10_000,
      () => tail(p),
    );
    // A second more of outage: the PoSter's waits fail and back off, as they would for a real node.
    await sleep(1000);
    await stack.startDevnet(stack.devnetApi);
    t.diagnostic(`devnet restarted at epoch ${await epoch()} after deadline ${sent.deadline}'s message`);
    assertMade(await judged(sent.deadline ?? -1, sent.open ?? -1), "the deadline of the restart");
    // Whether the block with the message was saved before the kill is a matter of milliseconds: either
    // the PoSter's wait finds it after the restart, or the devnet forgot it and the PoSter sent it again.
    const resent = logLines(p).some(
      (l) =>
        l.msg === "lost track of the window post message; sending its partitions again" &&
        l.open === sent.open,
    );
    t.diagnostic(
      resent ? "the message was lost with the devnet and sent again" : "the message survived the restart",
    );
    const next = await waitFor(
      "the next deadline with sectors judged",
      async () => (await records()).find((r) => r.open > (sent.open ?? 0) && parts.has(r.index)),
      40_000,
      () => tail(p),
    );
    assertMade(next, "the deadline after the restart");
  });
});
