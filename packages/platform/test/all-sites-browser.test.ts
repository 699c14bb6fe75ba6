/**
 * Every site of the running platform in headless Debian Chromium (playwright-core): a real platform
 * process started by the built `opta`, each site's build (or its public/ page). Per site, at 1280 px
 * and at 375 px: a `main` landmark with an h1, a console free of errors and CSP violations, an
 * accessibility check done in the page without new dependencies (one main, every img has alt, every
 * form control has a label, headings in order, body text contrast ≥ 4.5 from computed styles), no
 * horizontal scroll, the bytes transferred for the page within its budget; a screenshot of each
 * site is taken (saved under docs/screenshots/sites/<site>.png with OPTA_SCREENSHOTS=1, so that a
 * plain `npm test` leaves the tree clean). A user signs up and is made admin first,
 * so admin and lmx show their real pages rather than a sign-in redirect.
 *
 * Then the design system's theme: the system's light preference applies, the toggle switches and
 * its choice survives a reload; and the learn site's replay plays its recorded session.
 *
 * Skips (saying why) when /usr/bin/chromium is absent; CI installs it.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SiteName, siteHost } from "../src/sites/registry.js";
import { closedPort } from "./fixtures/ports.js";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`[all sites e2e] skipped: ${CHROMIUM} not found (apt-get install chromium)`);

const OPTA = fileURLToPath(new URL("../../../apps/cli/bin/opta.js", import.meta.url));
const SITES_ROOT = fileURLToPath(new URL("../../../apps/sites/", import.meta.url));
/** Where the screenshots go: docs/screenshots/sites/ with OPTA_SCREENSHOTS=1, as the desktop tests; else the test's temp home. */
const DOC_SCREENSHOTS = process.env.OPTA_SCREENSHOTS
  ? fileURLToPath(new URL("../../../docs/screenshots/sites/", import.meta.url))
  : undefined;
const DOMAIN = "opta.localhost";
const EMAIL = "hopper@example.com";
const PASSWORD = "compiler a-0 1952";
const run = promisify(execFile);

/**
 * Each site's budget: bytes transferred (headers included) for its first page and everything that
 * page loads, with an empty cache. The static sites (home, help, learn, init) and the small status
 * and lmx pages stay under 100 KB; accounts and admin are React apps with the auth client (one
 * bundle each, 240 KB measured).
 */
const BUDGETS: Record<SiteName, number> = {
  home: 100_000,
  accounts: 300_000,
  admin: 300_000,
  status: 100_000,
  lmx: 100_000,
  init: 100_000,
  help: 100_000,
  learn: 100_000,
};
const SITES = Object.keys(BUDGETS) as SiteName[];

/** What the in-page accessibility check found wrong (empty: nothing). */
interface AccessibilityReport {
  problems: string[];
  /** Text elements whose contrast was measured. */
  measured: number;
}

/**
 * Runs in the page. Landmarks, img alt, labels, heading order and the contrast of text against its
 * background as the browser computes them (WCAG 2 relative luminance; a transparent background is
 * the first opaque one of an ancestor, else the canvas: white, or dark under `color-scheme: dark`).
 */
function accessibilityCheck(): AccessibilityReport {
  const problems: string[] = [];
  const describe = (element: Element) =>
    `${element.tagName.toLowerCase()}${element.id ? `#${element.id}` : ""}${element.className && typeof element.className === "string" ? `.${element.className.split(" ")[0]}` : ""} "${(element.textContent ?? "").trim().slice(0, 30)}"`;
  const visible = (element: Element) => {
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden" && style.display !== "none";
  };

  const mains = document.querySelectorAll("main, [role=main]");
  if (mains.length !== 1) problems.push(`expected one main landmark, found ${mains.length}`);
  for (const image of document.querySelectorAll("img"))
    if (!image.hasAttribute("alt")) problems.push(`img without alt: ${image.getAttribute("src")}`);
  for (const control of document.querySelectorAll<HTMLInputElement>("input, select, textarea")) {
    if (control.type === "hidden" || control.type === "submit" || control.type === "button") continue;
    const labelled =
      (control.labels?.length ?? 0) > 0 ||
      control.getAttribute("aria-label") ||
      control.getAttribute("aria-labelledby") ||
      control.getAttribute("title");
    if (!labelled) problems.push(`form control without a label: ${describe(control)}`);
  }
  let previous = 0;
  for (const heading of document.querySelectorAll("h1, h2, h3, h4, h5, h6")) {
    const level = Number(heading.tagName[1]);
    if (previous === 0 && level !== 1) problems.push(`first heading is ${heading.tagName}, not h1`);
    if (previous !== 0 && level > previous + 1)
      problems.push(`heading jumps h${previous} → h${level}: ${describe(heading)}`);
    previous = level;
  }

  const parse = (color: string): [number, number, number, number] => {
    const parts = color.match(/[\d.]+/g)?.map(Number) ?? [0, 0, 0];
    return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0, parts[3] ?? 1];
  };
  const over = (top: number[], bottom: number[]) => {
    const alpha = top[3] ?? 1;
    return [0, 1, 2].map((index) => (top[index] ?? 0) * alpha + (bottom[index] ?? 0) * (1 - alpha));
  };
  const canvas = () =>
    getComputedStyle(document.documentElement).colorScheme.includes("dark") &&
    !getComputedStyle(document.documentElement).colorScheme.includes("light")
      ? [18, 18, 18, 1]
      : [255, 255, 255, 1];
  const background = (element: Element | null): number[] => {
    if (!element) return canvas();
    const color = parse(getComputedStyle(element).backgroundColor);
    if (color[3] === 0) return background(element.parentElement);
    return color[3] === 1 ? color : [...over(color, background(element.parentElement)), 1];
  };
  const luminance = (rgb: number[]) => {
    const [r, g, b] = rgb.map((value) => {
      const channel = value / 255;
      return channel <= 0.03928 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * (r ?? 0) + 0.7152 * (g ?? 0) + 0.0722 * (b ?? 0);
  };
  let measured = 0;
  for (const element of document.body.querySelectorAll("*")) {
    const ownText = [...element.childNodes].some((node) => node.nodeType === 3 && (node.textContent ?? "").trim());
    if (!ownText || !visible(element) || element.closest("[disabled], [aria-hidden=true], .skip")) continue;
    if (Number(getComputedStyle(element).opacity) < 1) continue;
    const back = background(element);
    const fore = over(parse(getComputedStyle(element).color), back);
    const [light, dark] = [luminance(fore), luminance(back)].sort((a, b) => b - a);
    const ratio = ((light ?? 0) + 0.05) / ((dark ?? 0) + 0.05);
    measured += 1;
    if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)} < 4.5: ${describe(element)}`);
  }
  return { problems, measured };
}

/**
 * Collects a page's console errors and uncaught exceptions (CSP violations are console errors).
 * A 404 for /favicon.ico is left out: Chromium asks for it by itself, the page did not.
 */
function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    if (message.location().url.endsWith("/favicon.ico")) return;
    errors.push(`${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}

describe.skipIf(!hasChromium)("every site in Chromium", () => {
  let home: string;
  let port: number;
  let screenshots: string;
  let context: BrowserContext;
  const origin = (site: SiteName) => `http://${siteHost(site, DOMAIN)}:${port}`;
  const opta = (args: string[]) =>
    run(process.execPath, [OPTA, ...args], {
      env: { ...process.env, OPTA_HOME: home, NO_COLOR: "1", DATABASE_URL: "" },
    });
  const launch = (options: { colorScheme?: "light" | "dark" } = {}) =>
    chromium.launchPersistentContext(join(home, `profile-${Math.random().toString(36).slice(2)}`), {
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
      viewport: { width: 1280, height: 800 },
      colorScheme: options.colorScheme ?? "dark",
    });

  beforeAll(async () => {
    for (const site of ["accounts", "admin"]) {
      if (!existsSync(join(SITES_ROOT, site, "dist", "index.html"))) {
        // Vitest sets NODE_ENV=test, and under it Vite bundles React's development build (twice the size).
        const build = spawnSync("npx", ["vite", "build", join(SITES_ROOT, site)], {
          encoding: "utf8",
          env: { ...process.env, NODE_ENV: "production" },
        });
        if (build.status !== 0) throw new Error(`vite build of ${site} failed: ${build.stderr}`);
      }
    }
    for (const site of ["home", "learn"]) {
      if (!existsSync(join(SITES_ROOT, site, "dist", "index.html"))) {
        const build = spawnSync(process.execPath, [join(SITES_ROOT, site, "build.mjs")], { encoding: "utf8" });
        if (build.status !== 0) throw new Error(`build of ${site} failed: ${build.stderr}`);
      }
    }
    home = await mkdtemp(join(tmpdir(), "opta-all-sites-"));
    port = await closedPort();
    await opta(["platform", "start", "--port", String(port)]);
    context = await launch();
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${origin("accounts")}/sign-up`);
    await page.getByLabel("Name").fill("Grace Hopper");
    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel(/^Password/).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign up" }).click();
    await page.waitForURL((url) => !url.pathname.startsWith("/sign-up"));
    await opta(["platform", "admin", "grant", EMAIL]);
    await page.close();
    screenshots = DOC_SCREENSHOTS ?? join(home, "screenshots");
    await mkdir(screenshots, { recursive: true });
  }, 300_000);

  afterAll(async () => {
    await context?.close();
    if (home) {
      await opta(["platform", "stop"]).catch(() => undefined);
      await rm(home, { recursive: true, force: true });
    }
  });

  /**
   * Saves a site's 1280 px view at half size (640 × 400): enough to recognise the page in the
   * README, a fraction of the bytes. A blank page does the scaling, outside every site's CSP.
   */
  async function saveScreenshot(site: SiteName, png: Buffer) {
    const blank = await context.newPage();
    try {
      const data = await blank.evaluate(async (source) => {
        const image = new Image();
        image.src = `data:image/png;base64,${source}`;
        await image.decode();
        const canvas = document.createElement("canvas");
        canvas.width = Math.round(image.naturalWidth / 2);
        canvas.height = Math.round(image.naturalHeight / 2);
        const context2d = canvas.getContext("2d");
        if (!context2d) throw new Error("no 2d canvas");
        context2d.imageSmoothingQuality = "high";
        context2d.drawImage(image, 0, 0, canvas.width, canvas.height);
        const url = canvas.toDataURL("image/png");
        return url.slice(url.indexOf(",") + 1);
      }, png.toString("base64"));
      await writeFile(join(screenshots, `${site}.png`), Buffer.from(data, "base64"));
    } finally {
      await blank.close();
    }
  }

  /** Loads one site in a fresh page with the cache off; what it transferred and logged. */
  async function visit(site: SiteName, width: number) {
    const page = await context.newPage();
    await page.setViewportSize({ width, height: 800 });
    const errors = watchConsole(page);
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    let transferred = 0;
    cdp.on("Network.loadingFinished", (event) => {
      transferred += event.encodedDataLength;
    });
    await page.goto(`${origin(site)}/`, { waitUntil: "load" });
    await page.locator("main h1, [role=main] h1").first().waitFor();
    // Apps read their data after the first paint; the screenshot should show it, not "Loading…".
    await page
      .waitForFunction(() => !document.querySelector("main")?.textContent?.includes("Loading…"), undefined, {
        timeout: 10_000,
      })
      .catch(() => undefined);
    return { page, errors, transferred: () => transferred };
  }

  for (const site of SITES) {
    it(`${site}: main content, a clean console, accessible, no horizontal scroll, within ${BUDGETS[site] / 1000} KB`, async () => {
      const wide = await visit(site, 1280);
      try {
        expect((await wide.page.locator("main h1, [role=main] h1").first().textContent())?.trim()).not.toBe("");
        const report = await wide.page.evaluate(accessibilityCheck);
        expect(report.problems, site).toEqual([]);
        expect(report.measured).toBeGreaterThan(0);
        expect(await wide.page.evaluate(() => document.documentElement.scrollWidth <= innerWidth)).toBe(true);
        await saveScreenshot(site, await wide.page.screenshot());
        expect(existsSync(join(screenshots, `${site}.png`))).toBe(true);
        expect(wide.transferred(), `${site} transferred bytes`).toBeLessThan(BUDGETS[site]);
        expect(wide.errors, `${site} console`).toEqual([]);
      } finally {
        await wide.page.close();
      }
      const narrow = await visit(site, 375);
      try {
        const scroll = await narrow.page.evaluate(() => ({
          content: document.documentElement.scrollWidth,
          viewport: innerWidth,
        }));
        expect(scroll.content, `${site} at 375 px scrolls sideways`).toBeLessThanOrEqual(scroll.viewport);
        expect((await narrow.page.evaluate(accessibilityCheck)).problems, site).toEqual([]);
        expect(narrow.errors, `${site} console at 375 px`).toEqual([]);
      } finally {
        await narrow.page.close();
      }
    });
  }

  it("the theme follows a light system preference (the React apps too), the toggle switches it, and the choice survives a reload", async () => {
    const light = await launch({ colorScheme: "light" });
    try {
      const page = light.pages()[0] ?? (await light.newPage());
      const errors = watchConsole(page);
      const bodyBackground = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      await page.goto(`${origin("learn")}/triage/`);
      expect(await bodyBackground()).toBe("rgb(246, 246, 249)");
      expect((await page.evaluate(accessibilityCheck)).problems).toEqual([]);
      const toggle = page.getByRole("button", { name: "Switch to the dark theme" });
      await toggle.click();
      expect(await bodyBackground()).toBe("rgb(13, 13, 18)");
      await page.reload();
      expect(await bodyBackground()).toBe("rgb(13, 13, 18)");
      await page.getByRole("button", { name: "Switch to the light theme" }).waitFor();
      // The choice is the learn site's (localStorage is per origin); home follows the system, and
      // so does the accounts app, whose styles.css takes the same tokens.
      for (const [site, path] of [
        ["home", "/"],
        ["accounts", "/sign-in"],
      ] as const) {
        await page.goto(`${origin(site)}${path}`);
        await page.locator("main h1, [role=main] h1").first().waitFor();
        expect(await bodyBackground(), site).toBe("rgb(246, 246, 249)");
        expect((await page.evaluate(accessibilityCheck)).problems, site).toEqual([]);
      }
      expect(errors).toEqual([]);
    } finally {
      await light.close();
    }
  });

  it("cross-site links point at this platform's domain and port", async () => {
    const page = await context.newPage();
    try {
      await page.goto(`${origin("home")}/`);
      await page.getByRole("link", { name: "Take the course" }).click();
      await page.waitForURL(`${origin("learn")}/`);
      await page.getByRole("heading", { name: "Learn Opta", level: 1 }).waitFor();
    } finally {
      await page.close();
    }
  });

  it("learn's explorer replays the recorded session: every event, the answer streamed from its tokens", async () => {
    const page = await context.newPage();
    try {
      await page.goto(`${origin("learn")}/explorer/`);
      await page.getByLabel("Speed").selectOption("4");
      await page.getByRole("button", { name: "Play" }).click();
      await page.locator("[data-replay][data-done=true]").waitFor({ timeout: 20_000 });
      const events = await page
        .locator(".events li")
        .evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.event));
      expect(events[0]).toBe("session.start");
      expect(events.at(-1)).toBe("turn.done");
      expect(events.filter((name) => name === "permission.request")).toHaveLength(2);
      expect(await page.locator("[data-replay-status]").textContent()).toBe(`Done: ${events.length} events replayed.`);
      expect(await page.locator(".replay output").textContent()).toContain("The four tests in `src/due.test.ts` pass.");
    } finally {
      await page.close();
    }
  });
});
