/**
 * Starting a worker thread on a module of this package. Built, the entry is the `.js` file next to the
 * caller; under tsx (tests, benchmarks) the caller is `.ts` and a worker thread does not inherit tsx's
 * loader, so a two-line bootstrap registers it first.
 */
import { Worker } from "node:worker_threads";

/** `name` without extension, resolved next to `callerUrl` (the caller's import.meta.url). */
export function startModuleWorker(callerUrl: string, name: string): Worker {
  if (!callerUrl.endsWith(".ts")) return new Worker(new URL(`./${name}.js`, callerUrl));
  const api = import.meta.resolve("tsx/esm/api");
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(code, { eval: true });
}
