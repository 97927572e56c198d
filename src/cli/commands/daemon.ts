import type { Command } from "commander";
import { parseListen, parseNodeName, parseProxy } from "../../daemon/flags.js";
import { initHome } from "../../daemon/home.js";
import { type DaemonFlags, startNode } from "../../daemon/node.js";
import { AbortedError, errorMessage } from "../../util/errors.js";
import { expandHome } from "../../util/paths.js";
import { action, homeOf, loggerOf, reportFailure } from "../context.js";

export const DEFAULT_LISTEN = ":1789";

export function registerDaemon(program: Command): void {
  const daemon = program.command("daemon").description("initialise and run a node");

  daemon
    .command("init")
    .description(
      "create the home with commented default sector-manager.cfg and ext-prover.cfg and an admin API token; existing files are kept",
    )
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const home = homeOf(cmd);
        const r = await initHome(home);
        for (const f of r.created) process.stdout.write(`created ${f}\n`);
        for (const f of r.kept) process.stdout.write(`kept    ${f} (exists)\n`);
        process.stdout.write(
          `home ${home} is ready; edit ${home}/sector-manager.cfg, then run \`vsm --home ${home} daemon run\`\n`,
        );
      }),
    );

  daemon
    .command("run")
    .description("run a node: sector index and JSON-RPC API, plus the modules the flags enable")
    .option("--listen <[host]:port>", "address of the JSON-RPC API (:port = every interface)", DEFAULT_LISTEN)
    .option("--miner", "enable the miner module (WinningPoSt)", false)
    .option("--poster", "enable the PoSter module (WindowPoSt)", false)
    .option("--proxy <ip:port>", "read sector locations from the source node at this address (read-only)")
    .option("--proxy-sector-indexer-off", "with --proxy, keep using this home's own sector index", false)
    .option("--proxy-token <token>", "API token for the source node, if it refuses anonymous reads")
    .option(
      "--conf-dir <dir>",
      "read the *.cfg files from this directory (e.g. the source node's home) instead of the home",
    )
    .option("--ext-prover", "run proofs in child processes configured by ext-prover.cfg", false)
    .option(
      "--name <name>",
      "this node's name in the cluster: 1 to 128 printable characters without spaces (default <hostname>:<listen port>)",
    )
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      let node: Awaited<ReturnType<typeof startNode>> | undefined;
      try {
        const log = loggerOf(cmd).named("daemon");
        const flags: DaemonFlags = {
          listen: parseListen(String(opts.listen)),
          miner: opts.miner === true,
          poster: opts.poster === true,
          proxy: opts.proxy !== undefined ? parseProxy(String(opts.proxy)) : undefined,
          proxyIndexerOff: opts.proxySectorIndexerOff === true,
          proxyToken: typeof opts.proxyToken === "string" ? opts.proxyToken : undefined,
          confDir: typeof opts.confDir === "string" ? expandHome(opts.confDir) : undefined,
          extProver: opts.extProver === true,
          name: typeof opts.name === "string" ? parseNodeName(opts.name) : undefined,
        };
        process.on("unhandledRejection", (e) =>
          log.error("unhandled rejection (please report this)", { err: errorMessage(e) }),
        );
        // Signals are handled from the start: one that arrives while the node is still starting
        // (children coming up, the store opening) stops it as soon as it is up, never kills it
        // halfway with its children left behind.
        let signals = 0;
        const starting = new AbortController();
        let stop: (sig: NodeJS.Signals) => void = () => {};
        const onSignal = (sig: NodeJS.Signals) => {
          signals++;
          if (signals > 1) {
            log.warn("second signal: exiting without a clean shutdown", { signal: sig });
            process.exit(130);
          }
          log.info("shutting down", { signal: sig });
          starting.abort(new AbortedError(`${sig} while the node was starting`));
          stop(sig);
        };
        const stopped = new Promise<void>((resolve) => {
          stop = () => resolve();
        });
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
        process.on("SIGHUP", () => {
          if (!node) return log.warn("SIGHUP while the node is starting; ignored, send it again once ready");
          log.info("SIGHUP: reloading ext-prover.cfg");
          node.reloadExtProver().then(
            (r) => log.info("ext-prover.cfg applied", { result: r }),
            (e) =>
              log.error("ext-prover.cfg not applied; the running children are kept", {
                err: errorMessage(e),
              }),
          );
        });
        try {
          node = await startNode(homeOf(cmd), flags, { logger: log, shutdown: starting.signal });
        } catch (e) {
          if (!starting.signal.aborted) throw e;
          log.info("node stopped before it was ready", { err: errorMessage(e) });
          return;
        }
        await stopped;
        await node.close().catch(() => {});
      } catch (e) {
        await node?.close();
        reportFailure(e);
      }
    });
}
