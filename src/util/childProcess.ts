/**
 * Running this program's own CLI as real child processes (the demo, end-to-end tests, benchmarks):
 * lines of output are collected, a caller can wait for a line, and stop() never leaves a process behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SmError } from "./errors.js";

/** dist/cli/main.js of this package, from src/ (under tsx) or dist/ alike. */
export function cliEntry(): string {
  return fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
}

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  /** stdout and stderr lines so far, in arrival order. */
  readonly lines: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLine(re: RegExp, timeoutMs: number): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Called for each output line (live progress). */
  onLine?: (line: string) => void;
  /** Node's own flags before the CLI's entry (startCli only), e.g. `--cpu-prof` for a profile. */
  nodeArgs?: readonly string[];
}

export function startCli(args: readonly string[], opts: StartOptions = {}): Proc {
  return startProcess(process.execPath, [...(opts.nodeArgs ?? []), cliEntry(), ...args], opts);
}

export function startProcess(cmd: string, args: readonly string[], opts: StartOptions = {}): Proc {
  const child = spawn(cmd, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters = new Set<{ re: RegExp; resolve: (l: string) => void }>();
  const onData = (buf: { rest: string }) => (chunk: Buffer) => {
    buf.rest += chunk.toString("utf8");
    let idx = buf.rest.indexOf("\n");
    while (idx >= 0) {
      const line = buf.rest.slice(0, idx);
      buf.rest = buf.rest.slice(idx + 1);
      lines.push(line);
      opts.onLine?.(line);
      for (const w of waiters) {
        if (w.re.test(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
      idx = buf.rest.indexOf("\n");
    }
  };
  child.stdout?.on("data", onData({ rest: "" }));
  child.stderr?.on("data", onData({ rest: "" }));
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.on("error", () => {
      done = true;
      resolve({ code: null, signal: null });
    });
  });
  const proc: Proc = {
    child,
    pid: child.pid ?? -1,
    lines,
    exited,
    waitForLine(re, timeoutMs) {
      const hit = lines.find((l) => re.test(l));
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise<string>((resolve, reject) => {
        const w = { re, resolve };
        waiters.add(w);
        const t = setTimeout(() => {
          waiters.delete(w);
          reject(
            new SmError(
              "TIMEOUT",
              `no line matching ${re} within ${timeoutMs} ms; output so far:\n${lines.slice(-20).join("\n")}`,
            ),
          );
        }, timeoutMs);
        exited.then(() => {
          if (!waiters.has(w)) return;
          waiters.delete(w);
          clearTimeout(t);
          reject(
            new SmError(
              "PROCESS_EXITED",
              `process exited before a line matching ${re}; output:\n${lines.slice(-20).join("\n")}`,
            ),
          );
        });
        const orig = w.resolve;
        w.resolve = (l) => {
          clearTimeout(t);
          orig(l);
        };
      });
    },
    kill(signal) {
      if (!done) child.kill(signal);
    },
    async stop(graceMs = 5000) {
      if (!done) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
        const r = await exited;
        clearTimeout(t);
        return r;
      }
      return exited;
    },
  };
  return proc;
}

/** Run the CLI to completion; resolves with exit code and output. */
export async function runCli(args: readonly string[], opts: StartOptions & { timeoutMs?: number } = {}) {
  const p = startCli(args, opts);
  const t = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
  const r = await p.exited;
  clearTimeout(t);
  // Let the stream handlers flush what arrived with the exit.
  await new Promise((res) => setImmediate(res));
  return { code: r.code, signal: r.signal, output: p.lines.join("\n"), lines: p.lines };
}
