/**
 * The submit stage through its narrow input, without a chain node: a small in-memory chain that
 * answers the calls the Submitter makes, a report that records what the run would be told, and the
 * proof store's records of sent messages. What is checked is what reached the chain and the report.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BitField } from "../../../src/chain/bitfield.js";
import type {
  Actor,
  MessageReceipt,
  MinerInfo,
  OutgoingMessage,
  PushedMessage,
  TipSet,
} from "../../../src/chain/interface.js";
import { MinerMethod } from "../../../src/chain/message.js";
import { decodeSubmitWindowedPoStParams } from "../../../src/chain/params.js";
import { nullLogger } from "../../../src/log/logger.js";
import type { ProvenPartition } from "../../../src/poster/batch.js";
import { type SubmitChain, Submitter, type SubmitterInput } from "../../../src/poster/submit.js";
import type { DryRunMessage, LandedMessage } from "../../../src/poster/types.js";
import { SmError } from "../../../src/util/errors.js";

const INFO: MinerInfo = {
  owner: "f0100",
  worker: "f0101",
  controlAddresses: ["f0102"],
  windowPoStProofType: 10,
  sectorSize: 2048,
  windowPoStPartitionSectors: 2,
};

/** Answers what the Submitter asks; pushes fail, and waits answer, as the test queues them. */
class TinyChain implements SubmitChain {
  height = 100;
  readonly pushed: OutgoingMessage[] = [];
  readonly pushFailures: Error[] = [];
  /** One per wait, in order: a receipt's exit code, or an error (the node lost the message). */
  readonly waits: (number | Error)[] = [];
  readonly balances: Record<string, bigint> = { f0100: 5n, f0101: 1n, f0102: 9n };
  async stateGetRandomnessFromTickets(): Promise<Uint8Array> {
    return new Uint8Array(32).fill(9);
  }
  async stateLookupID(address: string): Promise<string> {
    return address.replace(/^t/, "f");
  }
  async stateGetActor(address: string): Promise<Actor> {
    return { code: "miner", nonce: 0, balance: this.balances[address] ?? 0n };
  }
  async chainHead(): Promise<TipSet> {
    return { key: [`b${this.height}`], height: this.height, timestamp: this.height * 30 };
  }
  async pushMessage(msg: OutgoingMessage): Promise<PushedMessage> {
    const failure = this.pushFailures.shift();
    if (failure) throw failure;
    this.pushed.push(msg);
    return { cid: `msg${this.pushed.length}` };
  }
  async waitMessage(): Promise<MessageReceipt> {
    const w = this.waits.shift() ?? 0;
    if (w instanceof Error) {
      this.height += 2;
      throw w;
    }
    this.height += 1;
    return { exitCode: w, return: new Uint8Array(), gasUsed: 1, height: this.height };
  }
}

const proven = (index: number, sectors: number[], proofBytes = 192): ProvenPartition => ({
  index,
  proven: BitField.fromNumbers(sectors),
  skipped: BitField.empty(),
  snarkProof: new Uint8Array(proofBytes).fill(index + 1),
});

const MESSAGE: SubmitterInput["message"] = {
  miner: "f01000",
  info: INFO,
  deadline: { index: 4, challenge: 180 },
  format: "snark",
  post: {
    Senders: ["f0100", "f0102", "f0999"],
    GasFeeCap: 5n,
    GasOverEstimation: 1.2,
    GasOverPremium: 0,
    Confidence: 1,
  },
};

function setup(over: Partial<SubmitterInput> = {}, onChain: number[] = []) {
  const chain = new TinyChain();
  const told = {
    proven: [] as number[],
    pushed: [] as { partitions: number[]; cid: string }[],
    landed: [] as LandedMessage[],
    built: [] as DryRunMessage[],
    marked: [] as { partitions: readonly number[]; cid: string }[],
  };
  let allow: () => void = () => {};
  const allowed = new Promise<void>((r) => {
    allow = r;
  });
  const input: SubmitterInput = {
    chain,
    message: MESSAGE,
    provenOnChain: async () => BitField.fromNumbers(onChain),
    retry: (_what, fn) => fn(),
    records: {
      sentCid: (p) => (p === 7 ? "earlier" : undefined),
      markSent: async (partitions, cid) => {
        told.marked.push({ partitions, cid });
      },
    },
    submitAllowed: () => allowed,
    dryRun: false,
    signal: new AbortController().signal,
    log: nullLogger,
    report: {
      proven: (p) => told.proven.push(...p),
      pushed: (partitions, cid) => told.pushed.push({ partitions, cid }),
      landed: (m) => told.landed.push(m),
      built: (m) => told.built.push(m),
    },
    ...over,
  };
  return { chain, told, allow, submitter: new Submitter(input) };
}

describe("Submitter", () => {
  it("sends once allowed, from the richest allowed sender, and reports what landed", async () => {
    const balances: [string, string, bigint][] = [];
    const { chain, told, allow, submitter } = setup({
      senderBalance: (address, role, balance) => balances.push([address, role, balance]),
    });
    submitter.send([proven(0, [1]), proven(2, [5, 6])]);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(chain.pushed.length, 0, "nothing is sent before submission is allowed");
    allow();
    await Promise.all(submitter.pushes);
    await Promise.all(submitter.sends);

    assert.equal(chain.pushed.length, 1);
    const msg = chain.pushed[0]!;
    assert.equal(msg.from, "f0102", "the control address has the highest balance; f0999 is not the miner's");
    assert.equal(msg.to, "f01000");
    assert.equal(msg.method, MinerMethod.SubmitWindowedPoSt);
    assert.equal(msg.maxFeeCap, 5n);
    assert.equal(msg.gasOverEstimation, 1.2);
    const params = decodeSubmitWindowedPoStParams(msg.params);
    assert.equal(params.deadline, 4);
    assert.equal(params.chainCommitEpoch, 180);
    assert.deepEqual(
      params.partitions.map((p) => p.index),
      [0, 2],
    );
    assert.equal(params.proofs[0]?.postProof, 10);
    assert.equal(params.proofs[0]?.proofBytes.length, 2 * 192);

    assert.deepEqual(told.pushed, [{ partitions: [0, 2], cid: "msg1" }]);
    assert.deepEqual(told.marked, [{ partitions: [0, 2], cid: "msg1" }]);
    assert.deepEqual(told.landed, [
      { partitions: [0, 2], cid: "msg1", exitCode: 0, gasUsed: 1, height: 101 },
    ]);
    assert.deepEqual(
      balances,
      [
        ["f0100", "owner", 5n],
        ["f0102", "control", 9n],
      ],
      "every configured sender the miner allows is reported with its role (f0999 is not the miner's)",
    );
    assert.deepEqual(told.proven, [0, 2]);
  });

  it("leaves out partitions already proven on chain, and sends nothing when all are", async () => {
    const some = setup({}, [2]);
    some.allow();
    some.submitter.send([proven(1, [3]), proven(2, [5])]);
    await Promise.all(some.submitter.sends);
    assert.deepEqual(
      decodeSubmitWindowedPoStParams(some.chain.pushed[0]!.params).partitions.map((p) => p.index),
      [1],
    );
    assert.deepEqual(some.told.proven, [2, 1]);

    const all = setup({}, [1, 2]);
    all.allow();
    all.submitter.send([proven(1, [3]), proven(2, [5])]);
    await Promise.all(all.submitter.pushes);
    await Promise.all(all.submitter.sends);
    assert.equal(all.chain.pushed.length, 0);
    assert.deepEqual(all.told.pushed, []);
    assert.deepEqual(all.told.proven, [1, 2]);
  });

  it("a message that failed on chain is reported, its partitions not proven", async () => {
    const { chain, told, allow, submitter } = setup();
    chain.waits.push(16);
    allow();
    submitter.send([proven(0, [1])]);
    await Promise.all(submitter.sends);
    assert.deepEqual(
      told.landed.map((m) => m.exitCode),
      [16],
    );
    assert.deepEqual(told.proven, []);
  });

  it("a push the node failed is tried again; one the client refuses is not", async () => {
    const again = setup();
    again.chain.pushFailures.push(new SmError("CHAIN_UNREACHABLE", "connection refused"));
    again.allow();
    again.submitter.send([proven(0, [1])]);
    await Promise.all(again.submitter.sends);
    assert.equal(again.chain.pushed.length, 1);
    assert.deepEqual(again.told.proven, [0]);

    const refused = setup();
    refused.chain.pushFailures.push(
      new SmError("CHAIN_VANILLA_PROOF_REFUSED", "vanilla proofs to a real network"),
    );
    refused.allow();
    refused.submitter.send([proven(0, [1])]);
    await assert.rejects(Promise.all(refused.submitter.sends), { code: "CHAIN_VANILLA_PROOF_REFUSED" });
    await Promise.all(refused.submitter.pushes);
    assert.equal(refused.chain.pushed.length, 0);
    assert.deepEqual(refused.told.pushed, []);
  });

  it("a send that fails while partitions are still proving is no unhandled rejection; the run still sees it", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const refused = setup();
      refused.chain.pushFailures.push(
        new SmError("CHAIN_VANILLA_PROOF_REFUSED", "vanilla proofs to a real network"),
      );
      refused.allow();
      refused.submitter.send([proven(0, [1])]);
      // The runner settles the sends only after every partition is proven: seconds later.
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(unhandled, []);
      const settled = await Promise.allSettled(refused.submitter.sends);
      assert.equal(settled[0]?.status, "rejected");
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("a message the node lost is sent again once the chain is past it", async () => {
    const { chain, told, allow, submitter } = setup();
    chain.waits.push(new SmError("CHAIN_RPC_ERROR", "message not found"));
    allow();
    submitter.send([proven(0, [1]), proven(1, [3])]);
    await Promise.all(submitter.sends);
    assert.equal(chain.pushed.length, 2);
    assert.deepEqual(told.pushed, [
      { partitions: [0, 1], cid: "msg1" },
      { partitions: [0, 1], cid: "msg2" },
    ]);
    assert.deepEqual(
      told.landed.map((m) => m.cid),
      ["msg2"],
    );
    assert.deepEqual(told.proven, [0, 1]);
  });

  it("vanilla proofs are let go once their message has executed, kept while it may be sent again", async () => {
    const vanilla = (index: number, sectors: number[]): ProvenPartition => ({
      index,
      proven: BitField.fromNumbers(sectors),
      skipped: BitField.empty(),
      sectorProofs: new Map(sectors.map((n) => [n, new Uint8Array(100).fill(n)])),
    });
    const { chain, told, allow, submitter } = setup({ message: { ...MESSAGE, format: "vanilla-bundle" } });
    // The first message is lost: its proofs must still be there to send the second.
    chain.waits.push(new SmError("CHAIN_RPC_ERROR", "message not found"));
    const group = [vanilla(0, [1, 2]), vanilla(1, [3])];
    allow();
    submitter.send(group);
    await Promise.all(submitter.sends);
    assert.equal(chain.pushed.length, 2, "sent again with the same proofs");
    assert.deepEqual(told.proven, [0, 1]);
    assert.deepEqual(
      group.map((p) => p.sectorProofs?.size),
      [0, 0],
      "let go once executed",
    );
  });

  it("dry run: builds the params and reports their size, or why they cannot be built; sends nothing", async () => {
    const { chain, told, submitter } = setup({ dryRun: true, records: undefined });
    submitter.send([proven(0, [1]), proven(1, [3])]);
    submitter.send([proven(2, [5], 100)]);
    await Promise.all(submitter.sends);
    assert.equal(chain.pushed.length, 0);
    assert.deepEqual(submitter.pushes, []);
    assert.equal(told.built.length, 2);
    assert.deepEqual(told.built[0]?.partitions, [0, 1]);
    assert.ok((told.built[0]?.paramsBytes ?? 0) > 2 * 192);
    assert.equal(told.built[0]?.error, undefined);
    assert.deepEqual(told.built[1]?.partitions, [2]);
    assert.equal(told.built[1]?.paramsBytes, 0);
    assert.match(told.built[1]?.error ?? "", /192 bytes/);
  });

  it("a run stopped before submission was allowed sends nothing", async () => {
    const stop = new AbortController();
    const { chain, told, submitter } = setup({ signal: stop.signal });
    submitter.send([proven(0, [1])]);
    stop.abort(new Error("deadline closed"));
    await assert.rejects(Promise.all(submitter.sends));
    await Promise.all(submitter.pushes);
    assert.equal(chain.pushed.length, 0);
    assert.deepEqual(told.pushed, []);
  });
});
