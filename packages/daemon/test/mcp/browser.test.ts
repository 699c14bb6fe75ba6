import { existsSync } from "node:fs";
import { mkdir, readFile, realpath, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type RecordedRequest, type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

type Event = Record<string, unknown> & { event: string; seq: number };

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`Skipping the browser tests: ${CHROMIUM} is not installed (Debian: apt-get install chromium).`);
}

const PAGE = (cookie: string) => `<!doctype html>
<html><head><title>Peekaboo test</title></head><body>
<h1>Welcome</h1>
<p>cookie: ${cookie}</p>
<button onclick="document.cookie='visited=yes; path=/'; document.querySelector('h1').textContent='Clicked'">Set cookie</button>
<label>Name <input id="name"></label>
</body></html>`;

describe.skipIf(!hasChromium)("browser automation (peekaboo on the system Chromium)", { timeout: 90_000 }, () => {
  let model: ScriptedServer;
  let site: Server;
  let siteUrl: string;
  const cookiesSeen: string[] = [];
  let home: string;
  let workspace: string;
  let daemon: DaemonProcess;
  let call: ReturnType<typeof api>;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    site = createServer((request, response) => {
      const cookie = request.headers.cookie ?? "none";
      if (request.url === "/") cookiesSeen.push(cookie);
      response.writeHead(request.url === "/" ? 200 : 404, { "content-type": "text/html; charset=utf-8" });
      response.end(request.url === "/" ? PAGE(cookie) : "not found");
    });
    await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}/`;
    model = await startScriptedServer();
    const homeDir = await tempHome("opta-browser-home-");
    const work = await tempHome("opta-browser-work-");
    cleanups.push(homeDir.cleanup, work.cleanup);
    home = homeDir.home;
    workspace = await realpath(work.home);
    await writeFile(join(home, "config.yaml"), "mcp:\n  peekaboo: true\n");
    // Everything but navigation is allowed by the project; navigation keeps its default (ask).
    await mkdir(join(workspace, ".opta"), { recursive: true });
    await writeFile(
      join(workspace, ".opta", "policy.yaml"),
      "allow:\n  - browser_snapshot\n  - browser_click\n  - browser_fill_form\n  - browser_screenshot\n",
    );
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host, OPTA_BROWSER: CHROMIUM });
    call = api(daemon);
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    await new Promise((resolve) => site?.close(resolve));
    for (const cleanup of cleanups) await cleanup();
  });

  async function events(id: string): Promise<Event[]> {
    return ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
  }

  /** Runs one turn, approving every permission request, and returns the requests and the turn's events. */
  async function runTurn(id: string): Promise<{ asked: string[]; turn: Event[] }> {
    const before = (await events(id)).length;
    const response = await call(`/v3/sessions/${id}/turns`, { method: "POST", json: { text: "browse" } });
    expect(response.status).toBe(202);
    const answered = new Set<unknown>();
    const turn = await waitFor(async () => {
      const all = (await events(id)).slice(before);
      for (const event of all) {
        if (event.event !== "permission.request" || answered.has(event.requestId)) continue;
        answered.add(event.requestId);
        await call(`/v3/sessions/${id}/permissions/${event.requestId}`, {
          method: "POST",
          json: { decision: "allow" },
        });
      }
      return all.some((event) => ["turn.done", "turn.error", "session.cancelled"].includes(event.event))
        ? all
        : undefined;
    }, 45_000);
    const asked = turn.filter((event) => event.event === "permission.request").map((event) => String(event.name));
    return { asked, turn };
  }

  /** The text the model got back from the last tool call. */
  const lastToolText = (request: RecordedRequest) => {
    const messages = request.body.messages as Array<{ role: string; content: string }>;
    return messages.filter((message) => message.role === "tool").at(-1)?.content ?? "";
  };
  const refOf = (snapshot: string, pattern: string) => {
    const match = new RegExp(`${pattern} \\[ref=(e\\d+)\\]`).exec(snapshot);
    if (!match) throw new Error(`no ${pattern} in ${snapshot}`);
    return match[1]!;
  };

  it("navigates, snapshots, clicks, fills and takes a screenshot; a second loop sees no cookie from the first", async () => {
    model.setReplies((request, index) => {
      const text = lastToolText(request);
      switch (index) {
        case 0:
          return { toolCalls: [{ name: "browser_navigate", arguments: { url: siteUrl } }] };
        case 1:
          return { toolCalls: [{ name: "browser_snapshot", arguments: {} }] };
        case 2:
          return {
            toolCalls: [
              { name: "browser_click", arguments: { ref: refOf(text, 'button "Set cookie"'), element: "Set cookie" } },
            ],
          };
        case 3:
          return {
            toolCalls: [
              {
                name: "browser_fill_form",
                arguments: { fields: [{ ref: refOf(text, 'textbox "Name"'), value: "Ada" }] },
              },
            ],
          };
        case 4:
          return { toolCalls: [{ name: "browser_screenshot", arguments: {} }] };
        case 5:
          // Same loop, same profile: the cookie the click set is sent back.
          return { toolCalls: [{ name: "browser_navigate", arguments: { url: siteUrl } }] };
        default:
          return { chunks: ["Done."] };
      }
    });
    const response = await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode: "do" } });
    const id = ((await response.json()) as { id: string }).id;
    const first = await runTurn(id);
    expect(first.turn.at(-1)).toMatchObject({ event: "turn.done", toolCalls: 6 });
    // Navigation asks by default; the project policy allowed the rest.
    expect(first.asked).toEqual(["browser_navigate", "browser_navigate"]);
    const results = first.turn.filter((event) => event.event === "tool.result");
    expect(results.map((event) => [event.name, event.ok])).toEqual([
      ["browser_navigate", true],
      ["browser_snapshot", true],
      ["browser_click", true],
      ["browser_fill_form", true],
      ["browser_screenshot", true],
      ["browser_navigate", true],
    ]);
    expect(String(results[1]!.result)).toMatch(/heading "Welcome"/);
    expect(String(results[2]!.result)).toMatch(/heading "Clicked"/);
    expect(String(results[3]!.result)).toMatch(/textbox "Name".*: Ada/);
    expect(String(results[5]!.result)).toContain("cookie: visited=yes");

    // The screenshot is a PNG under $OPTA_HOME/browser-snapshots/, referenced from the session.
    const shot = results[4]!.result as { structuredContent: { path: string; bytes: number } };
    expect(shot.structuredContent.path.startsWith(join(home, "browser-snapshots"))).toBe(true);
    const png = decodePng(await readFile(shot.structuredContent.path));
    expect(png).toMatchObject({ width: 1280, height: 800 });

    // A new agent loop starts on a fresh profile: no cookie from the first loop.
    model.setReplies([
      { toolCalls: [{ name: "browser_navigate", arguments: { url: siteUrl } }] },
      { chunks: ["Fresh."] },
    ]);
    const second = await runTurn(id);
    const navigated = second.turn.find((event) => event.event === "tool.result");
    expect(navigated).toMatchObject({ name: "browser_navigate", ok: true });
    expect(String(navigated!.result)).toContain("cookie: none");
    expect(cookiesSeen).toEqual(["none", "visited=yes", "none"]);
  });

  it("refuses non-web URLs and reports the browser in the server list", async () => {
    model.setReplies([
      { toolCalls: [{ name: "browser_navigate", arguments: { url: "file:///etc/passwd" } }] },
      { chunks: ["no"] },
    ]);
    const response = await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode: "do" } });
    const id = ((await response.json()) as { id: string }).id;
    const { turn } = await runTurn(id);
    expect(turn.find((event) => event.event === "tool.result")).toMatchObject({
      ok: false,
      code: "MCP_TOOL_ERROR",
      error: "only http and https URLs can be opened, not file:",
    });
    const list = (await (await call("/v3/mcp/servers")).json()) as { servers: Array<Record<string, unknown>> };
    expect(list.servers).toContainEqual(
      expect.objectContaining({ name: "peekaboo", scope: "builtin", status: "ready", toolCount: 5 }),
    );
  });
});

/** Decodes a PNG far enough to prove it is one: signature, chunk CRCs, IHDR, and inflated IDAT size. */
function decodePng(data: Buffer): { width: number; height: number } {
  expect(data.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let offset = 8;
  let width = 0;
  let height = 0;
  let bytesPerPixel = 0;
  const idat: Buffer[] = [];
  for (;;) {
    const length = data.readUInt32BE(offset);
    const type = data.toString("latin1", offset + 4, offset + 8);
    const body = data.subarray(offset + 8, offset + 8 + length);
    expect(data.readUInt32BE(offset + 8 + length)).toBe(crc32(data.subarray(offset + 4, offset + 8 + length)));
    if (type === "IHDR") {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[body[9]!] ?? 0;
      bytesPerPixel = (channels * body[8]!) / 8;
    } else if (type === "IDAT") idat.push(body);
    offset += 12 + length;
    if (type === "IEND") break;
  }
  expect(inflateSync(Buffer.concat(idat)).length).toBe(height * (1 + width * bytesPerPixel));
  return { width, height };
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit += 1) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
