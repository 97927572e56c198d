/**
 * The dashboard page in a real headless browser (Debian's chromium driven by playwright-core; no
 * browser download). The page is served by a stand-in for the node's endpoints
 * (test/helpers/dashboardServer.ts) with sample states, so it is checked on its own: the grid, a
 * deadline turning proven over SSE without a reload, an alert at the top, the dark mode, the token
 * flow, the polling fallback and a phone's width. VSM_DASHBOARD_SCREENSHOT=<file.png> also copies
 * the wide screenshot there, and the phone's to <file>-phone.png (for the README).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { DEADLINES, faultAlert, sampleState } from "../helpers/dashboardSample.js";
import { type DashboardServer, startDashboardServer } from "../helpers/dashboardServer.js";
import { tempDir } from "../helpers/tmp.js";

const CHROMIUM = "/usr/bin/chromium";
const VOCABULARY = ["empty", "current", "proven", "partly faulty", "faulty"];

describe("dashboard page in chromium", { timeout: 50_000 }, () => {
  let browser: Browser;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  const servers: DashboardServer[] = [];
  const now = new Date();

  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
    tmp = await tempDir("vsm-dash-");
    // --no-sandbox: the tests run as root, where chromium's sandbox refuses to start.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"], timeout: 20_000 });
  });
  after(async () => {
    await browser?.close();
    for (const s of servers) await s.close();
    await tmp?.cleanup();
  });

  async function serve(...args: Parameters<typeof startDashboardServer>) {
    const s = await startDashboardServer(...args);
    servers.push(s);
    return s;
  }

  async function open(url: string, o: Parameters<Browser["newContext"]>[0] = {}): Promise<Page> {
    const ctx = await browser.newContext({ locale: "en-US", ...o });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error" && !/401|503|Unauthorized|Service Unavailable/.test(m.text()))
        errors.push(m.text());
    });
    (page as Page & { errors: string[] }).errors = errors;
    await page.goto(url);
    return page;
  }
  /** Runs an expression in the page (the test's tsconfig has no DOM types, so it goes as a string). */
  const js = <T = unknown>(p: Page, expr: string) => p.evaluate(expr) as Promise<T>;
  const errorsOf = (p: Page) => (p as Page & { errors?: string[] }).errors ?? [];

  it("shows 48 labelled cells per miner, turns a deadline proven over SSE without reload, puts the alert on top, toggles dark mode", async () => {
    const srv = await serve(sampleState({ now, current: 5, partlyFaulty: [1], faulty: [2] }));
    const page = await open(srv.url, {
      viewport: { width: 1400, height: 900 },
      colorScheme: "light",
      timezoneId: "Asia/Tokyo",
    });
    for (const m of ["f01000", "f01001"]) {
      const cells = page.locator(`[data-miner="${m}"] .dl-grid .dl`);
      await cells.nth(DEADLINES - 1).waitFor();
      assert.equal(await cells.count(), DEADLINES);
      const words = await cells.locator(".dl-word").allTextContents();
      assert.equal(words.length, DEADLINES);
      for (const w of words)
        assert.ok(VOCABULARY.includes(w), `cell label "${w}" is not in Curio's vocabulary`);
      const icons = await cells.locator(".dl-icon").allTextContents();
      assert.ok(
        icons.every((i) => i.trim().length > 0),
        "every cell has an icon besides its colour",
      );
    }
    const cell = (i: number) => page.locator(`[data-miner="f01000"] .dl[data-index="${i}"]`);
    assert.equal(await cell(1).getAttribute("data-state"), "partly-faulty");
    assert.equal(await cell(2).locator(".dl-word").textContent(), "faulty");
    assert.equal(await cell(5).getAttribute("data-state"), "current");
    assert.match(
      (await cell(5).getAttribute("aria-label")) ?? "",
      /^Deadline 5 of f01000: current; \d+ partitions/,
    );

    // Open times in the browser's time zone (Tokyo here, whatever the machine's zone is).
    const d8 = sampleState({ now, current: 5 }).miners[0]!.deadlines[8]!;
    const tokyoHM = new Intl.DateTimeFormat("en-US", {
      hour: "2-digit",
      minute: "2-digit",
      timeZone: "Asia/Tokyo",
    }).format(new Date(d8.open));
    assert.equal(await cell(8).locator(".dl-open").textContent(), tokyoHM);

    // Hover shows the deadline's details.
    await cell(8).hover();
    const detail = page.locator('[data-miner="f01000"] .dl-detail');
    await detail.getByText(`epoch ${d8.openEpoch}`).waitFor();
    assert.match(
      (await detail.textContent()) ?? "",
      new RegExp(`Partitions${d8.partitions}Sectors${d8.sectors}`),
    );

    // The keyboard: one tab stop per grid, arrow keys move and show the details.
    await cell(8).focus();
    await page.keyboard.press("ArrowRight");
    await detail.getByText(`epoch ${d8.openEpoch + 60}`).waitFor();
    assert.equal(await js(page, "document.activeElement.dataset.index"), "9");
    assert.equal(await page.locator('[data-miner="f01000"] .dl[tabindex="0"]').count(), 1);
    await page.keyboard.press("ArrowDown");
    assert.equal(await js(page, "document.activeElement.dataset.index"), "33", "24 columns at 1400 px");

    // Semantic tables: a caption and column headers everywhere (uPlot's legend is its own).
    assert.equal(await page.locator("table:not(.u-legend):not(:has(caption))").count(), 0);
    assert.equal(await page.locator("table:not(.u-legend) th:not([scope])").count(), 0);

    // The current deadline: stages with who proves them, time left, last margin.
    const current = page.locator('[data-miner="f01000"] .current-dl');
    assert.match((await current.textContent()) ?? "", /Close in \d+ min \d+ s \(40 epochs/);
    assert.match((await current.textContent()) ?? "", /31 epochs before Close/);
    assert.equal(await current.locator("tbody tr").count(), 3);
    assert.match((await current.locator("tbody tr").first().textContent()) ?? "", /proving.*WdPost\[0\]/);

    // Provers, cluster, messages, senders and the uPlot chart are drawn.
    assert.match((await page.locator("#provers").textContent()) ?? "", /WdPost\[1\].*restarting/);
    assert.match((await page.locator("#cluster").textContent()) ?? "", /node-b✗ dead/);
    assert.match((await page.locator("#cluster").textContent()) ?? "", /f01000 deadline 3 partition 0/);
    assert.equal(await page.locator("#messages tbody tr").count(), 5);
    assert.match((await page.locator("#senders").textContent()) ?? "", /0\.02 FIL/);
    await page.locator("#chart canvas").first().waitFor();
    await page.getByText("● Live").waitFor();
    assert.match((await page.locator("#alerts").textContent()) ?? "", /No alerts/);

    // A state change over SSE: deadline 5 proven, 6 current, a new-faults alert.
    await js(page, "window.marker = 42");
    srv.setState(sampleState({ now, current: 6, partlyFaulty: [1], faulty: [2], alerts: [faultAlert(now)] }));
    await page
      .locator('[data-miner="f01000"] .dl[data-index="5"][data-state="proven"]')
      .waitFor({ timeout: 5000 });
    assert.equal(await cell(5).locator(".dl-word").textContent(), "proven");
    assert.equal(await cell(6).getAttribute("data-state"), "current");
    assert.equal(await js(page, "window.marker"), 42, "no reload");
    assert.ok(
      srv.requests.filter((r) => r.path === "/").length === 1,
      "the page was fetched once: the update came without a reload",
    );

    const alert = page.locator(".alert-critical");
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? "", /Critical.*New faults \(f01000\):.*sector 17/);
    assert.equal(await alert.locator(".alert-icon").textContent(), "✖");
    const alertBox = await alert.boundingBox();
    const gridBox = await page.locator(".dl-grid").first().boundingBox();
    assert.ok(alertBox && gridBox && alertBox.y < gridBox.y, "the alert sits above the deadline grids");

    // Dark mode: light from the system preference, dark after the toggle, kept on reload.
    const bg = () => js<string>(page, "getComputedStyle(document.body).backgroundColor");
    assert.equal(await bg(), "rgb(244, 246, 248)");
    await page.locator("#theme-toggle").click();
    assert.equal(await bg(), "rgb(15, 19, 24)");
    assert.equal(await page.locator("#theme-toggle").getAttribute("aria-pressed"), "true");
    await page.locator("#chart canvas").first().waitFor();

    const shot = path.join(tmp.dir, "dashboard-1400x900.png");
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 20_000, "the screenshot has content");
    if (process.env.VSM_DASHBOARD_SCREENSHOT) fs.copyFileSync(shot, process.env.VSM_DASHBOARD_SCREENSHOT);

    await page.locator("#theme-toggle").click();
    assert.equal(await bg(), "rgb(244, 246, 248)");
    assert.deepEqual(errorsOf(page), []);
    await page.context().close();
  });

  it("asks for a token on 401, keeps it in sessionStorage and sends it as Bearer and ?token=", async () => {
    const srv = await serve(sampleState({ now, current: 5 }), { token: "s3cret" });
    const page = await open(srv.url, { viewport: { width: 1400, height: 900 } });
    await page.locator("#token-panel").waitFor({ state: "visible" });
    assert.match((await page.locator("#token-why").textContent()) ?? "", /needs a token/);
    assert.ok(await page.locator("#content").isHidden());

    await page.locator("#token-input").fill("wrong");
    await page.locator("#token-form button[type=submit]").click();
    await page.locator("#token-why").getByText("the node refused the token").waitFor();

    await page.locator("#token-input").fill("s3cret");
    await page.locator("#token-form button[type=submit]").click();
    await page
      .locator('[data-miner="f01000"] .dl')
      .nth(DEADLINES - 1)
      .waitFor();
    assert.ok(await page.locator("#token-panel").isHidden());
    assert.equal(await js(page, 'sessionStorage.getItem("vsm-dashboard-token")'), "s3cret");
    await page.getByText("● Live").waitFor();
    assert.ok(srv.requests.some((r) => r.path === "/api/dashboard" && r.bearer));
    assert.ok(srv.requests.some((r) => r.path === "/api/events?token=s3cret"));

    // A reload in the same tab keeps the token: no form.
    await page.reload();
    await page
      .locator('[data-miner="f01000"] .dl')
      .nth(DEADLINES - 1)
      .waitFor();
    assert.ok(await page.locator("#token-panel").isHidden());

    // Forgetting it brings the form back.
    await page.locator("#token-forget").click();
    await page.locator("#token-panel").waitFor({ state: "visible" });
    assert.equal(await js(page, 'sessionStorage.getItem("vsm-dashboard-token")'), null);
    assert.deepEqual(errorsOf(page), []);
    await page.context().close();
  });

  it("polls api/dashboard every 3 s when the event stream fails", async () => {
    const srv = await serve(sampleState({ now, current: 5 }), { sse: false });
    const page = await open(srv.url, { viewport: { width: 1400, height: 900 } });
    await page
      .locator('[data-miner="f01000"] .dl')
      .nth(DEADLINES - 1)
      .waitFor();
    await page.getByText("Polling every 3 s").waitFor({ timeout: 5000 });
    srv.setState(sampleState({ now, current: 6 }));
    const t0 = Date.now();
    await page
      .locator('[data-miner="f01000"] .dl[data-index="5"][data-state="proven"]')
      .waitFor({ timeout: 6000 });
    assert.ok(Date.now() - t0 < 6000);
    assert.ok(srv.requests.filter((r) => r.path === "/api/dashboard").length >= 2);
    await page.context().close();
  });

  it("notices an event stream that stays silent and polls instead", { timeout: 25_000 }, async () => {
    const srv = await serve(sampleState({ now, current: 5 }), { sse: "silent" });
    const page = await open(srv.url, { viewport: { width: 1400, height: 900 } });
    await page
      .locator('[data-miner="f01000"] .dl')
      .nth(DEADLINES - 1)
      .waitFor();
    assert.ok(srv.requests.some((r) => r.path === "/api/events"));
    srv.setState(sampleState({ now, current: 6 }));
    // The node sends at least every 5 s; the page gives up on the stream after 12 s of silence.
    await page.getByText("Polling every 3 s").waitFor({ timeout: 18_000 });
    await page
      .locator('[data-miner="f01000"] .dl[data-index="5"][data-state="proven"]')
      .waitFor({ timeout: 5000 });
    await page.context().close();
  });

  it("says so when a state cannot be drawn, instead of showing the old one as current", async () => {
    const good = sampleState({ now, current: 5 });
    const srv = await serve(good);
    const page = await open(srv.url, { viewport: { width: 1400, height: 900 } });
    await page
      .locator('[data-miner="f01000"] .dl')
      .nth(DEADLINES - 1)
      .waitFor();
    const broken = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
    broken.miners = [{ miner: "f01000", deadlines: null }];
    srv.setState(broken as unknown as typeof good);
    const banner = page.locator("#render-error");
    await banner.waitFor({ state: "visible", timeout: 5000 });
    assert.match((await banner.textContent()) ?? "", /could not show the node's latest state/);
    srv.setState(good);
    await banner.waitFor({ state: "hidden", timeout: 5000 });
    await page.context().close();
  });

  it("reads on a phone: dark from the system preference, no sideways scrolling", async () => {
    const srv = await serve(sampleState({ now, current: 5, alerts: [faultAlert(now)] }));
    const page = await open(srv.url, {
      viewport: { width: 390, height: 844 },
      colorScheme: "dark",
      isMobile: true,
      hasTouch: true,
    });
    await page
      .locator('[data-miner="f01000"] .dl')
      .nth(DEADLINES - 1)
      .waitFor();
    assert.equal(
      await js<string>(page, "getComputedStyle(document.body).backgroundColor"),
      "rgb(15, 19, 24)",
    );
    assert.equal(await page.locator("#theme-toggle").getAttribute("aria-pressed"), "true");
    const overflow = await js<number>(page, "document.documentElement.scrollWidth - window.innerWidth");
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px on a phone`);
    // A tap shows a deadline's details.
    await page.locator('[data-miner="f01000"] .dl[data-index="10"]').tap();
    await page
      .locator('[data-miner="f01000"] .dl-detail')
      .getByText(/epoch 100600/)
      .waitFor();
    const shot = path.join(tmp.dir, "dashboard-phone.png");
    await page.screenshot({ path: shot, fullPage: true });
    const keep = process.env.VSM_DASHBOARD_SCREENSHOT;
    if (keep) fs.copyFileSync(shot, keep.replace(/(\.png)?$/, "-phone.png"));
    assert.deepEqual(errorsOf(page), []);
    await page.context().close();
  });
});
