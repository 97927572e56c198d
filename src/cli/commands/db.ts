/**
 * `util db migrate --from-lmdb HOME`: copies the embedded sector index of a node home (normal and
 * upgrade records) into the cluster database of the current config (`--home`, or `--conf-dir`), whose
 * `[Common.DB] Driver` must be "postgres".
 *
 * Decisions (docs/cluster.md, "Migrating an embedded index"):
 * - The source home is taken under its home lock, so a daemon running on it refuses the copy: while it
 *   runs, an attach could change the index under the copy. Stopping it for the copy is enough; the copy
 *   can be run again at any time.
 * - Its LMDB file is checked as the daemon checks it (a damaged file is refused with the repair);
 *   a single damaged record is not copied and is listed, and the exit code is 1.
 * - Idempotent: a record the database already holds with the same names is left alone; a second run
 *   copies nothing and says so.
 * - A record the database holds with OTHER names is not overwritten: the database may have been
 *   written by a node of the cluster since (a store re-attached elsewhere), and it is the index every
 *   node reads. Such records are listed and the command fails (exit 1) after copying the rest;
 *   `--force` overwrites them with the embedded index's names.
 * - Batches of 500 records, one transaction each; progress with an ETA on a terminal, a log line every
 *   5 seconds otherwise.
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { loadConfigDir } from "../../config/load.js";
import { SECTOR_MANAGER_CFG } from "../../config/schema.js";
import type { SectorManagerConfig } from "../../config/types.js";
import { commandNodeName } from "../../daemon/clusterDb.js";
import { acquireHomeLock } from "../../daemon/home.js";
import { metadataStoreDir } from "../../daemon/metadataStore.js";
import type { SectorAccess } from "../../sectors/interface.js";
import { LocalIndexer } from "../../sectors/localIndexer.js";
import { CHUNK, PgIndexer } from "../../sectors/pgIndexer.js";
import { openLmdbStore } from "../../store/lmdb.js";
import { migrate } from "../../store/pg/migrations.js";
import { SmError } from "../../util/errors.js";
import { expandHome } from "../../util/paths.js";
import { action, loggerOf } from "../context.js";
import { confDirOption, loadDatabaseConfig, openDatabase, withDsn } from "../database.js";
import { progressReporter } from "../progress.js";

const TYPES = ["normal", "upgrade"] as const;
type Type = (typeof TYPES)[number];

interface Tally {
  total: number;
  copied: number;
  same: number;
  differing: number;
}

interface Differing {
  type: Type;
  miner: number;
  number: number;
  embedded: SectorAccess;
  database: SectorAccess;
  overwritten: boolean;
}

/** The source home's embedded index directory: its config's BaseDir, else <HOME>/db. */
async function sourceDbDir(home: string): Promise<string> {
  let cfg: SectorManagerConfig | undefined;
  if (fs.existsSync(path.join(home, SECTOR_MANAGER_CFG)))
    cfg = (await loadConfigDir(home)).sectorManager.config;
  return metadataStoreDir(home, cfg);
}

export function registerDb(util: Command): void {
  const db = util.command("db").description('the cluster database ([Common.DB] Driver = "postgres")');
  confDirOption(db.command("migrate"))
    .description(
      "copy the embedded sector index of a node home into the cluster database of this config, idempotently",
    )
    .requiredOption("--from-lmdb <home>", "node home whose embedded (LMDB) sector index is copied")
    .option("--force", "overwrite records the database holds under other instance names", false)
    .option("--json", "print the summary as JSON", false)
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        const log = loggerOf(cmd).named("db");
        const dbConfig = await loadDatabaseConfig(
          cmd,
          opts,
          "util db migrate copies into the cluster database",
        );
        const source = path.resolve(expandHome(String(opts.fromLmdb)));
        const dbDir = await sourceDbDir(source);
        if (!fs.existsSync(path.join(dbDir, "data.mdb")))
          throw new SmError(
            "HOME_NOT_INITIALIZED",
            `${source} has no embedded sector index (no ${path.join(dbDir, "data.mdb")}); --from-lmdb names the home of the node whose index is copied`,
          );
        const force = opts.force === true;
        const lock = await acquireHomeLock(source, "util db migrate");
        try {
          const store = await openLmdbStore(dbDir);
          try {
            const local = new LocalIndexer(store);
            const pg = openDatabase(dbConfig, log, "util db migrate");
            try {
              // Unlike the read-only cluster commands, the copy may create the schema: it writes the
              // index a node of this version reads, as that node would at its start.
              await migrate(pg, { logger: log, node: commandNodeName("util db migrate") }).catch((e) => {
                throw withDsn(e, dbConfig);
              });
              const idx = new PgIndexer(pg);
              // A first pass counts the records, so progress can say how far along and how long to go.
              const tally: Record<Type, Tally> = {
                normal: { total: 0, copied: 0, same: 0, differing: 0 },
                upgrade: { total: 0, copied: 0, same: 0, differing: 0 },
              };
              for (const type of TYPES) for await (const _ of local.entries(type)) tally[type].total++;
              const total = tally.normal.total + tally.upgrade.total;
              if (!opts.json)
                process.stderr.write(`copying ${total} record(s) from ${dbDir} into ${dbConfig.dsn}\n`);
              const progress = progressReporter(total, log, "records", "copying the sector index");
              const damaged: { type: Type; miner: number; number: number; error: string }[] = [];
              const differing: Differing[] = [];
              let done = 0;
              for (const type of TYPES) {
                let batch: { miner: number; number: number; sealedFile: string; cacheDir: string }[] = [];
                const flush = async () => {
                  if (batch.length === 0) return;
                  const r = await idx.merge(type, batch, { force });
                  tally[type].copied += r.copied;
                  tally[type].same += r.same;
                  tally[type].differing += r.differing.length;
                  for (const d of r.differing)
                    differing.push({
                      type,
                      miner: d.miner,
                      number: d.number,
                      embedded: { sealedFile: d.sealedFile, cacheDir: d.cacheDir },
                      database: d.database,
                      overwritten: force,
                    });
                  done += batch.length;
                  batch = [];
                  progress.update(done);
                };
                for await (const e of local.entries(type)) {
                  if (e.location.error !== undefined || !e.location.found) {
                    damaged.push({
                      type,
                      miner: e.miner,
                      number: e.number,
                      error: e.location.error ?? "unreadable",
                    });
                    done++;
                    continue;
                  }
                  batch.push({ miner: e.miner, number: e.number, ...e.location.instance });
                  if (batch.length >= CHUNK) await flush();
                }
                await flush();
              }
              progress.update(done, true);
              report({
                source,
                dbDir,
                database: dbConfig.dsn,
                force,
                tally,
                damaged,
                differing,
                json: opts.json === true,
              });
              if (differing.length > 0 && !force)
                throw new SmError(
                  "MIGRATE_DIFFERS",
                  `${differing.length} sector(s) are in the database under other instance names than in ${dbDir} and were left as the database has them (listed above); check which is right, and run again with --force to overwrite them with the embedded index's names`,
                  { differing: differing.length },
                );
              if (damaged.length > 0)
                throw new SmError(
                  "STORE_CORRUPT",
                  `${damaged.length} damaged record(s) of ${dbDir} were not copied (listed above); re-attach the stores that hold them (\`vsm util storage attach --name NAME PATH\`), which writes them to the database`,
                );
            } finally {
              await pg.close();
            }
          } finally {
            await store.close();
          }
        } finally {
          await lock.release();
        }
      }),
    );
}

function report(r: {
  source: string;
  dbDir: string;
  database: string;
  force: boolean;
  tally: Record<Type, Tally>;
  damaged: { type: Type; miner: number; number: number; error: string }[];
  differing: Differing[];
  json: boolean;
}): void {
  const copied = r.tally.normal.copied + r.tally.upgrade.copied;
  const changed = copied > 0 || (r.force && r.differing.length > 0);
  if (r.json) {
    process.stdout.write(
      `${JSON.stringify(
        {
          source: r.source,
          lmdb: r.dbDir,
          database: r.database,
          force: r.force,
          normal: r.tally.normal,
          upgrade: r.tally.upgrade,
          changed,
          differing: r.differing,
          damaged: r.damaged,
        },
        null,
        2,
      )}\n`,
    );
    return;
  }
  const out: string[] = [];
  for (const type of TYPES) {
    const t = r.tally[type];
    out.push(
      `${type.padEnd(8)} ${t.total} record(s): copied ${t.copied}, already there ${t.same}, differing ${t.differing}${t.differing > 0 ? (r.force ? " (overwritten, --force)" : " (left as the database has them)") : ""}`,
    );
  }
  const shown = r.differing.slice(0, 20);
  for (const d of shown)
    out.push(
      `  ${d.type} sector ${d.miner}-${d.number}: embedded ${d.embedded.sealedFile}/${d.embedded.cacheDir}, database ${d.database.sealedFile}/${d.database.cacheDir}`,
    );
  if (r.differing.length > shown.length)
    out.push(`  ... and ${r.differing.length - shown.length} more (--json lists all)`);
  for (const d of r.damaged)
    out.push(`  damaged ${d.type} record of sector ${d.miner}-${d.number}: ${d.error}`);
  out.push(
    changed
      ? `the cluster database now holds the embedded index of ${r.source}`
      : `nothing changed: every record of ${r.source} was already in the database`,
  );
  process.stdout.write(`${out.join("\n")}\n`);
}
