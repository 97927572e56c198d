/** The alerts banner and the tables: provers, cluster nodes, recent messages, sender balances. */
import { h, table } from "./dom.js";
import { isoAttr, localTime, ms, num, shortCid } from "./format.js";
import type {
  AlertView,
  ClusterView,
  DashboardState,
  GatewayView,
  MessageView,
  ProverView,
} from "./state.js";

const time = (iso: string) => h("time", { datetime: isoAttr(iso) }, localTime(iso));

const ALERT_TITLE: Record<AlertView["kind"], string> = {
  "deadline-at-risk": "Deadline at risk",
  "deadline-missed": "Deadline missed",
  "new-faults": "New faults",
  "prover-down": "Prover down",
  "prover-flapping": "Prover restarting in a loop",
  "cluster-node-dead": "Cluster node dead",
  "sender-balance-low": "Sender balance low",
  "chain-stale": "Chain head stale",
};

export function alerts(list: AlertView[]): HTMLElement {
  if (list.length === 0) {
    return h("p", { class: "all-clear" }, h("span", { "aria-hidden": "true" }, "✓ "), "No alerts.");
  }
  // Critical first, then newest first (the node sends newest first).
  const sorted = [...list].sort((a, b) =>
    a.severity === b.severity ? 0 : a.severity === "critical" ? -1 : 1,
  );
  return h(
    "ul",
    { class: "alerts" },
    sorted.map((a) =>
      h(
        "li",
        { class: `alert alert-${a.severity}`, "data-kind": a.kind, "data-alert-id": a.id },
        h("span", { class: "alert-icon", "aria-hidden": "true" }, a.severity === "critical" ? "✖" : "⚠"),
        h("strong", { class: "alert-sev" }, a.severity === "critical" ? "Critical" : "Warning"),
        h(
          "span",
          { class: "alert-title" },
          `${ALERT_TITLE[a.kind] ?? a.kind}${a.miner ? ` (${a.miner})` : ""}:`,
        ),
        h("span", { class: "alert-msg" }, a.message),
        h("span", { class: "alert-since" }, "since ", time(a.since)),
      ),
    ),
  );
}

export function provers(list: ProverView[]): HTMLElement {
  return table(
    "Ext-prover children",
    ["Block", "CUDA_VISIBLE_DEVICES", "State", "In flight", "Done", "Failed", "Restarts", "Average"],
    list.map((p) => [
      p.block,
      p.cudaVisibleDevices ?? "—",
      h("span", { class: `pstate pstate-${p.state.replace(/[^a-z-]/gi, "")}` }, p.state),
      num(p.inFlight),
      num(p.done),
      num(p.failed),
      num(p.restarts),
      ms(p.avgMs),
    ]),
    "No ext-prover children (the node proves in-process, or runs without --ext-prover).",
  );
}

export function cluster(c: ClusterView | null): HTMLElement {
  if (!c) return h("p", { class: "empty" }, "This node is not a cluster member.");
  const t = c.tasks;
  return h(
    "div",
    null,
    h(
      "p",
      { class: "sub" },
      `Tasks: ${num(t.waiting)} waiting, ${num(t.running)} running, ${num(t.done)} done, ${num(t.failed)} failed · ` +
        `task takeovers in the last 24 h (whole cluster): ${num(c.takeovers)}`,
    ),
    table(
      "Cluster nodes",
      ["Node", "Alive", "Capacity", "In flight", "Holds", "Cordoned", "Last heartbeat"],
      c.nodes.map((n) => [
        n.name,
        h("span", { class: n.alive ? "ok" : "bad" }, n.alive ? "✓ alive" : "✗ dead"),
        num(n.capacity),
        num(n.inFlight),
        n.holds.length === 0 ? "—" : h("span", { class: "holds" }, n.holds.join("; ")),
        n.cordoned ? "cordoned" : "no",
        time(n.lastHeartbeat),
      ]),
      "No nodes registered.",
    ),
  );
}

export function messages(list: MessageView[]): HTMLElement {
  return table(
    "Recent messages, newest first",
    ["Time", "Miner", "Method", "Partitions", "Gas used", "Exit code", "Height", "CID"],
    list.map((m) => [
      time(m.time),
      m.miner,
      m.method,
      m.partitions.join(", ") || "—",
      num(m.gasUsed),
      m.exitCode === null
        ? "pending"
        : h("span", { class: m.exitCode === 0 ? "ok" : "bad" }, m.exitCode === 0 ? "✓ 0" : `✗ ${m.exitCode}`),
      num(m.height),
      h("code", { title: m.cid }, shortCid(m.cid)),
    ]),
    "No WindowPoSt messages yet.",
  );
}

export function senders(state: DashboardState): HTMLElement {
  const rows = state.miners.flatMap((m) =>
    m.senders.map((s) => {
      // The owner pays no PoSt messages; a worker or control address needs a day of them.
      const need =
        s.role === "owner"
          ? "—"
          : h(
              "span",
              {
                title: m.senderNeedWhy,
                class: Number(s.balanceFil) < Number(m.senderNeedFil) ? "bad" : "ok",
              },
              Number(s.balanceFil) < Number(m.senderNeedFil) ? "⚠ " : "✓ ",
              `${m.senderNeedFil} FIL`,
            );
      return [m.miner, s.role, h("code", null, s.address), `${s.balanceFil} FIL`, need];
    }),
  );
  return table(
    "Sender balances",
    ["Miner", "Role", "Address", "Balance", "A day of messages"],
    rows,
    "No sender addresses known.",
  );
}

/** The `--miner` node's sophon-gateway registrations (docs/winning-post.md). */
export function gateways(list: GatewayView[]): HTMLElement {
  return table(
    "sophon-gateway registrations (WinningPoSt proof events)",
    ["Gateway", "Miner", "State", "Since", "Requests", "Answered", "Failed", "Last request", "Last error"],
    list.map((g) => [
      g.gateway,
      g.miner,
      h("span", { class: g.connected ? "ok" : "bad" }, g.connected ? "✓ registered" : "✗ not registered"),
      g.since === null ? "—" : time(g.since),
      num(g.requests),
      num(g.answered),
      num(g.failed),
      g.lastRequest === null
        ? "—"
        : h(
            "span",
            null,
            time(g.lastRequest.at),
            ` ${g.lastRequest.method} ${g.lastRequest.result}`,
            g.lastRequest.ms === null ? "" : ` (${ms(g.lastRequest.ms)})`,
          ),
      g.lastError === null
        ? "—"
        : h(
            "span",
            { class: "bad", title: g.lastError.message },
            time(g.lastError.at),
            ` ${g.lastError.message}`,
          ),
    ]),
    "No gateway registrations (the node needs --miner, [Common.API] Gateway and [Miners.Proof] Enabled).",
  );
}
