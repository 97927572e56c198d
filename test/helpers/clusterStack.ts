/**
 * The PoSter cluster as real processes on loopback: a devnet, a throwaway PostgreSQL database, a source
 * node (`--miner`) whose sector index is the database, and any number of PoSter nodes
 * (`--poster --ext-prover --name`) reading the source's config through `--conf-dir` (so the same
 * database, miners and ext-prover.cfg), each with its own home. Built on PosterStack for the devnet and
 * the source.
 */
import fs from "node:fs/promises";
import path from "node:path";
import postgres from "postgres";
import type { Proc } from "../../src/util/childProcess.js";
import { initNodeHome, NODE_ENV, startReady } from "./devnetSetup.js";
import { PosterStack, type StackOptions } from "./posterStack.js";

/** Lease settings short enough for a takeover to fit in a test deadline (the config's minimum lease is 2 s). */
export const FAST_LEASES = {
  LeaseTimeout: "3s",
  LeaseRenewInterval: "1s",
  HeartbeatInterval: "1s",
  NodeDeadAfter: "3s",
};

export interface ClusterStackOptions extends Omit<StackOptions, "srcConfig"> {
  dsn: string;
  leases?: Partial<typeof FAST_LEASES>;
}

export interface TaskRow {
  partition: number;
  open: number;
  state: string;
  holder: string | null;
  attempts: number;
}

export class ClusterStack {
  readonly stack: PosterStack;
  readonly nodes = new Map<string, Proc>();
  /** Every line each node printed, by name (all lives of that name). */
  readonly lines = new Map<string, string[]>();
  readonly sql: postgres.Sql;

  constructor(private readonly o: ClusterStackOptions) {
    const leases = { ...FAST_LEASES, ...o.leases };
    this.stack = new PosterStack({
      ...o,
      srcConfig: (cfg) => {
        let text = cfg
          .replace('#Driver = "lmdb"', 'Driver = "postgres"')
          .replace(/#DSN = "[^"]*"/, `DSN = ${JSON.stringify(o.dsn)}`);
        for (const [k, v] of Object.entries(leases))
          text = text.replace(new RegExp(`#${k} = "[^"]*"`), `${k} = "${v}"`);
        return text;
      },
    });
    this.sql = postgres(o.dsn, { max: 2, onnotice: () => {} });
  }

  /** Devnet, source node, then the named PoSter nodes. */
  async start(names: readonly string[]): Promise<void> {
    await this.stack.startDevnet();
    await this.stack.initSource();
    await this.stack.startSource();
    for (const n of names) await this.startNode(n);
  }

  /** The home of the PoSter node named `name`. */
  home(name: string): string {
    return path.join(this.o.dir, `node-${name}`);
  }

  /** A PoSter node named `name` (started again under the same name and home after a stop or kill). */
  async startNode(name: string, env: NodeJS.ProcessEnv = NODE_ENV): Promise<Proc> {
    const home = this.home(name);
    const exists = await fs.stat(home).then(
      () => true,
      () => false,
    );
    if (!exists) await initNodeHome(home, {});
    const lines = this.lines.get(name) ?? [];
    this.lines.set(name, lines);
    const p = await startReady(
      [
        "--home",
        home,
        "daemon",
        "run",
        "--listen=127.0.0.1:0",
        `--conf-dir=${this.stack.srcHome}`,
        "--poster",
        "--ext-prover",
        `--name=${name}`,
      ],
      /joined the cluster/,
      { env, timeoutMs: 60_000, onLine: (l) => lines.push(l) },
    );
    this.nodes.set(name, p);
    return p;
  }

  /** The partition tasks of `actor` (all deadlines, or the one opened at `open`). */
  async tasks(actor: number, open?: number): Promise<TaskRow[]> {
    const rows = await this.sql<
      {
        partition_index: number;
        open_epoch: string;
        state: string;
        holder: string | null;
        attempts: number;
      }[]
    >`SELECT partition_index, open_epoch, state, holder, attempts FROM partition_tasks
      WHERE miner = ${actor} ${open === undefined ? this.sql`` : this.sql`AND open_epoch = ${open}`}
      ORDER BY open_epoch, partition_index`;
    return rows.map((r) => ({
      partition: r.partition_index,
      open: Number(r.open_epoch),
      state: r.state,
      holder: r.holder,
      attempts: r.attempts,
    }));
  }

  /** The attempts recorded for `actor`'s deadline opened at `open`. */
  async history(
    actor: number,
    open: number,
  ): Promise<{ partition: number; node: string; state: string; error: string | null }[]> {
    const rows = await this.sql<
      { partition_index: number; node: string; state: string; error: string | null }[]
    >`
      SELECT partition_index, node, state, error FROM task_history
      WHERE miner = ${actor} AND open_epoch = ${open} ORDER BY finished_at`;
    return rows.map((r) => ({ partition: r.partition_index, node: r.node, state: r.state, error: r.error }));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((p) => p.stop(5000)));
    await this.stack.stop();
    await this.sql.end({ timeout: 2 });
  }
}
