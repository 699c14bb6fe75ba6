import { z } from "zod";
import { McpServerConfig } from "./config.js";

/** Where a server is configured: `config.yaml` (user), `.opta/mcp.yaml` (project), or built in (peekaboo). */
export const McpServerScope = z.enum(["user", "project", "builtin"]);
export type McpServerScope = z.infer<typeof McpServerScope>;

/**
 * A server's state: `starting` (connecting or restarting), `ready` (tools listed), `error` (start-up
 * failed or crashed; retried with backoff), `disabled` (`enabled: false`).
 */
export const McpServerStatus = z.enum(["starting", "ready", "error", "disabled"]);
export type McpServerStatus = z.infer<typeof McpServerStatus>;

/** One configured MCP server as `GET /v3/mcp/servers` reports it. */
export const McpServerInfo = z.object({
  /** The name tools are prefixed with: `<name>__<tool>`. */
  name: z.string(),
  scope: McpServerScope,
  /** `stdio` (a command the daemon starts) or `http` (streamable HTTP). */
  transport: z.enum(["stdio", "http"]),
  /** The command line or the URL. */
  target: z.string(),
  status: McpServerStatus,
  /** Tools the model sees from this server (0 unless ready). */
  toolCount: z.number().int().nonnegative(),
  /** Names of those tools as the model sees them. */
  tools: z.array(z.string()),
  /** Why the server is not ready, when it is not. */
  error: z.string().optional(),
  /** Restarts after a crash or a failed start since the daemon (or the config) last changed. */
  restarts: z.number().int().nonnegative(),
  /** When the next restart attempt is due (ISO time), while in `error`. */
  nextRetryAt: z.string().optional(),
  /** The project file that configures it (project scope). */
  file: z.string().optional(),
});
export type McpServerInfo = z.infer<typeof McpServerInfo>;

/** `GET /v3/mcp/servers?cwd=`: user servers plus the project servers of `cwd`. */
export const McpListQuery = z.object({ cwd: z.string().optional() }).strict();
export type McpListQuery = z.infer<typeof McpListQuery>;

export const McpListResponse = z.object({ servers: z.array(McpServerInfo) });
export type McpListResponse = z.infer<typeof McpListResponse>;

/** `POST /v3/mcp/servers/:name/test`: connects afresh, lists tools, calls none. */
export const McpTestRequest = z.object({ cwd: z.string().optional() }).strict();
export type McpTestRequest = z.infer<typeof McpTestRequest>;

export const McpTestResponse = z.object({
  name: z.string(),
  scope: McpServerScope,
  ok: z.boolean(),
  /** The tools the server offers, by their MCP names, and as the model would see them. */
  tools: z.array(z.object({ name: z.string(), exposedAs: z.string(), description: z.string().optional() })),
  /** `name version` the server reported in its handshake. */
  server: z.string().optional(),
  elapsedMs: z.number().nonnegative(),
  error: z.string().optional(),
});
export type McpTestResponse = z.infer<typeof McpTestResponse>;

/** `.opta/mcp.yaml`: the project's MCP servers, same shape as `mcp.servers` in config.yaml. */
export const McpProjectFile = z
  .object({
    servers: z.record(z.string(), McpServerConfig).optional(),
  })
  .strict();
export type McpProjectFile = z.infer<typeof McpProjectFile>;

/** A valid server name: letters, digits, `-` and `_` (no `__`, which separates server and tool). */
export const MCP_SERVER_NAME = /^(?!.*__)[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/;
