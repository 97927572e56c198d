/**
 * go-jsonrpc's channel dialect (`websocket.go`, filecoin-project/go-jsonrpc v0.10) on top of the
 * WebSocket transport: a method that returns a Go channel (Lotus' ChainNotify, our server's
 * ChannelResult) answers with a channel id as its result, then sends the notifications
 * `{"method":"xrpc.ch.val","params":[chanId, value]}` and finally `xrpc.ch.close` `[chanId]`. The
 * client stops a channel (or any call in flight) with the notification `xrpc.cancel` `[requestId]`,
 * which cancels the server-side context of that request. When the socket drops, its channels end
 * with the error its calls failed with.
 */
import type { Logger } from "../log/logger.js";
import { nullLogger } from "../log/logger.js";
import type { RpcCallOptions } from "./transport.js";
import { WsTransport, type WsTransportOptions } from "./ws.js";

/** What go-jsonrpc's client sends to give up a call or a channel: `xrpc.cancel [requestId]`. */
export const CANCEL_METHOD = "xrpc.cancel";
const VALUE_METHOD = "xrpc.ch.val";
const CLOSE_METHOD = "xrpc.ch.close";

type Waiter = {
  resolve(r: IteratorResult<unknown>): void;
  reject(e: unknown): void;
};

/**
 * The consumer side of one channel: an async iterator over the values the server sends with
 * `xrpc.ch.val`. It ends normally on `xrpc.ch.close`, with the error when the connection drops, and
 * `close()` (or leaving a for-await loop) asks the server to stop it.
 *
 * Values are queued until read: ChainNotify sends about one batch per 30 s epoch, so the queue
 * stays tiny unless the consumer stalls.
 */
export class RpcChannel implements AsyncIterableIterator<unknown> {
  /** Server-assigned channel id, the request id that opened it and its socket (set by GoChannels). */
  chanId: number | null = null;
  requestId: number | null = null;
  socket: number | null = null;
  private readonly queue: unknown[] = [];
  private waiter: Waiter | null = null;
  private ended = false;
  private error: unknown = null;
  private cancelled = false;
  private readonly endHooks: (() => void)[] = [];

  constructor(
    readonly method: string,
    private readonly cancel: () => void,
  ) {}

  /** Whether the channel has ended (closed by either side, or its connection dropped). */
  get hasEnded(): boolean {
    return this.ended;
  }

  bind(chanId: number, requestId: number, socket: number): void {
    this.chanId = chanId;
    this.requestId = requestId;
    this.socket = socket;
  }

  /** Runs `hook` once when the channel ends (any way). */
  onEnd(hook: () => void): void {
    if (this.ended) hook();
    else this.endHooks.push(hook);
  }

  push(value: unknown): void {
    if (this.ended) return;
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value, done: false });
    } else {
      this.queue.push(value);
    }
  }

  /** Ends the stream: normally when `err` is null, else readers get `err` after the queued values. */
  end(err: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = err;
    for (const h of this.endHooks.splice(0)) h();
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      if (err === null) w.resolve({ value: undefined, done: true });
      else {
        this.error = null;
        w.reject(err);
      }
    }
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift(), done: false });
    if (this.ended) {
      const err = this.error;
      this.error = null;
      return err === null ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Stops the channel: the server is sent `xrpc.cancel`; pending and later reads end. */
  close(): void {
    if (!this.cancelled) {
      this.cancelled = true;
      this.queue.length = 0;
      this.end(null);
      this.cancel();
    }
  }

  return(): Promise<IteratorResult<unknown>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * A WebSocket transport that speaks go-jsonrpc's channels: plain calls through `transport`, channel
 * methods through `subscribe`. Calls it gives up (timeout, abort) are cancelled with `xrpc.cancel`.
 */
export class GoChannels {
  readonly transport: WsTransport;
  private readonly log: Logger;
  private readonly open = new Map<number, RpcChannel>();

  constructor(opts: Omit<WsTransportOptions, "cancelMethod" | "onNotification" | "onDrop">) {
    this.log = opts.logger ?? nullLogger;
    this.transport = new WsTransport({
      ...opts,
      cancelMethod: CANCEL_METHOD,
      onNotification: (method, params) => this.onNotification(method, params),
      onDrop: (err) => this.endAll(err),
    });
  }

  /** Calls a channel-returning method; values arrive through the RpcChannel. */
  async subscribe(
    method: string,
    params: readonly unknown[],
    opts: RpcCallOptions = {},
  ): Promise<RpcChannel> {
    const ch = new RpcChannel(method, () => this.cancel(ch));
    await this.transport.call(method, params, opts, (chanId, requestId, socket) => {
      if (typeof chanId !== "number" || !Number.isSafeInteger(chanId) || chanId < 0)
        return "is not a channel id (expected a non-negative integer)";
      // Registered before the next frame is read: values sent right behind the answer find it.
      ch.bind(chanId, requestId, socket);
      this.open.set(chanId, ch);
      return null;
    });
    if (opts.signal) {
      const signal = opts.signal;
      const onAbort = (): void => ch.close();
      if (signal.aborted) ch.close();
      else {
        signal.addEventListener("abort", onAbort, { once: true });
        ch.onEnd(() => signal.removeEventListener("abort", onAbort));
      }
    }
    return ch;
  }

  private cancel(ch: RpcChannel): void {
    if (ch.chanId !== null && this.open.get(ch.chanId) === ch) this.open.delete(ch.chanId);
    if (ch.socket !== null && ch.requestId !== null)
      this.transport.notify(CANCEL_METHOD, [ch.requestId], ch.socket);
  }

  private onNotification(method: string, params: unknown): void {
    const args = Array.isArray(params) ? params : [];
    const ch = typeof args[0] === "number" ? this.open.get(args[0]) : undefined;
    if (method === VALUE_METHOD) {
      if (ch !== undefined && args.length >= 2) ch.push(args[1]);
    } else if (method === CLOSE_METHOD) {
      if (ch !== undefined) {
        this.open.delete(args[0] as number);
        ch.end(null);
      }
    } else {
      this.log.debug("ignoring a call from the server", { peer: this.transport.label, method });
    }
  }

  private endAll(err: Error): void {
    for (const ch of this.open.values()) ch.end(err);
    this.open.clear();
  }
}
