import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  encodeRequest,
  encodeResponse,
  LineSplitter,
  ProtocolError,
  parseRequestLine,
  parseResponseLine,
  readyLine,
} from "../../../src/prover/protocol.js";

const commR = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
const seed = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);

describe("ext-prover wire format (damocles §1.4–§1.6)", () => {
  test("ready lines", () => {
    assert.equal(readyLine("window_post"), "window_post processor ready");
    assert.equal(readyLine("winning_post"), "winning_post processor ready");
  });

  test("a request uses snake_case keys, [32]byte as 32 numbers, and round-trips", () => {
    const line = encodeRequest({
      id: 7,
      task: {
        minerId: 1000,
        proofType: "StackedDrgWindow2KiBV1_2",
        replicas: [{ sectorId: 17, commR, cacheDir: "/c", sealedFile: "/s" }],
        seed,
      },
    });
    const raw = JSON.parse(line) as {
      id: number;
      task: { miner_id: number; replicas: { comm_r: number[] }[]; seed: number[] };
    };
    assert.equal(raw.id, 7);
    assert.equal(raw.task.miner_id, 1000);
    assert.deepEqual(raw.task.replicas[0]?.comm_r, Array.from(commR));
    assert.deepEqual(raw.task.seed, Array.from(seed));
    const back = parseRequestLine(line);
    assert.deepEqual(back.task.replicas[0]?.commR, commR);
    assert.deepEqual(back.task.seed, seed);
  });

  test("responses: window output has proofs (padded base64) and faults; winning only proofs; errors null output", () => {
    const proofs = [Uint8Array.of(1, 2, 3, 4), Uint8Array.of(9)];
    const w = encodeResponse("window_post", { id: 1, errMsg: null, output: { proofs, faults: [] } });
    assert.equal(w, '{"id":1,"err_msg":null,"output":{"proofs":["AQIDBA==","CQ=="],"faults":[]}}');
    const win = encodeResponse("winning_post", { id: 2, errMsg: null, output: { proofs, faults: [] } });
    assert.equal(win, '{"id":2,"err_msg":null,"output":{"proofs":["AQIDBA==","CQ=="]}}');
    const e = encodeResponse("window_post", { id: 3, errMsg: "boom", output: null });
    assert.equal(e, '{"id":3,"err_msg":"boom","output":null}');
    assert.deepEqual(parseResponseLine(w).output?.proofs, proofs);
    assert.deepEqual(
      parseResponseLine('{"id":4,"err_msg":null,"output":{"proofs":[],"faults":[3,5]}}').output?.faults,
      [3, 5],
    );
    assert.equal(parseResponseLine(e).errMsg, "boom");
  });

  test("malformed requests and responses are ProtocolErrors naming the field", () => {
    const bad: [string, RegExp][] = [
      ["not json", /not JSON/],
      ['{"id":-1,"task":{}}', /request\.id must be a non-negative integer/],
      [
        '{"id":1,"task":{"miner_id":1,"proof_type":"x","replicas":[],"seed":[1,2]}}',
        /task\.seed must be an array of 32 integers/,
      ],
      [
        '{"id":1,"task":{"miner_id":1,"proof_type":"x","replicas":[{"sector_id":1,"comm_r":[],"cache_dir":"a","sealed_file":"b"}],"seed":[]}}',
        /task\.replicas\[0\]\.comm_r/,
      ],
    ];
    for (const [line, re] of bad)
      assert.throws(
        () => parseRequestLine(line),
        (e: unknown) => e instanceof ProtocolError && re.test(e.message),
        line,
      );
    assert.throws(
      () => parseResponseLine('{"id":1,"err_msg":null,"output":{"proofs":["***"]}}'),
      /not padded base64/,
    );
    assert.throws(() => parseResponseLine('{"id":"x"}'), /response\.id/);
    assert.throws(() => parseResponseLine('{"id":1,"output":{"faults":[-2]}}'), /faults\[0\]/);
  });
});

describe("LineSplitter", () => {
  test("splits across chunks, strips CR, and skips an over-long line without buffering it", () => {
    const lines: string[] = [];
    const overflows: number[] = [];
    const s = new LineSplitter(
      (l) => lines.push(l),
      (n) => overflows.push(n),
      16,
    );
    s.push(Buffer.from("ab"));
    s.push(Buffer.from("c\r\nde"));
    s.push(Buffer.from("f\n" + "x".repeat(40)));
    s.push(Buffer.from("y".repeat(40) + "\nok\ntail"));
    s.end();
    assert.deepEqual(lines, ["abc", "def", "ok", "tail"]);
    assert.deepEqual(overflows, [80]);
  });

  test("an over-long line keeps only its first bytes: nothing is copied but the head", () => {
    const heads: Buffer[] = [];
    const sizes: number[] = [];
    const s = new LineSplitter(
      () => {},
      (bytes, head) => {
        sizes.push(bytes);
        heads.push(head);
      },
      3 * 1024 * 1024,
    );
    const concat = Buffer.concat;
    let largest = 0;
    Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
      const out = concat(list, total);
      largest = Math.max(largest, out.length);
      return out;
    }) as typeof Buffer.concat;
    try {
      const mib = Buffer.alloc(1024 * 1024, "y");
      s.push(Buffer.from('{"id":7,"output":'));
      for (let i = 0; i < 4; i++) s.push(mib);
      s.push(Buffer.from("\n"));
    } finally {
      Buffer.concat = concat;
    }
    assert.deepEqual(sizes, [17 + 4 * 1024 * 1024]);
    assert.equal(heads[0]?.toString(), `{"id":7,"output":${"y".repeat(64 - 17)}`);
    assert.ok(largest <= 64, `the largest copy was ${largest} bytes`);
    // A limit below the head size: the head is what was read, not padded with zeros.
    const small: Buffer[] = [];
    const t = new LineSplitter(
      () => {},
      (_, head) => small.push(head),
      10,
    );
    t.push(Buffer.from("0123456789AB\n"));
    assert.equal(small[0]?.toString(), "0123456789AB");
  });
});
