/**
 * The chain port over a Lotus/Venus full node (`Filecoin.*` at /rpc/v1) and, optionally,
 * venus-messager (`Message.*` at /rpc/v0) for messages — damocles-poster.md §4.6, §4.8.
 *
 * Every result is decoded by shapes.ts, so a malformed answer is a CHAIN_BAD_RESPONSE naming the
 * method and field. `chainNotify` survives connection loss: it resubscribes with backoff, and every
 * subscription starts with a "current" batch (Lotus guarantees it; if a node does not, one is made
 * from ChainHead), so the consumer learns the head it missed.
 *
 * Without a WebSocket (a gateway or proxy that answers the upgrade with e.g. HTTP 501; a proxy that
 * resets, closes or never answers the upgrade while ChainHead answers over HTTP; a node that answers
 * ChainNotify with an error) `chainNotify` follows the head by polling `ChainHead` every
 * `[Common.API] ChainEventInterval`, joining each new head to the last through tipset keys and
 * parents (headFollower.ts), so reorgs come out as reverts as they do from a subscription. The
 * WebSocket stays the fast path: it is tried again every WS_REFUSED_RETRY_MS.
 *
 * Messages: without a messager, `Filecoin.MpoolPushMessage` (the node picks nonce and gas and signs)
 * and `Filecoin.StateWaitMsg`; with one, `Message.PushMessageWithId(id, msg, spec)` and
 * `Message.WaitMessage(id, confidence)`. venus-messager fills and signs later, so the value
 * `pushMessage` returns there is the messager's message id, not a CID; `waitMessage` sends any
 * string that is not a CID to the messager and CIDs to StateWaitMsg.
 */
import { randomUUID } from "node:crypto";
import { sectorManagerSchema } from "../../config/schema.js";
import type { SectorManagerConfig } from "../../config/types.js";
import { parseGoDuration } from "../../config/units.js";
import type { Logger } from "../../log/logger.js";
import { nullLogger } from "../../log/logger.js";
import { abortError, errorMessage, SmError } from "../../util/errors.js";
import { sleep } from "../../util/time.js";
import type { BitField } from "../bitfield.js";
import type {
  Actor,
  CallOptions,
  ChainPort,
  DeadlineInfo,
  DeadlineState,
  HeadChange,
  MessageReceipt,
  MinerInfo,
  OutgoingMessage,
  Partition,
  PushedMessage,
  PushOptions,
  SectorOnChainInfo,
  TipSet,
  TipSetKey,
} from "../interface.js";
import { HEAD } from "../interface.js";
import { BLOCK_GAS_LIMIT, MinerMethod } from "../message.js";
import { assertSubmittableProofs } from "../proofGuard.js";
import { cidStringProblem, Json } from "./decode.js";
import type { ApiEndpoint } from "./endpoint.js";
import { resolveApiEndpoints } from "./endpoint.js";
import { HeadFollower } from "./headFollower.js";
import { isWsRefused, LotusRpc, RPC_DEFAULTS, type RpcCallOptions, WS_REFUSED_RETRY_MS } from "./rpc.js";
import {
  base64,
  decodeActor,
  decodeDeadlineInfo,
  decodeDeadlineState,
  decodeHeadChanges,
  decodeMessagerMessage,
  decodeMinerInfo,
  decodeMsgLookup,
  decodePartition,
  decodeSectorInfo,
  decodeTipSet,
  encodeMessage,
  encodeTipSetKey,
  MessagerState,
} from "./shapes.js";

/** venus-messager SendSpec (`venus-shared/types/messager/spec.go`, JSON keys in lower camel case). */
export interface MessagerSendSpec {
  gasOverEstimation: number;
  gasOverPremium: number;
  /** attoFIL; 0 = the messager's default. */
  maxFee: bigint;
  /** 0 = never expires. */
  expireEpoch?: number;
}

/**
 * Default `[Common.API] ChainEventInterval`: how often the head is polled without a WebSocket, read
 * from the config schema (its one source, with the reasoning: 10 s, a third of an epoch, where
 * damocles polls every minute), so a client built without a config polls as a configured one does.
 */
export const DEFAULT_CHAIN_EVENT_INTERVAL_MS = ((d: string): number => {
  const ms = parseGoDuration(d);
  if (ms === undefined) throw new Error(`schema default ChainEventInterval "${d}" is not a duration`);
  return ms;
})(sectorManagerSchema.Common.fields.API.fields.ChainEventInterval.default);

/** damocles `defaultFeeConfig` (modules/config.go): GasOverEstimation 1.2, GasOverPremium 0. */
export const DEFAULT_SEND_SPEC: MessagerSendSpec = { gasOverEstimation: 1.2, gasOverPremium: 0, maxFee: 0n };

/** Blocks a message should be included within, for GasEstimateGasPremium (Lotus' own default). */
const PREMIUM_BLOCKS_INCLUDED = 10;

/** venus' X-VENUS-API-NAMESPACE values (venus-shared api/chain/v1 and api/messager client_gen.go). */
export const CHAIN_NAMESPACE = "v1.FullNode";
export const MESSAGER_NAMESPACE = "messager.IMessager";

export interface LotusChainClientOptions {
  chain: ApiEndpoint;
  /** venus-messager; null/absent: messages go through the chain node. */
  messager?: ApiEndpoint | null;
  logger?: Logger;
  /** Per-call limit for reads (default 30 s, rpc.ts RPC_DEFAULTS). Waits for messages have none. */
  timeoutMs?: number;
  /** WebSocket handshake limit (default 5 s); also bounds the HTTP ChainHead asked when it fails. */
  connectTimeoutMs?: number;
  /** Reconnect / resubscribe backoff (default 0.5 s doubling to 5 s). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  pingIntervalMs?: number;
  /** How often to poll ChainHead when no subscription can be had ([Common.API] ChainEventInterval). */
  chainEventIntervalMs?: number;
  /** How long to poll before trying the WebSocket subscription again (default WS_REFUSED_RETRY_MS). */
  wsRetryMs?: number;
  /** MpoolPushMessage MaxFee, total attoFIL per message; 0 (default) = the node's DefaultMaxFee. */
  maxFee?: bigint;
  /** Messager send spec, fixed or per message (e.g. from the miner's [Miners.PoSt] config). */
  sendSpec?: MessagerSendSpec | ((msg: OutgoingMessage) => MessagerSendSpec);
  /** Messager message id; must be unique per message and not a CID (default: a random UUID). */
  messageId?: (msg: OutgoingMessage) => string;
}

export class LotusChainClient implements ChainPort {
  readonly chainRpc: LotusRpc;
  readonly messagerRpc: LotusRpc | null;
  private readonly log: Logger;
  private readonly backoffMinMs: number;
  private readonly backoffMaxMs: number;
  private readonly chainEventIntervalMs: number;
  private readonly wsRetryMs: number;
  private readonly connectTimeoutMs: number;
  /** Aborted by close(): ends every wait of chainNotify at once. */
  private readonly closing = new AbortController();
  private readonly maxFee: bigint;
  private readonly sendSpec: (msg: OutgoingMessage) => MessagerSendSpec;
  private readonly messageId: (msg: OutgoingMessage) => string;

  constructor(opts: LotusChainClientOptions) {
    this.log = opts.logger ?? nullLogger;
    this.backoffMinMs = opts.backoffMinMs ?? RPC_DEFAULTS.backoffMinMs;
    this.backoffMaxMs = opts.backoffMaxMs ?? RPC_DEFAULTS.backoffMaxMs;
    this.chainEventIntervalMs = opts.chainEventIntervalMs ?? DEFAULT_CHAIN_EVENT_INTERVAL_MS;
    this.wsRetryMs = opts.wsRetryMs ?? WS_REFUSED_RETRY_MS;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? RPC_DEFAULTS.connectTimeoutMs;
    const common = {
      logger: this.log,
      timeoutMs: opts.timeoutMs,
      connectTimeoutMs: opts.connectTimeoutMs,
      backoffMinMs: opts.backoffMinMs,
      backoffMaxMs: opts.backoffMaxMs,
      pingIntervalMs: opts.pingIntervalMs,
    };
    this.chainRpc = new LotusRpc({
      ...common,
      endpoint: opts.chain,
      label: "chain node",
      headers: { "X-VENUS-API-NAMESPACE": CHAIN_NAMESPACE },
    });
    this.messagerRpc =
      opts.messager == null
        ? null
        : new LotusRpc({
            ...common,
            endpoint: opts.messager,
            label: "venus-messager",
            headers: { "X-VENUS-API-NAMESPACE": MESSAGER_NAMESPACE },
          });
    this.maxFee = opts.maxFee ?? 0n;
    const spec = opts.sendSpec ?? DEFAULT_SEND_SPEC;
    this.sendSpec = typeof spec === "function" ? spec : () => spec;
    this.messageId = opts.messageId ?? (() => randomUUID());
  }

  /**
   * From `[Common.API]` (Chain/Messager falling back to Gateway[0], Token as default token;
   * ChainEventInterval for polling the head without a WebSocket).
   */
  static fromConfig(
    api: Pick<SectorManagerConfig["Common"]["API"], "Gateway" | "Chain" | "Messager" | "Token"> &
      Partial<Pick<SectorManagerConfig["Common"]["API"], "ChainEventIntervalMs">>,
    opts: Omit<LotusChainClientOptions, "chain" | "messager"> = {},
  ): LotusChainClient {
    const { chain, messager } = resolveApiEndpoints(api);
    return new LotusChainClient({
      chainEventIntervalMs: api.ChainEventIntervalMs,
      ...opts,
      chain,
      messager,
    });
  }

  close(): void {
    this.closing.abort();
    this.chainRpc.close();
    this.messagerRpc?.close();
  }

  private async call(method: string, params: readonly unknown[], opts?: RpcCallOptions): Promise<Json> {
    return new Json(method, await this.chainRpc.call(method, params, opts ?? {}));
  }

  private network: string | undefined;

  async networkName(opts?: CallOptions): Promise<string> {
    const j = await this.call("Filecoin.StateNetworkName", [], opts);
    const name = j.str();
    if (name === "") j.fail("is empty");
    return name;
  }

  async chainHead(opts?: CallOptions): Promise<TipSet> {
    return decodeTipSet(await this.call("Filecoin.ChainHead", [], opts));
  }

  /** Lotus ChainGetTipSet: the tipset with this key (polling follows parents with it). */
  async chainGetTipSet(tsk: TipSetKey, opts?: CallOptions): Promise<TipSet> {
    return decodeTipSet(await this.call("Filecoin.ChainGetTipSet", [encodeTipSetKey(tsk)], opts));
  }

  async *chainNotify(opts: CallOptions = {}): AsyncIterable<HeadChange[]> {
    const signal = AbortSignal.any([opts.signal, this.closing.signal].filter((s) => s !== undefined));
    const method = "Filecoin.ChainNotify";
    let backoff = this.backoffMinMs;
    let attempt = 0;
    /** The heads reported so far, whichever way: polling goes on from them. */
    const follower = new HeadFollower();
    let polls = 0;
    // Ends when the signal aborts or the client is closed; every other failure is retried.
    const stopped = (): boolean => signal.aborted || this.chainRpc.isClosed;
    while (!stopped()) {
      if (attempt++ > 0) {
        try {
          await sleep(backoff, signal);
        } catch {
          return;
        }
        backoff = Math.min(backoff * 2, this.backoffMaxMs);
      }
      let first = true;
      let subscribed = false;
      try {
        const ch = await this.chainRpc.subscribe(method, [], { signal });
        subscribed = true;
        try {
          for await (const raw of ch) {
            const batch = decodeHeadChanges(new Json(method, raw));
            if (first) {
              first = false;
              backoff = this.backoffMinMs;
              if (polls > 0) this.log.info("chain head subscription is back; polling stopped", {});
              polls = 0;
              const only = batch[0];
              if (batch.length !== 1 || only?.type !== "current") {
                this.log.warn(
                  "ChainNotify did not start with a single 'current' change; using ChainHead",
                  {},
                );
                const current: HeadChange[] = [{ type: "current", tipset: await this.chainHead({ signal }) }];
                follower.observe(current);
                yield current;
              }
            }
            follower.observe(batch);
            if (batch.length > 0) yield batch;
          }
        } finally {
          ch.close();
        }
        if (stopped()) return;
        this.log.warn("chain node closed the ChainNotify channel; resubscribing", { retryInMs: backoff });
      } catch (e) {
        if (stopped()) return;
        const no = await this.noSubscription(e, subscribed, signal);
        if (stopped()) return;
        if (no.poll) {
          (polls++ === 0 ? this.log.warn : this.log.debug).call(
            this.log,
            "no chain head subscription; following the head by polling ChainHead",
            {
              error: errorMessage(e),
              why: no.why,
              every_ms: this.chainEventIntervalMs,
              websocket_retry_in_ms: this.wsRetryMs,
            },
          );
          yield* this.pollHeads(follower, Date.now() + this.wsRetryMs, signal);
          attempt = 0;
          backoff = this.backoffMinMs;
          continue;
        }
        this.log.warn("chain head subscription failed; resubscribing", {
          error: errorMessage(e),
          code: e instanceof SmError ? e.code : undefined,
          ...(no.http === undefined ? {} : { http: no.http }),
          retryInMs: backoff,
        });
      }
    }
  }

  /**
   * Whether to follow the head by polling after `e` ended the subscription (`subscribed`: after it
   * was had), and why. Polled: an endpoint that answers but gives no subscription (the upgrade refused,
   * e.g. HTTP 501 from an HTTP-only gateway; ChainNotify answered with an error), and one whose
   * WebSocket cannot be had while HTTP answers: a proxy that resets or closes the upgrade, or never
   * completes it (the handshake is bounded by connectTimeoutMs), or a socket that drops before
   * ChainNotify is answered. That is asked with one HTTP ChainHead, given as long as a handshake; if
   * it answers, calls go over HTTP too until the WebSocket is tried again. Otherwise (the node is down, a refused token) the
   * subscription is retried, with what HTTP said in `http`.
   */
  private async noSubscription(
    e: unknown,
    subscribed: boolean,
    signal: AbortSignal,
  ): Promise<{ poll: true; why: string } | { poll: false; http?: string }> {
    if (isWsRefused(e)) return { poll: true, why: "the endpoint refused the WebSocket upgrade" };
    if (e instanceof SmError && e.code === "CHAIN_RPC_ERROR")
      return { poll: true, why: "the node answered ChainNotify with an error" };
    const wsUnusable =
      !subscribed &&
      e instanceof SmError &&
      e.code === "CHAIN_UNREACHABLE" &&
      e.fields.httpStatus === undefined;
    if (!wsUnusable) return { poll: false };
    const method = "Filecoin.ChainHead";
    try {
      // Bounded as the handshake is, so a node that hangs is retried as often as before.
      const timeoutMs = this.connectTimeoutMs;
      decodeTipSet(new Json(method, await this.chainRpc.callHttp(method, [], { signal, timeoutMs })));
    } catch (h) {
      return { poll: false, http: errorMessage(h) };
    }
    this.chainRpc.holdOffWebSocket(this.wsRetryMs);
    return {
      poll: true,
      why: "the WebSocket fails but ChainHead answers over HTTP (e.g. a proxy that drops WebSocket upgrades)",
    };
  }

  /**
   * Polls ChainHead every chainEventIntervalMs until `until` (ms since the epoch) and yields the head
   * changes (headFollower.ts). A failing poll is retried sooner, backing off from 0.5 s to at most
   * 5 s and never beyond the interval, so a node that comes back is noticed within one epoch.
   */
  private async *pollHeads(
    follower: HeadFollower,
    until: number,
    signal: AbortSignal,
  ): AsyncGenerator<HeadChange[]> {
    let backoff = this.backoffMinMs;
    let failing = false;
    const get = (key: TipSetKey) => this.chainGetTipSet(key, { signal });
    while (!signal.aborted && Date.now() < until) {
      let wait = this.chainEventIntervalMs;
      try {
        const head = await this.chainHead({ signal });
        const r = await follower.next(head, get);
        if (failing) this.log.info("polling the chain head works again", { height: head.height });
        failing = false;
        backoff = this.backoffMinMs;
        if (r.unjoined !== undefined)
          this.log.warn(
            "cannot tell where the new chain head joins the chain followed so far; treated as a reorg",
            {
              why: r.unjoined,
              height: head.height,
            },
          );
        if (r.changes.length > 0) yield r.changes;
      } catch (e) {
        if (signal.aborted) return;
        wait = Math.min(backoff, this.chainEventIntervalMs);
        backoff = Math.min(backoff * 2, this.backoffMaxMs);
        failing = true;
        this.log.warn("polling the chain head failed; retrying", {
          error: errorMessage(e),
          code: e instanceof SmError ? e.code : undefined,
          retryInMs: wait,
        });
      }
      try {
        await sleep(wait, signal);
      } catch {
        return;
      }
    }
  }

  async stateNetworkVersion(tsk: TipSetKey, opts?: CallOptions): Promise<number> {
    return (await this.call("Filecoin.StateNetworkVersion", [encodeTipSetKey(tsk)], opts)).uint();
  }

  async stateMinerInfo(miner: string, tsk: TipSetKey, opts?: CallOptions): Promise<MinerInfo> {
    return decodeMinerInfo(await this.call("Filecoin.StateMinerInfo", [miner, encodeTipSetKey(tsk)], opts));
  }

  async stateMinerProvingDeadline(miner: string, tsk: TipSetKey, opts?: CallOptions): Promise<DeadlineInfo> {
    const j = await this.call("Filecoin.StateMinerProvingDeadline", [miner, encodeTipSetKey(tsk)], opts);
    return decodeDeadlineInfo(j);
  }

  async stateMinerPartitions(
    miner: string,
    deadline: number,
    tsk: TipSetKey,
    opts?: CallOptions,
  ): Promise<Partition[]> {
    const j = await this.call("Filecoin.StateMinerPartitions", [miner, deadline, encodeTipSetKey(tsk)], opts);
    return j.array(true).map(decodePartition);
  }

  async stateMinerDeadlines(miner: string, tsk: TipSetKey, opts?: CallOptions): Promise<DeadlineState[]> {
    const j = await this.call("Filecoin.StateMinerDeadlines", [miner, encodeTipSetKey(tsk)], opts);
    return j.array(true).map(decodeDeadlineState);
  }

  async stateMinerSectors(
    miner: string,
    sectors: BitField | null,
    tsk: TipSetKey,
    opts?: CallOptions,
  ): Promise<SectorOnChainInfo[]> {
    const filter = sectors === null ? null : sectors.toLotusJSON();
    const j = await this.call("Filecoin.StateMinerSectors", [miner, filter, encodeTipSetKey(tsk)], opts);
    return j.array(true).map(decodeSectorInfo);
  }

  async stateSectorGetInfo(
    miner: string,
    sector: number,
    tsk: TipSetKey,
    opts?: CallOptions,
  ): Promise<SectorOnChainInfo | null> {
    const j = await this.call("Filecoin.StateSectorGetInfo", [miner, sector, encodeTipSetKey(tsk)], opts);
    return j.isNull() ? null : decodeSectorInfo(j);
  }

  private async randomness(
    method: string,
    tag: number,
    epoch: number,
    entropy: Uint8Array,
    tsk: TipSetKey,
    opts?: CallOptions,
  ): Promise<Uint8Array> {
    const j = await this.call(method, [tag, epoch, base64(entropy), encodeTipSetKey(tsk)], opts);
    const r = j.bytes();
    // Lotus draws randomness as a blake2b-256 digest (chain/rand DrawRandomnessFromBase): always 32 bytes.
    if (r.length !== 32) j.fail(`is ${r.length} bytes, expected 32`);
    return r;
  }

  stateGetRandomnessFromBeacon(
    tag: number,
    epoch: number,
    entropy: Uint8Array,
    tsk: TipSetKey,
    opts?: CallOptions,
  ): Promise<Uint8Array> {
    return this.randomness("Filecoin.StateGetRandomnessFromBeacon", tag, epoch, entropy, tsk, opts);
  }

  stateGetRandomnessFromTickets(
    tag: number,
    epoch: number,
    entropy: Uint8Array,
    tsk: TipSetKey,
    opts?: CallOptions,
  ): Promise<Uint8Array> {
    return this.randomness("Filecoin.StateGetRandomnessFromTickets", tag, epoch, entropy, tsk, opts);
  }

  async stateGetActor(address: string, tsk: TipSetKey, opts?: CallOptions): Promise<Actor> {
    const j = await this.call("Filecoin.StateGetActor", [address, encodeTipSetKey(tsk)], opts);
    if (j.isNull()) j.fail("is null (actor not found)");
    return decodeActor(j);
  }

  async stateLookupID(address: string, tsk: TipSetKey, opts?: CallOptions): Promise<string> {
    return (await this.call("Filecoin.StateLookupID", [address, encodeTipSetKey(tsk)], opts)).address(true);
  }

  async pushMessage(msg: OutgoingMessage, opts: PushOptions = {}): Promise<PushedMessage> {
    if (msg.value < 0n || msg.maxFeeCap < 0n) {
      throw new SmError("CHAIN_INVALID_MESSAGE", "message value and fee cap must not be negative", {
        to: msg.to,
        method: msg.method,
      });
    }
    // Only the devnet takes vanilla proofs; never send them anywhere else (proofGuard.ts).
    if (msg.method === MinerMethod.SubmitWindowedPoSt) {
      this.network ??= await this.networkName(opts);
      assertSubmittableProofs(this.network, msg.method, msg.params);
    }
    const wire = encodeMessage(msg);
    if (this.messagerRpc !== null) {
      const id = opts.id ?? this.messageId(msg);
      const s = this.sendSpec(msg);
      // The message's own multipliers ([Miners.PoSt]) win over the client-wide spec; venus-messager
      // applies them when it estimates the gas (0 = its own setting).
      const spec = {
        expireEpoch: s.expireEpoch ?? 0,
        gasOverEstimation: msg.gasOverEstimation ?? s.gasOverEstimation,
        maxFee: s.maxFee.toString(),
        gasOverPremium: msg.gasOverPremium ?? s.gasOverPremium,
      };
      const method = "Message.PushMessageWithId";
      // beforeSend runs in the transport, once connected, right before the request leaves.
      const j = new Json(method, await this.messagerRpc.call(method, [id, wire, spec], opts));
      const uid = j.str();
      if (uid === "") j.fail("is an empty message id");
      return { cid: uid };
    }
    await this.estimateGas(msg, wire, { signal: opts.signal });
    const j = await this.call("Filecoin.MpoolPushMessage", [wire, { MaxFee: this.maxFee.toString() }], opts);
    return { cid: j.get("CID").cid() };
  }

  /**
   * Without a messager, the chain node fills the gas in MpoolPushMessage with its own multiplier
   * (Lotus [Fees] GasLimitOverestimation) and no premium multiplier; Lotus' MessageSendSpec has no
   * field for either. So the message's multipliers are applied here, the way venus and
   * venus-messager apply them: the gas limit is the node's estimate of the gas used
   * (GasEstimateGasLimit) × gasOverEstimation, the premium its premium estimate × gasOverPremium,
   * never above the fee cap. A field filled in here is one the node keeps; 0 leaves it to the node.
   */
  private async estimateGas(
    msg: OutgoingMessage,
    wire: Record<string, unknown>,
    opts: CallOptions,
  ): Promise<void> {
    const over = msg.gasOverEstimation ?? 0;
    const premiumOver = msg.gasOverPremium ?? 0;
    if (over > 0) {
      const used = (await this.call("Filecoin.GasEstimateGasLimit", [wire, encodeTipSetKey(HEAD)], opts)).int(
        0,
      );
      wire.GasLimit = Math.min(Math.ceil(used * over), BLOCK_GAS_LIMIT);
    }
    if (premiumOver > 0) {
      const estimate = (
        await this.call(
          "Filecoin.GasEstimateGasPremium",
          [PREMIUM_BLOCKS_INCLUDED, msg.from, wire.GasLimit, encodeTipSetKey(HEAD)],
          opts,
        )
      ).tokenAmount();
      // × the multiplier in thousandths, in integers (a premium is an exact attoFIL amount).
      let premium = (estimate * BigInt(Math.round(premiumOver * 1000))) / 1000n;
      if (msg.maxFeeCap > 0n && premium > msg.maxFeeCap) premium = msg.maxFeeCap;
      wire.GasPremium = premium.toString();
    }
  }

  async waitMessage(cid: string, confidence: number, opts: CallOptions = {}): Promise<MessageReceipt> {
    const { signal } = opts;
    if (this.messagerRpc !== null && cidStringProblem(cid) !== null) {
      const method = "Message.WaitMessage";
      const raw = await this.messagerRpc.call(method, [cid, confidence], { signal, timeoutMs: 0 });
      const out = decodeMessagerMessage(new Json(method, raw));
      if (out.kind === "receipt") return out.receipt;
      const what = out.state === MessagerState.NonceConflictMsg ? "lost a nonce conflict" : "failed";
      throw new SmError(
        "CHAIN_MESSAGE_FAILED",
        `venus-messager: message ${cid} ${what}${out.error === "" ? "" : `: ${out.error}`}`,
        { id: cid, state: out.state, signedCid: out.signedCid },
      );
    }
    if (cidStringProblem(cid) !== null) {
      throw new SmError("CHAIN_INVALID_MESSAGE", `cannot wait for ${JSON.stringify(cid)}: not a message CID`);
    }
    if (signal?.aborted) throw abortError(signal, "waitMessage aborted");
    // LookbackNoLimit (-1) and allowReplaced=true: a fee-bumped replacement counts as the message.
    const j = await this.call("Filecoin.StateWaitMsg", [{ "/": cid }, confidence, -1, true], {
      signal,
      timeoutMs: 0,
    });
    return decodeMsgLookup(j);
  }
}
