/**
 * Per miner: the deadline grid of the proving period in Curio's vocabulary, the details of one
 * deadline (the hovered, focused or tapped cell; the current deadline until then) and the current
 * deadline's partitions with their stage, who proves them, the time left to Close and the last
 * margin. Every state has a word and an icon besides its colour.
 */
import { h } from "./dom.js";
import { duration, isoAttr, localHM, localTime, num } from "./format.js";
import type { CurrentDeadlineView, DeadlineState, DeadlineView, MinerView, PartitionStage } from "./state.js";

export const DEADLINE_LABEL: Record<DeadlineState, { word: string; icon: string }> = {
  empty: { word: "empty", icon: "○" },
  current: { word: "current", icon: "▶" },
  proven: { word: "proven", icon: "✓" },
  "partly-faulty": { word: "partly faulty", icon: "◐" },
  faulty: { word: "faulty", icon: "✗" },
};

const STAGE_LABEL: Record<PartitionStage, { word: string; icon: string }> = {
  waiting: { word: "waiting", icon: "…" },
  checking: { word: "checking sectors", icon: "◔" },
  proving: { word: "proving", icon: "▶" },
  proven: { word: "proven", icon: "✓" },
  submitted: { word: "submitted", icon: "↑" },
  "on-chain": { word: "on chain", icon: "✓✓" },
  failed: { word: "failed", icon: "✗" },
};

/** The deadline shown in the detail panel, per miner; the current one until the user picks another. */
const selected = new Map<string, number>();

export function legend(): HTMLElement {
  return h(
    "ul",
    { class: "legend", "aria-label": "Deadline states" },
    Object.entries(DEADLINE_LABEL).map(([state, l]) =>
      h("li", null, h("span", { class: `swatch dl-${state}`, "aria-hidden": "true" }, l.icon), " ", l.word),
    ),
  );
}

function deadlineSummary(miner: string, d: DeadlineView): string {
  return (
    `Deadline ${d.index} of ${miner}: ${DEADLINE_LABEL[d.state].word}; ` +
    `${d.partitions} partitions, ${d.sectors} sectors, ${d.faults} faults, ${d.recoveries} recoveries; ` +
    `opens ${localTime(d.open)}, closes ${localTime(d.close)}`
  );
}

function detail(d: DeadlineView | undefined): HTMLElement {
  if (!d) return h("p", { class: "empty" }, "No deadline selected.");
  const l = DEADLINE_LABEL[d.state];
  const row = (k: string, v: Node | string) => h("div", null, h("dt", null, k), h("dd", null, v));
  const time = (iso: string) => h("time", { datetime: isoAttr(iso) }, localTime(iso));
  return h(
    "dl",
    { class: "dl-facts" },
    row("Deadline", `${d.index}`),
    row("State", h("span", { class: `badge dl-${d.state}` }, `${l.icon} ${l.word}`)),
    row("Partitions", num(d.partitions)),
    row("Sectors", num(d.sectors)),
    row("Faults", num(d.faults)),
    row("Recoveries", num(d.recoveries)),
    row("Opens", h("span", null, time(d.open), ` (epoch ${d.openEpoch})`)),
    row("Closes", h("span", null, time(d.close), ` (epoch ${d.closeEpoch})`)),
  );
}

/**
 * Arrow keys move between cells (one tab stop per grid rather than 48): left/right by one, up/down
 * by a row of however many columns the screen's layout shows, Home/End to the ends.
 */
function onGridKey(ev: KeyboardEvent, list: HTMLElement): void {
  const cells = [...list.querySelectorAll<HTMLButtonElement>("button.dl")];
  const at = cells.indexOf(document.activeElement as HTMLButtonElement);
  if (at < 0) return;
  const cols = getComputedStyle(list).gridTemplateColumns.split(" ").filter(Boolean).length || 1;
  const step: Record<string, number> = {
    ArrowLeft: -1,
    ArrowRight: 1,
    ArrowUp: -cols,
    ArrowDown: cols,
    Home: -at,
    End: cells.length - 1 - at,
  };
  const d = step[ev.key];
  if (d === undefined) return;
  ev.preventDefault();
  cells[Math.min(cells.length - 1, Math.max(0, at + d))]?.focus();
}

function grid(m: MinerView, onPick: (index: number) => void): HTMLElement {
  const sel = selected.get(m.miner) ?? m.currentDeadline;
  const list = h(
    "ol",
    { class: "dl-grid", "aria-label": `Deadlines of ${m.miner} (arrow keys move between them)` },
    m.deadlines.map((d) => {
      const l = DEADLINE_LABEL[d.state];
      const btn = h(
        "button",
        {
          type: "button",
          class: `dl dl-${d.state}${d.index === sel ? " selected" : ""}`,
          "data-state": d.state,
          "data-index": d.index,
          "data-focus-key": `dl:${m.miner}:${d.index}`,
          "aria-pressed": d.index === sel ? "true" : "false",
          tabindex: d.index === sel ? 0 : -1,
          "aria-label": deadlineSummary(m.miner, d),
          title: deadlineSummary(m.miner, d),
        },
        h("span", { class: "dl-i" }, d.index),
        h("span", { class: "dl-icon", "aria-hidden": "true" }, l.icon),
        h("span", { class: "dl-word" }, l.word),
        h("span", { class: "dl-open", "aria-hidden": "true" }, localHM(d.open)),
      );
      btn.addEventListener("click", () => onPick(d.index));
      btn.addEventListener("mouseenter", () => onPick(d.index));
      btn.addEventListener("focus", () => onPick(d.index));
      return h("li", null, btn);
    }),
  );
  list.addEventListener("keydown", (ev) => onGridKey(ev, list));
  return list;
}

function current(m: MinerView, c: CurrentDeadlineView | null, receivedAt: number): HTMLElement {
  if (!c)
    return h("p", { class: "empty" }, "No current deadline (the miner's proving period is not known yet).");
  const closeAt = receivedAt + c.secondsLeft * 1000;
  const unproven = c.partitions.filter((p) => !["proven", "submitted", "on-chain"].includes(p.stage)).length;
  const rows = c.partitions.map((p) => {
    const l = STAGE_LABEL[p.stage];
    return h(
      "tr",
      null,
      h("td", null, p.index),
      h(
        "td",
        null,
        h(
          "span",
          { class: `stage stage-${p.stage}` },
          h("span", { "aria-hidden": "true" }, l.icon),
          ` ${l.word}`,
        ),
      ),
      h("td", null, p.by ?? "—"),
      h("td", { class: "n" }, num(p.sectors)),
      h("td", { class: "n" }, num(p.skipped)),
    );
  });
  return h(
    "div",
    { class: "current-dl" },
    h("h3", null, `Current deadline ${c.index}`),
    h(
      "p",
      { class: `close-in${unproven > 0 && c.secondsLeft < 600 ? " risk" : ""}` },
      "Close in ",
      h("strong", { "data-countdown": closeAt }, duration(c.secondsLeft)),
      ` (${c.epochsLeft} epochs, at epoch ${c.closeEpoch}, ${localTime(new Date(closeAt).toISOString())})`,
      unproven > 0 ? ` · ${unproven} partition${unproven === 1 ? "" : "s"} not proven yet` : "",
    ),
    h(
      "p",
      null,
      "Last submission's margin: ",
      h("strong", null, c.lastMargin === null ? "none yet" : `${c.lastMargin} epochs before Close`),
    ),
    c.partitions.length === 0
      ? h("p", { class: "empty" }, "This deadline has no partitions to prove.")
      : h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            null,
            h("caption", null, `Partitions of deadline ${c.index} (${m.miner})`),
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                ["Partition", "Stage", "By", "Sectors", "Skipped"].map((t) => h("th", { scope: "col" }, t)),
              ),
            ),
            h("tbody", null, rows),
          ),
        ),
  );
}

/** One miner's section. `rerender` redraws the miners after the user picks another deadline. */
export function minerSection(m: MinerView, receivedAt: number, rerender: () => void): HTMLElement {
  const sel = selected.get(m.miner) ?? m.currentDeadline;
  const pick = (index: number) => {
    if ((selected.get(m.miner) ?? m.currentDeadline) === index) return;
    selected.set(m.miner, index);
    rerender();
  };
  const headingId = `miner-${m.miner}`;
  return h(
    "section",
    { class: "card miner", "aria-labelledby": headingId, "data-miner": m.miner },
    h("h2", { id: headingId }, `Miner ${m.miner}`),
    h(
      "p",
      { class: "sub" },
      `Deadline ${m.currentDeadline} of ${m.deadlinesPerPeriod} · proving period started at epoch ${m.provingPeriodStart}`,
    ),
    grid(m, pick),
    h(
      "div",
      { class: "miner-body" },
      h(
        "div",
        { class: "dl-detail", "aria-live": "polite" },
        h("h3", null, "Deadline details"),
        detail(m.deadlines.find((d) => d.index === sel)),
      ),
      current(m, m.current, receivedAt),
    ),
  );
}

/** Updates the countdowns between two states, once a second. */
export function tickCountdowns(root: ParentNode): void {
  for (const el of root.querySelectorAll<HTMLElement>("[data-countdown]")) {
    const at = Number(el.dataset.countdown);
    const left = (at - Date.now()) / 1000;
    el.textContent = left <= 0 ? "closed" : duration(left);
  }
}
