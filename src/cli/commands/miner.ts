/**
 * `util miner gateways`: the running `--miner` node's sophon-gateway registrations, one row per gateway
 * and miner (docs/winning-post.md), read through the node's `Venus.MinerGateways`.
 */
import type { Command } from "commander";
import type { GatewayRegistration } from "../../miner/gateway/index.js";
import { RpcError } from "../../rpc/errors.js";
import { action, homeOf } from "../context.js";
import { requireDaemon } from "../daemonClient.js";
import { plainTable } from "../format.js";

/** An ISO time to the second, for tables. */
const shortTime = (iso: string | null): string => (iso === null ? "-" : `${iso.slice(0, 19)}Z`);
const ERROR_WIDTH = 80;

export function registerMiner(util: Command): void {
  util
    .command("miner")
    .description("WinningPoSt (--miner) tools")
    .command("gateways")
    .description(
      "per sophon-gateway and miner: registered for proof events or not, since when, the last request and the last error",
    )
    .option("--json", "print as JSON", false)
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        const client = await requireDaemon(homeOf(cmd));
        let rows: GatewayRegistration[];
        try {
          rows = await client.call<GatewayRegistration[]>("Venus.MinerGateways", []);
        } catch (e) {
          if (!(e instanceof RpcError && e.code === "RPC_METHOD_NOT_FOUND")) throw e;
          process.stderr.write(
            `the daemon of ${homeOf(cmd)} runs without --miner, so it registers at no gateway; start it with \`daemon run --miner\`\n`,
          );
          process.exitCode = 1;
          return;
        }
        // A script can tell a node that lost a gateway from one that is registered everywhere.
        if (rows.some((r) => !r.connected)) process.exitCode = 1;
        if (opts.json === true) {
          process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
          return;
        }
        if (rows.length === 0) {
          process.stdout.write(
            "no gateway registrations: the node needs --miner, [Common.API] Gateway entries and a [[Miners]] block with [Miners.Proof] Enabled = true\n",
          );
          return;
        }
        const t = plainTable([
          "GATEWAY",
          "MINER",
          "STATE",
          "SINCE",
          "REQUESTS",
          "ANSWERED",
          "FAILED",
          "LAST REQUEST",
          "LAST ERROR",
        ]);
        for (const r of rows) {
          const last = r.lastRequest;
          const err = r.lastError ? `${shortTime(r.lastError.at)} ${r.lastError.message}` : "";
          t.push([
            r.gateway,
            r.miner,
            r.connected ? "registered" : "not registered",
            shortTime(r.since),
            String(r.requests),
            String(r.answered),
            String(r.failed),
            last
              ? `${shortTime(last.at)} ${last.method} ${last.result}${last.ms === null ? "" : ` ${(last.ms / 1000).toFixed(2)}s`}`
              : "-",
            err.length > ERROR_WIDTH ? `${err.slice(0, ERROR_WIDTH - 1)}…` : err,
          ]);
        }
        process.stdout.write(`${t.toString()}\n`);
      }),
    );
}
