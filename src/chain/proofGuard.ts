/**
 * Honest proof types: only the devnet judges vanilla proofs. A real network verifies a Groth16 SNARK
 * of 192 bytes per partition (rust-fil-proofs SINGLE_PARTITION_PROOF_LEN; partition proofs are
 * concatenated), so a SubmitWindowedPoSt carrying anything else is refused before it is sent (it would
 * only burn gas and be rejected) with a message naming the setting that fixes it.
 */
import { SmError } from "../util/errors.js";
import { MinerMethod } from "./message.js";
import { decodeSubmitWindowedPoStParams } from "./params.js";

export const SNARK_PARTITION_PROOF_BYTES = 192;
/** Networks that accept vanilla proof bundles. */
export const VANILLA_NETWORKS: ReadonlySet<string> = new Set(["vsm-devnet"]);

export function assertSubmittableProofs(network: string, method: number, params: Uint8Array): void {
  if (method !== MinerMethod.SubmitWindowedPoSt || VANILLA_NETWORKS.has(network)) return;
  const p = decodeSubmitWindowedPoStParams(params);
  const bytes = p.proofs.reduce((n, x) => n + x.proofBytes.length, 0);
  if (bytes !== SNARK_PARTITION_PROOF_BYTES * p.partitions.length) {
    throw new SmError(
      "CHAIN_VANILLA_PROOF_REFUSED",
      `refusing to send WindowPoSt proofs to ${network}: ${bytes} proof bytes for ${p.partitions.length} partition(s) is not a SNARK (${SNARK_PARTITION_PROOF_BYTES} bytes per partition). The built-in wdpost processor computes vanilla proofs, which only the vsm devnet accepts; set Bin in each [[WdPost]] block of ext-prover.cfg to a SNARK-capable processor (e.g. Bin = "/usr/local/bin/damocles-worker", Args = ["processor", "window_post"])`,
      { network, partitions: p.partitions.length, bytes },
    );
  }
}
