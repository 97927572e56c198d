/**
 * `util sealer proving info | deadlines | deadline N | faults`: the miner's proving state, read from
 * the chain node of the home's (or --conf-dir's) [Common.API], in lotus-miner's vocabulary.
 */
import path from "node:path";
import type { Command } from "commander";
import type { ChainPort, DeadlineInfo, Partition } from "../../chain/interface.js";
import { HEAD } from "../../chain/interface.js";
import { LotusChainClient } from "../../chain/lotus/client.js";
import { loadConfigDir } from "../../config/load.js";
import { SmError } from "../../util/errors.js";
import { expandHome } from "../../util/paths.js";
import { action, homeOf, parseMinerArg, parseUintArg } from "../context.js";
import { plainTable } from "../format.js";

interface Target {
  chain: LotusChainClient;
  miners: string[];
}

async function target(cmd: Command, opts: Record<string, unknown>): Promise<Target> {
  const given = typeof opts.confDir === "string";
  const dir = given ? expandHome(opts.confDir as string) : homeOf(cmd);
  const cfg = (await loadConfigDir(dir, { confDir: given })).sectorManager.config;
  // A PoSter home (daemon run --proxy --conf-dir=<source home>) has a config of its own with neither:
  // the one that counts is the source's, which this command reads only when told.
  const confDirHint = given
    ? ""
    : `; on a PoSter home whose daemon runs with --conf-dir=<source home>, give this command the same --conf-dir=<source home>`;
  if (!cfg.Common.API.Chain && cfg.Common.API.Gateway.length === 0) {
    throw new SmError(
      "CHAIN_NOT_CONFIGURED",
      `no chain node in ${path.join(dir, "sector-manager.cfg")}: set [Common.API] Chain${confDirHint}`,
    );
  }
  const miners =
    typeof opts.miner === "string"
      ? [`f0${parseMinerArg(opts.miner)}`]
      : cfg.Miners.map((m) => `f0${m.Actor}`);
  if (miners.length === 0)
    throw new SmError(
      "FLAG_INVALID",
      `no [[Miners]] in ${path.join(dir, "sector-manager.cfg")}; pass --miner f0…${confDirHint}`,
    );
  return { chain: LotusChainClient.fromConfig(cfg.Common.API), miners };
}

async function allPartitions(chain: ChainPort, miner: string, di: DeadlineInfo): Promise<Partition[][]> {
  return Promise.all(
    Array.from({ length: di.wPoStPeriodDeadlines }, (_, i) => chain.stateMinerPartitions(miner, i, HEAD)),
  );
}

const sum = (ps: Partition[], k: keyof Partition) => ps.reduce((n, p) => n + p[k].count(), 0);

function withChain(fn: (t: Target, opts: Record<string, unknown>, cmd: Command) => Promise<void>) {
  return action(async (opts: Record<string, unknown>, cmd: Command) => {
    const t = await target(cmd, opts);
    try {
      await fn(t, opts, cmd);
    } finally {
      await t.chain.close();
    }
  });
}

export function registerProvingChain(proving: Command): void {
  const common = (c: Command) =>
    c
      .option("--miner <actor>", "miner (default: every [[Miners]] of the config)")
      .option("--conf-dir <dir>", "read the config from this directory instead of the home");

  common(
    proving.command("info").description("proving period, current deadline and sector counts of each miner"),
  ).action(
    withChain(async ({ chain, miners }) => {
      for (const m of miners) {
        const di = await chain.stateMinerProvingDeadline(m, HEAD);
        const parts = (await allPartitions(chain, m, di)).flat();
        process.stdout.write(
          [
            `Miner: ${m}`,
            `Current epoch:           ${di.currentEpoch}`,
            `Proving period start:    ${di.periodStart} (period ${di.wPoStProvingPeriod} epochs, ${di.wPoStPeriodDeadlines} deadlines)`,
            `Current deadline:        ${di.index} (open ${di.open}, close ${di.close}, challenge ${di.challenge}, fault cutoff ${di.faultCutoff})`,
            `Sectors:                 ${sum(parts, "allSectors")} (live ${sum(parts, "liveSectors")}, active ${sum(parts, "activeSectors")})`,
            `Faulty sectors:          ${sum(parts, "faultySectors")}`,
            `Recovering sectors:      ${sum(parts, "recoveringSectors")}`,
            "",
          ].join("\n"),
        );
      }
    }),
  );

  common(
    proving.command("deadlines").description("every deadline of each miner: partitions, sectors, faults"),
  ).action(
    withChain(async ({ chain, miners }) => {
      for (const m of miners) {
        const di = await chain.stateMinerProvingDeadline(m, HEAD);
        const all = await allPartitions(chain, m, di);
        const t = plainTable(["DEADLINE", "OPEN", "PARTITIONS", "SECTORS", "FAULTY", "RECOVERING", ""]);
        all.forEach((ps, i) => {
          const open =
            di.periodStart + i * di.wPoStChallengeWindow + (i < di.index ? di.wPoStProvingPeriod : 0);
          t.push([
            String(i),
            String(open),
            String(ps.length),
            String(sum(ps, "allSectors")),
            String(sum(ps, "faultySectors")),
            String(sum(ps, "recoveringSectors")),
            i === di.index ? "(current)" : "",
          ]);
        });
        process.stdout.write(`Miner: ${m}\n${t.toString()}\n`);
      }
    }),
  );

  common(
    proving
      .command("deadline")
      .description("the partitions of one deadline")
      .argument("<index>", "deadline index"),
  ).action(
    action(async (index: string, opts: Record<string, unknown>, cmd: Command) => {
      const t0 = await target(cmd, opts);
      try {
        const idx = parseUintArg(index, "deadline index");
        for (const m of t0.miners) {
          const di = await t0.chain.stateMinerProvingDeadline(m, HEAD);
          if (idx >= di.wPoStPeriodDeadlines)
            throw new SmError(
              "FLAG_INVALID",
              `deadline ${idx} does not exist (0..${di.wPoStPeriodDeadlines - 1})`,
            );
          const ps = await t0.chain.stateMinerPartitions(m, idx, HEAD);
          const t = plainTable(["PARTITION", "SECTORS", "ACTIVE", "FAULTY", "RECOVERING", "FAULTY SECTORS"]);
          ps.forEach((p, i) => {
            t.push([
              String(i),
              String(p.allSectors.count()),
              String(p.activeSectors.count()),
              String(p.faultySectors.count()),
              String(p.recoveringSectors.count()),
              p.faultySectors.toNumbers(1000).join(",") || "-",
            ]);
          });
          process.stdout.write(
            `Miner: ${m}, deadline ${idx}${idx === di.index ? " (current)" : ""}\n${ps.length ? t.toString() : "no partitions"}\n`,
          );
        }
      } finally {
        await t0.chain.close();
      }
    }),
  );

  common(
    proving.command("faults").description("faulty sectors of each miner, with their deadline and partition"),
  ).action(
    withChain(async ({ chain, miners }) => {
      for (const m of miners) {
        const di = await chain.stateMinerProvingDeadline(m, HEAD);
        const all = await allPartitions(chain, m, di);
        const t = plainTable(["DEADLINE", "PARTITION", "SECTOR", "RECOVERING"]);
        let n = 0;
        for (const [d, ps] of all.entries()) {
          for (const [i, p] of ps.entries()) {
            for (const s of p.faultySectors.toNumbers(100_000)) {
              n++;
              t.push([String(d), String(i), String(s), p.recoveringSectors.has(s) ? "yes" : "no"]);
            }
          }
        }
        process.stdout.write(`Miner: ${m}\n${n ? t.toString() : "no faulty sectors"}\n`);
      }
    }),
  );
}
