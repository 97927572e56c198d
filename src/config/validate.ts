/**
 * Validate a parsed TOML document against a schema (`schema.ts`).
 *
 * - Key matching is case-insensitive, as in damocles (BurntSushi/toml): `[Miners.Post]` is `[Miners.PoSt]`.
 *   Keys of user maps (`Envs`, `Meta`) keep their case.
 * - Unknown keys are warnings (the file may come from a newer or older damocles), never fatal.
 * - Wrong types and bad values are errors; all of them are collected so the operator fixes the file in
 *   one pass. Each problem names the file, the line, the key path and what would be accepted.
 * - Zero-value rules (`0` = default / unlimited) are applied here, so no consumer ever sees a magic 0.
 */
import { type LineMap, pathKey } from "./lines.js";
import { type FieldSpec, type TableSpec, TIMER_MAX_MS } from "./schema.js";
import { formatGoDuration, parseFil, parseGoDuration } from "./units.js";

export interface Problem {
  /** Display path, e.g. `Miners[0].PoSt.SubmitConfidence`. */
  key: string;
  line: number | undefined;
  message: string;
}

export interface ValidationContext {
  lines: LineMap;
  errors: Problem[];
  warnings: Problem[];
}

type Path = (string | number)[];

function display(path: Path): string {
  let out = "";
  for (const s of path) out += typeof s === "number" ? `[${s}]` : out === "" ? s : `.${s}`;
  return out;
}

/**
 * Line of `path`, or of its nearest ancestor that has one. A path written as an array of tables where
 * a table belongs (`[[Common]]`) is recorded as its first element (`common[0]`), so that is tried too.
 */
export function lineOf(lines: LineMap, path: Path): number | undefined {
  for (let n = path.length; n > 0; n--) {
    const key = pathKey(path.slice(0, n));
    const l = lines.get(key) ?? lines.get(`${key}[0]`);
    if (l !== undefined) return l;
  }
  return undefined;
}

/** `Common.PersistStores` for `[Common, PersistStores, 0]`: the name as written in a header. */
function headerName(path: Path): string {
  return path.filter((s): s is string => typeof s === "string").join(".");
}

/** Allowed range of a number or duration key, for messages and the default file's comments. */
export function rangeText(spec: FieldSpec): string | undefined {
  switch (spec.kind) {
    case "uint": {
      const lo = spec.min ?? 0;
      return spec.max !== undefined ? `${lo} to ${spec.max}` : `${lo} or more`;
    }
    case "float":
      if (spec.max !== undefined) return `${spec.min ?? 0} to ${spec.max}`;
      return spec.min !== undefined ? `${spec.min} or more` : undefined;
    case "duration": {
      const lo = spec.min ?? "0s";
      const hi = spec.max !== undefined ? (parseGoDuration(spec.max) ?? TIMER_MAX_MS) : TIMER_MAX_MS;
      return `"${lo}" to "${formatGoDuration(hi)}"`;
    }
    default:
      return undefined;
  }
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (isTable(v)) return "a table";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (v instanceof Date) return "a date";
  if (typeof v === "bigint") return `the integer ${v}`;
  return `${typeof v} ${String(v)}`;
}

function toInt(v: unknown): number | undefined {
  if (typeof v === "bigint")
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : undefined;
  if (typeof v === "number" && Number.isInteger(v)) return v;
  return undefined;
}

function err(ctx: ValidationContext, path: Path, message: string): undefined {
  ctx.errors.push({ key: display(path), line: lineOf(ctx.lines, path), message });
  return undefined;
}

function warn(ctx: ValidationContext, path: Path, message: string): void {
  ctx.warnings.push({ key: display(path), line: lineOf(ctx.lines, path), message });
}

function quoteHint(v: unknown): string {
  return typeof v === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(v)
    ? ` (write ${v.trim()} without quotes)`
    : "";
}

/** Resolved name of a field: durations are exposed in milliseconds as `<Key>Ms`. */
export function resolvedName(key: string, spec: FieldSpec): string {
  return spec.kind === "duration" ? `${key}Ms` : key;
}

function defaultOf(spec: FieldSpec, ctx: ValidationContext, path: Path): unknown {
  switch (spec.kind) {
    case "string":
    case "bool":
      return spec.default;
    case "optionalString":
      return undefined;
    case "uint":
    case "int":
      if (spec.kind === "uint" && spec.required) return err(ctx, path, `is required. ${spec.doc}`);
      return applyZero(spec, spec.default);
    case "float":
      return spec.default;
    case "duration":
      return parseGoDuration(spec.default);
    case "fil":
      return parseFil(spec.default) ?? 0n;
    case "stringArray":
    case "uintArray":
      return [...spec.default];
    case "stringMap":
      return {};
    case "table":
      return validateTable(spec.fields, {}, path, ctx);
    case "tableArray":
      return [];
    case "opaque":
    case "ignored":
      return undefined;
  }
}

function applyZero(spec: FieldSpec, n: number): number | null {
  if ((spec.kind === "uint" || spec.kind === "int") && spec.zero && n <= 0) {
    return spec.zero.kind === "unlimited" ? null : spec.zero.value;
  }
  return n;
}

function validateField(spec: FieldSpec, v: unknown, path: Path, ctx: ValidationContext): unknown {
  switch (spec.kind) {
    case "string":
    case "optionalString": {
      if (typeof v !== "string")
        return err(ctx, path, `expected a string, got ${describe(v)} (put it in quotes)`);
      if (spec.kind === "string" && spec.oneOf) {
        const hit = spec.oneOf.find((o) => o.toLowerCase() === v.toLowerCase());
        if (!hit)
          return err(
            ctx,
            path,
            `must be one of ${spec.oneOf.map((o) => JSON.stringify(o)).join(", ")}, got ${JSON.stringify(v)}`,
          );
        return hit;
      }
      return v;
    }
    case "bool":
      if (typeof v !== "boolean") return err(ctx, path, `expected true or false, got ${describe(v)}`);
      return v;
    case "uint":
    case "int": {
      const n = toInt(v);
      if (n === undefined) {
        if (typeof v === "bigint")
          return err(ctx, path, `${v} is too large; ${rangeText(spec) ?? "an integer"} is accepted`);
        const what = spec.kind === "uint" ? "a non-negative integer" : "an integer";
        return err(ctx, path, `expected ${what}, got ${describe(v)}${quoteHint(v)}`);
      }
      if (spec.kind === "uint") {
        const range = `allowed: ${rangeText(spec)}`;
        if (n < 0) {
          const zero = spec.zero?.kind === "unlimited" ? "; write 0 for unlimited" : "";
          return err(ctx, path, `must not be negative, got ${n} (${range}${zero})`);
        }
        if (spec.min !== undefined && n < spec.min)
          return err(ctx, path, `must be at least ${spec.min}, got ${n} (${range})`);
        if (spec.max !== undefined && n > spec.max)
          return err(ctx, path, `must be at most ${spec.max}, got ${n} (${range})`);
      }
      return applyZero(spec, n);
    }
    case "float": {
      const n = typeof v === "number" ? v : toInt(v);
      if (n === undefined || !Number.isFinite(n))
        return err(ctx, path, `expected a number, got ${describe(v)}${quoteHint(v)}`);
      const range = `allowed: ${rangeText(spec)}`;
      if (spec.min !== undefined && n < spec.min)
        return err(ctx, path, `must be at least ${spec.min}, got ${n} (${range})`);
      if (spec.max !== undefined && n > spec.max)
        return err(ctx, path, `must be at most ${spec.max}, got ${n} (${range})`);
      return n;
    }
    case "duration": {
      if (typeof v !== "string") {
        return err(
          ctx,
          path,
          `expected a duration string such as "10m0s", "90s" or "1h", got ${describe(v)}`,
        );
      }
      const ms = parseGoDuration(v);
      if (ms === undefined)
        return err(ctx, path, `${JSON.stringify(v)} is not a duration; write e.g. "10m0s", "90s", "1h30m"`);
      const range = `allowed: ${rangeText(spec)}`;
      if (ms < 0) return err(ctx, path, `must not be negative, got ${JSON.stringify(v)} (${range})`);
      const min = spec.min !== undefined ? (parseGoDuration(spec.min) ?? 0) : 0;
      const max = spec.max !== undefined ? (parseGoDuration(spec.max) ?? TIMER_MAX_MS) : TIMER_MAX_MS;
      if (ms < min)
        return err(ctx, path, `must be at least "${spec.min}", got ${JSON.stringify(v)} (${range})`);
      if (ms > max) {
        const why = max === TIMER_MAX_MS ? ", the longest time a timer can wait (about 24.8 days)" : "";
        return err(
          ctx,
          path,
          `must be at most "${formatGoDuration(max)}"${why}, got ${JSON.stringify(v)} (${range})`,
        );
      }
      return ms;
    }
    case "fil": {
      if (typeof v !== "string")
        return err(ctx, path, `expected a FIL amount string such as "5 nanoFIL", got ${describe(v)}`);
      if (v.trim() === "") return 0n;
      const a = parseFil(v);
      if (a === undefined)
        return err(ctx, path, `${JSON.stringify(v)} is not a FIL amount; write e.g. "5 nanoFIL", "0.1 FIL"`);
      return a;
    }
    case "stringArray": {
      if (!Array.isArray(v)) {
        const hint = typeof v === "string" ? ` (write [${JSON.stringify(v)}])` : "";
        return err(ctx, path, `expected an array of strings, got ${describe(v)}${hint}`);
      }
      const out: string[] = [];
      v.forEach((x, i) => {
        if (typeof x !== "string") err(ctx, [...path, i], `expected a string, got ${describe(x)}`);
        else out.push(x);
      });
      return out;
    }
    case "uintArray": {
      if (!Array.isArray(v)) return err(ctx, path, `expected an array of integers, got ${describe(v)}`);
      const out: number[] = [];
      v.forEach((x, i) => {
        const n = toInt(x);
        if (n === undefined || n < 0)
          err(ctx, [...path, i], `expected a non-negative integer, got ${describe(x)}`);
        else out.push(n);
      });
      return out;
    }
    case "stringMap": {
      if (!isTable(v)) {
        const fix = Array.isArray(v)
          ? `write [${headerName(path)}] (single brackets), not [[${headerName(path)}]]`
          : `write a [${headerName(path)}] section with KEY = "value" lines`;
        return err(ctx, path, `expected a table of "KEY" = "value" pairs, got ${describe(v)}; ${fix}`);
      }
      const out: Record<string, string> = {};
      for (const [k, x] of Object.entries(v)) {
        if (typeof x === "string") out[k] = x;
        else if (typeof x === "number" || typeof x === "boolean" || typeof x === "bigint") {
          out[k] = String(x);
          warn(
            ctx,
            [...path, k],
            `value ${String(x)} is not a string; using "${String(x)}" (write ${k} = "${String(x)}" to silence this)`,
          );
        } else err(ctx, [...path, k], `expected a string, got ${describe(x)}`);
      }
      return out;
    }
    case "table": {
      if (isTable(v)) return validateTable(spec.fields, v, path, ctx);
      const name = headerName(path);
      if (Array.isArray(v))
        return err(
          ctx,
          path,
          `is one section, not a list of blocks: write [${name}] (single brackets), not [[${name}]]`,
        );
      return err(
        ctx,
        path,
        `must be a section, got ${describe(v)}: write a [${name}] header with its keys under it, or remove the line`,
      );
    }
    case "tableArray": {
      const name = headerName(path);
      if (!Array.isArray(v)) {
        const fix = isTable(v)
          ? `write each block as [[${name}]] (double brackets), not [${name}]`
          : `write one [[${name}]] block per entry, with its keys under it`;
        return err(ctx, path, `is a list of blocks, got ${describe(v)}: ${fix}`);
      }
      const out: unknown[] = [];
      v.forEach((x, i) => {
        if (!isTable(x))
          err(ctx, [...path, i], `expected a block, got ${describe(x)}: write [[${name}]] blocks`);
        else out.push(validateTable(spec.fields, x, [...path, i], ctx));
      });
      return out;
    }
    case "opaque":
      return undefined;
    case "ignored":
      warn(ctx, path, `is ignored: ${spec.doc}`);
      return undefined;
  }
}

export function validateTable(
  spec: TableSpec,
  input: Record<string, unknown>,
  path: Path,
  ctx: ValidationContext,
): Record<string, unknown> {
  const byLower = new Map<string, string>();
  for (const k of Object.keys(spec)) byLower.set(k.toLowerCase(), k);
  const seen = new Map<string, string>();
  const out: Record<string, unknown> = {};
  const given: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    const canonical = byLower.get(k.toLowerCase());
    if (canonical === undefined) {
      const known = Object.keys(spec).filter(
        (n) => spec[n]?.kind !== "opaque" && spec[n]?.kind !== "ignored",
      );
      warn(
        ctx,
        [...path, k],
        `unknown key, ignored${known.length ? ` (known keys here: ${known.join(", ")})` : ""}`,
      );
      continue;
    }
    const prev = seen.get(canonical);
    if (prev !== undefined) {
      err(ctx, [...path, k], `duplicate of ${prev} (keys are case-insensitive); keep one of them`);
      continue;
    }
    seen.set(canonical, k);
    given[canonical] = v;
  }
  for (const [key, field] of Object.entries(spec)) {
    const p = [...path, key];
    const name = resolvedName(key, field);
    const errors = ctx.errors.length;
    let value = key in given ? validateField(field, given[key], p, ctx) : defaultOf(field, ctx, p);
    // A rejected value is replaced by the default, so the rest of the file is still checked against a
    // well-shaped config (a later rule never trips over a table that is a number) and every problem is
    // reported in one pass. The load fails anyway because of the error.
    if (value === undefined && ctx.errors.length > errors)
      value = defaultOf(field, { lines: ctx.lines, errors: [], warnings: [] }, p);
    if (value !== undefined || field.kind === "optionalString") out[name] = value;
  }
  return out;
}
