/**
 * Issue 10, findings 4, 9 and 10: config values that used to crash the loader with an internal error,
 * overflow a timer later, or run the node on an empty file. Each must be refused at load with
 * file:line:key and what to write instead.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import {
  ConfigError,
  loadConfigDir,
  parseExtProverConfig,
  parseSectorManagerConfig,
} from "../../../src/config/load.js";
import { renderExtProverDefault, renderSectorManagerDefault } from "../../../src/config/render.js";
import {
  extProverSchema,
  sectorManagerSchema,
  type TableSpec,
  TIMER_MAX_MS,
} from "../../../src/config/schema.js";
import { SmError } from "../../../src/util/errors.js";
import { tempDir } from "../../helpers/tmp.js";

function rejected(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${(e as Error)?.stack ?? String(e)}`);
    return e.message;
  }
  assert.fail("expected the config to be rejected");
}
const sm = (src: string) => rejected(() => parseSectorManagerConfig("sector-manager.cfg", src, "/base"));
const ep = (src: string) => rejected(() => parseExtProverConfig("ext-prover.cfg", src));

describe("table and array-of-tables shapes (finding 10)", () => {
  test("[WdPost] instead of [[WdPost]] says to write [[WdPost]]", () => {
    assert.match(
      ep('[WdPost]\nConcurrent = 2\n[WdPost.Envs]\nA = "b"\n'),
      /^ext-prover\.cfg:1: WdPost: is a list of blocks, got a table: write each block as \[\[WdPost\]\] \(double brackets\), not \[WdPost\]$/,
    );
    assert.match(ep("[WinPost]\n"), /^ext-prover\.cfg:1: WinPost: .*write each block as \[\[WinPost\]\]/);
    assert.match(
      ep("WdPost = 5\n"),
      /^ext-prover\.cfg:1: WdPost: is a list of blocks, got number 5: write one \[\[WdPost\]\] block/,
    );
    assert.match(
      ep("WdPost = [1]\n"),
      /^ext-prover\.cfg:1: WdPost\[0\]: expected a block, got number 1: write \[\[WdPost\]\] blocks/,
    );
    assert.match(
      ep('[[WdPost]]\n[[WdPost.Envs]]\nA = "b"\n'),
      /^ext-prover\.cfg:2: WdPost\[0\]\.Envs: .*write \[WdPost\.Envs\] \(single brackets\), not \[\[WdPost\.Envs\]\]/,
    );
  });

  test("[[Common]] and Common = 5 name file, line and key and say what to write", () => {
    assert.match(
      sm("# head\n[[Common]]\n"),
      /^sector-manager\.cfg:2: Common: is one section, not a list of blocks: write \[Common\] \(single brackets\), not \[\[Common\]\]$/,
    );
    assert.match(
      sm("\nCommon = 5\n"),
      /^sector-manager\.cfg:2: Common: must be a section, got number 5: write a \[Common\] header/,
    );
    assert.match(sm("Miners = 5\n"), /^sector-manager\.cfg:1: Miners: .*write one \[\[Miners\]\] block/);
    assert.match(
      sm("[Miners]\nActor = 1\n"),
      /^sector-manager\.cfg:1: Miners: .*write each block as \[\[Miners\]\]/,
    );
    assert.match(
      sm("[[Miners]]\nActor = 1\n[[Miners.PoSt]]\n"),
      /^sector-manager\.cfg:3: Miners\[0\]\.PoSt: .*write \[Miners\.PoSt\] \(single brackets\)/,
    );
    assert.match(
      sm('[Common.PersistStores]\nPath = "/x"\n'),
      /^sector-manager\.cfg:1: Common\.PersistStores: .*write each block as \[\[Common\.PersistStores\]\]/,
    );
    assert.match(sm("[Common]\nAPI = []\n"), /^sector-manager\.cfg:2: Common\.API: .*write \[Common\.API\]/);
  });

  test("every table and array-of-tables key of both schemas, written in the wrong shape, is a ConfigError with its line", () => {
    // Walk the schemas: each table as [[X]] and as X = 5, each array of tables as [X] and as X = 5.
    const cases: { file: "sm" | "ep"; src: string; key: string; line: number }[] = [];
    const walk = (spec: TableSpec, prefix: string[], file: "sm" | "ep", arrays: string[][]) => {
      for (const [k, f] of Object.entries(spec)) {
        const p = [...prefix, k];
        const name = p.join(".");
        // Parents that are arrays of tables need a block of their own before the child's header.
        const parents = arrays.map(
          (a) => `[[${a.join(".")}]]\n${a.join(".") === "Miners" ? "Actor = 1\n" : ""}`,
        );
        const pre = parents.join("");
        const line = pre.split("\n").length;
        if (f.kind === "table") {
          cases.push({ file, src: `${pre}[[${name}]]\n`, key: name, line });
          walk(f.fields, p, file, arrays);
        } else if (f.kind === "tableArray") {
          cases.push({ file, src: `${pre}[${name}]\n`, key: name, line });
          walk(f.fields, p, file, [...arrays, p]);
        }
      }
    };
    walk(sectorManagerSchema, [], "sm", []);
    walk(extProverSchema, [], "ep", []);
    assert.ok(cases.length >= 9, `${cases.length} cases`);
    for (const c of cases) {
      const msg = c.file === "sm" ? sm(c.src) : ep(c.src);
      const file = c.file === "sm" ? "sector-manager.cfg" : "ext-prover.cfg";
      assert.match(msg, new RegExp(`^${file.replace(".", "\\.")}:${c.line}: `), `${c.src}→ ${msg}`);
      assert.match(msg, /single brackets|double brackets/, `${c.src}→ ${msg}`);
      assert.doesNotMatch(msg, /Cannot read properties|undefined/, `${c.src}→ ${msg}`);
    }
  });

  test('a wrong scalar type never reaches the file-specific rules (Senders = "f01" was a TypeError)', () => {
    assert.match(
      sm('[[Miners]]\nActor = 1000\n[Miners.PoSt]\nSenders = "f01"\nSender = "f02"\n'),
      /^sector-manager\.cfg:4: Miners\[0\]\.PoSt\.Senders: expected an array of strings, got the string "f01" \(write \["f01"\]\)$/,
    );
    assert.match(
      sm('[[Common.PersistStores]]\nPath = 5\n[[Common.PersistStores]]\nPath = "/a"\nName = 7\n'),
      /sector-manager\.cfg:2: Common\.PersistStores\[0\]\.Path: expected a string[\s\S]*sector-manager\.cfg:5: Common\.PersistStores\[1\]\.Name: expected a string/,
    );
  });
});

describe("durations and numbers checked against their use (finding 4)", () => {
  test("a duration longer than a timer can hold is refused with the allowed range", () => {
    const msg = sm('[Common.Proving]\nSingleCheckTimeout = "600h"\nPartitionCheckTimeout = "99999999999h"\n');
    assert.match(
      msg,
      /sector-manager\.cfg:2: Common\.Proving\.SingleCheckTimeout: must be at most "596h31m23\.647s", the longest time a timer can wait \(about 24\.8 days\), got "600h" \(allowed: "1ms" to "596h31m23\.647s"\)/,
    );
    assert.match(msg, /sector-manager\.cfg:3: Common\.Proving\.PartitionCheckTimeout: must be at most/);
    assert.match(
      sm('[Common.API]\nChainEventInterval = "2562047h"\n'),
      /:2: Common\.API\.ChainEventInterval: must be at most/,
    );
    // The longest that fits is accepted, and is what the timers get.
    const ok = parseSectorManagerConfig(
      "sector-manager.cfg",
      '[Common.Proving]\nSingleCheckTimeout = "596h31m23.647s"\n',
      "/base",
    ).config;
    assert.equal(ok.Common.Proving.SingleCheckTimeoutMs, TIMER_MAX_MS);
  });

  test("a check timeout of zero (every sector bad at once) is refused", () => {
    assert.match(
      sm('[Common.Proving]\nSingleCheckTimeout = "0s"\n'),
      /:2: Common\.Proving\.SingleCheckTimeout: must be at least "1ms", got "0s"/,
    );
    assert.match(sm('[Common.Proving]\nPartitionCheckTimeout = "1ns"\n'), /must be at least "1ms"/);
  });

  test("ReadyTimeoutSecs that overflows the timer once multiplied by 1000 is refused", () => {
    assert.match(
      ep("[[WdPost]]\nReadyTimeoutSecs = 2147484\n"),
      /^ext-prover\.cfg:2: WdPost\[0\]\.ReadyTimeoutSecs: must be at most 2147483, got 2147484 \(allowed: 0 to 2147483\)$/,
    );
    const b = parseExtProverConfig("ext-prover.cfg", "[[WdPost]]\nReadyTimeoutSecs = 2147483\n").config
      .WdPost[0];
    assert.ok(b && b.ReadyTimeoutSecs * 1000 <= TIMER_MAX_MS);
  });

  test("epoch counts that would never let a deadline be proven or a message be confirmed are refused", () => {
    const msg = sm(
      "[[Miners]]\nActor = 1000\n[Miners.PoSt]\nChallengeConfidence = 80\nSubmitConfidence = 60\nConfidence = 100000\n",
    );
    assert.match(msg, /:4: Miners\[0\]\.PoSt\.ChallengeConfidence: must be at most 79, got 80/);
    assert.match(msg, /:5: Miners\[0\]\.PoSt\.SubmitConfidence: must be at most 59, got 60/);
    assert.match(msg, /:6: Miners\[0\]\.PoSt\.Confidence: must be at most 900, got 100000/);
    assert.match(
      ep("[[WdPost]]\nConcurrent = 100000\n"),
      /:2: WdPost\[0\]\.Concurrent: must be at most 1024/,
    );
  });

  test("the default files say each number's and duration's range", () => {
    const smText = renderSectorManagerDefault();
    assert.match(
      smText,
      /# Time limit for checking one sector\. Range: "1ms" to "596h31m23\.647s"\.\n\s*#SingleCheckTimeout = "10m0s"/,
    );
    assert.match(smText, /Range: 0 to 79\.\n\s*#ChallengeConfidence = 10/);
    assert.match(renderExtProverDefault(), /#\s+ReadyTimeoutSecs: .*Range: 0 to 2147483\./);
  });
});

describe("path keys (finding 10) and empty files (finding 9)", () => {
  test('BaseDir = "/dev/null" names the key and says it must be a directory', () => {
    assert.match(
      sm('[Common.DB.LMDB]\nBaseDir = "/dev/null"\n'),
      /^sector-manager\.cfg:2: Common\.DB\.LMDB\.BaseDir: must be a directory \(created when missing\), but \/dev\/null is a device; point it at a directory, or leave it empty for <home>\/db$/,
    );
    assert.match(
      sm('[Common.DB.LMDB]\nBaseDir = "/dev/null/db"\n'),
      /:2: Common\.DB\.LMDB\.BaseDir: must be a directory .*\/dev\/null\/db is not a directory/,
    );
  });

  test("BaseDir resolves against the config directory; a store path that is a file is a warning with its line", async () => {
    const t = await tempDir();
    try {
      const file = path.join(t.dir, "afile");
      await fs.writeFile(file, "x");
      const r = parseSectorManagerConfig(
        "sector-manager.cfg",
        `[Common.DB.LMDB]\nBaseDir = "db2"\n[[Common.PersistStores]]\nName = "s"\nPath = ${JSON.stringify(file)}\n`,
        t.dir,
      );
      assert.equal(r.config.Common.DB.LMDB.BaseDir, path.join(t.dir, "db2"));
      assert.deepEqual(r.warnings, [
        `sector-manager.cfg:5: Common.PersistStores[0].Path: must be a directory, but ${file} is a regular file; this store's sectors are reported missing until it is`,
      ]);
      assert.match(
        sm(`[Common.DB.LMDB]\nBaseDir = ${JSON.stringify(path.join(file, "db"))}\n`),
        /BaseDir: must be a directory/,
      );
    } finally {
      await t.cleanup();
    }
  });

  test("an empty sector-manager.cfg or ext-prover.cfg is an error that says how to mend it", async () => {
    const t = await tempDir();
    try {
      const smFile = path.join(t.dir, "sector-manager.cfg");
      await fs.writeFile(smFile, "");
      await assert.rejects(loadConfigDir(t.dir), (e: unknown) => {
        assert.ok(e instanceof SmError);
        assert.equal(e.code, "CONFIG_EMPTY");
        assert.match(
          e.message,
          new RegExp(`^${smFile.replace(/\./g, "\\.")} is empty \\(0 bytes\\).*daemon init`),
        );
        return true;
      });
      await fs.writeFile(smFile, "  \n\n");
      await assert.rejects(loadConfigDir(t.dir), /is empty \(4 bytes\)/);
      // An empty ext-prover.cfg is a file with no blocks, as damocles reads it: every command that
      // loads the config goes on (--ext-prover then says the file has no block, see node.ts).
      await fs.writeFile(smFile, "# only comments: all defaults\n");
      for (const empty of ["", " \n\n"]) {
        await fs.writeFile(path.join(t.dir, "ext-prover.cfg"), empty);
        const r = await loadConfigDir(t.dir);
        assert.deepEqual(r.extProver?.config, { WdPost: [], WinPost: [] });
        assert.equal(r.emptyExtProver, true);
      }
    } finally {
      await t.cleanup();
    }
  });

  test("a table defined twice names the table and the line of its first definition, and says to edit that one", () => {
    // What an operator does to the file daemon init wrote: paste a second [Common.API] under the first.
    const src = `${renderSectorManagerDefault()}\n[Common.API]\nChain = "/ip4/127.0.0.1/tcp/1234"\n`;
    const lines = src.split("\n").map((l) => l.trim());
    const first = lines.indexOf("[Common.API]") + 1;
    const second = lines.lastIndexOf("[Common.API]") + 1;
    assert.ok(first > 0 && second > first);
    assert.throws(
      () => parseSectorManagerConfig("sector-manager.cfg", src, "/"),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(
          e.message,
          `sector-manager.cfg:${second}: table [Common.API] is defined a second time; it was first defined at line ${first}. A table may appear only once: edit the [Common.API] table at line ${first} (uncomment or add the keys there) instead of adding a second one, and remove this header`,
        );
        return true;
      },
    );
    // The same table in two [[Miners]] blocks is fine; twice in one block is not, and the line is that block's.
    const miners =
      "[[Miners]]\nActor = 1\n[Miners.PoSt]\n[[Miners]]\nActor = 2\n[Miners.PoSt]\nEnabled = true\n[Miners.PoSt]\n";
    assert.throws(
      () => parseSectorManagerConfig("sector-manager.cfg", miners, "/"),
      /: sector-manager\.cfg:8: table \[Miners\.PoSt\] is defined a second time; it was first defined at line 6\./,
    );
    assert.throws(
      () =>
        parseSectorManagerConfig(
          "sector-manager.cfg",
          '[Common.API]\nChain = "a"\nToken = "t"\nChain = "b"\n',
          "/",
        ),
      /: sector-manager\.cfg:4: Chain is set a second time in \[Common\.API\] \(first set at line 2\); .*keep one of them/,
    );
  });

  test("a --conf-dir that does not exist is quoted and called a possible typo, not a home to init", async () => {
    const t = await tempDir();
    try {
      const typo = path.join(t.dir, "venus-sector-manger");
      await assert.rejects(loadConfigDir(typo, { confDir: true }), (e: unknown) => {
        assert.ok(e instanceof SmError);
        assert.equal(e.code, "CONFIG_DIR_MISSING");
        assert.equal(
          e.message,
          `--conf-dir ${JSON.stringify(typo)} does not exist; check the path for a typo (it names the directory that holds sector-manager.cfg, e.g. the source node's home)`,
        );
        assert.doesNotMatch(e.message, /daemon init/);
        return true;
      });
      await assert.rejects(loadConfigDir(t.dir, { confDir: true }), (e: unknown) => {
        assert.match(
          (e as Error).message,
          /check --conf-dir ".*" for a typo: it must name a directory that holds sector-manager\.cfg/,
        );
        assert.doesNotMatch((e as Error).message, /daemon init/);
        return true;
      });
    } finally {
      await t.cleanup();
    }
  });

  test("an ext-prover Bin path that can never run is a warning with file:line:key (the file is read without --ext-prover too; a missing one is left to spawn)", () => {
    const r = parseExtProverConfig(
      "ext-prover.cfg",
      '[[WdPost]]\nBin = "/dev/null"\n[[WdPost]]\nBin = "/tmp"\n[[WinPost]]\nBin = "/nonexistent/prover"\n[[WinPost]]\nBin = "sh"\n',
    );
    assert.deepEqual(r.warnings, [
      "ext-prover.cfg:2: WdPost[0].Bin: must be an executable file, but /dev/null is not a regular file",
      "ext-prover.cfg:4: WdPost[1].Bin: must be an executable file, but /tmp is a directory",
    ]);
  });
});
