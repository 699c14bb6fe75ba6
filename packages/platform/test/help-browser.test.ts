/**
 * help.<domain> in headless Debian Chromium (playwright-core) on a running platform server: the
 * built site (apps/sites/help/build.mjs, built fresh from docs/ into a temporary sites root) loads
 * under the site's strict CSP; `/` focuses the search, a term of docs/lmx.md finds its section and
 * arrows + Enter open it there; the theme toggle is remembered; at 375 px nothing scrolls sideways
 * and the menu opens the sidebar. No console error and no CSP violation anywhere.
 *
 * Skips (saying why) when /usr/bin/chromium is absent; CI installs it.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningPlatform, startPlatform } from "../src/server.js";
import { memoryLogger } from "./fixtures/http.js";
import { type FreshDatabase, freshDatabase, testPostgresUrl } from "./fixtures/postgres.js";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`[help e2e] skipped: ${CHROMIUM} not found (apt-get install chromium)`);

const BUILD = fileURLToPath(new URL("../../../apps/sites/help/build.mjs", import.meta.url));
const DOMAIN = "opta.localhost";
const run = promisify(execFile);

describe.skipIf(!hasChromium)("help site in Chromium", () => {
  let sitesRoot: string;
  let database: FreshDatabase | undefined;
  let platform: RunningPlatform;
  let browser: Browser;
  let page: Page;
  let help: string;
  const consoleErrors: string[] = [];

  const watch = (target: Page) => {
    target.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    target.on("pageerror", (error) => consoleErrors.push(error.message));
    target.on("response", (answer) => {
      if (answer.status() >= 400) consoleErrors.push(`${answer.status()} ${answer.url()}`);
    });
  };

  beforeAll(async () => {
    sitesRoot = await mkdtemp(join(tmpdir(), "opta-help-sites-"));
    await run(process.execPath, [BUILD, "--out", join(sitesRoot, "help", "dist")]);
    if (testPostgresUrl) database = await freshDatabase(testPostgresUrl);
    platform = await startPlatform({
      port: 0,
      domain: DOMAIN,
      pgliteDir: null,
      dataDir: null,
      logger: memoryLogger().logger,
      sitesRoot,
      ...(database ? { databaseUrl: database.url } : {}),
      status: { timer: false },
    });
    help = `http://help.${DOMAIN}:${platform.port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        // *.localhost is loopback to Chromium already; the rule keeps it off ::1, where nothing listens.
        `--host-resolver-rules=MAP *.${DOMAIN} 127.0.0.1, MAP ${DOMAIN} 127.0.0.1`,
      ],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: "dark" });
    page = await context.newPage();
    watch(page);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await platform?.close();
    await database?.drop();
    if (sitesRoot) await rm(sitesRoot, { recursive: true, force: true });
  });

  it("serves the index under the strict CSP", async () => {
    const answer = await page.goto(`${help}/`);
    expect(answer?.status()).toBe(200);
    expect(answer?.headers()["content-security-policy"]).toContain("script-src 'self'");
    await page.getByRole("heading", { name: "Opta help", level: 1 }).waitFor();
    expect(await page.getByRole("navigation", { name: "Documentation" }).getByRole("link").count()).toBeGreaterThan(15);
    expect(await page.locator("main .cards .card").count()).toBeGreaterThan(15);
  });

  it("`/` focuses the search; a term of docs/lmx.md lists its section first; arrows + Enter open it there", async () => {
    await page.locator("body").press("/");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("search-input");
    await page.keyboard.type("ollama api");
    const first = page.locator("#search-results [role=option]").first();
    await first.waitFor();
    expect(await first.locator(".where").textContent()).toBe("Ollama API");
    expect(await first.locator(".doc-title").textContent()).toContain("LMX");
    expect((await first.locator("mark").allTextContents()).join(" ")).toMatch(/ollama/i);
    await page.keyboard.press("ArrowDown");
    expect(await first.getAttribute("aria-selected")).toBe("true");
    await page.keyboard.press("Enter");
    await page.waitForURL(`${help}/lmx.html#ollama-api`);
    const heading = page.locator("h2#ollama-api");
    expect(await heading.textContent()).toContain("Ollama API");
    expect(await heading.evaluate((element) => element.matches(":target"))).toBe(true);
    const box = await heading.boundingBox();
    expect(box && box.y >= 0 && box.y < 860).toBe(true);
  });

  it("opens another doc from a link in the text and from prev/next, with no broken page", async () => {
    await page.goto(`${help}/architecture.html`);
    await page.getByRole("link", { name: /^Next/ }).click();
    await page.waitForURL(`${help}/cli.html`);
    await page.getByRole("heading", { level: 1 }).waitFor();
    await page.goto(`${help}/adr/0004-platform-server-on-hono.html`);
    await page.getByRole("navigation", { name: "Documentation" }).getByRole("link", { name: /LMX/ }).first().click();
    await page.waitForURL(`${help}/lmx.html`);
  });

  it("switches to the light theme and remembers it across pages", async () => {
    await page.goto(`${help}/sdk.html`);
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(await background()).toBe("rgb(13, 13, 18)");
    await page.getByRole("button", { name: "Switch to light theme" }).click();
    expect(await background()).toBe("rgb(255, 255, 255)");
    await page.goto(`${help}/api.html`);
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("light");
    expect(await background()).toBe("rgb(255, 255, 255)");
    await page.getByRole("button", { name: "Switch to dark theme" }).click();
    expect(await background()).toBe("rgb(13, 13, 18)");
  });

  it("fits 375 px: nothing scrolls sideways, and the menu opens the sidebar", async () => {
    const small = await browser.newPage({ viewport: { width: 375, height: 760 } });
    watch(small);
    for (const path of ["/", "/api.html", "/lmx.html"]) {
      await small.goto(`${help}${path}`);
      expect(await small.evaluate(() => document.documentElement.scrollWidth), path).toBeLessThanOrEqual(375);
    }
    const sidebar = small.getByRole("navigation", { name: "Documentation" });
    expect(await sidebar.isVisible()).toBe(false);
    await small.getByRole("button", { name: "Menu" }).click();
    expect(await sidebar.isVisible()).toBe(true);
    await small.close();
  });

  it("keeps text contrast at WCAG AA (4.5:1) in both themes", async () => {
    const low: string[] = [];
    for (const theme of ["dark", "light"] as const) {
      await page.goto(`${help}/sdk.html`);
      await page.evaluate((chosen) => localStorage.setItem("opta-help-theme", chosen), theme);
      await page.reload();
      const found = await page.evaluate(() => {
        const channels = (color: string) => (color.match(/[\d.]+/g) ?? []).map(Number);
        const luminance = ([r = 0, g = 0, b = 0]: number[]) => {
          const linear = (c: number) => {
            const v = c / 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
          };
          return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
        };
        const background = (element: Element | null): number[] => {
          for (let at = element; at; at = at.parentElement) {
            const [r, g, b, a = 1] = channels(getComputedStyle(at).backgroundColor);
            if (a > 0) return [r ?? 0, g ?? 0, b ?? 0];
          }
          return [255, 255, 255];
        };
        const selectors = [
          "main p",
          "main a",
          ".sidebar a",
          ".sidebar .group",
          ".toc a",
          "main code",
          ".hljs-keyword",
          ".hljs-string",
          ".hljs-comment",
          ".runnable",
          ".foot",
          ".brand .site",
          "#search-input",
        ];
        const failures: string[] = [];
        for (const selector of selectors) {
          const element = document.querySelector(selector);
          if (!element) {
            failures.push(`${selector}: not on the page`);
            continue;
          }
          const fg = luminance(channels(getComputedStyle(element).color));
          const bg = luminance(background(element));
          const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
          if (ratio < 4.5) failures.push(`${selector}: ${ratio.toFixed(2)}:1`);
        }
        return failures;
      });
      low.push(...found.map((failure) => `${theme} ${failure}`));
    }
    await page.evaluate(() => localStorage.removeItem("opta-help-theme"));
    expect(low).toEqual([]);
  });

  it("logged no console error, no failed request and no CSP violation", () => {
    expect(consoleErrors).toEqual([]);
  });
});
