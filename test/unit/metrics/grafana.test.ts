/**
 * docs/grafana-dashboard.json is an importable board over series that exist: every query (panel
 * targets and template variables) names only metrics createMetrics() registers (histograms through
 * their _bucket, _sum and _count series; prom-client's defaults carry the vsm_ prefix), and every
 * query parses as PromQL (promtool checks them as recording rules once Grafana's variables are
 * replaced).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { createMetrics } from "../../../src/metrics/metrics.js";

interface Board {
  uid?: string;
  title?: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown; definition?: string }[] };
}
interface Panel {
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: { expr?: string }[];
  panels?: Panel[];
}

const board = async (): Promise<Board> =>
  JSON.parse(
    await readFile(new URL("../../../docs/grafana-dashboard.json", import.meta.url), "utf8"),
  ) as Board;

/** Every query of the board: panel targets (rows included) and query variables. */
function queries(b: Board): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const walk = (ps: Panel[]) => {
    for (const p of ps) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: p.title, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(b.panels);
  for (const v of b.templating.list)
    if (v.type === "query" && v.definition) out.push({ where: `variable ${v.name}`, expr: v.definition });
  return out;
}

/** Grafana's variables replaced by values PromQL accepts. */
function concrete(expr: string): string {
  return expr
    .replaceAll("$__rate_interval", "5m")
    .replaceAll("$__interval", "1m")
    .replaceAll("$__range", "1h")
    .replace(/\$(instance|miner)\b/g, ".*");
}

describe("docs/grafana-dashboard.json", { timeout: 60_000 }, () => {
  test("it is a board with a Prometheus datasource variable used by every panel", async () => {
    const b = await board();
    assert.ok(b.uid && b.title);
    const ds = b.templating.list.find((v) => v.type === "datasource");
    assert.equal(ds?.query, "prometheus");
    const panels = b.panels.filter((p) => p.type !== "row");
    assert.ok(panels.length >= 20, `${panels.length} panels`);
    for (const p of panels) assert.equal(p.datasource?.uid, `\${${ds?.name}}`, p.title);
  });

  test("every metric a query names is registered by createMetrics()", async () => {
    const names = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const qs = queries(await board());
    assert.ok(qs.length >= 30, `${qs.length} queries`);
    let seen = 0;
    for (const q of qs) {
      const metrics = [...q.expr.matchAll(/\bvsm_[a-z0-9_]+/g)].map((m) => m[0]);
      assert.ok(metrics.length > 0, `${q.where}: names no vsm_ metric: ${q.expr}`);
      for (const m of metrics) {
        const base = names.has(m) ? m : m.replace(/_(bucket|sum|count)$/, "");
        assert.ok(names.has(base), `${q.where}: ${m} is not a registered metric`);
        seen++;
      }
    }
    // The check itself can fail: a name that does not exist is caught.
    assert.ok(!names.has("vsm_wdpost_deadlines") && seen > 30);
  });

  test("every panel query parses as PromQL (promtool)", async () => {
    const qs = queries(await board()).filter((q) => !q.where.startsWith("variable "));
    const dir = await mkdtemp(join(tmpdir(), "vsm-grafana-"));
    try {
      const rules = [
        "groups:",
        "  - name: grafana",
        "    rules:",
        ...qs.flatMap((q, i) => [
          `      - record: vsm:grafana_query_${i}`,
          `        expr: ${JSON.stringify(concrete(q.expr))}`,
        ]),
      ].join("\n");
      await writeFile(join(dir, "board.rules.yml"), `${rules}\n`);
      const { stdout } = await promisify(execFile)("promtool", ["check", "rules", "board.rules.yml"], {
        cwd: dir,
        timeout: 30_000,
      }).catch((e: { stdout?: string; stderr?: string; code?: string }) =>
        assert.fail(
          e.code === "ENOENT"
            ? "promtool not found: install Debian's `prometheus` package"
            : `${e.stdout ?? ""}${e.stderr ?? ""}`,
        ),
      );
      assert.match(stdout, new RegExp(`SUCCESS: ${qs.length} rules found`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
