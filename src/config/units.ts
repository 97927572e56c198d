/**
 * Value syntaxes that damocles config files use: Go duration strings and FIL amounts.
 */

const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parse a Go duration ("10m0s", "1h30m", "250ms", "0") into milliseconds; undefined if malformed. */
export function parseGoDuration(input: string): number | undefined {
  const s = input.trim();
  if (s === "0") return 0;
  const m = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(s);
  if (!m) return undefined;
  const sign = m[1] === "-" ? -1 : 1;
  let total = 0;
  for (const part of s.replace(/^[+-]/, "").matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(part[1]) * (DURATION_UNITS_MS[part[2] ?? ""] ?? Number.NaN);
  }
  return Number.isFinite(total) ? sign * total : undefined;
}

/** Format milliseconds the way Go prints a duration ("10m0s", "1h0m0s", "500ms"). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (Math.abs(ms) < 1000) return `${ms}ms`;
  const neg = ms < 0;
  let rest = Math.abs(ms) / 1000;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  rest -= m * 60;
  const sec = Number.isInteger(rest) ? String(rest) : rest.toFixed(3).replace(/0+$/, "");
  let out = "";
  if (h > 0) out += `${h}h`;
  if (h > 0 || m > 0) out += `${m}m`;
  out += `${sec}s`;
  return neg ? `-${out}` : out;
}

/** attoFIL per unit. Unit names as Lotus's ParseFIL accepts them, case-insensitive. */
const FIL_UNITS: Record<string, bigint> = {
  "": 10n ** 18n,
  fil: 10n ** 18n,
  mfil: 10n ** 15n,
  millifil: 10n ** 15n,
  ufil: 10n ** 12n,
  μfil: 10n ** 12n,
  µfil: 10n ** 12n,
  microfil: 10n ** 12n,
  nfil: 10n ** 9n,
  nanofil: 10n ** 9n,
  pfil: 10n ** 6n,
  picofil: 10n ** 6n,
  ffil: 10n ** 3n,
  femtofil: 10n ** 3n,
  afil: 1n,
  attofil: 1n,
};

/** Parse "5 nanoFIL", "0.5", "1 FIL", "100 aFIL" into attoFIL; undefined if malformed or fractional attoFIL. */
export function parseFil(input: string): bigint | undefined {
  const m = /^\s*(\d+)(?:\.(\d+))?\s*([a-zA-Zμµ]*)\s*$/.exec(input);
  if (!m) return undefined;
  const unit = FIL_UNITS[(m[3] ?? "").toLowerCase()];
  if (unit === undefined) return undefined;
  const whole = BigInt(m[1] ?? "0");
  const fracDigits = m[2] ?? "";
  let frac = 0n;
  if (fracDigits.length > 0) {
    const scaled = BigInt(fracDigits) * unit;
    const div = 10n ** BigInt(fracDigits.length);
    if (scaled % div !== 0n) return undefined;
    frac = scaled / div;
  }
  return whole * unit + frac;
}
