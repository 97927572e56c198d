/**
 * `vsm devnet status` text: every numeric column says whether it holds a count or a list, so
 * "0" under a list of partitions (partition 0 proven) cannot be read as a count (nothing proven).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatDevnetStatus } from "../../../src/cli/commands/devnet.js";
import type { DeadlineRecord } from "../../../src/devnet/miner.js";

/** Header cells and the rows under them, split on the table's two-space column gap. */
function columns(table: string): Record<string, string>[] {
  const [head = "", ...rows] = table.split("\n");
  const starts: number[] = [];
  const names: string[] = [];
  for (const m of head.matchAll(/\S+(?: \S+)*/g)) {
    starts.push(m.index ?? 0);
    names.push(m[0]);
  }
  return rows.map((r) =>
    Object.fromEntries(names.map((n, i) => [n, r.slice(starts[i], starts[i + 1] ?? r.length).trim()])),
  );
}

const record = (over: Partial<DeadlineRecord>): DeadlineRecord => ({
  miner: "f01000",
  index: 2,
  open: 120,
  close: 132,
  partitions: 2,
  proven: [0, 1],
  missed: [],
  newFaults: [],
  recovered: [],
  rejections: [],
  ...over,
});

describe("devnet status text", () => {
  const text = formatDevnetStatus(
    {
      Epoch: 140,
      BlockTimeMs: 150,
      Miners: [{ Address: "f01000", Sectors: 8, Faulty: 1, Recovering: 0, CurrentDeadline: 3 }],
    },
    [
      record({}),
      record({
        index: 3,
        open: 132,
        close: 144,
        proven: [0],
        missed: [1],
        newFaults: [7, 8],
        rejections: ["sector 7: bad proof"],
      }),
    ],
  );
  const [, minersTable = "", recordsTable = ""] = text.trimEnd().split(/\n(?=MINER)/);

  test("lists are labelled as lists, counts as counts", () => {
    const miners = columns(minersTable.trimEnd());
    assert.deepEqual(miners, [
      {
        MINER: "f01000",
        "SECTOR COUNT": "8",
        "FAULTY COUNT": "1",
        "RECOVERING COUNT": "0",
        "CURRENT DEADLINE": "3",
      },
    ]);
    const records = columns(recordsTable);
    assert.deepEqual(records[0], {
      MINER: "f01000",
      DEADLINE: "2",
      OPEN: "120",
      CLOSE: "132",
      "PARTITION COUNT": "2",
      "PROVEN PARTITIONS": "0,1",
      "MISSED PARTITIONS": "-",
      "NEW FAULT COUNT": "0",
      "RECOVERED COUNT": "0",
      REJECTIONS: "-",
    });
    assert.equal(records[1]?.["PROVEN PARTITIONS"], "0");
    assert.equal(records[1]?.["MISSED PARTITIONS"], "1");
    assert.equal(records[1]?.["NEW FAULT COUNT"], "2");
    assert.equal(records[1]?.REJECTIONS, "sector 7: bad proof");
  });

  test("no bare PROVEN / MISSED / PARTITIONS header is left to guess from", () => {
    for (const h of ["PROVEN", "MISSED", "PARTITIONS", "SECTORS", "FAULTY", "NEW FAULTS", "RECOVERED"])
      assert.ok(!new RegExp(`(^|  )${h}(  |$)`, "m").test(text), `bare header ${h} in\n${text}`);
  });

  test("the judgement line says whether every sector proof is verified or a sample", () => {
    assert.match(text, /^judgement: every sector proof verified$/m);
    const sampled = formatDevnetStatus({ Epoch: 1, BlockTimeMs: 150, VerifySample: 50, Miners: [] }, []);
    assert.match(sampled, /^judgement: 50 random sector proofs verified per partition \(--verify-sample/m);
  });
});
