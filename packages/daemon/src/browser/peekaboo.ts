import { mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { DAEMON_VERSION } from "../version.js";
import { type LoopBrowser, LoopBrowsers } from "./loop-browsers.js";
import { LOOP_META_KEY, SESSION_META_KEY } from "./meta.js";

/** The longest snapshot returned, in characters; the rest is cut with a note. */
const MAX_SNAPSHOT_CHARS = 40_000;

export interface PeekabooOptions {
  /** Chromium or Chrome executable (see checkBrowser). */
  executablePath: string;
  /** Where screenshots go: `$OPTA_HOME/browser-snapshots`. */
  outputDir: string;
  /** A loop's browser is closed after this long without a call (default 10 min). */
  idleMs?: number;
  /** Timeout of a click or fill (default 10 s). */
  actionTimeoutMs?: number;
  /** Run Chromium without its sandbox (default: only as root or with OPTA_BROWSER_NO_SANDBOX=1). */
  noSandbox?: boolean;
}

/**
 * Peekaboo: an MCP server in front of Playwright that drives a system Chromium, headless, with a
 * fresh profile per agent loop. Tools: browser_navigate, browser_snapshot, browser_click,
 * browser_fill_form, browser_screenshot, browser_close.
 */
export function createPeekabooServer(options: PeekabooOptions): { server: McpServer; close: () => Promise<void> } {
  const browsers = new LoopBrowsers({
    executablePath: options.executablePath,
    idleMs: options.idleMs ?? 10 * 60_000,
    actionTimeoutMs: options.actionTimeoutMs ?? 10_000,
    ...(options.noSandbox !== undefined ? { noSandbox: options.noSandbox } : {}),
  });
  const server = new McpServer(
    { name: "peekaboo", version: DAEMON_VERSION },
    {
      instructions:
        "Drive a headless browser: browser_navigate to a URL, browser_snapshot to read the page as an accessibility tree with [ref=eN] markers, then browser_click / browser_fill_form with those refs, and browser_screenshot to save a PNG.",
    },
  );
  // One call at a time per loop, in arrival order: a click must not overtake the navigate before it.
  const queues = new Map<string, Promise<unknown>>();

  type Extra = { _meta?: Record<string, unknown> };
  const loopOf = (extra: Extra) => {
    const value = extra._meta?.[LOOP_META_KEY];
    return typeof value === "string" && value ? value : "default";
  };
  const sessionOf = (extra: Extra) => {
    const value = extra._meta?.[SESSION_META_KEY];
    return typeof value === "string" && value ? value : undefined;
  };

  function withBrowser(
    extra: Extra,
    action: (browser: LoopBrowser) => Promise<CallToolResult>,
  ): Promise<CallToolResult> {
    const loopId = loopOf(extra);
    const previous = queues.get(loopId) ?? Promise.resolve();
    const run = previous
      .catch(() => {})
      .then(async () => {
        try {
          return await action(await browsers.get(loopId));
        } catch (error) {
          return failure(describe(error));
        }
      });
    queues.set(loopId, run);
    void run.finally(() => {
      if (queues.get(loopId) === run) queues.delete(loopId);
    });
    return run;
  }

  async function pageState(browser: LoopBrowser, withSnapshot: boolean): Promise<string> {
    const { page } = browser;
    const head = `Page: ${page.url()}\nTitle: ${await page.title()}`;
    if (!withSnapshot) return head;
    return `${head}\n\nSnapshot:\n${await snapshot(browser)}`;
  }

  async function snapshot(browser: LoopBrowser): Promise<string> {
    const text = await browser.page.ariaSnapshot({ mode: "ai", timeout: 10_000 });
    return text.length > MAX_SNAPSHOT_CHARS
      ? `${text.slice(0, MAX_SNAPSHOT_CHARS)}\n… [snapshot truncated: ${text.length - MAX_SNAPSHOT_CHARS} more characters]`
      : text;
  }

  server.registerTool(
    "browser_navigate",
    {
      title: "Navigate",
      description:
        "Open a URL (http or https) in the browser and return the page's accessibility snapshot with [ref=eN] markers for browser_click and browser_fill_form.",
      inputSchema: { url: z.string().describe("absolute http(s) URL") },
      annotations: { openWorldHint: true },
    },
    (args, extra) =>
      withBrowser(extra, async (browser) => {
        const url = checkUrl(args.url);
        const response = await browser.page.goto(url, { waitUntil: "load" });
        const status = response ? ` (HTTP ${response.status()})` : "";
        return text(`Navigated to ${url}${status}\n${await pageState(browser, true)}`);
      }),
  );

  server.registerTool(
    "browser_snapshot",
    {
      title: "Snapshot",
      description:
        "Read the current page as an accessibility tree (roles, names, values) with [ref=eN] markers; refs are valid until the next snapshot.",
      inputSchema: {},
      annotations: { readOnlyHint: true },
    },
    (_args, extra) => withBrowser(extra, async (browser) => text(await pageState(browser, true))),
  );

  server.registerTool(
    "browser_click",
    {
      title: "Click",
      description: "Click the element with this ref from the latest browser_snapshot.",
      inputSchema: {
        ref: z.string().describe("element ref from the snapshot, e.g. e12"),
        element: z.string().optional().describe("what the element is, in words (for the approval prompt)"),
      },
    },
    (args, extra) =>
      withBrowser(extra, async (browser) => {
        await browser.page.getByRef(args.ref).click();
        await browser.page.waitForLoadState("domcontentloaded").catch(() => {});
        return text(`Clicked ${args.element ?? args.ref}\n${await pageState(browser, true)}`);
      }),
  );

  server.registerTool(
    "browser_fill_form",
    {
      title: "Fill form",
      description:
        "Fill form fields by ref from the latest browser_snapshot: text boxes get the value typed in, checkboxes are checked when value is 'true', comboboxes select the option with that label or value.",
      inputSchema: {
        fields: z
          .array(
            z.object({
              ref: z.string().describe("element ref from the snapshot"),
              value: z.string(),
              type: z.enum(["textbox", "checkbox", "combobox"]).default("textbox"),
              name: z.string().optional().describe("the field's label, in words"),
            }),
          )
          .min(1),
      },
    },
    (args, extra) =>
      withBrowser(extra, async (browser) => {
        for (const field of args.fields) {
          const locator = browser.page.getByRef(field.ref);
          if (field.type === "checkbox") await locator.setChecked(field.value === "true");
          else if (field.type === "combobox") await locator.selectOption(field.value);
          else await locator.fill(field.value);
        }
        return text(`Filled ${args.fields.length} field(s)\n${await pageState(browser, true)}`);
      }),
  );

  server.registerTool(
    "browser_screenshot",
    {
      title: "Screenshot",
      description: "Save a PNG screenshot of the page (or of one element by ref) and return its path.",
      inputSchema: {
        fullPage: z.boolean().optional().describe("the whole scrollable page, not just the viewport"),
        ref: z.string().optional().describe("only this element"),
      },
      annotations: { readOnlyHint: true },
    },
    (args, extra) =>
      withBrowser(extra, async (browser) => {
        await mkdir(options.outputDir, { recursive: true });
        browser.screenshots += 1;
        const prefix = [sessionOf(extra), browser.loopId === "default" ? undefined : browser.loopId]
          .filter(Boolean)
          .join("-");
        const name = `${safeFileName(prefix || "peekaboo")}-${Date.now()}-${browser.screenshots}.png`;
        const path = join(options.outputDir, name);
        if (args.ref) await browser.page.getByRef(args.ref).screenshot({ path, type: "png" });
        else await browser.page.screenshot({ path, type: "png", fullPage: args.fullPage ?? false });
        const bytes = (await stat(path)).size;
        const url = browser.page.url();
        return {
          content: [
            { type: "text", text: `Saved a screenshot of ${url} to ${path} (${bytes} bytes)` },
            { type: "resource_link", uri: pathToFileURL(path).href, name, mimeType: "image/png" },
          ],
          structuredContent: { path, url, bytes, mimeType: "image/png" },
        };
      }),
  );

  server.registerTool(
    "browser_close",
    {
      title: "Close",
      description: "Close this loop's browser and delete its profile (the daemon does this when a loop ends).",
      inputSchema: {},
      annotations: { idempotentHint: true },
    },
    async (_args, extra) => {
      const loopId = loopOf(extra);
      await (queues.get(loopId) ?? Promise.resolve()).catch(() => {});
      const closed = await browsers.close(loopId);
      return text(closed ? "Closed the browser" : "No browser was open");
    },
  );

  return { server, close: () => browsers.closeAll() };
}

/** Only web pages: a file:// or chrome:// URL would read the machine outside every workspace rule. */
function checkUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`'${raw}' is not an absolute URL; include the scheme, e.g. https://example.com`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:" && url.href !== "about:blank") {
    throw new Error(`only http and https URLs can be opened, not ${url.protocol}`);
  }
  return url.href;
}

function text(value: string): CallToolResult {
  return { content: [{ type: "text", text: value }] };
}

function failure(message: string): CallToolResult {
  return { content: [{ type: "text", text: message }], isError: true };
}

/** Playwright errors carry a call log after the first line; the model needs the first line. */
function describe(error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  const first = message.split("\n")[0] ?? message;
  return first.replace(/^\w+\.\w+: /, "");
}

function safeFileName(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 80);
}
