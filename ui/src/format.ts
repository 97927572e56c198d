/** Formatting in the browser's locale and time zone (the operator's local time). */

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
const hmFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function parse(iso: string | null | undefined): Date | null {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** HH:MM:SS today, or "Mon D, HH:MM:SS" when the time is not today. */
export function localTime(iso: string | null | undefined): string {
  const d = parse(iso);
  if (!d) return "—";
  const now = new Date();
  return d.toDateString() === now.toDateString() ? timeFmt.format(d) : dateTimeFmt.format(d);
}

/** HH:MM, for the grid's compact open times. */
export function localHM(iso: string | null | undefined): string {
  const d = parse(iso);
  return d ? hmFmt.format(d) : "—";
}

/** A machine-readable datetime attribute for <time>. */
export function isoAttr(iso: string | null | undefined): string | null {
  const d = parse(iso);
  return d ? d.toISOString() : null;
}

export function duration(seconds: number): string {
  const neg = seconds < 0;
  let s = Math.round(Math.abs(seconds));
  const hh = Math.floor(s / 3600);
  s -= hh * 3600;
  const mm = Math.floor(s / 60);
  s -= mm * 60;
  const body = hh > 0 ? `${hh} h ${mm} min` : mm > 0 ? `${mm} min ${s} s` : `${s} s`;
  return neg ? `-${body}` : body;
}

export function num(n: number | null | undefined): string {
  return n === null || n === undefined ? "—" : n.toLocaleString();
}

export function ms(n: number | null): string {
  if (n === null) return "—";
  return n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`;
}

export function shortCid(cid: string): string {
  return cid.length > 16 ? `${cid.slice(0, 8)}…${cid.slice(-6)}` : cid;
}
