// Each site's transferred bytes and time to first contentful paint in headless Chromium over
// loopback, medians of N cold loads (a fresh browser context with the cache off for each load).
// Starts its own platform (`opta platform start` on a free port, a temporary OPTA_HOME, the
// embedded database) and serves what `npm run build:sites` built. Signed out: what a first
// visitor gets (admin and lmx answer with their signed-out view).
//
//   npm run bench:sites            # 7 loads per site
//   node bench/sites/run.mjs --runs 15 --site home,learn
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.OPTA_CHROMIUM ?? "/usr/bin/chromium";
const OPTA = fileURLToPath(new URL("../../apps/cli/bin/opta.js", import.meta.url));
const DOMAIN = "opta.localhost";
const SITES = ["home", "accounts", "admin", "status", "lmx", "init", "help", "learn"];
/** The goal the issue sets for the static sites: under 100 KB and 300 ms. */
const GOAL = { home: true, help: true, learn: true };
const runsFlag = process.argv.indexOf("--runs");
const RUNS = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 7;
const siteFlag = process.argv.indexOf("--site");
const ONLY = siteFlag > 0 ? process.argv[siteFlag + 1]?.split(",") : undefined;
const run = promisify(execFile);

if (!existsSync(CHROMIUM)) {
  console.error(`bench:sites needs Chromium at ${CHROMIUM} (apt-get install chromium, or set OPTA_CHROMIUM)`);
  process.exit(1);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

async function load(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    let bytes = 0;
    cdp.on("Network.loadingFinished", (event) => {
      bytes += event.encodedDataLength;
    });
    await page.goto(url, { waitUntil: "load" });
    const fcp = await firstContentfulPaint(page);
    return { bytes, fcp };
  } finally {
    await context.close();
  }
}

/**
 * FCP of the page that stays: a signed-out admin redirects to the accounts sign-in after its own
 * load, and then it is that page's paint (and the bytes of both) that a visitor waits for.
 */
async function firstContentfulPaint(page) {
  for (;;) {
    try {
      return await page.evaluate(
        () =>
          new Promise((resolve) => {
            const entry = performance.getEntriesByName("first-contentful-paint")[0];
            if (entry) return resolve(entry.startTime);
            new PerformanceObserver((list) => resolve(list.getEntries()[0].startTime)).observe({
              type: "paint",
              buffered: true,
            });
          }),
      );
    } catch (error) {
      if (!/context was destroyed/.test(String(error))) throw error;
      await page.waitForLoadState("load");
    }
  }
}

const home = await mkdtemp(join(tmpdir(), "opta-bench-sites-"));
const env = { ...process.env, OPTA_HOME: home, NO_COLOR: "1", DATABASE_URL: "" };
const port = await freePort();
let browser;
try {
  await run(process.execPath, [OPTA, "platform", "start", "--port", String(port)], { env });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      `--host-resolver-rules=MAP *.${DOMAIN} 127.0.0.1, MAP ${DOMAIN} 127.0.0.1`,
    ],
  });
  const rows = [];
  for (const site of SITES.filter((name) => !ONLY || ONLY.includes(name))) {
    const host = site === "home" ? DOMAIN : `${site}.${DOMAIN}`;
    const url = `http://${host}:${port}/`;
    await load(browser, url); // warm the server's file reads; not counted
    const samples = [];
    for (let index = 0; index < RUNS; index += 1) samples.push(await load(browser, url));
    const bytes = median(samples.map((sample) => sample.bytes));
    const fcp = median(samples.map((sample) => sample.fcp));
    const goal = GOAL[site] ? (bytes < 100_000 && fcp < 300 ? "met" : "missed") : "—";
    rows.push({ site, kb: (bytes / 1000).toFixed(1), fcp: fcp.toFixed(0), goal });
  }
  console.log(
    `# sites · chromium headless · loopback · node ${process.version} · ${RUNS} cold loads each, medians · ${new Date().toISOString()}`,
  );
  console.log("| site | transferred (KB) | first contentful paint (ms) | goal < 100 KB, < 300 ms |");
  console.log("| --- | --- | --- | --- |");
  for (const row of rows) console.log(`| ${row.site} | ${row.kb} | ${row.fcp} | ${row.goal} |`);
} finally {
  await browser?.close();
  await run(process.execPath, [OPTA, "platform", "stop"], { env }).catch(() => undefined);
  await rm(home, { recursive: true, force: true });
}
