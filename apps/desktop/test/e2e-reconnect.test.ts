/**
 * End to end in Chromium: Code Desktop signed in once (`opta app --print-url`) stays signed in
 * through `opta daemon restart` (token rotates) during a streaming turn, a kill -9 and a new daemon
 * on the same home and port, and a stop and a start: each time it reconnects with no prompt, the
 * timeline has every event exactly once, and the app makes a handful of 401s, not dozens. Then
 * `opta app revoke --all` brings the sign-in prompt. Also: the daemon panel's Start, and the
 * "Could not reach the daemon" banner clearing itself.
 *
 * Skips (saying why) when /usr/bin/chromium is absent.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, spawnDaemon } from "../../../packages/daemon/test/fixtures/daemon-harness.js";
import {
  type RecordedRequest,
  type ScriptedReply,
  type ScriptedServer,
  startScriptedServer,
} from "../../../packages/daemon/test/fixtures/scripted-openai-server.js";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`[desktop e2e] skipped: ${CHROMIUM} not found`);

const APP_DIR = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(APP_DIR, "dist");
const CLI = fileURLToPath(new URL("../../cli/dist/bin.js", import.meta.url));
const WORDS = Array.from({ length: 60 }, (_, index) => `w${index} `);
const run = promisify(execFile);

function reply(request: RecordedRequest): ScriptedReply {
  const messages = request.body.messages as Array<{ role: string; content: unknown }>;
  const text = String(messages.at(-1)?.content ?? "");
  if (text.includes("long")) return { chunks: WORDS, delayMs: 40 };
  return { chunks: [`echo: ${text}`] };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe.skipIf(!hasChromium)("Code Desktop reconnects by itself (client grant)", () => {
  let root: string;
  let home: string;
  let port: number;
  let model: ScriptedServer;
  let daemon: DaemonProcess;
  let context: BrowserContext;
  let page: Page;
  let sessionId: string;
  /** 401 answers the page got: HTTP responses, and WebSocket handshakes Chromium reports. */
  let unauthorized = 0;
  const pageErrors: string[] = [];

  const opta = async (...args: string[]) =>
    (await run(process.execPath, [CLI, ...args], { env: { ...process.env, OPTA_HOME: home, NO_COLOR: "1" } })).stdout;
  const startDaemon = async () => {
    daemon = await spawnDaemon(home, {
      OPTA_LMX_HOST: model.host,
      OPTA_DESKTOP_DIST: DIST,
      OPTA_DAEMON_PORT: String(port),
    });
  };
  const connected = () => page.getByTestId("connection").filter({ hasText: "Connected" }).waitFor({ timeout: 20_000 });
  /** What the daemon stored for the session, and what the timeline shows, must match one for one. */
  const expectTimelineMatchesDaemon = async () => {
    const response = await api({ url: daemon.url, token: await daemon.readToken() })(
      `/v3/sessions/${sessionId}/events`,
    );
    const { events } = (await response.json()) as {
      events: Array<{ event: string; seq: number; turnId?: string; delta?: string }>;
    };
    const seqs = events.map((event) => event.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    const starts = events.filter((event) => event.event === "turn.start");
    await page
      .locator("article.turn")
      .nth(starts.length - 1)
      .waitFor();
    expect(await page.locator("article.turn").count()).toBe(starts.length);
    // Every token once: each turn's text is exactly the concatenation of its stored deltas.
    for (const [index, start] of starts.entries()) {
      const text = events
        .filter((event) => event.event === "turn.token" && event.turnId === start.turnId)
        .map((event) => event.delta)
        .join("");
      const shown = await page.locator("article.turn").nth(index).locator(".markdown").last().textContent();
      expect(shown?.trim()).toBe(text.trim());
    }
  };
  /** Sends a turn and waits for that turn (not the one before it) to finish. */
  const sendTurn = async (text: string, options: { wait?: boolean } = {}) => {
    const count = await page.locator("article.turn").count();
    const composer = page.getByLabel("Message", { exact: true });
    await composer.fill(text);
    await composer.press("Control+Enter");
    const turn = page.locator("article.turn").nth(count);
    await turn.waitFor({ timeout: 15_000 });
    if (options.wait !== false) await turn.getByTestId("turn-stats").waitFor({ timeout: 20_000 });
    return turn;
  };
  const noPrompt = async () => expect(await page.getByTestId("auth-prompt").count()).toBe(0);

  beforeAll(async () => {
    if (!existsSync(join(DIST, "index.html"))) {
      const build = spawnSync("npx", ["vite", "build"], { cwd: APP_DIR, encoding: "utf8" });
      if (build.status !== 0) throw new Error(`vite build failed: ${build.stderr}`);
    }
    root = await mkdtemp(join(tmpdir(), "opta-desktop-reconnect-"));
    home = join(root, "home");
    await mkdir(home);
    await mkdir(join(root, "work"));
    port = await freePort();
    model = await startScriptedServer({ replies: reply });
    const previous = process.cwd();
    process.chdir(join(root, "work"));
    await startDaemon();
    process.chdir(previous);
    context = await chromium.launchPersistentContext(join(root, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
      viewport: { width: 1440, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("response", (response) => {
      if (response.status() === 401) unauthorized += 1;
    });
    page.on("console", (message) => {
      if (/WebSocket.*\b401\b/.test(message.text())) unauthorized += 1;
    });
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await daemon?.stop();
    await model?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("signs in once and runs a turn", async () => {
    await page.goto(await opta("app", "--print-url").then((url) => url.trim()));
    await connected();
    expect(await page.evaluate(() => localStorage.getItem("opta.daemon.grant"))).toMatch(/^[\w-]{40,}$/);
    // The cookie half is HttpOnly: page script cannot see it.
    expect(await page.evaluate(() => document.cookie)).toBe("");
    await page.getByRole("button", { name: "+ New" }).click();
    await page.locator(".rail-item.selected").waitFor();
    await sendTurn("hello");
    const listed = await api({ url: daemon.url, token: await daemon.readToken() })("/v3/sessions");
    sessionId = ((await listed.json()) as { sessions: Array<{ id: string }> }).sessions[0]!.id;
    await expectTimelineMatchesDaemon();
  });

  it("`opta daemon restart` during a streaming turn: no prompt, the turn resumes, nothing doubled, few 401s", async () => {
    const turn = await sendTurn("a long story please", { wait: false });
    await turn.locator(".markdown", { hasText: "w3 " }).waitFor({ timeout: 15_000 });
    const before = await daemon.readToken();
    unauthorized = 0;
    await opta("daemon", "restart");
    expect(await daemon.readToken()).not.toBe(before);
    await turn.getByTestId("turn-stats").waitFor({ timeout: 20_000 });
    await connected();
    await noPrompt();
    const text = await turn.locator(".markdown").last().textContent();
    expect(text?.trim()).toBe(WORDS.join("").trim());
    await expectTimelineMatchesDaemon();
    expect(unauthorized).toBeLessThanOrEqual(3);
  });

  it("kill -9 and a new daemon on the same home: reconnects with no prompt, nothing lost or doubled", async () => {
    unauthorized = 0;
    daemon.child.kill("SIGKILL");
    await new Promise((resolve) => daemon.child.once("exit", resolve));
    await page.getByTestId("connection").filter({ hasNotText: "Connected" }).waitFor({ timeout: 20_000 });
    await startDaemon();
    await connected();
    await noPrompt();
    await sendTurn("after the crash");
    await expectTimelineMatchesDaemon();
    expect(unauthorized).toBeLessThanOrEqual(3);
  });

  it("stop and start: the panel offers Start, the banner clears itself, no prompt", async () => {
    await page.getByTestId("daemon-tab").click();
    unauthorized = 0;
    await daemon.stop();
    await page.getByTestId("start-daemon").waitFor({ timeout: 20_000 });
    expect(await page.getByTestId("start-command").textContent()).toContain("opta daemon start");
    await page.locator(".banner-error", { hasText: "Could not reach the Opta daemon" }).waitFor({ timeout: 20_000 });
    expect(await page.getByTestId("daemon-uptime").textContent()).toMatch(/stopped|not answering/);
    await startDaemon();
    await connected();
    await page.locator(".banner-error").waitFor({ state: "detached", timeout: 20_000 });
    await page.getByTestId("start-daemon").waitFor({ state: "detached", timeout: 20_000 });
    await noPrompt();
    // The log viewer follows the new daemon over its stream.
    await page.getByTestId("log-view").locator(".log-line", { hasText: "Listening on" }).first().waitFor();
    await expectTimelineMatchesDaemon();
    expect(unauthorized).toBeLessThanOrEqual(3);
  });

  it("`opta app revoke --all` signs the window out: the prompt appears", async () => {
    const listed = await opta("app", "grants");
    expect(listed).toContain("HeadlessChrome");
    await opta("app", "revoke", "--all");
    await page.getByTestId("auth-prompt").waitFor({ timeout: 20_000 });
    expect(await page.evaluate(() => localStorage.getItem("opta.daemon.grant"))).toBeNull();
    expect(pageErrors).toEqual([]);
  });
});
