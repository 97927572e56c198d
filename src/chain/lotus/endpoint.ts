/**
 * API endpoints as damocles and Lotus configs write them, turned into the URLs a JSON-RPC client dials.
 *
 * Accepted forms (what `[Common.API]` Gateway/Chain/Messager and Lotus' `FULLNODE_API_INFO` hold):
 *  - a multiaddr: `/ip4/127.0.0.1/tcp/1234`, `/ip6/::1/tcp/1234`, `/dns/host/tcp/443`, `/dns4/…`,
 *    `/dns6/…`, optionally followed by `/http`, `/https`, `/ws`, `/wss` (or `/tls/http`, `/tls/ws`) and
 *    venus' `/version/vN` (which overrides the API version, venus-shared `api/api_info.go` DialArgs);
 *  - `TOKEN:multiaddr` (lotus `cliutil.ParseApiInfo`, damocles `dep/util.go` extractAPIInfo): the part
 *    before the first ':' is the bearer token when the rest starts with '/' (or is a URL, as venus'
 *    `ParseApiInfo` also allows);
 *  - an http(s):// or ws(s):// URL. With no path (or "/") the API path is appended, as venus'
 *    DialArgs does; an explicit path (e.g. `/rpc/v1`) is kept.
 * A multiaddr without a transport means WebSocket (lotus/venus DialArgs default to `ws://`); either
 * way both an HTTP and a WebSocket URL are produced, since Lotus serves both on the same path (the
 * client tries the WebSocket first whatever the form: `lotus auth api-info` prints `/http`).
 *
 * The chain client speaks Lotus's v1 API only: a Chain entry whose path (ending in `/rpc/vN`, behind
 * a reverse proxy's prefix too) or `/version/` says another version is refused with the v1 form to use (go-jsonrpc rejects v1 param counts on v0, e.g.
 * StateWaitMsg takes 4 params on v1 and 2 on v0, so such an endpoint would fail every message wait).
 *
 * Tokens never appear in messages: inputs are echoed with the token part replaced by `<token>`.
 */
import { isIPv4, isIPv6 } from "node:net";
import type { SectorManagerConfig } from "../../config/types.js";
import { SmError } from "../../util/errors.js";

/**
 * Lotus' chain API (v1 FullNode) and venus-messager's API (v0) live under these paths; sophon-gateway's
 * proof events under /rpc/v2 (venus-shared `api/gateway/v2`, MajorVersion 2).
 */
export type ApiPath = "/rpc/v0" | "/rpc/v1" | "/rpc/v2";
export const CHAIN_API_PATH: ApiPath = "/rpc/v1";
export const MESSAGER_API_PATH: ApiPath = "/rpc/v0";
export const GATEWAY_API_PATH: ApiPath = "/rpc/v2";

export interface ApiEndpoint {
  httpUrl: string;
  wsUrl: string;
  /** Bearer token, or null to send no Authorization header. */
  token: string | null;
  /** The config key it came from ("Common.API.Chain"), for messages. */
  key: string;
}

export const ACCEPTED_FORMS =
  "/ip4/127.0.0.1/tcp/1234[/http|/https|/ws|/wss], /ip6/::1/tcp/1234, /dns/node.example.com/tcp/443/wss, " +
  "TOKEN:/ip4/127.0.0.1/tcp/1234, http(s)://host:port[/rpc/v1], ws(s)://host:port[/rpc/v1]";

const URL_SCHEME = /^(https?|wss?):\/\//i;
const ANY_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

type Scheme = "http" | "https" | "ws" | "wss";

/** The Lotus API version a URL path names: its last segments `/rpc/vN` (a trailing '/' allowed). */
const RPC_VERSION_SUFFIX = /\/rpc\/(v\d+)\/?$/;

/** The input with any token part hidden, for error messages. */
function shown(raw: string): string {
  const s = raw.trim();
  if (s.startsWith("/") || ANY_SCHEME.test(s)) return JSON.stringify(s.slice(0, 160));
  const i = s.indexOf(":");
  // "host:1234" is a common mistake and carries no secret; anything else before ':' may be a token.
  if (i > 0 && /^\d+$/.test(s.slice(i + 1))) return JSON.stringify(s);
  if (i >= 0) return JSON.stringify(`<token>:${s.slice(i + 1, i + 161)}`);
  return `<${s.length} characters, not shown in case it is a token>`;
}

function invalid(key: string, raw: string, why: string): never {
  throw new SmError(
    "CHAIN_ENDPOINT_INVALID",
    `${key}: cannot use ${shown(raw)} as an API endpoint: ${why}. Accepted forms: ${ACCEPTED_FORMS}`,
    { key },
  );
}

function otherScheme(s: Scheme): { http: string; ws: string } {
  const secure = s === "https" || s === "wss";
  return { http: secure ? "https" : "http", ws: secure ? "wss" : "ws" };
}

interface Urls {
  http: string;
  ws: string;
  /** The API version the entry names (`/version/vN`, a `/rpc/vN` path), or null when it names none. */
  version: string | null;
  /** The same entry written with `/rpc/v1`, for the message refusing another version. */
  asV1: string;
}

function fromMultiaddr(key: string, raw: string, ma: string, path: ApiPath): Urls {
  const parts = ma.replace(/\/+$/, "").split("/");
  // parts[0] is "" (the string starts with '/').
  let i = 1;
  const next = (what: string): string => {
    const v = parts[i++];
    if (v === undefined || v === "") invalid(key, raw, `multiaddr is missing ${what}`);
    return v;
  };
  const proto = next("a host component (ip4, ip6, dns, dns4 or dns6)");
  let host: string;
  const value = next(`the value of /${proto}`);
  if (proto === "ip4") {
    if (!isIPv4(value)) invalid(key, raw, `"${value}" is not an IPv4 address`);
    host = value;
  } else if (proto === "ip6") {
    if (!isIPv6(value)) invalid(key, raw, `"${value}" is not an IPv6 address`);
    host = `[${value}]`;
  } else if (proto === "dns" || proto === "dns4" || proto === "dns6") {
    if (!HOSTNAME.test(value)) invalid(key, raw, `"${value}" is not a host name`);
    host = value;
  } else {
    invalid(key, raw, `multiaddr must start with /ip4, /ip6, /dns, /dns4 or /dns6, not /${proto}`);
  }
  if (next("/tcp/<port>") !== "tcp") invalid(key, raw, "the host must be followed by /tcp/<port>");
  const portStr = next("the TCP port");
  const port = /^\d{1,5}$/.test(portStr) ? Number(portStr) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) invalid(key, raw, `"${portStr}" is not a TCP port (1-65535)`);

  let scheme: Scheme = "ws"; // lotus/venus DialArgs: no transport component means ws://
  let version: string | null = null;
  let tls = false;
  let transport = false;
  while (i < parts.length) {
    const p = next("a component");
    if (p === "tls" && !transport) tls = true;
    else if ((p === "http" || p === "https" || p === "ws" || p === "wss") && !transport) {
      transport = true;
      scheme = tls && p === "http" ? "https" : tls && p === "ws" ? "wss" : p;
    } else if (p === "version" && version === null) {
      version = next("the value of /version");
      if (!/^v\d+$/.test(version)) invalid(key, raw, `/version must be v<number>, not "${version}"`);
    } else invalid(key, raw, `unsupported or repeated multiaddr component /${p}`);
  }
  if (tls && !transport) scheme = "wss";
  const s = otherScheme(scheme);
  const fullPath = version === null ? path : `/rpc/${version}`;
  const asV1 = version === null ? ma : ma.replace(/\/version\/v\d+/, "/version/v1");
  return {
    http: `${s.http}://${host}:${port}${fullPath}`,
    ws: `${s.ws}://${host}:${port}${fullPath}`,
    version,
    asV1,
  };
}

function fromUrl(key: string, raw: string, u: string, path: ApiPath): Urls {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    invalid(key, raw, "not a valid URL");
  }
  if (url.username !== "" || url.password !== "")
    invalid(key, raw, "credentials in the URL are not supported; use TOKEN:multiaddr or Common.API.Token");
  if (url.hostname === "") invalid(key, raw, "the URL has no host");
  const scheme = url.protocol.slice(0, -1) as Scheme;
  const s = otherScheme(scheme);
  if (url.pathname === "/" || url.pathname === "") url.pathname = path;
  url.hash = "";
  // A path ending in /rpc/vN names that version, behind a reverse proxy's prefix too (/lotus/rpc/v0).
  const version = RPC_VERSION_SUFFIX.exec(url.pathname)?.[1] ?? null;
  const asV1 = new URL(url.toString());
  if (version !== null) asV1.pathname = url.pathname.replace(RPC_VERSION_SUFFIX, "/rpc/v1");
  url.protocol = `${s.http}:`;
  const http = url.toString();
  url.protocol = `${s.ws}:`;
  return {
    http,
    ws: url.toString(),
    version,
    asV1: asV1.toString(),
  };
}

/**
 * Parses one endpoint string. `defaultToken` (Common.API.Token) applies when the string carries none;
 * an empty token means none. `onlyVersion` refuses an entry naming another API version.
 */
export function parseApiEndpoint(
  raw: string,
  opts: { key: string; path: ApiPath; defaultToken?: string; onlyVersion?: "v1" },
): ApiEndpoint {
  const { key, path } = opts;
  if (typeof raw !== "string" || raw.trim() === "") invalid(key, String(raw ?? ""), "it is empty");
  const s = raw.trim();
  let token: string | null = null;
  let addr = s;
  const scheme = ANY_SCHEME.exec(s)?.[1];
  if (scheme !== undefined && !URL_SCHEME.test(s))
    invalid(key, raw, `unsupported URL scheme "${scheme}" (use http, https, ws or wss)`);
  if (!s.startsWith("/") && !URL_SCHEME.test(s)) {
    const i = s.indexOf(":");
    const rest = i >= 0 ? s.slice(i + 1) : "";
    if (i < 0 || !(rest.startsWith("/") || URL_SCHEME.test(rest))) {
      invalid(key, raw, "expected a multiaddr starting with '/', TOKEN:multiaddr or a URL");
    }
    if (i === 0) invalid(key, raw, "the token before ':' is empty");
    token = s.slice(0, i);
    if (/\s/.test(token)) invalid(key, raw, "the token contains whitespace");
    addr = rest;
  }
  const urls = addr.startsWith("/") ? fromMultiaddr(key, raw, addr, path) : fromUrl(key, raw, addr, path);
  if (opts.onlyVersion !== undefined && urls.version !== null && urls.version !== opts.onlyVersion) {
    const fixed = token === null ? urls.asV1 : `<token>:${urls.asV1}`;
    throw new SmError(
      "CHAIN_ENDPOINT_INVALID",
      `${key}: ${shown(raw)} names the Lotus API ${urls.version}; this client speaks ${opts.onlyVersion} only ` +
        `(go-jsonrpc refuses ${opts.onlyVersion} calls on ${urls.version}: StateWaitMsg takes 4 params on v1, 2 on v0). ` +
        `Use the ${opts.onlyVersion} form: ${JSON.stringify(fixed)}`,
      { key },
    );
  }
  const fallback = opts.defaultToken?.trim() ?? "";
  return {
    httpUrl: urls.http,
    wsUrl: urls.ws,
    token: token ?? (fallback === "" ? null : fallback),
    key,
  };
}

export interface ResolvedApi {
  chain: ApiEndpoint;
  /** null: no messager configured; messages go through the chain node's MpoolPushMessage. */
  messager: ApiEndpoint | null;
}

/**
 * Resolves `[Common.API]`: Chain and Messager fall back to Gateway[0] (damocles
 * `dep/sealer_constructor.go` BuildChainClient/BuildMessagerClient). Unlike damocles, a
 * `TOKEN:multiaddr` Gateway entry's own token is honoured on that fallback too.
 */
export function resolveApiEndpoints(
  api: Pick<SectorManagerConfig["Common"]["API"], "Gateway" | "Chain" | "Messager" | "Token">,
): ResolvedApi {
  const first = api.Gateway[0];
  const gw = first !== undefined && first.trim() !== "" ? first : undefined;
  const pick = (value: string, name: string): { raw: string; key: string } | null => {
    if (value.trim() !== "") return { raw: value, key: `Common.API.${name}` };
    if (gw !== undefined) return { raw: gw, key: "Common.API.Gateway[0]" };
    return null;
  };
  const c = pick(api.Chain, "Chain");
  if (c === null) {
    throw new SmError(
      "CHAIN_ENDPOINT_INVALID",
      `Common.API.Chain: no chain endpoint is configured; set Common.API.Chain (or Common.API.Gateway) ` +
        `to the Lotus/Venus node's API. Accepted forms: ${ACCEPTED_FORMS}`,
      { key: "Common.API.Chain" },
    );
  }
  const m = pick(api.Messager, "Messager");
  return {
    chain: parseApiEndpoint(c.raw, {
      key: c.key,
      path: "/rpc/v1",
      defaultToken: api.Token,
      onlyVersion: "v1",
    }),
    messager:
      m === null ? null : parseApiEndpoint(m.raw, { key: m.key, path: "/rpc/v0", defaultToken: api.Token }),
  };
}
