/**
 * Parsing and checking the address flags of `daemon run`, so that a typo stops the start with one
 * clear line instead of a bind error or a proxy that never connects.
 */
import net from "node:net";
import { SmError } from "../util/errors.js";

export interface HostPort {
  host: string;
  port: number;
}

function splitHostPort(v: string): { host: string; portText: string } | undefined {
  const s = v.trim();
  const bracket = /^\[([^\]]*)\]:(\d*)$/.exec(s);
  if (bracket) return { host: bracket[1] ?? "", portText: bracket[2] ?? "" };
  const idx = s.lastIndexOf(":");
  if (idx < 0) return undefined;
  const host = s.slice(0, idx);
  if (host.includes(":")) return undefined; // bare IPv6 without brackets is ambiguous
  return { host, portText: s.slice(idx + 1) };
}

const HOSTNAME_RE =
  /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

function checkHost(host: string, flag: string, raw: string): void {
  if (host === "" || net.isIP(host) !== 0 || HOSTNAME_RE.test(host)) return;
  throw new SmError(
    "FLAG_INVALID",
    `${flag}=${JSON.stringify(raw)}: ${JSON.stringify(host)} is neither an IP address nor a host name`,
  );
}

/** `--listen`: `[host]:port`; an empty host listens on every interface (as `:1789` does in Go). Port 0 picks a free port. */
export function parseListen(raw: string): HostPort {
  const parts = splitHostPort(raw);
  if (!parts) {
    throw new SmError(
      "FLAG_INVALID",
      `--listen=${JSON.stringify(raw)}: expected [host]:port, e.g. ":1789" or "127.0.0.1:1789" (IPv6: "[::1]:1789")`,
    );
  }
  const port = Number(parts.portText);
  if (parts.portText === "" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SmError(
      "FLAG_INVALID",
      `--listen=${JSON.stringify(raw)}: port must be a number from 0 to 65535`,
    );
  }
  checkHost(parts.host, "--listen", raw);
  return { host: parts.host, port };
}

/** `--proxy`: `{ip}:{port}` of the source node; an empty or wildcard host means this machine (as damocles). */
export function parseProxy(raw: string): HostPort {
  const s = raw.trim();
  if (/^[a-z]+:\/\//i.test(s)) {
    throw new SmError(
      "FLAG_INVALID",
      `--proxy=${JSON.stringify(raw)}: give the source node as {ip}:{port} without a scheme, e.g. --proxy=127.0.0.1:1789`,
    );
  }
  const parts = splitHostPort(s);
  const port = parts ? Number(parts.portText) : Number.NaN;
  if (!parts || parts.portText === "" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new SmError(
      "FLAG_INVALID",
      `--proxy=${JSON.stringify(raw)}: expected {ip}:{port} of the source node with a port from 1 to 65535, e.g. --proxy=127.0.0.1:1789`,
    );
  }
  checkHost(parts.host, "--proxy", raw);
  const host =
    parts.host === "" || parts.host === "0.0.0.0" ? "127.0.0.1" : parts.host === "::" ? "::1" : parts.host;
  return { host, port };
}

/** Longest node name, in characters: it is shown in tables and stored with every task a node holds. */
export const NODE_NAME_MAX = 128;

/**
 * `--name`: this node's name in the cluster. Non-empty, at most 128 characters, printable and without
 * white space (it is typed back as an argument, `vsm util cluster cordon NAME`, and shown in tables).
 */
export function parseNodeName(raw: string): string {
  const chars = [...raw];
  const bad = (why: string) =>
    new SmError(
      "FLAG_INVALID",
      `--name=${JSON.stringify(raw)}: ${why}; a node name is 1 to ${NODE_NAME_MAX} printable characters without spaces, e.g. --name=prover-3`,
    );
  if (chars.length === 0) throw bad("is empty");
  if (chars.length > NODE_NAME_MAX) throw bad(`is ${chars.length} characters long`);
  // \p{C}: control, format (zero-width), unassigned, private-use and lone surrogate code points.
  const odd = chars.find((c) => /[\p{C}\p{Z}\s]/u.test(c));
  if (odd !== undefined)
    throw bad(
      `contains ${/\s|\p{Z}/u.test(odd) ? "white space" : "a character that is not printable"} (U+${(odd.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")})`,
    );
  return raw;
}

/** The default `--name`: `<hostname>:<listen port>`, unique per machine because the port is. */
export function defaultNodeName(hostname: string, port: number): string {
  return `${hostname}:${port}`;
}
