/**
 * A real JSON-RPC server on loopback in front of a real chain node (the devnet), forwarding every call
 * and ChainNotify value, unless the test says otherwise: a method can be answered with a JSON-RPC
 * error or an answer of the wrong shape, the whole server can hang (requests and head changes held,
 * as a stopped node) and be released, and ChainNotify values can be rewritten on their way. Built on
 * the FakeLotus server of the chain client tests (go-jsonrpc's HTTP, WebSocket and channel protocol).
 */
import type { ApiEndpoint } from "../../src/chain/lotus/endpoint.js";
import { parseApiEndpoint } from "../../src/chain/lotus/endpoint.js";
import { LotusRpc } from "../../src/chain/lotus/rpc.js";
import { SmError } from "../../src/util/errors.js";
import { FakeChannel, FakeLotus, type Handler, RpcFault } from "../unit/chain/lotus/fakeLotus.js";

/**
 * What to do with one call: undefined forwards it; an RpcFault is answered as a JSON-RPC error, a
 * WrongShape as a successful answer carrying its value (a result of the wrong shape).
 */
export type Fault = (method: string, params: unknown[]) => RpcFault | WrongShape | undefined;

export class WrongShape {
  constructor(readonly result: unknown) {}
}

const METHODS = [
  "Filecoin.StateNetworkName",
  "Filecoin.ChainHead",
  "Filecoin.StateNetworkVersion",
  "Filecoin.StateMinerInfo",
  "Filecoin.StateMinerProvingDeadline",
  "Filecoin.StateMinerPartitions",
  "Filecoin.StateMinerDeadlines",
  "Filecoin.StateMinerSectors",
  "Filecoin.StateSectorGetInfo",
  "Filecoin.StateGetRandomnessFromBeacon",
  "Filecoin.StateGetRandomnessFromTickets",
  "Filecoin.StateGetActor",
  "Filecoin.StateLookupID",
  "Filecoin.GasEstimateGasLimit",
  "Filecoin.GasEstimateGasPremium",
  "Filecoin.MpoolPushMessage",
  "Filecoin.StateWaitMsg",
];

export class ChainGate {
  /** Decides the fate of each call (forward by default). */
  fault: Fault = () => undefined;
  /** Rewrites each ChainNotify value on its way (identity by default). */
  rewrite: (value: unknown) => unknown = (v) => v;
  /** Calls answered with a fault, by method. */
  readonly faulted = new Map<string, number>();
  private gate: Promise<void> | null = null;
  private release: () => void = () => {};

  private constructor(
    readonly server: FakeLotus,
    private readonly upstream: LotusRpc,
  ) {}

  /** Forwards to the chain node at `chain` (a `[Common.API] Chain` line's value: token:multiaddr). */
  static async start(chain: string): Promise<ChainGate> {
    const endpoint = parseApiEndpoint(chain, { key: "Common.API.Chain", path: "/rpc/v1" });
    const upstream = new LotusRpc({ endpoint, label: "devnet", pingIntervalMs: 0 });
    let gate: ChainGate | undefined;
    const handlers: Record<string, Handler> = {};
    for (const m of METHODS) handlers[m] = (params) => (gate as ChainGate).forward(m, params);
    handlers["Filecoin.ChainNotify"] = () => (gate as ChainGate).notify();
    gate = new ChainGate(await FakeLotus.start(handlers), upstream);
    return gate;
  }

  /** Endpoint of this server, for a LotusChainClient. */
  get endpoint(): ApiEndpoint {
    return parseApiEndpoint(this.server.multiaddr, { key: "Common.API.Chain", path: "/rpc/v1" });
  }

  /**
   * Hold every call until `resume()`, as a chain node that stopped; head changes meanwhile are lost
   * (as with a subscription that died with the node): the first one after `resume()` tells the head.
   */
  hang(): void {
    if (this.gate) return;
    this.gate = new Promise((r) => {
      this.release = r;
    });
  }

  resume(): void {
    this.gate = null;
    this.release();
  }

  private async forward(method: string, params: unknown[]): Promise<unknown> {
    while (this.gate) await this.gate;
    const f = this.fault(method, params);
    if (f !== undefined) {
      this.faulted.set(method, (this.faulted.get(method) ?? 0) + 1);
      if (f instanceof RpcFault) throw f;
      return f.result;
    }
    try {
      return await this.upstream.call(method, params, { timeoutMs: 0 });
    } catch (e) {
      if (e instanceof SmError && e.code === "CHAIN_RPC_ERROR")
        throw new RpcFault(Number(e.fields.rpcCode ?? 1), String(e.fields.rpcMessage ?? e.message));
      throw e;
    }
  }

  private async notify(): Promise<FakeChannel> {
    while (this.gate) await this.gate;
    const ch = new FakeChannel();
    const sub = await this.upstream.subscribe("Filecoin.ChainNotify", []);
    void (async () => {
      try {
        for await (const v of sub) {
          // The channel's socket is set once this handler's answer is sent.
          while (ch.ws === null) await new Promise((r) => setImmediate(r));
          if (this.gate) continue;
          if (ch.cancelled) break;
          ch.send(this.rewrite(v));
        }
      } catch {
        // upstream gone: the test is ending
      } finally {
        sub.close();
      }
    })();
    void ch.cancelledP.then(() => sub.close());
    return ch;
  }

  async close(): Promise<void> {
    this.resume();
    this.upstream.close();
    await this.server.close();
  }
}

export { RpcFault };
