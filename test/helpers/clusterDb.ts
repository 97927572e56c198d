/**
 * What the tests on the cluster database share (the engine, the sector index on PostgreSQL): one
 * throwaway PostgreSQL server per test file, a fresh migrated database per test, clients that are
 * all closed at the end, and node registration.
 */
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { type NodeIdentity, registerNode } from "../../src/cluster/index.js";
import { nullLogger } from "../../src/log/logger.js";
import { openPg, type Pg } from "../../src/store/pg/db.js";
import { migrate } from "../../src/store/pg/migrations.js";
import { SmError } from "../../src/util/errors.js";
import { type PgServer, startPg } from "./pgServer.js";

export interface ClusterDbFixture {
  /** Another client on `dsn`, closed with the fixture. */
  open(dsn: string): Pg;
  /** A fresh migrated database and one client on it. */
  freshDb(): Promise<{ dsn: string; pg: Pg }>;
  /** Register node `name` (address `<name>:1`) with `capacity`. */
  node(pg: Pg, name: string, capacity?: number): Promise<NodeIdentity>;
}

/**
 * Call inside a `describe`: starts the server before its tests and stops it, with every client
 * opened through the fixture, after them. `prefix` names the databases (`<prefix>1`, `<prefix>2`, …).
 */
export function clusterDbFixture(prefix: string): ClusterDbFixture {
  let server: PgServer | undefined;
  const clients: Pg[] = [];
  let count = 0;
  before(async () => {
    server = await startPg();
  });
  after(async () => {
    for (const c of clients) await c.close();
    await server?.destroy();
  });
  const open = (dsn: string): Pg => {
    const pg = openPg(dsn, { logger: nullLogger, applicationName: "vsm-test" });
    clients.push(pg);
    return pg;
  };
  return {
    open,
    async freshDb() {
      if (!server) throw new Error("clusterDbFixture: the server is not started (call it inside a describe)");
      const dsn = await server.createDatabase(`${prefix}${++count}`);
      const pg = open(dsn);
      await migrate(pg, { logger: nullLogger, node: "test" });
      return { dsn, pg };
    },
    node: (pg, name, capacity = 100) => registerNode(pg, { name, address: `${name}:1`, capacity }),
  };
}

/** `p` rejects with an SmError of `code`. */
export async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof SmError && e.code === code);
}
