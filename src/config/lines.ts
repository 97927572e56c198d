/**
 * Where each key of a TOML document is written, so that validation errors can name the line.
 *
 * smol-toml reports the position of syntax errors but not of keys, so this scanner walks the source
 * once and records, for every table header and every `key = value`, the 1-based line under a
 * normalised path: lower-case segments, array-of-tables elements indexed (`miners[1].post.enabled`).
 * It only needs to be right for documents that parse; it understands comments, quoted and dotted keys,
 * multi-line strings and arrays spanning lines.
 */

export type LineMap = Map<string, number>;

/** Normalised path form used as LineMap key. */
export function pathKey(segments: readonly (string | number)[]): string {
  let out = "";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else out += out === "" ? s.toLowerCase() : `.${s.toLowerCase()}`;
  }
  return out;
}

/** Split a dotted key (`a."b.c".d`) into its segments, unquoting. */
function splitKey(raw: string): string[] {
  const out: string[] = [];
  let i = 0;
  const s = raw.trim();
  while (i < s.length) {
    while (s[i] === " " || s[i] === "\t") i++;
    let seg = "";
    const q = s[i];
    if (q === '"' || q === "'") {
      i++;
      while (i < s.length && s[i] !== q) {
        if (q === '"' && s[i] === "\\") {
          seg += s[i + 1] ?? "";
          i += 2;
          continue;
        }
        seg += s[i];
        i++;
      }
      i++;
    } else {
      while (i < s.length && s[i] !== "." && s[i] !== " " && s[i] !== "\t") seg += s[i++];
    }
    out.push(seg);
    while (s[i] === " " || s[i] === "\t") i++;
    if (s[i] === ".") i++;
  }
  return out;
}

/** Skip a value that starts at `pos`, returning the index just after it (may span lines). */
function skipValue(src: string, pos: number): number {
  let i = pos;
  let depth = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === '"' || c === "'") {
      const triple = src.startsWith(c.repeat(3), i);
      if (triple) {
        const end = src.indexOf(c.repeat(3), i + 3);
        i = end < 0 ? src.length : end + 3;
        while (src[i] === c) i++; // up to two extra quotes may close a multi-line string
      } else {
        i++;
        while (i < src.length && src[i] !== c && src[i] !== "\n") {
          if (c === '"' && src[i] === "\\") i++;
          i++;
        }
        i++;
      }
      continue;
    }
    if (c === "#") {
      while (i < src.length && src[i] !== "\n") i++;
      continue;
    }
    if (c === "[" || c === "{") depth++;
    else if (c === "]" || c === "}") depth--;
    else if (c === "\n" && depth <= 0) return i;
    i++;
  }
  return i;
}

export function scanLines(src: string): LineMap {
  const map: LineMap = new Map();
  // Count of elements seen so far per array-of-tables path (path with indices of its parents).
  const arrayCounts = new Map<string, number>();
  let table: (string | number)[] = [];

  /** Resolve header segments to a path, indexing every prefix that is an array of tables. */
  const resolve = (segs: string[], isArrayHeader: boolean): (string | number)[] => {
    const out: (string | number)[] = [];
    segs.forEach((seg, idx) => {
      out.push(seg);
      const key = pathKey(out);
      const last = idx === segs.length - 1;
      if (last && isArrayHeader) {
        const n = arrayCounts.get(key) ?? 0;
        arrayCounts.set(key, n + 1);
        out.push(n);
      } else if (arrayCounts.has(key)) {
        out.push((arrayCounts.get(key) ?? 1) - 1);
      }
    });
    return out;
  };

  let i = 0;
  let line = 1;
  const lineAt = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (src[k] === "\n") line++;
  };
  while (i < src.length) {
    // At the start of a logical line.
    let j = i;
    while (src[j] === " " || src[j] === "\t" || src[j] === "\r") j++;
    const c = src[j];
    if (c === undefined) break;
    if (c === "\n") {
      line++;
      i = j + 1;
      continue;
    }
    if (c === "#") {
      while (j < src.length && src[j] !== "\n") j++;
      i = j;
      continue;
    }
    if (c === "[") {
      const isArray = src[j + 1] === "[";
      const start = j + (isArray ? 2 : 1);
      const end = src.indexOf(isArray ? "]]" : "]", start);
      if (end < 0) break;
      table = resolve(splitKey(src.slice(start, end)), isArray);
      map.set(pathKey(table), line);
      j = end + (isArray ? 2 : 1);
      while (j < src.length && src[j] !== "\n") j++;
      i = j;
      continue;
    }
    // key = value
    let k = j;
    let inQuote: string | undefined;
    while (k < src.length) {
      const ch = src[k];
      if (inQuote) {
        if (ch === inQuote) inQuote = undefined;
      } else if (ch === '"' || ch === "'") inQuote = ch;
      else if (ch === "=" || ch === "\n") break;
      k++;
    }
    if (src[k] !== "=") {
      i = k;
      continue;
    }
    const keySegs = splitKey(src.slice(j, k));
    const full = [...table, ...keySegs];
    map.set(pathKey(full), line);
    const after = skipValue(src, k + 1);
    lineAt(k, after);
    i = after;
  }
  return map;
}
