import type { Command } from "commander";
import { runDemo } from "../../daemon/demo.js";
import { action } from "../context.js";

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "run the seed's deployment on this machine: a source node and a proxy PoSter node sharing its config, end to end",
    )
    .option("--keep", "keep the demo's temporary directory", false)
    .action(
      action(async (opts: Record<string, unknown>) => {
        await runDemo({ keep: opts.keep === true, out: (l: string) => process.stdout.write(`${l}\n`) });
      }),
    );
}
