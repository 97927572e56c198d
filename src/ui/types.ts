/**
 * The dashboard's data contract (/api/dashboard and the `state` events of /api/events), shared with
 * the page, which imports these types. Changing a field changes what the page reads: keep both sides
 * in step.
 */

export interface DashboardState {
  node: { name: string; version: string; modules: string[]; now: string /* ISO */ };
  chain: {
    head: number | null;
    /** ISO time of the head's timestamp. */
    headTime: string | null;
    lagSeconds: number | null;
    network: string | null;
  };
  miners: MinerView[];
  /** ext-prover children (empty without --ext-prover). */
  provers: ProverView[];
  /** null when the node is not a cluster member. */
  cluster: ClusterView | null;
  /** Recent SubmitWindowedPoSt / DeclareFaultsRecovered, newest first, ≤ 50. */
  messages: MessageView[];
  /** Newest first. */
  alerts: AlertView[];
  /** Last days, ≤ 2000 points. */
  provingTimes: ProvingTime[];
  /** sophon-gateway registrations of a `--miner` node; absent when the node has none to show. */
  gateways?: GatewayView[];
}

/**
 * One sophon-gateway registration of a `--miner` node (docs/winning-post.md): the same as
 * `util miner gateways` shows.
 */
export interface GatewayView {
  gateway: string;
  miner: string;
  connected: boolean;
  /** ISO time `connected` took its value; null before the first attempt. */
  since: string | null;
  requests: number;
  answered: number;
  failed: number;
  lastRequest: { at: string; method: string; result: string; ms: number | null } | null;
  lastError: { at: string; message: string } | null;
}

export interface ProvingTime {
  t: string;
  miner: string;
  partition: number;
  seconds: number;
}

export interface MinerView {
  miner: string;
  provingPeriodStart: number;
  currentDeadline: number;
  /** 48 on mainnet. */
  deadlinesPerPeriod: number;
  /** One per deadline index, length deadlinesPerPeriod. */
  deadlines: DeadlineView[];
  current: CurrentDeadlineView | null;
  senders: SenderView[];
  /** The balance under which a worker or control address is low: a day of this miner's messages, or the floor. */
  senderNeedFil: string;
  /** How senderNeedFil was found, in words. */
  senderNeedWhy: string;
}

export interface SenderView {
  address: string;
  role: "owner" | "worker" | "control";
  balanceFil: string;
}

/** Curio's vocabulary for a deadline of the grid. */
export type DeadlineGridState = "empty" | "current" | "proven" | "partly-faulty" | "faulty";

export interface DeadlineView {
  index: number;
  state: DeadlineGridState;
  partitions: number;
  sectors: number;
  faults: number;
  recoveries: number;
  /** ISO times, estimated from epochs and block time. */
  open: string;
  close: string;
  openEpoch: number;
  closeEpoch: number;
}

export type PartitionStage =
  | "waiting"
  | "checking"
  | "proving"
  | "proven"
  | "submitted"
  | "on-chain"
  | "failed";

export interface CurrentPartitionView {
  index: number;
  stage: PartitionStage;
  /** The child block (e.g. "WdPost[0]") or cluster node that works on it. */
  by: string | null;
  sectors: number;
  skipped: number;
}

export interface CurrentDeadlineView {
  index: number;
  closeEpoch: number;
  epochsLeft: number;
  secondsLeft: number;
  partitions: CurrentPartitionView[];
  /** Epochs before Close of the last landed message of this miner. */
  lastMargin: number | null;
}

export interface ProverView {
  block: string;
  cudaVisibleDevices: string | null;
  state: string;
  inFlight: number;
  done: number;
  failed: number;
  restarts: number;
  avgMs: number | null;
}

export type TaskCounts = Record<"waiting" | "running" | "done" | "failed", number>;

export interface ClusterView {
  nodes: {
    name: string;
    alive: boolean;
    capacity: number;
    inFlight: number;
    cordoned: boolean;
    lastHeartbeat: string;
    /** The partition tasks it runs now, as "f01000 deadline 3 partition 0". */
    holds: string[];
  }[];
  takeovers: number;
  tasks: TaskCounts;
}

export interface MessageView {
  cid: string;
  miner: string;
  method: "SubmitWindowedPoSt" | "DeclareFaultsRecovered";
  partitions: number[];
  gasUsed: number | null;
  exitCode: number | null;
  height: number | null;
  time: string;
}

export type AlertKind =
  | "deadline-at-risk"
  | "deadline-missed"
  | "new-faults"
  | "prover-down"
  | "prover-flapping"
  | "cluster-node-dead"
  | "sender-balance-low"
  | "chain-stale";

export interface AlertView {
  id: string;
  severity: "critical" | "warning";
  kind: AlertKind;
  miner: string | null;
  message: string;
  since: string;
}
