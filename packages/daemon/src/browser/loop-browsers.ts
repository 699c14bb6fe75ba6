import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { chromiumLaunchArgs, noSandboxReason } from "./sandbox.js";

/** One agent loop's browser: its own Chromium on its own fresh profile directory. */
export interface LoopBrowser {
  loopId: string;
  context: BrowserContext;
  page: Page;
  profileDir: string;
  lastUsed: number;
  /** Screenshots taken in this loop, for file names. */
  screenshots: number;
}

/**
 * Browsers by agent loop. Each loop gets a fresh Chromium with a fresh `--user-data-dir`, so no
 * cookie, storage or cache crosses from one loop to the next; the profile is deleted when the loop
 * ends (`close`), after `idleMs` without use, or when the server exits.
 */
export class LoopBrowsers {
  private readonly browsers = new Map<string, Promise<LoopBrowser>>();
  /** Closes in progress, so a shutdown waits for their profiles to be deleted. */
  private readonly closing = new Set<Promise<boolean>>();
  private readonly reaper: NodeJS.Timeout;

  constructor(
    private readonly options: {
      executablePath: string;
      idleMs: number;
      actionTimeoutMs: number;
      /** Run Chromium without its sandbox (default: `noSandboxReason()` of this process). */
      noSandbox?: boolean;
    },
  ) {
    this.reaper = setInterval(() => void this.reapIdle(), Math.min(options.idleMs, 60_000));
    this.reaper.unref();
  }

  /** The loop's browser, started on first use. */
  async get(loopId: string): Promise<LoopBrowser> {
    let pending = this.browsers.get(loopId);
    if (!pending) {
      pending = this.launch(loopId);
      this.browsers.set(loopId, pending);
      pending.catch(() => this.browsers.delete(loopId));
    }
    const browser = await pending;
    browser.lastUsed = Date.now();
    if (browser.page.isClosed()) browser.page = await browser.context.newPage();
    return browser;
  }

  /** True when the loop has a browser (started or starting). */
  has(loopId: string): boolean {
    return this.browsers.has(loopId);
  }

  /** Closes the loop's browser and deletes its profile. */
  async close(loopId: string): Promise<boolean> {
    const pending = this.browsers.get(loopId);
    if (!pending) return false;
    this.browsers.delete(loopId);
    const done = (async () => {
      const browser = await pending.catch(() => undefined);
      if (!browser) return false;
      await browser.context.close().catch(() => {});
      await rm(browser.profileDir, { recursive: true, force: true }).catch(() => {});
      return true;
    })();
    this.closing.add(done);
    try {
      return await done;
    } finally {
      this.closing.delete(done);
    }
  }

  /** Closes every browser (server shutdown). */
  async closeAll(): Promise<void> {
    clearInterval(this.reaper);
    await Promise.all([...this.browsers.keys()].map((loopId) => this.close(loopId)));
    await Promise.all(this.closing);
  }

  private async launch(loopId: string): Promise<LoopBrowser> {
    const profileDir = await mkdtemp(join(tmpdir(), "opta-peekaboo-"));
    const noSandbox = this.options.noSandbox ?? noSandboxReason() !== undefined;
    try {
      const context = await chromium.launchPersistentContext(profileDir, {
        executablePath: this.options.executablePath,
        headless: true,
        ...chromiumLaunchArgs(noSandbox),
        viewport: { width: 1280, height: 800 },
        acceptDownloads: false,
        timeout: 30_000,
      });
      context.setDefaultTimeout(this.options.actionTimeoutMs);
      context.setDefaultNavigationTimeout(30_000);
      const page = context.pages()[0] ?? (await context.newPage());
      return { loopId, context, page, profileDir, lastUsed: Date.now(), screenshots: 0 };
    } catch (error) {
      await rm(profileDir, { recursive: true, force: true }).catch(() => {});
      const message = firstLine((error as Error).message);
      const hint =
        !noSandbox && /sandbox/i.test((error as Error).message)
          ? " (Chromium's sandbox could not start here; if this machine cannot provide one, set OPTA_BROWSER_NO_SANDBOX=1)"
          : "";
      throw new Error(`could not start ${this.options.executablePath}: ${message}${hint}`);
    }
  }

  private async reapIdle(): Promise<void> {
    const now = Date.now();
    for (const [loopId, pending] of this.browsers) {
      const browser = await pending.catch(() => undefined);
      if (browser && now - browser.lastUsed > this.options.idleMs) await this.close(loopId);
    }
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}
