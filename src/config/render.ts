/**
 * Commented default config files, rendered from the schema (`daemon init` writes these).
 *
 * Like `lotus config default`: every key appears commented out with its default and a doc line, so
 * an untouched file loads as the defaults. Plain tables keep live headers (an empty table is
 * harmless); array-of-tables blocks (`[[Common.PersistStores]]`, `[[Miners]]`) are commented examples,
 * because a live empty block would be a store without a path or a miner without an actor.
 */
import {
  EXT_PROVER_REQUEST_TIMEOUT_DEFAULT,
  EXT_PROVER_REQUEST_TIMEOUT_RANGE,
  extProverSchema,
  type FieldSpec,
  sectorManagerSchema,
  type TableSpec,
} from "./schema.js";
import { rangeText } from "./validate.js";

/** A key's doc line, with its allowed range when it is a number or a duration. */
function docOf(spec: FieldSpec): string {
  const doc = ("doc" in spec ? spec.doc : undefined) ?? "";
  const range = rangeText(spec);
  return range ? `${doc} Range: ${range}.` : doc;
}

function tomlValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  if (typeof v === "object" && v !== null) {
    return `{ ${Object.entries(v)
      .map(([k, x]) => `${k} = ${tomlValue(x)}`)
      .join(", ")} }`;
  }
  return String(v);
}

function exampleValue(spec: FieldSpec): unknown {
  switch (spec.kind) {
    case "string":
      return spec.example ?? spec.default;
    case "optionalString":
      return spec.example ?? "";
    case "stringArray":
      return spec.example ?? spec.default;
    case "bool":
    case "uint":
    case "int":
    case "float":
    case "duration":
    case "fil":
    case "uintArray":
      return spec.default;
    default:
      return undefined;
  }
}

function defaultValue(spec: FieldSpec): unknown {
  switch (spec.kind) {
    case "string":
    case "bool":
    case "uint":
    case "int":
    case "float":
    case "duration":
    case "fil":
    case "stringArray":
    case "uintArray":
      return spec.default;
    case "optionalString":
      return spec.example ?? "";
    default:
      return undefined;
  }
}

function renderTable(
  spec: TableSpec,
  prefix: string,
  indent: string,
  out: string[],
  commentHeaders: boolean,
): void {
  const sub: [string, FieldSpec][] = [];
  for (const [key, field] of Object.entries(spec)) {
    if (field.kind === "table" || field.kind === "tableArray") {
      sub.push([key, field]);
      continue;
    }
    if (field.kind === "opaque" || field.kind === "ignored") continue;
    out.push(`${indent}# ${docOf(field)}`);
    if (field.kind === "stringMap") {
      out.push(`${indent}#${key} = {}`);
    } else {
      out.push(`${indent}#${key} = ${tomlValue(defaultValue(field))}`);
    }
  }
  for (const [key, field] of sub) {
    const name = prefix ? `${prefix}.${key}` : key;
    out.push("");
    if (field.kind === "table") {
      if (field.doc) out.push(`${indent}# ${field.doc}`);
      out.push(`${indent}${commentHeaders ? "#" : ""}[${name}]`);
      renderTable(field.fields, name, `${indent}  `, out, commentHeaders);
    } else if (field.kind === "tableArray") {
      out.push(`${indent}# ${field.doc} Example:`);
      for (const ex of field.example ?? [{}]) {
        out.push(`${indent}#[[${name}]]`);
        renderExample(field.fields, ex, name, `${indent}  `, out);
      }
    }
  }
}

function renderExample(
  spec: TableSpec,
  example: Record<string, unknown>,
  prefix: string,
  indent: string,
  out: string[],
): void {
  const sub: [string, TableSpec, string | undefined][] = [];
  for (const [key, field] of Object.entries(spec)) {
    if (field.kind === "table") {
      sub.push([key, field.fields, field.doc]);
      continue;
    }
    if (field.kind === "opaque" || field.kind === "ignored" || field.kind === "tableArray") continue;
    const v = key in example ? example[key] : exampleValue(field);
    if (field.kind === "stringMap") continue;
    out.push(`${indent}# ${docOf(field)}`);
    out.push(`${indent}#${key} = ${tomlValue(v)}`);
  }
  for (const [key, fields, doc] of sub) {
    out.push(`${indent}#`);
    if (doc) out.push(`${indent}# ${doc}`);
    out.push(`${indent}#[${prefix}.${key}]`);
    const lines: string[] = [];
    renderTable(fields, `${prefix}.${key}`, `${indent}  `, lines, true);
    for (const l of lines) out.push(l === "" ? `${indent}#` : l);
  }
}

export function renderSectorManagerDefault(): string {
  const out: string[] = [
    "# Default config:",
    "# sector-manager.cfg for venus-sector-manager (TypeScript).",
    "# Every key is listed with its default value, commented out: uncomment a line to change it.",
    '# Keys are case-insensitive. Durations are Go duration strings ("10m0s"); FIL amounts are',
    '# strings such as "5 nanoFIL". Unknown keys are reported as warnings and ignored.',
    "",
  ];
  renderTable(sectorManagerSchema, "", "", out, false);
  return `${out.join("\n")}\n`;
}

/** ext-prover.cfg in the shape the seed document shows, values from the schema. */
export function renderExtProverDefault(): string {
  const f: TableSpec = extProverSchema.WdPost.fields;
  const num = (k: string) => {
    const s = f[k];
    return s?.kind === "uint" ? s.default : 0;
  };
  const doc = (k: string) => {
    const s = f[k];
    return s ? `#   ${k}: ${docOf(s)}` : `#   ${k}`;
  };
  return [
    "# Default config:",
    "# ext-prover.cfg: one [[WdPost]] block per WindowPoSt child process (one per GPU), read when",
    "# `daemon run --ext-prover` is given. Without Bin, the child is this program's own `wdpost`",
    "# processor. Envs override the daemon's environment for that child (CUDA_VISIBLE_DEVICES, TMPDIR).",
    "# [[WinPost]] blocks configure WinningPoSt children the same way. Numbers and their ranges:",
    ...["Concurrent", "Weight", "ReadyTimeoutSecs"].map(doc),
    "[[WdPost]]",
    `#Bin = "venus-sector-manager"`,
    `#Args = ["wdpost"]`,
    `#Concurrent = ${num("Concurrent")}`,
    `#Weight = ${num("Weight")}`,
    `#ReadyTimeoutSecs = ${num("ReadyTimeoutSecs")}`,
    `# Longest a request may go unanswered, ${EXT_PROVER_REQUEST_TIMEOUT_RANGE.min} to ${EXT_PROVER_REQUEST_TIMEOUT_RANGE.max} (WinPost default: ${EXT_PROVER_REQUEST_TIMEOUT_DEFAULT.WinPost});`,
    "# then the child is killed and respawned and its requests go to another block.",
    `#RequestTimeout = "${EXT_PROVER_REQUEST_TIMEOUT_DEFAULT.WdPost}"`,
    "[WdPost.Envs]",
    `#KEY = "VAL"`,
    "#",
    "",
  ].join("\n");
}
