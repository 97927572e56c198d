/**
 * `venus-sector-manager devnet ...`: `seal` (synthetic sealed sectors, optionally onboarded), `run`
 * (the embedded chain, composed in daemon/devnetRun.ts) and `status` (what the running chain judged).
 */
import type { Command } from "commander";
import { parseGoDuration } from "../../config/units.js";
import { startDevnet } from "../../daemon/devnetRun.js";
import { parseListen } from "../../daemon/flags.js";
import type { DeadlineRecord } from "../../devnet/miner.js";
import { type DevnetPolicy, MAINNET_POLICY, validatePolicy } from "../../devnet/policy.js";
import { SmError } from "../../util/errors.js";
import { action, loggerOf, parseUintArg } from "../context.js";
import { plainTable } from "../format.js";
import { DEVNET_HOME_HELP, devnetHome, requireDevnet } from "./devnetHome.js";
import { registerDevnetSeal } from "./devnetSeal.js";

export { DEVNET_HOME_HELP, devnetHome };

export function registerDevnet(program: Command): void {
  const devnet = program
    .command("devnet")
    .description("the embedded development chain and its synthetic sectors");
  registerDevnetSeal(devnet);

  devnet
    .command("run")
    .description(
      `run the embedded devnet chain: Lotus's JSON-RPC API (subset) at /rpc/v1, a block every --block-time, WindowPoSt judged from vanilla proofs; its state survives restarts in its home: ${DEVNET_HOME_HELP}. The defaults are mainnet timing (48 deadlines of 60 epochs): with 1s blocks, miner f01000's first deadline with sectors opens about 16 minutes after a new chain starts; for a demo, create the chain as the demo does: --block-time 150ms --deadlines 4 --window 12 --lookback 4 --cutoff 6 (a proving period of ~7 s)`,
    )
    .option("--listen <[host]:port>", "API address", "127.0.0.1:1234")
    .option("--block-time <duration>", "time between blocks (Go duration)", "1s")
    .option(
      "--deadlines <n>",
      `deadlines per proving period, for a new chain (mainnet ${MAINNET_POLICY.wPoStPeriodDeadlines})`,
    )
    .option(
      "--window <epochs>",
      `challenge window per deadline, for a new chain (mainnet ${MAINNET_POLICY.wPoStChallengeWindow})`,
    )
    .option(
      "--lookback <epochs>",
      `challenge lookback, for a new chain (mainnet ${MAINNET_POLICY.wPoStChallengeLookback})`,
    )
    .option(
      "--cutoff <epochs>",
      `fault declaration cutoff, for a new chain (mainnet ${MAINNET_POLICY.faultDeclarationCutoff})`,
    )
    .option(
      "--verify-sample <k>",
      "judge each partition of a SubmitWindowedPoSt by verifying K random sector proofs in full (every entry is still matched to its sector and comm_r by its header); default: all. The devnet's only shortcut, for mainnet-sized partitions (verifying 2,349 32GiB sector proofs in TypeScript takes ~20 core-seconds)",
    )
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        const log = loggerOf(cmd);
        let verifySample: number | undefined;
        if (opts.verifySample !== undefined) {
          verifySample = parseUintArg(String(opts.verifySample), "--verify-sample");
          if (verifySample < 1)
            throw new SmError(
              "FLAG_INVALID",
              "--verify-sample must be at least 1 (omit it to verify every sector proof)",
            );
        }
        const blockTimeMs = parseGoDuration(String(opts.blockTime));
        if (blockTimeMs === undefined || blockTimeMs < 10)
          throw new SmError(
            "FLAG_INVALID",
            `--block-time ${JSON.stringify(opts.blockTime)}: give a Go duration of at least 10ms, e.g. 200ms or 30s`,
          );
        let policy: DevnetPolicy | undefined;
        if (
          opts.deadlines !== undefined ||
          opts.window !== undefined ||
          opts.lookback !== undefined ||
          opts.cutoff !== undefined
        ) {
          const num = (v: unknown, what: string, dflt: number) =>
            v === undefined ? dflt : parseUintArg(String(v), what);
          policy = {
            ...MAINNET_POLICY,
            wPoStPeriodDeadlines: num(opts.deadlines, "--deadlines", MAINNET_POLICY.wPoStPeriodDeadlines),
            wPoStChallengeWindow: num(opts.window, "--window", MAINNET_POLICY.wPoStChallengeWindow),
            wPoStChallengeLookback: num(opts.lookback, "--lookback", MAINNET_POLICY.wPoStChallengeLookback),
            faultDeclarationCutoff: num(opts.cutoff, "--cutoff", MAINNET_POLICY.faultDeclarationCutoff),
          };
          validatePolicy(policy);
        }
        const running = await startDevnet({
          home: devnetHome(cmd),
          listen: parseListen(String(opts.listen)),
          blockTimeMs,
          policy,
          verifySample,
          logger: log,
        });
        process.stdout.write(
          `devnet API: http://${running.api}/rpc/v1\nfor sector-manager.cfg:\n[Common.API]\nChain = "${running.chainConfig}"\n`,
        );
        await new Promise<void>((resolve) => {
          const stop = () => {
            running.close().then(resolve, resolve);
          };
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        });
      }),
    );

  devnet
    .command("status")
    .description(
      `the running devnet: epoch, miners, and what it judged for the latest deadlines; ${DEVNET_HOME_HELP}`,
    )
    .option("--records <n>", "deadline records to show", "12")
    .option("--json", "print as JSON", false)
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        const client = await requireDevnet(devnetHome(cmd));
        const st = await client.call<DevnetStatus>("Devnet.Status", []);
        const records = await client.call<DeadlineRecord[]>("Devnet.Records", [
          null,
          parseUintArg(String(opts.records), "--records"),
        ]);
        if (opts.json === true) {
          process.stdout.write(`${JSON.stringify({ status: st, records }, null, 2)}\n`);
          return;
        }
        process.stdout.write(formatDevnetStatus(st, records));
      }),
    );
}

/** What `Devnet.Status` answers (the part `devnet status` prints). */
export interface DevnetStatus {
  Epoch: number;
  BlockTimeMs: number;
  /** Sector proofs verified per partition (`devnet run --verify-sample`); null: all. */
  VerifySample?: number | null;
  Miners: {
    Address: string;
    Sectors: number;
    Faulty: number;
    Recovering: number;
    CurrentDeadline: number;
  }[];
}

/**
 * `devnet status` as text. A column holding numbers is either a count or a list of partition
 * numbers, and its header says which: counts end in COUNT, lists name what they list
 * (PROVEN PARTITIONS 0,1) and print "-" when empty. Sector lists are in `--json`.
 */
export function formatDevnetStatus(st: DevnetStatus, records: readonly DeadlineRecord[]): string {
  const lines = [
    `epoch ${st.Epoch} (block time ${st.BlockTimeMs} ms)`,
    typeof st.VerifySample === "number"
      ? `judgement: ${st.VerifySample} random sector proofs verified per partition (--verify-sample; the rest matched by their headers)`
      : "judgement: every sector proof verified",
  ];
  const mt = plainTable(["MINER", "SECTOR COUNT", "FAULTY COUNT", "RECOVERING COUNT", "CURRENT DEADLINE"]);
  for (const m of st.Miners)
    mt.push([
      m.Address,
      String(m.Sectors),
      String(m.Faulty),
      String(m.Recovering),
      String(m.CurrentDeadline),
    ]);
  lines.push(
    st.Miners.length ? mt.toString() : "no miners yet (onboard sectors with `vsm devnet seal --onboard`)",
  );
  if (records.length) {
    const rt = plainTable([
      "MINER",
      "DEADLINE",
      "OPEN",
      "CLOSE",
      "PARTITION COUNT",
      "PROVEN PARTITIONS",
      "MISSED PARTITIONS",
      "NEW FAULT COUNT",
      "RECOVERED COUNT",
      "REJECTIONS",
    ]);
    const list = (ns: readonly number[]) => ns.join(",") || "-";
    for (const r of records) {
      rt.push([
        r.miner,
        String(r.index),
        String(r.open),
        String(r.close),
        String(r.partitions),
        list(r.proven),
        list(r.missed),
        String(r.newFaults.length),
        String(r.recovered.length),
        r.rejections.length ? r.rejections.join("; ") : "-",
      ]);
    }
    lines.push("", rt.toString());
  }
  return `${lines.join("\n")}\n`;
}
