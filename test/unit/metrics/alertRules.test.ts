/**
 * docs/alerts.rules.yml is valid for Prometheus and its unit tests (docs/alerts.test.yml) pass, with
 * Debian's promtool (package `prometheus`, installed by .ci/run when missing). Never skipped: without
 * promtool the test fails and says how to get it. Also: every metric a rule names is registered.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createMetrics } from "../../../src/metrics/metrics.js";

const run = promisify(execFile);
const docs = fileURLToPath(new URL("../../../docs/", import.meta.url));

async function promtool(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run("promtool", args, { cwd: docs, timeout: 30_000 });
    return stdout + stderr;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (err.code === "ENOENT")
      assert.fail(
        "promtool not found: install Debian's `prometheus` package (apt-get install -y prometheus)",
      );
    assert.fail(`promtool ${args.join(" ")} failed:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  }
}

describe("docs/alerts.rules.yml", { timeout: 60_000 }, () => {
  test("promtool check rules accepts it", async () => {
    const out = await promtool("check", "rules", "alerts.rules.yml");
    assert.match(out, /SUCCESS: \d+ rules found/);
  });

  test("promtool test rules passes docs/alerts.test.yml", async () => {
    const out = await promtool("test", "rules", "alerts.test.yml");
    assert.match(out, /SUCCESS/);
  });

  test("every vsm_ metric a rule names is registered by createMetrics()", async () => {
    const text = await readFile(`${docs}alerts.rules.yml`, "utf8");
    const exprs = [...text.matchAll(/expr: (\|\n((?: {10}.*\n)+)|.*)/g)].map((m) => m[2] ?? m[1] ?? "");
    assert.ok(exprs.length >= 10, "the expressions were read");
    const names = new Set((await createMetrics().registry.getMetricsAsJSON()).map((x) => x.name));
    for (const e of exprs)
      for (const [name] of e.matchAll(/\bvsm_\w+/g))
        assert.ok(names.has(name.replace(/_(bucket|sum|count)$/, "")), `${name} in ${e.trim()}`);
  });
});
