/**
 * One sophon-gateway, seen from a `--miner` node: one WebSocket (go-jsonrpc channels, rpc/channels.ts)
 * shared by one registration per miner, `Gateway.ListenProofEvent({MinerAddress})`, each kept alive by
 * its own loop; the events of every channel are answered with `Gateway.ResponseProofEvent` on the
 * channel's own connection. Shapes and sources: events.ts.
 *
 * Staying registered. When the socket drops (the gateway restarts, a proxy cuts it, no pong within a
 * ping period) every channel ends; each loop registers again after a backoff of 0.5 s doubling to 2 s
 * (reset by a registration that the gateway confirmed with InitConnect). A WinningPoSt request can
 * reach this node only through an open registration, so the cap is the longest a restarted gateway
 * waits for us: 2 s of a 30 s epoch. damocles retries every 1 s without growth. The miners of one
 * gateway share one socket, and every loop waits for the transport's next allowed dial (its `retryAt`,
 * set by the last failed dial with the same 0.5-to-2 s backoff) before it registers, so a gateway that
 * is down for hours sees one dial per 2 s, not one per miner. A failure that repeats word for word
 * (a gateway that is down, or refuses a miner's token) is logged once, then once a minute with a count.
 *
 * Answering. A ComputeProof is proven at once, outside the channel's read loop, so a long proof never
 * delays the next event. Its answer, a proof or the error that ended the proof (the WinningPoSt
 * service's own 25 s budget included), is sent as soon as it exists, on the connection its event came
 * on, with a 5 s limit for the gateway's confirmation. sophon-gateway (`types/base_event.go` sendOnce)
 * waits for an answer only while the request's channel lives: when the connection drops, go-jsonrpc
 * ends the channel's context and the gateway fails sophon-miner's call at once (or re-sends the request
 * on another registered channel under a new Id). An answer sent later, on a new connection, would be
 * taken into a request entry nobody reads, so it is not sent: the request is recorded as
 * `channel_closed`. Each Id is answered at most once; a request Id seen before (a gateway that
 * resends) is not proven or answered again.
 */
import type { ApiEndpoint } from "../../chain/lotus/endpoint.js";
import type { LogFields, Logger } from "../../log/logger.js";
import { RepeatedWarnings } from "../../log/repeated.js";
import type { Metrics } from "../../metrics/metrics.js";
import { GoChannels, type RpcChannel } from "../../rpc/channels.js";
import { nodeRpcError } from "../../rpc/client.js";
import { RpcError } from "../../rpc/errors.js";
import type { RpcFailure } from "../../rpc/transport.js";
import { errorMessage, SmError } from "../../util/errors.js";
import { sleep } from "../../util/time.js";
import { type ComputeProofRequest, poStProofsToWire } from "../computeProof.js";
import type { WinningPoStProof } from "../winningPost.js";
import {
  type DecodedEvent,
  decodeComputeProofEvent,
  decodeInitConnect,
  decodeRequestEvent,
  GATEWAY_API_NAMESPACE,
  LISTEN_METHOD,
  RESPONSE_METHOD,
  responseEvent,
} from "./events.js";
import { type GatewayRegistration, Registrations } from "./status.js";

/**
 * Proves a request of `miner` (the WinningPoSt service, shared by every gateway: see index.ts). It
 * settles on its own: the service's budget ends a proof that is too slow with its timeout error.
 */
export type ProveFn = (
  miner: number,
  req: ComputeProofRequest,
  signal: AbortSignal,
) => Promise<WinningPoStProof[]>;

export interface GatewayLinkOptions {
  endpoint: ApiEndpoint;
  /** host:port, for logs, metrics and the status. */
  label: string;
  miners: readonly number[];
  prove: ProveFn;
  logger: Logger;
  metrics?: Metrics;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Ping period of the socket; no pong within one period drops it (default 5 s). */
  pingIntervalMs?: number;
  /** How long an identical registration warning stays quiet (default REPEAT_WARN_MS). */
  repeatWarnMs?: number;
}

/** How long a request Id is remembered, to refuse it a second time: well past any gateway's timeout (5 min). */
const SEEN_FOR_MS = 15 * 60_000;
/** Longest wait between two registration attempts (see the header). */
const BACKOFF_MAX_MS = 2_000;
/** A ListenProofEvent the gateway does not answer within this is given up and tried again. */
const CALL_TIMEOUT_MS = 10_000;
/**
 * A ResponseProofEvent the gateway does not confirm within this is given up. The gateway takes an
 * answer under a lock and a map lookup; 5 s without a reply on an open socket (one ping period)
 * means it is stuck, and by then the block is lost whatever we do.
 */
export const RESPOND_TIMEOUT_MS = 5_000;
/** An identical warning about one registration is logged at most once per this (see the header). */
export const REPEAT_WARN_MS = 60_000;

/** What became of an answer: sent and confirmed, or why not. */
type Delivery = { delivered: true } | { delivered: false; closed: boolean; why: string };

/** Why a sent answer was not confirmed, worded by its cause. */
function respondFailure(e: unknown, stopping: boolean): string {
  if (stopping) return "the node is shutting down";
  if (e instanceof RpcError) return `the gateway refused it: ${errorMessage(e)}`;
  if (e instanceof SmError && e.code === "TIMEOUT")
    return `the gateway did not confirm it within ${RESPOND_TIMEOUT_MS / 1000} s`;
  if (e instanceof SmError && e.code === "RPC_UNREACHABLE")
    return `the connection dropped before the gateway confirmed it, so it may or may not have arrived: ${errorMessage(e)}`;
  return `it could not be sent: ${errorMessage(e)}`;
}

export class GatewayLink {
  readonly label: string;
  private readonly channels: GoChannels;
  private readonly stop = new AbortController();
  private readonly log: Logger;
  private readonly book: Registrations;
  private readonly seen = new Map<string, number>();
  private readonly running: Promise<unknown>[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Per miner: the last registration warning logged, and how many identical ones were not. */
  private readonly repeats: RepeatedWarnings<number>;

  constructor(private readonly opts: GatewayLinkOptions) {
    this.label = opts.label;
    this.log = opts.logger.with({ gateway: opts.label });
    this.repeats = new RepeatedWarnings(this.log, opts.repeatWarnMs ?? REPEAT_WARN_MS);
    const peer = `gateway ${opts.label} (${opts.endpoint.key})`;
    this.channels = new GoChannels({
      url: opts.endpoint.wsUrl,
      token: opts.endpoint.token,
      headers: { "X-VENUS-API-NAMESPACE": GATEWAY_API_NAMESPACE },
      timeoutMs: CALL_TIMEOUT_MS,
      failures: (f: RpcFailure, m: string | null) => nodeRpcError(peer, f, m),
      connectTimeoutMs: 5_000,
      backoffMinMs: opts.backoffMinMs ?? 500,
      backoffMaxMs: opts.backoffMaxMs ?? BACKOFF_MAX_MS,
      refusedRetryMs: opts.backoffMaxMs ?? BACKOFF_MAX_MS,
      pingIntervalMs: opts.pingIntervalMs ?? 5_000,
      maxFrameBytes: 16 << 20,
      label: peer,
      logger: this.log,
    });
    this.book = new Registrations(opts.label, opts.miners, opts.metrics);
  }

  start(): void {
    for (const m of this.opts.miners) this.running.push(this.keepRegistered(m));
  }

  status(): GatewayRegistration[] {
    return this.book.list();
  }

  /**
   * Waits until the transport may dial again. Every miner's loop waits for the same moment and then
   * shares one handshake (a dial under way is shared), so the gateway sees one dial per backoff step.
   * The check and the dial happen in one turn of the event loop (subscribe connects synchronously), so
   * a dial that failed in between has already moved `retryAt` and is waited for too.
   */
  private async dialSlot(signal: AbortSignal): Promise<void> {
    const t = this.channels.transport;
    for (;;) {
      const wait = t.retryAt - Date.now();
      if (t.isOpen || wait <= 0) return;
      await sleep(wait, signal);
    }
  }

  /** Registers `miner` again whenever its channel ends, until close(). */
  private async keepRegistered(miner: number): Promise<void> {
    const min = this.opts.backoffMinMs ?? 500;
    const max = this.opts.backoffMaxMs ?? BACKOFF_MAX_MS;
    const signal = this.stop.signal;
    const mid = `f0${miner}`;
    let backoff = min;
    while (!signal.aborted) {
      try {
        await this.dialSlot(signal);
        const ch = await this.channels.subscribe(LISTEN_METHOD, [{ MinerAddress: mid }], { signal });
        this.book.setConnected(miner, true);
        this.log.info("registered for proof events", { miner: mid });
        for await (const value of ch) {
          if (this.onEvent(miner, ch, value)) backoff = min;
        }
        if (signal.aborted) break;
        this.book.noteError(miner, "lost", "the gateway closed the proof event channel");
        this.warnRepeated(miner, "the gateway closed the proof event channel; registering again", "", {
          miner: mid,
        });
      } catch (e) {
        if (signal.aborted) break;
        const lost = this.book.row(miner).connected;
        this.book.noteError(miner, lost ? "lost" : "register", errorMessage(e));
        this.warnRepeated(
          miner,
          lost ? "proof event channel lost; registering again" : "cannot register for proof events",
          errorMessage(e),
          { miner: mid, retry_in_ms: backoff },
        );
      }
      this.book.setConnected(miner, false);
      try {
        await sleep(backoff, signal);
      } catch {
        break;
      }
      backoff = Math.min(backoff * 2, max);
    }
    this.book.setConnected(miner, false);
  }

  /**
   * A warning about `miner`'s registration, unless the same one (message and error) was logged less
   * than a minute ago: a gateway that refuses a token, or is down, would otherwise fill the log with
   * one line per 2 s per miner. The next one logged says how many were left out.
   */
  private warnRepeated(miner: number, msg: string, err: string, fields: LogFields): void {
    this.repeats.warn(miner, msg, err, fields);
  }

  /** One channel value; true when it was the gateway's InitConnect (the registration is confirmed). */
  private onEvent(miner: number, ch: RpcChannel, value: unknown): boolean {
    const mid = `f0${miner}`;
    const ev = decodeRequestEvent(value);
    if (ev.method === "InitConnect") {
      try {
        if (!ev.ok) throw new Error(ev.problem);
        const channelId = decodeInitConnect(ev.payload);
        this.book.row(miner).channelId = channelId;
        this.log.info("gateway confirmed the registration (InitConnect)", { miner: mid, channel: channelId });
        return true;
      } catch (e) {
        // InitConnect expects no answer (sophon-gateway sends it with no Result channel), whatever is
        // wrong with it: only say so.
        this.book.noteError(miner, "event", `InitConnect ${ev.id ?? "(no Id)"}: ${errorMessage(e)}`);
        this.log.warn("ignoring a malformed InitConnect event", {
          miner: mid,
          id: ev.id,
          err: errorMessage(e),
        });
        return false;
      }
    }
    if (!ev.ok) {
      this.refuse(miner, ch, ev, ev.problem);
      return false;
    }
    if (ev.method === "ComputeProof") {
      this.track(miner, ev.id, this.answerComputeProof(miner, ch, ev));
      return false;
    }
    this.refuse(
      miner,
      ch,
      ev,
      `unknown proof event method ${JSON.stringify(ev.method.slice(0, 60))}; this node answers InitConnect and ComputeProof (sophon-gateway proof events)`,
    );
    return false;
  }

  /** Keeps `p` for close() to wait on; its failures are logged, never left unhandled. */
  private track(miner: number, id: string | null, p: Promise<void>): void {
    const q = p.catch((e) =>
      this.log.error("answering a proof event failed", { miner: `f0${miner}`, id, err: errorMessage(e) }),
    );
    this.inFlight.add(q);
    void q.finally(() => this.inFlight.delete(q));
  }

  /** A bad event: a warning, an error count, and an error answer when it has an Id to answer. */
  private refuse(miner: number, ch: RpcChannel, ev: DecodedEvent, problem: string): void {
    const mid = `f0${miner}`;
    this.book.noteError(miner, "event", `${ev.method ?? "event"} ${ev.id ?? "(no Id)"}: ${problem}`);
    this.opts.metrics?.gatewayRequests.inc({ gateway: this.label, miner: mid, result: "invalid" });
    this.log.warn("refusing a proof event this node cannot act on", {
      miner: mid,
      id: ev.id,
      method: ev.method,
      problem,
    });
    const id = ev.id;
    if (id === null || !this.firstTime(id)) return;
    const err = new SmError("GATEWAY_EVENT_INVALID", problem, { miner });
    const started = performance.now();
    this.track(
      miner,
      id,
      this.respond(miner, ch, id, { error: err.message }).then((d) => {
        if (d.delivered)
          this.opts.metrics?.gatewayAnswerDuration.observe(
            { gateway: this.label, miner: mid },
            (performance.now() - started) / 1000,
          );
      }),
    );
  }

  /** Remembers `id`; false when it was seen before. */
  private firstTime(id: string): boolean {
    const now = Date.now();
    if (this.seen.has(id)) return false;
    if (this.seen.size > 1000)
      for (const [k, at] of this.seen) if (now - at > SEEN_FOR_MS) this.seen.delete(k);
    this.seen.set(id, now);
    return true;
  }

  private async answerComputeProof(
    miner: number,
    ch: RpcChannel,
    ev: DecodedEvent & { ok: true },
  ): Promise<void> {
    const mid = `f0${miner}`;
    const labels = { gateway: this.label, miner: mid };
    if (!this.firstTime(ev.id)) {
      this.opts.metrics?.gatewayRequests.inc({ ...labels, result: "duplicate" });
      this.log.warn("the gateway sent a request it sent before; it is answered once", {
        miner: mid,
        id: ev.id,
      });
      return;
    }
    const started = performance.now();
    const row = this.book.row(miner);
    row.requests++;
    const last = {
      id: ev.id,
      method: ev.method,
      at: new Date().toISOString(),
      result: "computing",
      ms: null,
    };
    row.lastRequest = last;
    let result: "ok" | "error" | "invalid";
    let answer: { result: unknown } | { error: string };
    try {
      const req = decodeComputeProofEvent(ev.payload, miner);
      try {
        answer = { result: poStProofsToWire(await this.opts.prove(miner, req, this.stop.signal)) };
        result = "ok";
      } catch (e) {
        answer = { error: errorMessage(e) };
        result = "error";
      }
    } catch (e) {
      answer = { error: errorMessage(e) };
      result = "invalid";
      this.log.warn("refusing a ComputeProof event that cannot be used", {
        miner: mid,
        id: ev.id,
        err: errorMessage(e),
      });
    }
    if (result !== "ok")
      this.book.noteError(miner, "proof", `ComputeProof ${ev.id}: ${(answer as { error: string }).error}`);
    const d = await this.respond(miner, ch, ev.id, answer);
    const ms = Math.round(performance.now() - started);
    if (d.delivered) {
      this.opts.metrics?.gatewayAnswerDuration.observe(labels, ms / 1000);
      if (result === "ok") row.answered++;
      else row.failed++;
    } else row.failed++;
    const final = d.delivered ? result : d.closed ? "channel_closed" : "undelivered";
    if (row.lastRequest === last) row.lastRequest = { ...last, result: final, ms: d.delivered ? ms : null };
    this.opts.metrics?.gatewayRequests.inc({ ...labels, result: final });
    if (d.delivered && result === "ok")
      this.log.info("answered ComputeProof", { miner: mid, id: ev.id, elapsed_ms: ms });
  }

  /**
   * Sends the answer of `id` once, on the connection of the channel `ch` it came on, and only while
   * that channel is open (see the header: the gateway waits for it there and nowhere else). Not
   * retried: on a new connection it would reach no one, and on the same one a second copy is refused.
   */
  private async respond(
    miner: number,
    ch: RpcChannel,
    id: string,
    answer: { result: unknown } | { error: string },
  ): Promise<Delivery> {
    const mid = `f0${miner}`;
    const signal = this.stop.signal;
    let d: Delivery;
    if (signal.aborted) d = { delivered: false, closed: false, why: "the node is shutting down" };
    else if (ch.hasEnded || ch.socket === null)
      d = {
        delivered: false,
        closed: true,
        why: "the channel closed before the answer; the gateway already failed or re-routed the request",
      };
    else {
      try {
        // No signal: close() closes the transport, which fails this call at once.
        await this.channels.transport.callOn(ch.socket, RESPONSE_METHOD, [responseEvent(id, answer)], {
          timeoutMs: RESPOND_TIMEOUT_MS,
          voidResult: true,
        });
        return { delivered: true };
      } catch (e) {
        d = { delivered: false, closed: false, why: respondFailure(e, signal.aborted) };
      }
    }
    // A closed channel is not the gateway's error: its loss was counted when the channel ended.
    this.book.noteError(
      miner,
      d.closed ? null : "respond",
      `the answer to ${id} was not delivered: ${d.why}`,
    );
    this.log.warn("the answer to a proof event was not delivered", { miner: mid, id, why: d.why });
    return d;
  }

  async close(): Promise<void> {
    this.stop.abort();
    this.channels.transport.close();
    await Promise.allSettled([...this.running, ...this.inFlight]);
    for (const m of this.opts.miners) this.book.setConnected(m, false);
  }
}
