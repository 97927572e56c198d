/**
 * Composition root of `daemon run`: the only place that knows which implementations are wired
 * together, and the only place that builds them. Built in this order, torn down in reverse:
 *
 *   config (home or --conf-dir) → home lock → metadata store → cluster database (Driver = "postgres":
 *   opened, migrated; clusterDb.ts) → persist stores → sector indexer (local, the database's, or the
 *   source's over RPC with --proxy, which overrides the other two) → metrics → worker pool → chain client →
 *   ext-prover children → WinningPoSt (--miner, with its sophon-gateway registrations) → PoSt runtime →
 *   dashboard (dashboard.ts) → RPC server → <home>/api → PoSter (--poster)
 *
 * The lock is taken before the store is opened so a second daemon on the same home stops with a clear
 * message instead of two writers. The API file is written last, so a client that finds it can call.
 * The node has one of each shared part: one worker pool (the strict checks, the built-in WindowPoSt
 * prover and the built-in WinningPoSt prover all hash in it, so `--miner --poster` never asks for
 * more threads than the machine has; its size is decided by `workerPoolSize`), one chain client and
 * one set of stores. The pool and the chain client start on first use, so a node that never proves
 * starts no threads and opens no chain connection; they are closed after everything that uses them.
 */
import os from "node:os";
import path from "node:path";
import { LotusChainClient } from "../chain/lotus/client.js";
import { resolveApiEndpoints } from "../chain/lotus/endpoint.js";
import { loadConfigDir } from "../config/load.js";
import type { ExtProverConfig, SectorManagerConfig } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import { createMetrics, type Metrics } from "../metrics/metrics.js";
import { startMiner } from "../miner/index.js";
import { provingMethods } from "../poster/provingApi.js";
import { PostRuntime } from "../poster/runtime.js";
import { ExtProvers } from "../prover/ext/index.js";
import type { ChildStatus } from "../prover/ext/pool.js";
import { createWorkerPool, type WorkerPool } from "../prover/workerPool.js";
import { hasPermission, signToken, verifyToken } from "../rpc/auth.js";
import { RpcClient } from "../rpc/client.js";
import { createDispatcher } from "../rpc/dispatch.js";
import { InvalidParamsError } from "../rpc/errors.js";
import { arity, type MethodTable, PERMISSIONS, type Permission, stringParam } from "../rpc/method.js";
import { type RpcServer, startRpcServer } from "../rpc/server.js";
import { CountedIndexer } from "../sectors/counted.js";
import type { SectorIndexer } from "../sectors/interface.js";
import { LocalIndexer } from "../sectors/localIndexer.js";
import { MAX_SOURCE_ANSWER_BYTES, ProxyIndexer, quotePeer } from "../sectors/proxyIndexer.js";
import { sectorIndexerMethods } from "../sectors/rpcApi.js";
import { PersistStores } from "../sectors/stores.js";
import type { KVStore } from "../store/interface.js";
import { Bucket } from "../store/keys.js";
import { errorMessage, SmError } from "../util/errors.js";
import { API_VERSION, VERSION } from "../version.js";
import { type ClusterDb, startClusterDb } from "./clusterDb.js";
import { startDashboard } from "./dashboard.js";
import { defaultNodeName, type HostPort } from "./flags.js";
import {
  acquireHomeLock,
  formatHostPort,
  type HomeLock,
  homePaths,
  readSecret,
  removeApiFile,
  writeApiFile,
} from "./home.js";
import { metadataStoreDir, openMetadataStore } from "./metadataStore.js";
import { startPoster } from "./posterStart.js";

export interface DaemonFlags {
  listen: HostPort;
  miner: boolean;
  poster: boolean;
  proxy: HostPort | undefined;
  proxyIndexerOff: boolean;
  /** Directory the *.cfg files are read from; the home when not given. */
  confDir: string | undefined;
  extProver: boolean;
  /** Token for the source node, when it refuses anonymous reads. */
  proxyToken: string | undefined;
  /** `--name` (checked by parseNodeName); undefined: `<hostname>:<listen port>`. */
  name?: string;
}

export interface RunningNode {
  /** host:port clients on this machine can dial. */
  readonly api: string;
  /** This node's name in the cluster (`--name`, or `<hostname>:<port>`). */
  readonly name: string;
  readonly indexer: SectorIndexer;
  readonly config: SectorManagerConfig;
  /** Re-read ext-prover.cfg and apply it (SIGHUP); throws when the file is invalid (children kept). */
  reloadExtProver(): Promise<unknown>;
  close(): Promise<void>;
}

function modulesText(flags: DaemonFlags): string {
  const m = [flags.miner && "miner", flags.poster && "poster", flags.extProver && "ext-prover"].filter(
    Boolean,
  );
  return m.length ? m.join(",") : "none";
}

function checkExtProver(
  cfg: ExtProverConfig | undefined,
  dir: string,
  log: Logger,
  empty = false,
): ExtProverConfig {
  const file = path.join(dir, "ext-prover.cfg");
  if (!cfg) {
    throw new SmError(
      "EXT_PROVER_CONFIG_MISSING",
      `--ext-prover needs ${file}; run \`vsm daemon init\` to create the default, or copy one from an initialised home`,
    );
  }
  if (cfg.WdPost.length === 0 && cfg.WinPost.length === 0) {
    throw new SmError(
      "EXT_PROVER_NO_BLOCKS",
      `--ext-prover is set but ${file} ${empty ? "is empty, so it has" : "has"} no [[WdPost]] or [[WinPost]] block; add one block per prover child (\`vsm daemon init\` on a fresh home writes a commented example)`,
    );
  }
  log.info("starting ext-prover children", { wdpost: cfg.WdPost.length, winpost: cfg.WinPost.length });
  return cfg;
}

export async function startNode(
  home: string,
  flags: DaemonFlags,
  deps: {
    logger: Logger /** SIGTERM during start: what is up is torn down and start rejects. */;
    shutdown?: AbortSignal;
  },
): Promise<RunningNode> {
  const log = deps.logger.named("daemon");
  const confDir = flags.confDir ?? home;

  const loaded = await loadConfigDir(confDir, { confDir: flags.confDir !== undefined });
  const cfglog = deps.logger.named("config");
  for (const w of loaded.sectorManager.warnings) cfglog.warn(w);
  for (const w of loaded.extProver?.warnings ?? []) cfglog.warn(w);
  for (const f of loaded.unknownFiles)
    cfglog.warn("config file not read by this program", { file: path.join(confDir, f) });
  const config = loaded.sectorManager.config;
  // A chain endpoint that cannot be used (a typo, an API version this client does not speak) is
  // refused at start, not when the first deadline needs it.
  const api = config.Common.API;
  if (api.Chain.trim() !== "" || api.Gateway.some((g) => g.trim() !== "")) resolveApiEndpoints(api);
  if (flags.confDir) log.info("using config files from --conf-dir", { dir: confDir });
  const extCfg = flags.extProver
    ? checkExtProver(loaded.extProver?.config, confDir, log, loaded.emptyExtProver)
    : undefined;
  if (flags.proxyIndexerOff && !flags.proxy)
    log.warn("--proxy-sector-indexer-off has no effect without --proxy");
  const proxied = Boolean(flags.proxy && !flags.proxyIndexerOff);
  // The database holds the sector index unless --proxy overrides it, and the PoSter cluster's work.
  const onDb = config.Common.DB.Driver === "postgres" && !proxied;
  const openDb = config.Common.DB.Driver === "postgres" && (!proxied || flags.poster);
  if (config.Common.DB.Driver === "postgres" && proxied)
    log.info('--proxy overrides [Common.DB] Driver = "postgres": sector locations come from the source node');
  // With --listen=...:0 the port, and so the default name, is known only once the server listens.
  let name =
    flags.name ?? (flags.listen.port !== 0 ? defaultNodeName(os.hostname(), flags.listen.port) : undefined);

  const secret = await readSecret(home);
  const cleanups: (() => Promise<void>)[] = [];
  const teardown = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        log.error("shutdown step failed", { err: errorMessage(e) });
      }
    }
    cleanups.length = 0;
  };

  try {
    const lock: HomeLock = await acquireHomeLock(home, "daemon run");
    cleanups.push(() => lock.release());

    const dbDir = metadataStoreDir(home, config);
    const store: KVStore = await openMetadataStore(home, config, {
      onWriteError: (e) => log.error("sector index write failed", { code: e.code, err: e.message }),
    });
    cleanups.push(() => store.close());
    if (!proxied && !onDb) await warnIfIndexEmpty(store, config, home, dbDir, log);
    let db: ClusterDb | undefined;
    if (openDb) {
      db = await startClusterDb(config, {
        logger: deps.logger,
        name: name ?? os.hostname(),
        home,
        shutdown: deps.shutdown,
      });
      const opened = db;
      cleanups.push(() => opened.close());
    }

    const stores = new PersistStores(config.Common.PersistStores);
    for (const s of await stores.status()) {
      if (s.problem)
        log.warn("persist store is unusable; its sectors will be reported missing until it is back", {
          name: s.name,
          path: s.path,
          problem: s.problem,
        });
    }

    let indexer: SectorIndexer;
    if (flags.proxy && !flags.proxyIndexerOff) {
      const source = formatHostPort(flags.proxy.host, flags.proxy.port);
      const client = new RpcClient({
        url: `http://${source}/rpc/v0`,
        token: flags.proxyToken,
        timeoutMs: 30_000,
        peerName: `source node ${source}`,
        maxAnswerBytes: MAX_SOURCE_ANSWER_BYTES,
      });
      const proxy = new ProxyIndexer(client, source, deps.logger.named("sector-indexer"));
      indexer = proxy;
      const probe = await proxy.probe(deps.shutdown);
      if (probe.state === "node") log.info("source node reachable", { source, version: probe.version });
      else if (probe.state === "not-a-node") log.error(probe.err, { source });
      else
        log.warn(
          probe.state === "refused"
            ? "source node refuses this proxy; sector lookups fail until it is given a token, the node keeps running"
            : "source node not reachable yet; sector lookups fail until it is, the node keeps running",
          { source, err: quotePeer(probe.err) },
        );
    } else if (db && onDb) {
      indexer = db.indexer;
    } else {
      indexer = new LocalIndexer(store);
    }
    const indexerKind = proxied ? "proxy" : onDb ? "postgres" : "local";
    const metrics: Metrics = createMetrics();
    // Every lookup (RPC, PoSter, WinningPoSt, proving check/compute) counts in vsm_sector_index_lookups_total.
    indexer = new CountedIndexer(indexer, metrics, indexerKind);

    let pool: WorkerPool | undefined;
    const workerPool = () => {
      pool ??= createWorkerPool("node", { logger: deps.logger.named("prover"), metrics });
      return pool;
    };
    cleanups.push(async () => {
      await pool?.close();
    });
    let chainClient: LotusChainClient | undefined;
    const chain = () => {
      chainClient ??= LotusChainClient.fromConfig(config.Common.API, { logger: deps.logger.named("chain") });
      return chainClient;
    };
    cleanups.push(async () => {
      chainClient?.close();
    });

    const posterStop = new AbortController();
    let ext: ExtProvers | undefined;
    if (extCfg) {
      ext = await ExtProvers.start(extCfg, { logger: deps.logger, metrics, signal: deps.shutdown });
      const started = ext;
      cleanups.push(() => started.close());
    }
    const reloadExtProver = async () => {
      if (!ext)
        throw new SmError(
          "EXT_PROVER_OFF",
          "this node runs without --ext-prover; there is nothing to reload",
        );
      const again = await loadConfigDir(confDir, { confDir: flags.confDir !== undefined });
      const cfg = again.extProver?.config;
      if (!cfg)
        throw new SmError(
          "EXT_PROVER_CONFIG_MISSING",
          `${path.join(confDir, "ext-prover.cfg")} is gone; the running children were kept`,
        );
      // An empty file is what a write that failed (disk full) leaves: never read as "stop every child".
      if (again.emptyExtProver)
        throw new SmError(
          "CONFIG_EMPTY",
          `${path.join(confDir, "ext-prover.cfg")} is empty; the running children were kept (restore the file, then reload again)`,
        );
      for (const w of again.extProver?.warnings ?? []) cfglog.warn(w);
      return ext.reload(cfg);
    };
    metrics.info.set(
      {
        version: VERSION,
        modules: modulesText(flags),
        indexer: indexerKind,
      },
      1,
    );

    // --miner: WinningPoSt (Venus.ComputeProof) through the [[WinPost]] children or the built-in prover.
    const miner = flags.miner
      ? startMiner(config.Miners, {
          indexer,
          stores,
          ext: () => ext,
          workerPool,
          configFile: homePaths(confDir).sectorManagerCfg,
          api: config.Common.API,
          logger: deps.logger,
          metrics,
        })
      : undefined;
    if (miner) cleanups.push(() => miner.close());
    // Chain client and WindowPoSt prover, shared by --poster and the proving check / compute methods.
    const runtime = new PostRuntime(
      { api: config.Common.API },
      { chain, workerPool, ext: () => ext, logger: deps.logger },
    );
    const methods: MethodTable = {
      ...sectorIndexerMethods({ indexer, stores }),
      ...nodeMethods(secret, flags, () => name ?? ""),
      ...extProverMethods(() => ext, reloadExtProver),
      ...miner?.methods,
      ...provingMethods({ config, indexer, stores, runtime, logger: deps.logger }),
    };
    const dashboard = startDashboard(config, {
      name: () => name ?? "",
      modules: modulesText(flags) === "none" ? [] : modulesText(flags).split(","),
      // Only a node that follows the chain anyway (--poster) reads it for the page.
      chain: flags.poster && config.Miners.some((m) => m.PoSt.Enabled) ? chain : undefined,
      ext: () => ext,
      ...(miner ? { gateways: () => miner.gateways.status() } : {}),
      db,
      metrics,
      logger: deps.logger,
    });
    cleanups.push(() => dashboard.close());
    const server: RpcServer = await startRpcServer({
      extraRoutes: dashboard.routes,
      listen: flags.listen,
      dispatcher: createDispatcher(methods, { logger: deps.logger.named("rpc"), metrics }),
      secret,
      anonymousRead: config.Common.RPC.AnonymousRead,
      logger: deps.logger.named("rpc"),
      metrics,
      health: () => ({ version: VERSION, name, indexer: indexer.description }),
    });
    // Streams end before the server closes (cleanups run backwards), so no open page holds it.
    cleanups.push(async () => {
      await dashboard.close();
      await server.close();
    });
    name ??= defaultNodeName(os.hostname(), server.address.port);
    const api = await writeApiFile(home, flags.listen.host, server.address.port);
    cleanups.push(() => removeApiFile(home, api));

    const listenText = formatHostPort(flags.listen.host || "0.0.0.0", server.address.port);
    const notice = listenNotice(server.allInterfaces, config.Common.RPC.AnonymousRead);
    if (notice) log[notice.level](notice.msg, { listen: listenText });
    if (flags.poster) {
      const poster = await startPoster(config, {
        kv: store,
        indexer,
        stores,
        runtime,
        metrics,
        logger: deps.logger,
        shutdown: posterStop.signal,
        cluster: db && { db, name, address: listenText },
        onRun: (e) => dashboard.model.observeRun(e),
        watchChain: (c) => dashboard.model.watchChain(c),
      });
      cleanups.push(async () => {
        posterStop.abort();
        await poster.done;
      });
    }
    log.info("node ready", {
      name,
      listen: listenText,
      api,
      home,
      confDir,
      indexer: indexer.description,
      modules: modulesText(flags),
      stores: config.Common.PersistStores.length,
      miners: config.Miners.length,
    });

    let closing: Promise<void> | undefined;
    const nodeName = name;
    return {
      api,
      name: nodeName,
      indexer,
      config,
      reloadExtProver,
      close() {
        closing ??= teardown().then(() => log.info("node stopped"));
        return closing;
      },
    };
  } catch (e) {
    await teardown();
    throw e;
  }
}

/**
 * What to say at start about who can reach the API. `--listen=:1789` (the default, as damocles) binds
 * every interface; with anonymous reads on (also the default) anyone on the network can read the
 * sector index, the stores and the provers' state, which deserves one WARN naming both fixes.
 */
export function listenNotice(
  allInterfaces: boolean,
  anonymousRead: boolean,
): { level: "warn" | "info"; msg: string } | undefined {
  if (!allInterfaces) return undefined;
  if (anonymousRead)
    return {
      level: "warn",
      msg: "listening on every network interface with anonymous reads on: anyone who can reach this port can read the sector index, stores and provers; use --listen=127.0.0.1:<port>, or set [Common.RPC] AnonymousRead = false",
    };
  return {
    level: "info",
    msg: "listening on every network interface; every call needs a token ([Common.RPC] AnonymousRead = false)",
  };
}

/**
 * An index with no sector while stores are configured is what a lost, emptied or moved-aside `db/`
 * looks like: LMDB starts such a file as a new, empty index without a word. Say so, with the repair.
 */
async function warnIfIndexEmpty(
  store: KVStore,
  config: SectorManagerConfig,
  home: string,
  dbDir: string,
  log: Logger,
): Promise<void> {
  const stores = config.Common.PersistStores;
  if (stores.length === 0) return;
  for (const b of [Bucket.SectorIndexNormal, Bucket.SectorIndexUpgrade]) {
    for await (const _ of store.scan(Uint8Array.of(b), { limit: 1 })) return;
  }
  log.warn(
    "the sector index is empty but persist stores are configured: every sector is reported missing; if the index was lost or moved aside, re-attach each store (the index is rebuilt from the stores)",
    {
      dir: dbDir,
      stores: stores.length,
      attach: stores
        .slice(0, 8)
        .map(
          (s) =>
            `vsm --home ${home} util storage attach --name ${JSON.stringify(s.Name)} ${JSON.stringify(s.Path)}`,
        ),
    },
  );
}

function nodeMethods(secret: Buffer, flags: DaemonFlags, name: () => string): MethodTable {
  return {
    "Venus.Version": {
      perm: "read",
      doc: "() → {Version, APIVersion, Modules, Name}: Name is this node's name in the cluster (--name)",
      async handler(params) {
        arity(params, 0);
        return { Version: VERSION, APIVersion: API_VERSION, Modules: modulesText(flags), Name: name() };
      },
    },
    "Venus.AuthVerify": {
      perm: "read",
      doc: "(token) → the permissions it grants",
      async handler(params) {
        arity(params, 1);
        return [...verifyToken(secret, stringParam(params[0], "token"))];
      },
    },
    "Venus.AuthNew": {
      perm: "admin",
      doc: "(permission) → a new token granting it and every lower permission (read < write < sign < admin)",
      async handler(params) {
        arity(params, 1);
        const p = stringParam(params[0], "permission");
        if (!(PERMISSIONS as readonly string[]).includes(p))
          throw new InvalidParamsError(`permission must be one of ${PERMISSIONS.join(", ")}`);
        return signToken(secret, p as Permission);
      },
    },
  };
}

/** Env overrides of a child that any reader may see: which GPU and scratch directory it uses. */
export const PUBLIC_PROVER_ENVS: readonly string[] = ["CUDA_VISIBLE_DEVICES", "TMPDIR"];

/**
 * A child's status for a caller without admin permission: `Envs` may hold credentials (an object
 * store's secret key) and `Args` may too, so only the GPU and TMPDIR values are shown, the args are
 * withheld (null), and `hiddenEnvs` counts the env entries left out. The last error's text can quote
 * the child's own output, so only its presence is shown.
 */
export function redactChild(r: ChildStatus): Omit<ChildStatus, "args"> & { args: null; hiddenEnvs: number } {
  const envs = Object.fromEntries(Object.entries(r.envs).filter(([k]) => PUBLIC_PROVER_ENVS.includes(k)));
  return {
    ...r,
    args: null,
    envs,
    hiddenEnvs: Object.keys(r.envs).length - Object.keys(envs).length,
    // A child's last error can quote its own output (paths, keys it printed): admin tokens only.
    lastError: r.lastError ? "an error (its text is shown to admin tokens only)" : r.lastError,
  };
}

function extProverMethods(get: () => ExtProvers | undefined, reload: () => Promise<unknown>): MethodTable {
  return {
    "Venus.ExtProverStatus": {
      perm: "read",
      doc: "() → every ext-prover child: stage, block, pid, state, env overrides (admin: all; others: CUDA_VISIBLE_DEVICES and TMPDIR), in flight, done, failed, restarts, average time",
      async handler(params, ctx) {
        arity(params, 0);
        const rows = get()?.status() ?? [];
        return hasPermission(ctx.perms, "admin")
          ? rows.map((r) => ({ ...r, hiddenEnvs: 0 }))
          : rows.map(redactChild);
      },
    },
    "Venus.ExtProverReload": {
      perm: "admin",
      doc: "() → re-read ext-prover.cfg and apply it: {window_post: {added, removed, changed, retried}, winning_post: {...}}",
      async handler(params) {
        arity(params, 0);
        return reload();
      },
    },
  };
}
