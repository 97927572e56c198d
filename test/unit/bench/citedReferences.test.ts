/**
 * Benchmarks say where their baselines come from: a figure not measured in the same run (a published
 * number from other hardware, or an estimate built on one) is printed as a cited reference with its
 * source, and never turned into a ratio ("× native", "% of native speed") that would read as a
 * measurement. The benches are run for real, briefly; their sources are checked for the class.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { citedLines, NATIVE_PARTITION, NEPTUNE_ARITY8 } from "../../../bench/citedReferences.js";
import { startProcess } from "../../../src/util/childProcess.js";

const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../bench");

/** A ratio against something native, in a printed line. */
const NATIVE_RATIO = /\d\s*×\s*native|% of native|ratio to native|native[^\n]*:\s*\d+(\.\d+)?×/i;

async function runBench(file: string, args: string[]): Promise<string[]> {
  const p = startProcess(process.execPath, ["--import", "tsx", path.join(BENCH, file), ...args]);
  const timer = setTimeout(() => p.kill("SIGKILL"), 60_000);
  const r = await p.exited;
  clearTimeout(timer);
  await new Promise((res) => setImmediate(res));
  assert.equal(r.code, 0, p.lines.join("\n"));
  return p.lines;
}

function checkOutput(lines: string[], cited: readonly (typeof NEPTUNE_ARITY8)[]): void {
  const text = lines.join("\n");
  for (const l of lines)
    assert.doesNotMatch(l, NATIVE_RATIO, `a ratio to a figure not measured here:\n${text}`);
  for (const f of cited)
    for (const l of citedLines(f)) assert.ok(lines.includes(l), `missing "${l}" in\n${text}`);
  const json = JSON.parse(lines.at(-1) ?? "{}") as Record<string, unknown>;
  for (const k of Object.keys(json))
    assert.ok(!/ratio.*native|native.*ratio/i.test(k), `JSON key ${k} is a ratio to native`);
}

describe("benchmarks and their baselines", () => {
  test("bench/poseidon.ts: ratios only between methods of the same run; neptune cited with its source", async () => {
    const lines = await runBench("poseidon.ts", ["0.2"]);
    checkOutput(lines, [NEPTUNE_ARITY8]);
    assert.ok(lines.some((l) => /WASM vs BigInt\s*: [\d.]+× faster/.test(l)));
  });

  test("bench/vanillaPartition.ts: the goal as an absolute budget; native cited with its source", async () => {
    const lines = await runBench("vanillaPartition.ts", ["--sectors", "1"]);
    checkOutput(lines, [NEPTUNE_ARITY8, NATIVE_PARTITION]);
    assert.ok(
      lines.some((l) => /issue 3 budget\s*: ≤ 680 core-seconds per partition: (met|NOT met)/.test(l)),
    );
  });

  test("no bench keeps its own constant for an outside figure or prints a ratio to one", async () => {
    for (const f of await fs.readdir(BENCH)) {
      if (!f.endsWith(".ts") || f === "citedReferences.ts") continue;
      const src = await fs.readFile(path.join(BENCH, f), "utf8");
      assert.doesNotMatch(src, /const\s+\w*(NATIVE|NEPTUNE|REFERENCE|PUBLISHED)\w*\s*=\s*[\d.]/, f);
      assert.doesNotMatch(src, /× native|% of native|ratioToNative/, f);
    }
  });
});
