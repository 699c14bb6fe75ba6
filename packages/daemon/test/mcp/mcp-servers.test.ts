import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, readFile, realpath, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

type Event = Record<string, unknown> & { event: string; seq: number };
interface ServerInfo {
  name: string;
  scope: string;
  status: string;
  toolCount: number;
  tools: string[];
  error?: string;
  restarts: number;
}

/** A real third-party server from npm, and our own test server with tools that misbehave. */
const FILESYSTEM_SERVER = createRequire(import.meta.url).resolve(
  "@modelcontextprotocol/server-filesystem/dist/index.js",
);
const TEST_SERVER = fileURLToPath(new URL("./fixtures/test-server.mjs", import.meta.url));
const node = process.execPath;

describe("MCP servers in the daemon", { timeout: 60_000 }, () => {
  let model: ScriptedServer;
  let home: string;
  let workspace: string;
  let daemon: DaemonProcess;
  let call: ReturnType<typeof api>;
  let httpServer: ChildProcess;
  let httpUrl: string;
  const cleanups: Array<() => Promise<void>> = [];
  let config: Record<string, unknown>;

  beforeAll(async () => {
    model = await startScriptedServer();
    const homeDir = await tempHome("opta-mcp-home-");
    const work = await tempHome("opta-mcp-work-");
    cleanups.push(homeDir.cleanup, work.cleanup);
    home = homeDir.home;
    workspace = await realpath(work.home);
    await writeFile(join(workspace, "notes.txt"), "remember the milk\n");
    httpServer = spawn(node, [TEST_SERVER, "--http"], { stdio: ["ignore", "pipe", "inherit"] });
    httpUrl = await new Promise<string>((resolve) => {
      httpServer.stdout!.once("data", (chunk: Buffer) => resolve(chunk.toString().trim()));
    });
    config = {
      mcp: {
        servers: {
          fs: { command: [node, FILESYSTEM_SERVER, workspace] },
          flaky: { command: [node, TEST_SERVER] },
          slow: { command: [node, TEST_SERVER], timeout: 1 },
          silent: { command: [node, TEST_SERVER, "--silent"] },
          missing: { command: ["/nonexistent/mcp-server"] },
          web: { url: httpUrl },
        },
      },
    };
    await writeFile(join(home, "config.yaml"), YAML.stringify(config));
    daemon = await spawnDaemon(home, {
      OPTA_LMX_HOST: model.host,
      OPTA_MCP_STARTUP_TIMEOUT_MS: "5000",
      OPTA_MCP_BACKOFF_MS: "300",
    });
    call = api(daemon);
  });
  afterAll(async () => {
    await daemon?.stop();
    httpServer?.kill();
    await model?.close();
    for (const cleanup of cleanups) await cleanup();
  });

  async function servers(cwd = workspace): Promise<ServerInfo[]> {
    const response = await call(`/v3/mcp/servers?cwd=${encodeURIComponent(cwd)}`);
    expect(response.status).toBe(200);
    return ((await response.json()) as { servers: ServerInfo[] }).servers;
  }
  async function session(): Promise<string> {
    const response = await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode: "do" } });
    return ((await response.json()) as { id: string }).id;
  }
  async function events(id: string): Promise<Event[]> {
    return ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
  }
  async function runTurn(id: string, body: Record<string, unknown>): Promise<Event[]> {
    const before = (await events(id)).filter((event) => event.event === "turn.done").length;
    const response = await call(`/v3/sessions/${id}/turns`, { method: "POST", json: body });
    expect(response.status).toBe(202);
    return waitFor(async () => {
      const all = await events(id);
      const ends = all.filter((event) => ["turn.done", "turn.error", "session.cancelled"].includes(event.event));
      return ends.length > before ? all : undefined;
    }, 20_000);
  }
  /** The last turn's tool results, in the order the model asked for them (they finish in any order). */
  const results = (all: Event[]) => {
    const lastStart = all.findLastIndex((event) => event.event === "turn.start");
    const turn = all.slice(lastStart);
    const order = turn.filter((event) => event.event === "tool.call").map((event) => event.callId);
    return turn
      .filter((event) => event.event === "tool.result")
      .sort((a, b) => order.indexOf(a.callId) - order.indexOf(b.callId));
  };

  it("lists every server with its status and tool count; broken ones are reported, not fatal", async () => {
    const list = await waitFor(async () => {
      const found = await servers();
      const settled = found.every((server) => server.status !== "starting");
      return settled ? found : undefined;
    }, 15_000);
    const byName = new Map(list.map((server) => [server.name, server]));
    expect(byName.get("fs")).toMatchObject({ status: "ready", scope: "user" });
    expect(byName.get("fs")!.tools).toContain("fs__read_text_file");
    expect(byName.get("fs")!.toolCount).toBeGreaterThan(5);
    expect(byName.get("flaky")).toMatchObject({ status: "ready", toolCount: 5 });
    expect(byName.get("web")).toMatchObject({ status: "ready", toolCount: 5 });
    expect(byName.get("silent")).toMatchObject({ status: "error" });
    expect(byName.get("silent")!.error).toMatch(/no answer within 5s/);
    expect(byName.get("missing")).toMatchObject({ status: "error" });
    expect(byName.get("missing")!.error).toMatch(/command not found/);
    expect((await call("/v3/health")).status).toBe(200);
  });

  it("offers MCP tools to the model with their schemas and runs them through the permission gate", async () => {
    await mkdir(join(workspace, ".opta"), { recursive: true });
    await writeFile(
      join(workspace, ".opta", "policy.yaml"),
      "allow:\n  - fs__read_text_file\ndeny:\n  - fs__write_*\n",
    );
    model.setReplies([
      {
        toolCalls: [
          { name: "fs__read_text_file", arguments: { path: join(workspace, "notes.txt") } },
          { name: "fs__write_file", arguments: { path: join(workspace, "x.txt"), content: "no" } },
          { name: "flaky__echo", arguments: { text: "hi" } },
        ],
      },
      { chunks: ["done"] },
    ]);
    const id = await session();
    const response = await call(`/v3/sessions/${id}/turns`, { method: "POST", json: { text: "use the tools" } });
    expect(response.status).toBe(202);
    // flaky__echo has no rule: MCP tools ask by default.
    const request = await waitFor(async () => (await events(id)).find((event) => event.event === "permission.request"));
    expect(request).toMatchObject({ name: "flaky__echo", args: { text: "hi" } });
    await call(`/v3/sessions/${id}/permissions/${request.requestId}`, { method: "POST", json: { decision: "allow" } });
    const all = await waitFor(async () => {
      const found = await events(id);
      return found.some((event) => event.event === "turn.done") ? found : undefined;
    }, 15_000);
    const [read, write, echo] = results(all);
    expect(read).toMatchObject({ name: "fs__read_text_file", ok: true });
    expect(JSON.stringify(read!.result)).toContain("remember the milk");
    expect(write).toMatchObject({ name: "fs__write_file", ok: false });
    expect(String(write!.error)).toMatch(/denied/);
    expect(echo).toMatchObject({ name: "flaky__echo", ok: true, result: "echo: hi" });
    // The model was offered the tools under <server>__<tool> with the servers' input schemas.
    const offered = model.requests[0]!.body.tools as Array<{
      function: { name: string; parameters: Record<string, unknown> };
    }>;
    const readTool = offered.find((tool) => tool.function.name === "fs__read_text_file");
    expect(readTool?.function.parameters).toMatchObject({ type: "object", properties: { path: { type: "string" } } });
    expect(offered.map((tool) => tool.function.name)).toEqual(expect.arrayContaining(["read_file", "web__echo"]));
    expect(offered.map((tool) => tool.function.name)).not.toContain("silent__echo");
  });

  it("reports a server that crashes mid-call, restarts it, and carries errors and images into tool.result", async () => {
    model.setReplies([
      {
        toolCalls: [
          { name: "flaky__crash", arguments: {} },
          { name: "slow__hang", arguments: {} },
        ],
      },
      { chunks: ["ok"] },
    ]);
    const id = await session();
    const started = Date.now();
    const all = await runTurn(id, { text: "crash and hang", permission: "unrestricted" });
    const [crash, hang] = results(all);
    expect(crash).toMatchObject({ name: "flaky__crash", ok: false, code: "MCP_SERVER_CRASHED" });
    expect(String(crash!.error)).toContain("about to crash");
    expect(hang).toMatchObject({ name: "slow__hang", ok: false, code: "MCP_TIMEOUT" });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(all.at(-1)).toMatchObject({ event: "turn.done" });

    const flaky = await waitFor(async () => {
      const found = (await servers()).find((server) => server.name === "flaky");
      return found?.status === "ready" ? found : undefined;
    });
    expect(flaky.restarts).toBeGreaterThanOrEqual(1);

    model.setReplies([
      {
        toolCalls: [
          { name: "flaky__echo", arguments: { text: "back" } },
          { name: "flaky__fail", arguments: {} },
          { name: "flaky__image", arguments: {} },
          { name: "web__echo", arguments: { text: "over http" } },
        ],
      },
      { chunks: ["ok"] },
    ]);
    const next = results(await runTurn(id, { text: "again", permission: "unrestricted" }));
    expect(next[0]).toMatchObject({ ok: true, result: "echo: back" });
    expect(next[1]).toMatchObject({ ok: false, code: "MCP_TOOL_ERROR", error: "it went wrong on purpose" });
    const image = next[2]!.result as { content: Array<{ type: string; path?: string; mimeType?: string }> };
    expect(image.content[0]).toEqual({ type: "text", text: "one pixel" });
    expect(image.content[1]).toMatchObject({ type: "image", mimeType: "image/png" });
    const png = await readFile(image.content[1]!.path!);
    expect(png.subarray(1, 4).toString()).toBe("PNG");
    expect(next[3]).toMatchObject({ ok: true, result: "echo: over http" });
  });

  it("picks up project servers and config changes without a restart; test connects and calls nothing", async () => {
    await writeFile(
      join(workspace, ".opta", "mcp.yaml"),
      YAML.stringify({ servers: { proj: { command: [node, TEST_SERVER] } } }),
    );
    const servers1 = config.mcp as { servers: Record<string, unknown> };
    delete servers1.servers.missing;
    servers1.servers.late = { command: [node, TEST_SERVER] };
    await writeFile(join(home, "config.yaml"), YAML.stringify(config));
    const list = await waitFor(async () => {
      const found = await servers();
      const ready = (name: string) => found.find((server) => server.name === name)?.status === "ready";
      return ready("proj") && ready("late") ? found : undefined;
    });
    expect(list.find((server) => server.name === "proj")).toMatchObject({ scope: "project", toolCount: 5 });
    expect(list.map((server) => server.name)).not.toContain("missing");
    // Outside the project, its servers are not listed.
    expect((await servers(home)).map((server) => server.name)).not.toContain("proj");

    const tested = await call("/v3/mcp/servers/fs/test", { method: "POST", json: { cwd: workspace } });
    expect(tested.status).toBe(200);
    const body = (await tested.json()) as { ok: boolean; tools: Array<{ name: string; exposedAs: string }> };
    expect(body.ok).toBe(true);
    expect(body.tools).toContainEqual(
      expect.objectContaining({ name: "read_text_file", exposedAs: "fs__read_text_file" }),
    );
    const failed = (await (await call("/v3/mcp/servers/silent/test", { method: "POST", json: {} })).json()) as {
      ok: boolean;
      error: string;
    };
    expect(failed).toMatchObject({ ok: false });
    expect(failed.error).toMatch(/no answer/);
    const unknown = await call("/v3/mcp/servers/nope/test", { method: "POST", json: {} });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe("MCP_SERVER_NOT_FOUND");
  });
});
