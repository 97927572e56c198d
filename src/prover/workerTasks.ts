/**
 * Functions that run inside the prover's worker threads. Arguments and results must survive
 * structured cloning (Uint8Array, bigint, plain objects). Errors are sent back as SmError JSON.
 */
import { poseidonHashBytes } from "../proofs/poseidon.js";

/** Hash consecutive groups of `arity` 32-byte nodes: one tree row from the row below it. */
async function hashRow(arity: number, nodes: Uint8Array): Promise<Uint8Array> {
  const groupBytes = arity * 32;
  if (nodes.length % groupBytes !== 0)
    throw new Error(`row of ${nodes.length} bytes is not a whole number of ${arity}-node groups`);
  const out = new Uint8Array(nodes.length / arity);
  const children: Uint8Array[] = new Array(arity);
  for (let g = 0, o = 0; g < nodes.length; g += groupBytes, o += 32) {
    for (let i = 0; i < arity; i++) children[i] = nodes.subarray(g + 32 * i, g + 32 * (i + 1));
    out.set(poseidonHashBytes(children), o);
  }
  return out;
}

export const workerTasks = {
  hashRow,
};

export type WorkerTasks = typeof workerTasks;
export type TaskName = keyof WorkerTasks;
