/**
 * Where `vsm demo --cluster` finds the PostgreSQL server binaries (src/daemon/demoPg.ts): VSM_PG_BIN_DIR
 * first and only, then the highest major under the Debian root, then PATH; nowhere: the install hint.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { findPgBinDir } from "../../../src/daemon/demoPg.js";
import { SmError } from "../../../src/util/errors.js";
import { tempDir } from "../../helpers/tmp.js";

describe("findPgBinDir", () => {
  let dir = "";
  let cleanup = async () => {};
  const bins = (d: string, names = ["initdb", "pg_ctl"], mode = 0o755) => {
    fs.mkdirSync(d, { recursive: true });
    for (const n of names) fs.writeFileSync(path.join(d, n), "#!/bin/sh\n", { mode });
    return d;
  };
  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-pgbin-"));
  });
  after(() => cleanup());

  const missing = (f: () => unknown, re: RegExp) =>
    assert.throws(
      f,
      (e: unknown) => e instanceof SmError && e.code === "DEMO_PG_MISSING" && re.test(e.message),
    );

  test("the highest major under the root with both binaries wins, before PATH", () => {
    const root = path.join(dir, "root1");
    bins(path.join(root, "13", "bin"));
    bins(path.join(root, "15", "bin"));
    bins(path.join(root, "16", "bin"), ["initdb"]); // pg_ctl missing: not a server install
    fs.mkdirSync(path.join(root, "notes"));
    const onPath = bins(path.join(dir, "path1"));
    assert.equal(findPgBinDir({ PATH: onPath }, root), path.join(root, "15", "bin"));
  });

  test("PATH when the root has none; a directory with only one of them is skipped", () => {
    const half = bins(path.join(dir, "half"), ["pg_ctl"]);
    const full = bins(path.join(dir, "full"));
    assert.equal(findPgBinDir({ PATH: [half, full].join(path.delimiter) }, path.join(dir, "nothing")), full);
  });

  test("VSM_PG_BIN_DIR is used alone: set but without the binaries, no fallback to the machine's", () => {
    const forced = bins(path.join(dir, "forced"));
    const root = path.join(dir, "root2");
    bins(path.join(root, "15", "bin"));
    assert.equal(findPgBinDir({ VSM_PG_BIN_DIR: forced }, root), forced);
    const empty = path.join(dir, "empty");
    fs.mkdirSync(empty);
    missing(
      () => findPgBinDir({ VSM_PG_BIN_DIR: empty, PATH: forced }, root),
      /VSM_PG_BIN_DIR=.*apt-get install postgresql/,
    );
  });

  test("not executable does not count; nothing anywhere: the install hint", () => {
    const noexec = bins(path.join(dir, "noexec"), ["initdb", "pg_ctl"], 0o644);
    // root may execute a file without x bits only if some x bit is set: 0644 is refused for everyone.
    missing(
      () => findPgBinDir({ PATH: noexec }, path.join(dir, "nothing")),
      /no PostgreSQL server binaries \(initdb, pg_ctl\) under .*\/\*\/bin or on PATH.*apt-get install postgresql/,
    );
  });
});
