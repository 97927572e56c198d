/**
 * The consumer side of one go-jsonrpc channel (see rpc.ts): an async iterator over the values the
 * server sends with `xrpc.ch.val`. It ends normally on `xrpc.ch.close`, with the error when the
 * connection drops, and `close()` (or leaving a for-await loop) asks the server to stop it.
 *
 * Values are queued until read: ChainNotify sends about one batch per 30 s epoch, so the queue
 * stays tiny unless the consumer stalls.
 */

type Waiter = {
  resolve(r: IteratorResult<unknown>): void;
  reject(e: unknown): void;
};

export class RpcChannel implements AsyncIterableIterator<unknown> {
  /** Server-assigned channel id, the request id that opened it and its socket (set by the RPC client). */
  chanId: number | null = null;
  requestId: number | null = null;
  ws: unknown = null;
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

  bind(chanId: number, requestId: number, ws: unknown): void {
    this.chanId = chanId;
    this.requestId = requestId;
    this.ws = ws;
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
