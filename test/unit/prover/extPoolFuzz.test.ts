/**
 * Bounded fuzz of the ext-prover pool (issue 10): real child processes (test/fixtures/testProcessor.mjs
 * MODE=fuzz) print seeded random output around their answers: garbage, binary, partial JSON, wrong ids,
 * wrong shapes, deep nesting, lines over the limit, duplicate and split answers, no answer at all, an
 * over-long answer, an exit or a closed stdout. Every request must settle within a bound, with the
 * right answer or one of the pool's errors; the pool must stay usable and its memory bounded.
 * VSM_FUZZ_SEED replays a run.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { nullLogger } from "../../../src/log/logger.js";
import { ExtProverPool } from "../../../src/prover/ext/pool.js";
import type { ChildSpec } from "../../../src/prover/ext/specs.js";
import type { PoStTask } from "../../../src/prover/protocol.js";
import { AbortedError, SmError } from "../../../src/util/errors.js";
import { seededRandom } from "../../../src/util/random.js";
import { tempDir } from "../../helpers/tmp.js";

const FIXTURE = fileURLToPath(new URL("../../fixtures/testProcessor.mjs", import.meta.url));
const SEED = Number(process.env.VSM_FUZZ_SEED ?? 20261206);
const REQUESTS = 80;
const AT_ONCE = 6;
/** A request is answered or failed within this: RequestTimeout (1 s) + fail-over + a respawn. */
const SETTLE_MS = 6000;
const LINE_LIMIT = 256 * 1024;

const spec = (index: number, mode: string, genFile: string): ChildSpec => ({
  stage: "window_post",
  index,
  bin: process.execPath,
  args: [FIXTURE, "window_post"],
  envs: {
    MODE: mode,
    FUZZ_SEED: String(SEED + index),
    GEN_FILE: `${genFile}.${index}`,
    HUGE_BYTES: String(LINE_LIMIT + 1024),
  },
  concurrent: 2,
  weight: 1,
  readyTimeoutMs: 5000,
  requestTimeoutMs: 1000,
  maxLineBytes: LINE_LIMIT,
});

const task = (sector: number): PoStTask => ({
  minerId: 1000,
  proofType: "StackedDrgWindow2KiBV1_2",
  replicas: [{ sectorId: sector, commR: new Uint8Array(32), cacheDir: "/c", sealedFile: "/s" }],
  seed: new Uint8Array(32),
});

/** The errors a caller may see from the pool; anything else (a TypeError, ...) is a bug. */
const EXPECTED = new Set(["EXT_PROVER_TASK_FAILED", "EXT_PROVER_CHILD_EXITED", "EXT_PROVER_BAD_RESPONSE"]);

test(`fuzz: seeded random child output never breaks the pool (seed ${SEED})`, async () => {
  const t = await tempDir("vsm-fuzz-");
  const gen = path.join(t.dir, "gen");
  const pool = new ExtProverPool("window_post", [spec(0, "fuzz", gen), spec(1, "fuzz", gen)], {
    logger: nullLogger,
    backoffInitialMs: 50,
    random: seededRandom(SEED),
  });
  const mem = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const base = mem();
  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, mem());
  }, 20);
  const outcomes = { ok: 0, failed: new Map<string, number>() };
  try {
    await pool.start();
    for (let first = 0; first < REQUESTS; first += AT_ONCE) {
      await Promise.all(
        Array.from({ length: Math.min(AT_ONCE, REQUESTS - first) }, async (_, k) => {
          const sector = first + k;
          const t0 = Date.now();
          try {
            const out = await pool.submit(task(sector), {
              priority: sector % 5,
              signal: AbortSignal.timeout(SETTLE_MS),
            });
            assert.equal(out.proofs.length, 1, `sector ${sector}`);
            assert.equal(
              Buffer.from(out.proofs[0] ?? [])
                .toString()
                .split(":")[1],
              String(sector),
              `sector ${sector} got its own answer (seed ${SEED})`,
            );
            outcomes.ok++;
          } catch (e) {
            assert.ok(
              e instanceof SmError && !(e instanceof AbortedError) && EXPECTED.has(e.code),
              `sector ${sector}: unexpected ${String(e)} (seed ${SEED})`,
            );
            outcomes.failed.set(e.code, (outcomes.failed.get(e.code) ?? 0) + 1);
          }
          assert.ok(Date.now() - t0 < SETTLE_MS, `sector ${sector} settled in ${Date.now() - t0} ms`);
        }),
      );
    }
    const st = pool.status();
    if (process.env.FUZZ_DEBUG)
      console.log(
        JSON.stringify({
          ok: outcomes.ok,
          failed: [...outcomes.failed],
          st: st.map((s) => [s.restarts, s.protocolErrors, s.lastError]),
        }),
      );
    const protocolErrors = st.reduce((n, s) => n + s.protocolErrors, 0);
    assert.ok(protocolErrors > REQUESTS / 2, `protocol errors counted: ${protocolErrors}`);
    assert.ok(outcomes.ok > REQUESTS / 2, `most requests answered: ${JSON.stringify([...outcomes.failed])}`);
    // Still usable: the same blocks with well-behaved children answer.
    await pool.reload([
      { ...spec(0, "echo", gen), requestTimeoutMs: 5000 },
      { ...spec(1, "echo", gen), requestTimeoutMs: 5000 },
    ]);
    const out = await pool.submit(task(999), { priority: 1, signal: AbortSignal.timeout(10_000) });
    assert.equal(
      Buffer.from(out.proofs[0] ?? [])
        .toString()
        .split(":")[1],
      "999",
    );
    const grew = peak - base;
    assert.ok(grew < 96 * 1024 * 1024, `memory grew by ${Math.round(grew / 1048576)} MiB`);
  } finally {
    clearInterval(sampler);
    await pool.close();
    await t.cleanup();
  }
});
