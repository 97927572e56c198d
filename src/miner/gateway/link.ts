/**
 * One sophon-gateway, seen from a `--miner` node: one WebSocket (go-jsonrpc channels, rpc/channels.ts)
 * shared by one registration per miner, `Gateway.ListenProofEvent({MinerAddress})`, each kept alive by
 * its own loop; the events of every channel are answered with `Gateway.ResponseProofEvent` on the same
 * socket. Shapes and sources: events.ts.
 *
 * Staying registered. When the socket drops (the gateway restarts, a proxy cuts it, no pong within a
 * ping period) every channel ends; each loop registers again after a backoff of 0.5 s doubling to 2 s
 * (reset by a registration that the gateway confirmed with InitConnect). A WinningPoSt request can
 * reach this node only through an open registration, so the cap is the longest a restarted gateway
 * waits for us: 2 s of a 30 s epoch. damocles retries every 1 s without growth; the miners of one
 * gateway share one socket, so a gateway that is down for hours sees one dial per 2 s, not one per
 * miner.
 *
 * Answering. A ComputeProof is proven at once, outside the channel's read loop, so a long proof never
 * delays the next event. Its answer has the request's budget (25 s from arrival, the WinningPoSt
 * budget): when the socket is down at that moment the answer waits for the next connection and is sent
 * as soon as one is open, until the budget runs out. An answer is sent again only when its socket was
 * lost before the gateway replied; sophon-gateway takes the first answer of an Id and refuses any
 * later one ("request id … not exit"), so the miner never sees two. A request Id seen before (a gateway
 * that resends) is not proven or answered again.
 */
import type { ApiEndpoint } from "../../chain/lotus/endpoint.js";
import type { Logger } from "../../log/logger.js";
import type { Metrics } from "../../metrics/metrics.js";
import { GoChannels } from "../../rpc/channels.js";
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

/** Proves a request of `miner` (the WinningPoSt service, shared by every gateway: see index.ts). */
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
  budgetMs: number;
  logger: Logger;
  metrics?: Metrics;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Ping period of the socket; no pong within one period drops it (default 5 s). */
  pingIntervalMs?: number;
}

/** How long a request Id is remembered, to refuse it a second time: well past any gateway's timeout (5 min). */
const SEEN_FOR_MS = 15 * 60_000;
/** Longest wait between two registration attempts (see the header). */
const BACKOFF_MAX_MS = 2_000;
/** A ListenProofEvent or ResponseProofEvent the gateway does not answer within this is given up. */
const CALL_TIMEOUT_MS = 10_000;

export class GatewayLink {
  readonly label: string;
  private readonly channels: GoChannels;
  private readonly stop = new AbortController();
  private readonly log: Logger;
  private readonly book: Registrations;
  private readonly seen = new Map<string, number>();
  private readonly running: Promise<unknown>[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly opts: GatewayLinkOptions) {
    this.label = opts.label;
    this.log = opts.logger.with({ gateway: opts.label });
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

  /** Registers `miner` again whenever its channel ends, until close(). */
  private async keepRegistered(miner: number): Promise<void> {
    const min = this.opts.backoffMinMs ?? 500;
    const max = this.opts.backoffMaxMs ?? BACKOFF_MAX_MS;
    const signal = this.stop.signal;
    const mid = `f0${miner}`;
    let backoff = min;
    while (!signal.aborted) {
      try {
        const ch = await this.channels.subscribe(LISTEN_METHOD, [{ MinerAddress: mid }], { signal });
        this.book.setConnected(miner, true);
        this.log.info("registered for proof events", { miner: mid });
        for await (const value of ch) {
          if (this.onEvent(miner, value)) backoff = min;
        }
        if (signal.aborted) break;
        this.book.noteError(miner, "lost", "the gateway closed the proof event channel");
        this.log.warn("the gateway closed the proof event channel; registering again", { miner: mid });
      } catch (e) {
        if (signal.aborted) break;
        const lost = this.book.row(miner).connected;
        this.book.noteError(miner, lost ? "lost" : "register", errorMessage(e));
        this.log.warn(
          lost ? "proof event channel lost; registering again" : "cannot register for proof events",
          {
            miner: mid,
            err: errorMessage(e),
            retry_in_ms: backoff,
          },
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

  /** One channel value; true when it was the gateway's InitConnect (the registration is confirmed). */
  private onEvent(miner: number, value: unknown): boolean {
    const mid = `f0${miner}`;
    const ev = decodeRequestEvent(value);
    if (!ev.ok) {
      this.refuse(miner, ev, ev.problem);
      return false;
    }
    if (ev.method === "InitConnect") {
      try {
        const channelId = decodeInitConnect(ev.payload);
        this.book.row(miner).channelId = channelId;
        this.log.info("gateway confirmed the registration (InitConnect)", { miner: mid, channel: channelId });
        return true;
      } catch (e) {
        // InitConnect expects no answer (sophon-gateway sends it with no Result channel): only say so.
        this.book.noteError(miner, "event", `InitConnect ${ev.id}: ${errorMessage(e)}`);
        this.log.warn("ignoring a malformed InitConnect event", {
          miner: mid,
          id: ev.id,
          err: errorMessage(e),
        });
        return false;
      }
    }
    if (ev.method === "ComputeProof") {
      const p = this.answerComputeProof(miner, ev).catch((e) =>
        this.log.error("answering a proof event failed", { miner: mid, id: ev.id, err: errorMessage(e) }),
      );
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
      return false;
    }
    this.refuse(
      miner,
      ev,
      `unknown proof event method ${JSON.stringify(ev.method.slice(0, 60))}; this node answers InitConnect and ComputeProof (sophon-gateway proof events)`,
    );
    return false;
  }

  /** A bad event: a warning, an error count, and an error answer when it has an Id to answer. */
  private refuse(miner: number, ev: DecodedEvent, problem: string): void {
    const mid = `f0${miner}`;
    this.book.noteError(miner, "event", `${ev.method ?? "event"} ${ev.id ?? "(no Id)"}: ${problem}`);
    this.opts.metrics?.gatewayRequests.inc({ gateway: this.label, miner: mid, result: "invalid" });
    this.log.warn("refusing a proof event this node cannot act on", {
      miner: mid,
      id: ev.id,
      method: ev.method,
      problem,
    });
    if (ev.id === null || !this.firstTime(ev.id)) return;
    const err = new SmError("GATEWAY_EVENT_INVALID", problem, { miner });
    const started = performance.now();
    const p = this.respond(miner, ev.id, { error: err.message }, Date.now() + this.opts.budgetMs).then(
      (ok) => {
        if (ok)
          this.opts.metrics?.gatewayAnswerDuration.observe(
            { gateway: this.label, miner: mid },
            (performance.now() - started) / 1000,
          );
      },
      // respond() reports its failures itself; nothing here may become an unhandled rejection.
      (e) =>
        this.log.error("answering a proof event failed", { miner: mid, id: ev.id, err: errorMessage(e) }),
    );
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
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

  private async answerComputeProof(miner: number, ev: DecodedEvent & { ok: true }): Promise<void> {
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
    const deadline = Date.now() + this.opts.budgetMs;
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
    const delivered = await this.respond(miner, ev.id, answer, deadline);
    const ms = Math.round(performance.now() - started);
    if (delivered) {
      this.opts.metrics?.gatewayAnswerDuration.observe(labels, ms / 1000);
      if (result === "ok") row.answered++;
      else row.failed++;
    } else row.failed++;
    const final = delivered ? result : "undelivered";
    if (row.lastRequest === last) row.lastRequest = { ...last, result: final, ms: delivered ? ms : null };
    this.opts.metrics?.gatewayRequests.inc({ ...labels, result: final });
    if (delivered && result === "ok")
      this.log.info("answered ComputeProof", { miner: mid, id: ev.id, elapsed_ms: ms });
  }

  /**
   * Sends the answer of `id`, on the current socket or the next one, until `deadline`. Retried only
   * when the gateway could not be reached or the socket was lost before it replied; a refusal by the
   * gateway (it no longer waits for the Id) or a reply that never comes ends the attempts.
   */
  private async respond(
    miner: number,
    id: string,
    answer: { result: unknown } | { error: string },
    deadline: number,
  ): Promise<boolean> {
    const params = [responseEvent(id, answer)];
    const signal = this.stop.signal;
    let wait = 100;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0 || signal.aborted) {
        const why = signal.aborted
          ? "the node is shutting down"
          : `the gateway was not reachable within the ${this.opts.budgetMs / 1000} s budget`;
        this.book.noteError(miner, "respond", `the answer to ${id} was not delivered: ${why}`);
        this.log.warn("the answer to a proof event was not delivered", { miner: `f0${miner}`, id, why });
        return false;
      }
      try {
        await this.channels.transport.call(RESPONSE_METHOD, params, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(left)]),
          timeoutMs: Math.min(left, CALL_TIMEOUT_MS),
        });
        return true;
      } catch (e) {
        const unreachable = e instanceof SmError && e.code === "RPC_UNREACHABLE" && !(e instanceof RpcError);
        if (!unreachable || signal.aborted) {
          this.book.noteError(miner, "respond", `ResponseProofEvent ${id}: ${errorMessage(e)}`);
          this.log.warn("the gateway did not take the answer to a proof event", {
            miner: `f0${miner}`,
            id,
            err: errorMessage(e),
          });
          return false;
        }
        await sleep(Math.min(wait, Math.max(1, deadline - Date.now())), signal).catch(() => {});
        wait = Math.min(wait * 2, 1_000);
      }
    }
  }

  async close(): Promise<void> {
    this.stop.abort();
    this.channels.transport.close();
    await Promise.allSettled([...this.running, ...this.inFlight]);
    for (const m of this.opts.miners) this.book.setConnected(m, false);
  }
}
