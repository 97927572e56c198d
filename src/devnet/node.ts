/**
 * A running devnet: the miner-actor state machine (state.ts) plus what a chain adds around it — a
 * block every `blockTimeMs`, a message pool executed at the next epoch, receipts, head-change
 * subscribers, and a snapshot in its home so that a restart continues where it stopped.
 *
 * Block production is serial: a block's messages (proof verification included, in worker threads)
 * finish before the next block starts, so a slow verification delays the chain instead of racing it.
 */
import { EventEmitter } from "node:events";
import fs from "node:fs/promises";
import path from "node:path";
import { encodeCbor } from "../chain/cbor.js";
import { dagCborCid } from "../chain/cid.js";
import type { TipSet } from "../chain/interface.js";
import { type Message, MinerMethod, messageCid } from "../chain/message.js";
import { decodeDeclareFaultsRecoveredParams, decodeSubmitWindowedPoStParams } from "../chain/params.js";
import type { Logger } from "../log/logger.js";
import { MAX_BUNDLE_BYTES } from "../proofs/vanillaBundle.js";
import type { WorkerPool } from "../prover/workerPool.js";
import { errorMessage, SmError, sysCode } from "../util/errors.js";
import type { DeadlineRecord } from "./miner.js";
import { type DevnetPolicy, MAINNET_POLICY } from "./policy.js";
import { type SectorsTextCache, stateFromJSON, stateToJSONText } from "./snapshot.js";
import { ChainState } from "./state.js";

export const DEVNET_NETWORK_NAME = "vsm-devnet";
/**
 * Message limits of the devnet: a SubmitWindowedPoSt carries its vanilla proof bundle in its params
 * (up to MAX_BUNDLE_BYTES, plus the rest of the params), far above a real chain's 2 MiB.
 */
export const DEVNET_MESSAGE_LIMITS = { maxParamsBytes: MAX_BUNDLE_BYTES + (1 << 20) } as const;
/** Exit codes a real chain would give (go-state-types exitcode). */
export const EXIT = {
  Ok: 0,
  SysErrForbidden: 8,
  SysErrInvalidMethod: 3,
  ErrIllegalArgument: 16,
  ErrForbidden: 18,
} as const;

export interface ExecutedMessage {
  cid: string;
  from: string;
  to: string;
  method: number;
  height: number;
  exitCode: number;
  /** Why it failed, for logs and `devnet status`. */
  error: string | null;
}

export interface DevnetOptions {
  home: string;
  blockTimeMs: number;
  policy?: DevnetPolicy;
  logger: Logger;
  /** Genesis timestamp (unix seconds); default now. */
  genesis?: number;
  /**
   * Verify only this many random sector proofs per partition of a SubmitWindowedPoSt (`devnet run
   * --verify-sample`); absent: all. The devnet's one shortcut, for mainnet-sized partitions.
   */
  verifySample?: number;
}

export interface DevnetDeps {
  /** Worker threads that verify the proofs of submitted messages; the caller builds and closes it. */
  pool: WorkerPool;
}

interface Snapshot {
  version: 1;
  genesis: number;
  blockTimeMs: number;
  state: unknown;
  executed: ExecutedMessage[];
  records: DeadlineRecord[];
}

const SNAPSHOT = "devnet.json";
const KEEP = 2000;

export class DevnetNode extends EventEmitter {
  readonly state: ChainState;
  readonly genesis: number;
  readonly blockTimeMs: number;
  readonly executed: ExecutedMessage[];
  readonly records: DeadlineRecord[];
  private readonly mpool: { cid: string; msg: Message }[] = [];
  /** Messages of the block being produced: no longer in the pool, not yet executed. */
  private readonly executing = new Set<string>();
  private readonly nonces = new Map<string, number>();
  private readonly pool: WorkerPool;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private saving: Promise<void> = Promise.resolve();
  private readonly sectorsText: SectorsTextCache = new Map();
  /** Identifies this chain in block CIDs (its randomness seed, hex). */
  private readonly chainId: string;

  private constructor(
    private readonly opts: DevnetOptions,
    deps: DevnetDeps,
    snap: { state: ChainState; genesis: number; executed: ExecutedMessage[]; records: DeadlineRecord[] },
  ) {
    super();
    this.setMaxListeners(1000);
    this.state = snap.state;
    this.genesis = snap.genesis;
    this.blockTimeMs = opts.blockTimeMs;
    this.executed = snap.executed;
    this.records = snap.records;
    this.pool = deps.pool;
    this.chainId = Buffer.from(this.state.seed).toString("hex");
  }

  /** Open the devnet in `home`: continue its snapshot, or start a new chain. */
  static async open(opts: DevnetOptions, deps: DevnetDeps): Promise<DevnetNode> {
    const file = path.join(opts.home, SNAPSHOT);
    let raw: string | undefined;
    try {
      raw = await fs.readFile(file, "utf8");
    } catch (e) {
      if (sysCode(e) !== "ENOENT")
        throw new SmError("DEVNET_UNREADABLE", `cannot read ${file}: ${errorMessage(e)}`);
    }
    if (raw === undefined) {
      const seed = crypto.getRandomValues(new Uint8Array(32));
      const state = new ChainState({ seed, policy: opts.policy ?? MAINNET_POLICY, epoch: 0 });
      return new DevnetNode(opts, deps, {
        state,
        genesis: opts.genesis ?? Math.floor(Date.now() / 1000),
        executed: [],
        records: [],
      });
    }
    let snap: Snapshot;
    try {
      snap = JSON.parse(raw) as Snapshot;
      if (snap.version !== 1) throw new Error(`unknown snapshot version ${String(snap.version)}`);
    } catch (e) {
      throw new SmError(
        "DEVNET_BAD_SNAPSHOT",
        `${file} is not a devnet snapshot (${errorMessage(e)}); move it away to start a new chain`,
      );
    }
    const state = stateFromJSON(snap.state);
    if (opts.policy && JSON.stringify(opts.policy) !== JSON.stringify(state.policy)) {
      opts.logger.warn(
        "the devnet in this home keeps the policy it was created with; new policy flags are ignored",
        { home: opts.home },
      );
    }
    return new DevnetNode(opts, deps, {
      state,
      genesis: snap.genesis,
      executed: snap.executed ?? [],
      records: snap.records ?? [],
    });
  }

  /** One block per epoch, its CID derived from the chain id and the height (no null rounds). */
  tipsetKey(height: number): string[] {
    return [dagCborCid(encodeCbor(["vsm-devnet-block", this.chainId, height])).toString()];
  }

  tipset(height: number): TipSet {
    return {
      key: this.tipsetKey(height),
      height,
      timestamp: this.genesis + Math.floor((height * this.blockTimeMs) / 1000),
      ...(height > 0 ? { parents: this.tipsetKey(height - 1) } : {}),
    };
  }

  head(): TipSet {
    return this.tipset(this.state.epoch);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const loop = async () => {
      if (!this.running) return;
      const t0 = Date.now();
      try {
        await this.produceBlock();
      } catch (e) {
        this.opts.logger.error("block production failed", { epoch: this.state.epoch, err: errorMessage(e) });
      }
      if (this.running) this.timer = setTimeout(loop, Math.max(0, this.blockTimeMs - (Date.now() - t0)));
    };
    this.timer = setTimeout(loop, this.blockTimeMs);
  }

  /** One epoch: close deadlines, execute the pool at the new epoch, persist, announce. */
  async produceBlock(): Promise<TipSet> {
    const height = this.state.epoch + 1;
    this.state.advanceTo(height);
    // The node keeps the records (bounded); the state's own list is drained so snapshots stay small.
    const closed = this.state.takeRecords();
    const batch = this.mpool.splice(0, this.mpool.length);
    for (const m of batch) this.executing.add(m.cid);
    for (const m of batch) {
      this.executed.push(await this.execute(m.cid, m.msg, height));
      this.executing.delete(m.cid);
    }
    for (const r of closed) {
      this.records.push(r);
      this.opts.logger.info("deadline closed", {
        miner: r.miner,
        index: r.index,
        proven: r.proven,
        missed: r.missed,
        new_faults: r.newFaults.length,
        recovered: r.recovered.length,
        rejections: r.rejections.length,
      });
    }
    this.executed.splice(0, Math.max(0, this.executed.length - KEEP));
    this.records.splice(0, Math.max(0, this.records.length - KEEP));
    await this.save();
    const ts = this.head();
    this.emit("block", ts);
    return ts;
  }

  private async execute(cid: string, msg: Message, height: number): Promise<ExecutedMessage> {
    const to = msg.to.toString("f");
    const from = msg.from.toString("f");
    const base = { cid, from, to, method: msg.method, height };
    const fail = (exitCode: number, error: string): ExecutedMessage => {
      this.opts.logger.warn("message failed", {
        cid,
        to,
        method: msg.method,
        exit_code: exitCode,
        err: error,
      });
      return { ...base, exitCode, error };
    };
    let info: ReturnType<ChainState["minerInfo"]>;
    try {
      info = this.state.minerInfo(to);
    } catch {
      return fail(EXIT.SysErrInvalidMethod, `${to} is not a miner actor on this devnet`);
    }
    if (![info.owner, info.worker, ...info.controlAddresses].includes(from)) {
      return fail(EXIT.ErrForbidden, `${from} is not the owner, worker or a control address of ${to}`);
    }
    try {
      if (msg.method === MinerMethod.SubmitWindowedPoSt) {
        const params = decodeSubmitWindowedPoStParams(msg.params, { maxProofBytes: MAX_BUNDLE_BYTES });
        const r = await this.state.submitWindowedPoSt(
          to,
          params,
          height,
          // A copy of the entry's bytes: a view is cloned to the worker with its whole buffer (the bundle).
          (o) => this.pool.run("verifySectorBytes", [{ ...o, proofBytes: o.proofBytes.slice() }]),
          this.opts.verifySample,
        );
        if (!r.ok) return fail(EXIT.ErrIllegalArgument, r.reason);
        this.opts.logger.info("window post accepted", {
          miner: to,
          deadline: params.deadline,
          partitions: r.partitions,
          new_faults: r.newFaults,
          recovered: r.recovered,
          sector_proofs: r.entries,
          verified: r.verified,
        });
      } else if (msg.method === MinerMethod.DeclareFaultsRecovered) {
        const r = this.state.declareFaultsRecovered(
          to,
          decodeDeclareFaultsRecoveredParams(msg.params),
          height,
        );
        if (!r.ok) return fail(EXIT.ErrIllegalArgument, r.reason);
        this.opts.logger.info("recoveries declared", { miner: to, sectors: r.recovering.length });
      } else {
        return fail(
          EXIT.SysErrInvalidMethod,
          `method ${msg.method} is not implemented by the devnet (SubmitWindowedPoSt ${MinerMethod.SubmitWindowedPoSt}, DeclareFaultsRecovered ${MinerMethod.DeclareFaultsRecovered})`,
        );
      }
    } catch (e) {
      return fail(EXIT.ErrIllegalArgument, errorMessage(e));
    }
    return { ...base, exitCode: EXIT.Ok, error: null };
  }

  /** Accept a message (MpoolPushMessage): nonce and gas filled in, executed in the next block. */
  push(msg: Message): { cid: string; msg: Message } {
    const from = msg.from.toString("f");
    const nonce = this.nonces.get(from) ?? 0;
    this.nonces.set(from, nonce + 1);
    const filled: Message = {
      ...msg,
      nonce,
      gasLimit: msg.gasLimit || 10_000_000,
      gasFeeCap: msg.gasFeeCap || 100_000n,
      gasPremium: msg.gasPremium || 1000n,
    };
    const cid = messageCid(filled, DEVNET_MESSAGE_LIMITS).toString();
    this.mpool.push({ cid, msg: filled });
    return { cid, msg: filled };
  }

  findExecuted(cid: string): ExecutedMessage | undefined {
    for (let i = this.executed.length - 1; i >= 0; i--)
      if (this.executed[i]?.cid === cid) return this.executed[i];
    return undefined;
  }

  isPending(cid: string): boolean {
    return this.executing.has(cid) || this.mpool.some((m) => m.cid === cid);
  }

  /** The sample size of judgement (`devnet run --verify-sample`), or undefined: every sector proof. */
  get verifySample(): number | undefined {
    return this.opts.verifySample;
  }

  private save(): Promise<void> {
    // The same JSON as JSON.stringify(snapshot), with the state's text built by stateToJSONText, which
    // keeps the sector lists' text between blocks (they are most of it at mainnet size).
    const head = JSON.stringify({
      version: 1,
      genesis: this.genesis,
      blockTimeMs: this.blockTimeMs,
      executed: this.executed,
      records: this.records,
    } satisfies Omit<Snapshot, "state">);
    const text = `${head.slice(0, -1)},"state":${stateToJSONText(this.state, this.sectorsText)}}`;
    const file = path.join(this.opts.home, SNAPSHOT);
    const tmp = `${file}.tmp`;
    // Serialised, atomic (write + rename): a crash leaves the previous snapshot whole.
    this.saving = this.saving.then(async () => {
      await fs.writeFile(tmp, text);
      await fs.rename(tmp, file);
    });
    return this.saving;
  }

  async close(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.saving.catch(() => {});
  }
}
