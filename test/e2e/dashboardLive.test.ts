/**
 * Issue 14, "how it is checked", end to end: the dashboard of a real devnet PoSter (the seed's
 * deployment: devnet, source node, standalone PoSter with ext-prover children) in Debian's chromium.
 *  - `/` loads from the PoSter's own listen address (AnonymousRead is on by default);
 *  - a deadline turns proven in the grid without a reload (a marker set in the page survives);
 *  - a sector file deleted on disk: the PoSter skips the sector, the chain marks it faulty, and the
 *    fault alert appears at the top of the page, live;
 *  - a screenshot is saved under the test's temp directory (and where VSM_DASHBOARD_SCREENSHOT says,
 *    for the README).
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { readApiFile } from "../../src/daemon/home.js";
import { sealedFilePath } from "../../src/proofs/sectorFiles.js";
import { PosterStack } from "../helpers/posterStack.js";
import { tempDir } from "../helpers/tmp.js";

const CHROMIUM = "/usr/bin/chromium";

describe("the dashboard of a devnet PoSter, live in chromium", { timeout: 180_000 }, () => {
  let cleanup = async () => {};
  let dir = "";
  let stack: PosterStack;
  let browser: Browser;
  let page: Page;

  before(async () => {
    ({ dir, cleanup } = await tempDir("vsm-dash-live-"));
    stack = new PosterStack({
      dir,
      blockTimeMs: 150,
      policy: { deadlines: 4, window: 12, lookback: 4, cutoff: 6 },
      miners: [{ actor: 1000, challengeConfidence: 1, submitConfidence: 1 }],
      extProverCfg:
        '[[WdPost]]\n[WdPost.Envs]\nCUDA_VISIBLE_DEVICES = "0"\n\n[[WdPost]]\n[WdPost.Envs]\nCUDA_VISIBLE_DEVICES = "1"\n',
      readyTimeoutMs: 30_000,
    });
    await stack.startDevnet();
    await stack.seal(1000, 6, { threads: 2 });
    await stack.initSource();
    await stack.startSource();
    await stack.attach();
    await stack.initPoster();
    await stack.startPoster();
    // --no-sandbox: the tests run as root, where chromium's sandbox refuses to start.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"], timeout: 20_000 });
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: "en-US" });
    page = await ctx.newPage();
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
    await cleanup();
  });

  test("a deadline turns proven without a reload, and a deleted sector file raises the fault alert", async () => {
    const url = `http://${await readApiFile(stack.posterHome)}/`;
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForSelector("button.dl", { timeout: 30_000 });
    // The page's own marker: a reload would lose it.
    await page.evaluate("window.__vsmMarker = 42");
    const cells = await page.locator("button.dl").count();
    assert.equal(cells, 4, "one cell per deadline of the devnet's 4-deadline period");
    await page.waitForSelector('button.dl[data-state="proven"]', { timeout: 60_000 });
    assert.equal(await page.evaluate("window.__vsmMarker"), 42, "turned proven live, without a reload");
    const word = await page.locator('button.dl[data-state="proven"] .dl-word').first().textContent();
    assert.ok(word && word.trim() !== "", "the state is written out, not only coloured");

    // The disk loses a sector: the PoSter skips it at its deadline, the chain marks it faulty.
    await fs.rm(sealedFilePath(stack.store, "normal", 1000, 1));
    await page.waitForSelector('.alert[data-kind="new-faults"]', { timeout: 90_000 });
    const alert = await page.locator('.alert[data-kind="new-faults"]').first().textContent();
    assert.match(alert ?? "", /f01000/, alert ?? "");
    assert.equal(await page.evaluate("window.__vsmMarker"), 42, "the alert arrived live");
    // The alerts are at the top: above the miners' grids.
    const alertY = (await page.locator(".alerts").boundingBox())?.y ?? Number.POSITIVE_INFINITY;
    const gridY = (await page.locator("button.dl").first().boundingBox())?.y ?? 0;
    assert.ok(alertY < gridY, `alerts (y ${alertY}) above the grid (y ${gridY})`);

    const shot = path.join(dir, "dashboard.png");
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok((await fs.stat(shot)).size > 10_000, "a screenshot was saved");
    const keep = process.env.VSM_DASHBOARD_SCREENSHOT;
    if (keep) await fs.copyFile(shot, keep);
    assert.deepEqual(errors, [], "no script error in the page");
  });
});
