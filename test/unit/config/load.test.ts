import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import {
  ConfigError,
  defaultSectorManagerConfig,
  loadConfigDir,
  parseExtProverConfig,
  parseSectorManagerConfig,
} from "../../../src/config/load.js";
import { renderExtProverDefault, renderSectorManagerDefault } from "../../../src/config/render.js";
import { formatGoDuration, parseFil, parseGoDuration } from "../../../src/config/units.js";
import { tempDir } from "../../helpers/tmp.js";

const parse = (src: string) => parseSectorManagerConfig("sector-manager.cfg", src, "/base");

function configError(src: string): ConfigError {
  try {
    parse(src);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    return e;
  }
  assert.fail("expected the config to be rejected");
}

describe("sector-manager.cfg defaults", () => {
  test("an empty file gives the documented defaults", () => {
    const c = defaultSectorManagerConfig();
    assert.equal(c.Common.Proving.ParallelCheckLimit, 128);
    assert.equal(c.Common.Proving.SingleCheckTimeoutMs, 10 * 60_000);
    assert.equal(c.Common.Proving.PartitionCheckTimeoutMs, 20 * 60_000);
    assert.equal(c.Common.RPC.AnonymousRead, true);
    assert.equal(c.Common.DB.Driver, "lmdb");
    assert.deepEqual(c.Common.PersistStores, []);
    assert.deepEqual(c.Miners, []);
  });

  test("the file daemon init writes loads to exactly the defaults, without warnings", () => {
    const r = parse(renderSectorManagerDefault());
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.config, defaultSectorManagerConfig());
  });

  test("miner PoSt defaults and damocles zero-value rules", () => {
    const a = parse("[[Miners]]\nActor = 1000\n").config.Miners[0];
    assert.ok(a);
    assert.equal(a.PoSt.Enabled, true);
    assert.equal(a.PoSt.StrictCheck, true);
    assert.equal(a.PoSt.SubmitConfidence, 4);
    assert.equal(a.PoSt.ChallengeConfidence, 10);
    assert.equal(a.PoSt.MaxRecoverSectorLimit, null);
    assert.equal(a.PoSt.MaxPartitionsPerPoStMessage, null);
    assert.equal(a.PoSt.GasFeeCap, 5_000_000_000n);
    assert.equal(a.Proof.Enabled, false);
    const z = parse(
      "[[Miners]]\nActor = 1000\n[Miners.PoSt]\nSubmitConfidence = 0\nChallengeConfidence = 0\nMaxRecoverSectorLimit = 0\nMaxPartitionsPerPoStMessage = 2\n",
    ).config.Miners[0];
    assert.ok(z);
    assert.equal(z.PoSt.SubmitConfidence, 4, "0 means the default 4");
    assert.equal(z.PoSt.ChallengeConfidence, 10, "0 means the default 10");
    assert.equal(z.PoSt.MaxRecoverSectorLimit, null, "0 means unlimited");
    assert.equal(z.PoSt.MaxPartitionsPerPoStMessage, 2);
    const zero = parse("[Common.Proving]\nParallelCheckLimit = 0\n").config;
    assert.equal(zero.Common.Proving.ParallelCheckLimit, null, "0 means unlimited");
  });

  test("every number has a range tied to its use; a value outside it names the key, the line and the range", () => {
    const bad: [string, RegExp][] = [
      [
        "[Common.Proving]\nParallelCheckLimit = -1\n",
        /:2: .*ParallelCheckLimit: must not be negative.*0 to 65536; write 0 for unlimited/,
      ],
      ["[Common.Proving]\nParallelCheckLimit = 70000\n", /ParallelCheckLimit: must be at most 65536/],
      [
        "[[Miners]]\nActor = 1\n[Miners.PoSt]\nGasOverEstimation = 1e300\n",
        /:4: .*GasOverEstimation: must be at most 10, got 1e\+300 \(allowed: 0 to 10\)/,
      ],
      [
        "[[Miners]]\nActor = 1\n[Miners.PoSt]\nGasOverEstimation = 0.5\n",
        /GasOverEstimation: 0.5 would give the message less gas than it uses.*write 0 .* or 1 to 10/,
      ],
      [
        "[[Miners]]\nActor = 1\n[Miners.PoSt]\nGasOverPremium = 1000\n",
        /GasOverPremium: must be at most 100/,
      ],
      ["[[Miners]]\nActor = 1\n[Miners.PoSt]\nGasOverPremium = -1\n", /GasOverPremium: must be at least 0/],
      [
        "[[Miners]]\nActor = 1\n[Miners.PoSt]\nMaxPartitionsPerPoStMessage = 3001\n",
        /MaxPartitionsPerPoStMessage: must be at most 3000/,
      ],
      [
        "[[Miners]]\nActor = 1\n[Miners.PoSt]\nMaxPartitionsPerRecoveryMessage = 99999\n",
        /MaxPartitionsPerRecoveryMessage: must be at most 3000/,
      ],
    ];
    for (const [src, re] of bad)
      assert.throws(
        () => parse(src),
        (e: Error) => re.test(e.message),
        src,
      );
    const ok = parse(
      "[[Miners]]\nActor = 1\n[Miners.PoSt]\nGasOverEstimation = 0\nGasOverPremium = 100\nMaxPartitionsPerPoStMessage = 3000\n",
    ).config.Miners[0]!.PoSt;
    assert.equal(ok.GasOverEstimation, 0);
    assert.equal(ok.GasOverPremium, 100);
    // The default file shows each range next to its key.
    const file = renderSectorManagerDefault();
    for (const [key, range] of [
      ["ParallelCheckLimit", "0 to 65536"],
      ["GasOverEstimation", "0 to 10"],
      ["GasOverPremium", "0 to 100"],
      ["MaxPartitionsPerPoStMessage", "0 to 3000"],
      ["MaxPartitionsPerRecoveryMessage", "0 to 3000"],
    ])
      assert.match(file, new RegExp(`Range: ${range}\\.\\n\\s*#${key} = `), key);
  });

  test("keys are case-insensitive, as in damocles ([Miners.Post])", () => {
    const c = parse(
      '[[Miners]]\nactor = 7\n[Miners.Post]\nenabled = false\nsenders = ["f01"]\nSender = "f02"\n',
    ).config;
    assert.equal(c.Miners[0]?.Actor, 7);
    assert.equal(c.Miners[0]?.PoSt.Enabled, false);
    assert.deepEqual(c.Miners[0]?.PoSt.Senders, ["f01", "f02"], "the deprecated Sender joins Senders");
  });

  test("durations and FIL amounts", () => {
    const c = parse(
      '[Common.Proving]\nSingleCheckTimeout = "1m30s"\n[[Miners]]\nActor = 1\n[Miners.PoSt]\nGasFeeCap = "0.5 FIL"\n',
    ).config;
    assert.equal(c.Common.Proving.SingleCheckTimeoutMs, 90_000);
    assert.equal(c.Miners[0]?.PoSt.GasFeeCap, 500_000_000_000_000_000n);
    const m = parse('[[Miners]]\nActor = 1\n[Miners.PoSt]\nGasFeeCap = ""\nMaxFeeCap = "7 nanoFIL"\n').config;
    assert.equal(m.Miners[0]?.PoSt.GasFeeCap, 7_000_000_000n, "MaxFeeCap stands in for an empty GasFeeCap");
  });
});

describe("persist stores", () => {
  test("Name defaults to the absolute Path; relative paths resolve against the config dir", () => {
    const c = parse(
      '[[Common.PersistStores]]\nPath = "stores/a"\n[[Common.PersistStores]]\nName = "b"\nPath = "/mnt/b"\nReadOnly = true\nAllowMiners = [1000]\n[Common.PersistStores.Meta]\nrack = "r1"\n',
    ).config;
    assert.equal(c.Common.PersistStores[0]?.Path, path.resolve("/base", "stores/a"));
    assert.equal(c.Common.PersistStores[0]?.Name, path.resolve("/base", "stores/a"));
    assert.equal(c.Common.PersistStores[1]?.Name, "b");
    assert.equal(c.Common.PersistStores[1]?.ReadOnly, true);
    assert.equal("AllowMiners" in (c.Common.PersistStores[1] ?? {}), false, "placement policy: not kept");
    assert.deepEqual(c.Common.PersistStores[1]?.Meta, { rack: "r1" }, "Meta keys keep their case");
  });

  test("a store without Path, and duplicate names, are errors with their lines", () => {
    const e = configError(
      '[[Common.PersistStores]]\nName = "a"\n\n[[Common.PersistStores]]\nName = "b"\nPath = "/x"\n[[Common.PersistStores]]\nName = "b"\nPath = "/y"\n',
    );
    assert.equal(e.problems.length, 2);
    assert.match(
      e.problems[0] ?? "",
      /^sector-manager\.cfg:1: Common\.PersistStores\[0\]\.Path: is required/,
    );
    assert.match(
      e.problems[1] ?? "",
      /^sector-manager\.cfg:8: Common\.PersistStores\[2\]\.Name: .*already used by PersistStores\[1\]/,
    );
  });
});

describe("bad input", () => {
  test("wrong types name file, line and key, and say what is accepted", () => {
    const src = [
      "[Common.Proving]",
      'ParallelCheckLimit = "many"',
      'SingleCheckTimeout = "ten minutes"',
      "[[Miners]]",
      "Actor = 1000",
      "[Miners.PoSt]",
      'SubmitConfidence = "4"',
      'Enabled = "yes"',
      'Senders = "f01234"',
      'GasFeeCap = "lots"',
    ].join("\n");
    const e = configError(src);
    const expected: [number, string, RegExp][] = [
      [2, "Common.Proving.ParallelCheckLimit", /expected a non-negative integer, got the string "many"/],
      [3, "Common.Proving.SingleCheckTimeout", /is not a duration; write e\.g\. "10m0s"/],
      [7, "Miners[0].PoSt.SubmitConfidence", /write 4 without quotes/],
      [8, "Miners[0].PoSt.Enabled", /expected true or false/],
      [9, "Miners[0].PoSt.Senders", /write \["f01234"\]/],
      [10, "Miners[0].PoSt.GasFeeCap", /is not a FIL amount/],
    ];
    assert.equal(e.problems.length, expected.length, e.problems.join("\n"));
    expected.forEach(([line, key, re], i) => {
      const p = e.problems[i] ?? "";
      assert.ok(p.startsWith(`sector-manager.cfg:${line}: ${key}: `), `problem ${i}: ${p}`);
      assert.match(p, re, `problem ${i}`);
    });
  });

  test("a miner without Actor, a duplicate miner, a negative count", () => {
    const e = configError(
      "[[Miners]]\n[Miners.PoSt]\nEnabled = true\n[[Miners]]\nActor = 5\n[[Miners]]\nActor = 5\n[Miners.PoSt]\nConfidence = -3\n",
    );
    assert.match(e.problems.join("\n"), /sector-manager\.cfg:1: Miners\[0\]\.Actor: is required/);
    assert.match(
      e.problems.join("\n"),
      /sector-manager\.cfg:7: Miners\[2\]\.Actor: miner 5 is already configured in Miners\[1\]/,
    );
    assert.match(
      e.problems.join("\n"),
      /sector-manager\.cfg:9: Miners\[2\]\.PoSt\.Confidence: must not be negative/,
    );
  });

  test("keys differing only in case are a duplicate", () => {
    const e = configError("[Common.RPC]\nAnonymousRead = true\nanonymousread = false\n");
    assert.match(e.problems[0] ?? "", /:3: Common\.RPC\.anonymousread: duplicate of AnonymousRead/);
    const t = configError("[[miners]]\nActor = 1\n[[Miners]]\nActor = 2\n");
    assert.match(t.problems[0] ?? "", /Miners: duplicate of miners/);
  });

  test("TOML syntax errors carry line and column", () => {
    const e = configError('[Common]\nfoo = "unterminated\n');
    assert.match(e.message, /^sector-manager\.cfg:2:\d+: TOML syntax error/);
  });

  test("unknown keys are warnings with their line, not errors; sealing sections are tolerated silently", () => {
    const r = parse(
      '[Common]\nFancy = 1\n[Common.API]\nChian = "x"\n[[Miners]]\nActor = 1\n[Miners.Sector]\nInitNumber = 0\n[Miners.Sealing]\nX = 1\n',
    );
    assert.equal(r.warnings.length, 2, r.warnings.join("\n"));
    assert.match(r.warnings[0] ?? "", /^sector-manager\.cfg:2: Common\.Fancy: unknown key, ignored/);
    assert.match(
      r.warnings[1] ?? "",
      /^sector-manager\.cfg:4: Common\.API\.Chian: unknown key, ignored \(known keys here: .*Chain/,
    );
  });

  test("keys known from damocles but unsupported are warned about with the reason", () => {
    const r = parse('[Common]\nScanPersistStores = ["/mnt/*"]\n');
    assert.match(
      r.warnings[0] ?? "",
      /:2: Common\.ScanPersistStores: is ignored: sectorstore\.json scanning is not supported/,
    );
  });

  test("a driver we do not have is refused; badger means the embedded store", () => {
    assert.equal(parse('[Common.DB]\nDriver = "badger"\n').config.Common.DB.Driver, "lmdb");
    assert.match(
      configError('[Common.DB]\nDriver = "mongo"\n').message,
      /:2: Common\.DB\.Driver: must be one of "lmdb", "badger"/,
    );
  });
});

describe("ext-prover.cfg", () => {
  test("the default file has one [[WdPost]] block with the seed's defaults", () => {
    const src = renderExtProverDefault();
    assert.match(src, /^# Default config:\n/);
    assert.match(
      src,
      /\n\[\[WdPost\]\]\n#Bin = "venus-sector-manager"\n#Args = \["wdpost"\]\n#Concurrent = 1\n#Weight = 1\n/,
    );
    const c = parseExtProverConfig("ext-prover.cfg", src);
    assert.equal(c.config.WdPost.length, 1);
    const b = c.config.WdPost[0];
    assert.ok(b);
    assert.equal(b.Bin, undefined);
    assert.equal(b.Concurrent, 1);
    assert.equal(b.Weight, 1);
    assert.equal(b.ReadyTimeoutSecs, 5);
    assert.deepEqual(b.Envs, {});
    assert.deepEqual(c.config.WinPost, []);
  });

  test("the seed's 8-GPU file: eight blocks, each with its own env, keys case kept", () => {
    const blocks = Array.from(
      { length: 8 },
      (_, i) => `[[WdPost]]\n[WdPost.Envs]\nCUDA_VISIBLE_DEVICES = "${i}"\nTMPDIR = "/tmp/ext-prover${i}/"\n`,
    );
    const c = parseExtProverConfig("ext-prover.cfg", blocks.join("\n")).config;
    assert.equal(c.WdPost.length, 8);
    c.WdPost.forEach((b, i) => {
      assert.deepEqual(
        b.Envs,
        { CUDA_VISIBLE_DEVICES: String(i), TMPDIR: `/tmp/ext-prover${i}/` },
        `block ${i}`,
      );
      assert.equal(b.line, 1 + i * 5, `block ${i} header line`);
    });
  });

  test("zero means default; Bin and Args are kept; an unquoted env value is taken with a warning", () => {
    const r = parseExtProverConfig(
      "ext-prover.cfg",
      '[[WdPost]]\nBin = "/opt/damocles-worker"\nArgs = ["processor", "window_post"]\nConcurrent = 0\nWeight = 0\nReadyTimeoutSecs = 0\n[WdPost.Envs]\nCUDA_VISIBLE_DEVICES = 3\n',
    );
    const b = r.config.WdPost[0];
    assert.ok(b);
    assert.equal(b.Bin, "/opt/damocles-worker");
    assert.deepEqual(b.Args, ["processor", "window_post"]);
    assert.equal(b.Concurrent, 1);
    assert.equal(b.Weight, 1);
    assert.equal(b.ReadyTimeoutSecs, 5);
    assert.deepEqual(b.Envs, { CUDA_VISIBLE_DEVICES: "3" });
    assert.match(
      r.warnings[0] ?? "",
      /ext-prover\.cfg:8: WdPost\[0\]\.Envs\.CUDA_VISIBLE_DEVICES: value 3 is not a string/,
    );
  });

  test("bad values are fatal with their line", () => {
    assert.throws(
      () =>
        parseExtProverConfig("ext-prover.cfg", '[[WdPost]]\nConcurrent = -2\n[[WdPost]]\nArgs = "wdpost"\n'),
      (e: unknown) =>
        e instanceof ConfigError &&
        /ext-prover\.cfg:2: WdPost\[0\]\.Concurrent: must not be negative/.test(e.problems.join("\n")) &&
        /ext-prover\.cfg:4: WdPost\[1\]\.Args: expected an array of strings/.test(e.problems.join("\n")),
    );
  });
});

describe("loadConfigDir (home or --conf-dir)", () => {
  test("reads both files and lists other *.cfg files", async () => {
    const t = await tempDir();
    try {
      await fs.writeFile(path.join(t.dir, "sector-manager.cfg"), "[[Miners]]\nActor = 1000\n");
      await fs.writeFile(path.join(t.dir, "ext-prover.cfg"), renderExtProverDefault());
      await fs.writeFile(path.join(t.dir, "market.cfg"), "");
      const r = await loadConfigDir(t.dir);
      assert.equal(r.sectorManager.config.Miners[0]?.Actor, 1000);
      assert.equal(r.extProver?.config.WdPost.length, 1);
      assert.deepEqual(r.unknownFiles, ["market.cfg"]);
    } finally {
      await t.cleanup();
    }
  });

  test("a missing directory or file says how to fix it", async () => {
    const t = await tempDir();
    try {
      await assert.rejects(
        loadConfigDir(path.join(t.dir, "nope")),
        /does not exist; run `vsm --home .* daemon init` or fix --conf-dir/,
      );
      await assert.rejects(
        loadConfigDir(t.dir),
        /sector-manager\.cfg does not exist; run `vsm --home .* daemon init`/,
      );
      const r = await loadConfigDir(
        await fs.mkdtemp(path.join(t.dir, "x")).then(async (d) => {
          await fs.writeFile(path.join(d, "sector-manager.cfg"), "# all defaults\n");
          return d;
        }),
      );
      assert.equal(r.extProver, undefined);
    } finally {
      await t.cleanup();
    }
  });
});

describe("units", () => {
  test("Go durations", () => {
    const cases: [string, number | undefined][] = [
      ["10m0s", 600_000],
      ["1h30m", 5_400_000],
      ["250ms", 250],
      ["1.5s", 1500],
      ["0", 0],
      ["10", undefined],
      ["m", undefined],
      ["5 minutes", undefined],
    ];
    for (const [s, want] of cases) assert.equal(parseGoDuration(s), want, s);
    assert.equal(formatGoDuration(600_000), "10m0s");
    assert.equal(formatGoDuration(3_600_000), "1h0m0s");
    assert.equal(formatGoDuration(90_000), "1m30s");
  });

  test("FIL amounts", () => {
    const cases: [string, bigint | undefined][] = [
      ["5 nanoFIL", 5_000_000_000n],
      ["5 nfil", 5_000_000_000n],
      ["1", 10n ** 18n],
      ["0.5 FIL", 5n * 10n ** 17n],
      ["100 attofil", 100n],
      ["1.5 aFIL", undefined],
      ["5 bananas", undefined],
      ["", undefined],
    ];
    for (const [s, want] of cases) assert.equal(parseFil(s), want, s);
  });
});
