/**
 * The dashboard's entry module: wires the connection to the sections of the page. Each section is
 * redrawn only when its slice of the state changed (the node re-sends the whole state at least
 * every 5 s), and keyboard focus survives a redraw.
 */
import { Connection, getToken, type Mode } from "./api.js";
import { destroyChart, renderChart } from "./chart.js";
import { h } from "./dom.js";
import { isoAttr, localTime } from "./format.js";
import { legend, minerSection, tickCountdowns } from "./miners.js";
import { alerts, cluster, gateways, messages, provers, senders } from "./panels.js";
import type { DashboardState } from "./state.js";
import { setupTheme } from "./theme.js";

/** Data older than this is flagged: a page that silently shows old data would mislead. */
const STALE_MS = 15_000;

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}; dist/web/index.html and app.js are out of step`);
  return el;
}

let state: DashboardState | null = null;
let receivedAt = 0;
let mode: Mode = "connecting";
let modeDetail = "";
const drawn = new Map<string, string>();

/** Replaces a section's content when its data changed (or when forced), keeping focus. */
function section(id: string, key: unknown, draw: () => Node | Node[], force = false): void {
  const json = JSON.stringify(key);
  if (!force && drawn.get(id) === json) return;
  drawn.set(id, json);
  const host = $(id);
  const focusKey = (document.activeElement as HTMLElement | null)?.dataset?.focusKey;
  const hadFocus = focusKey && host.contains(document.activeElement);
  const out = draw();
  host.replaceChildren(...(Array.isArray(out) ? out : [out]));
  if (hadFocus) host.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
}

function drawMiners(force = false): void {
  const s = state;
  if (!s) return;
  section(
    "miners",
    s.miners,
    () =>
      s.miners.length === 0
        ? [h("p", { class: "empty card" }, "No miners configured on this node.")]
        : [legend(), ...s.miners.map((m) => minerSection(m, receivedAt, () => drawMiners(true)))],
    force,
  );
}

function drawChart(force = false): void {
  const s = state;
  if (!s) return;
  const host = $("chart");
  const json = JSON.stringify(s.provingTimes);
  if (!force && drawn.get("chart") === json) return;
  drawn.set("chart", json);
  renderChart(host, s.provingTimes);
}

function render(): void {
  const s = state;
  if (!s) return;
  $("token-panel").hidden = true;
  $("content").hidden = false;
  section("node", [s.node.name, s.node.version, s.node.modules, s.chain], () => [
    h("span", null, h("strong", null, s.node.name), ` v${s.node.version}`),
    h("span", null, `modules: ${s.node.modules.join(", ") || "none"}`),
    h(
      "span",
      null,
      `chain: ${s.chain.network ?? "?"} · head ${s.chain.head ?? "unknown"}`,
      s.chain.lagSeconds === null ? "" : ` · ${Math.round(s.chain.lagSeconds)} s behind`,
    ),
  ]);
  section("alerts", s.alerts, () => alerts(s.alerts));
  drawMiners();
  section("provers", s.provers, () => provers(s.provers));
  section("cluster", s.cluster, () => cluster(s.cluster));
  // Shown only by a node that feeds it (a --miner node with gateways).
  $("gateways-card").hidden = s.gateways === undefined;
  if (s.gateways !== undefined) {
    const list = s.gateways;
    section("gateways", list, () => gateways(list));
  }
  section("messages", s.messages, () => messages(s.messages));
  section(
    "senders",
    s.miners.map((m) => [m.senders, m.senderNeedFil, m.senderNeedWhy]),
    () => senders(s),
  );
  drawChart();
  status();
}

const MODE_TEXT: Record<Mode, string> = {
  connecting: "◌ Connecting…",
  live: "● Live",
  polling: "◐ Polling every 3 s",
  offline: "✗ Offline",
  unauthorized: "⚠ Token needed",
};

function status(): void {
  const el = $("conn");
  const age = state ? Date.now() - receivedAt : 0;
  const stale = state !== null && age > STALE_MS;
  el.className = `conn conn-${stale ? "stale" : mode}`;
  const parts: (Node | string)[] = [MODE_TEXT[mode]];
  if (state) {
    const at = new Date(receivedAt).toISOString();
    parts.push(" · updated ", h("time", { datetime: isoAttr(at) }, localTime(at)));
    if (stale) parts.push(` (${Math.round(age / 1000)} s ago: the data may be out of date)`);
  }
  if (modeDetail && mode !== "live") parts.push(` · ${modeDetail}`);
  el.replaceChildren(...parts);
}

function showTokenForm(why: string): void {
  $("token-panel").hidden = false;
  $("token-why").textContent = why;
  // The data shown before the token was refused may be stale or not ours to show any more.
  $("content").hidden = true;
  destroyChart();
  drawn.clear();
  state = null;
  ($("token-input") as HTMLInputElement).focus();
}

function main(): void {
  const conn = new Connection({
    state(s) {
      state = s;
      receivedAt = Date.now();
      try {
        render();
        $("render-error").hidden = true;
      } catch (e) {
        // A state this page cannot draw (a newer or broken node): say so rather than show a
        // half-updated page as if it were current.
        drawn.clear();
        const el = $("render-error");
        el.hidden = false;
        el.textContent =
          `This page could not show the node's latest state (${e instanceof Error ? e.message : String(e)}); ` +
          "what you see may be out of date. Reload the page; if it persists, the page and the node are out of step.";
      }
    },
    mode(m, detail) {
      mode = m;
      modeDetail = detail ?? "";
      if (m === "unauthorized") showTokenForm(detail ?? "the node needs a token");
      status();
    },
  });
  setupTheme($("theme-toggle") as HTMLButtonElement, () => drawChart(true));
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("token-input") as HTMLInputElement;
    const token = input.value.trim();
    input.value = "";
    if (token) conn.start(token);
  });
  $("token-forget").addEventListener("click", () => {
    conn.start(null);
  });
  $("token-forget").hidden = getToken() === null;
  setInterval(() => {
    tickCountdowns(document);
    status();
    $("token-forget").hidden = getToken() === null;
  }, 1000);
  conn.start();
}

main();
