/**
 * The ext-prover stdio protocol, as damocles' manager and its `vc-processors` speak it
 * (reference/damocles-poster.md §1.3–§1.6, §9.2). Both our `wdpost`/`winpost` processor and the
 * ext-prover supervisor use these definitions, so either side can be swapped for damocles'.
 *
 * - Newline-delimited JSON in both directions, one object per line.
 * - The child's first stdout line is exactly `<stage> processor ready`.
 * - Request `{"id": u64, "task": <task>}`; response `{"id": u64, "err_msg": string|null, "output": <output>|null}`.
 * - window_post / winning_post task: `{"miner_id", "proof_type", "replicas": [{"sector_id", "comm_r":
 *   [32 ints], "cache_dir", "sealed_file"}], "seed": [32 ints]}`; output `{"proofs": [base64 with
 *   padding], "faults": [sector numbers]}` (winning: `{"proofs": [...]}`).
 */

import { decodeBase64 } from "../util/base64.js";
import { SmError } from "../util/errors.js";
import { ByteSpan, decodeBase64Span, parseJsonBytes } from "./jsonBytes.js";

export type Stage = "window_post" | "winning_post";
export const STAGES: readonly Stage[] = ["window_post", "winning_post"];

export function readyLine(stage: Stage): string {
  return `${stage} processor ready`;
}

/**
 * Every line limit stays far below V8's longest string (2^29 - 24 characters, ~512 MiB): a line is
 * turned into one string before JSON.parse, and a longer one would throw ERR_STRING_TOO_LONG.
 * LineSplitter clamps any limit to this ceiling.
 */
export const LINE_BYTES_CEILING = 256 * 1024 * 1024;
/** Request lines longer than this are refused rather than buffered (a 2349-sector request is ~1 MiB). */
export const MAX_REQUEST_LINE_BYTES = 64 * 1024 * 1024;
/**
 * Response lines longer than this are skipped without being buffered. The longest real answer is one
 * request's worth (one partition): a SNARK is 192 bytes per partition, a WindowPoSt vanilla output of
 * a full 32 GiB or 64 GiB partition is ~58 MB of proofs (~80 MB as base64 in JSON). 128 MiB leaves
 * 1.6x of margin above that and 4x below V8's string limit.
 */
export const MAX_RESPONSE_LINE_BYTES = 128 * 1024 * 1024;

export interface Replica {
  sectorId: number;
  commR: Uint8Array;
  cacheDir: string;
  sealedFile: string;
}

export interface PoStTask {
  minerId: number;
  proofType: string;
  replicas: Replica[];
  seed: Uint8Array;
}

export interface PoStOutput {
  proofs: Uint8Array[];
  faults: number[];
}

export interface Request {
  id: number;
  task: PoStTask;
}

export interface Response {
  id: number;
  errMsg: string | null;
  output: PoStOutput | null;
}

export class ProtocolError extends SmError {
  override name = "ProtocolError";
  constructor(message: string) {
    super("EXT_PROTOCOL", message);
  }
}

function u64(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new ProtocolError(`${what} must be a non-negative integer, got ${JSON.stringify(v) ?? String(v)}`);
  }
  return v;
}

function str(v: unknown, what: string): string {
  if (typeof v !== "string") throw new ProtocolError(`${what} must be a string`);
  return v;
}

/** `[32]byte` travels as a JSON array of 32 integers (Go arrays are not base64). */
export function bytes32FromJson(v: unknown, what: string): Uint8Array {
  if (!Array.isArray(v) || v.length !== 32)
    throw new ProtocolError(`${what} must be an array of 32 integers`);
  const out = new Uint8Array(32);
  v.forEach((x, i) => {
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > 255)
      throw new ProtocolError(`${what}[${i}] must be an integer 0..255`);
    out[i] = x;
  });
  return out;
}

export function bytes32ToJson(b: Uint8Array): number[] {
  return Array.from(b);
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new ProtocolError(`${what} must be an object`);
  return v as Record<string, unknown>;
}

export function taskFromJson(v: unknown): PoStTask {
  const t = obj(v, "task");
  const replicas = t.replicas;
  if (!Array.isArray(replicas)) throw new ProtocolError("task.replicas must be an array");
  return {
    minerId: u64(t.miner_id, "task.miner_id"),
    proofType: str(t.proof_type, "task.proof_type"),
    replicas: replicas.map((r, i) => {
      const o = obj(r, `task.replicas[${i}]`);
      return {
        sectorId: u64(o.sector_id, `task.replicas[${i}].sector_id`),
        commR: bytes32FromJson(o.comm_r, `task.replicas[${i}].comm_r`),
        cacheDir: str(o.cache_dir, `task.replicas[${i}].cache_dir`),
        sealedFile: str(o.sealed_file, `task.replicas[${i}].sealed_file`),
      };
    }),
    seed: bytes32FromJson(t.seed, "task.seed"),
  };
}

export function taskToJson(t: PoStTask): Record<string, unknown> {
  return {
    miner_id: t.minerId,
    proof_type: t.proofType,
    replicas: t.replicas.map((r) => ({
      sector_id: r.sectorId,
      comm_r: bytes32ToJson(r.commR),
      cache_dir: r.cacheDir,
      sealed_file: r.sealedFile,
    })),
    seed: bytes32ToJson(t.seed),
  };
}

/** One line's JSON value; a ProtocolError naming the `what` line and its start when it is not JSON. */
function jsonLine(line: string, what: "request" | "response"): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new ProtocolError(`${what} line is not JSON: ${line.slice(0, 80)}`);
  }
}

/** Parse one request line; throws ProtocolError naming what is wrong. */
export function parseRequestLine(line: string): Request {
  const o = obj(jsonLine(line, "request"), "request");
  return { id: u64(o.id, "request.id"), task: taskFromJson(o.task) };
}

export function encodeRequest(r: Request): string {
  return JSON.stringify({ id: r.id, task: taskToJson(r.task) });
}

export function encodeResponse(stage: Stage, r: Response): string {
  let output: Record<string, unknown> | null = null;
  if (r.output) {
    const proofs = r.output.proofs.map((p) => Buffer.from(p).toString("base64"));
    output = stage === "window_post" ? { proofs, faults: r.output.faults } : { proofs };
  }
  return JSON.stringify({ id: r.id, err_msg: r.errMsg, output });
}

/** A proof as a response carries it; `proofs` holds ByteSpans when read by parseResponseBytes. */
function proofFromJson(p: unknown, i: number): Uint8Array {
  if (p instanceof ByteSpan) {
    const b = decodeBase64Span(p);
    if (!b) throw new ProtocolError(`response.output.proofs[${i}] is not padded base64`);
    return b;
  }
  const b = decodeBase64(str(p, `response.output.proofs[${i}]`));
  if (!b) throw new ProtocolError(`response.output.proofs[${i}] is not padded base64`);
  return b;
}

function responseFromJson(v: unknown): Response {
  const o = obj(v, "response");
  const id = u64(o.id, "response.id");
  const errMsg = o.err_msg === null || o.err_msg === undefined ? null : str(o.err_msg, "response.err_msg");
  if (o.output === null || o.output === undefined) return { id, errMsg, output: null };
  const out = obj(o.output, "response.output");
  const proofsRaw = out.proofs ?? [];
  if (!Array.isArray(proofsRaw)) throw new ProtocolError("response.output.proofs must be an array");
  const proofs = proofsRaw.map(proofFromJson);
  const faultsRaw = out.faults ?? [];
  if (!Array.isArray(faultsRaw)) throw new ProtocolError("response.output.faults must be an array");
  const faults = faultsRaw.map((f, i) => u64(f, `response.output.faults[${i}]`));
  return { id, errMsg, output: { proofs, faults } };
}

/** Parse one response line from a child; throws ProtocolError for anything that is not a response. */
export function parseResponseLine(line: string): Response {
  return responseFromJson(jsonLine(line, "response"));
}

/** Strings this long in an answer are proofs (a vanilla proof is KBs, a SNARK 192 bytes as 256). */
const PROOF_SPAN_BYTES = 200;
/** Shorter lines are parsed as text: JSON.parse is quick on them, and they are most lines. */
export const BYTES_PARSE_MIN = 64 * 1024;

/**
 * Parse one response line as it came, in bytes (no CR, no newline). A long line (a partition of
 * vanilla proofs) is read by jsonBytes.ts: the proofs are decoded from the line's bytes to their own,
 * without the ~80 MB string and JSON.parse that would hold the event loop. It returns what
 * parseResponseLine of the same text returns; for whatever it cannot take as a response (bad JSON,
 * bad base64, a long string outside the proofs), it falls back to parseResponseLine, so the error is
 * the same one too.
 */
export function parseResponseBytes(line: Buffer): Response {
  if (line.length >= BYTES_PARSE_MIN) {
    try {
      const { value, spans } = parseJsonBytes(line, PROOF_SPAN_BYTES);
      const proofs = proofSpanCount(value);
      if (proofs === spans.length) return responseFromJson(value);
    } catch {
      // Not a response this reader takes: parseResponseLine says why.
    }
  }
  return parseResponseLine(line.toString("utf8"));
}

/** How many spans sit where proofs go; any other span means the value is not a response we take. */
function proofSpanCount(v: unknown): number {
  const proofs = (v as { output?: { proofs?: unknown } } | null)?.output?.proofs;
  return Array.isArray(proofs) ? proofs.reduce((n: number, p) => n + (p instanceof ByteSpan ? 1 : 0), 0) : 0;
}

/** How many leading bytes of a skipped line are kept, so its owner can still read the request id. */
export const LINE_HEAD_BYTES = 64;

/**
 * Split a byte stream into lines without unbounded buffering: a line longer than `maxBytes` (clamped
 * to LINE_BYTES_CEILING) is reported through `onOverflow` with its length and its first bytes, and
 * skipped up to its newline; its bytes are dropped as they stream in, never held. Lines come out as
 * bytes, without their newline or a CR before it.
 */
export class ByteLineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private skipping = false;
  private head: Buffer = Buffer.alloc(0);
  private readonly maxBytes: number;

  constructor(
    private readonly onLine: (line: Buffer) => void,
    private readonly onOverflow: (bytes: number, head: Buffer) => void,
    maxBytes: number,
  ) {
    this.maxBytes = Math.max(1, Math.min(maxBytes, LINE_BYTES_CEILING));
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) {
        this.append(chunk.subarray(start));
        return;
      }
      this.append(chunk.subarray(start, nl));
      this.flush();
      start = nl + 1;
    }
  }

  private append(b: Buffer): void {
    if (b.length === 0) return;
    this.size += b.length;
    if (this.skipping) return;
    if (this.size > this.maxBytes) {
      this.skipping = true;
      // Only the first bytes are kept (a copy, so the chunks can be released); never the whole line.
      this.head = Buffer.concat([...this.parts, b], Math.min(LINE_HEAD_BYTES, this.size));
      this.parts = [];
      return;
    }
    this.parts.push(b);
  }

  private flush(): void {
    const { skipping, size, parts, head } = this;
    this.parts = [];
    this.size = 0;
    this.skipping = false;
    this.head = Buffer.alloc(0);
    if (skipping) {
      this.onOverflow(size, head);
      return;
    }
    const line = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size);
    this.onLine(line[line.length - 1] === 0x0d ? line.subarray(0, -1) : line);
  }

  /** Whatever is buffered without a final newline (at EOF). */
  end(): void {
    if (this.size > 0) this.flush();
  }
}

/** ByteLineSplitter with each line as UTF-8 text. */
export class LineSplitter extends ByteLineSplitter {
  constructor(
    onLine: (line: string) => void,
    onOverflow: (bytes: number, head: Buffer) => void,
    maxBytes: number,
  ) {
    super((b) => onLine(b.toString("utf8")), onOverflow, maxBytes);
  }
}
