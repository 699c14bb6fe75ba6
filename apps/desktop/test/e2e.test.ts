/**
 * End to end: the built Code Desktop, served by a real daemon (its own process) with a scripted
 * model, driven in headless Debian Chromium through playwright-core. Opens through `opta app
 * --print-url` (a single-use sign-in code; the token is never in a URL), creates a session, streams
 * a turn, approves a tool call from the UI, restarts the daemon from the panel and resumes the
 * stream without duplicates, exports, opens the side panel as a drawer on a narrow window.
 *
 * Skips (saying why) when /usr/bin/chromium is absent; CI installs it. Set OPTA_SCREENSHOTS=1 to
 * refresh docs/screenshots/.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DaemonProcess, spawnDaemon } from "../../../packages/daemon/test/fixtures/daemon-harness.js";
import {
  type RecordedRequest,
  type ScriptedReply,
  type ScriptedServer,
  startScriptedServer,
} from "../../../packages/daemon/test/fixtures/scripted-openai-server.js";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`[desktop e2e] skipped: ${CHROMIUM} not found (apt-get install chromium; .ci/run installs it)`);
}

const APP_DIR = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(APP_DIR, "dist");
const CLI = fileURLToPath(new URL("../../cli/dist/bin.js", import.meta.url));
const SCREENSHOTS = process.env.OPTA_SCREENSHOTS
  ? fileURLToPath(new URL("../../../docs/screenshots/", import.meta.url))
  : undefined;
const LONG_WORDS = Array.from({ length: 90 }, (_, index) => `w${index} `);

const MARKDOWN_ANSWER = [
  "Hello from the scripted model.\n\n",
  "Here is the plan:\n\n",
  "1. Read `src/auth.ts`\n",
  "2. Replace **jwt.verify**\n\n",
  "```ts\n",
  "import { jwtVerify } from 'jose';\n",
  "// verify the token\n",
  "const { payload } = await jwtVerify(token, key, { maxAge: 3600 });\n",
  "```\n\n",
  "| file | change |\n",
  "| --- | --- |\n",
  "| auth.ts | jose |\n",
  "| session.ts | refresh rotation |\n",
];

/** The model answers by the conversation's last message. */
function reply(request: RecordedRequest): ScriptedReply {
  const messages = request.body.messages as Array<{ role: string; content: unknown }>;
  const last = messages.at(-1);
  if (last?.role === "tool") return { chunks: ["Wrote ", "`a.txt`", " for you."], delayMs: 5 };
  const text = typeof last?.content === "string" ? last.content : JSON.stringify(last?.content ?? "");
  if (text.includes("write")) {
    return {
      chunks: ["I'll write it."],
      toolCalls: [{ name: "write_file", arguments: { path: "a.txt", content: "x" } }],
    };
  }
  if (text.includes("long")) return { chunks: LONG_WORDS, delayMs: 45 };
  return { reasoning: ["The user greets me.", " I should answer with a plan."], chunks: MARKDOWN_ANSWER, delayMs: 15 };
}

const run = promisify(execFile);

describe.skipIf(!hasChromium)("Code Desktop end to end", () => {
  let root: string;
  let home: string;
  let workdir: string;
  let profile: string;
  let downloads: string;
  let model: ScriptedServer;
  let daemon: DaemonProcess;
  let context: BrowserContext;
  let page: Page;
  /** Uncaught exceptions in the page. */
  const pageErrors: string[] = [];
  /** Console errors (the browser logs the expected 401s around the restart here too). */
  const consoleErrors: string[] = [];
  /** Every URL the page navigated to, and every request it made: none may carry a token. */
  const seenUrls: string[] = [];
  /** Every token the daemon has had during the test. */
  const tokens = new Set<string>();
  const previousCwd = process.cwd();

  /** `opta app --print-url`, the real command, against the test's home. */
  const appUrl = async (): Promise<string> => {
    const { stdout } = await run(process.execPath, [CLI, "app", "--print-url"], {
      env: { ...process.env, OPTA_HOME: home, NO_COLOR: "1" },
    });
    return stdout.trim();
  };
  const shot = async (name: string) => {
    if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
  };
  const lastTurn = () => page.locator("article.turn").last();

  beforeAll(async () => {
    if (!existsSync(join(DIST, "index.html"))) {
      const build = spawnSync("npx", ["vite", "build"], { cwd: APP_DIR, encoding: "utf8" });
      if (build.status !== 0) throw new Error(`vite build failed: ${build.stderr}`);
    }
    // The workspace is a sibling of the Opta home, never inside it: the file tools refuse to write
    // under the home (it holds the token, the vault and the user's policies).
    root = await mkdtemp(join(tmpdir(), "opta-desktop-e2e-"));
    home = join(root, "home");
    workdir = join(root, "work");
    profile = join(root, "chromium-profile");
    downloads = join(root, "downloads");
    await mkdir(home);
    await mkdir(workdir);
    await mkdir(downloads);
    if (SCREENSHOTS) await mkdir(SCREENSHOTS, { recursive: true });
    model = await startScriptedServer({ replies: reply });
    // Sessions default to the daemon's cwd: run it in a scratch directory so write_file lands there.
    process.chdir(workdir);
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host, OPTA_DESKTOP_DIST: DIST });
    process.chdir(previousCwd);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
      viewport: { width: 1440, height: 900 },
      acceptDownloads: true,
      downloadsPath: downloads,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    page.on("framenavigated", (frame) => seenUrls.push(frame.url()));
    // Not the WebSockets: the browser API has no headers, so the token rides in their query (loopback only).
    page.on("request", (request) => {
      if (!request.url().startsWith("ws")) seenUrls.push(request.url());
    });
    tokens.add(daemon.token);
  }, 90_000);

  afterAll(async () => {
    process.chdir(previousCwd);
    await context?.close();
    await daemon?.stop();
    await model?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("opens through a single-use sign-in code, never a token in the URL, and is authenticated", async () => {
    const url = await appUrl();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#code=[\w-]{16,}$/);
    expect(url).not.toContain(daemon.token);
    const code = new URL(url).hash.slice("#code=".length);
    await page.goto(url);
    await page.getByTestId("connection").filter({ hasText: "Connected" }).waitFor();
    // The code left the address bar (and the history entry) as well.
    expect(page.url()).toBe(`${daemon.url}/`);
    expect(await page.evaluate(() => window.location.hash)).toBe("");
    // Authenticated: the exchange stored the daemon's token, and the API answers the app.
    const stored = await page.evaluate(() => localStorage.getItem("opta.daemon.token"));
    expect(stored).toBe(daemon.token);
    await page.locator(".rail").waitFor();
    expect(await page.getByTestId("auth-prompt").count()).toBe(0);
    // The code was spent by that exchange: the URL is worthless now.
    const replay = await fetch(`${daemon.url}/v3/auth/exchange`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code }),
    });
    expect(replay.status).toBe(401);
    // The daemon serves the app with a strict policy.
    const response = await fetch(`${daemon.url}/`);
    expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
  });

  it("creates a session and streams a turn with markdown, code and a table", async () => {
    await page.getByRole("button", { name: "+ New" }).click();
    await page.locator(".rail-item.selected").waitFor();
    const composer = page.getByLabel("Message", { exact: true });
    await composer.fill("hello there");
    await composer.press("Control+Enter");
    await lastTurn().getByTestId("turn-stats").waitFor({ timeout: 15_000 });
    const turn = lastTurn();
    expect(await turn.locator(".user-text").textContent()).toBe("hello there");
    expect(await turn.locator(".markdown").first().textContent()).toContain("Hello from the scripted model.");
    expect(await turn.locator(".code-language").textContent()).toBe("ts");
    expect(await turn.locator(".tok-keyword").count()).toBeGreaterThan(0);
    expect(await turn.locator("table td").first().textContent()).toBe("auth.ts");
    // Thinking is there, collapsed.
    const thinking = turn.getByRole("button", { name: /Thinking/ });
    expect(await thinking.getAttribute("aria-expanded")).toBe("false");
    await thinking.click();
    expect(await turn.locator(".thinking-body").textContent()).toContain("The user greets me.");
    // The rail counts the turn.
    await page.locator(".rail-item.selected", { hasText: "1 turn" }).waitFor();
    await shot("timeline");
  });

  it("shows a tool card and resolves its approval from the UI", async () => {
    const composer = page.getByLabel("Message", { exact: true });
    await composer.fill("please write a file");
    await page.getByRole("button", { name: /Send/ }).click();
    const approval = page.getByTestId("approval");
    await approval.waitFor({ timeout: 15_000 });
    expect(await approval.textContent()).toContain("write_file");
    expect(await approval.textContent()).toContain("a.txt");
    const card = lastTurn().getByTestId("tool-card");
    expect(await card.getAttribute("data-status")).toBe("awaiting");
    // The card took focus, and the rail shows the turn running and waiting, not the last turn's end.
    expect(await approval.evaluate((element) => element === document.activeElement)).toBe(true);
    const railItem = page.locator(".rail-item.selected");
    await railItem.filter({ hasText: "Active · 2 turns" }).waitFor();
    await railItem.locator(".attention", { hasText: "1 approval" }).waitFor();
    await shot("approval");
    await approval.getByRole("button", { name: "Allow", exact: true }).click();
    await approval.waitFor({ state: "detached" });
    await railItem.locator(".attention").waitFor({ state: "detached" });
    await lastTurn().getByTestId("turn-stats").waitFor({ timeout: 15_000 });
    await railItem.filter({ hasText: "Done · 2 turns" }).waitFor();
    expect(await card.getAttribute("data-status")).toBe("ok");
    expect(await readFile(join(workdir, "a.txt"), "utf8")).toBe("x");
    // Collapsed by default; expands to the full payload.
    const header = card.locator(".tool-header");
    expect(await header.getAttribute("aria-expanded")).toBe("false");
    await header.click();
    expect(await card.locator(".tool-body").textContent()).toContain('"path": "a.txt"');
    expect(await lastTurn().locator(".markdown").last().textContent()).toContain("Wrote a.txt for you.");
  });

  it("restarts the daemon from the panel and resumes the stream by itself, without duplicates", async () => {
    const composer = page.getByLabel("Message", { exact: true });
    await composer.fill("tell me a long story");
    await composer.press("Control+Enter");
    await lastTurn().locator(".markdown", { hasText: "w3 " }).waitFor({ timeout: 15_000 });

    await page.getByTestId("daemon-tab").click();
    await page.getByTestId("log-view").locator(".log-line").first().waitFor();
    const oldToken = await daemon.readToken();
    await page.locator(".rail-item.selected", { hasText: "Active · 3 turns" }).waitFor();
    await page.getByRole("button", { name: /Restart/ }).click();
    // The restart hands this tab the new token: no prompt, the streams reconnect and resume.
    const deadline = Date.now() + 10_000;
    while ((await daemon.readToken()) === oldToken && Date.now() < deadline) await sleep(50);
    expect(await daemon.readToken()).not.toBe(oldToken);
    tokens.add(await daemon.readToken());
    await page.getByTestId("connection").filter({ hasText: "Connected" }).waitFor();
    expect(await page.getByTestId("auth-prompt").count()).toBe(0);

    await lastTurn().getByTestId("turn-stats").waitFor({ timeout: 20_000 });
    const text = await lastTurn().locator(".markdown").last().textContent();
    expect(text?.trim()).toBe(LONG_WORDS.join("").trim());
    expect(page.url()).not.toContain("token");
    await page.getByTestId("log-view").locator(".log-line", { hasText: "Restarting" }).waitFor();
    await page.locator(".rail-item.selected", { hasText: "Done · 3 turns" }).waitFor();
    await shot("daemon-panel");
  });

  it("asks to sign in again once its grant is revoked, and takes a new code from opta app", async () => {
    // A restart by another client no longer signs the window out (e2e-reconnect.test.ts): a revoke does.
    await run(process.execPath, [CLI, "app", "revoke", "--all"], { env: { ...process.env, OPTA_HOME: home } });
    tokens.add(await daemon.readToken());
    const prompt = page.getByTestId("auth-prompt");
    await prompt.waitFor({ timeout: 15_000 });
    await shot("reconnect");
    // A new `opta app` URL in this tab: its code is traded for the new token.
    const url = await appUrl();
    expect(url).toContain("#code=");
    for (const token of tokens) expect(url).not.toContain(token);
    await page.evaluate((hash) => {
      window.location.hash = hash;
    }, new URL(url).hash);
    await prompt.waitFor({ state: "detached" });
    await page.getByTestId("connection").filter({ hasText: "Connected" }).waitFor();
    expect(page.url()).toBe(`${daemon.url}/`);
    expect(await page.evaluate(() => localStorage.getItem("opta.daemon.token"))).toBe(await daemon.readToken());
  });

  it("exports the session as JSON and Markdown", async () => {
    const [jsonDownload] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "⤓ JSON" }).click(),
    ]);
    const exported = JSON.parse(await readFile((await jsonDownload.path())!, "utf8")) as {
      session: { id: string; turnCount: number };
      events: Array<{ seq: number }>;
    };
    expect(jsonDownload.suggestedFilename()).toBe(`${exported.session.id}.json`);
    expect(exported.session.turnCount).toBe(3);
    const seqs = exported.events.map((event) => event.seq);
    expect(new Set(seqs).size).toBe(seqs.length);

    const [mdDownload] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "⤓ MD" }).click(),
    ]);
    expect(mdDownload.suggestedFilename()).toMatch(/\.md$/);
    expect(await readFile((await mdDownload.path())!, "utf8")).toContain("hello there");
  });

  it("shows the keyboard help and the telemetry panel, with no page errors", async () => {
    await page.locator("body").click({ position: { x: 700, y: 80 } });
    await page.keyboard.press("?");
    await page.getByTestId("help-overlay").waitFor();
    await shot("shortcuts");
    await page.keyboard.press("Escape");
    await page.getByTestId("help-overlay").waitFor({ state: "detached" });
    await page.keyboard.press("Alt+T");
    const rate = await page.getByTestId("metric-toks").textContent();
    expect(rate).toMatch(/\d/);
    // No focus ring on the timeline in the picture.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await shot("telemetry");
  });

  it("opens the side panel as a drawer on a narrow window", async () => {
    await page.setViewportSize({ width: 1000, height: 800 });
    const side = page.getByTestId("side-panel");
    await page.getByTestId("panels-button").waitFor();
    await side.waitFor({ state: "hidden", timeout: 5_000 });
    await page.locator("body").click({ position: { x: 500, y: 80 } });
    await page.keyboard.press("Alt+D");
    await page.locator(".side.drawer.open").waitFor({ timeout: 5_000 });
    expect(await page.getByTestId("daemon-tab").evaluate((element) => element === document.activeElement)).toBe(true);
    expect(await side.isVisible()).toBe(true);
    await page.getByTestId("log-view").locator(".log-line").first().waitFor();
    await page.waitForTimeout(300); // the slide-in transition
    await shot("drawer");
    await page.keyboard.press("Escape");
    await side.waitFor({ state: "hidden" });
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  it("never put a token in a URL, and had no page errors", async () => {
    expect(seenUrls.length).toBeGreaterThan(0);
    for (const url of seenUrls) for (const token of tokens) expect(url).not.toContain(token);
    expect(pageErrors).toEqual([]);
    expect(consoleErrors.filter((error) => /Content.Security.Policy/i.test(error))).toEqual([]);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
