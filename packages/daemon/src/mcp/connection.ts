import type { Readable } from "node:stream";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  type CallToolResult,
  ErrorCode,
  McpError,
  type Tool,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import type { McpServerStatus } from "@opta/protocol";
import type { Logger } from "../log/logger.js";
import { DAEMON_VERSION } from "../version.js";
import type { McpServerSpec } from "./config.js";

/** How long start-up, restarts and retries may take. */
export interface McpTimings {
  /** Connect + initialize + list tools (default 30 s: `npx` may need to download the server). */
  startupTimeoutMs: number;
  /** First restart delay after a crash or failed start; doubles each time (default 1 s). */
  backoffInitialMs: number;
  /** Longest restart delay (default 60 s). */
  backoffMaxMs: number;
}

export const DEFAULT_TIMINGS: McpTimings = { startupTimeoutMs: 30_000, backoffInitialMs: 1000, backoffMaxMs: 60_000 };

/** A connection that stayed up this long resets the backoff, so a rare crash restarts at once. */
const STABLE_AFTER_MS = 30_000;
/** The last stderr kept for error messages. */
const STDERR_TAIL = 2000;

/** A failure of one call, with a code the agent loop puts in the tool result. */
export class McpCallError extends Error {
  constructor(
    readonly code: "MCP_TIMEOUT" | "MCP_SERVER_CRASHED" | "MCP_UNAVAILABLE" | "MCP_ERROR" | "ABORTED",
    message: string,
  ) {
    super(message);
    this.name = "McpCallError";
  }
}

/**
 * One MCP server: connects over stdio or streamable HTTP, lists its tools, and comes back by itself.
 * A failed start or a crash puts it in `error` and schedules a restart with exponential backoff; no
 * failure of a server ever throws out of this class into the daemon.
 */
export class McpConnection {
  status: McpServerStatus = "starting";
  tools: Tool[] = [];
  error: string | undefined;
  /** Restarts after crashes or failed starts. */
  restarts = 0;
  nextRetryAt: number | undefined;
  private client: Client | undefined;
  private attempt = 0;
  private generation = 0;
  private connectedAt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private stderrTail = "";
  private settledWaiters: Array<() => void> = [];

  constructor(
    readonly spec: McpServerSpec,
    private readonly logger: Logger,
    private readonly timings: McpTimings = DEFAULT_TIMINGS,
  ) {
    if (spec.unavailable) {
      this.status = "error";
      this.error = spec.unavailable;
    } else if (!spec.enabled) {
      this.status = "disabled";
    } else {
      void this.connect();
    }
  }

  /** Resolves once the server is no longer `starting`, or after `timeoutMs`. */
  settled(timeoutMs: number): Promise<void> {
    if (this.status !== "starting") return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      const self = this;
      function done() {
        clearTimeout(timer);
        self.settledWaiters = self.settledWaiters.filter((waiter) => waiter !== done);
        resolve();
      }
      this.settledWaiters.push(done);
    });
  }

  /** Calls one tool. Throws McpCallError on timeout, crash, cancel or a protocol error. */
  async callTool(
    name: string,
    args: Record<string, unknown>,
    options: { signal: AbortSignal; meta?: Record<string, unknown> },
  ): Promise<CallToolResult> {
    const client = this.client;
    if (this.status !== "ready" || !client) {
      throw new McpCallError(
        "MCP_UNAVAILABLE",
        `MCP server '${this.spec.name}' is not connected (${this.describeState()}); try again later or check it with 'opta mcp test ${this.spec.name}'`,
      );
    }
    const generation = this.generation;
    try {
      const result = await client.callTool(
        { name, arguments: args, ...(options.meta ? { _meta: options.meta } : {}) },
        undefined,
        {
          signal: options.signal,
          timeout: this.spec.callTimeoutMs,
          maxTotalTimeout: this.spec.callTimeoutMs,
        },
      );
      return result as CallToolResult;
    } catch (error) {
      if (options.signal.aborted) throw new McpCallError("ABORTED", "cancelled while the MCP server was working");
      if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) {
        throw new McpCallError(
          "MCP_TIMEOUT",
          `MCP server '${this.spec.name}' did not answer ${name} within ${this.spec.callTimeoutMs / 1000}s (raise 'timeout' in its config if it needs longer)`,
        );
      }
      const closed =
        (error instanceof McpError && error.code === ErrorCode.ConnectionClosed) ||
        generation !== this.generation ||
        this.status !== "ready";
      if (closed) {
        // Let the close handler record the crash first, so the message can say what happened.
        await new Promise((resolve) => setImmediate(resolve));
        throw new McpCallError(
          "MCP_SERVER_CRASHED",
          `MCP server '${this.spec.name}' stopped during ${name}${this.stderrSuffix()}; it is being restarted — try again in a moment`,
        );
      }
      if (this.spec.transport === "http" && error instanceof TypeError) {
        this.fail(generation, `lost the connection: ${error.message}`);
        throw new McpCallError("MCP_SERVER_CRASHED", `MCP server '${this.spec.name}' is unreachable: ${error.message}`);
      }
      throw new McpCallError(
        "MCP_ERROR",
        `MCP server '${this.spec.name}' refused ${name}: ${(error as Error).message}`,
      );
    }
  }

  /** Stops the server for good (config removed or changed, daemon stopping). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.generation += 1;
    const client = this.client;
    this.client = undefined;
    this.status = "disabled";
    this.wake();
    await client?.close().catch(() => {});
  }

  /** One human phrase for the current state. */
  describeState(): string {
    if (this.status === "ready") return `ready, ${this.tools.length} tools`;
    if (this.status === "disabled") return "disabled";
    if (this.status === "starting") return "starting";
    const retry =
      this.nextRetryAt !== undefined
        ? `; retrying in ${Math.max(0, Math.round((this.nextRetryAt - Date.now()) / 1000))}s`
        : "";
    return `${this.error ?? "failed"}${retry}`;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const generation = ++this.generation;
    this.status = "starting";
    this.nextRetryAt = undefined;
    this.stderrTail = "";
    const sdk = await loadSdk();
    if (this.closed || generation !== this.generation) return;
    const client = new sdk.Client({ name: "opta-daemon", version: DAEMON_VERSION }, { capabilities: {} });
    let transport: Transport;
    try {
      transport = createTransport(sdk, this.spec, (chunk) => {
        this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL);
      });
    } catch (error) {
      this.fail(generation, (error as Error).message);
      return;
    }
    client.onclose = () => {
      // During start-up the pending initialize/list request fails and connect() reports it.
      if (generation !== this.generation || this.closed || this.status !== "ready") return;
      if (Date.now() - this.connectedAt > STABLE_AFTER_MS) this.attempt = 0;
      this.fail(generation, `the server exited${this.stderrSuffix()}`);
    };
    client.onerror = (error) => {
      this.logger.debug("mcp", `MCP server '${this.spec.name}': ${error.message}`);
    };
    this.client = client;
    const deadline = AbortSignal.timeout(this.timings.startupTimeoutMs);
    try {
      await client.connect(transport, { timeout: this.timings.startupTimeoutMs, signal: deadline });
      const tools = await listAllTools(client, deadline, this.timings.startupTimeoutMs);
      if (generation !== this.generation) return;
      client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
        try {
          const fresh = await listAllTools(
            client,
            AbortSignal.timeout(this.timings.startupTimeoutMs),
            this.timings.startupTimeoutMs,
          );
          if (generation === this.generation) this.tools = fresh;
        } catch (error) {
          this.logger.warn(
            "mcp",
            `MCP server '${this.spec.name}': could not re-list tools: ${(error as Error).message}`,
          );
        }
      });
      this.tools = tools;
      this.status = "ready";
      this.error = undefined;
      this.connectedAt = Date.now();
      const version = client.getServerVersion();
      this.logger.info(
        "mcp",
        `MCP server '${this.spec.name}' ready · ${tools.length} tools${version ? ` · ${version.name} ${version.version}` : ""}`,
      );
      this.wake();
    } catch (error) {
      if (generation !== this.generation) return;
      const timedOut = deadline.aborted || (error instanceof McpError && error.code === ErrorCode.RequestTimeout);
      const message = timedOut
        ? `no answer within ${this.timings.startupTimeoutMs / 1000}s of starting${this.stderrSuffix()}`
        : `${startupMessage(error, this.spec)}${this.stderrSuffix()}`;
      this.fail(generation, message);
    }
  }

  /** Records a failure of this generation and schedules the next attempt. */
  private fail(generation: number, message: string): void {
    if (generation !== this.generation || this.closed) return;
    this.generation += 1;
    const client = this.client;
    this.client = undefined;
    void client?.close().catch(() => {});
    this.status = "error";
    this.error = message;
    this.tools = [];
    const delay = Math.min(this.timings.backoffMaxMs, this.timings.backoffInitialMs * 2 ** this.attempt);
    this.attempt += 1;
    this.nextRetryAt = Date.now() + delay;
    this.logger.warn(
      "mcp",
      `MCP server '${this.spec.name}': ${message}; restarting in ${Math.round(delay / 100) / 10}s`,
    );
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.restarts += 1;
      void this.connect();
    }, delay);
    this.retryTimer.unref();
    this.wake();
  }

  private wake(): void {
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const waiter of waiters) waiter();
  }

  private stderrSuffix(): string {
    const tail = this.stderrTail.trim().split("\n").slice(-3).join(" | ").slice(-400);
    return tail ? ` (stderr: ${tail})` : "";
  }
}

function startupMessage(error: unknown, spec: McpServerSpec): string {
  const failure = error as NodeJS.ErrnoException;
  if (failure.code === "ENOENT" && spec.transport === "stdio") {
    return `could not start '${spec.command![0]}': command not found`;
  }
  if (failure.code === "EACCES" && spec.transport === "stdio") {
    return `could not start '${spec.command![0]}': permission denied`;
  }
  if (spec.transport === "http") {
    const cause = (failure as { cause?: { message?: string } }).cause?.message;
    return `could not reach ${spec.url}: ${failure.message}${cause ? ` (${cause})` : ""}`;
  }
  return `could not start: ${failure.message ?? String(error)}`;
}

/** The parts of the MCP SDK the client uses. */
interface McpSdk {
  Client: typeof Client;
  StdioClientTransport: typeof StdioClientTransport;
  StreamableHTTPClientTransport: typeof StreamableHTTPClientTransport;
}

let sdkLoading: Promise<McpSdk> | undefined;

/** Loads the MCP SDK when the first server connects: a daemon with no MCP server never pays its memory. */
function loadSdk(): Promise<McpSdk> {
  sdkLoading ??= Promise.all([
    import("@modelcontextprotocol/sdk/client/index.js"),
    import("@modelcontextprotocol/sdk/client/stdio.js"),
    import("@modelcontextprotocol/sdk/client/streamableHttp.js"),
  ]).then(([client, stdio, http]) => ({
    Client: client.Client,
    StdioClientTransport: stdio.StdioClientTransport,
    StreamableHTTPClientTransport: http.StreamableHTTPClientTransport,
  }));
  return sdkLoading;
}

/** A stdio transport (stderr piped to `onStderr`) or a streamable HTTP one. */
function createTransport(sdk: McpSdk, spec: McpServerSpec, onStderr: (text: string) => void): Transport {
  if (spec.transport === "http") return new sdk.StreamableHTTPClientTransport(new URL(spec.url!));
  const [command, ...args] = spec.command!;
  const transport = new sdk.StdioClientTransport({
    command: command!,
    args,
    ...(spec.env ? { env: spec.env } : {}),
    ...(spec.cwd ? { cwd: spec.cwd } : {}),
    stderr: "pipe",
  });
  (transport.stderr as Readable | null)?.on("data", (chunk: Buffer) => onStderr(chunk.toString("utf8")));
  return transport;
}

/** Every tool of a server, following `nextCursor` pages. */
async function listAllTools(client: Client, signal: AbortSignal, timeout: number): Promise<Tool[]> {
  const tools: Tool[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page += 1) {
    const result = await client.listTools(cursor ? { cursor } : {}, { signal, timeout });
    tools.push(...result.tools);
    cursor = result.nextCursor;
    if (!cursor) break;
  }
  return tools;
}

/** What a one-off connection (`opta mcp test`) found. */
export interface ProbeResult {
  ok: boolean;
  tools: Tool[];
  server?: string;
  error?: string;
  elapsedMs: number;
}

/** Connects once, lists the tools, calls nothing, and disconnects. Never throws. */
export async function probeServer(spec: McpServerSpec, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  if (spec.unavailable) return { ok: false, tools: [], error: spec.unavailable, elapsedMs: 0 };
  let stderr = "";
  const sdk = await loadSdk();
  const client = new sdk.Client({ name: "opta-daemon", version: DAEMON_VERSION }, { capabilities: {} });
  const deadline = AbortSignal.timeout(timeoutMs);
  const suffix = () => {
    const tail = stderr.trim().split("\n").slice(-3).join(" | ").slice(-400);
    return tail ? ` (stderr: ${tail})` : "";
  };
  try {
    const transport = createTransport(sdk, spec, (chunk) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL);
    });
    await client.connect(transport, { timeout: timeoutMs, signal: deadline });
    const tools = await listAllTools(client, deadline, timeoutMs);
    const version = client.getServerVersion();
    return {
      ok: true,
      tools,
      ...(version ? { server: `${version.name} ${version.version}` } : {}),
      elapsedMs: elapsed(),
    };
  } catch (error) {
    const timedOut = deadline.aborted || (error instanceof McpError && error.code === ErrorCode.RequestTimeout);
    return {
      ok: false,
      tools: [],
      error: timedOut
        ? `no answer within ${timeoutMs / 1000}s${suffix()}`
        : `${startupMessage(error, spec)}${suffix()}`,
      elapsedMs: elapsed(),
    };
  } finally {
    await client.close().catch(() => {});
  }
}
