/**
 * The dashboard in headless Debian Chromium (playwright-core), against a real LMX with a generated
 * model: loads and unloads it from the page (by keyboard and by mouse), watches throughput and
 * memory move during a streamed request, follows a pull's progress, asks for the API key when one
 * is set (and never puts it in a URL or a cookie), and checks landmarks, labels, 375 px and the
 * light theme. Every wait is for the DOM to change, never a sleep. Skips when /usr/bin/chromium
 * is absent (CI installs it).
 */
import { existsSync } from "node:fs";
import { copyFile, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily } from "../../../scripts/security-family.js";
import { type LmxServer, pullModel, writeTestModel } from "../src/index.js";
import { startTestLmx, TINY_CONTROL_TOKENS } from "./helpers.js";

const CHROMIUM = "/usr/bin/chromium";
/** OPTA_SCREENSHOTS=1 refreshes docs/screenshots/lmx-dashboard*.png. */
const SCREENSHOTS = process.env.OPTA_SCREENSHOTS
  ? fileURLToPath(new URL("../../../docs/screenshots/", import.meta.url))
  : undefined;
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`[lmx dashboard] skipped: ${CHROMIUM} not found (apt-get install chromium)`);

/** A model id a careless page would render as markup. */
const HOSTILE_ID = "<img src=x onerror=window.__owned=1>";

/** Matches any text but exactly `text` (Playwright's hasNotText alone is a substring test). */
function other(text: string | null): RegExp {
  return new RegExp(`^(?!${(text ?? "").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$)`);
}

describe.skipIf(!hasChromium)("LMX dashboard in Chromium", () => {
  let dir: string;
  let lmx: LmxServer;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  const row = (id: string) => page.locator(`tr[data-model="${id}"]`);
  const cell = (id: string, label: string) => row(id).locator(`[data-label="${label}"]`);

  const watch = (target: Page) => {
    target.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
    target.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") problems.push(`console: ${message.text()}`);
    });
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "opta-lmx-dashboard-"));
    await writeTestModel(join(dir, "tiny.gguf"), { size: "tiny", seed: 1 });
    // One sequence with a long window, so that one streamed request runs for several of the feed's 1 s ticks.
    lmx = await startTestLmx({ modelsDir: dir, idleTtlMs: 0, parallel: 1, contextSize: 32768 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
    });
    // Dark, as Code Desktop (headless Chromium would otherwise report a light preference).
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: "dark" });
    watch(page);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await lmx?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("lists the model, loads it by keyboard, shows its measured memory, unloads it by mouse", async () => {
    await page.goto(`${lmx.url}/dashboard`);
    await page.locator("#connection", { hasText: "Live" }).waitFor();
    await cell("tiny", "State").filter({ hasText: "not loaded" }).waitFor();
    expect(await cell("tiny", "Quantisation").textContent()).toBe("F32");
    expect(await cell("tiny", "Size").textContent()).toMatch(/KiB$/);
    expect(await cell("tiny", "Memory (estimate)").textContent()).toMatch(/MiB$/);
    expect(await cell("tiny", "Memory (measured)").textContent()).toBe("–");

    // Keyboard: Tab from the top of the page to the Load button, Enter.
    const load = page.getByRole("button", { name: "Load tiny" });
    for (let step = 0; step < 30 && !(await load.evaluate((button) => button === document.activeElement)); step++) {
      await page.keyboard.press("Tab");
    }
    expect(await load.evaluate((button) => button === document.activeElement)).toBe(true);
    // Every text the row shows on the way (the load may be over before any poll could see it).
    await row("tiny").evaluate((tr) => {
      const seen: string[] = [];
      (window as unknown as { __seen: string[] }).__seen = seen;
      new MutationObserver(() => {
        const state = tr.querySelector('[data-label="State"]')?.textContent ?? "";
        const button = tr.querySelector("button");
        seen.push(
          `${state} | ${button?.textContent} ${button?.getAttribute("aria-disabled") === "true" ? "disabled" : "enabled"}`,
        );
      }).observe(tr, { subtree: true, childList: true, characterData: true, attributes: true });
    });
    await page.keyboard.press("Enter");
    await cell("tiny", "State")
      .filter({ hasText: /^loaded$/ })
      .waitFor();
    const seen = await page.evaluate(() => (window as unknown as { __seen: string[] }).__seen);
    expect(seen).toContainEqual(expect.stringMatching(/^loading.* \| Loading… disabled$/));
    // Focus stays on the button through every update (it is updated in place, never re-created).
    const unload = page.getByRole("button", { name: "Unload tiny" });
    expect(await unload.evaluate((button) => button === document.activeElement)).toBe(true);
    await page.getByRole("button", { name: "Unload tiny" }).waitFor();
    expect(await cell("tiny", "Memory (measured)").textContent()).toMatch(/KiB|MiB/);
    expect(await cell("tiny", "Context").textContent()).toContain("32,768 × 1");

    await page.getByRole("button", { name: "Unload tiny" }).click();
    await cell("tiny", "State").filter({ hasText: "not loaded" }).waitFor();
    await cell("tiny", "Memory (measured)").filter({ hasText: /^–$/ }).waitFor();
    await page.getByRole("button", { name: "Load tiny" }).click();
    await cell("tiny", "State")
      .filter({ hasText: /^loaded$/ })
      .waitFor();
  });

  it("shows tokens/s, an active sequence, the queue and growing KV memory during a streamed request", async () => {
    const kvBefore = await cell("tiny", "KV cache in use").textContent();
    const measuredBefore = await cell("tiny", "Memory (measured)").textContent();
    const controller = new AbortController();
    const response = await fetch(`${lmx.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        model: "tiny",
        messages: [{ role: "user", content: "Tell me a long story." }],
        max_tokens: 30000,
        stream: true,
        logit_bias: Object.fromEntries(TINY_CONTROL_TOKENS.map((token) => [token, -100])),
      }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    // Keep reading (so that back-pressure never stalls the generation) until the test is done.
    const drained = (async () => {
      try {
        for (;;) if ((await reader.read()).done) return;
      } catch {
        // Aborted below.
      }
    })();
    try {
      await page.waitForFunction(() => Number(document.getElementById("metric-tokens")?.textContent) > 0);
      await page.locator("#metric-active", { hasText: /^1$/ }).waitFor();
      // The KV cache figure moves while the stream runs: twice, so it is the stream's doing.
      const first = await cell("tiny", "KV cache in use")
        .filter({ hasText: other(kvBefore) })
        .textContent();
      await cell("tiny", "KV cache in use")
        .filter({ hasText: other(first) })
        .waitFor();
      await cell("tiny", "Memory (measured)")
        .filter({ hasText: other(measuredBefore) })
        .waitFor();
      // A second request waits for the only sequence: the queue depth shows it.
      const queued = fetch(`${lmx.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "Me next." }], max_tokens: 4 }),
        signal: controller.signal,
      }).catch(() => undefined);
      await page.locator("#metric-queue", { hasText: /^1$/ }).waitFor();
      controller.abort();
      await queued;
      await page.locator("#metric-queue", { hasText: /^0$/ }).waitFor();
      expect(await page.locator("#metric-memory").textContent()).toMatch(/MiB|GiB/);
      if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, "lmx-dashboard.png"), fullPage: true });
    } finally {
      controller.abort();
      await drained;
    }
    // Once the request is gone the sequence frees up and the request rate counts it.
    await page.locator("#metric-active", { hasText: /^0$/ }).waitFor();
    await page.waitForFunction(() => Number(document.getElementById("metric-served")?.textContent) >= 1);
  });

  it("shows an `opta lmx pull` download's progress until it lands in the list", async () => {
    const source = join(dir, "tiny.gguf");
    const size = (await stat(source)).size;
    const bytes = await readFile(source);
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Serves half of the file, then holds the rest until the page has shown the progress.
    const http: Server = createServer((request, response) => {
      const range = /bytes=(\d+)-(\d*)/.exec(request.headers.range ?? "");
      const start = range ? Number(range[1]) : 0;
      const end = range?.[2] ? Number(range[2]) : size - 1;
      response.writeHead(range ? 206 : 200, {
        "Content-Length": end - start + 1,
        "Accept-Ranges": "bytes",
        ...(range ? { "Content-Range": `bytes ${start}-${end}/${size}` } : {}),
      });
      if (request.method === "HEAD") {
        response.end();
        return;
      }
      const half = Math.max(start, Math.floor(size / 2));
      response.write(bytes.subarray(start, half));
      void released.then(() => response.end(bytes.subarray(half, end + 1)));
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/pulled.gguf`;
    try {
      // The same function `opta lmx pull` runs, in this process as the CLI would in its own.
      const pulling = pullModel(url, { modelsDir: dir });
      const item = page.locator("#pulls li", { hasText: "pulled.gguf" });
      await item.filter({ hasText: /KiB of .*KiB \(\d+%\)/ }).waitFor();
      expect(await item.getByRole("progressbar", { name: `Download of ${url}` }).count()).toBe(1);
      expect(await page.locator("#pulls-empty").isHidden()).toBe(true);
      release();
      await pulling;
      await item.waitFor({ state: "detached" });
      await row("pulled").waitFor();
      await page.locator("#pulls-empty").waitFor();
    } finally {
      release();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
    }
  });

  it("renders a hostile model file name as text, never as markup", async ({ task }) => {
    await copyFile(join(dir, "tiny.gguf"), join(dir, `${HOSTILE_ID}.gguf`));
    await row(HOSTILE_ID).waitFor();
    const owned = await page.evaluate(() => (window as unknown as { __owned?: number }).__owned === 1);
    const images = await page.locator("#models-body img").count();
    const shown = await row(HOSTILE_ID).locator("th").textContent();
    reportFamily(task, "lmx-dashboard", [
      {
        attack: "a model file named like an <img onerror> tag",
        refused: !owned && images === 0 && shown === HOSTILE_ID,
        detail: `owned=${owned} images=${images} shown=${shown}`,
      },
    ]);
    expect({ owned, images, shown }).toEqual({ owned: false, images: 0, shown: HOSTILE_ID });
  });

  it("has landmarks, labels and headings; fits 375 px; follows a light colour scheme", async () => {
    const audit = await page.evaluate(() => {
      const issues: string[] = [];
      if (document.documentElement.lang !== "en") issues.push("html has no lang");
      for (const selector of ["header", "main", "footer"]) {
        if (document.querySelectorAll(selector).length !== 1) issues.push(`expected one <${selector}>`);
      }
      if (document.querySelectorAll("h1").length !== 1) issues.push("expected one h1");
      for (const section of document.querySelectorAll("section")) {
        const label = section.getAttribute("aria-labelledby");
        if (!label || !document.getElementById(label)?.textContent?.trim()) issues.push(`unlabelled section`);
      }
      for (const button of document.querySelectorAll("button")) {
        const name = button.getAttribute("aria-label") ?? button.textContent ?? "";
        if (!name.trim()) issues.push(`button without a name: ${button.outerHTML}`);
      }
      for (const control of document.querySelectorAll("input, progress")) {
        const id = control.id;
        const labelled =
          control.getAttribute("aria-label") || (id && document.querySelector(`label[for="${id}"]`)) !== null;
        if (!labelled) issues.push(`control without a label: ${control.outerHTML}`);
      }
      for (const table of document.querySelectorAll("table")) {
        if (!table.querySelector("caption")?.textContent?.trim()) issues.push("table without a caption");
      }
      const status = document.getElementById("connection");
      if (status?.getAttribute("role") !== "status") issues.push("connection state is not a live status");
      return issues;
    });
    expect(audit).toEqual([]);

    await page.setViewportSize({ width: 375, height: 812 });
    await page.locator("#connection", { hasText: "Live" }).waitFor();
    const widths = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      client: document.documentElement.clientWidth,
    }));
    expect(widths.scroll).toBeLessThanOrEqual(widths.client);
    // Cards: the labels of the hidden header show beside each value.
    const label = await cell("tiny", "Size").evaluate((element) => getComputedStyle(element, "::before").content);
    expect(label).toBe('"Size"');
    if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, "lmx-dashboard-375.png"), fullPage: true });

    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.emulateMedia({ colorScheme: "dark" });
    expect(await background()).toBe("rgb(13, 13, 18)");
    await page.emulateMedia({ colorScheme: "light" });
    expect(await background()).toBe("rgb(246, 246, 250)");
    if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, "lmx-dashboard-light.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.emulateMedia({ colorScheme: "dark" });
  });

  it("asks for the API key when LMX has one, sends it only as a bearer header, never in a URL or cookie", async () => {
    const key = "browser-key-7c1e2d";
    const keyed = await startTestLmx({ modelsDir: dir, idleTtlMs: 0, apiKey: key });
    const context = await browser.newContext();
    const keyedPage = await context.newPage();
    watch(keyedPage);
    const urls: string[] = [];
    const bearers: string[] = [];
    keyedPage.on("request", (request) => {
      urls.push(request.url());
      const authorization = request.headers().authorization;
      if (authorization) bearers.push(`${new URL(request.url()).pathname} ${authorization}`);
    });
    try {
      await keyedPage.goto(`${keyed.url}/dashboard`);
      await keyedPage.locator("#connection", { hasText: "Key required" }).waitFor();
      const input = keyedPage.getByRole("textbox", { name: "API key" });
      await input.fill(key);
      await input.press("Enter");
      await keyedPage.locator("#connection", { hasText: "Live" }).waitFor();
      await keyedPage.locator('tr[data-model="tiny"]').waitFor();
      expect(await keyedPage.locator("#key-panel").isHidden()).toBe(true);
      expect(urls.filter((url) => url.includes(key))).toEqual([]);
      expect(bearers).toContain(`/dashboard/api/events Bearer ${key}`);
      expect(await context.cookies()).toEqual([]);
      expect(await keyedPage.evaluate(() => localStorage.length)).toBe(0);
      // Forgetting the key asks again, and the stream stops.
      await keyedPage.getByRole("button", { name: "Forget key" }).click();
      await keyedPage.locator("#connection", { hasText: "Key required" }).waitFor();
      expect(await keyedPage.evaluate(() => sessionStorage.length)).toBe(0);
    } finally {
      await context.close();
      await keyed.close();
    }
  });

  it("logged no console errors or page errors", () => {
    expect(problems).toEqual([]);
  });
});
