/**
 * bench:scale part (b): one deadline of P full 32 GiB partitions (P × 2,349 sparse sectors, 10 by
 * default: 23,490) proven by a standalone PoSter (`--proxy` to a source node, as the seed runs it)
 * with K ext-prover children of fixed time T, on the devnet at mainnet shape.
 *
 * Measured as bench:scheduling-devnet does: from the head at Challenge + ChallengeConfidence (seen
 * by this process's own ChainNotify) to the last SubmitWindowedPoSt pushed (the PoSter's "window post
 * message sent" line), against the bound max(⌈P/K⌉·T, T). The node's own time comes from the
 * "deadline done" line's `stage_ms` (poster/stageTimes.ts): chain reads, index lookups (over the
 * proxy), sector checks, grouping, message build and push. Its peak RSS is the PoSter's VmHWM.
 *
 * The children are test/fixtures/fixedTimeProcessor.mjs: the real wdpost processor behind a fixed
 * delay, answering after max(T, the real proof). Their proofs are real vanilla proofs and the devnet
 * judges them (every entry matched, `--verify-sample` proofs per partition verified in full), so T
 * must cover a real vanilla proof of a partition on one thread: ~30 s for sparse sectors here (13 ms
 * per sector). The goal configuration, T = 5 s on K = 4, cannot be met with real proofs on 2
 * cores (10 partitions are ~300 core-seconds of vanilla proving); its node-side figures are the same,
 * so this bench runs K = 2, T = 45 s by default and reports the ratio there.
 *
 * StrictCheck is off here: strict checks are part (c), measured on their own.
 */
import fs from "node:fs";
import path from "node:path";
import { MinerMethod } from "../src/chain/message.js";
import { provingDeadlineAt } from "../src/devnet/policy.js";
import {
  fixedTimeWdPostBlocks,
  PosterStack,
  parseLogLine,
  readTimeline,
} from "../test/helpers/posterStack.js";
import { tempDir } from "../test/helpers/tmp.js";
import { procRssMb } from "./scaleProgress.js";

const SECTORS_PER_PARTITION = 2349;
const BLOCK_MS = 100;
const CHALLENGE_CONFIDENCE = 1;
/** Epochs before the current window ends at which the sectors are sealed: room for seal + attach. */
const SEAL_BEFORE = 700;
/** Partition proofs verified in full per partition by the devnet (every entry is matched). */
const VERIFY_SAMPLE = 16;

export interface DeadlineFigures {
  partitions: number;
  sectors: number;
  k: number;
  t_ms: number;
  bound_s: number;
  makespan_s: number;
  bound_ratio: number;
  /** The sum of stage_ms: the node's own time for the deadline (much of it beside the proving). */
  node_overhead_s: number;
  /** The node's time on the critical path: head → first child request, last answer → last push. */
  critical_overhead_s: number;
  /**
   * The PoSter process's CPU time over the run (`cpu_ms` of the "deadline done" line: all its threads,
   * zlib's included), vanilla answers parsed and stored included: none of that exists with SNARKs.
   */
  node_cpu_s: number;
  stage_ms: Record<string, number>;
  /**
   * `proof_wait_ms` of the "deadline done" line, not in node_overhead_s: messages waiting for their
   * vanilla proofs' preparation (bundle parts compressing, proofs being stored), which begins as each
   * partition is proven; none of it with SNARKs. On the critical path it is in after_proving_ms.
   */
  proof_wait_ms: number;
  /** Head at Challenge + confidence → "proving deadline"; → first child request; last answer (or Open + 1, if later) → last push. */
  notify_ms: number;
  before_proving_ms: number;
  after_proving_ms: number;
  /** The last answer came before submission was allowed (Open + 1): how long before. */
  open_wait_ms: number;
  /** Requests answered later than T (the real proof took longer): the bound is then not T's. */
  slow_requests: number;
  longest_request_ms: number;
  messages: number;
  margin_epochs: number;
  poster_rss_peak_mb: number;
  seal_attach_s: number;
}

const cpuProf = (dir: string | undefined) => (dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : undefined);

interface LogLine {
  t: number;
  msg: string;
  fields: Record<string, unknown>;
}

export async function provenDeadline(o: {
  partitions: number;
  k: number;
  tMs: number;
  /** A file the PoSter's lines are appended to, to see where its time went. */
  logFile?: string | undefined;
  /** A directory the PoSter's CPU profile (`--cpu-prof`) is written to when it stops. */
  cpuProfDir?: string | undefined;
  /** The same for the devnet's. */
  devnetCpuProfDir?: string | undefined;
}): Promise<DeadlineFigures> {
  const sectors = o.partitions * SECTORS_PER_PARTITION;
  const boundMs = Math.max(Math.ceil(o.partitions / o.k) * o.tMs, o.tMs);
  // Challenge → Close holds the proving 1.5 times over with a minute to spare, so a slow run shows as
  // a ratio, not as a missed deadline. The challenge comes 0.9 of the bound before Open (at most
  // window − 10 epochs, 10 after the current window ends): submission is allowed from Open, so Open
  // must come before the last proof does, or the wait for it would count as the node's time.
  const window = Math.ceil(((boundMs + 60_000) * 1.5) / BLOCK_MS / 2) + 10;
  const lookback = Math.min(window - 10, Math.floor((boundMs * 0.9) / BLOCK_MS));
  const policy = { deadlines: 3, window, lookback, cutoff: lookback + 1 };
  // Windows end at epochs ≡ actor (mod window): the first chance to seal comes ~15 s after the start.
  const actor = 1000 + ((((150 + SEAL_BEFORE - 1000) % window) + window) % window);
  const { dir, cleanup } = await tempDir("vsm-scale-deadline-");
  const lines: LogLine[] = [];
  const timeline = path.join(dir, "served.jsonl");
  const stack = new PosterStack({
    dir,
    blockTimeMs: BLOCK_MS,
    policy,
    verifySample: VERIFY_SAMPLE,
    miners: [{ actor, challengeConfidence: CHALLENGE_CONFIDENCE, submitConfidence: 1, strictCheck: false }],
    // The children stand in for GPUs, which take no CPU from the node: their CPU proofs run at the
    // lowest priority, so the node's and the chain's stages are not timed on cores the "GPUs" hold.
    extProverCfg: fixedTimeWdPostBlocks(o.k, { delayMs: o.tMs, timeline, threads: 1, nice: 19 }),
    onPosterLine: (l) => {
      const p = parseLogLine(l);
      if (p) lines.push(p);
      if (o.logFile) fs.appendFileSync(o.logFile, `${l}\n`);
    },
    readyTimeoutMs: 120_000,
    posterNodeArgs: cpuProf(o.cpuProfDir),
    devnetNodeArgs: cpuProf(o.devnetCpuProfDir),
  });
  let tracker: ReturnType<PosterStack["trackHeads"]> | undefined;
  try {
    await stack.startAll();
    tracker = stack.trackHeads();
    const { heads } = tracker;

    // The deadline two ahead of the current one is the only mutable one: every sector lands there.
    const off = stack.offset(actor);
    let cur = provingDeadlineAt(off, await stack.epoch(), stack.policy);
    if ((await stack.epoch()) > cur.close - SEAL_BEFORE) {
      await stack.waitForEpoch(cur.close + 1, 600_000);
      cur = provingDeadlineAt(off, await stack.epoch(), stack.policy);
    }
    await stack.waitForEpoch(cur.close - SEAL_BEFORE, 600_000);
    const sealedAt = await stack.epoch();
    const t0 = Date.now();
    console.log(
      `  sealing ${sectors.toLocaleString("en-US")} sparse 32 GiB sectors for f0${actor} and attaching them`,
    );
    const placed = [...(await stack.seal(actor, sectors, { size: "32GiB", sparse: true, threads: 2 }))];
    if (placed.length !== 1) throw new Error(`sectors spread over deadlines ${placed.join(", ")}`);
    await stack.attach();
    const sealAttachS = (Date.now() - t0) / 1000;
    const d = stack.nextDeadline(actor, placed[0] ?? 0, sealedAt);
    if ((await stack.epoch()) >= d.challenge)
      throw new Error(`seal and attach took ${sealAttachS} s, past the challenge at ${d.challenge}`);
    console.log(
      `  ${o.partitions} partitions in deadline ${d.index}; challenge at ${d.challenge}, Close ${d.close} (now ${await stack.epoch()}); seal + attach ${sealAttachS.toFixed(1)} s`,
    );

    // The PoSter judges the deadline once every message has landed (from their receipts): no need to
    // wait for Close and the devnet's record.
    const mine = (l: LogLine) => l.fields.open === d.open && l.fields.miner === `f0${actor}`;
    const until = Date.now() + (d.close - (await stack.epoch())) * BLOCK_MS * 3 + 60_000;
    const doneLine = () => lines.find((l) => mine(l) && String(l.msg).startsWith("deadline done"));
    for (; doneLine() === undefined; await new Promise((res) => setTimeout(res, 500)))
      if (Date.now() > until) throw new Error(`deadline at ${d.open}: no "deadline done" line`);
    const judged = doneLine() as LogLine;
    if (judged.fields.result !== "proven" || (judged.fields.proven as unknown[]).length !== o.partitions)
      throw new Error(`deadline at ${d.open} not fully proven: ${JSON.stringify(judged.fields)}`);
    const rss = procRssMb(stack.poster.pid).peak;
    const began = lines.find((l) => l.msg === "proving deadline" && mine(l));
    const sent = lines.filter((l) => l.msg === "window post message sent" && mine(l));
    const done = judged;
    const start = d.challenge + CHALLENGE_CONFIDENCE;
    const reached = [...heads.keys()].filter((h) => h >= start).sort((x, y) => x - y)[0];
    const head = reached === undefined ? undefined : heads.get(reached);
    if (!began || sent.length === 0 || head === undefined || !done)
      throw new Error(`deadline at ${d.open}: missing start line, messages, done line or head ${start}`);
    const served = (await readTimeline(timeline)).filter((s) => s.received >= began.t);
    if (served.length !== o.partitions)
      throw new Error(`${served.length} requests served, expected ${o.partitions}`);
    const firstIn = Math.min(...served.map((s) => s.received));
    const lastOut = Math.max(...served.map((s) => s.answered));
    const lastSent = Math.max(...sent.map((l) => l.t));
    // Submission is allowed from the head at Open + SubmitConfidence: time before it is not the node's.
    const allowedAt = [...heads].filter(([h]) => h >= d.open + 1).sort((x, y) => x[0] - y[0])[0]?.[1];
    if (allowedAt === undefined) throw new Error(`no head at Open + 1 (${d.open + 1}) was seen`);
    const afterFrom = Math.max(lastOut, allowedAt);
    const stageMs = (done.fields.stage_ms ?? {}) as Record<string, number>;
    const overheadMs = Object.values(stageMs).reduce((a, v) => a + v, 0);
    const msgs = await stack.devnet.call<{ to: string; method: number; height: number }[]>(
      "Devnet.Messages",
      [500],
    );
    const landed = msgs
      .filter((m) => m.to === `f0${actor}` && m.method === MinerMethod.SubmitWindowedPoSt)
      .map((m) => m.height)
      .filter((h) => h >= d.challenge && h < d.close);
    const durations = served.map((s) => s.answered - s.started);
    const makespan = lastSent - head;
    return {
      partitions: o.partitions,
      sectors,
      k: o.k,
      t_ms: o.tMs,
      bound_s: boundMs / 1000,
      makespan_s: Math.round(makespan) / 1000,
      bound_ratio: Math.round((makespan / boundMs) * 1000) / 1000,
      node_overhead_s: Math.round(overheadMs) / 1000,
      critical_overhead_s: Math.round(firstIn - head + (lastSent - afterFrom)) / 1000,
      node_cpu_s: Math.round(Number(done.fields.cpu_ms ?? Number.NaN)) / 1000,
      stage_ms: stageMs,
      proof_wait_ms: Math.round(Number(done.fields.proof_wait_ms ?? 0)),
      notify_ms: began.t - head,
      before_proving_ms: firstIn - began.t,
      after_proving_ms: lastSent - afterFrom,
      open_wait_ms: Math.max(0, allowedAt - lastOut),
      slow_requests: durations.filter((x) => x > o.tMs + 250).length,
      longest_request_ms: Math.max(...durations),
      messages: sent.length,
      margin_epochs: d.close - Math.max(...landed),
      poster_rss_peak_mb: Math.round(rss * 10) / 10,
      seal_attach_s: Math.round(sealAttachS * 10) / 10,
    };
  } finally {
    tracker?.close();
    await stack.stop();
    await cleanup();
  }
}
