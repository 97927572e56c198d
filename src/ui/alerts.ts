/**
 * The dashboard's alerts (issue 14), computed from the state the model already holds: no chain call
 * of their own. `computeAlerts` says what is wrong now; `AlertBook` remembers since when, so an alert
 * keeps its `since` across refreshes and a page can tell a new one from an old one.
 */
import type { AlertKind, AlertView, DashboardState, ProverView } from "./types.js";

export type Alert = Omit<AlertView, "since">;

export interface AlertInputs {
  state: DashboardState;
  nowMs: number;
  /** Why the head could not be read, when no head was ever read. */
  headError?: string | null;
  /** Seconds per epoch (30 on mainnet). */
  blockSeconds: number;
  /** Epochs before Close under which unproven partitions are at risk, per miner (window / 4 by default). */
  atRiskEpochs: (miner: string) => number;
  /** Deadlines that ended missed or partial recently: miner, index, open epoch, outcome. */
  missed: { miner: string; index: number; open: number; outcome: string }[];
  /** Miners whose fault count rose recently, with the count before and now. */
  newFaults: { miner: string; before: number; now: number }[];
  /** Provers that restarted at least this many times within the flapping window. */
  flapping: { block: string; restarts: number; windowMinutes: number }[];
}

/** Prover states that mean the child is not serving: exited, failing to start, waiting to respawn. */
const DOWN_STATES = new Set(["exited", "failing", "backoff"]);

export function proverDown(p: ProverView): boolean {
  return DOWN_STATES.has(p.state);
}

export function computeAlerts(i: AlertInputs): Alert[] {
  const out: Alert[] = [];
  const add = (
    kind: AlertKind,
    severity: Alert["severity"],
    key: string,
    miner: string | null,
    message: string,
  ) => out.push({ id: `${kind}:${key}`, kind, severity, miner, message });
  const s = i.state;
  if (s.chain.headTime !== null) {
    const age = (i.nowMs - Date.parse(s.chain.headTime)) / 1000;
    if (age > 3 * i.blockSeconds)
      add(
        "chain-stale",
        "critical",
        "head",
        null,
        `no new chain head for ${Math.round(age)} s (head ${s.chain.head}, over 3 block times of ${i.blockSeconds} s): check the chain node's sync`,
      );
  } else if (i.headError) {
    add(
      "chain-stale",
      "critical",
      "head",
      null,
      `the chain head cannot be read (${i.headError}): check [Common.API] Chain and the chain node`,
    );
  }
  for (const m of s.miners) {
    const c = m.current;
    if (!c) continue;
    const open = c.partitions.filter((p) => p.stage !== "on-chain" && p.sectors > 0);
    // At Close (epochsLeft 0) it is no longer at risk: the run's outcome says whether it was missed.
    if (open.length > 0 && c.epochsLeft > 0 && c.epochsLeft < i.atRiskEpochs(m.miner))
      add(
        "deadline-at-risk",
        "critical",
        `${m.miner}:${c.index}:${c.closeEpoch}`,
        m.miner,
        `deadline ${c.index} closes in ${c.epochsLeft} epochs (~${Math.round(c.secondsLeft / 60)} min) with partition${open.length > 1 ? "s" : ""} ${open.map((p) => p.index).join(", ")} not on chain`,
      );
  }
  for (const d of i.missed)
    add(
      "deadline-missed",
      "critical",
      `${d.miner}:${d.index}:${d.open}`,
      d.miner,
      `deadline ${d.index} (open ${d.open}) ended ${d.outcome}: partitions due were not proven; their sectors become faulty and are penalised`,
    );
  for (const f of i.newFaults)
    add(
      "new-faults",
      "warning",
      f.miner,
      f.miner,
      `faulty sectors rose from ${f.before} to ${f.now}: check the stores and the sector check's skip reasons`,
    );
  for (const p of s.provers) {
    if (proverDown(p))
      add(
        "prover-down",
        "critical",
        p.block,
        null,
        `prover ${p.block} is ${p.state}: its proofs wait for the other children or fail`,
      );
  }
  for (const f of i.flapping)
    add(
      "prover-flapping",
      "warning",
      f.block,
      null,
      `prover ${f.block} restarted ${f.restarts} times in ${f.windowMinutes} min: look at its log and its GPU`,
    );
  for (const n of s.cluster?.nodes ?? []) {
    if (n.alive || n.cordoned) continue;
    add(
      "cluster-node-dead",
      "warning",
      n.name,
      null,
      `cluster node ${n.name} missed its heartbeats (last ${n.lastHeartbeat}): its tasks are taken over when their leases expire`,
    );
  }
  for (const m of s.miners) {
    const need = filToAtto(m.senderNeedFil);
    for (const sd of m.senders) {
      if (sd.role === "owner" || need === null) continue;
      const atto = filToAtto(sd.balanceFil);
      if (atto !== null && atto < need)
        add(
          "sender-balance-low",
          "warning",
          `${m.miner}:${sd.address}`,
          m.miner,
          `${sd.role} ${sd.address} holds ${sd.balanceFil} FIL, under the ${m.senderNeedFil} FIL a day of PoSt messages needs (${m.senderNeedWhy}): top it up`,
        );
    }
  }
  return out;
}

/** Remembers since when each alert is on; an alert that goes away and comes back starts again. */
export class AlertBook {
  private readonly since = new Map<string, string>();

  stamp(alerts: Alert[], nowMs: number): AlertView[] {
    const seen = new Set<string>();
    const out = alerts.map((a) => {
      seen.add(a.id);
      let t = this.since.get(a.id);
      if (!t) {
        t = new Date(nowMs).toISOString();
        this.since.set(a.id, t);
      }
      return { ...a, since: t };
    });
    for (const id of [...this.since.keys()]) if (!seen.has(id)) this.since.delete(id);
    // Newest first; critical before warning at the same time.
    return out.sort((a, b) =>
      a.since === b.since
        ? a.severity === b.severity
          ? 0
          : a.severity === "critical"
            ? -1
            : 1
        : a.since < b.since
          ? 1
          : -1,
    );
  }
}

const ATTO = 10n ** 18n;

/** attoFIL as a decimal FIL string, without trailing zeros ("12.5", "0.000001", "0"). */
export function attoToFil(atto: bigint): string {
  const neg = atto < 0n;
  const a = neg ? -atto : atto;
  const whole = a / ATTO;
  const frac = (a % ATTO).toString().padStart(18, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${whole}${frac ? `.${frac}` : ""}`;
}

/** The inverse of attoToFil; null when the text is not a decimal number. */
export function filToAtto(fil: string): bigint | null {
  const m = /^(-?)(\d+)(?:\.(\d{1,18}))?$/.exec(fil);
  if (!m) return null;
  const v = BigInt(m[2] ?? "0") * ATTO + BigInt((m[3] ?? "").padEnd(18, "0") || "0");
  return m[1] ? -v : v;
}
