/**
 * Checked reading of Lotus JSON results.
 *
 * Every value taken from a node's answer goes through `Json`, which knows the method and the path of
 * the field it holds ("Blocks[0].Timestamp"), so anything of the wrong shape becomes one
 * CHAIN_BAD_RESPONSE naming both, never a TypeError deep in the PoSter or a silently wrong value.
 *
 * Encodings (Lotus `chain/types` and go-state-types JSON marshalling):
 *  - CIDs are `{"/": "<cid string>"}`; Lotus prints CIDv1 in base32 ("bafy…", "bagboea…"), CIDv0 as
 *    base58 "Qm…";
 *  - []byte is standard base64 with padding (Go encoding/json);
 *  - big.Int (token amounts) is a decimal string;
 *  - epochs, ids and sizes are JSON numbers (int64/uint64; real values stay below 2^53).
 */

import { parseCidV1 } from "../../util/cid.js";
import { SmError } from "../../util/errors.js";
import { parseAddress } from "../address.js";
import { BitField } from "../bitfield.js";

export function badResponse(method: string, path: string, why: string): SmError {
  const where = path === "" ? "the result" : `field ${path}`;
  return new SmError("CHAIN_BAD_RESPONSE", `${method}: malformed response: ${where} ${why}`, {
    method,
    field: path,
  });
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === "object") return "an object";
  return `${typeof v} ${String(v)}`;
}

const BASE58 = /^Qm[1-9A-HJ-NP-Za-km-z]{44}$/;

/** Why `s` is not a CID string Lotus would print, or null when it is one. */
export function cidStringProblem(s: string): string | null {
  if (BASE58.test(s)) return null; // CIDv0: base58btc sha2-256 multihash, always "Qm" + 44 characters
  if (!s.startsWith("b")) return "is not a base32 CIDv1 (prefix 'b') or CIDv0 (Qm…) string";
  try {
    // A node's answer is not ours to bound: any digest length the header states is accepted.
    parseCidV1(s, { maxDigestLength: Number.POSITIVE_INFINITY });
    return null;
  } catch (e) {
    return `is not a valid CID (${e instanceof Error ? e.message : String(e)})`;
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** One JSON value of a method's result, with the path that reached it. */
export class Json {
  constructor(
    readonly method: string,
    readonly value: unknown,
    readonly path = "",
  ) {}

  fail(why: string): never {
    throw badResponse(this.method, this.path, why);
  }

  private child(seg: string, value: unknown): Json {
    return new Json(
      this.method,
      value,
      this.path === "" ? seg : seg.startsWith("[") ? this.path + seg : `${this.path}.${seg}`,
    );
  }

  isNull(): boolean {
    return this.value === null || this.value === undefined;
  }

  /** A key of an object; a missing key reads as undefined, which every getter rejects. */
  get(key: string): Json {
    const v = this.value;
    if (typeof v !== "object" || v === null || Array.isArray(v))
      this.fail(`is ${describe(v)}, expected an object`);
    const r = v as Record<string, unknown>;
    if (!Object.hasOwn(r, key)) return this.child(key, undefined);
    return this.child(key, r[key]);
  }

  /** The elements; `null` reads as [] when `nullIsEmpty` (Go nil slices marshal as null). */
  array(nullIsEmpty = false): Json[] {
    const v = this.value;
    if (nullIsEmpty && v === null) return [];
    if (!Array.isArray(v)) this.fail(`is ${describe(v)}, expected an array`);
    return v.map((e, i) => this.child(`[${i}]`, e));
  }

  private missing(): void {
    if (this.value === undefined) this.fail("is missing");
  }

  str(): string {
    this.missing();
    if (typeof this.value !== "string") this.fail(`is ${describe(this.value)}, expected a string`);
    return this.value;
  }

  /** An integer in [min, max] (defaults: safe integers). */
  int(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
    this.missing();
    const v = this.value;
    if (typeof v !== "number" || !Number.isInteger(v)) this.fail(`is ${describe(v)}, expected an integer`);
    if (v < min || v > max) this.fail(`is ${v}, outside ${min}..${max}`);
    return v;
  }

  uint(): number {
    return this.int(0);
  }

  /** A chain epoch (int64; negative only before genesis-relative offsets, e.g. early deadlines). */
  epoch(): number {
    return this.int();
  }

  /** A CID link `{"/": "…"}`. */
  cid(): string {
    this.missing();
    const s = this.get("/").str();
    const problem = cidStringProblem(s);
    if (problem !== null) this.child("/", s).fail(problem);
    return s;
  }

  cidOrNull(): string | null {
    return this.isNull() ? null : this.cid();
  }

  /** Go []byte: standard padded base64; null (a nil slice) is empty. */
  bytes(): Uint8Array {
    this.missing();
    if (this.value === null) return new Uint8Array(0);
    const s = this.str();
    if (!BASE64.test(s)) this.fail("is not standard padded base64");
    const b = Buffer.from(s, "base64");
    // Rejects non-canonical spellings (stray bits in the last character) so one value has one form.
    if (b.toString("base64") !== s) this.fail("is not canonical base64");
    return new Uint8Array(b); // a copy: Buffer.from may return a view into Node's shared pool
  }

  /** big.Int as a decimal string (attoFIL). */
  tokenAmount(allowNegative = false): bigint {
    const s = this.str();
    if (!(allowNegative ? /^-?\d+$/ : /^\d+$/).test(s)) this.fail("is not a decimal integer string");
    return BigInt(s);
  }

  /** An address string (validated, returned as given). */
  address(idOnly = false): string {
    const s = this.str();
    let protocol: number;
    try {
      protocol = parseAddress(s).address.protocol;
    } catch (e) {
      this.fail(`is not a Filecoin address (${e instanceof Error ? e.message : String(e)})`);
    }
    if (idOnly && protocol !== 0) this.fail("is not an ID address (f0…)");
    return s;
  }

  /** An RLE run-length array (go-bitfield JSON), as BitField. */
  bitfield(): BitField {
    this.missing();
    try {
      return BitField.fromLotusJSON(this.value);
    } catch (e) {
      this.fail(`is not a bitfield run array (${e instanceof Error ? e.message : String(e)})`);
    }
  }
}
