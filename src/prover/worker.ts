/**
 * Worker thread entry of the prover pool: runs `workerTasks` by name for the parent.
 */
import { parentPort } from "node:worker_threads";
import { SmError } from "../util/errors.js";
import { workerTasks } from "./workerTasks.js";

interface Call {
  id: number;
  name: string;
  args: unknown[];
}

if (!parentPort) throw new Error("prover worker started outside a worker thread");
const port = parentPort;

port.on("message", (call: Call) => {
  const fn = (workerTasks as Record<string, (...a: unknown[]) => Promise<unknown>>)[call.name];
  if (!fn) {
    port.postMessage({
      id: call.id,
      ok: false,
      error: { code: "PROVER_UNKNOWN_TASK", message: `unknown worker task ${call.name}`, fields: {} },
    });
    return;
  }
  fn(...call.args).then(
    (result) => port.postMessage({ id: call.id, ok: true, result }),
    (e: unknown) => {
      const error =
        e instanceof SmError
          ? e.toJSON()
          : { code: "PROVER_TASK_FAILED", message: e instanceof Error ? e.message : String(e), fields: {} };
      port.postMessage({ id: call.id, ok: false, error });
    },
  );
});
