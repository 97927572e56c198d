/**
 * [Common.DB] Driver = "postgres" and [Common.DB.Postgres]: defaults, the DSN checked at load with
 * file:line:key messages (never repeating a password), and the lease/heartbeat rules.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parsePostgresDsn, redactDsn } from "../../../src/config/dsn.js";
import {
  ConfigError,
  defaultSectorManagerConfig,
  parseSectorManagerConfig,
} from "../../../src/config/load.js";
import { renderSectorManagerDefault } from "../../../src/config/render.js";

const parse = (src: string) => parseSectorManagerConfig("sector-manager.cfg", src, "/base");

function problems(src: string): string[] {
  try {
    parse(src);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    return e.problems;
  }
  assert.fail("expected the config to be rejected");
}

describe("[Common.DB.Postgres]", () => {
  test("defaults: embedded driver, no DSN, 8 s lease renewed every 2 s, heartbeat 2 s, dead after 6 s", () => {
    const c = defaultSectorManagerConfig();
    assert.equal(c.Common.DB.Driver, "lmdb");
    assert.equal(c.Common.DB.Postgres.DSN, undefined);
    assert.equal(c.Common.DB.Postgres.LeaseTimeoutMs, 8000);
    assert.equal(c.Common.DB.Postgres.LeaseRenewIntervalMs, 2000);
    assert.equal(c.Common.DB.Postgres.HeartbeatIntervalMs, 2000);
    assert.equal(c.Common.DB.Postgres.NodeDeadAfterMs, 6000);
    assert.ok(c.Common.DB.Postgres.LeaseTimeoutMs <= 10_000, "the default lease is 10 s or less");
  });

  test("daemon init documents the keys, commented out, and the file still loads to the defaults", () => {
    const text = renderSectorManagerDefault();
    assert.match(text, /\[Common\.DB\.Postgres\]/);
    assert.match(text, /#LeaseTimeout = "8s"/);
    assert.match(text, /#DSN = "postgres:\/\/vsm@db1:5432,db2:5432\/vsm\?target_session_attrs=read-write"/);
    assert.match(text, /Range: "2s" to "1m0s"/);
    const c = parse(text).config;
    assert.equal(c.Common.DB.Driver, "lmdb");
    assert.equal(c.Common.DB.Postgres.DSN, undefined);
  });

  test("a multi-host DSN with Driver = postgres loads", () => {
    const { config, warnings } = parse(
      `[Common.DB]\nDriver = "postgres"\n[Common.DB.Postgres]\nDSN = " postgres://u:secret@h1:5432,h2:5433/db?target_session_attrs=read-write "\nLeaseTimeout = "10s"\n`,
    );
    assert.equal(config.Common.DB.Driver, "postgres");
    assert.equal(
      config.Common.DB.Postgres.DSN,
      "postgres://u:secret@h1:5432,h2:5433/db?target_session_attrs=read-write",
    );
    assert.equal(config.Common.DB.Postgres.LeaseTimeoutMs, 10_000);
    assert.deepEqual(warnings, []);
  });

  test('Driver = "postgres" without a DSN names both keys and the line of Driver', () => {
    const p = problems(`[Common.DB]\nDriver = "postgres"\n`);
    assert.equal(p.length, 1);
    assert.match(
      p[0] ?? "",
      /^sector-manager\.cfg:2: Common\.DB\.Driver: is "postgres" but \[Common\.DB\.Postgres\] DSN is not set/,
    );
  });

  test("bad DSNs are refused at their line, with what is wrong, never echoing the password", () => {
    const cases: [string, RegExp][] = [
      ["mysql://u:pw@h/db", /scheme "mysql:\/\/"; only postgres:\/\/ and postgresql:\/\//],
      ["h1:5432/db", /is not a URL/],
      ["postgres://u:pw@/db", /names no host/],
      ["postgres://u:pw@h1:5432,/db", /a host is empty/],
      ["postgres://u:pw@h1:99999/db", /port "99999"; a port is a number from 1 to 65535/],
      ["postgres://u:pw@h1:abc/db", /port "abc"/],
      ["postgres://u:pw@::1:5432/db", /IPv6 address: write it in brackets/],
      ["postgres://u:pw@h1/db?target_session_attrs=primaryy", /target_session_attrs=primaryy; accepted:/],
      ["postgres://u:pw@h1/db#x", /#fragment/],
    ];
    for (const [dsn, re] of cases) {
      const p = problems(
        `[Common.DB]\nDriver = "postgres"\n\n[Common.DB.Postgres]\nDSN = ${JSON.stringify(dsn)}\n`,
      );
      assert.equal(p.length, 1, dsn);
      assert.match(p[0] ?? "", /^sector-manager\.cfg:5: Common\.DB\.Postgres\.DSN: /, dsn);
      assert.match(p[0] ?? "", re, dsn);
      assert.doesNotMatch(p[0] ?? "", /pw/, `${dsn}: the password must not be repeated`);
    }
  });

  test("a DSN with the embedded driver is a warning, not an error", () => {
    const { config, warnings } = parse(`[Common.DB.Postgres]\nDSN = "postgres://u@h/db"\n`);
    assert.equal(config.Common.DB.Driver, "lmdb");
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0] ?? "",
      /:2: Common\.DB\.Postgres\.DSN: is not used: \[Common\.DB\] Driver is "lmdb"/,
    );
  });

  test("lease and heartbeat ranges and their relations", () => {
    assert.match(
      problems(`[Common.DB.Postgres]\nLeaseTimeout = "1s"\n`)[0] ?? "",
      /:2: .*LeaseTimeout: must be at least "2s"/,
    );
    assert.match(problems(`[Common.DB.Postgres]\nLeaseTimeout = "2m"\n`)[0] ?? "", /must be at most "1m0s"/);
    assert.match(
      problems(`[Common.DB.Postgres]\nLeaseTimeout = "4s"\nLeaseRenewInterval = "3s"\n`)[0] ?? "",
      /:3: Common\.DB\.Postgres\.LeaseRenewInterval: must be at most half of LeaseTimeout \(4000 ms\)/,
    );
    assert.match(
      problems(`[Common.DB.Postgres]\nHeartbeatInterval = "5s"\n`)[0] ?? "",
      /NodeDeadAfter: must be at least twice HeartbeatInterval \(5000 ms\)/,
    );
    const ok = parse(`[Common.DB.Postgres]\nLeaseTimeout = "4s"\nLeaseRenewInterval = "2s"\n`).config;
    assert.equal(ok.Common.DB.Postgres.LeaseRenewIntervalMs, 2000);
  });

  test("parsePostgresDsn: hosts with default ports, IPv6 in brackets; redactDsn hides the password", () => {
    const p = parsePostgresDsn("postgresql://me@[::1]:6000,db2/vsm?sslmode=disable");
    assert.ok(typeof p !== "string", String(p));
    assert.deepEqual(p.hosts, [
      { host: "::1", port: 6000 },
      { host: "db2", port: 5432 },
    ]);
    assert.equal(p.database, "vsm");
    assert.equal(p.user, "me");
    assert.equal(redactDsn("postgres://u:s3cret@h:1/db"), "postgres://u:***@h:1/db");
    assert.equal(redactDsn("postgres://u@h:1/db"), "postgres://u@h:1/db");
  });

  test("a password with raw reserved characters is refused without quoting any of it; redactDsn never shows a piece", () => {
    const secrets = ["pa/ss", "p@ss", "pa?ss", "pa#ss", "p[x]", "sec/ret"];
    for (const dsn of [
      "postgres://u:pa/ss@h/db",
      "postgres://u:p@ss@h/db",
      "postgres://u:pa?ss@h/db",
      "postgres://u:pa#ss@h/db",
      "postgres://u:p[x]@h/db",
      "postgres://u:1/sec/ret@h/db",
      "postgres://u:1?sec/ret@h/db",
      "postgres://u:p@ss/x@h",
    ]) {
      const p = parsePostgresDsn(dsn);
      assert.equal(typeof p, "string", dsn);
      assert.match(String(p), /percent-encode/, dsn);
      for (const piece of ["pa", "ss", "ret", "sec", "p[", "x"])
        assert.ok(!String(p).includes(`"${piece}`), `${dsn}: ${p}`);
      const shown = redactDsn(dsn);
      for (const secret of secrets)
        for (const piece of secret.split(/[/@?#[\]]/)) {
          if (piece.length > 1) assert.ok(!shown.includes(piece), `${dsn} shown as ${shown}`);
        }
    }
    const ok = parsePostgresDsn("postgres://u:p%40s%2Fs@h:1/db");
    assert.ok(typeof ok !== "string", String(ok));
    assert.deepEqual(ok.hosts, [{ host: "h", port: 1 }]);
    assert.equal(redactDsn("postgres://u:p%40s%2Fs@h:1/db"), "postgres://u:***@h:1/db");
    assert.equal(
      redactDsn("postgres://u@h/db?password=s3cret&sslmode=disable"),
      "postgres://u@h/db?password=***&sslmode=disable",
    );
    assert.ok(
      typeof parsePostgresDsn("postgres://h/db?application_name=a@b") !== "string",
      "an @ in a parameter value is fine",
    );
  });
});
