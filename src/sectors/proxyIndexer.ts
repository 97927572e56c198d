/**
 * The sector index of another node, over JSON-RPC (`daemon run --proxy=ip:port`).
 *
 * Read-only: writes are refused with a message that says where to make them. No cache: every answer
 * comes from the source at the time of the call, so a sector attached on the source is visible here
 * at once. When the source is down, lookups fail with a clear error and nothing else is affected; the
 * next lookup after it returns succeeds (a new connection is made per failure by fetch).
 *
 * Batches use `Venus.SectorIndexerFindMany`; against a damocles source, which has no such method,
 * the proxy falls back to one `Venus.SectorIndexerFind` per sector with bounded parallelism.
 *
 * The source is not trusted. Every answer's shape is checked before it is used; an answer larger than
 * MAX_SOURCE_ANSWER_BYTES is dropped while it streams in. Whatever goes wrong on the source's side is
 * raised as ONE error of ours that names the source: SECTORS_SOURCE_UNAVAILABLE (unreachable, timed
 * out), SECTORS_SOURCE_REFUSED (the source refused this proxy's token), SECTORS_SOURCE_ERROR (the
 * source answered an error: only its first line, bounded, is quoted, so a stack trace or a forged
 * code never reaches our callers) or SECTORS_BAD_RESPONSE (not JSON, too large, wrong shape). The
 * source's own codes (RPC_UNAUTHENTICATED, ...) are never answered as ours.
 */
import type { Logger } from "../log/logger.js";
import type { RpcClient } from "../rpc/client.js";
import { RpcError } from "../rpc/errors.js";
import { mapLimit } from "../util/concurrency.js";
import { AbortedError, type ErrorCode, errorMessage, SmError } from "../util/errors.js";
import type {
  IndexCounts,
  IndexerOptions,
  IndexRecord,
  IndexType,
  SectorIndexer,
  SectorLocation,
  SectorRef,
} from "./interface.js";
import { indexCountsFromWire, isInstanceName, MAX_SECTORS_PER_CALL } from "./rpcApi.js";

/** Parallel single lookups when the source has no batched method (damocles). */
const FALLBACK_PARALLELISM = 16;
/**
 * Sectors per batched call to the source: two full 32 GiB partitions (2349 each) and then some. With
 * MAX_SOURCE_ANSWER_BYTES that leaves over 6 KiB per sector, far above any real answer.
 */
export const SOURCE_BATCH = Math.min(5000, MAX_SECTORS_PER_CALL);
/** The largest answer read from the source (node.ts gives it to the proxy's RpcClient). */
export const MAX_SOURCE_ANSWER_BYTES = 32 * 1024 * 1024;
/** Characters of the source's own error text quoted in ours. */
const MAX_QUOTE = 300;

/** Codes of a source that will likely answer again soon: reported as SECTORS_SOURCE_UNAVAILABLE. */
const PASSING_CODES: ReadonlySet<ErrorCode> = new Set(["ABORTED", "TIMEOUT", "SECTORS_SOURCE_UNAVAILABLE"]);
/** Codes by which a source refuses the caller: ours, and the numbers our server answers them with. */
const REFUSED_CODES: ReadonlySet<ErrorCode> = new Set([
  "RPC_UNAUTHENTICATED",
  "RPC_PERMISSION_DENIED",
  "RPC_-32001",
  "RPC_-32002",
]);

/** The first line of a peer's text, without control characters, at most MAX_QUOTE characters. */
export function quotePeer(text: string): string {
  const first = (text.split(/\r?\n/, 1)[0] ?? "").replace(/[\u0000-\u001f\u007f-\u009f]/g, " ").trim();
  const cut = first.length > MAX_QUOTE ? `${first.slice(0, MAX_QUOTE)}…` : first;
  return cut === "" ? "(no message)" : cut;
}

function shortJson(v: unknown): string {
  return quotePeer(JSON.stringify(v) ?? String(v)).slice(0, 120);
}

const SOURCE_CANNOT_READ = "the source cannot read this sector's record: ";

/** One answer about one sector; a string says what is wrong with it. */
function decodeLocation(v: unknown): SectorLocation | string {
  const o = v as { Found?: unknown; Instance?: unknown; Error?: unknown } | null;
  if (!o || typeof o !== "object" || Array.isArray(o) || typeof o.Found !== "boolean")
    return `an answer without a Found flag: ${shortJson(v)}`;
  if (!o.Found) {
    if (typeof o.Error === "string" && o.Error !== "") return `${SOURCE_CANNOT_READ}${quotePeer(o.Error)}`;
    return { found: false, instance: { sealedFile: "", cacheDir: "" } };
  }
  const inst = o.Instance as { SealedFile?: unknown; CacheDir?: unknown } | null | undefined;
  if (!inst || typeof inst !== "object") return "a found sector without an Instance object";
  if (!isInstanceName(inst.SealedFile)) return "a found sector without a valid SealedFile instance name";
  const cache = inst.CacheDir;
  if (cache !== undefined && cache !== "" && !isInstanceName(cache))
    return "a found sector with a CacheDir that is not an instance name";
  return {
    found: true,
    instance: { sealedFile: inst.SealedFile, cacheDir: isInstanceName(cache) ? cache : inst.SealedFile },
  };
}

export class ProxyIndexer implements SectorIndexer {
  readonly readOnly = true;
  readonly description: string;
  private hasFindMany: boolean | undefined;

  constructor(
    private readonly client: RpcClient,
    private readonly source: string,
    private readonly logger: Logger,
  ) {
    this.description = `proxy ${source}`;
  }

  /** The source answers, but not as a venus-sector-manager (or damocles) node would. */
  private notANode(what: string, fields: Record<string, unknown> = {}): SmError {
    return new SmError(
      "SECTORS_BAD_RESPONSE",
      `source node ${this.source} answers, but is not a venus-sector-manager node: ${what}; --proxy must be the source node's RPC address (the host:port in its <home>/api file)`,
      { source: this.source, ...fields },
    );
  }

  /**
   * What listens at --proxy, asked once at start: a node (its version), unreachable for now, refusing
   * this proxy's token, or something that answers but is not a venus-sector-manager node (a Lotus
   * node, a web server: it has neither Venus.Version nor the sector lookup). A source without
   * Venus.Version whose lookup answers (damocles) is a node. `signal` (the node's shutdown) ends it at
   * once, so a SIGTERM during start does not wait for a hung source.
   */
  async probe(
    signal?: AbortSignal,
  ): Promise<
    { state: "node"; version: string } | { state: "unreachable" | "refused" | "not-a-node"; err: string }
  > {
    const classify = (e: unknown, method: string): SmError => {
      try {
        return this.wrap(e, method, {});
      } catch (w) {
        return w instanceof SmError ? w : new SmError("SECTORS_SOURCE_ERROR", errorMessage(w));
      }
    };
    let versionProblem: string;
    try {
      const info = await this.client.call<{ Version?: unknown } | null>("Venus.Version", [], {
        timeoutMs: 3000,
        signal,
      });
      if (info && typeof info === "object" && typeof info.Version === "string")
        return { state: "node", version: quotePeer(info.Version) };
      versionProblem = `Venus.Version answered ${shortJson(info)}, without a Version`;
    } catch (e) {
      signal?.throwIfAborted();
      const w = classify(e, "Venus.Version");
      if (w.code === "SECTORS_SOURCE_UNAVAILABLE") return { state: "unreachable", err: errorMessage(e) };
      if (w.code === "SECTORS_SOURCE_REFUSED") return { state: "refused", err: w.message };
      versionProblem =
        e instanceof RpcError && e.code === "RPC_METHOD_NOT_FOUND"
          ? "it has no Venus.Version"
          : `Venus.Version: ${quotePeer(errorMessage(e))}`;
    }
    // damocles has the sector lookup but maybe not Venus.Version: a lookup that answers makes it a node.
    try {
      const timeout = AbortSignal.timeout(3000);
      await this.find(
        "normal",
        { miner: 0, number: 0 },
        { signal: signal ? AbortSignal.any([signal, timeout]) : timeout },
      );
      return { state: "node", version: "unknown" };
    } catch (e) {
      signal?.throwIfAborted();
      if (e instanceof AbortedError)
        return { state: "unreachable", err: `${this.source} did not answer a sector lookup within 3 s` };
      if (e instanceof SmError && e.code === "SECTORS_SOURCE_UNAVAILABLE")
        return { state: "unreachable", err: e.message };
      if (e instanceof SmError && e.code === "SECTORS_SOURCE_REFUSED")
        return { state: "refused", err: e.message };
      return { state: "not-a-node", err: this.notANode(versionProblem).message };
    }
  }

  private badAnswer(method: string, what: string): SmError {
    return new SmError(
      "SECTORS_BAD_RESPONSE",
      `sector lookup failed: source node ${this.source} answered ${method} with ${what}; check that it runs venus-sector-manager (or damocles) on that address`,
      { source: this.source, method },
    );
  }

  /** Any failure of a call to the source, as one error of ours naming the source. */
  private wrap(e: unknown, method: string, opts: IndexerOptions): never {
    // Our caller's own abort is not the source's fault: pass it on as it is.
    if (opts.signal?.aborted) throw e instanceof SmError ? e : new AbortedError("sector lookup aborted");
    const fields = { source: this.source, method };
    const unavailable = (why: string) =>
      new SmError(
        "SECTORS_SOURCE_UNAVAILABLE",
        `sector lookup failed: source node ${this.source} is unavailable (${why}); this proxy keeps running and lookups succeed again as soon as the source is back`,
        fields,
      );
    const refused = (why: string) =>
      new SmError(
        "SECTORS_SOURCE_REFUSED",
        `sector lookup failed: source node ${this.source} refused ${method} from this proxy (${why}); start the proxy with --proxy-token=<a read token of the source> (its <home>/token, or one from Venus.AuthNew), or allow anonymous reads on the source`,
        fields,
      );
    if (e instanceof RpcError) {
      const quoted = quotePeer(e.message);
      // The source is stopping, timed out, or is itself a proxy whose source is down: worth a retry.
      if (PASSING_CODES.has(e.code)) throw unavailable(`it answered: ${quoted}`);
      if (REFUSED_CODES.has(e.code)) throw refused(quoted);
      if (e.code === "RPC_METHOD_NOT_FOUND") throw this.notANode(`it has no ${method}`, { method });
      throw new SmError(
        "SECTORS_SOURCE_ERROR",
        `sector lookup failed: source node ${this.source} answered ${method} with an error: ${quoted}; see the source node's log`,
        fields,
      );
    }
    if (e instanceof SmError && (e.code === "RPC_UNREACHABLE" || e.code === "TIMEOUT"))
      throw unavailable(e.message);
    // A gateway in front of the source answering 502/503/504 with a page of its own.
    const status = e instanceof SmError ? e.fields.status : undefined;
    if (
      e instanceof SmError &&
      e.code === "RPC_BAD_RESPONSE" &&
      typeof status === "number" &&
      status >= 502 &&
      status <= 504
    )
      throw unavailable(`HTTP ${status}`);
    // damocles' auth middleware answers a bad token with a plain-text 401.
    if (e instanceof SmError && e.code === "RPC_BAD_RESPONSE" && (status === 401 || status === 403))
      throw refused(`HTTP ${status}`);
    if (e instanceof SmError && e.code === "RPC_ANSWER_TOO_LARGE")
      throw this.badAnswer(method, `more than ${MAX_SOURCE_ANSWER_BYTES} bytes (dropped unread)`);
    if (e instanceof SmError && e.code === "RPC_BAD_RESPONSE")
      throw this.notANode(
        `it answered ${method} with something that is not a JSON-RPC answer${typeof status === "number" ? ` (HTTP ${status})` : ""}`,
        { method },
      );
    if (e instanceof SmError && e.code === "SECTORS_BAD_RESPONSE") throw e;
    throw new SmError(
      "SECTORS_SOURCE_ERROR",
      `sector lookup failed: calling ${method} on source node ${this.source} failed: ${quotePeer(errorMessage(e))}`,
      fields,
    );
  }

  async find(type: IndexType, s: SectorRef, opts: IndexerOptions = {}): Promise<SectorLocation> {
    const method = "Venus.SectorIndexerFind";
    let r: unknown;
    try {
      r = await this.client.call(method, [type, { Miner: s.miner, Number: s.number }], opts);
    } catch (e) {
      return this.wrap(e, method, opts);
    }
    const loc = decodeLocation(r);
    if (typeof loc === "string") throw this.badAnswer(method, `${loc} (sector ${s.miner}-${s.number})`);
    return loc;
  }

  async findMany(
    type: IndexType,
    sectors: readonly SectorRef[],
    opts: IndexerOptions = {},
  ): Promise<SectorLocation[]> {
    if (sectors.length === 0) return [];
    if (this.hasFindMany === false) return this.findEach(type, sectors, opts);
    const method = "Venus.SectorIndexerFindMany";
    const out: SectorLocation[] = [];
    for (let i = 0; i < sectors.length; i += SOURCE_BATCH) {
      const refs = sectors.slice(i, i + SOURCE_BATCH);
      const chunk = refs.map((s) => ({ Miner: s.miner, Number: s.number }));
      let r: unknown;
      try {
        r = await this.client.call<unknown>(method, [type, chunk], opts);
      } catch (e) {
        if (e instanceof RpcError && e.code === "RPC_METHOD_NOT_FOUND" && this.hasFindMany === undefined) {
          this.hasFindMany = false;
          this.logger.info(
            "source has no batched lookup (damocles?); using one SectorIndexerFind per sector",
            {
              source: this.source,
            },
          );
          return this.findEach(type, sectors, opts);
        }
        return this.wrap(e, method, opts);
      }
      if (!Array.isArray(r) || r.length !== chunk.length) {
        throw this.badAnswer(
          method,
          `${Array.isArray(r) ? `${r.length} results` : `no list (${shortJson(r)})`} for a batch of ${chunk.length} lookups`,
        );
      }
      // A wrong-shaped element means a broken source, not one bad record: the whole answer is refused.
      // A record the source itself reports as damaged (Error) fails that sector only.
      for (const [j, v] of r.entries()) {
        const loc = decodeLocation(v);
        if (typeof loc !== "string") {
          out.push(loc);
          continue;
        }
        const ref = refs[j]!;
        if (!loc.startsWith(SOURCE_CANNOT_READ))
          throw this.badAnswer(method, `${loc} (sector ${ref.miner}-${ref.number})`);
        out.push({
          found: false,
          instance: { sealedFile: "", cacheDir: "" },
          error: `source node ${this.source}: ${loc}`,
        });
      }
      this.hasFindMany = true;
    }
    return out;
  }

  /**
   * One Find per sector. An error about one sector (a bad answer, the source's error for that record)
   * fails that sector only, unless every sector failed: then the source is broken, and the batch fails.
   */
  private async findEach(
    type: IndexType,
    sectors: readonly SectorRef[],
    opts: IndexerOptions,
  ): Promise<SectorLocation[]> {
    let firstError: SmError | undefined;
    const out = await mapLimit(sectors, FALLBACK_PARALLELISM, async (s): Promise<SectorLocation> => {
      try {
        return await this.find(type, s, opts);
      } catch (e) {
        if (
          e instanceof SmError &&
          (e.code === "SECTORS_BAD_RESPONSE" || e.code === "SECTORS_SOURCE_ERROR")
        ) {
          firstError ??= e;
          return {
            found: false,
            instance: { sealedFile: "", cacheDir: "" },
            error: `sector ${s.miner}-${s.number}: ${e.message}`,
          };
        }
        throw e;
      }
    });
    if (firstError && out.every((l) => l.error !== undefined)) throw firstError;
    return out;
  }

  async update(_type: IndexType, _records: readonly IndexRecord[], _opts?: IndexerOptions): Promise<void> {
    throw new SmError(
      "SECTORS_READ_ONLY",
      `this node's sector index is read-only: it reads sector locations from the source node ${this.source} (--proxy); attach or index sectors on the source node instead`,
      { source: this.source },
    );
  }

  async counts(opts: IndexerOptions = {}): Promise<IndexCounts> {
    const method = "Venus.SectorIndexerCounts";
    let r: unknown;
    try {
      r = await this.client.call(method, [], opts);
    } catch (e) {
      return this.wrap(e, method, opts);
    }
    const c = indexCountsFromWire(r);
    if (typeof c === "string") throw this.badAnswer(method, `counts of the wrong shape (${c})`);
    return c;
  }
}
