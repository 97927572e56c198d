/**
 * Prometheus metrics of a node, served at `/metrics`. One creator builds the whole set; components
 * receive `Metrics | undefined`. Names carry a unit suffix; times are in seconds. Labels stay bounded:
 * miner, deadline index (0..47), partition index (a miner's partitions of one deadline), child block,
 * never a sector number or a CID. Every series is described in docs/metrics.md (a test keeps the two
 * in step).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export function createMetrics(opts: { defaults?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaults ?? true) collectDefaultMetrics({ register: registry, prefix: "vsm_" });
  /** Block timestamp of the last head the PoSter followed; the lag is computed at each scrape. */
  let headTimestamp: number | null = null;
  // Before the first head the chain series are absent rather than 0: a 0 lag would read as healthy.
  const chainHeadHeight = new Gauge({
    name: "vsm_chain_head_height",
    help: "Height of the latest head the PoSter followed from the chain node (absent until the first head)",
    registers: [registry],
    collect() {
      if (headTimestamp === null) this.remove();
    },
  });
  const chainHeadTimestamp = new Gauge({
    name: "vsm_chain_head_timestamp_seconds",
    help: "Block timestamp (Unix seconds) of the latest head the PoSter followed (absent until the first head)",
    registers: [registry],
    collect() {
      if (headTimestamp === null) this.remove();
    },
  });
  return {
    registry,
    info: new Gauge({
      name: "vsm_info",
      help: "Node information (always 1)",
      labelNames: ["version", "modules", "indexer"] as const,
      registers: [registry],
    }),
    rpcRequests: new Counter({
      name: "vsm_rpc_requests_total",
      help: "JSON-RPC requests served, by method and result (ok, error, denied, invalid_params, internal, not_found)",
      labelNames: ["method", "result"] as const,
      registers: [registry],
    }),
    rpcDuration: new Histogram({
      name: "vsm_rpc_request_duration_seconds",
      help: "Time to answer a JSON-RPC request",
      labelNames: ["method"] as const,
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    indexLookups: new Counter({
      name: "vsm_sector_index_lookups_total",
      help: "Sector location lookups by indexer (local, proxy, postgres) and result (found, missing, error)",
      labelNames: ["indexer", "result"] as const,
      registers: [registry],
    }),
    extProverRequests: new Counter({
      name: "vsm_ext_prover_requests_total",
      help: "Requests answered by ext-prover children, by stage, block and result (ok, error, abandoned, failed_over)",
      labelNames: ["stage", "block", "result"] as const,
      registers: [registry],
    }),
    extProverInFlight: new Gauge({
      name: "vsm_ext_prover_in_flight",
      help: "Requests occupying a child's slots (a request abandoned by its caller frees its slot at once)",
      labelNames: ["stage", "block"] as const,
      registers: [registry],
    }),
    extProverRestarts: new Counter({
      name: "vsm_ext_prover_child_exits_total",
      help: "ext-prover children that exited (each is respawned with backoff unless removed)",
      labelNames: ["stage", "block"] as const,
      registers: [registry],
    }),
    extProverProtocolErrors: new Counter({
      name: "vsm_ext_prover_protocol_errors_total",
      help: "Lines from ext-prover children that were skipped: not a response, an unknown request id, or over the size limit",
      labelNames: ["stage", "block"] as const,
      registers: [registry],
    }),
    extProverDuration: new Histogram({
      name: "vsm_ext_prover_request_duration_seconds",
      help: "Time from sending a request to a child until its answer",
      labelNames: ["stage", "block"] as const,
      buckets: [0.001, 0.01, 0.1, 1, 10, 60, 300, 900, 1800],
      registers: [registry],
    }),
    winningPostRequests: new Counter({
      name: "vsm_winning_post_requests_total",
      help: "WinningPoSt requests (Venus.ComputeProof) by miner and result (ok, refused, not_found, unprovable, timeout, aborted, error); refused ones carry no miner",
      labelNames: ["miner", "result"] as const,
      registers: [registry],
    }),
    winningPostDuration: new Histogram({
      name: "vsm_winning_post_duration_seconds",
      help: "Time to compute a WinningPoSt that succeeded, by miner and prover (ext, builtin); the budget is 25 s",
      labelNames: ["miner", "prover"] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 25],
      registers: [registry],
    }),
    gatewayConnected: new Gauge({
      name: "vsm_gateway_connected",
      help: "1 while a miner is registered for proof events at a sophon-gateway (ListenProofEvent channel open), 0 while it is not",
      labelNames: ["gateway", "miner"] as const,
      registers: [registry],
    }),
    gatewayRequests: new Counter({
      name: "vsm_gateway_requests_total",
      help: "Proof events from sophon-gateways by gateway, miner and result (ok, error: the proof failed and the gateway was told, invalid: an event this node cannot act on, undelivered: the gateway did not take the answer, channel_closed: the request's channel ended before its answer, so it was not sent, duplicate: an Id seen before)",
      labelNames: ["gateway", "miner", "result"] as const,
      registers: [registry],
    }),
    gatewayAnswerDuration: new Histogram({
      name: "vsm_gateway_answer_duration_seconds",
      help: "Time from a proof event's arrival to its answer accepted by the gateway, by gateway and miner; the budget is 25 s",
      labelNames: ["gateway", "miner"] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 25],
      registers: [registry],
    }),
    gatewayErrors: new Counter({
      name: "vsm_gateway_errors_total",
      help: "sophon-gateway problems by gateway and kind (register: ListenProofEvent failed, lost: a registered channel ended, event: an event that could not be read, proof: a ComputeProof answered with an error, respond: an answer the gateway did not take)",
      labelNames: ["gateway", "kind"] as const,
      registers: [registry],
    }),
    wdpostDeadlines: new Counter({
      name: "vsm_wdpost_deadlines_total",
      help: "WindowPoSt deadlines by miner and result, judged against the partitions the chain said were due: proven (every one proven on chain), empty (nothing was due: no partition, or every sector faulty and none recovering), partial (some not), missed (none, or the deadline closed before it could be started), unknown (what was due could not be read, or its messages had no receipt at Close), aborted (stopped by a reorg, proven again, or by shutdown)",
      labelNames: ["miner", "result"] as const,
      registers: [registry],
    }),
    wdpostPartitions: new Counter({
      name: "vsm_wdpost_partitions_total",
      help: "WindowPoSt partitions by miner and source: proved, stored (reused after a restart), on_chain (already proven), none (nothing provable), failed (check or prover failed for good)",
      labelNames: ["miner", "source"] as const,
      registers: [registry],
    }),
    wdpostPartitionDuration: new Histogram({
      name: "vsm_wdpost_partition_prove_seconds",
      help: "Time to prove one WindowPoSt partition (all prover calls, fault retries included)",
      labelNames: ["miner"] as const,
      buckets: [0.1, 1, 10, 30, 60, 120, 300, 600, 900, 1200, 1800],
      registers: [registry],
    }),
    wdpostSkippedSectors: new Counter({
      name: "vsm_wdpost_skipped_sectors_total",
      help: "Sectors left out of WindowPoSt proofs (Skipped): failed checks or reported faulty by the prover",
      labelNames: ["miner"] as const,
      registers: [registry],
    }),
    wdpostMessages: new Counter({
      name: "vsm_wdpost_messages_total",
      help: "SubmitWindowedPoSt messages by miner and on-chain result (ok, failed: non-zero exit code)",
      labelNames: ["miner", "result"] as const,
      registers: [registry],
    }),
    workerThreads: new Gauge({
      name: "vsm_worker_threads",
      help: "Hashing threads of this process's worker pool (strict checks, built-in provers); a node builds one pool for all its modules",
      registers: [registry],
    }),
    wdpostCloseMargin: new Gauge({
      name: "vsm_wdpost_close_margin_epochs",
      help: "Epochs left before Close when the last message of the miner's latest proven deadline executed; a shrinking margin warns before a deadline is missed",
      labelNames: ["miner"] as const,
      registers: [registry],
    }),
    clusterTasks: new Gauge({
      name: "vsm_cluster_tasks",
      help: "Partition tasks of the PoSter cluster by state (waiting, running, done, failed) over the deadlines still kept in the database; the whole cluster's figure, the same on every node (take max() across nodes)",
      labelNames: ["state"] as const,
      registers: [registry],
    }),
    clusterTaskResults: new Counter({
      name: "vsm_cluster_task_results_total",
      help: "Partition tasks this node ended, by outcome: done (proof recorded), failed (given up for good), retry (handed back for any node), lost (its lease expired or was taken over: the work was dropped)",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    clusterTakeovers: new Counter({
      name: "vsm_cluster_lease_takeovers_total",
      help: "Work this node took over from another node whose lease expired (dead, hung, cut off), by kind (task, group)",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    clusterClaimDuration: new Histogram({
      name: "vsm_cluster_claim_seconds",
      help: "Time of one claim transaction of partition tasks (earliest Close first, FOR UPDATE SKIP LOCKED)",
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    clusterDbErrors: new Counter({
      name: "vsm_cluster_db_errors_total",
      help: "Cluster database operations that failed, by operation (heartbeat, renew, claim, complete, fail, create, group, recovery, expire, count); a rising rate means the node is losing its hold on work",
      labelNames: ["op"] as const,
      registers: [registry],
    }),
    wdpostPartitionLastProve: new Gauge({
      name: "vsm_wdpost_partition_last_prove_seconds",
      help: "Time the latest proof of one WindowPoSt partition took (all prover calls), by miner, deadline index and partition index",
      labelNames: ["miner", "deadline", "partition"] as const,
      registers: [registry],
    }),
    wdpostPartitionSkipped: new Gauge({
      name: "vsm_wdpost_partition_skipped_sectors",
      help: "Sectors left out (Skipped) of the latest proof of one partition, by miner, deadline index and partition index",
      labelNames: ["miner", "deadline", "partition"] as const,
      registers: [registry],
    }),
    wdpostCheckDuration: new Histogram({
      name: "vsm_wdpost_sector_check_seconds",
      help: "Time to check the sectors of one WindowPoSt partition before proving it (files there, strict vanilla proofs), by miner and deadline index",
      labelNames: ["miner", "deadline"] as const,
      buckets: [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600],
      registers: [registry],
    }),
    wdpostFaultySectors: new Gauge({
      name: "vsm_wdpost_faulty_sectors",
      help: "Sectors the chain held faulty in a deadline's partitions when its latest run read them, by miner and deadline index",
      labelNames: ["miner", "deadline"] as const,
      registers: [registry],
    }),
    wdpostMessageExitCodes: new Counter({
      name: "vsm_wdpost_message_exit_codes_total",
      help: "SubmitWindowedPoSt messages executed on chain, by miner and exit code (0 is success)",
      labelNames: ["miner", "exit_code"] as const,
      registers: [registry],
    }),
    wdpostMessageGas: new Histogram({
      name: "vsm_wdpost_message_gas_used",
      help: "Gas used by each executed SubmitWindowedPoSt message, by miner",
      labelNames: ["miner"] as const,
      buckets: [1e6, 5e6, 1e7, 2.5e7, 5e7, 1e8, 2.5e8, 5e8, 1e9],
      registers: [registry],
    }),
    wdpostMessageCloseMargin: new Histogram({
      name: "vsm_wdpost_message_close_margin_epochs",
      help: "Epochs left before the deadline's Close when each SubmitWindowedPoSt message executed, by miner",
      labelNames: ["miner"] as const,
      buckets: [0, 5, 10, 15, 20, 30, 40, 50, 60],
      registers: [registry],
    }),
    wdpostDeadlineCloseMargin: new Gauge({
      name: "vsm_wdpost_deadline_close_margin_epochs",
      help: "Epochs left before Close when the last successful message of the deadline's latest proven run executed, by miner and deadline index",
      labelNames: ["miner", "deadline"] as const,
      registers: [registry],
    }),
    wdpostRunningClose: new Gauge({
      name: "vsm_wdpost_deadline_running_close_epoch",
      help: "Close epoch of each deadline whose run is going on (not judged yet), by miner and deadline index; the series goes away when the run ends. Compare with vsm_chain_head_height for the epochs left",
      labelNames: ["miner", "deadline"] as const,
      registers: [registry],
    }),
    chainHeadHeight,
    chainHeadTimestamp,
    /** Records a head the PoSter followed (height and block timestamp in Unix seconds). */
    chainHead(height: number, timestamp: number): void {
      chainHeadHeight.set(height);
      chainHeadTimestamp.set(timestamp);
      headTimestamp = timestamp;
    },
    chainHeadLag: new Gauge({
      name: "vsm_chain_head_lag_seconds",
      help: "Seconds between now (at scrape) and the block timestamp of the latest head the PoSter followed; grows while no head comes. Absent until the first head",
      registers: [registry],
      collect() {
        if (headTimestamp === null) return this.remove();
        this.set(Math.max(0, Date.now() / 1000 - headTimestamp));
      },
    }),
    extProverChildUp: new Gauge({
      name: "vsm_ext_prover_child_up",
      help: "1 while the ext-prover child of a block is ready, 0 while it is down (exited, starting again, in backoff); a removed block's series goes away",
      labelNames: ["stage", "block"] as const,
      registers: [registry],
    }),
    clusterNodes: new Gauge({
      name: "vsm_cluster_nodes",
      help: "Nodes registered in the PoSter cluster by state: alive (heartbeat within the dead-after time), dead (none since), cordoned (takes no new work; also counted alive or dead); the whole cluster's figure, the same on every node",
      labelNames: ["state"] as const,
      registers: [registry],
    }),
    senderNeed: new Gauge({
      name: "vsm_sender_need_fil",
      help: "The balance a worker or control address of the miner should hold, in FIL: a day of its PoSt messages (one per 3 partitions of each deadline, with the gas its own messages used) at the head's base fee, and never less than [Common.Dashboard] MinSenderBalance; the dashboard's sender-balance-low threshold, set on nodes that follow the chain at every head while a dashboard page is open, every 10th head otherwise",
      labelNames: ["miner"] as const,
      registers: [registry],
    }),
    senderBalance: new Gauge({
      name: "vsm_sender_balance_fil",
      help: "Balance in FIL of each sender the PoSter considered for a miner's messages, by miner, address (f0 ID) and role (owner, worker, control); read whenever a sender is chosen",
      labelNames: ["miner", "address", "role"] as const,
      registers: [registry],
    }),
  };
}

/** attoFIL to FIL as a float (a gauge's precision is plenty for a balance). */
export function attoToFil(atto: bigint): number {
  return Number(atto / 1_000_000_000n) / 1e9;
}

export type Metrics = ReturnType<typeof createMetrics>;
