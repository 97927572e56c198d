/**
 * `vsm demo --cluster` (issue 13, "Operations"): the demo runs the seed's deployment as a PoSter
 * cluster on a throwaway local PostgreSQL, kills a node mid-deadline and ends with the deadline
 * proven; when it ends nothing of it runs any more (nodes, ext-prover children, the devnet, the
 * server). Without server binaries it says how to install them and fails before it starts anything.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, describe, test } from "node:test";
import { leftovers } from "../../src/daemon/demoCluster.js";
import { runCli } from "../../src/util/childProcess.js";
import { tempDir } from "../helpers/tmp.js";

describe("vsm demo --cluster", { timeout: 200_000 }, () => {
  /** Directories of the demo's processes, known from its output: whatever still names them is killed after. */
  const dirs: string[] = [];
  after(() => {
    for (const pid of leftovers(dirs)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // ended meanwhile
      }
    }
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test("three nodes on a local PostgreSQL: a node killed while it holds a task, the task taken over, the deadline proven, nothing left running", async () => {
    const r = await runCli(["demo", "--cluster"], { timeoutMs: 180_000 });
    const out = r.output;
    const root = /^working directory: (\S+)$/m.exec(out)?.[1];
    const pgDir = /PostgreSQL listening on 127\.0\.0\.1:\d+, data in (\S+)$/m.exec(out)?.[1];
    if (root) dirs.push(root);
    if (pgDir) dirs.push(pgDir);
    assert.equal(r.code, 0, out);
    assert.ok(root && pgDir, out);
    const killed = /SIGKILL (n\d) \(pid \d+\) while it holds partition (\d+)/.exec(out);
    assert.ok(killed, `a node killed while it holds a task:\n${out}`);
    const [, victim, partition] = killed;
    const taken = new RegExp(
      `TAKEOVER: partition ${partition} taken over by (n\\d) ([\\d.]+) s after the kill`,
    ).exec(out);
    assert.ok(taken, `the killed node's partition taken over:\n${out}`);
    assert.notEqual(taken[1], victim);
    // Lease 3 s, then a free prover: the others prove 2 s per partition.
    assert.ok(Number(taken[2]) < 10, `taken over after ${taken[2]} s`);
    assert.match(
      out,
      new RegExp(`partition ${partition}: proven by n\\d in 2 attempt\\(s\\): ${victim} lost`),
    );
    assert.match(out, /proven \[0,1,2,3,4,5\], missed \[\], rejected proofs: none/);
    assert.match(out, /DEADLINE PROVEN: all 6 partitions on time/);
    assert.match(out, /nothing left running/);
    // The demo's own check, repeated from outside once it has exited.
    assert.deepEqual(leftovers([root, pgDir]), [], "no process of the demo is left");
    assert.equal(fs.existsSync(root), false, "the working directory is removed");
    assert.equal(fs.existsSync(pgDir), false, "the server's directory is removed");
  });

  test("without PostgreSQL server binaries: the install hint, a non-zero exit, nothing started", async () => {
    const { dir, cleanup } = await tempDir("vsm-nopg-");
    try {
      const r = await runCli(["demo", "--cluster"], {
        env: { ...process.env, VSM_PG_BIN_DIR: dir },
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, /apt-get install postgresql/);
      assert.match(r.output, new RegExp(`VSM_PG_BIN_DIR=${dir} holds no executable initdb and pg_ctl`));
      assert.doesNotMatch(r.output, /working directory/, "nothing was started");
    } finally {
      await cleanup();
    }
  });
});
