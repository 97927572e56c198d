/**
 * The processor side of the ext-prover protocol: `venus-sector-manager wdpost` / `winpost`.
 *
 * Prints `<stage> processor ready`, then serves requests from stdin, several at once (the parent's
 * `Concurrent` is the limiter), and writes each response when its work is done, so responses may be
 * out of order. A request line that cannot be parsed is logged to stderr; if it carries a numeric id
 * it is answered with an error so the parent does not wait for it, otherwise it is skipped. Stdin EOF
 * (the parent is gone) ends the process: in-flight work is aborted.
 */
import type { Logger } from "../log/logger.js";
import { AbortedError, errorMessage } from "../util/errors.js";
import {
  encodeResponse,
  LineSplitter,
  MAX_REQUEST_LINE_BYTES,
  type PoStOutput,
  type PoStTask,
  parseRequestLine,
  type Response,
  readyLine,
  type Stage,
} from "./protocol.js";

/** Proves one task; sectors that cannot be proven come back in `faults`, task errors are thrown. */
/** Proves one task; `priority` (lower first) orders its hashing work among other tasks in the same pool. */
export type StageProver = (task: PoStTask, signal: AbortSignal, priority?: number) => Promise<PoStOutput>;

export interface ProcessorDeps {
  stage: Stage;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  logger: Logger;
  prove: StageProver;
  /**
   * Log `ready {pid, ppid, proc}` (default). Off under our own daemon, which logs every child's ready
   * line itself with its block, so it is not shown twice.
   */
  logReady?: boolean;
}

/** One writer: lines go out whole and in the order they are finished, honouring backpressure. */
function lineWriter(out: NodeJS.WritableStream) {
  let tail: Promise<void> = Promise.resolve();
  return (line: string): Promise<void> => {
    tail = tail.then(
      () =>
        new Promise<void>((resolve) => {
          if (out.write(`${line}\n`)) resolve();
          else out.once("drain", () => resolve());
        }),
    );
    return tail;
  };
}

function idOf(line: string): number | undefined {
  try {
    const v = JSON.parse(line) as { id?: unknown };
    return typeof v?.id === "number" && Number.isSafeInteger(v.id) && v.id >= 0 ? v.id : undefined;
  } catch {
    return undefined;
  }
}

export async function runProcessor(deps: ProcessorDeps): Promise<void> {
  const { stage, logger: log } = deps;
  const write = lineWriter(deps.output);
  const stop = new AbortController();
  const inFlight = new Set<Promise<void>>();

  await write(readyLine(stage));
  if (deps.logReady !== false)
    log.info("ready", {
      pid: process.pid,
      ppid: process.ppid,
      proc: stage === "window_post" ? "wdpost" : "winpost",
    });

  const handle = (line: string) => {
    if (line.trim() === "") return;
    let req: ReturnType<typeof parseRequestLine>;
    try {
      req = parseRequestLine(line);
    } catch (e) {
      const id = idOf(line);
      log.warn("malformed request line", { err: errorMessage(e), id: id ?? null, bytes: line.length });
      if (id !== undefined)
        void write(
          encodeResponse(stage, { id, errMsg: `malformed request: ${errorMessage(e)}`, output: null }),
        );
      return;
    }
    const started = Date.now();
    const work = deps
      .prove(req.task, stop.signal)
      .then(
        (output): Response => ({ id: req.id, errMsg: null, output }),
        (e: unknown): Response => ({ id: req.id, errMsg: errorMessage(e), output: null }),
      )
      .then(async (res) => {
        if (stop.signal.aborted) return;
        await write(encodeResponse(stage, res));
        log.info("request done", {
          id: req.id,
          miner: req.task.minerId,
          sectors: req.task.replicas.length,
          faults: res.output?.faults.length ?? 0,
          err: res.errMsg,
          elapsed_ms: Date.now() - started,
        });
      });
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };

  const splitter = new LineSplitter(
    handle,
    (bytes) => log.warn("request line too long, skipped", { bytes, limit: MAX_REQUEST_LINE_BYTES }),
    MAX_REQUEST_LINE_BYTES,
  );
  await new Promise<void>((resolve) => {
    deps.input.on("data", (chunk: Buffer | string) =>
      splitter.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk),
    );
    deps.input.on("end", () => {
      splitter.end();
      resolve();
    });
    deps.input.on("error", (e) => {
      log.warn("stdin error", { err: e.message });
      resolve();
    });
  });
  log.info("stdin closed, the parent is gone; exiting", { in_flight: inFlight.size });
  stop.abort(new AbortedError("processor input closed"));
}
