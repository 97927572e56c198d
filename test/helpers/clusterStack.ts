/**
 * The PoSter cluster as real processes on loopback: a devnet, a throwaway PostgreSQL database, a source
 * node (`--miner`) whose sector index is the database, and any number of PoSter nodes
 * (`--poster --ext-prover --name`) reading the source's config through `--conf-dir` (so the same
 * database, miners and ext-prover.cfg), each with its own home. Built on PosterStack for the devnet and
 * the source.
 *
 * A node may run inside a network namespace (netns.ts, `startNode(name, env, { netns })`), so a test
 * can cut its network. It then reads the same config as the others, so everything it dials must be
 * reachable from inside: give `devnetListen` (the namespace's `hostAddr`: the devnet listens there and
 * the Chain line names it) and a DSN on that address (`startPg({ listen: [hostAddr], trust: [subnet] })`,
 * `pg.dsn(db, hostAddr)`). Host processes dial the same address over loopback, so they are unaffected
 * by a cut.
 */
import fs from "node:fs/promises";
import path from "node:path";
import postgres from "postgres";
import { cliEntry, type Proc, startCli, startProcess } from "../../src/util/childProcess.js";
import { initNodeHome, NODE_ENV } from "./devnetSetup.js";
import type { Netns } from "./netns.js";
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
  /** The address the devnet listens on (port chosen by it); default 127.0.0.1. */
  devnetListen?: string;
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
    await this.stack.startDevnet(this.o.devnetListen === undefined ? undefined : `${this.o.devnetListen}:0`);
    await this.stack.initSource();
    await this.stack.startSource();
    for (const n of names) await this.startNode(n);
  }

  /** The home of the PoSter node named `name`. */
  home(name: string): string {
    return path.join(this.o.dir, `node-${name}`);
  }

  /**
   * A PoSter node named `name` (started again under the same name and home after a stop or kill).
   * With `netns` it runs inside that namespace, listening on the namespace's own address.
   */
  async startNode(name: string, env: NodeJS.ProcessEnv = NODE_ENV, o: { netns?: Netns } = {}): Promise<Proc> {
    const home = this.home(name);
    const exists = await fs.stat(home).then(
      () => true,
      () => false,
    );
    if (!exists) await initNodeHome(home, {});
    const lines = this.lines.get(name) ?? [];
    this.lines.set(name, lines);
    const args = [
      "--home",
      home,
      "daemon",
      "run",
      `--listen=${o.netns?.nsAddr ?? "127.0.0.1"}:0`,
      `--conf-dir=${this.stack.srcHome}`,
      "--poster",
      "--ext-prover",
      `--name=${name}`,
    ];
    const opts = { env, onLine: (l: string) => lines.push(l) };
    // `ip netns exec` execs the command: the Proc's pid is the node's own.
    const p = o.netns
      ? startProcess(...o.netns.spawnArgs(process.execPath, [cliEntry(), ...args]), opts)
      : startCli(args, opts);
    try {
      await p.waitForLine(/joined the cluster/, 60_000);
    } catch (e) {
      await p.stop(5000);
      throw e;
    }
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
  ): Promise<
    { partition: number; node: string; state: string; error: string | null; startedAt: Date | null }[]
  > {
    const rows = await this.sql<
      {
        partition_index: number;
        node: string;
        state: string;
        error: string | null;
        started_at: Date | null;
      }[]
    >`
      SELECT partition_index, node, state, error, started_at FROM task_history
      WHERE miner = ${actor} AND open_epoch = ${open} ORDER BY finished_at`;
    return rows.map((r) => ({
      partition: r.partition_index,
      node: r.node,
      state: r.state,
      error: r.error,
      startedAt: r.started_at,
    }));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((p) => p.stop(5000)));
    await this.stack.stop();
    await this.sql.end({ timeout: 2 });
  }
}
