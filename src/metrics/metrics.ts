/**
 * Prometheus metrics of a node, served at `/metrics`. One creator builds the whole set; components
 * receive `Metrics | undefined`. Names carry a unit suffix; times are in seconds.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export function createMetrics(opts: { defaults?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaults ?? true) collectDefaultMetrics({ register: registry, prefix: "vsm_" });
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
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
