/**
 * `venus-sector-manager devnet ...`: `seal` (synthetic sealed sectors, optionally onboarded), `run`
 * (the embedded chain, composed in daemon/devnetRun.ts) and `status` (what the running chain judged).
 */
import fs from "node:fs/promises";
import path from "node:path";
import { type Command, Option } from "commander";
import { parseGoDuration } from "../../config/units.js";
import { startDevnet } from "../../daemon/devnetRun.js";
import { parseListen } from "../../daemon/flags.js";
import type { DeadlineRecord } from "../../devnet/miner.js";
import { type DevnetPolicy, MAINNET_POLICY, validatePolicy } from "../../devnet/policy.js";
import { sealedCid } from "../../proofs/commCid.js";
import { parseSectorFileName, sealedDirName, sealedFilePath } from "../../proofs/sectorFiles.js";
import { KNOWN_SIZES_TEXT, shapeByName } from "../../proofs/sectorShapes.js";
import { createWorkerPool } from "../../prover/workerPool.js";
import type { IndexType } from "../../sectors/interface.js";
import { SmError, sysCode } from "../../util/errors.js";
import { expandHome } from "../../util/paths.js";
import { action, globals, loggerOf, parseMinerArg, parseUintArg } from "../context.js";
import { requireDaemon } from "../daemonClient.js";
import { plainTable } from "../format.js";

/** Where every devnet command looks for the devnet's home, for help texts. */
export const DEVNET_HOME_HELP = "the devnet's home is --home (env VSM_DEVNET_PATH; default ~/.vsm-devnet)";

/**
 * The devnet's own home: the global --home when given, else VSM_DEVNET_PATH, else ~/.vsm-devnet.
 * `alias` is the value of `devnet seal --devnet-home`, the flag's old name, kept hidden for scripts:
 * it is the same setting, so giving both with different values is refused.
 */
export function devnetHome(cmd: Command, alias?: unknown): string {
  const global = globals(cmd).home;
  const old = typeof alias === "string" && alias !== "" ? alias : undefined;
  if (old !== undefined && global !== undefined && expandHome(old) !== expandHome(global))
    throw new SmError(
      "FLAG_INVALID",
      `--devnet-home ${JSON.stringify(old)} and --home ${JSON.stringify(global)} disagree; --devnet-home is the old name of --home for devnet commands: give only --home`,
    );
  return expandHome(old ?? global ?? process.env.VSM_DEVNET_PATH ?? "~/.vsm-devnet");
}

const requireDevnet = (home: string) => requireDaemon(home, "devnet", `vsm --home ${home} devnet run`);

/** RegisteredSealProof V1_1 id of a sector size (StackedDrg2KiBV1_1 = 5, …). */
function sealProofV11(size: number): number {
  return 5 + [2048, 8 << 20, 512 << 20, 32 * 2 ** 30, 64 * 2 ** 30].indexOf(size);
}

/** Sizes whose tree can be built here in reasonable time (512 MiB is ~2.4 M hashes, minutes per core). */
const SEALABLE = ["2KiB", "8MiB", "512MiB"];

async function nextFreeNumber(store: string, type: IndexType, miner: number): Promise<number> {
  let names: string[] = [];
  try {
    names = await fs.readdir(path.join(store, sealedDirName(type)));
  } catch (e) {
    if (sysCode(e) !== "ENOENT") throw e;
  }
  let max = 0;
  for (const n of names) {
    const id = parseSectorFileName(n);
    if (id && id.miner === miner) max = Math.max(max, id.number);
  }
  return max + 1;
}

export function registerDevnet(program: Command): void {
  const devnet = program
    .command("devnet")
    .description("the embedded development chain and its synthetic sectors");
  devnet
    .command("seal")
    .description(
      `write synthetic sealed sectors: the real file layout (sealed/, cache/ with p_aux and tree-r-last) and a real TreeRLast over random data. PoRep sealing is skipped (comm_c is random), so they prove on the devnet and in tests, not on a real network. Prints one JSON line per sector. With --onboard, ${DEVNET_HOME_HELP}.`,
    )
    .requiredOption("--miner <actor>", "miner actor id (1000, f01000 or t01000)")
    .requiredOption("--store <dir>", "persist store directory to write into")
    .option("--size <size>", `sector size: ${SEALABLE.join(", ")}`, "2KiB")
    .option("--count <n>", "number of sectors", "1")
    .option("--start <n>", "first sector number (default: after the highest one of this miner in the store)")
    .option("--upgrade", "write snap-upgraded sectors (update/, update-cache/)", false)
    .option("--threads <n>", "parallel sectors (default: all cores)")
    .option(
      "--onboard",
      "also add the sectors to the miner on the running devnet of --home (assigned to deadlines and partitions)",
      false,
    )
    .addOption(new Option("--devnet-home <dir>", "old name of --home for devnet commands").hideHelp())
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        const log = loggerOf(cmd).named("devnet");
        const miner = parseMinerArg(String(opts.miner));
        const shape = shapeByName(String(opts.size));
        if (!shape)
          throw new SmError(
            "FLAG_INVALID",
            `--size ${JSON.stringify(opts.size)} is not a sector size (${KNOWN_SIZES_TEXT})`,
          );
        if (!SEALABLE.includes(shape.name)) {
          throw new SmError(
            "FLAG_INVALID",
            `--size ${shape.name}: synthetic sealing builds the whole tree in TypeScript, which is impractical above 512MiB; use ${SEALABLE.join(", ")}`,
          );
        }
        const count = parseUintArg(String(opts.count), "--count");
        if (count < 1) throw new SmError("FLAG_INVALID", "--count must be at least 1");
        const store = path.resolve(String(opts.store));
        const type: IndexType = opts.upgrade === true ? "upgrade" : "normal";
        const start =
          opts.start !== undefined
            ? parseUintArg(String(opts.start), "--start")
            : await nextFreeNumber(store, type, miner);
        for (let n = start; n < start + count; n++) {
          const f = sealedFilePath(store, type, miner, n);
          const exists = await fs.stat(f).then(
            () => true,
            () => false,
          );
          if (exists)
            throw new SmError(
              "SECTOR_EXISTS",
              `${f} already exists; choose another --start (or omit it to continue after the highest number)`,
            );
        }
        const threads =
          opts.threads !== undefined ? parseUintArg(String(opts.threads), "--threads") : undefined;
        // Check the devnet before spending time on trees.
        const devnet =
          opts.onboard === true ? await requireDevnet(devnetHome(cmd, opts.devnetHome)) : undefined;
        const onboard: { Number: number; SealProof: number; SealedCID: string }[] = [];
        const pool = createWorkerPool("seal", { threads, logger: log });
        log.info("writing synthetic sectors (PoRep sealing skipped)", {
          miner,
          size: shape.name,
          count,
          start,
          store,
          type,
        });
        try {
          await Promise.all(
            Array.from({ length: count }, async (_, i) => {
              const number = start + i;
              const s = await pool.run("writeSynthetic", [{ storeDir: store, miner, number, shape, type }]);
              onboard.push({
                Number: number,
                SealProof: sealProofV11(shape.sectorSize),
                SealedCID: sealedCid(s.commR),
              });
              process.stdout.write(
                `${JSON.stringify({
                  miner,
                  number,
                  size: shape.name,
                  upgrade: type === "upgrade",
                  comm_r: Buffer.from(s.commR).toString("hex"),
                  sealed_cid: sealedCid(s.commR),
                  sealed_file: s.sealedFile,
                  cache_dir: s.cacheDir,
                })}\n`,
              );
            }),
          );
        } finally {
          await pool.close();
        }
        if (devnet) {
          onboard.sort((a, b) => a.Number - b.Number);
          const placed = await devnet.call<{ Number: number; Deadline: number; Partition: number }[]>(
            "Devnet.OnboardSectors",
            [`f0${miner}`, onboard],
          );
          for (const p of placed)
            log.info("onboarded", {
              miner: `f0${miner}`,
              sector: p.Number,
              deadline: p.Deadline,
              partition: p.Partition,
            });
        }
      }),
    );

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
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        const log = loggerOf(cmd);
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
  const lines = [`epoch ${st.Epoch} (block time ${st.BlockTimeMs} ms)`];
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
