/**
 * The dashboard's data contract (/api/dashboard, /api/events), as the browser sees it. The node's
 * side declares the same interfaces in src/ui/types.ts; this copy exists because the browser code is
 * compiled separately (tsconfig.ui.json, DOM types, no node types) and must not pull node sources
 * into its program. A type test on the node side keeps the two in step.
 */
export interface DashboardState {
  node: { name: string; version: string; modules: string[]; now: string };
  chain: { head: number | null; headTime: string | null; lagSeconds: number | null; network: string | null };
  miners: MinerView[];
  provers: ProverView[];
  cluster: ClusterView | null;
  messages: MessageView[];
  alerts: AlertView[];
  provingTimes: { t: string; miner: string; partition: number; seconds: number }[];
  gateways?: GatewayView[];
}

export interface GatewayView {
  gateway: string;
  miner: string;
  connected: boolean;
  since: string | null;
  requests: number;
  answered: number;
  failed: number;
  lastRequest: { at: string; method: string; result: string; ms: number | null } | null;
  lastError: { at: string; message: string } | null;
}

export type DeadlineState = "empty" | "current" | "proven" | "partly-faulty" | "faulty";

export interface MinerView {
  miner: string;
  provingPeriodStart: number;
  currentDeadline: number;
  deadlinesPerPeriod: number;
  deadlines: DeadlineView[];
  current: CurrentDeadlineView | null;
  senders: { address: string; role: "owner" | "worker" | "control"; balanceFil: string }[];
  /** Under this a worker or control address is low: a day of the miner's messages, or the floor. */
  senderNeedFil: string;
  senderNeedWhy: string;
}

export interface DeadlineView {
  index: number;
  state: DeadlineState;
  partitions: number;
  sectors: number;
  faults: number;
  recoveries: number;
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

export interface CurrentDeadlineView {
  index: number;
  closeEpoch: number;
  epochsLeft: number;
  secondsLeft: number;
  partitions: { index: number; stage: PartitionStage; by: string | null; sectors: number; skipped: number }[];
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
  tasks: Record<"waiting" | "running" | "done" | "failed", number>;
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
