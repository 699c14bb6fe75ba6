/**
 * End to end, in headless Debian Chromium against a real daemon and a scripted model: composer
 * overrides and drafts stay with their session (and a turn goes out with its own session's
 * permission), tool cards render per tool (code, listing, matches, terminal, diffs), and sessions
 * are renamed, pinned, grouped by project, copied by id and deleted from the rail.
 *
 * Skips (saying why) when /usr/bin/chromium is absent. OPTA_SCREENSHOTS=1 refreshes
 * docs/screenshots/tool-cards.png and diff.png.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
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
if (!hasChromium) console.warn(`[desktop e2e] skipped: ${CHROMIUM} not found (apt-get install chromium)`);

const APP_DIR = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(APP_DIR, "dist");
const CLI = fileURLToPath(new URL("../../cli/dist/bin.js", import.meta.url));
const SCREENSHOTS = process.env.OPTA_SCREENSHOTS
  ? fileURLToPath(new URL("../../../docs/screenshots/", import.meta.url))
  : undefined;

const SOURCE = [
  "import { verify } from './jwt';",
  "",
  "// TODO: rotate keys",
  "export function check(token: string): boolean {",
  "  return verify(token, 'secret-key');",
  "}",
  "",
].join("\n");

/** The model works through the tools one step at a time, by how many tool results it has seen. */
function reply(request: RecordedRequest): ScriptedReply {
  const messages = request.body.messages as Array<{ role: string; content: unknown }>;
  const last = messages.at(-1);
  const results = messages.filter((message) => message.role === "tool").length;
  const userText = [...messages].reverse().find((message) => message.role === "user")?.content;
  if (typeof userText === "string" && !userText.includes("tools")) return { chunks: ["Hi from B."] };
  if (last?.role !== "tool") {
    return {
      chunks: ["Let me look around."],
      toolCalls: [
        { name: "read_file", arguments: { path: "auth.ts" } },
        { name: "list_dir", arguments: { path: "." } },
        { name: "grep", arguments: { pattern: "TODO" } },
        { name: "run_command", arguments: { command: "echo checking; echo oops >&2; exit 3" } },
      ],
    };
  }
  if (results === 4) {
    return {
      toolCalls: [
        {
          name: "write_file",
          arguments: { path: "auth.ts", content: SOURCE.replace("// TODO: rotate keys", "// Keys rotate daily.") },
        },
      ],
    };
  }
  if (results === 5) {
    return {
      toolCalls: [
        {
          name: "edit_file",
          arguments: { path: "auth.ts", old_string: "verify(token, 'secret-key')", new_string: "verify(token, key())" },
        },
      ],
    };
  }
  return { chunks: ["Done: keys rotate and the secret moved out."] };
}

const run = promisify(execFile);

describe.skipIf(!hasChromium)("Code Desktop sessions and tool cards end to end", () => {
  let root: string;
  let home: string;
  let workdir: string;
  let model: ScriptedServer;
  let daemon: DaemonProcess;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  const previousCwd = process.cwd();

  const api = async (path: string, init: RequestInit = {}) =>
    fetch(`${daemon.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${await daemon.readToken()}`, ...init.headers },
    });
  const rail = (title: string) => page.locator(".rail-row", { has: page.locator(".rail-title", { hasText: title }) });

  beforeAll(async () => {
    if (!existsSync(join(DIST, "index.html"))) {
      const build = spawnSync("npx", ["vite", "build"], { cwd: APP_DIR, encoding: "utf8" });
      if (build.status !== 0) throw new Error(`vite build failed: ${build.stderr}`);
    }
    root = await mkdtemp(join(tmpdir(), "opta-desktop-sessions-"));
    home = join(root, "home");
    workdir = join(root, "work");
    await mkdir(home);
    await mkdir(workdir);
    await writeFile(join(workdir, "auth.ts"), SOURCE);
    await writeFile(join(workdir, "README.md"), "# demo\n");
    if (SCREENSHOTS) await mkdir(SCREENSHOTS, { recursive: true });
    model = await startScriptedServer({ replies: reply, models: ["scripted-model", "scripted-large"] });
    process.chdir(workdir);
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host, OPTA_DESKTOP_DIST: DIST });
    process.chdir(previousCwd);
    context = await chromium.launchPersistentContext(join(root, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
      viewport: { width: 1440, height: 900 },
    });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: daemon.url });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (error) => pageErrors.push(error.message));
    const { stdout } = await run(process.execPath, [CLI, "app", "--print-url"], {
      env: { ...process.env, OPTA_HOME: home, NO_COLOR: "1" },
    });
    await page.goto(stdout.trim());
    await page.getByTestId("connection").filter({ hasText: "Connected" }).waitFor();
  }, 90_000);

  afterAll(async () => {
    process.chdir(previousCwd);
    await context?.close();
    await daemon?.stop();
    await model?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  let sessionA = "";
  let sessionB = "";

  it("keeps each session's permission, model and draft, and sends B's turn with B's settings", async () => {
    const composer = page.getByLabel("Message", { exact: true });
    const permission = page.getByTestId("permission-pill");
    const modelPill = page.getByTestId("model-pill");
    await page.getByRole("button", { name: "+ New" }).click();
    await page.locator(".rail-item.selected").waitFor();
    sessionA = (await page.getByTestId("session-id").locator("code").textContent()) ?? "";
    await page.locator("option[value='lmx/scripted-large']").waitFor({ state: "attached" });
    await permission.selectOption("unrestricted");
    await modelPill.selectOption("lmx/scripted-large");
    await composer.fill("please use the tools");

    await page.getByRole("button", { name: "+ New" }).click();
    await page.waitForFunction(
      (id) => document.querySelector("[data-testid=session-id] code")?.textContent !== id,
      sessionA,
    );
    sessionB = (await page.getByTestId("session-id").locator("code").textContent()) ?? "";
    expect(sessionB).toMatch(/^s-/);
    expect(await permission.inputValue()).toBe("");
    expect(await modelPill.inputValue()).toBe("");
    expect(await composer.inputValue()).toBe("");

    await composer.fill("hello from B");
    await composer.press("Control+Enter");
    await page.locator("article.turn").last().getByTestId("turn-stats").waitFor({ timeout: 15_000 });
    const { events } = (await (await api(`/v3/sessions/${sessionB}/events`)).json()) as {
      events: Array<{ event: string; permission?: string; model?: string }>;
    };
    const started = events.find((event) => event.event === "turn.start");
    expect(started?.permission).not.toBe("unrestricted");
    expect(started?.model).not.toBe("lmx/scripted-large");

    // Back to A: its own overrides and its draft, as left; a reload keeps them too.
    await page.locator(`.rail-row[data-session-id='${sessionA}'] .rail-item`).click();
    await page.waitForFunction(
      (id) => document.querySelector("[data-testid=session-id] code")?.textContent === id,
      sessionA,
    );
    expect(await permission.inputValue()).toBe("unrestricted");
    expect(await modelPill.inputValue()).toBe("lmx/scripted-large");
    expect(await composer.inputValue()).toBe("please use the tools");
  });

  it("renders each tool's result: code with line numbers, listing, matches, terminal, diffs", async () => {
    const composer = page.getByLabel("Message", { exact: true });
    await composer.press("Control+Enter");
    const turn = page.locator("article.turn").last();
    await turn.getByTestId("turn-stats").waitFor({ timeout: 20_000 });
    const { events } = (await (await api(`/v3/sessions/${sessionA}/events`)).json()) as {
      events: Array<{ event: string; permission?: string }>;
    };
    expect(events.find((event) => event.event === "turn.start")?.permission).toBe("unrestricted");
    expect(await composer.inputValue()).toBe("");

    const card = (name: string) => turn.locator(`[data-testid=tool-card][data-tool=${name}]`);
    for (const name of ["read_file", "list_dir", "grep", "run_command", "write_file", "edit_file"]) {
      await card(name).locator(".tool-header").click();
    }
    const read = card("read_file");
    expect(await read.locator(".code-line .line-number").first().textContent()).toBe("1");
    expect(await read.locator(".tok-keyword").first().textContent()).toBe("import");
    expect(await read.locator(".code-line code").nth(2).textContent()).toBe("// TODO: rotate keys");
    expect(await read.locator("[data-testid=numbered-code]").textContent()).not.toContain("\\n");
    expect(await card("list_dir").locator(".listing-name").allTextContents()).toEqual(["README.md", "auth.ts"]);
    expect(await card("grep").locator(".tool-arg").textContent()).toBe("/TODO/");
    expect(await card("grep").locator(".match").first().textContent()).toBe("auth.ts:3: // TODO: rotate keys");
    const terminal = card("run_command").getByTestId("terminal");
    expect(await terminal.locator(".terminal-out").textContent()).toBe("checking\n");
    expect(await terminal.getByTestId("exit-code").textContent()).toBe("exit 3");
    const write = card("write_file").getByTestId("diff");
    expect(await write.locator("[data-kind=remove] code").allTextContents()).toEqual(["// TODO: rotate keys"]);
    expect(await write.locator("[data-kind=add] code").allTextContents()).toEqual(["// Keys rotate daily."]);
    const edit = card("edit_file").getByTestId("diff");
    expect(await edit.locator("[data-kind=add] code").textContent()).toContain("verify(token, key())");
    expect(await edit.locator("[data-kind=add] .line-number").last().textContent()).toBe("5");
    expect(await readFile(join(workdir, "auth.ts"), "utf8")).toContain("verify(token, key())");

    if (SCREENSHOTS) {
      await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
      await card("read_file").scrollIntoViewIfNeeded();
      await page.locator("main.main").screenshot({ path: join(SCREENSHOTS, "tool-cards.png") });
      await card("write_file").scrollIntoViewIfNeeded();
      await card("write_file").screenshot({ path: join(SCREENSHOTS, "diff.png") });
    }
  });

  it("shows and copies the session id; renames, pins (first) and groups by project; deletes after asking", async () => {
    await page.getByRole("button", { name: "Copy session id" }).click();
    await page.getByRole("button", { name: "Session id copied" }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(sessionA);

    const rowA = page.locator(`.rail-row[data-session-id='${sessionA}']`);
    await rowA.hover();
    await rowA.getByRole("button", { name: /^Rename / }).click();
    const field = page.getByLabel(/^New title for /);
    await field.fill("Key rotation");
    await field.press("Enter");
    await rail("Key rotation").waitFor();
    expect((await (await api(`/v3/sessions/${sessionA}`)).json()).title).toBe("Key rotation");

    // Both sessions share the project; pinning B lifts it into the Pinned group at the top.
    const groups = () => page.locator(".rail-group-title").allTextContents();
    expect(await groups()).toEqual(["work"]);
    const rowB = page.locator(`.rail-row[data-session-id='${sessionB}']`);
    await rowB.hover();
    await rowB.getByRole("button", { name: /^Pin / }).click();
    await page.locator(".rail-group-title", { hasText: "Pinned" }).waitFor();
    expect(await groups()).toEqual(["Pinned", "work"]);
    expect((await (await api(`/v3/sessions/${sessionB}`)).json()).pinned).toBe(true);

    await rowB.hover();
    await rowB.getByRole("button", { name: /^Delete / }).click();
    const confirm = page.getByRole("group", { name: /^Delete / });
    await confirm.getByRole("button", { name: "Keep" }).click();
    await rowB.waitFor();
    await rowB.hover();
    await rowB.getByRole("button", { name: /^Delete / }).click();
    await page
      .getByRole("group", { name: /^Delete / })
      .getByRole("button", { name: "Delete" })
      .click();
    await rowB.waitFor({ state: "detached" });
    expect((await api(`/v3/sessions/${sessionB}`)).status).toBe(404);
    expect(existsSync(join(home, "daemon", "sessions", "archive", `${sessionB}.jsonl.gz`))).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});
