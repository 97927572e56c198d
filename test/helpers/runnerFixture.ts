/**
 * What the in-process deadline-run tests build around a manual devnet (test/helpers/manualDevnet.ts):
 * RunnerFixture.start gives the parsed sector-manager.cfg, a chain client, the worker pool, the
 * RunnerDeps every run shares and a BlockProducer, and walks to a deadline that holds the sectors.
 *
 * The devnet's block time is an hour, so blocks come only when the test produces them: a test decides
 * how far the chain moves, and a retry's backoff or a slow machine costs no epochs.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ChainPort, DeadlineInfo, TipSetKey } from "../../src/chain/interface.js";
import { LotusChainClient, type LotusChainClientOptions } from "../../src/chain/lotus/client.js";
import { parseSectorManagerConfig } from "../../src/config/load.js";
import type { SectorManagerConfig } from "../../src/config/types.js";
import type { RunningDevnet } from "../../src/daemon/devnetRun.js";
import type { DevnetNode } from "../../src/devnet/node.js";
import type { DevnetPolicy } from "../../src/devnet/policy.js";
import { nullLogger } from "../../src/log/logger.js";
import type { RunnerDeps } from "../../src/poster/types.js";
import { createStrictProbe } from "../../src/prover/strictProbe.js";
import { WorkerPool } from "../../src/prover/workerPool.js";
import { PersistStores } from "../../src/sectors/stores.js";
import { type ManualDevnet, manualDevnetConfig, startManualDevnet } from "./manualDevnet.js";
import { tempDir } from "./tmp.js";

/** The sector-manager.cfg of `manualDevnetConfig(m, lines)`, parsed as the daemon parses it in `dir`. */
export function manualConfig(
  m: ManualDevnet,
  dir: string,
  lines: { proving?: string; post?: string } = {},
): SectorManagerConfig {
  return parseSectorManagerConfig("sector-manager.cfg", manualDevnetConfig(m, lines), dir).config;
}

/** The RunnerDeps that do not change between runs of one test file. */
export type SharedRunnerDeps = Pick<
  RunnerDeps,
  "indexer" | "stores" | "proving" | "format" | "networkMaxPartitions" | "strictProbe"
>;

/**
 * The devnet's index and stores, `config`'s [Common.Proving], vanilla bundles (what the built-in
 * prover makes and the devnet verifies) and 3 partitions per message (the devnet's
 * postedPartitionsMax). With `pool`, strict checks read the sectors in its threads; without, the
 * test brings its own probe.
 */
function runnerDeps(m: ManualDevnet, config: SectorManagerConfig, pool?: WorkerPool): SharedRunnerDeps {
  return {
    indexer: m.indexer,
    stores: new PersistStores(config.Common.PersistStores),
    proving: config.Common.Proving,
    format: "vanilla-bundle",
    networkMaxPartitions: 3,
    ...(pool ? { strictProbe: createStrictProbe(pool) } : {}),
  };
}

export interface SectorsDeadline {
  di: DeadlineInfo;
  /** The head when the deadline was found: the tipset a run starts from. */
  tsk: TipSetKey;
  /** How many partitions the deadline holds. */
  partitions: number;
}

/** What a deadline to advance to must be: see RunnerFixture.advanceToSectorsDeadline. */
export interface SectorsDeadlineWanted {
  /** Its partition count, or a test of that count. */
  partitions: number | ((count: number) => boolean);
  /** It opens after this epoch (a test that takes deadlines in turn passes the last one's Open). */
  after?: number;
  /** Give up after this many blocks (default 200). */
  maxBlocks?: number;
}

/**
 * Produces blocks in the background: the ones asked for with `want(n)` (a pushed message's inclusion
 * and confidence), and one every `everyMs` while that is above 0. `stop()` ends the loop and waits for
 * the block being produced.
 */
export class BlockProducer {
  /** Produce a block every this many ms besides the wanted ones (0: only wanted blocks). */
  everyMs: number;
  #wanted = 0;
  #stopped = false;
  readonly #loop: Promise<void>;

  constructor(node: Pick<DevnetNode, "produceBlock">, opts: { everyMs?: number; pollMs?: number } = {}) {
    this.everyMs = opts.everyMs ?? 0;
    this.#loop = this.#run(node, opts.pollMs ?? 20);
  }

  async #run(node: Pick<DevnetNode, "produceBlock">, pollMs: number): Promise<void> {
    let last = Date.now();
    while (!this.#stopped) {
      if (this.#wanted > 0 || (this.everyMs > 0 && Date.now() - last >= this.everyMs)) {
        if (this.#wanted > 0) this.#wanted--;
        last = Date.now();
        await node.produceBlock();
      }
      await sleep(pollMs);
    }
  }

  /** Blocks still to produce for what asked for them. */
  get wanted(): number {
    return this.#wanted;
  }

  /** Have the next `blocks` blocks produced (replacing what was still wanted). */
  want(blocks: number): void {
    this.#wanted = blocks;
  }

  /**
   * `chain` with every pushed message given the 3 blocks it waits for (inclusion, then confidence).
   */
  producingChain<C extends Pick<ChainPort, "pushMessage">>(chain: C): C {
    const c = Object.create(chain) as C;
    c.pushMessage = async (...a) => {
      const r = await chain.pushMessage(...a);
      this.want(3);
      return r;
    };
    return c;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }
}

export interface RunnerFixtureOptions {
  /** Name prefix of the temp directory. */
  prefix: string;
  /** Synthetic 2 KiB sectors onboarded to f01000. */
  sectors: number;
  /** Over the manual devnet's policy. */
  policy?: Partial<DevnetPolicy>;
  /** [Common.Proving] and [Miners.PoSt] lines of the sector-manager.cfg. */
  lines?: { proving?: string; post?: string };
  /** Worker threads of the built-in prover and the strict checks; 0: no pool (default 2). */
  threads?: number;
  /** Start a BlockProducer with these options. */
  producer?: { everyMs?: number; pollMs?: number };
  /** Options of the chain client read from the cfg's [Common.API]. */
  chain?: Omit<LotusChainClientOptions, "chain" | "messager" | "logger">;
}

/**
 * A manual devnet in a temp directory with the sector-manager.cfg, chain client, worker pool, shared
 * RunnerDeps and block producer a deadline-run test needs; `close()` takes everything down, last
 * built first.
 */
export class RunnerFixture {
  readonly #pool: WorkerPool | undefined;
  readonly #producer: BlockProducer | undefined;
  readonly #close: () => Promise<void>;
  #closing: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly manual: ManualDevnet,
    readonly config: SectorManagerConfig,
    /** Reads the devnet straight, as configured in [Common.API]. */
    readonly chain: LotusChainClient,
    pool: WorkerPool | undefined,
    /** Without `chain` and `logger`, which a run may wrap or record. */
    readonly deps: SharedRunnerDeps,
    producer: BlockProducer | undefined,
    close: () => Promise<void>,
  ) {
    this.#pool = pool;
    this.#producer = producer;
    this.#close = close;
  }

  static async start(opts: RunnerFixtureOptions): Promise<RunnerFixture> {
    const { dir, cleanup } = await tempDir(opts.prefix);
    const undo: (() => unknown)[] = [cleanup];
    try {
      const manual = await startManualDevnet(dir, opts.sectors, opts.policy);
      undo.unshift(() => manual.devnet.close());
      const config = manualConfig(manual, dir, opts.lines);
      const chain = LotusChainClient.fromConfig(config.Common.API, { ...opts.chain, logger: nullLogger });
      undo.unshift(() => chain.close());
      const threads = opts.threads ?? 2;
      const pool = threads > 0 ? new WorkerPool({ size: threads, logger: nullLogger }) : undefined;
      if (pool) undo.unshift(() => pool.close());
      const producer = opts.producer ? new BlockProducer(manual.devnet.node, opts.producer) : undefined;
      const close = async () => {
        await producer?.stop();
        for (const u of undo) await u();
      };
      return new RunnerFixture(
        dir,
        manual,
        config,
        chain,
        pool,
        runnerDeps(manual, config, pool),
        producer,
        close,
      );
    } catch (e) {
      for (const u of undo) await u();
      throw e;
    }
  }

  get devnet(): RunningDevnet {
    return this.manual.devnet;
  }

  /** The devnet node, which produces the blocks. */
  get node(): DevnetNode {
    return this.manual.devnet.node;
  }

  get pool(): WorkerPool {
    if (!this.#pool) throw new Error("this fixture was started with threads: 0");
    return this.#pool;
  }

  get producer(): BlockProducer {
    if (!this.#producer) throw new Error("this fixture was started without a producer");
    return this.#producer;
  }

  /**
   * Produce blocks one by one until the current deadline of f01000 is the one `want` describes, read
   * through `chain` (straight to the devnet, so a test whose run goes through a hanging proxy still
   * moves on); returns it with the head to start a run from.
   */
  async advanceToSectorsDeadline(want: SectorsDeadlineWanted): Promise<SectorsDeadline> {
    const wanted = want.partitions;
    const accepts = typeof wanted === "number" ? (n: number) => n === wanted : wanted;
    for (let i = 0; i < (want.maxBlocks ?? 200); i++) {
      const di = await this.chain.stateMinerProvingDeadline("f01000", []);
      if (di.open > (want.after ?? Number.NEGATIVE_INFINITY)) {
        const partitions = (await this.chain.stateMinerPartitions("f01000", di.index, [])).length;
        if (accepts(partitions)) return { di, tsk: (await this.chain.chainHead()).key, partitions };
      }
      await this.node.produceBlock();
    }
    throw new Error("the sectors' deadline never came");
  }

  /** Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }
}
