import type { Command } from "commander";
import { runDemo } from "../../daemon/demo.js";
import { runClusterDemo } from "../../daemon/demoCluster.js";
import { action } from "../context.js";

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "run the seed's deployment on this machine: a source node and a proxy PoSter node sharing its config, end to end",
    )
    .option("--keep", "keep the demo's temporary directory", false)
    .option(
      "--cluster",
      "run the PoSter cluster instead: three PoSter nodes sharing one miner's deadlines through a throwaway local PostgreSQL server (its binaries initdb and pg_ctl: /usr/lib/postgresql/*/bin, PATH, or VSM_PG_BIN_DIR), one node killed mid-deadline",
      false,
    )
    .action(
      action(async (opts: Record<string, unknown>) => {
        const o = { keep: opts.keep === true, out: (l: string) => process.stdout.write(`${l}\n`) };
        if (opts.cluster === true) await runClusterDemo(o);
        else await runDemo(o);
      }),
    );
}
