/**
 * The dependency check of DESIGN §4, run by test/unit/architecture.test.ts (so by `npm test`) and by
 * hand with `node scripts/layers.mjs [srcDir]`.
 *
 * Imports point down the layers, never up:
 *   cli > daemon > poster, miner, devnet, cluster, ui > prover, sectors, chain, rpc
 *       > proofs, store, config, metrics, log > util
 * Domains on the same layer may import each other in one direction only (no circle between
 * domains). `proofs` is a pure library: it imports `util` and nothing else of ours. Production code
 * (everything but `cli` and `daemon`) never imports the devnet. No two files import each other in a
 * circle, type-only imports included: a circle of types is still a circle a reader has to untangle.
 *
 * Files directly under src/ (version.ts) count as `util`. Imports are found with a regular expression
 * over `import`/`export ... from "./x.js"` and `import("./x.js")`; only relative specifiers are ours.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const LAYERS = Object.freeze({
  cli: 6,
  daemon: 5,
  poster: 4,
  miner: 4,
  devnet: 4,
  cluster: 4,
  ui: 4,
  prover: 3,
  sectors: 3,
  chain: 3,
  rpc: 3,
  proofs: 2,
  store: 2,
  config: 2,
  metrics: 2,
  log: 2,
  util: 1,
});

/** Domains allowed to import the devnet. */
const DEVNET_USERS = new Set(["cli", "daemon", "devnet"]);

function listTs(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listTs(p));
    else if (/\.(ts|mts)$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

const IMPORT_RE =
  /(?:^|[\s;}])(?:import|export)\s[^;]*?\sfrom\s*["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

/** Relative import specifiers of one source text, comments removed first. */
export function importsOf(text) {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  return [...code.matchAll(IMPORT_RE)].map((m) => m[1] ?? m[2]);
}

/** The import graph of a source tree: file (relative to srcDir) → files it imports. */
export function importGraph(srcDir) {
  const graph = new Map();
  for (const file of listTs(srcDir)) {
    const from = path.relative(srcDir, file);
    const targets = [];
    for (const spec of importsOf(fs.readFileSync(file, "utf8"))) {
      const abs = path.resolve(path.dirname(file), spec).replace(/\.js$/, ".ts");
      targets.push(path.relative(srcDir, abs));
    }
    graph.set(from, targets);
  }
  return graph;
}

export function domainOf(rel) {
  const parts = rel.split(/[\\/]/);
  return parts.length === 1 ? "util" : parts[0];
}

/** Strongly connected components with more than one file (or a file importing itself), Tarjan. */
function cycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const out = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

/**
 * Every violation in a source tree, as one readable line each; an empty array means the tree keeps
 * the layers.
 */
export function checkLayers(srcDir) {
  const graph = importGraph(srcDir);
  const problems = [];
  const domainEdges = new Map();
  for (const [from, targets] of graph) {
    const a = domainOf(from);
    if (!(a in LAYERS))
      problems.push(`${from}: folder "${a}" is not a layer of DESIGN §4; add it to scripts/layers.mjs`);
    for (const to of targets) {
      if (!graph.has(to)) {
        problems.push(`${from} imports ${to}, which does not exist under src/`);
        continue;
      }
      const b = domainOf(to);
      if (a === b) continue;
      if (LAYERS[b] > LAYERS[a])
        problems.push(
          `${from} imports ${to}: ${a} (layer ${LAYERS[a]}) must not import ${b} (layer ${LAYERS[b]}), imports point down`,
        );
      if (a === "proofs" && b !== "util")
        problems.push(`${from} imports ${to}: proofs is a pure library and imports only util`);
      if (b === "devnet" && !DEVNET_USERS.has(a))
        problems.push(
          `${from} imports ${to}: production code must not import the devnet (only cli and daemon do)`,
        );
      if (!domainEdges.has(a)) domainEdges.set(a, new Set());
      domainEdges.get(a).add(b);
    }
  }
  const domainGraph = new Map([...domainEdges].map(([k, v]) => [k, [...v]]));
  for (const d of Object.keys(LAYERS)) if (!domainGraph.has(d)) domainGraph.set(d, []);
  for (const scc of cycles(domainGraph))
    problems.push(`domains import each other in a circle: ${scc.join(", ")}`);
  for (const scc of cycles(graph)) problems.push(`files import each other in a circle: ${scc.join(" ↔ ")}`);
  return problems;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "src");
  const problems = checkLayers(dir);
  for (const p of problems) console.log(p);
  console.log(problems.length === 0 ? "layers: ok" : `layers: ${problems.length} problem(s)`);
  process.exitCode = problems.length === 0 ? 0 : 1;
}
