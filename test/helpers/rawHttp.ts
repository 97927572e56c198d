/**
 * Raw HTTP over a TCP socket on loopback, for requests no HTTP client will send: malformed request
 * targets, broken headers, upgrades to odd paths. Resolves with what the server sent before it closed
 * the connection (or before `timeoutMs`), never rejects on a reset: a dropped connection is an answer.
 */
import net from "node:net";

export interface RawAnswer {
  /** HTTP status of the first response line, or 0 when none came back. */
  status: number;
  text: string;
  /** The server closed or reset the connection (false: we gave up after timeoutMs). */
  closed: boolean;
}

export function rawRequest(
  port: number,
  request: string | Buffer,
  timeoutMs = 3_000,
  /** Loopback source address (any of 127.0.0.0/8), to act as several clients. */
  localAddress?: string,
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host: "127.0.0.1", port, ...(localAddress ? { localAddress } : {}) });
    let settled = false;
    const done = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text, closed });
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on("data", (c: Buffer) => chunks.push(c));
    sock.on("end", () => done(true));
    sock.on("close", () => done(true));
    sock.on("error", () => done(true));
    sock.on("connect", () => sock.write(request));
  });
}

/** A request with `Connection: close`, so the answer ends with the connection. */
export function rawLine(line: string, headers: string[] = [], body = ""): string {
  const h = ["Host: 127.0.0.1", "Connection: close", ...headers];
  if (body !== "" || /^POST /.test(line)) h.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${line}\r\n${h.join("\r\n")}\r\n\r\n${body}`;
}

/** An upgrade to WebSocket on `target`, as a browser would send it. */
export function rawUpgrade(target: string, headers: string[] = []): string {
  return [
    `GET ${target} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Connection: Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ...headers,
    "",
    "",
  ].join("\r\n");
}

/** The malformed request lines of issue 10 and their kin; none may take a server down. */
export const MALFORMED_REQUESTS: readonly { what: string; request: string; status: number[] }[] = [
  { what: "GET //", request: rawLine("GET // HTTP/1.1"), status: [404] },
  { what: "GET http://[::1", request: rawLine("GET http://[::1 HTTP/1.1"), status: [400] },
  { what: "POST //@:x", request: rawLine("POST //@:x HTTP/1.1"), status: [404] },
  {
    what: "GET //a:99999/healthcheck",
    request: rawLine("GET //a:99999/healthcheck HTTP/1.1"),
    status: [404],
  },
  {
    what: "GET http://a:99999/healthcheck",
    request: rawLine("GET http://a:99999/healthcheck HTTP/1.1"),
    status: [400],
  },
  { what: "GET *", request: rawLine("GET * HTTP/1.1"), status: [400] },
  { what: "GET no-slash", request: rawLine("GET rpc/v0 HTTP/1.1"), status: [400] },
  { what: "GET ftp://x/", request: rawLine("GET ftp://x/healthcheck HTTP/1.1"), status: [400] },
  { what: "POST /rpc/v0?%zz", request: rawLine("POST /rpc/v0?%zz&token=%ff HTTP/1.1"), status: [401] },
  { what: "GET /%00/..%2f", request: rawLine("GET /%00/..%2f HTTP/1.1"), status: [404] },
  { what: "upgrade to //", request: rawUpgrade("//"), status: [404] },
  { what: "upgrade to http://[::1", request: rawUpgrade("http://[::1"), status: [400] },
  { what: "upgrade to //@:x/rpc/v0", request: rawUpgrade("//@:x/rpc/v0"), status: [404] },
  {
    what: "upgrade with a bad key",
    request: rawUpgrade("/rpc/v0").replace(/Sec-WebSocket-Key: .*\r\n/, ""),
    status: [400],
  },
  { what: "garbage request line", request: "\x00\x01\x02 / HTTP/1.1\r\n\r\n", status: [400] },
  {
    what: "header without a colon",
    request: "GET /healthcheck HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",
    status: [400],
  },
];
