/**
 * `venus-sector-manager devnet ...`. For now: `devnet seal`, synthetic sealed sectors.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { sealedCid } from "../../proofs/commCid.js";
import { KNOWN_SIZES_TEXT, shapeByName } from "../../proofs/sectorShapes.js";
import { WorkerPool } from "../../prover/workerPool.js";
import type { IndexType } from "../../sectors/interface.js";
import { parseSectorFileName, sealedDirName, sealedFilePath } from "../../sectors/layout.js";
import { SmError, sysCode } from "../../util/errors.js";
import { action, loggerOf, parseMinerArg, parseUintArg } from "../context.js";

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
      "write synthetic sealed sectors: the real file layout (sealed/, cache/ with p_aux and tree-r-last) and a real TreeRLast over random data. PoRep sealing is skipped (comm_c is random), so they prove on the devnet and in tests, not on a real network. Prints one JSON line per sector.",
    )
    .requiredOption("--miner <actor>", "miner actor id (1000, f01000 or t01000)")
    .requiredOption("--store <dir>", "persist store directory to write into")
    .option("--size <size>", `sector size: ${SEALABLE.join(", ")}`, "2KiB")
    .option("--count <n>", "number of sectors", "1")
    .option("--start <n>", "first sector number (default: after the highest one of this miner in the store)")
    .option("--upgrade", "write snap-upgraded sectors (update/, update-cache/)", false)
    .option("--threads <n>", "parallel sectors (default: all cores)")
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
          opts.threads !== undefined
            ? Math.max(1, parseUintArg(String(opts.threads), "--threads"))
            : os.availableParallelism();
        const pool = new WorkerPool({ size: threads, perWorker: 1, logger: log });
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
      }),
    );
}
