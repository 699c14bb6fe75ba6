import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { ConfigError, loadConfig, optaPaths } from "@opta/local";
import type { McpServerInfo, McpTestResponse, OptaConfig, Risk } from "@opta/protocol";
import type { AgentTool } from "../agent/agent-loop.js";
import { findBrowser } from "../browser/check-browser.js";
import { noSandboxReason, PEEKABOO_MAIN } from "../browser/index.js";
import { LOOP_META_KEY, SESSION_META_KEY } from "../browser/meta.js";
import type { Logger } from "../log/logger.js";
import type { ToolContext, ToolOutcome } from "../tool/index.js";
import {
  DEFAULT_CALL_TIMEOUT_SECONDS,
  findProjectMcpFile,
  loadProjectSpecs,
  type McpConfigProblem,
  type McpServerSpec,
  userSpecs,
  withKey,
} from "./config.js";
import { DEFAULT_TIMINGS, McpCallError, McpConnection, type McpTimings, probeServer } from "./connection.js";
import { exposedToolName } from "./names.js";
import { toToolOutcome } from "./result.js";

/** Name of the built-in browser server. */
export const PEEKABOO = "peekaboo";
/** Peekaboo tools the daemon calls itself and never offers the model. */
const PEEKABOO_HIDDEN = ["browser_close"];
/** `opta mcp list` waits this long for servers on their first start (an HTTP request must not time out). */
const LIST_WAIT_MS = 10_000;
/** `opta mcp test` gives up after this long. */
const TEST_TIMEOUT_MS = 20_000;

export interface McpManagerOptions {
  /** The Opta home: config.yaml, browser-snapshots/, mcp-media/. */
  home: string;
  logger: Logger;
  /** Reads OPTA_MCP_STARTUP_TIMEOUT_MS, OPTA_MCP_BACKOFF_MS, OPTA_BROWSER and OPTA_BROWSER_NO_SANDBOX. */
  env?: NodeJS.ProcessEnv;
  timings?: Partial<McpTimings>;
}

interface SpecSet {
  specs: McpServerSpec[];
  problems: McpConfigProblem[];
}

/**
 * Every MCP server of the daemon: user servers (`mcp.servers` in config.yaml), project servers
 * (`.opta/mcp.yaml`, started the first time a session or `opta mcp list` uses that project) and the
 * built-in browser (`mcp.peekaboo`). Config changes are picked up on the next turn, list or test —
 * and whenever the daemon reloads its config — without a restart.
 */
export class McpManager {
  private readonly connections = new Map<string, McpConnection>();
  private readonly timings: McpTimings;
  private readonly env: NodeJS.ProcessEnv;
  private readonly paths;
  private user: SpecSet = { specs: [], problems: [] };
  private userConfigMtime = -2;
  private readonly projects = new Map<string, SpecSet & { mtimeMs: number }>();
  /** Project MCP files already reported as ignored (untrusted or writable by others), warned once. */
  private readonly ignoredProjectFiles = new Set<string>();
  /** Turns that used the browser: closed when the turn ends, so the next loop starts fresh. */
  private readonly browserLoops = new Map<string, { sessionId: string; turnId: string }>();
  private stopped = false;

  constructor(private readonly options: McpManagerOptions) {
    this.env = options.env ?? process.env;
    this.paths = optaPaths(options.home);
    const fromEnv = (name: string) => {
      const value = Number(this.env[name]);
      return value > 0 ? value : undefined;
    };
    const backoff = fromEnv("OPTA_MCP_BACKOFF_MS");
    this.timings = {
      ...DEFAULT_TIMINGS,
      ...(fromEnv("OPTA_MCP_STARTUP_TIMEOUT_MS") ? { startupTimeoutMs: fromEnv("OPTA_MCP_STARTUP_TIMEOUT_MS")! } : {}),
      ...(backoff ? { backoffInitialMs: backoff } : {}),
      ...options.timings,
    };
  }

  /** Applies a (re)loaded config.yaml: starts new user servers, stops removed or changed ones. */
  applyConfig(config: OptaConfig): void {
    const user = userSpecs(config, this.paths.config);
    if (config.mcp?.peekaboo === true) user.specs.push(this.peekabooSpec());
    this.user = user;
    this.sync();
  }

  /** The tools of every ready server for a session in `cwd`, waiting (bounded) for servers still starting. */
  async tools(cwd: string): Promise<AgentTool[]> {
    const connections = await this.prepare(cwd);
    const tools: AgentTool[] = [];
    const taken = new Set<string>();
    for (const connection of connections) {
      if (connection.status !== "ready") continue;
      for (const tool of visibleTools(connection.spec, connection.tools)) {
        const name = exposedToolName(connection.spec.prefixTools ? connection.spec.name : undefined, tool.name);
        if (taken.has(name)) continue;
        taken.add(name);
        tools.push(this.agentTool(connection, tool, name));
      }
    }
    return tools;
  }

  /** Status and tools of the user servers plus the project servers of `cwd`. */
  async list(cwd?: string): Promise<McpServerInfo[]> {
    const connections = await this.prepare(cwd, { waitMs: LIST_WAIT_MS });
    const infos: McpServerInfo[] = connections.map((connection) => this.info(connection));
    const file = cwd ? (await findProjectMcpFile(cwd, this.options.home)).file : undefined;
    const problems = [...this.user.problems, ...((file && this.projects.get(file)?.problems) || [])];
    for (const problem of problems) {
      infos.push({
        name: problem.name,
        scope: problem.scope,
        transport: "stdio",
        target: "",
        status: "error",
        toolCount: 0,
        tools: [],
        error: problem.error,
        restarts: 0,
        file: problem.file,
      });
    }
    return infos;
  }

  /** Connects to one server afresh, lists its tools, calls none; undefined when no server has that name. */
  async test(name: string, cwd?: string): Promise<McpTestResponse | undefined> {
    const connections = await this.prepare(cwd, { waitMs: 0 });
    const spec = connections.find((connection) => connection.spec.name === name)?.spec;
    if (!spec) return undefined;
    const probe = await probeServer(spec, Math.min(this.timings.startupTimeoutMs, TEST_TIMEOUT_MS));
    return {
      name,
      scope: spec.scope,
      ok: probe.ok,
      tools: visibleTools(spec, probe.tools).map((tool) => ({
        name: tool.name,
        exposedAs: exposedToolName(spec.prefixTools ? spec.name : undefined, tool.name),
        ...(tool.description ? { description: tool.description } : {}),
      })),
      ...(probe.server ? { server: probe.server } : {}),
      elapsedMs: probe.elapsedMs,
      ...(probe.error ? { error: probe.error } : {}),
    };
  }

  /** Called when an agent loop ends: its browser (if it opened one) is closed and its profile deleted. */
  turnEnded(turn: { sessionId: string; turnId: string }): void {
    const key = `${turn.sessionId}\u0000${turn.turnId}`;
    if (!this.browserLoops.delete(key)) return;
    const peekaboo = [...this.connections.values()].find((connection) => connection.spec.scope === "builtin");
    if (peekaboo?.status !== "ready") return;
    void peekaboo
      .callTool("browser_close", {}, { signal: AbortSignal.timeout(15_000), meta: loopMeta(turn) })
      .catch((error: Error) => this.options.logger.debug("mcp", `browser_close: ${error.message}`));
  }

  /** Stops every server (daemon shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(all.map((connection) => connection.close()));
  }

  /** Re-reads config.yaml and the project file when they changed, syncs, and returns the servers for `cwd`. */
  private async prepare(cwd: string | undefined, options: { waitMs?: number } = {}): Promise<McpConnection[]> {
    await this.refreshUserConfig();
    const file = cwd ? await this.refreshProject(cwd) : undefined;
    const connections = this.effective(file);
    const waitMs = options.waitMs ?? this.timings.startupTimeoutMs;
    if (waitMs > 0) {
      // First start only: a server that crashed and is restarting is not worth holding a turn for.
      await Promise.all(
        connections
          .filter((connection) => connection.status === "starting" && connection.restarts === 0)
          .map((connection) => connection.settled(waitMs)),
      );
    }
    return connections;
  }

  private async refreshUserConfig(): Promise<void> {
    const mtimeMs = await stat(this.paths.config).then(
      (info) => info.mtimeMs,
      () => -1,
    );
    if (mtimeMs === this.userConfigMtime) return;
    this.userConfigMtime = mtimeMs;
    try {
      this.applyConfig(await loadConfig(this.paths.config));
    } catch (error) {
      // A broken config.yaml keeps the servers that are running; the daemon logs a ConfigError itself.
      if (!(error instanceof ConfigError)) {
        this.options.logger.warn("mcp", `Could not read ${this.paths.config}: ${(error as Error).message}`);
      }
    }
  }

  private async refreshProject(cwd: string): Promise<string | undefined> {
    const { file, ignored } = await findProjectMcpFile(cwd, this.options.home);
    if (ignored && !this.ignoredProjectFiles.has(ignored.file)) {
      this.ignoredProjectFiles.add(ignored.file);
      this.options.logger.warn("mcp", `${ignored.file}: ${ignored.message}`);
    }
    if (!file) return undefined;
    const mtimeMs = await stat(file).then(
      (info) => info.mtimeMs,
      () => -1,
    );
    const known = this.projects.get(file);
    if (known?.mtimeMs === mtimeMs) return file;
    const loaded = await loadProjectSpecs(file);
    for (const problem of loaded.problems) {
      this.options.logger.warn("mcp", `${problem.file}: ${problem.name}: ${problem.error}`);
    }
    this.projects.set(file, { ...loaded, mtimeMs });
    this.sync();
    return file;
  }

  /** Starts connections for specs that are new, closes those whose spec is gone. */
  private sync(): void {
    if (this.stopped) return;
    const wanted = new Map<string, McpServerSpec>();
    for (const spec of this.user.specs) wanted.set(spec.key, spec);
    for (const project of this.projects.values()) for (const spec of project.specs) wanted.set(spec.key, spec);
    for (const [key, connection] of this.connections) {
      if (wanted.has(key)) continue;
      this.connections.delete(key);
      this.options.logger.info("mcp", `MCP server '${connection.spec.name}' removed or changed; stopping it`);
      void connection.close();
    }
    for (const [key, spec] of wanted) {
      if (this.connections.has(key)) continue;
      this.connections.set(key, new McpConnection(spec, this.options.logger, this.timings));
    }
  }

  /** User servers (minus those a project server of the same name overrides), then the project's. */
  private effective(projectFile: string | undefined): McpConnection[] {
    const project = projectFile ? (this.projects.get(projectFile)?.specs ?? []) : [];
    const projectNames = new Set(project.map((spec) => spec.name));
    const keys = [
      ...this.user.specs.filter((spec) => !projectNames.has(spec.name)).map((spec) => spec.key),
      ...project.map((spec) => spec.key),
    ];
    return keys.flatMap((key) => {
      const connection = this.connections.get(key);
      return connection ? [connection] : [];
    });
  }

  private peekabooSpec(): McpServerSpec {
    const browser = findBrowser(this.env);
    return withKey({
      name: PEEKABOO,
      scope: "builtin",
      transport: "stdio",
      command: peekabooCommand({ browser: browser.path ?? "", outputDir: this.paths.browserSnapshots, env: this.env }),
      enabled: true,
      callTimeoutMs: DEFAULT_CALL_TIMEOUT_SECONDS * 1000,
      file: this.paths.config,
      prefixTools: false,
      hiddenTools: PEEKABOO_HIDDEN,
      ...(browser.available ? {} : { unavailable: browser.hint ?? "no browser found" }),
    });
  }

  private agentTool(connection: McpConnection, tool: Tool, name: string): AgentTool {
    const { spec } = connection;
    const isBrowser = spec.scope === "builtin";
    return {
      name,
      description: tool.description?.trim() || `${tool.name} (a tool of the MCP server '${spec.name}')`,
      inputSchema: modelSchema(tool.inputSchema),
      kind: "mcp",
      risk: riskOf(tool),
      run: async (args: unknown, ctx: ToolContext): Promise<ToolOutcome> => {
        const meta = isBrowser && ctx.turn ? loopMeta(ctx.turn) : undefined;
        if (meta && ctx.turn) {
          this.browserLoops.set(`${ctx.turn.sessionId}\u0000${ctx.turn.turnId}`, ctx.turn);
        }
        try {
          const result = await connection.callTool(tool.name, args as Record<string, unknown>, {
            signal: ctx.signal,
            ...(meta ? { meta } : {}),
          });
          return await toToolOutcome(result, join(this.options.home, "mcp-media"), name);
        } catch (error) {
          if (error instanceof McpCallError) return { ok: false, code: error.code, error: error.message };
          return { ok: false, code: "MCP_ERROR", error: (error as Error).message };
        }
      },
    };
  }

  private info(connection: McpConnection): McpServerInfo {
    const { spec } = connection;
    const visible = visibleTools(spec, connection.tools);
    return {
      name: spec.name,
      scope: spec.scope,
      transport: spec.transport,
      target:
        spec.transport === "http"
          ? spec.url!
          : spec.scope === "builtin"
            ? `headless ${spec.command?.[3] || "browser"}`
            : (spec.command ?? []).map(quoteWord).join(" "),
      status: connection.status,
      toolCount: connection.status === "ready" ? visible.length : 0,
      tools:
        connection.status === "ready"
          ? visible.map((tool) => exposedToolName(spec.prefixTools ? spec.name : undefined, tool.name))
          : [],
      ...(connection.error && connection.status !== "ready" ? { error: connection.error } : {}),
      restarts: connection.restarts,
      ...(connection.status === "error" && connection.nextRetryAt
        ? { nextRetryAt: new Date(connection.nextRetryAt).toISOString() }
        : {}),
      ...(spec.scope === "project" ? { file: spec.file } : {}),
    };
  }
}

/**
 * How the daemon starts peekaboo. Stdio servers do not inherit the daemon's environment, so
 * OPTA_BROWSER_NO_SANDBOX travels as `--no-sandbox`; running as root peekaboo detects itself (it
 * runs as the daemon's user).
 */
export function peekabooCommand(options: { browser: string; outputDir: string; env: NodeJS.ProcessEnv }): string[] {
  return [
    process.execPath,
    PEEKABOO_MAIN,
    "--browser",
    options.browser,
    "--output-dir",
    options.outputDir,
    ...(noSandboxReason({ uid: undefined, env: options.env }) ? ["--no-sandbox"] : []),
  ];
}

/** The tools a server offers to the model and shows in `list` and `test`: all but its hidden ones. */
function visibleTools(spec: McpServerSpec, tools: readonly Tool[]): Tool[] {
  return tools.filter((tool) => !spec.hiddenTools?.includes(tool.name));
}

function loopMeta(turn: { sessionId: string; turnId: string }): Record<string, unknown> {
  return { [LOOP_META_KEY]: turn.turnId, [SESSION_META_KEY]: turn.sessionId };
}

/** The risk shown next to an approval prompt, from the server's own hints. */
function riskOf(tool: Tool): Risk {
  if (tool.annotations?.readOnlyHint) return tool.annotations.openWorldHint ? "network" : "read";
  if (tool.annotations?.openWorldHint) return "network";
  return "execute";
}

/** An MCP input schema in the shape OpenAI-compatible servers accept: an object with properties. */
function modelSchema(schema: Tool["inputSchema"]): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = schema as Record<string, unknown>;
  return { ...rest, type: "object", properties: (rest.properties as Record<string, unknown> | undefined) ?? {} };
}

function quoteWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}
