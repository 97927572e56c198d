/**
 * Config schema: the one place where every config key, its type, its default and its documentation
 * are written. Validation (`validate.ts`), the commented default files (`render.ts`) and `daemon init`
 * all read from here, so a default can never drift between code and docs.
 *
 * Key names and zero-value rules follow damocles / venus-sector-manager so that an operator's existing
 * `sector-manager.cfg` and `ext-prover.cfg` keep their meaning (reference: damocles-poster.md §3.2, §9.1).
 */

/** What an explicit `0` means for a key, where damocles gives it a meaning other than zero. */
export type ZeroRule = { kind: "default"; value: number } | { kind: "unlimited" };

export type FieldSpec =
  | { kind: "string"; default: string; doc: string; example?: string; oneOf?: readonly string[] }
  | { kind: "optionalString"; doc: string; example?: string }
  | { kind: "bool"; default: boolean; doc: string }
  | {
      kind: "uint";
      default: number;
      doc: string;
      zero?: ZeroRule;
      required?: boolean;
      min?: number;
      max?: number;
    }
  | { kind: "int"; default: number; doc: string; zero?: ZeroRule }
  | { kind: "float"; default: number; doc: string; min?: number; max?: number }
  /** Range in Go duration syntax; `max` defaults to the longest timer Node.js can set (TIMER_MAX_MS). */
  | { kind: "duration"; default: string; doc: string; min?: string; max?: string }
  | { kind: "fil"; default: string; doc: string }
  | { kind: "stringArray"; default: readonly string[]; doc: string; example?: readonly string[] }
  | { kind: "uintArray"; default: readonly number[]; doc: string }
  /** A table whose keys are the user's (env names, meta keys): case is kept, values must be strings. */
  | { kind: "stringMap"; doc: string; example?: Record<string, string> }
  | { kind: "table"; fields: TableSpec; doc?: string }
  | { kind: "tableArray"; fields: TableSpec; doc: string; example?: readonly Record<string, unknown>[] }
  /** Sections this product tolerates but does not use (sealing, snap-up, ...): never warned about. */
  | { kind: "opaque"; doc: string }
  /** Keys that are known from damocles but deliberately ignored here: warned about once, with why. */
  | { kind: "ignored"; doc: string };

export type TableSpec = Record<string, FieldSpec>;

/** setTimeout/AbortSignal.timeout hold a signed 32-bit millisecond count: 596h31m23.647s, ~24.8 days. */
export const TIMER_MAX_MS = 2 ** 31 - 1;
/** The longest whole number of seconds a timer can hold. */
export const TIMER_MAX_SECS = Math.floor(TIMER_MAX_MS / 1000);

/** builtin-actors policy max_partitions_per_deadline: no deadline holds more partitions. */
export const MAX_PARTITIONS_PER_DEADLINE = 3000;
/** ParallelCheckLimit ceiling: beyond this many concurrent checks the open-file limit is the bound anyway. */
export const PARALLEL_CHECK_LIMIT_MAX = 65_536;

const persistStore = {
  Name: {
    kind: "optionalString",
    doc: "Instance name recorded in the sector index. Default: the absolute Path. Must be unique.",
    example: "store1",
  },
  Path: {
    kind: "optionalString",
    doc: "Directory holding sealed/, cache/, update/, update-cache/. Required.",
    example: "/mnt/store1",
  },
  ReadOnly: { kind: "bool", default: false, doc: "Never write to this store." },
  Strict: {
    kind: "bool",
    default: false,
    doc: "Objects read from this store must be regular files: a sector whose sealed file or cache dir here is a symbolic link fails its check (and is skipped in the proof) with that reason.",
  },
  // damocles reads Weight, AllowMiners and DenyMiners only when it chooses a store for a newly sealed sector. This node never places
  // a sector: `util storage attach` indexes sectors where their files already are, and PoSt reads a
  // sector wherever the index says. So they have no meaning here; set, they are warned about.
  Weight: {
    kind: "ignored",
    doc: "it only weighs where damocles places newly sealed sectors; this node never places sectors",
  },
  AllowMiners: {
    kind: "ignored",
    doc: "it only steers where damocles places newly sealed sectors; this node never places sectors (util storage attach indexes them where their files are), and PoSt reads every indexed sector whatever the store allows",
  },
  DenyMiners: {
    kind: "ignored",
    doc: "it only steers where damocles places newly sealed sectors; this node never places sectors (util storage attach indexes them where their files are), and PoSt reads every indexed sector whatever the store denies",
  },
  Meta: {
    kind: "stringMap",
    doc: "Free-form key/value pairs passed to plugins and ext provers (shown over RPC to admin tokens only).",
  },
  PluginName: { kind: "ignored", doc: "objstore plugins are not supported by this implementation" },
  Plugin: { kind: "ignored", doc: "objstore plugins are not supported by this implementation" },
} satisfies TableSpec;

const minerPoSt = {
  Enabled: { kind: "bool", default: true, doc: "Run WindowPoSt for this miner." },
  Sender: { kind: "optionalString", doc: "Deprecated: merged into Senders." },
  Senders: {
    kind: "stringArray",
    default: [],
    doc: "Addresses allowed to send PoSt messages; the valid one (owner/worker/control) with the highest balance is used.",
    example: ["f3abc..."],
  },
  StrictCheck: {
    kind: "bool",
    default: true,
    doc: "Full sector check before proving (sizes and a one-challenge vanilla proof) instead of existence only.",
  },
  Parallel: {
    kind: "bool",
    default: true,
    doc: "Send the partitions of one deadline to the provers all at once (each prover still takes only its Concurrent requests); false = one partition at a time, for a single GPU that must not be shared. damocles defaults to false; true here, because the provers' Concurrent slots already bound the work.",
  },
  GasOverEstimation: {
    kind: "float",
    default: 1.2,
    min: 0,
    max: 10,
    doc: "Gas limit = the node's estimate of the gas used × this (0 = the node's or messager's own setting; below 1 the message would run out of gas, so 0 or 1 to 10).",
  },
  GasOverPremium: {
    kind: "float",
    default: 0,
    min: 0,
    max: 100,
    doc: "Gas premium = the node's premium estimate × this (0 = the estimate unchanged); GasFeeCap still caps what is paid per gas unit.",
  },
  GasFeeCap: { kind: "fil", default: "5 nanoFIL", doc: "Fee cap set on PoSt messages." },
  MaxFeeCap: { kind: "fil", default: "", doc: "Deprecated: used when GasFeeCap is empty or zero." },
  Confidence: {
    kind: "uint",
    default: 10,
    max: 900,
    doc: "Confirmations to wait for a submitted message (900 epochs is the chain's finality).",
  },
  SubmitConfidence: {
    kind: "uint",
    default: 4,
    zero: { kind: "default", value: 4 },
    max: 59,
    doc: "Earliest submission epoch = deadline Open + this (0 = 4, as damocles; a deadline is 60 epochs long).",
  },
  ChallengeConfidence: {
    kind: "uint",
    default: 10,
    zero: { kind: "default", value: 10 },
    max: 79,
    doc: "Proving starts at the deadline's Challenge epoch + this (0 = 10, as damocles; the deadline closes 80 epochs after its Challenge epoch). WARNING: a large value eats into the proving window.",
  },
  MaxRecoverSectorLimit: {
    kind: "uint",
    default: 0,
    zero: { kind: "unlimited" },
    doc: "Most sectors declared recovered per deadline (0 = unlimited).",
  },
  MaxPartitionsPerPoStMessage: {
    kind: "uint",
    default: 0,
    zero: { kind: "unlimited" },
    max: MAX_PARTITIONS_PER_DEADLINE,
    doc: "Partitions per SubmitWindowedPoSt message (0 = the network maximum, 3 since nv21; a larger value is lowered to it).",
  },
  MaxPartitionsPerRecoveryMessage: {
    kind: "uint",
    default: 0,
    zero: { kind: "unlimited" },
    max: MAX_PARTITIONS_PER_DEADLINE,
    doc: "Partitions per DeclareFaultsRecovered message (0 = all in one message; a deadline holds at most 3000 partitions).",
  },
} satisfies TableSpec;

/**
 * Lease and heartbeat defaults of the cluster. A partition task's lease must expire well inside a
 * deadline's slack (a 30-minute window), and a hung node's work must move within seconds: 8 s lease,
 * renewed every 2 s (three renewals may be lost before it expires), heartbeats every 2 s, a node dead
 * after 6 s of silence. damocles' worker-prover uses 3 s / 15 s; Curio's 10 minutes is too slow.
 */
export const CLUSTER_TIMING_DEFAULT = {
  LeaseTimeout: "8s",
  LeaseRenewInterval: "2s",
  HeartbeatInterval: "2s",
  NodeDeadAfter: "6s",
} as const;

const postgresDb = {
  DSN: {
    kind: "optionalString",
    doc: 'libpq-style URL of the database; several host:port separated by commas fail over in order, and target_session_attrs=read-write picks the primary. Required when Driver = "postgres". A password may be given here or in PGPASSWORD; it is never logged.',
    example: "postgres://vsm@db1:5432,db2:5432/vsm?target_session_attrs=read-write",
  },
  LeaseTimeout: {
    kind: "duration",
    default: CLUSTER_TIMING_DEFAULT.LeaseTimeout,
    min: "2s",
    max: "1m0s",
    doc: "A claimed partition task is lost by its node when not renewed for this long (the node died, hung or lost the database), and another node takes it. WARNING: a long lease delays the takeover of a hung node's work toward the deadline's Close.",
  },
  LeaseRenewInterval: {
    kind: "duration",
    default: CLUSTER_TIMING_DEFAULT.LeaseRenewInterval,
    min: "100ms",
    max: "30s",
    doc: "How often a node renews the leases of the tasks it holds; at most half of LeaseTimeout.",
  },
  HeartbeatInterval: {
    kind: "duration",
    default: CLUSTER_TIMING_DEFAULT.HeartbeatInterval,
    min: "100ms",
    max: "30s",
    doc: "How often a node records that it is alive (the database's clock, never the node's).",
  },
  NodeDeadAfter: {
    kind: "duration",
    default: CLUSTER_TIMING_DEFAULT.NodeDeadAfter,
    min: "1s",
    max: "10m0s",
    doc: "A node whose last heartbeat is older than this is shown dead (`util cluster nodes`); at least twice HeartbeatInterval.",
  },
} satisfies TableSpec;

export const sectorManagerSchema = {
  Common: {
    kind: "table",
    fields: {
      API: {
        kind: "table",
        doc: "Chain and messager endpoints.",
        fields: {
          Gateway: {
            kind: "stringArray",
            default: [],
            doc: "sophon-gateway endpoints (`token:multiaddr` or multiaddr; the token defaults to Token). With `daemon run --miner`, every [[Miners]] block with [Miners.Proof] Enabled registers at each one for WinningPoSt proof events (/rpc/v2; docs/winning-post.md). Chain and Messager fall back to the first.",
          },
          Chain: {
            kind: "string",
            default: "",
            doc: "Lotus/Venus full node endpoint: a multiaddr, `token:multiaddr` or an http(s)/ws(s) URL.",
            example: "/ip4/127.0.0.1/tcp/1234",
          },
          Messager: {
            kind: "string",
            default: "",
            doc: "venus-messager endpoint; empty = send messages through the chain node (MpoolPushMessage).",
          },
          Market: {
            kind: "ignored",
            doc: "the market endpoint is a sealing/deal concern; the PoSter never calls it",
          },
          Token: { kind: "string", default: "", doc: "Bearer token for Chain/Messager (never logged)." },
          ChainEventInterval: {
            kind: "duration",
            default: "10s",
            min: "1s",
            doc: "How often to poll ChainHead when the chain endpoint gives no WebSocket (an HTTP-only gateway that refuses the upgrade, e.g. HTTP 501, or a proxy that drops it while HTTP POST works); with a WebSocket, head changes arrive at once. 10s notices a new 30s epoch at most a third of an epoch late; damocles uses 1m.",
          },
        },
      },
      RPC: {
        kind: "table",
        doc: "This node's own JSON-RPC API (/rpc/v0).",
        fields: {
          AnonymousRead: {
            kind: "bool",
            default: true,
            doc: "Allow read-only methods without a token (proxy nodes and damocles proxies call SectorIndexerFind without one). Writes always need a token. With --listen on every interface (the default :1789) the start-up log warns about it.",
          },
        },
      },
      Dashboard: {
        kind: "table",
        doc: "The dashboard at / and its alerts (/api/dashboard).",
        fields: {
          AtRiskEpochs: {
            kind: "uint",
            default: 0,
            max: 2880,
            doc: "Deadline at risk: partitions of the current deadline not on chain with fewer than this many epochs left before Close. 0 = a quarter of the challenge window (15 epochs, 7.5 min on mainnet).",
          },
          MinSenderBalance: {
            kind: "fil",
            default: "1 FIL",
            doc: "Sender balance low: the floor of the balance a worker or control address should hold. Above it, the threshold is a day of the miner's PoSt messages at the head's base fee (one per 3 partitions of each deadline, at the gas its own messages used), exported as vsm_sender_need_fil. The floor covers a base fee that spikes after the estimate: 48 SubmitWindowedPoSt at up to ~0.02 FIL each.",
          },
        },
      },
      PersistStores: {
        kind: "tableArray",
        fields: persistStore,
        doc: "Storage instances holding sealed sectors (`util storage attach` prints the block to add).",
        example: [{ Name: "store1", Path: "/mnt/store1", ReadOnly: false, Strict: false }],
      },
      ScanPersistStores: {
        kind: "ignored",
        doc: "sectorstore.json scanning is not supported yet; list stores under [[Common.PersistStores]]",
      },
      Proving: {
        kind: "table",
        doc: "Sector checks before proving.",
        fields: {
          ParallelCheckLimit: {
            kind: "uint",
            default: 128,
            zero: { kind: "unlimited" },
            max: PARALLEL_CHECK_LIMIT_MAX,
            doc: "Sectors checked at once (0 = unlimited; each check holds a few open files, so keep it well under the open-file limit).",
          },
          SingleCheckTimeout: {
            kind: "duration",
            default: "10m0s",
            min: "1ms",
            doc: "Time limit for checking one sector.",
          },
          PartitionCheckTimeout: {
            kind: "duration",
            default: "20m0s",
            min: "1ms",
            doc: "Time limit for checking one partition; sectors not checked by then count as bad.",
          },
          WorkerProver: { kind: "opaque", doc: "damocles worker-prover settings (not used)." },
        },
      },
      DB: {
        kind: "table",
        doc: "Metadata store.",
        fields: {
          Driver: {
            kind: "string",
            default: "lmdb",
            oneOf: ["lmdb", "badger", "postgres"],
            doc: 'Where the sector index lives. "lmdb": the embedded store in the home ("badger", damocles\' name, means the same). "postgres": the cluster\'s shared PostgreSQL-compatible database, [Common.DB.Postgres] (docs/cluster.md); every node reads sector locations from it.',
          },
          LMDB: {
            kind: "table",
            fields: {
              BaseDir: {
                kind: "string",
                default: "",
                doc: "Directory of the LMDB files; empty = <home>/db.",
              },
            },
          },
          Postgres: {
            kind: "table",
            doc: 'The cluster database, used when Driver = "postgres" (docs/cluster.md).',
            fields: postgresDb,
          },
          Badger: { kind: "opaque", doc: "damocles badger settings (not used)." },
          Mongo: { kind: "opaque", doc: "damocles mongo settings (not supported)." },
          Plugin: { kind: "opaque", doc: "damocles plugin settings (not supported)." },
        },
      },
      MongoKVStore: { kind: "opaque", doc: "legacy damocles setting (not supported)." },
      Plugins: { kind: "opaque", doc: "damocles plugins (not supported)." },
    },
  },
  Miners: {
    kind: "tableArray",
    doc: "One block per miner actor this node serves.",
    example: [{ Actor: 1000 }],
    fields: {
      Actor: {
        kind: "uint",
        default: 0,
        required: true,
        min: 1,
        doc: "Miner actor id (1000 for f01000). Required.",
      },
      PoSt: { kind: "table", fields: minerPoSt, doc: "WindowPoSt." },
      Proof: {
        kind: "table",
        doc: "WinningPoSt.",
        fields: {
          Enabled: {
            kind: "bool",
            default: false,
            doc: "Compute WinningPoSt for this miner (Venus.ComputeProof on a `daemon run --miner` node).",
          },
        },
      },
      Sector: { kind: "opaque", doc: "sealing" },
      SnapUp: { kind: "opaque", doc: "sealing" },
      Commitment: { kind: "opaque", doc: "sealing" },
      Sealing: { kind: "opaque", doc: "sealing" },
    },
  },
} satisfies TableSpec;

const extProverBlock = {
  Bin: {
    kind: "optionalString",
    doc: "Processor binary. Unset: this program's own `wdpost` / `winpost` processor (Args ignored).",
    example: "venus-sector-manager",
  },
  Args: {
    kind: "stringArray",
    default: [],
    doc: "Arguments, passed verbatim when Bin is set.",
    example: ["wdpost"],
  },
  Envs: {
    kind: "stringMap",
    doc: "Environment overrides for this child (CUDA_VISIBLE_DEVICES, TMPDIR, ...). Over RPC, values other than CUDA_VISIBLE_DEVICES and TMPDIR are shown to admin tokens only.",
  },
  Concurrent: {
    kind: "uint",
    default: 1,
    zero: { kind: "default", value: 1 },
    max: 1024,
    doc: "Requests in flight at once on this child (0 = 1).",
  },
  Weight: {
    kind: "uint",
    default: 1,
    zero: { kind: "default", value: 1 },
    max: 1_000_000,
    doc: "Share of work among children with a free slot (0 = 1).",
  },
  ReadyTimeoutSecs: {
    kind: "uint",
    default: 5,
    zero: { kind: "default", value: 5 },
    max: TIMER_MAX_SECS,
    doc: "Seconds the child has to print its ready line (0 = 5).",
  },
} satisfies TableSpec;

/**
 * RequestTimeout defaults, sized to the longest real proof with margin. WindowPoSt: one request is one
 * partition; a SNARK of a full 32/64 GiB partition takes a few minutes on a GPU, the built-in vanilla
 * proofs ~1.3 min on 2 cores; 15 min still leaves half of the 30-min proving window to prove the
 * partition again elsewhere. WinningPoSt: one sector, seconds on a GPU, about a minute on a CPU.
 */
export const EXT_PROVER_REQUEST_TIMEOUT_DEFAULT = { WdPost: "15m0s", WinPost: "2m0s" } as const;
/** RequestTimeout bounds: below 1 s nothing real is proven, above a day a child is stuck anyway. */
export const EXT_PROVER_REQUEST_TIMEOUT_RANGE = { min: "1s", max: "24h0m0s" } as const;

const requestTimeout = (stage: "WdPost" | "WinPost") => ({
  kind: "duration" as const,
  default: EXT_PROVER_REQUEST_TIMEOUT_DEFAULT[stage],
  min: EXT_PROVER_REQUEST_TIMEOUT_RANGE.min,
  max: EXT_PROVER_REQUEST_TIMEOUT_RANGE.max,
  doc: `Longest a request may go unanswered (${EXT_PROVER_REQUEST_TIMEOUT_RANGE.min} to ${EXT_PROVER_REQUEST_TIMEOUT_RANGE.max}); then the child is killed and respawned and its requests go to another child.`,
});

export const extProverSchema = {
  WdPost: {
    kind: "tableArray",
    fields: { ...extProverBlock, RequestTimeout: requestTimeout("WdPost") },
    doc: "WindowPoSt processor children, one per GPU.",
  },
  WinPost: {
    kind: "tableArray",
    fields: { ...extProverBlock, RequestTimeout: requestTimeout("WinPost") },
    doc: "WinningPoSt processor children.",
  },
} satisfies TableSpec;

export const SECTOR_MANAGER_CFG = "sector-manager.cfg";
export const EXT_PROVER_CFG = "ext-prover.cfg";
