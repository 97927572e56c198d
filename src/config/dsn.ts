/**
 * Checking a `[Common.DB.Postgres] DSN` when the config is loaded, so a typo stops the node at start
 * with the file, line and key, not at its first database call. The rules are the subset of libpq's
 * URL form the cluster's client accepts (src/store/pg/db.ts): `postgres://` or `postgresql://`,
 * optional `user[:password]@`, one or more `host[:port]` separated by commas (IPv6 in brackets), an
 * optional `/database`, and query parameters. Messages never repeat the DSN, which may hold a password.
 */

/** Values of target_session_attrs the client understands (libpq's list). */
export const TARGET_SESSION_ATTRS = [
  "any",
  "read-write",
  "read-only",
  "primary",
  "standby",
  "prefer-standby",
] as const;

export interface DsnHost {
  host: string;
  port: number;
}

export interface ParsedDsn {
  hosts: DsnHost[];
  database: string | undefined;
  user: string | undefined;
  params: URLSearchParams;
}

const DEFAULT_PORT = 5432;

/** RFC 3986 userinfo: unreserved, percent-encoded, sub-delims and the one `:` between user and password. */
const USERINFO_RE = /^(?:[A-Za-z0-9._~!$&'()*+,;=:-]|%[0-9A-Fa-f]{2})*$/;

const RESERVED_IN_USERINFO =
  "has a reserved character (@ / ? # [ ] or a space) in its user name or password, or an @ after its hosts: percent-encode it (@ as %40, / as %2F, ? as %3F, # as %23)";

function parseHost(raw: string): DsnHost | string {
  let host: string;
  let portText: string | undefined;
  const bracket = /^\[([^\]]*)\](?::(.*))?$/.exec(raw);
  if (bracket) {
    host = bracket[1] ?? "";
    portText = bracket[2];
  } else {
    const i = raw.lastIndexOf(":");
    if (i >= 0 && raw.indexOf(":") !== i)
      return `host ${JSON.stringify(raw)} looks like an IPv6 address: write it in brackets, [addr]:port`;
    host = i >= 0 ? raw.slice(0, i) : raw;
    portText = i >= 0 ? raw.slice(i + 1) : undefined;
  }
  if (host === "") return "a host is empty (each host:port between commas needs a host)";
  if (!/^[A-Za-z0-9._%:-]+$/.test(host)) return `host ${JSON.stringify(host)} is not a host name or address`;
  if (portText === undefined || portText === "") return { host, port: DEFAULT_PORT };
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535)
    return `host ${JSON.stringify(host)} has port ${JSON.stringify(portText)}; a port is a number from 1 to 65535`;
  return { host, port };
}

/** The DSN's parts, or what is wrong with it (one sentence, without the DSN itself). */
export function parsePostgresDsn(dsn: string): ParsedDsn | string {
  const s = dsn.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(s);
  if (!scheme)
    return "is not a URL; write postgres://user@host:port/database (several host:port separated by commas for failover)";
  // Lower case only: the client's own parser (src/store/pg/db.ts) accepts nothing else.
  const name = scheme[1] ?? "";
  if (name !== "postgres" && name !== "postgresql")
    return `has the scheme ${JSON.stringify(`${scheme[1]}://`)}; only postgres:// and postgresql:// are accepted`;
  const rest = scheme[2] ?? "";
  if (/\s/.test(rest)) return "contains white space; percent-encode it (%20)";
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const tail = end < 0 ? "" : rest.slice(end);
  // libpq and postgres.js end the authority at the first / ? or #, and postgres.js takes the user
  // and password up to the FIRST @ of it: a raw reserved character in a password cuts the DSN in a
  // different place for each reader, and the pieces could reach a log. Such a DSN is refused, and
  // the message quotes nothing of it.
  const at = authority.lastIndexOf("@");
  const userinfo = at >= 0 ? authority.slice(0, at) : undefined;
  const hostList = at >= 0 ? authority.slice(at + 1) : authority;
  if (userinfo !== undefined && !USERINFO_RE.test(userinfo)) return RESERVED_IN_USERINFO;
  // An @ after the authority may end a password with a raw / or ?, the hosts found then being
  // pieces of it: no error may quote them, and a database name or parameter name with a raw @ is
  // refused too (percent-encoded, it is read the same by every parser).
  const cutUserinfo = tail.includes("@");
  if (hostList === "")
    return "names no host; write postgres://user@host:port/database (the cluster's nodes reach the database over TCP)";
  const hosts: DsnHost[] = [];
  for (const h of hostList.split(",")) {
    const r = parseHost(h);
    if (typeof r === "string") return cutUserinfo ? RESERVED_IN_USERINFO : r;
    hosts.push(r);
  }
  if (tail.includes("#")) return "has a #fragment, which a DSN does not take (percent-encode # as %23)";
  const m = /^(\/[^?]*)?(\?.*)?$/s.exec(tail);
  if (!m) return "cannot be parsed after its hosts";
  let database: string | undefined;
  let user: string | undefined;
  try {
    database = m[1] && m[1].length > 1 ? decodeURIComponent(m[1].slice(1)) : undefined;
    user = userinfo !== undefined ? decodeURIComponent(userinfo.split(":")[0] ?? "") : undefined;
  } catch {
    return "has a malformed percent-encoding (%XX)";
  }
  const params = new URLSearchParams((m[2] ?? "").slice(1));
  if (m[1]?.includes("@") || [...params.keys()].some((k) => /[@/]/.test(k))) return RESERVED_IN_USERINFO;
  const tsa = params.get("target_session_attrs");
  if (tsa !== null && !(TARGET_SESSION_ATTRS as readonly string[]).includes(tsa))
    return `has target_session_attrs=${tsa}; accepted: ${TARGET_SESSION_ATTRS.join(", ")}`;
  return { hosts, database, user, params };
}

/**
 * The DSN without its password, for logs and messages: rebuilt from the parsed parts, so a password
 * the parser would not accept is never shown in part. A DSN that does not parse is shown as its
 * scheme and ***.
 */
export function redactDsn(dsn: string): string {
  const s = dsn.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(s)?.[1];
  const p = parsePostgresDsn(s);
  if (typeof p === "string") return scheme !== undefined ? `${scheme}://***` : "***";
  const rest = s.slice(s.indexOf("://") + 3);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const tail = end < 0 ? "" : rest.slice(end);
  const at = authority.lastIndexOf("@");
  const hosts = authority.slice(at + 1);
  let user = "";
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(":");
    user = colon >= 0 ? `${userinfo.slice(0, colon)}:***@` : `${userinfo}@`;
  }
  return `${scheme}://${user}${hosts}${redactQuery(tail)}`;
}

/** A `password=` query parameter is a password too (libpq reads it). */
function redactQuery(tail: string): string {
  return tail.replace(/([?&]password=)[^&]*/gi, "$1***");
}
