/**
 * Every key `daemon init` writes does something: each key of the two default files is read by code
 * outside the config machinery (schema, types, rendering, validation). A key the product has no use
 * for is not in the default file and is warned about when set (schema kind "ignored").
 *
 * "Read" is checked in the source: a property access `.<Key>` (durations: `.<Key>Ms`, as validation
 * resolves them) in some file under src/ other than the config machinery; a key name used by two
 * tables (Enabled) must be read with its table (`.PoSt.Enabled`). The behaviour of the keys the
 * issue named has its own test: Parallel and the gas multipliers (poster/runnerFailures,
 * chain/lotus/client), ChainEventInterval (the chain client's polling), Strict (sectors/check).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { parseSectorManagerConfig } from "../../../src/config/load.js";
import { renderExtProverDefault, renderSectorManagerDefault } from "../../../src/config/render.js";
import {
  extProverSchema,
  type FieldSpec,
  sectorManagerSchema,
  type TableSpec,
} from "../../../src/config/schema.js";
import { resolvedName } from "../../../src/config/validate.js";

const ROOT = path.resolve(import.meta.dirname, "../../..");
/** The config machinery itself: a key named there is not yet a key used. */
const MACHINERY = /src\/config\/(schema|types|render|validate|lines|units)\.ts$/;

/** Keys written in a default file, as `Table.Sub.Key` paths (headers may be commented out). */
function keysOfDefaultFile(text: string): string[] {
  const out: string[] = [];
  let table = "";
  for (const line of text.split("\n")) {
    const h = /^\s*#?\[\[?([\w.]+)\]\]?\s*$/.exec(line);
    if (h) {
      table = h[1] ?? "";
      continue;
    }
    const k = /^\s*#(\w+) = /.exec(line);
    // The keys of a user map ([WdPost.Envs] KEY = "VAL") are the user's, not the schema's.
    if (k && !table.endsWith(".Envs")) out.push(table ? `${table}.${k[1]}` : (k[1] ?? ""));
  }
  return out;
}

function fieldAt(schema: TableSpec, keyPath: string): FieldSpec | undefined {
  let spec: TableSpec | undefined = schema;
  let field: FieldSpec | undefined;
  for (const seg of keyPath.split(".")) {
    field = spec?.[seg];
    spec = field?.kind === "table" || field?.kind === "tableArray" ? field.fields : undefined;
  }
  return field;
}

/**
 * Leaves of a schema that a default file shows as `#Key = value`: every key except opaque and
 * ignored ones, and except user maps (Meta, Envs), which appear as a table or not at all.
 */
function liveLeaves(schema: TableSpec, prefix = "", maps = false): string[] {
  return Object.entries(schema).flatMap(([k, f]) =>
    f.kind === "table" || f.kind === "tableArray"
      ? liveLeaves(f.fields, `${prefix}${k}.`, maps)
      : f.kind === "opaque" || f.kind === "ignored" || (f.kind === "stringMap") !== maps
        ? []
        : [`${prefix}${k}`],
  );
}

function sources(): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const f = path.join(d, e.name);
      if (e.isDirectory()) walk(f);
      else if (f.endsWith(".ts") && !MACHINERY.test(f))
        out.push({ file: path.relative(ROOT, f), text: fs.readFileSync(f, "utf8") });
    }
  };
  walk(path.join(ROOT, "src"));
  return out;
}

describe("every key of the default config files is read", () => {
  const files = [
    {
      name: "sector-manager.cfg",
      schema: sectorManagerSchema,
      keys: keysOfDefaultFile(renderSectorManagerDefault()),
    },
    { name: "ext-prover.cfg", schema: extProverSchema, keys: keysOfDefaultFile(renderExtProverDefault()) },
  ];
  const src = sources();

  test("the default files list exactly the schema's keys", () => {
    const sm = files[0]!;
    assert.deepEqual([...sm.keys].sort(), liveLeaves(sectorManagerSchema).sort());
    const ep = files[1]!;
    // ext-prover.cfg shows one [[WdPost]] block; [[WinPost]] has the same keys.
    assert.deepEqual(
      [...ep.keys].sort(),
      liveLeaves(extProverSchema)
        .filter((k) => k.startsWith("WdPost."))
        .sort(),
    );
  });

  for (const { name, schema, keys } of files) {
    // User maps too (Meta, Envs): they are part of the file's shape even where it shows no example.
    for (const key of [...keys, ...liveLeaves(schema, "", true).filter((k) => !k.startsWith("WinPost."))]) {
      test(`${name} ${key}`, () => {
        const field = fieldAt(schema, key);
        assert.ok(field, `${key} is in the default file but not in the schema`);
        const segs = key.split(".");
        const leaf = resolvedName(segs.at(-1) ?? "", field);
        const parent = segs.at(-2);
        const sameName = files.flatMap((f) => f.keys).filter((k) => k.split(".").at(-1) === segs.at(-1));
        // WdPost and WinPost blocks are one type: a read of one is a read of both.
        const ambiguous = new Set(sameName.map((k) => k.replace(/^WinPost\./, "WdPost."))).size > 1;
        const re = ambiguous ? new RegExp(`\\.${parent}\\.${leaf}\\b`) : new RegExp(`\\.${leaf}\\b`);
        const readers = src.filter((s) => re.test(s.text)).map((s) => s.file);
        assert.ok(
          readers.length > 0,
          `${key} is written by daemon init but nothing reads it (no ${re} outside the config machinery): implement it, or make it "ignored" in schema.ts`,
        );
      });
    }
  }

  test("keys with no meaning here are not in the default file and are warned about when set", () => {
    const text = renderSectorManagerDefault();
    for (const k of ["AllowMiners", "DenyMiners", "Market"]) assert.ok(!text.includes(`#${k} =`), k);
    assert.ok(!/\[\[Common\.PersistStores\]\][^[]*#Weight =/.test(text), "store Weight");
    const { warnings } = parseSectorManagerConfig(
      "sector-manager.cfg",
      '[Common.API]\nMarket = "/ip4/127.0.0.1/tcp/41235"\n[[Common.PersistStores]]\nPath = "/mnt/a"\nWeight = 2\nAllowMiners = [1000]\nDenyMiners = [1001]\n',
      "/",
    );
    const expect: [string, RegExp][] = [
      [":2: Common.API.Market: is ignored:", /never calls it/],
      [":5: Common.PersistStores[0].Weight: is ignored:", /never places sectors/],
      [":6: Common.PersistStores[0].AllowMiners: is ignored:", /never places sectors/],
      [":7: Common.PersistStores[0].DenyMiners: is ignored:", /never places sectors/],
    ];
    for (const [where, why] of expect) {
      const w = warnings.find((x) => x.includes(where));
      assert.ok(w, `${where} in ${JSON.stringify(warnings)}`);
      assert.match(w, why);
    }
  });
});
