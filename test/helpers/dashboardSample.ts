/**
 * Sample dashboard states for the page's browser test: the shapes of src/ui/types.ts, with
 * mainnet's timing (48 deadlines of 60 epochs, 30 s epochs). `advance` turns the current deadline
 * proven and moves to the next, as the node would after the proofs land.
 */
import type { AlertView, DashboardState, DeadlineView, MinerView } from "../../ui/src/state.js";

const EPOCH_S = 30;
const DEADLINE_EPOCHS = 60;
export const DEADLINES = 48;

export interface SampleOptions {
  /** The node's clock. */
  now: Date;
  /** The current deadline of every miner. */
  current: number;
  /** Deadlines (< current) that came out partly faulty / faulty. */
  partlyFaulty?: number[];
  faulty?: number[];
  alerts?: AlertView[];
  miners?: string[];
}

function deadlineTimes(now: Date, current: number, index: number, periodStartEpoch: number) {
  // `now` sits 10 minutes into the current deadline.
  const currentOpenMs = now.getTime() - 10 * 60_000;
  const openMs = currentOpenMs + (index - current) * DEADLINE_EPOCHS * EPOCH_S * 1000;
  const openEpoch = periodStartEpoch + index * DEADLINE_EPOCHS;
  return {
    open: new Date(openMs).toISOString(),
    close: new Date(openMs + DEADLINE_EPOCHS * EPOCH_S * 1000).toISOString(),
    openEpoch,
    closeEpoch: openEpoch + DEADLINE_EPOCHS,
  };
}

function miner(name: string, o: SampleOptions, salt: number): MinerView {
  const periodStart = 100_000;
  const deadlines: DeadlineView[] = [];
  for (let i = 0; i < DEADLINES; i++) {
    // Every fourth deadline holds no sectors: those stay "empty" all period.
    const partitions = i % 4 === 3 ? 0 : 1 + ((i + salt) % 3);
    const sectors = partitions * 4;
    let state: DeadlineView["state"] = "empty";
    let faults = 0;
    if (i === o.current) state = "current";
    else if (i < o.current && partitions > 0) {
      state = "proven";
      if (o.partlyFaulty?.includes(i)) {
        state = "partly-faulty";
        faults = 1;
      }
      if (o.faulty?.includes(i)) {
        state = "faulty";
        faults = sectors;
      }
    }
    deadlines.push({
      index: i,
      state,
      partitions,
      sectors,
      faults,
      recoveries: state === "partly-faulty" ? 1 : 0,
      ...deadlineTimes(o.now, o.current, i, periodStart),
    });
  }
  const cur = deadlines[o.current]!;
  return {
    miner: name,
    provingPeriodStart: periodStart,
    currentDeadline: o.current,
    deadlinesPerPeriod: DEADLINES,
    deadlines,
    current: {
      index: o.current,
      closeEpoch: cur.closeEpoch,
      epochsLeft: 40,
      secondsLeft: 40 * EPOCH_S,
      partitions: Array.from({ length: Math.max(cur.partitions, 1) }, (_, p) => ({
        index: p,
        stage: (["proving", "checking", "submitted"] as const)[p % 3]!,
        by: p % 2 === 0 ? "WdPost[0]" : "node-b",
        sectors: 4,
        skipped: 0,
      })),
      lastMargin: 31,
    },
    senders: [
      { address: `f3worker${salt}aaaaaaaaaaaaaaaaaaaaaaaaaaaa`, role: "worker", balanceFil: "12.5" },
      { address: `f1control${salt}bbbbbbbbbbbbbbbbbb`, role: "control", balanceFil: "0.02" },
    ],
    senderNeedFil: "1",
    senderNeedWhy:
      "48 messages a day × 60000000 gas at a base fee of 100 attoFIL come to less than the floor",
  };
}

export function sampleState(o: SampleOptions): DashboardState {
  const miners = (o.miners ?? ["f01000", "f01001"]).map((m, i) => miner(m, o, i));
  const nowMs = o.now.getTime();
  return {
    node: { name: "poster-a", version: "0.1.0", modules: ["poster", "ext-prover"], now: o.now.toISOString() },
    chain: {
      head: 100_000 + o.current * DEADLINE_EPOCHS + 20,
      headTime: new Date(nowMs - 12_000).toISOString(),
      lagSeconds: 12,
      network: "devnet",
    },
    miners,
    provers: [
      {
        block: "WdPost[0]",
        cudaVisibleDevices: "0",
        state: "ready",
        inFlight: 1,
        done: 42,
        failed: 0,
        restarts: 0,
        avgMs: 31_500,
      },
      {
        block: "WdPost[1]",
        cudaVisibleDevices: "1",
        state: "restarting",
        inFlight: 0,
        done: 40,
        failed: 2,
        restarts: 3,
        avgMs: 29_800,
      },
    ],
    cluster: {
      nodes: [
        {
          name: "node-a",
          alive: true,
          capacity: 2,
          inFlight: 1,
          cordoned: false,
          lastHeartbeat: new Date(nowMs - 2000).toISOString(),
          holds: ["f01000 deadline 3 partition 0"],
        },
        {
          name: "node-b",
          alive: false,
          capacity: 2,
          inFlight: 0,
          cordoned: false,
          lastHeartbeat: new Date(nowMs - 90_000).toISOString(),
          holds: [],
        },
      ],
      takeovers: 1,
      tasks: { waiting: 1, running: 2, done: 120, failed: 1 },
    },
    messages: Array.from({ length: 5 }, (_, i) => ({
      cid: `bafy2bzacea${"x".repeat(40)}${i}`,
      miner: miners[i % miners.length]!.miner,
      method: i === 3 ? ("DeclareFaultsRecovered" as const) : ("SubmitWindowedPoSt" as const),
      partitions: [0, 1].slice(0, 1 + (i % 2)),
      gasUsed: 41_000_000 + i * 1000,
      exitCode: i === 4 ? null : 0,
      height: i === 4 ? null : 100_000 + o.current * DEADLINE_EPOCHS - i * 60,
      time: new Date(nowMs - i * 1_800_000).toISOString(),
    })),
    alerts: o.alerts ?? [],
    provingTimes: Array.from({ length: 96 }, (_, i) => ({
      t: new Date(nowMs - (96 - i) * 1_800_000).toISOString(),
      miner: miners[i % miners.length]!.miner,
      partition: i % 2,
      seconds: 25 + ((i * 7) % 13),
    })),
  };
}

export function faultAlert(now: Date): AlertView {
  return {
    id: "new-faults:f01000:5",
    severity: "critical",
    kind: "new-faults",
    miner: "f01000",
    message: "1 new faulty sector in deadline 5 (sector 17: the sealed file is missing)",
    since: now.toISOString(),
  };
}
