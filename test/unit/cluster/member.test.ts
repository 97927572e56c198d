/**
 * A cluster member on a real PostgreSQL server, proving a real task job: layout-only sector files in a
 * temp store, an embedded sector index for this node, and StrictCheck, whose vanilla-proof probe is
 * the one step made slow here (it waits until the check is stopped), so the node can be stopped while
 * it checks.
 *
 * A node shut down in the middle of a sector check hands the task back for another node: the check
 * stopped by the shutdown reports its sectors "check aborted", which is no outcome of the task. (It
 * used to come out as "nothing provable" and be recorded as a permanent failure, the partition left
 * out.)
 *
 * A message group whose claim took long to answer (the database failing over) is renewed before it is
 * sent, and its local lease counts from the renewal; otherwise from the claim.
 */
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, describe, test } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import {
  claimGroup,
  claimTasks,
  completeTask,
  formGroups,
  listTasks,
  taskHistory,
} from "../../../src/cluster/index.js";
import { ClusterMember } from "../../../src/cluster/member.js";
import { registerNode, setCordoned } from "../../../src/cluster/nodes.js";
import type { TaskProveDeps } from "../../../src/cluster/proveTask.js";
import { encodeTaskJob } from "../../../src/cluster/taskJob.js";
import { createDeadlineTasks } from "../../../src/cluster/tasks.js";
import { nullLogger } from "../../../src/log/logger.js";
import { createMetrics } from "../../../src/metrics/metrics.js";
import { sealedCid } from "../../../src/proofs/commCid.js";
import { apiPoStProofName } from "../../../src/proofs/proofTypes.js";
import { shapeByName } from "../../../src/proofs/sectorShapes.js";
import { LocalIndexer } from "../../../src/sectors/localIndexer.js";
import { PersistStores } from "../../../src/sectors/stores.js";
import { MemoryStore } from "../../../src/store/memory.js";
import { clusterDbFixture } from "../../helpers/clusterDb.js";
import { writeLayoutOnlySector } from "../../helpers/layoutOnlySector.js";
import { tempDir } from "../../helpers/tmp.js";

const MINER = 1000;
/** The chain's StackedDrgWindow2KiBV1_1. */
const WINDOW_2KIB = 10;
const k2 = shapeByName("2KiB")!;
const SECTORS = [1, 2];
const TIMINGS = { leaseMs: 10_000, renewEveryMs: 1000, heartbeatEveryMs: 1000, missedHeartbeats: 3 };

describe("cluster member", { timeout: 30_000 }, () => {
  const { freshDb } = clusterDbFixture("member");
  let dir = "";
  let cleanup = async () => {};
  let indexer: LocalIndexer;

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-member-"));
    indexer = new LocalIndexer(new MemoryStore());
    for (const n of SECTORS) await writeLayoutOnlySector(dir, "normal", MINER, n, k2);
    await indexer.update(
      "normal",
      SECTORS.map((n) => ({ miner: MINER, number: n, sealedFile: "s1", cacheDir: "s1" })),
    );
  });
  after(() => cleanup());

  test("stopped in the middle of a sector check, the node hands the task back", async () => {
    const { pg } = await freshDb();
    const job = encodeTaskJob({
      actor: MINER,
      deadline: 0,
      open: 100,
      close: 160,
      partition: 0,
      proofType: apiPoStProofName(WINDOW_2KIB),
      postProof: WINDOW_2KIB,
      seed: new Uint8Array(32).fill(7),
      format: "snark",
      strict: true,
      toProve: BitField.fromNumbers(SECTORS),
      infos: new Map(
        SECTORS.map((n) => [
          n,
          { sectorNumber: n, sealedCid: sealedCid(new Uint8Array(32).fill(n)), sectorKeyCid: null },
        ]),
      ),
    });
    await createDeadlineTasks(pg, {
      miner: MINER,
      deadline: 0,
      open: 100,
      close: 160,
      partitions: [{ partition: 0, job }],
    });

    let probing: () => void = () => {};
    const probed = new Promise<void>((r) => {
      probing = r;
    });
    const deps: TaskProveDeps = {
      indexer,
      stores: new PersistStores([{ Name: "s1", Path: dir, ReadOnly: false, Strict: false, Meta: {} }]),
      proving: { ParallelCheckLimit: 4, SingleCheckTimeoutMs: 20_000, PartitionCheckTimeoutMs: 20_000 },
      // The slow step: a vanilla proof that ends only when the check is stopped.
      strictProbe: (_input, signal) =>
        new Promise<void>((_, reject) => {
          probing();
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        }),
      prove: async () => {
        throw new Error("the check never finishes here, so nothing is proven");
      },
    };
    const shutdown = new AbortController();
    const member = await ClusterMember.join(
      pg,
      {
        name: "m1",
        address: "m1:1",
        capacity: () => 1,
        timings: TIMINGS,
        pollMs: 100,
        deps,
        logger: nullLogger,
      },
      shutdown.signal,
    );
    member.onHead(101);
    const running = member.run(shutdown.signal);
    await probed;
    const [claimed] = await listTasks(pg, { miner: MINER });
    assert.equal(claimed?.state, "running", "claimed and being checked");

    shutdown.abort(new Error("node stopping"));
    await running;
    const [task] = await listTasks(pg, { miner: MINER });
    assert.equal(task?.state, "waiting", `handed back, not failed: ${JSON.stringify(task)}`);
    const hist = await taskHistory(pg, { miner: MINER, open: 100, partition: 0 });
    assert.deepEqual(
      hist.map((h) => [h.state, h.error]),
      [["failed", "node m1 stopped"]],
      "the attempt is recorded as ended by the stop, not as nothing provable",
    );
  });

  test("vsm_cluster_nodes and vsm_cluster_tasks count the cluster's nodes and tasks by state", async () => {
    const { pg } = await freshDb();
    await createDeadlineTasks(pg, {
      miner: MINER,
      deadline: 0,
      open: 100,
      close: 160,
      partitions: [{ partition: 0, job: {} }],
    });
    // A node whose last heartbeat is an hour old: dead; and a live one cordoned.
    await registerNode(pg, { name: "ghost", address: "ghost:1", capacity: 1 });
    await pg.query(
      "UPDATE cluster_nodes SET last_heartbeat = now() - interval '1 hour' WHERE name = 'ghost'",
    );
    await registerNode(pg, { name: "idle", address: "idle:1", capacity: 1 });
    await setCordoned(pg, "idle", true);
    const metrics = createMetrics({ defaults: false });
    const stop = new AbortController();
    const member = await ClusterMember.join(
      pg,
      {
        name: "m4",
        address: "m4:1",
        capacity: () => 0,
        timings: TIMINGS,
        pollMs: 100,
        deps: {} as TaskProveDeps,
        metrics,
        logger: nullLogger,
      },
      stop.signal,
    );
    const running = member.run(stop.signal);
    const value = async (g: "clusterNodes" | "clusterTasks", state: string) =>
      (await metrics[g].get()).values.find((v) => v.labels.state === state)?.value;
    try {
      const end = Date.now() + 10_000;
      while ((await value("clusterNodes", "alive")) === undefined && Date.now() < end)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal(await value("clusterNodes", "alive"), 2, "m4 and idle");
      assert.equal(await value("clusterNodes", "dead"), 1, "ghost");
      assert.equal(await value("clusterNodes", "cordoned"), 1, "idle");
      assert.equal(await value("clusterTasks", "waiting"), 1);
      assert.equal(await value("clusterTasks", "running"), 0);
    } finally {
      stop.abort(new Error("test over"));
      await running;
    }
  });

  test("a message group claimed slowly is renewed, and its lease counts from the renewal", async () => {
    const { pg } = await freshDb();
    await createDeadlineTasks(pg, {
      miner: MINER,
      deadline: 0,
      open: 100,
      close: 160,
      partitions: [{ partition: 0, job: {} }],
    });
    const never = new AbortController();
    const member = await ClusterMember.join(
      pg,
      {
        name: "m2",
        address: "m2:1",
        capacity: () => 1,
        timings: TIMINGS,
        deps: {} as TaskProveDeps,
        logger: nullLogger,
      },
      never.signal,
    );
    const [task] = (await claimTasks(pg, member.id, { height: 95, leaseMs: TIMINGS.leaseMs })).tasks;
    assert.ok(task);
    await completeTask(pg, member.id, task, { proof: new Uint8Array([1]) });
    const [group] = await formGroups(pg, { miner: MINER, open: 100, perMessage: 1 });
    assert.ok(group);
    const claimed = await claimGroup(pg, member.id, group, { leaseMs: TIMINGS.leaseMs });
    assert.ok(claimed);
    const lease = { miner: MINER, open: 100, group: claimed.group, attempt: claimed.attempt };
    const expiry = async () =>
      (
        await pg.query<{ e: Date }>(
          "SELECT lease_expires_at AS e FROM message_groups WHERE miner = $1 AND open_epoch = 100",
          [MINER],
        )
      )[0]?.e.getTime() ?? 0;

    // Answered at once: the lease counts from the claim, nothing renewed.
    const now = performance.now();
    const before = await expiry();
    assert.equal(await member.groupLeaseStart(lease, now), now);
    assert.equal(await expiry(), before);

    // Answered 6 s after it was sent (more than half of the 10 s lease, less its 1 s margin).
    const slow = performance.now() - 6000;
    const start = await member.groupLeaseStart(lease, slow);
    assert.ok(start > slow + 5500, "counts from the renewal");
    assert.ok((await expiry()) > before, "renewed in the database");

    // Lost meanwhile: the renewal is refused and the lease counts from the claim, so it is over.
    await pg.query(
      "UPDATE message_groups SET lease_expires_at = now() - INTERVAL '1 millisecond' WHERE miner = $1",
      [MINER],
    );
    assert.equal(await member.groupLeaseStart(lease, slow), slow);
  });
});
