#!/usr/bin/env node
/**
 * Builds the dashboard into dist/web (part of `npm run build`, so `npm ci` builds it through
 * `prepare`): the browser modules compiled by tsc from ui/src (tsconfig.ui.json: DOM types, no node
 * types, plain ES modules the browser loads directly, no bundler), index.html and styles.css, and
 * uPlot's ESM build and stylesheet copied from node_modules so the page needs no CDN.
 *
 * Layout: dist/web/index.html is served at `/`, everything else is flat under dist/web/assets and
 * served at `/assets/<file>`.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const out = path.join(root, "dist", "web");
const assets = path.join(out, "assets");

// A clean directory: a module removed from ui/src must not linger in the package.
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(assets, { recursive: true });

const tsc = spawnSync(
  process.execPath,
  [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(root, "tsconfig.ui.json")],
  { stdio: "inherit" },
);
if (tsc.status !== 0) {
  console.error("error: the dashboard (ui/src, tsconfig.ui.json) did not compile; fix the type errors above");
  process.exit(tsc.status ?? 1);
}

fs.copyFileSync(path.join(root, "ui", "index.html"), path.join(out, "index.html"));
fs.copyFileSync(path.join(root, "ui", "styles.css"), path.join(assets, "styles.css"));

const uplot = path.join(root, "node_modules", "uplot", "dist");
for (const f of ["uPlot.esm.js", "uPlot.min.css"]) {
  const from = path.join(uplot, f);
  if (!fs.existsSync(from)) {
    console.error(
      `error: ${from} is missing; the dashboard's chart needs the uplot package (npm ci installs it)`,
    );
    process.exit(1);
  }
  fs.copyFileSync(from, path.join(assets, f));
}
fs.copyFileSync(path.join(root, "node_modules", "uplot", "LICENSE"), path.join(assets, "uPlot.LICENSE.txt"));
