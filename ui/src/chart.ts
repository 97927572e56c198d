/**
 * The proving time per partition over the last days, drawn with uPlot (vendored into dist/web/assets
 * by the build). One series per miner and partition, points joined by thin lines; the x axis is in
 * the browser's local time (uPlot's default). A text summary beside the canvas says the same in
 * words for screen readers.
 */
import { h } from "./dom.js";
import { duration } from "./format.js";
import type { DashboardState } from "./state.js";
import uPlot from "./uPlot.esm.js";

const PALETTE = ["#2f7ed8", "#e4572e", "#17a589", "#a05195", "#f0a202", "#5c6bc0", "#8d6e63", "#26a69a"];
/** More series than this would be an unreadable tangle: the rest are folded into "other". */
const MAX_SERIES = 8;

let plot: uPlot | null = null;
let observer: ResizeObserver | null = null;

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

export function destroyChart(): void {
  observer?.disconnect();
  observer = null;
  plot?.destroy();
  plot = null;
}

export function renderChart(host: HTMLElement, points: DashboardState["provingTimes"]): void {
  destroyChart();
  host.replaceChildren();
  if (points.length === 0) {
    host.append(h("p", { class: "empty" }, "No proving times recorded yet."));
    return;
  }
  const byKey = new Map<string, Map<number, number>>();
  const xs = new Set<number>();
  for (const p of points) {
    const t = Date.parse(p.t) / 1000;
    if (!Number.isFinite(t)) continue;
    const key = `${p.miner} p${p.partition}`;
    let m = byKey.get(key);
    if (!m) {
      if (byKey.size >= MAX_SERIES) {
        m = byKey.get("other") ?? new Map();
        byKey.set("other", m);
      } else {
        m = new Map();
        byKey.set(key, m);
      }
    }
    m.set(t, p.seconds);
    xs.add(t);
  }
  const x = [...xs].sort((a, b) => a - b);
  const keys = [...byKey.keys()];
  const data: uPlot.AlignedData = [x, ...keys.map((k) => x.map((t) => byKey.get(k)?.get(t) ?? null))];

  const secs = points.map((p) => p.seconds).sort((a, b) => a - b);
  const median = secs[Math.floor(secs.length / 2)] ?? 0;
  const max = secs[secs.length - 1] ?? 0;
  const summary = h(
    "p",
    { class: "sub", id: "chart-summary" },
    `${points.length} proofs by ${keys.length} partition series; median ${duration(median)}, longest ${duration(max)}.`,
  );
  const canvasHost = h("div", {
    class: "chart-canvas",
    role: "img",
    "aria-label": "Proving time per partition over time",
    "aria-describedby": "chart-summary",
  });
  host.append(summary, canvasHost);

  const fg = cssVar("--fg");
  const grid = cssVar("--border");
  const width = Math.max(280, canvasHost.clientWidth || host.clientWidth || 600);
  const opts: uPlot.Options = {
    width,
    height: 240,
    scales: { x: { time: true }, y: { range: (_u, _min, mx) => [0, Math.max(1, mx * 1.1)] } },
    axes: [
      { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
      {
        stroke: fg,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid },
        label: "seconds",
        values: (_u, vals) => vals.map((v) => `${v}`),
      },
    ],
    series: [
      { label: "time" },
      ...keys.map((k, i) => ({
        label: k,
        stroke: PALETTE[i % PALETTE.length],
        width: 1,
        spanGaps: true,
        points: { show: true, size: 5 },
        value: (_u: uPlot, v: number | null) => (v === null ? "—" : duration(v)),
      })),
    ],
    legend: { show: true },
  };
  plot = new uPlot(opts, data, canvasHost);
  observer = new ResizeObserver(() => {
    const w = Math.max(280, canvasHost.clientWidth);
    if (plot && Math.abs(plot.width - w) > 2) plot.setSize({ width: w, height: 240 });
  });
  observer.observe(canvasHost);
}
