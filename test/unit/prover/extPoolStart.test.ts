/**
 * ext-prover children always come back (issue 11): every way a child can fail to start (its Bin
 * missing, not executable, being written, under a path that is not a directory, its TMPDIR not
 * creatable) is retried with backoff and shown as `failing` with its error and next try; a reload
 * tries it at once; a reload never waits a RequestTimeout for a silent child; a failed-over request
 * never waits for a block that is not coming back. Real child processes (test/fixtures/testProcessor.mjs
 * behind a shell script), real files.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fsSync from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { memoryLogger, nullLogger } from "../../../src/log/logger.js";
import { ExtProverPool } from "../../../src/prover/ext/pool.js";
import type { ChildSpec } from "../../../src/prover/ext/specs.js";
import type { PoStTask } from "../../../src/prover/protocol.js";
import { SmError } from "../../../src/util/errors.js";
import { alive } from "../../helpers/process.js";
import { tempDir } from "../../helpers/tmp.js";

const FIXTURE = fileURLToPath(new URL("../../fixtures/testProcessor.mjs", import.meta.url));

/** A processor as an operator installs one: an executable script at a path. */
const SCRIPT = `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(FIXTURE)} window_post\n`;

function spec(
  index: number,
  bin: string,
  envs: Record<string, string> = {},
  extra: Partial<ChildSpec> = {},
): ChildSpec {
  return {
    stage: "window_post",
    index,
    bin,
    args: bin === process.execPath ? [FIXTURE, "window_post"] : [],
    envs: { MODE: "echo", ...envs },
    concurrent: 1,
    weight: 1,
    readyTimeoutMs: 10_000,
    ...extra,
  };
}

const task = (s: number): PoStTask => ({
  minerId: 1000,
  proofType: "StackedDrgWindow2KiBV1_2",
  replicas: [{ sectorId: s, commR: new Uint8Array(32), cacheDir: "/c", sealedFile: "/s" }],
  seed: new Uint8Array(32),
});

const waitFor = async (cond: () => boolean, ms: number) => {
  for (const end = Date.now() + ms; Date.now() < end && !cond(); ) await sleep(25);
  return cond();
};

const text = (b: Uint8Array | undefined) => Buffer.from(b ?? new Uint8Array()).toString();

/** Whether this kernel refuses to run a file that is open for writing (ETXTBSY). */
function kernelDeniesBusyExec(file: string): boolean {
  fsSync.writeFileSync(file, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  const fd = fsSync.openSync(file, "r+");
  try {
    return spawnSync(file).error?.message.includes("ETXTBSY") ?? false;
  } finally {
    fsSync.closeSync(fd);
    fsSync.rmSync(file);
  }
}

describe("ext-prover children that cannot be started", () => {
  test("each way a Bin fails to start is retried with backoff, shown as failing with the next try, and comes up once mended", async (t) => {
    const tmp = await tempDir("vsm-ext-start-");
    t.after(() => tmp.cleanup());
    const d = tmp.dir;
    const busySupported = kernelDeniesBusyExec(path.join(d, "probe.sh"));
    // name → [Bin, what the error says, how the operator (or the upgrade) mends it]
    const cases: [string, string, RegExp, () => Promise<void>][] = [
      [
        "missing",
        path.join(d, "missing.sh"),
        /could not be started: spawn \S+ ENOENT \(.* does not exist; check Bin/,
        () => fs.writeFile(path.join(d, "missing.sh"), SCRIPT, { mode: 0o755 }),
      ],
      [
        "not executable",
        path.join(d, "noexec.sh"),
        /could not be started: spawn \S+ EACCES \(.* must be an executable file \(chmod \+x\)/,
        () => fs.chmod(path.join(d, "noexec.sh"), 0o755),
      ],
      [
        "under a file",
        path.join(d, "afile", "p.sh"),
        /could not be started: spawn ENOTDIR \(a part of .* is not a directory/,
        async () => {
          await fs.rm(path.join(d, "afile"));
          await fs.mkdir(path.join(d, "afile"));
          await fs.writeFile(path.join(d, "afile", "p.sh"), SCRIPT, { mode: 0o755 });
        },
      ],
    ];
    await fs.writeFile(path.join(d, "noexec.sh"), SCRIPT, { mode: 0o644 });
    await fs.writeFile(path.join(d, "afile"), "not a directory");
    let busyFd: number | undefined;
    if (busySupported) {
      // An upgrade copying the new binary in place: the file is open for writing.
      const busy = path.join(d, "busy.sh");
      await fs.writeFile(busy, SCRIPT, { mode: 0o755 });
      busyFd = fsSync.openSync(busy, "r+");
      cases.push([
        "being written",
        busy,
        /could not be started: spawn ETXTBSY \(.* is being written \(an upgrade in progress\?\)/,
        async () => {
          if (busyFd !== undefined) fsSync.closeSync(busyFd);
          busyFd = undefined;
        },
      ]);
    } else t.diagnostic("this kernel runs files open for writing: the ETXTBSY case is not made");
    const { logger, lines } = memoryLogger("info");
    const pool = new ExtProverPool(
      "window_post",
      [spec(0, process.execPath), ...cases.map(([, bin], i) => spec(i + 1, bin))],
      { logger, backoffInitialMs: 300 },
    );
    try {
      await pool.start();
      assert.ok(
        await waitFor(
          () =>
            pool
              .status()
              .slice(1)
              .every((s) => s.state === "failing"),
          5000,
        ),
        JSON.stringify(pool.status().map((s) => [s.state, s.lastError])),
      );
      for (const [i, [name, , why]] of cases.entries()) {
        const st = pool.status()[i + 1];
        assert.equal(st?.state, "failing", name);
        assert.match(st?.lastError ?? "", why, name);
        assert.ok(
          typeof st?.nextRetryAt === "number" && st.nextRetryAt > Date.now() - 1000,
          `${name}: next try ${st?.nextRetryAt}`,
        );
      }
      // Retried with the same backoff as a child that exits (reported with its delay).
      assert.ok(
        await waitFor(
          () =>
            pool
              .status()
              .slice(1)
              .every((s) => s.restarts >= 2),
          5000,
        ),
        JSON.stringify(pool.status().map((s) => s.restarts)),
      );
      const delays = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((o) => o.msg === "ext-prover child not ready")
        .map((o) => o.retry_in_ms);
      assert.ok(delays.includes(300) && delays.includes(600), `the backoff doubles: ${delays.join(" ")}`);
      for (const [, , , mend] of cases) await mend();
      assert.ok(
        await waitFor(() => pool.readyCount === cases.length + 1, 10_000),
        JSON.stringify(pool.status().map((s) => [s.state, s.lastError])),
      );
      // Each serves requests.
      const outs = await Promise.all(cases.map((_, i) => pool.submit(task(i), { priority: 1 })));
      assert.equal(outs.length, cases.length);
    } finally {
      if (busyFd !== undefined) fsSync.closeSync(busyFd);
      await pool.close();
    }
  });

  test("a reload tries a failing block at once; its backoff starts again", async (t) => {
    const tmp = await tempDir("vsm-ext-reload-");
    t.after(() => tmp.cleanup());
    const bin = path.join(tmp.dir, "later.sh");
    const specs = [spec(0, process.execPath), spec(1, bin)];
    // A minute between tries: only the reload can bring it back within this test.
    const pool = new ExtProverPool("window_post", specs, { logger: nullLogger, backoffInitialMs: 60_000 });
    try {
      await pool.start();
      assert.ok(await waitFor(() => pool.status()[1]?.state === "failing", 3000));
      const next = pool.status()[1]?.nextRetryAt ?? 0;
      assert.ok(next - Date.now() > 50_000, "the next try is a minute away");
      await fs.writeFile(bin, SCRIPT, { mode: 0o755 });
      const r = await pool.reload(specs);
      assert.deepEqual(r, { added: 0, removed: 0, changed: 0, retried: 1 });
      assert.ok(await waitFor(() => pool.readyCount === 2, 5000), JSON.stringify(pool.status()[1]));
      assert.equal(pool.status()[1]?.nextRetryAt, null);
    } finally {
      await pool.close();
    }
  });

  test("TMPDIR named in Envs is created (mode 0700) before the child starts; one that cannot be is a failing start, retried", async (t) => {
    const tmp = await tempDir("vsm-ext-tmpdir-");
    t.after(() => tmp.cleanup());
    const made = path.join(tmp.dir, "gpu0", "tmp");
    const blocked = path.join(tmp.dir, "blocked", "tmp");
    await fs.writeFile(path.join(tmp.dir, "blocked"), "a file where the directory should be");
    const pool = new ExtProverPool(
      "window_post",
      [
        spec(0, process.execPath, { MODE: "env", TMPDIR: made }),
        spec(1, process.execPath, { TMPDIR: blocked }),
      ],
      { logger: nullLogger, backoffInitialMs: 200 },
    );
    try {
      await pool.start();
      const st = await fs.stat(made);
      assert.ok(st.isDirectory());
      assert.equal(st.mode & 0o777, 0o700);
      const out = await pool.submit(task(1), { priority: 1 });
      assert.equal((JSON.parse(text(out.proofs[0])) as { TMPDIR: string }).TMPDIR, made);
      assert.ok(await waitFor(() => pool.status()[1]?.state === "failing", 3000));
      assert.match(
        pool.status()[1]?.lastError ?? "",
        /could not be started: TMPDIR \S+blocked\/tmp \(Envs\) cannot be created: .*; fix Envs\.TMPDIR/,
      );
      await fs.rm(path.join(tmp.dir, "blocked"));
      assert.ok(await waitFor(() => pool.readyCount === 2, 5000), JSON.stringify(pool.status()[1]));
      assert.equal((await fs.stat(blocked)).mode & 0o777, 0o700);
    } finally {
      await pool.close();
    }
  });
});

describe("reload and fail-over are bounded", () => {
  test("a reload of a silent child with the default RequestTimeout (15 min) starts the new child within seconds; the request moves there", {
    timeout: 30_000,
  }, async () => {
    const { logger, lines } = memoryLogger("info");
    const pool = new ExtProverPool("window_post", [spec(0, process.execPath, { MODE: "silent" })], {
      logger,
    });
    try {
      await pool.start();
      assert.equal(pool.status()[0]?.requestTimeoutMs, 15 * 60_000, "the default RequestTimeout");
      const old = pool.status()[0]?.pid ?? -1;
      const p = pool.submit(task(7), { priority: 1 });
      await sleep(100);
      const t0 = Date.now();
      const r = await pool.reload([spec(0, process.execPath)]);
      assert.deepEqual(r, { added: 0, removed: 0, changed: 1, retried: 0 });
      const out = await p;
      const took = Date.now() - t0;
      const st = pool.status()[0];
      assert.equal(text(out.proofs[0]), `${st?.pid}:7`, "answered by the new child");
      assert.notEqual(st?.pid, old);
      assert.ok(took < 15_000, `answered ${took} ms after the reload`);
      assert.equal(alive(old), false);
      // A reload is not a fault: nothing of it is a warning.
      const warns = lines.filter((l) => l.includes('"level":"warn"'));
      assert.deepEqual(warns, [], warns.join("\n"));
    } finally {
      await pool.close();
    }
  });

  test("a failed-over request fails to its caller when no other block is ready or starting, instead of waiting for one in backoff", {
    timeout: 20_000,
  }, async (t) => {
    const tmp = await tempDir("vsm-ext-failover-");
    t.after(() => tmp.cleanup());
    // Block 1's Bin is gone (a minute between tries): it is not waited for.
    const pool = new ExtProverPool(
      "window_post",
      [
        spec(0, process.execPath, { MODE: "silent" }, { requestTimeoutMs: 1000 }),
        spec(1, path.join(tmp.dir, "gone")),
      ],
      { logger: nullLogger, backoffInitialMs: 60_000 },
    );
    try {
      await pool.start();
      const t0 = Date.now();
      await assert.rejects(
        pool.submit(task(1), { priority: 1 }),
        (e: unknown) =>
          e instanceof SmError && e.code === "EXT_PROVER_CHILD_EXITED" && /RequestTimeout/.test(e.message),
      );
      assert.ok(Date.now() - t0 < 6000, `failed after ${Date.now() - t0} ms`);
    } finally {
      await pool.close();
    }
  });

  test("a failed-over request waiting for a starting block fails when that block fails to start", {
    timeout: 20_000,
  }, async () => {
    const pool = new ExtProverPool(
      "window_post",
      [
        spec(0, process.execPath, { MODE: "silent" }, { requestTimeoutMs: 1000 }),
        spec(1, process.execPath, { MODE: "never-ready" }, { readyTimeoutMs: 3000 }),
      ],
      { logger: nullLogger, backoffInitialMs: 60_000 },
    );
    const started = pool.start();
    try {
      // Block 1 is still starting when block 0's request times out and fails over to it.
      assert.ok(await waitFor(() => pool.readyCount === 1, 2000));
      const t0 = Date.now();
      await assert.rejects(
        pool.submit(task(1), { priority: 1 }),
        (e: unknown) =>
          e instanceof SmError &&
          e.code === "EXT_PROVER_CHILD_EXITED" &&
          /no other window_post ext-prover child is ready or starting/.test(e.message),
      );
      assert.ok(Date.now() - t0 < 10_000, `failed after ${Date.now() - t0} ms`);
    } finally {
      await started.catch(() => {});
      await pool.close();
    }
  });
});
