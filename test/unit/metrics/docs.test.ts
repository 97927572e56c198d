/**
 * docs/metrics.md cannot drift from the code: every series createMetrics() registers (prom-client's
 * defaults included) has a row there with its type and labels, and every row names a registered
 * series. Also the two helpers of metrics.ts: the head lag computed at scrape, attoFIL to FIL.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, test } from "node:test";
import { attoToFil, createMetrics } from "../../../src/metrics/metrics.js";

interface Row {
  type: string;
  labels: string[];
}

/** The table rows of docs/metrics.md: | `name` | type | labels | meaning | moves when |. */
async function documented(): Promise<Map<string, Row>> {
  const text = await readFile(new URL("../../../docs/metrics.md", import.meta.url), "utf8");
  const rows = new Map<string, Row>();
  for (const line of text.split("\n")) {
    const m = /^\| `(vsm_\w+)` \| (\w+) \|([^|]*)\|/.exec(line);
    if (!m) continue;
    const [, name, type, labels] = m as unknown as [string, string, string, string];
    assert.ok(!rows.has(name), `${name} is documented twice`);
    const list = labels
      .split(",")
      .map((l) => l.trim())
      .filter((l) => l !== "");
    rows.set(name, { type, labels: list });
  }
  return rows;
}

/** What the registry holds: name → type and label names. */
async function registered(): Promise<Map<string, Row>> {
  const m = createMetrics();
  const out = new Map<string, Row>();
  for (const x of await m.registry.getMetricsAsJSON()) {
    const metric = m.registry.getSingleMetric(x.name) as unknown as { labelNames?: string[] };
    out.set(x.name, { type: String(x.type), labels: [...(metric.labelNames ?? [])] });
  }
  return out;
}

describe("docs/metrics.md", () => {
  test("documents every registered series with its type and labels, and nothing else", async () => {
    const docs = await documented();
    const reg = await registered();
    assert.ok(reg.size > 50, "the registry was read");
    const missing = [...reg.keys()].filter((n) => !docs.has(n));
    assert.deepEqual(missing, [], "registered but not documented in docs/metrics.md");
    const unknown = [...docs.keys()].filter((n) => !reg.has(n));
    assert.deepEqual(unknown, [], "documented in docs/metrics.md but not registered");
    for (const [name, r] of reg) {
      const d = docs.get(name);
      assert.equal(d?.type, r.type, `${name}: type`);
      assert.deepEqual(d?.labels, r.labels, `${name}: labels, in the registry's order`);
    }
  });

  test("every series is in the vsm_ namespace and says what it is", async () => {
    const m = createMetrics();
    for (const x of await m.registry.getMetricsAsJSON()) {
      assert.match(x.name, /^vsm_/);
      assert.ok(x.help.length > 10, `${x.name} has a help text`);
    }
  });
});

describe("metrics helpers", () => {
  test("the head lag is absent before a head, then now minus the head's timestamp at each scrape", async () => {
    const m = createMetrics({ defaults: false });
    assert.doesNotMatch(await m.registry.metrics(), /^vsm_chain_head_lag_seconds \d/m);
    const ts = Math.floor(Date.now() / 1000) - 90;
    m.chainHead(1234, ts);
    const text = await m.registry.metrics();
    assert.match(text, /^vsm_chain_head_height 1234$/m);
    assert.match(text, new RegExp(`^vsm_chain_head_timestamp_seconds ${ts}$`, "m"));
    const lag = Number(/^vsm_chain_head_lag_seconds (\S+)$/m.exec(text)?.[1]);
    assert.ok(lag >= 90 && lag < 95, `lag ${lag}`);
  });

  test("attoFIL to FIL", () => {
    assert.equal(attoToFil(0n), 0);
    assert.equal(attoToFil(1_500_000_000_000_000_000n), 1.5);
    assert.equal(attoToFil(123_456_789_000_000_000_000_000n), 123456.789);
  });
});
