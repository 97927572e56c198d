/**
 * venus-sector-manager (alias vsm): the command line. Commands parse flags, call the domains and
 * print; no business logic lives here.
 */
import { Command } from "commander";
import { VERSION } from "../version.js";
import { registerCluster } from "./commands/cluster.js";
import { registerDaemon } from "./commands/daemon.js";
import { registerDb } from "./commands/db.js";
import { registerDemo } from "./commands/demo.js";
import { registerDevnet } from "./commands/devnet.js";
import { registerMiner } from "./commands/miner.js";
import { registerProcessors } from "./commands/processor.js";
import { registerProving } from "./commands/proving.js";
import { registerStorage } from "./commands/storage.js";
import { checkLogFlags, reportFailure } from "./context.js";

const program = new Command();
program
  .name("venus-sector-manager")
  .description("Standalone PoSter node for Filecoin storage providers (TypeScript venus-sector-manager)")
  .version(VERSION)
  .option(
    "--home <dir>",
    "home directory (env VENUS_SECTOR_MANAGER_PATH; default ~/.venus-sector-manager); for devnet commands, the devnet's home (env VSM_DEVNET_PATH; default ~/.vsm-devnet)",
  )
  .option(
    "--log-level <level>",
    "debug, info, warn or error (env VSM_LOG_LEVEL or GOLOG_LOG_LEVEL; default info)",
  )
  .option("--log-format <format>", "console or json (env VSM_LOG_FORMAT or GOLOG_LOG_FMT; default console)")
  .showSuggestionAfterError(true)
  .enablePositionalOptions(false)
  .hook("preAction", (_program, actionCommand) => {
    try {
      checkLogFlags(actionCommand);
    } catch (e) {
      reportFailure(e);
      process.exit(1);
    }
  });

registerDaemon(program);
const util = program.command("util").description("operator tools");
registerStorage(util);
registerProving(util);
registerDb(util);
registerCluster(util);
registerMiner(util);
registerDemo(program);
registerProcessors(program);
registerDevnet(program);

await program.parseAsync(process.argv);
