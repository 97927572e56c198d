/**
 * `util sealer proving ...` in lotus-miner's vocabulary: `provers` (the ext-prover children) here;
 * info, deadlines, deadline and faults (read from the chain) in provingChain.ts.
 */
import type { Command } from "commander";
import type { ChildStatus } from "../../prover/ext/pool.js";
import { action, homeOf } from "../context.js";
import { requireDaemon } from "../daemonClient.js";
import { plainTable } from "../format.js";
import { registerProvingChain } from "./provingChain.js";

export function registerProving(util: Command): void {
  const proving = util
    .command("sealer")
    .description("sealer and proving tools")
    .command("proving")
    .description("WindowPoSt proving");
  registerProvingChain(proving);
  proving
    .command("provers")
    .description(
      "list every ext-prover child of the running daemon (or apply an edited ext-prover.cfg with --reload)",
    )
    .option("--reload", "re-read ext-prover.cfg and apply it (same as sending the daemon SIGHUP)", false)
    .option("--json", "print as JSON", false)
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        const client = await requireDaemon(homeOf(cmd));
        if (opts.reload === true) {
          const r = await client.call<Record<string, { added: number; removed: number; changed: number }>>(
            "Venus.ExtProverReload",
            [],
          );
          for (const [stage, c] of Object.entries(r))
            process.stdout.write(
              `${stage}: ${c.added} added, ${c.changed} restarted, ${c.removed} removed\n`,
            );
        }
        const rows = await client.call<ChildStatus[]>("Venus.ExtProverStatus", []);
        if (opts.json === true) {
          process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
          return;
        }
        if (rows.length === 0) {
          process.stdout.write("no ext-prover children (start the daemon with --ext-prover)\n");
          return;
        }
        const t = plainTable([
          "BLOCK",
          "PID",
          "STATE",
          "ENVS",
          "IN-FLIGHT",
          "DONE",
          "FAILED",
          "RESTARTS",
          "AVG",
          "LAST ERROR",
        ]);
        for (const r of rows) {
          const envs =
            Object.entries(r.envs)
              .map(([k, v]) => `${k}=${v}`)
              .join(" ") || "-";
          t.push([
            r.block,
            r.pid > 0 ? String(r.pid) : "-",
            r.state,
            envs,
            `${r.inFlight}/${r.concurrent}`,
            String(r.done),
            String(r.failed),
            String(r.restarts),
            r.avgMs === null ? "-" : `${(r.avgMs / 1000).toFixed(1)}s`,
            r.lastError ?? "",
          ]);
        }
        process.stdout.write(`${t.toString()}\n`);
      }),
    );
}
