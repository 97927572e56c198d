/**
 * Logging: the zap console line the seed quotes
 * (`2022-04-27T19:15:00.441+0800	INFO	ext-prover	prover/extProver.ts:122	ready	{"pid": 24764, "ppid": 24732}`),
 * the JSON format, level filtering, named/with loggers and the option parsers.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  createLogger,
  formatFields,
  formatTimestamp,
  type LogFormat,
  type Logger,
  type LogLevel,
  memoryLogger,
  parseGoLogLevel,
  parseLogFormat,
  parseLogLevel,
} from "../../../src/log/logger.js";
import { createDispatcher } from "../../../src/rpc/dispatch.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const TS_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$/;

function capture(level: LogLevel, format: LogFormat = "console", caller = true) {
  const lines: string[] = [];
  const logger = createLogger({ level, format, caller, sink: (l) => lines.push(l) }, "test-sub");
  return { logger, lines };
}

/** Line number of the caller of this function (source-mapped, as the logger sees it). */
function callerLine(): number {
  const frame = (new Error().stack ?? "").split("\n")[2] ?? "";
  const m = /:(\d+):\d+\)?\s*$/.exec(frame);
  assert.ok(m, `no line number in ${frame}`);
  return Number(m[1]);
}

/** `+0800` → `+08:00`, so the string parses back with Date. */
const isoWithColon = (ts: string) => ts.replace(/([+-]\d\d)(\d\d)$/, "$1:$2");

function splitConsole(line: string): string[] {
  assert.ok(line.endsWith("\n"), "a line ends with a newline");
  assert.ok(!line.slice(0, -1).includes("\n"), "one line per call");
  return line.slice(0, -1).split("\t");
}

describe("console format", () => {
  test("a line has the seed's shape: time, LEVEL, subsystem, caller file:line, message, fields", () => {
    const { logger, lines } = capture("info");
    const named = logger.named("ext-prover");
    const here = callerLine();
    named.info("ready", { pid: 24764, ppid: 24732 });
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.match(
      line,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}\tINFO\text-prover\t[^\t]+:\d+\tready\t\{.*\}\n$/,
    );
    const [ts, level, subsystem, caller, msg, fields, ...rest] = splitConsole(line);
    assert.match(ts ?? "", TS_RE);
    assert.equal(level, "INFO");
    assert.equal(subsystem, "ext-prover");
    assert.match(caller ?? "", /(^|\/)logger\.test\.ts:\d+$/, "the caller names this test file");
    assert.ok(caller?.endsWith(`logger.test.ts:${here + 1}`), `caller ${caller} is the line of the call`);
    const source = readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n");
    assert.match(
      source[here] ?? "",
      /named\.info\("ready"/,
      "the caller line is the source line of the call",
    );
    assert.ok(!caller?.startsWith("/"), "the caller is a short path, not absolute");
    assert.equal(msg, "ready");
    assert.equal(fields, '{"pid": 24764, "ppid": 24732}');
    assert.deepEqual(rest, []);
    // The timestamp is the time of the call.
    const when = new Date(isoWithColon(ts ?? "")).getTime();
    assert.ok(Math.abs(Date.now() - when) < 60_000, `timestamp ${ts} is now`);
  });

  test("each level is written with its upper-case name", () => {
    const { logger, lines } = capture("debug");
    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    logger.error("e");
    const got = lines.map((l) => {
      const parts = splitConsole(l);
      return [parts[1], parts[4]];
    });
    assert.deepEqual(got, [
      ["DEBUG", "d"],
      ["INFO", "i"],
      ["WARN", "w"],
      ["ERROR", "e"],
    ]);
  });

  test("a line without fields has no trailing fields column", () => {
    const { logger, lines } = capture("info", "console", false);
    logger.info("plain");
    logger.info("empty fields", {});
    for (const l of lines) {
      const parts = splitConsole(l);
      assert.equal(parts.length, 5, `columns of ${JSON.stringify(l)}`);
      assert.equal(parts[3], "-", `caller column when capture is off: ${JSON.stringify(l)}`);
    }
    assert.equal(splitConsole(lines[0]!)[4], "plain");
  });

  test("a caller inside src/ is shown relative to src/ (rpc/dispatch.ts:NN)", async () => {
    const { logger, lines } = capture("error");
    const d = createDispatcher(
      {
        "T.Fail": {
          perm: "read",
          doc: "fails",
          handler: async () => {
            throw new Error("broken");
          },
        },
      },
      { logger },
    );
    await d.handleText(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "T.Fail", params: [] }), {
      perms: new Set(["read"]),
      signal: new AbortController().signal,
      remote: "test",
    });
    assert.equal(lines.length, 1);
    const parts = splitConsole(lines[0]!);
    assert.equal(parts[1], "ERROR");
    assert.match(parts[3] ?? "", /^rpc\/dispatch\.ts:\d+$/);
    assert.equal(parts[4], "rpc method failed");
    assert.equal(parts[5], '{"method": "T.Fail", "err": "broken"}');
  });
});

describe("formatFields", () => {
  test("zap's console field layout", () => {
    assert.equal(
      formatFields({ pid: 24764, ppid: 24732, loop: "resp" }),
      '{"pid": 24764, "ppid": 24732, "loop": "resp"}',
    );
    assert.equal(formatFields({}), "{}");
  });

  test("values of every kind serialise", () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const cases: [Record<string, unknown>, string][] = [
      [{ big: 18446744073709551615n }, '{"big": 18446744073709551615}'],
      [{ err: new Error("disk full") }, '{"err": "disk full"}'],
      [{ missing: undefined, nothing: null }, '{"missing": null, "nothing": null}'],
      [{ ok: true, list: [1, "a"] }, '{"ok": true, "list": [1,"a"]}'],
      [{ nested: { n: 2n } }, '{"nested": {"n":"2"}}'],
      [{ 'we"ird': "tab\there" }, '{"we\\"ird": "tab\\there"}'],
      [{ circular }, '{"circular": "[object Object]"}'],
    ];
    for (const [fields, want] of cases) assert.equal(formatFields(fields), want, `fields ${want}`);
  });
});

describe("formatTimestamp", () => {
  test("local time with milliseconds and a colon-less offset that round-trips to the same instant", () => {
    const dates = [
      new Date(Date.UTC(2022, 3, 27, 11, 15, 0, 441)),
      new Date(Date.UTC(2022, 0, 1, 0, 0, 0, 5)),
      new Date(Date.UTC(2021, 11, 31, 23, 59, 59, 999)),
      new Date(Date.UTC(2024, 6, 15, 12, 30, 30, 0)),
      new Date(0),
    ];
    for (const d of dates) {
      const ts = formatTimestamp(d);
      assert.match(ts, TS_RE, `shape of ${ts}`);
      assert.equal(new Date(isoWithColon(ts)).getTime(), d.getTime(), `${ts} is ${d.toISOString()}`);
      // Milliseconds are zero-padded and independent of the time zone.
      assert.equal(ts.slice(20, 23), String(d.getUTCMilliseconds()).padStart(3, "0"), `millis of ${ts}`);
    }
  });

  test("known offsets in fixed time zones (child processes with TZ set)", async () => {
    const moduleUrl = pathToFileURL(path.join(ROOT, "src/log/logger.ts")).href;
    const code = `import { formatTimestamp } from ${JSON.stringify(moduleUrl)};
process.stdout.write(formatTimestamp(new Date(Date.UTC(2022, 3, 27, 11, 15, 0, 441))));`;
    const run = (tz: string) =>
      new Promise<string>((resolve, reject) => {
        execFile(
          process.execPath,
          ["--import", "tsx", "--input-type=module", "-e", code],
          { cwd: ROOT, env: { ...process.env, TZ: tz }, timeout: 10_000 },
          (err, stdout, stderr) =>
            err ? reject(new Error(`${tz}: ${err.message}\n${stderr}`)) : resolve(stdout),
        );
      });
    const cases: [string, string][] = [
      // The seed's own example line.
      ["Asia/Shanghai", "2022-04-27T19:15:00.441+0800"],
      ["Asia/Kolkata", "2022-04-27T16:45:00.441+0530"],
      ["America/St_Johns", "2022-04-27T08:45:00.441-0230"],
      ["UTC", "2022-04-27T11:15:00.441+0000"],
    ];
    const got = await Promise.all(cases.map(([tz]) => run(tz)));
    cases.forEach(([tz, want], i) => {
      assert.equal(got[i], want, `TZ=${tz}`);
    });
  });
});

describe("levels", () => {
  test("messages below the level are dropped", () => {
    const table: [LogLevel, string[]][] = [
      ["debug", ["d", "i", "w", "e"]],
      ["info", ["i", "w", "e"]],
      ["warn", ["w", "e"]],
      ["error", ["e"]],
    ];
    for (const [level, want] of table) {
      const { logger, lines } = capture(level, "console", false);
      logger.debug("d");
      logger.info("i");
      logger.warn("w");
      logger.error("e");
      assert.deepEqual(
        lines.map((l) => splitConsole(l)[4]),
        want,
        `written at level ${level}`,
      );
    }
  });

  test("isEnabled follows the level, and children inherit it", () => {
    const { logger } = capture("info");
    assert.equal(logger.isEnabled("debug"), false);
    assert.equal(logger.isEnabled("info"), true);
    assert.equal(logger.isEnabled("warn"), true);
    assert.equal(logger.isEnabled("error"), true);
    assert.equal(logger.named("x").isEnabled("debug"), false);
    assert.equal(logger.with({ a: 1 }).isEnabled("info"), true);
  });

  test("a dropped message never reaches the sink", () => {
    let calls = 0;
    const logger = createLogger({ level: "warn", format: "json", sink: () => calls++ });
    logger.debug("no");
    logger.info("no", { a: 1 });
    assert.equal(calls, 0);
    logger.warn("yes");
    assert.equal(calls, 1);
  });
});

describe("named() and with()", () => {
  test("named() changes the subsystem and adds fixed fields; with() keeps the subsystem", () => {
    const { logger, lines } = capture("debug", "console", false);
    const poster = logger.named("poster", { miner: 1000 });
    const deadline = poster.with({ deadline: 3 });
    const other = poster.named("ext-prover");
    logger.info("root");
    poster.info("p");
    deadline.info("d", { partition: 0 });
    other.info("o", { pid: 1 });
    const got = lines.map((l) => {
      const p = splitConsole(l);
      return [p[2], p[4], p[5]];
    });
    assert.deepEqual(got, [
      ["test-sub", "root", undefined],
      ["poster", "p", '{"miner": 1000}'],
      ["poster", "d", '{"miner": 1000, "deadline": 3, "partition": 0}'],
      ["ext-prover", "o", '{"miner": 1000, "pid": 1}'],
    ]);
  });

  test("call fields override fixed fields, and a child does not change its parent", () => {
    const { logger, lines } = capture("info", "console", false);
    const parent: Logger = logger.with({ a: 1, b: 2 });
    const child = parent.with({ b: 3 });
    child.info("child", { a: 9 });
    parent.info("parent");
    assert.equal(splitConsole(lines[0]!)[5], '{"a": 9, "b": 3}');
    assert.equal(splitConsole(lines[1]!)[5], '{"a": 1, "b": 2}');
  });
});

describe("JSON format", () => {
  test("one object per line with level, ts, logger, caller, msg and the fields", () => {
    const { logger, lines } = capture("debug", "json");
    const here = callerLine();
    logger.named("poster", { miner: 1000 }).warn("late", {
      deadline: 7,
      power: 18446744073709551615n,
      err: new Error("chain head is stale"),
      nested: { sectors: [1, 2] },
    });
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.ok(line.endsWith("}\n"));
    assert.ok(!line.slice(0, -1).includes("\n"));
    const obj = JSON.parse(line);
    assert.deepEqual(Object.keys(obj).slice(0, 5), ["level", "ts", "logger", "caller", "msg"]);
    assert.equal(obj.level, "warn");
    assert.match(obj.ts, TS_RE);
    assert.equal(obj.logger, "poster");
    assert.ok(String(obj.caller).endsWith(`logger.test.ts:${here + 1}`), `caller ${obj.caller}`);
    assert.equal(obj.msg, "late");
    assert.equal(obj.miner, 1000);
    assert.equal(obj.deadline, 7);
    assert.equal(obj.power, "18446744073709551615", "a bigint keeps every digit");
    assert.equal(obj.err, "chain head is stale", "an Error is its message");
    assert.deepEqual(obj.nested, { sectors: [1, 2] });
  });

  test("a field named like a built-in key does not overwrite it", () => {
    const { logger, lines } = memoryLogger("info");
    logger.named("poster").info("deadline proven", { msg: "field", level: "x", ts: 1 });
    const o = JSON.parse(lines[0] ?? "{}") as Record<string, unknown>;
    assert.equal(o.msg, "deadline proven");
    assert.equal(o.level, "info");
    assert.equal(o.logger, "poster");
    assert.equal(o._msg, "field");
    assert.equal(o._level, "x");
    assert.equal(o._ts, 1);
  });

  test("memoryLogger captures JSON lines without a caller", () => {
    const { logger, lines } = memoryLogger("info");
    logger.debug("dropped");
    logger.info("kept", { n: 1 });
    assert.equal(lines.length, 1);
    const obj = JSON.parse(lines[0]!);
    assert.equal(obj.msg, "kept");
    assert.equal(obj.caller, "-");
    assert.equal(obj.n, 1);
  });
});

describe("option parsing", () => {
  test("parseLogLevel accepts the levels (any case, trimmed, warning = warn) and rejects others", () => {
    const ok: [string, LogLevel][] = [
      ["debug", "debug"],
      ["INFO", "info"],
      [" warn ", "warn"],
      ["Warning", "warn"],
      ["error", "error"],
    ];
    for (const [v, want] of ok) assert.equal(parseLogLevel(v), want, `parseLogLevel(${JSON.stringify(v)})`);
    for (const v of ["", "trace", "fatal", "inf", "debug info"])
      assert.equal(parseLogLevel(v), undefined, `parseLogLevel(${JSON.stringify(v)})`);
  });

  test("parseLogFormat accepts json and the console aliases and rejects others", () => {
    const ok: [string, LogFormat][] = [
      ["json", "json"],
      [" JSON ", "json"],
      ["console", "console"],
      ["nocolor", "console"],
      ["color", "console"],
    ];
    for (const [v, want] of ok) assert.equal(parseLogFormat(v), want, `parseLogFormat(${JSON.stringify(v)})`);
    for (const v of ["", "text", "logfmt", "jsonl"])
      assert.equal(parseLogFormat(v), undefined, `parseLogFormat(${JSON.stringify(v)})`);
  });
});

test("GOLOG_LOG_LEVEL is read as go-log reads it: the default entry, the fatal family as error", () => {
  assert.equal(parseGoLogLevel("info,chain=debug"), "info");
  assert.equal(parseGoLogLevel("chain=debug, WARN"), "warn");
  assert.equal(parseGoLogLevel("dpanic"), "error");
  assert.equal(parseGoLogLevel("fatal"), "error");
  assert.equal(parseGoLogLevel("chain=debug"), undefined);
  assert.equal(parseGoLogLevel("loud"), undefined);
  assert.equal(parseGoLogLevel(""), undefined);
});
