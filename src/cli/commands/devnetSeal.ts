/**
 * `devnet seal`: synthetic sealed sectors in a persist store, optionally onboarded on the running
 * devnet. Two kinds:
 *  - default: random replica data and its TreeRLast built in full (worker threads); practical up to
 *    512MiB;
 *  - `--sparse`: mainnet-shaped sectors of zeros (proofs/sparseSeal.ts): a sparse sealed file, the
 *    all-zero tree computed once and hard-linked into every cache directory, a random comm_c per
 *    sector. 25,000 32GiB sectors take ~21 s and ~260 MiB here.
 * Both have real PoSt material (vanilla proofs verify); only PoRep is skipped.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { type Command, Option } from "commander";
import type { Logger } from "../../log/logger.js";
import { sealedCid } from "../../proofs/commCid.js";
import {
  cacheDirPath,
  type IndexType,
  parseSectorFileName,
  sealedDirName,
  sealedFilePath,
} from "../../proofs/sectorFiles.js";
import { KNOWN_SIZES_TEXT, type SectorShape, shapeByName } from "../../proofs/sectorShapes.js";
import { writeSparseSectors } from "../../proofs/sparseSeal.js";
import { createWorkerPool } from "../../prover/workerPool.js";
import type { RpcClient } from "../../rpc/client.js";
import { diskUsage } from "../../util/diskUsage.js";
import { SmError, sysCode } from "../../util/errors.js";
import { action, loggerOf, parseMinerArg, parseUintArg } from "../context.js";
import { human } from "../format.js";
import { progressReporter } from "../progress.js";
import { DEVNET_HOME_HELP, devnetHome, requireDevnet } from "./devnetHome.js";

/** RegisteredSealProof V1_1 id of a sector size (StackedDrg2KiBV1_1 = 5, …). */
export function sealProofV11(size: number): number {
  return 5 + [2048, 8 << 20, 512 << 20, 32 * 2 ** 30, 64 * 2 ** 30].indexOf(size);
}

/** Sizes whose tree can be built here in reasonable time (512 MiB is ~2.4 M hashes, minutes per core). */
const SEALABLE = ["2KiB", "8MiB", "512MiB"];

/** One sector as `Devnet.OnboardSectors` takes it. */
export interface OnboardEntry {
  Number: number;
  SealProof: number;
  SealedCID: string;
}

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

interface SealRun {
  miner: number;
  shape: SectorShape;
  count: number;
  start: number;
  store: string;
  type: IndexType;
  log: Logger;
}

function sectorLine(r: SealRun, number: number, commR: Uint8Array, sealedFile: string, cacheDir: string) {
  process.stdout.write(
    `${JSON.stringify({
      miner: r.miner,
      number,
      size: r.shape.name,
      upgrade: r.type === "upgrade",
      comm_r: Buffer.from(commR).toString("hex"),
      sealed_cid: sealedCid(commR),
      sealed_file: sealedFile,
      cache_dir: cacheDir,
    })}\n`,
  );
}

/** Random data and a full TreeRLast per sector, on worker threads. */
async function sealSynthetic(r: SealRun, threads: number | undefined): Promise<OnboardEntry[]> {
  const onboard: OnboardEntry[] = [];
  const pool = createWorkerPool("seal", { threads, logger: r.log });
  try {
    await Promise.all(
      Array.from({ length: r.count }, async (_, i) => {
        const number = r.start + i;
        const s = await pool.run("writeSynthetic", [
          { storeDir: r.store, miner: r.miner, number, shape: r.shape, type: r.type },
        ]);
        onboard.push({
          Number: number,
          SealProof: sealProofV11(r.shape.sectorSize),
          SealedCID: sealedCid(s.commR),
        });
        sectorLine(r, number, s.commR, s.sealedFile, s.cacheDir);
      }),
    );
  } finally {
    await pool.close();
  }
  return onboard;
}

/** Sparse sectors of zeros (proofs/sparseSeal.ts), with progress and the disk they really use. */
async function sealSparse(r: SealRun): Promise<OnboardEntry[]> {
  const t0 = Date.now();
  const progress = progressReporter(r.count, r.log, "sectors", "writing sparse sectors");
  const { sectors } = await writeSparseSectors({
    storeDir: r.store,
    miner: r.miner,
    start: r.start,
    count: r.count,
    shape: r.shape,
    type: r.type,
    onSector: (s, done) => {
      sectorLine(r, s.number, s.commR, s.sealedFile, s.cacheDir);
      progress.update(done);
    },
  });
  progress.update(r.count, true);
  const seconds = (Date.now() - t0) / 1000;
  const du = await diskUsage(
    sectors.flatMap((s) => [s.sealedFile, cacheDirPath(r.store, r.type, r.miner, s.number)]),
  );
  r.log.info("sparse sectors written", {
    count: r.count,
    size: r.shape.name,
    seconds: Number(seconds.toFixed(1)),
    disk_used_bytes: du.bytes,
    apparent_bytes: du.apparentBytes,
    inodes: du.inodes,
  });
  process.stderr.write(
    `wrote ${r.count} sparse ${r.shape.name} sectors of f0${r.miner} in ${seconds.toFixed(1)} s (PoRep skipped); ` +
      `disk used: ${human(du.bytes)} (du: allocated blocks, each hard-linked file once; ${du.inodes} inodes), ` +
      `apparent size ${human(du.apparentBytes)}\n`,
  );
  const proof = sealProofV11(r.shape.sectorSize);
  return sectors.map((s) => ({ Number: s.number, SealProof: proof, SealedCID: sealedCid(s.commR) }));
}

/**
 * `Devnet.OnboardSectors` for the sectors, logged as one "onboarded" line per run of consecutive
 * sectors in the same deadline and partition (25,000 sectors make a few dozen lines, not 25,000).
 */
export async function onboardOnDevnet(
  devnet: RpcClient,
  miner: number,
  entries: readonly OnboardEntry[],
  log: Logger,
): Promise<{ Number: number; Deadline: number; Partition: number }[]> {
  const sorted = [...entries].sort((a, b) => a.Number - b.Number);
  const placed = await devnet.call<{ Number: number; Deadline: number; Partition: number }[]>(
    "Devnet.OnboardSectors",
    [`f0${miner}`, sorted],
  );
  let run: { deadline: number; partition: number; first: number; last: number; n: number } | undefined;
  const flush = () => {
    if (run)
      log.info("onboarded", {
        miner: `f0${miner}`,
        deadline: run.deadline,
        partition: run.partition,
        sectors: run.n,
        first: run.first,
        last: run.last,
      });
  };
  for (const p of placed) {
    if (run && run.deadline === p.Deadline && run.partition === p.Partition && p.Number === run.last + 1) {
      run.last = p.Number;
      run.n++;
      continue;
    }
    flush();
    run = { deadline: p.Deadline, partition: p.Partition, first: p.Number, last: p.Number, n: 1 };
  }
  flush();
  return placed;
}

export function registerDevnetSeal(devnet: Command): void {
  devnet
    .command("seal")
    .description(
      `write synthetic sealed sectors in the real file layout (sealed/, cache/ with p_aux and tree-r-last) with a real TreeRLast: vanilla PoSt proofs over them are real and verify. Only PoRep sealing is skipped (comm_c is random), so they prove on the devnet and in tests, not on a real network. Default: random data, the whole tree built here (up to 512MiB). --sparse: mainnet-shaped sectors of zeros (any size, meant for 32GiB and 64GiB): a sparse sealed file using no disk, the all-zero tree computed once and hard-linked into every sector's cache (so never write into a cache file: replace it), its own p_aux; prints the disk used. Prints one JSON line per sector. With --onboard, ${DEVNET_HOME_HELP}.`,
    )
    .requiredOption("--miner <actor>", "miner actor id (1000, f01000 or t01000)")
    .requiredOption("--store <dir>", "persist store directory to write into")
    .option("--size <size>", `sector size: ${SEALABLE.join(", ")}; with --sparse also 32GiB, 64GiB`, "2KiB")
    .option("--count <n>", "number of sectors", "1")
    .option("--start <n>", "first sector number (default: after the highest one of this miner in the store)")
    .option(
      "--sparse",
      "sectors of zeros with shared tree files: mainnet sizes in seconds and little disk",
      false,
    )
    .option("--upgrade", "write snap-upgraded sectors (update/, update-cache/)", false)
    .option("--threads <n>", "parallel sectors (default: all cores; not used with --sparse)")
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
        const sparse = opts.sparse === true;
        if (!sparse && !SEALABLE.includes(shape.name)) {
          throw new SmError(
            "FLAG_INVALID",
            `--size ${shape.name}: synthetic sealing builds the whole tree in TypeScript, which is impractical above 512MiB; add --sparse for ${shape.name} sectors of zeros (shared tree files), or use ${SEALABLE.join(", ")}`,
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
          const exists = await fs.lstat(f).then(
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
        // Check the devnet before spending time on sectors.
        const devnet =
          opts.onboard === true ? await requireDevnet(devnetHome(cmd, opts.devnetHome)) : undefined;
        log.info("writing synthetic sectors (PoRep sealing skipped)", {
          miner,
          size: shape.name,
          count,
          start,
          store,
          type,
          sparse,
        });
        const run: SealRun = { miner, shape, count, start, store, type, log };
        const onboard = sparse ? await sealSparse(run) : await sealSynthetic(run, threads);
        if (devnet) await onboardOnDevnet(devnet, miner, onboard, log);
      }),
    );
}
