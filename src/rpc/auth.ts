/**
 * API tokens: JWT (HS256) whose payload is `{"Allow": ["read", "write", ...]}`, the shape Lotus and
 * venus use, signed with a per-home secret (`<home>/auth.secret`, mode 0600). `daemon init` writes an
 * admin token to `<home>/token`.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { SmError } from "../util/errors.js";
import { PERMISSIONS, type Permission } from "./method.js";

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

export function newSecret(): Buffer {
  return randomBytes(32);
}

/** A token allowing `perm` and every lower permission. */
export function signToken(secret: Buffer, perm: Permission): string {
  const allow = PERMISSIONS.slice(0, PERMISSIONS.indexOf(perm) + 1);
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify({ Allow: allow }));
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(sig)}`;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Non-empty unpadded base64url that re-encodes to itself (no foreign characters, no stray bits). */
function isCanonicalBase64url(s: string): boolean {
  return BASE64URL.test(s) && Buffer.from(s, "base64url").toString("base64url") === s;
}

/** Permissions of a valid token; throws RPC_UNAUTHENTICATED for a malformed, forged or foreign token. */
export function verifyToken(secret: Buffer, token: string): Set<Permission> {
  const bad = (why: string) =>
    new SmError(
      "RPC_UNAUTHENTICATED",
      `invalid API token: ${why}; use the token in <home>/token of the node you are calling`,
    );
  const parts = token.split(".");
  if (parts.length !== 3) throw bad("not a JWT");
  const [head, body, sig] = parts as [string, string, string];
  // Node's base64url decoder skips characters outside the alphabet and ignores stray bits, so
  // "<token>!!" would decode to the same signature. Only the exact text the node signed is accepted.
  if (!isCanonicalBase64url(head) || !isCanonicalBase64url(body) || !isCanonicalBase64url(sig))
    throw bad("not a JWT (each part must be unpadded base64url with nothing around it)");
  const want = createHmac("sha256", secret).update(`${head}.${body}`).digest();
  const got = Buffer.from(sig, "base64url");
  if (got.length !== want.length || !timingSafeEqual(got, want))
    throw bad("signature does not match this node's secret");
  let header: unknown;
  let payload: unknown;
  try {
    header = JSON.parse(Buffer.from(head, "base64url").toString("utf8"));
    payload = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    throw bad("undecodable");
  }
  if ((header as { alg?: unknown })?.alg !== "HS256") throw bad("unsupported algorithm");
  const allow = (payload as { Allow?: unknown })?.Allow;
  if (!Array.isArray(allow)) throw bad("no Allow list");
  const perms = new Set<Permission>();
  for (const p of allow) if ((PERMISSIONS as readonly unknown[]).includes(p)) perms.add(p as Permission);
  return perms;
}

/** A higher permission implies the lower ones (an `["admin"]`-only token may read). */
export function hasPermission(perms: ReadonlySet<Permission>, need: Permission): boolean {
  const rank = PERMISSIONS.indexOf(need);
  return PERMISSIONS.some((p, i) => i >= rank && perms.has(p));
}
