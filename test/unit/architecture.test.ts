/**
 * The architecture as the imports say it: scripts/layers.mjs run on the real src/ (DESIGN §4's layers,
 * proofs' purity, no production import of the devnet, no import circle), then on small fixture trees
 * that break one rule each, so a checker that silently passes everything would fail here. Also the
 * size rule of the style guide: no src/ file over 600 lines except generated tables.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { checkLayers, importsOf } from "../../scripts/layers.mjs";
import { tempDir } from "../helpers/tmp.js";

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src");

/** Longest a hand-written src/ file may be; past it, split by step or by concern (STYLE §6). */
const MAX_LINES = 600;

/**
 * Generated tables allowed past MAX_LINES, by path under src/. Empty today: the Poseidon constants
 * (proofs/poseidon/constants.ts) are derived at run time, not written out as a table.
 */
const GENERATED_TABLES = new Set<string>();

async function listTs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listTs(p)));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

describe("architecture of src/", () => {
  test("imports keep the layers of DESIGN §4, and no files or domains import each other in a circle", () => {
    assert.deepEqual(checkLayers(SRC), []);
  });

  test(`no file is over ${MAX_LINES} lines, except generated tables`, async () => {
    const long: string[] = [];
    for (const file of await listTs(SRC)) {
      const rel = path.relative(SRC, file);
      const lines = (await fs.readFile(file, "utf8")).split("\n").length - 1;
      if (lines > MAX_LINES && !GENERATED_TABLES.has(rel)) long.push(`${rel}: ${lines} lines`);
    }
    assert.deepEqual(long, []);
  });

  test("every allowlisted generated table exists and is still long", async () => {
    for (const rel of GENERATED_TABLES) {
      const text = await fs.readFile(path.join(SRC, rel), "utf8");
      assert.ok(text.split("\n").length - 1 > MAX_LINES, `${rel} is short now: drop it from the allowlist`);
    }
  });
});

describe("the layer checker fails on each broken rule", () => {
  let root: { dir: string; cleanup: () => Promise<void> };
  let n = 0;
  before(async () => {
    root = await tempDir("vsm-layers-");
  });
  after(() => root.cleanup());

  /** checkLayers over a fresh tree of `files` (path under src/ → source text). */
  async function check(files: Record<string, string>): Promise<string[]> {
    const src = path.join(root.dir, `tree${n++}`, "src");
    for (const [rel, text] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(src, rel)), { recursive: true });
      await fs.writeFile(path.join(src, rel), text);
    }
    return checkLayers(src);
  }

  /** One tree per rule: its files (path under src/ → source text) and exactly what the checker says. */
  const CASES: { name: string; files: Record<string, string>; problems: string[] }[] = [
    {
      name: "a tree that keeps the rules has no problem",
      files: {
        "cli/main.ts": 'import { node } from "../daemon/node.js";\nexport const main = node;\n',
        "daemon/node.ts": 'import { post } from "../poster/poster.js";\nexport const node = post;\n',
        "poster/poster.ts": 'import { prove } from "../proofs/vanilla.js";\nexport const post = prove;\n',
        "proofs/vanilla.ts": 'import { hex } from "../util/bytes.js";\nexport const prove = hex;\n',
        "util/bytes.ts": "export const hex = 1;\n",
        "version.ts": 'import { hex } from "./util/bytes.js";\nexport const v = hex;\n',
      },
      problems: [],
    },
    {
      name: "proofs importing sectors: an upward import, and proofs is not pure",
      files: {
        "proofs/synthetic.ts":
          'import type { Layout } from "../sectors/layout.js";\nexport type L = Layout;\n',
        "sectors/layout.ts": "export type Layout = string;\n",
      },
      problems: [
        "proofs/synthetic.ts imports sectors/layout.ts: proofs (layer 2) must not import sectors (layer 3), imports point down",
        "proofs/synthetic.ts imports sectors/layout.ts: proofs is a pure library and imports only util",
      ],
    },
    {
      name: "proofs importing a domain on its own layer is still impure",
      files: {
        "proofs/a.ts": 'import { s } from "../store/kv.js";\nexport const a = s;\n',
        "store/kv.ts": "export const s = 1;\n",
      },
      problems: ["proofs/a.ts imports store/kv.ts: proofs is a pure library and imports only util"],
    },
    {
      name: "util importing poster points up",
      files: {
        "util/sleep.ts": 'import { RETRY } from "../poster/retry.js";\nexport const s = RETRY;\n',
        "poster/retry.ts": "export const RETRY = 1;\n",
      },
      problems: [
        "util/sleep.ts imports poster/retry.ts: util (layer 1) must not import poster (layer 4), imports point down",
      ],
    },
    {
      name: "poster importing the devnet: production code must not, although the layer is the same",
      files: {
        "poster/batch.ts": 'import { bundle } from "../devnet/bundle.js";\nexport const b = bundle;\n',
        "devnet/bundle.ts": "export const bundle = 1;\n",
        "daemon/devnetRun.ts": 'import { bundle } from "../devnet/bundle.js";\nexport const d = bundle;\n',
      },
      problems: [
        "poster/batch.ts imports devnet/bundle.ts: production code must not import the devnet (only cli and daemon do)",
      ],
    },
    {
      name: "two files importing each other are a circle",
      files: {
        "poster/runner.ts": 'import { submit } from "./submit.js";\nexport const run = () => submit;\n',
        "poster/submit.ts": 'import { run } from "./runner.js";\nexport const submit = () => run;\n',
      },
      problems: ["files import each other in a circle: poster/runner.ts ↔ poster/submit.ts"],
    },
    {
      name: "a circle of type-only imports is still a circle, and so is a file importing itself",
      files: {
        "devnet/state.ts": 'import type { Snap } from "./snapshot.js";\nexport type State = { s?: Snap };\n',
        "devnet/snapshot.ts": 'import type { State } from "./state.js";\nexport type Snap = { s?: State };\n',
        "util/self.ts": 'export { x as y } from "./self.js";\nexport const x = 1;\n',
      },
      problems: [
        "files import each other in a circle: devnet/snapshot.ts ↔ devnet/state.ts",
        "files import each other in a circle: util/self.ts",
      ],
    },
    {
      name: "domains on one layer importing each other in a circle, through different files",
      files: {
        "chain/client.ts": 'import { call } from "../rpc/client.js";\nexport const head = call;\n',
        "chain/cid.ts": "export const cid = 1;\n",
        "rpc/client.ts": "export const call = 1;\n",
        "rpc/codec.ts": 'import { cid } from "../chain/cid.js";\nexport const codec = cid;\n',
      },
      problems: ["domains import each other in a circle: chain, rpc"],
    },
    {
      name: "a dynamic import() counts like a static one",
      files: {
        "store/open.ts":
          'export async function open() {\n  return (await import("../chain/lotus.js")).x;\n}\n',
        "chain/lotus.ts": "export const x = 1;\n",
      },
      problems: [
        "store/open.ts imports chain/lotus.ts: store (layer 2) must not import chain (layer 3), imports point down",
      ],
    },
    {
      name: "an import of a missing file and a folder that is no layer are reported",
      files: {
        "poster/a.ts": 'import { gone } from "./gone.js";\nexport const a = gone;\n',
        "scheduler/loop.ts": "export const loop = 1;\n",
      },
      problems: [
        "poster/a.ts imports poster/gone.ts, which does not exist under src/",
        'scheduler/loop.ts: folder "scheduler" is not a layer of DESIGN §4; add it to scripts/layers.mjs',
      ],
    },
  ];
  for (const c of CASES)
    test(c.name, async () => {
      assert.deepEqual(await check(c.files), c.problems);
    });

  test("an import written in a comment does not count", async () => {
    const text = [
      '// import { main } from "../cli/main.js";',
      "/*",
      ' * import { node } from "../daemon/node.js";',
      ' * export { post } from "../poster/poster.js";',
      " */",
      'export const url = "http://x"; // import("../devnet/api.js")',
      "",
    ].join("\n");
    assert.deepEqual(importsOf(text), []);
    assert.deepEqual(
      await check({
        "util/doc.ts": text,
        "cli/main.ts": "export const main = 1;\n",
        "daemon/node.ts": "export const node = 1;\n",
        "poster/poster.ts": "export const post = 1;\n",
        "devnet/api.ts": "export const api = 1;\n",
      }),
      [],
    );
  });
});
