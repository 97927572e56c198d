/** Error codes of the cluster engine: nodes, partition tasks, message groups and recoveries. */

export const CLUSTER_ERROR_CODES = [
  /**
   * A result, renewal or message CID from a node that no longer holds the lease it names: the lease
   * expired, another node took the work over, or the work ended (done, failed, closed). Nothing was
   * changed. The node must drop that work and send nothing for it.
   */
  "CLUSTER_LEASE_LOST",
  /**
   * The node's session is not the current one of its name: the node was started again under the same
   * name (or a second process uses that name). The old session may record nothing and claim nothing.
   */
  "CLUSTER_SESSION_STALE",
  /** No node of that name is registered in the cluster database. */
  "CLUSTER_NODE_UNKNOWN",
  /** An argument the engine cannot use (a negative capacity, an empty name, a lease of 0 ms). */
  "CLUSTER_BAD_INPUT",
  /** A partition task's stored job cannot be read (another version wrote it, or it was edited by hand). */
  "CLUSTER_BAD_JOB",
] as const;
export type ClusterErrorCode = (typeof CLUSTER_ERROR_CODES)[number];

declare module "../util/errors.js" {
  interface ErrorCodes extends Record<ClusterErrorCode, "cluster"> {}
}
