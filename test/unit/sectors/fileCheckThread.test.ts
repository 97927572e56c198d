import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, mock, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { shapeByName } from "../../../src/proofs/sectorShapes.js";
import { checkSectorFiles, checkSectorFilesSync } from "../../../src/sectors/fileCheck.js";
import {
  checkFilesOnThread,
  FILE_CHECK_BATCH,
  type FileCheckItem,
} from "../../../src/sectors/fileCheckThread.js";
import { writeLayoutOnlySector } from "../../helpers/layoutOnlySector.js";
import { tempDir } from "../../helpers/tmp.js";

const k2 = shapeByName("2KiB")!;
const m8 = shapeByName("8MiB")!;

describe("sector file checks: async, synchronous and on the file check thread agree", () => {
  let dir = "";
  let cleanup = async () => {};
  /** One case per rule of fileCheck.ts, each with what its outcome must say. */
  const cases: { what: string; item: FileCheckItem; want: RegExp | "ok" | "ok, no t_aux" }[] = [];

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-filecheck-"));
    let n = 0;
    const sector = async (shape = k2) => writeLayoutOnlySector(dir, "normal", 1000, ++n, shape);
    const add = async (
      what: string,
      want: RegExp | "ok" | "ok, no t_aux",
      damage: (s: { sealedFile: string; cacheDir: string }) => Promise<unknown> = async () => {},
      shape = k2,
      expected: typeof k2 | undefined = shape,
    ) => {
      const s = await sector(shape);
      await damage(s);
      cases.push({ what, item: { ...s, expected }, want });
    };
    await add("a good 2 KiB sector", "ok");
    await add("a good 8 MiB sector, any size expected", "ok", undefined, m8, undefined);
    await add("no t_aux", "ok, no t_aux", (s) => fs.rm(path.join(s.cacheDir, "t_aux")));
    await add("no sealed file", /sealed file .* is missing/, (s) => fs.rm(s.sealedFile));
    await add("a sealed directory", /is not a regular file/, async (s) => {
      await fs.rm(s.sealedFile);
      await fs.mkdir(s.sealedFile);
    });
    await add("a sealed file of no sector size", /not a known sector size/, (s) =>
      fs.truncate(s.sealedFile, 7),
    );
    await add("another sector size", /but the sector is 8MiB/, async () => {}, k2, m8);
    await add("no cache dir", /cache dir .* is missing/, (s) => fs.rm(s.cacheDir, { recursive: true }));
    await add("a cache file", /is not a directory/, async (s) => {
      await fs.rm(s.cacheDir, { recursive: true });
      await fs.writeFile(s.cacheDir, "");
    });
    await add("no p_aux", /p_aux is missing/, (s) => fs.rm(path.join(s.cacheDir, "p_aux")));
    await add("a short p_aux", /p_aux is 3 bytes/, (s) => fs.truncate(path.join(s.cacheDir, "p_aux"), 3));
    await add("no tree-r-last", /sc-02-data-tree-r-last.dat is missing/, (s) =>
      fs.rm(path.join(s.cacheDir, "sc-02-data-tree-r-last.dat")),
    );
    await add("a short tree-r-last", /tree-r-last.dat is 1 bytes, expected/, (s) =>
      fs.truncate(path.join(s.cacheDir, "sc-02-data-tree-r-last.dat"), 1),
    );
    cases.push({
      what: "a path through a file",
      item: { sealedFile: path.join(cases[0]?.item.sealedFile ?? "", "x"), cacheDir: dir, expected: k2 },
      want: /sealed file .* is missing/,
    });
  });
  after(() => cleanup());

  const summary = (r: Awaited<ReturnType<typeof checkSectorFiles>> | undefined) =>
    r === undefined ? "unanswered" : typeof r === "string" ? r : `${r.shape.name} ${r.notes.join(";")}`;

  test("every rule gives the same outcome three ways", async () => {
    const thread = await checkFilesOnThread(
      cases.map((c) => c.item),
      { batchTimeoutMs: 30_000 },
    );
    for (const [i, c] of cases.entries()) {
      const { sealedFile, cacheDir, expected } = c.item;
      const async_ = await checkSectorFiles(sealedFile, cacheDir, expected);
      const sync = checkSectorFilesSync(sealedFile, cacheDir, expected);
      assert.equal(summary(sync), summary(async_), c.what);
      // Without notes (the thread's way: the checks before proving drop them), only the notes go.
      const bare = await checkSectorFiles(sealedFile, cacheDir, expected, { notes: false });
      const withoutNotes = typeof async_ === "string" ? async_ : `${async_.shape.name} `;
      assert.equal(summary(bare), withoutNotes, c.what);
      assert.equal(
        summary(checkSectorFilesSync(sealedFile, cacheDir, expected, { notes: false })),
        withoutNotes,
      );
      assert.equal(summary(thread[i]), withoutNotes, c.what);
      if (c.want === "ok") assert.equal(typeof async_, "object", `${c.what}: ${summary(async_)}`);
      else if (c.want === "ok, no t_aux") assert.match(summary(async_), /t_aux missing/, c.what);
      else assert.match(summary(async_), c.want, c.what);
    }
  });

  test("more sectors than a batch come back in order", async () => {
    const items = Array.from({ length: FILE_CHECK_BATCH * 2 + 7 }, (_, i) => cases[i % cases.length]!.item);
    const out = await checkFilesOnThread(items, { batchTimeoutMs: 30_000 });
    assert.equal(out.length, items.length);
    for (const [i, r] of out.entries()) {
      const { sealedFile, cacheDir, expected } = items[i] as FileCheckItem;
      assert.equal(
        summary(r),
        summary(checkSectorFilesSync(sealedFile, cacheDir, expected, { notes: false })),
      );
    }
  });

  test("idle threads, started ahead or after a check, never keep the process alive", async () => {
    const script = path.join(dir, "exits.mts");
    const src = new URL("../../../src/sectors/fileCheckThread.ts", import.meta.url).href;
    await fs.writeFile(
      script,
      [
        `import { checkFilesOnThread, startFileCheckThreads } from ${JSON.stringify(src)};`,
        "startFileCheckThreads();",
        `const out = await checkFilesOnThread([{ sealedFile: ${JSON.stringify(cases[0]?.item.sealedFile)}, cacheDir: ${JSON.stringify(cases[0]?.item.cacheDir)} }], { batchTimeoutMs: 30_000 });`,
        "console.log(typeof out[0]);",
      ].join("\n"),
    );
    const child = spawn(process.execPath, ["--import", "tsx", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    const code = await Promise.race([
      once(child, "exit").then(([c]) => c),
      sleep(20_000).then(() => {
        child.kill("SIGKILL");
        return "still running after 20 s";
      }),
    ]);
    assert.equal(code, 0);
    assert.equal(stdout.trim(), "object", "the check was answered on a thread");
  });

  test("a batch not answered in time, or after an abort, is left to the caller; the next call gets a new thread", async () => {
    const items = cases.map((c) => c.item);
    // The limit passes (mocked timers, ticked at once) before the thread's answer can be read: as a
    // stat on a hung mount would hold it.
    mock.timers.enable({ apis: ["setTimeout"] });
    let late: Awaited<ReturnType<typeof checkFilesOnThread>>;
    try {
      const pending = checkFilesOnThread(items, { batchTimeoutMs: 1000 });
      mock.timers.tick(1000);
      late = await pending;
    } finally {
      mock.timers.reset();
    }
    assert.ok(
      late.every((r) => r === undefined),
      "a thread that did not answer within the limit",
    );
    const ac = new AbortController();
    const aborted = checkFilesOnThread(items, { batchTimeoutMs: 30_000, signal: ac.signal });
    ac.abort();
    assert.ok((await aborted).every((r) => r === undefined));
    assert.ok(
      (await checkFilesOnThread(items, { batchTimeoutMs: 30_000, signal: ac.signal })).every(
        (r) => r === undefined,
      ),
      "already aborted",
    );
    const again = await checkFilesOnThread(items, { batchTimeoutMs: 30_000 });
    assert.equal(summary(again[0]), "2KiB ");
  });
});
