/** The ext-prover children of a running daemon, as an operator lists them. */
import assert from "node:assert/strict";
import type { ChildStatus } from "../../src/prover/ext/pool.js";
import { runCli } from "../../src/util/childProcess.js";

/**
 * `util sealer proving provers --json` on `home`: fails the test unless the command succeeds and
 * prints only the JSON array.
 */
export async function proverRows(home: string, env?: NodeJS.ProcessEnv): Promise<ChildStatus[]> {
  const r = await runCli(["--home", home, "util", "sealer", "proving", "provers", "--json"], { env });
  assert.equal(r.code, 0, r.output);
  return JSON.parse(r.output) as ChildStatus[];
}
