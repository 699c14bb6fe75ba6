import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import {
  MCP_SERVER_NAME,
  McpProjectFile,
  type McpServerConfig,
  type McpServerScope,
  type OptaConfig,
} from "@opta/protocol";
import YAML from "yaml";
import { findProjectFile, type ProjectFileSearch } from "../permission/trust.js";

/** Seconds a tool call may take when the server's config names no `timeout`. */
export const DEFAULT_CALL_TIMEOUT_SECONDS = 60;

/** One server the daemon should run, resolved from a config file. */
export interface McpServerSpec {
  /** The configured name; tools are exposed as `<name>__<tool>` unless `prefixTools` is false. */
  name: string;
  scope: McpServerScope;
  transport: "stdio" | "http";
  /** stdio: program and arguments. */
  command?: string[];
  /** http: the streamable HTTP endpoint. */
  url?: string;
  /** stdio: extra environment (on top of a minimal safe one: PATH, HOME, USER, SHELL, TERM…). */
  env?: Record<string, string>;
  /** stdio: working directory (the project root for project servers). */
  cwd?: string;
  enabled: boolean;
  callTimeoutMs: number;
  /** The file that configures it. */
  file: string;
  /** False for a server whose tool names are already distinct (peekaboo's `browser_*`). */
  prefixTools: boolean;
  /** Tools the daemon uses itself and never offers to the model. */
  hiddenTools?: readonly string[];
  /** Set when the server cannot run at all (no browser for peekaboo); it is reported, never started. */
  unavailable?: string;
  /** Identity: a server whose key changes is stopped and started again. */
  key: string;
}

/** A config entry that cannot be used; reported in `opta mcp list` instead of crashing anything. */
export interface McpConfigProblem {
  name: string;
  scope: McpServerScope;
  file: string;
  error: string;
}

/** Turns `mcp.servers` (user) or `servers` (project) into specs, and reports entries that cannot run. */
export function specsFromServers(
  servers: Record<string, McpServerConfig> | undefined,
  scope: "user" | "project",
  file: string,
  cwd: string | undefined,
): { specs: McpServerSpec[]; problems: McpConfigProblem[] } {
  const specs: McpServerSpec[] = [];
  const problems: McpConfigProblem[] = [];
  for (const [name, config] of Object.entries(servers ?? {})) {
    const problem = (error: string) => problems.push({ name, scope, file, error });
    if (!MCP_SERVER_NAME.test(name)) {
      problem(`'${name}' is not a valid server name: use letters, digits, - and _ (no __), at most 40 characters`);
      continue;
    }
    if (name === "peekaboo") {
      problem("'peekaboo' is reserved for the built-in browser server (opta config set mcp.peekaboo true)");
      continue;
    }
    const hasCommand = (config.command?.length ?? 0) > 0;
    if (hasCommand === Boolean(config.url)) {
      problem(`give either a command (stdio) or a url (streamable HTTP), not ${hasCommand ? "both" : "neither"}`);
      continue;
    }
    if (config.url && !/^https?:\/\//.test(config.url)) {
      problem(`url '${config.url}' must start with http:// or https://`);
      continue;
    }
    specs.push(
      withKey({
        name,
        scope,
        transport: hasCommand ? "stdio" : "http",
        ...(hasCommand ? { command: config.command } : { url: config.url }),
        ...(config.env ? { env: config.env } : {}),
        ...(cwd ? { cwd } : {}),
        enabled: config.enabled !== false,
        callTimeoutMs: (config.timeout ?? DEFAULT_CALL_TIMEOUT_SECONDS) * 1000,
        file,
        prefixTools: true,
      }),
    );
  }
  return { specs, problems };
}

/** The user-scope servers of a config. */
export function userSpecs(config: OptaConfig, configFile: string) {
  return specsFromServers(config.mcp?.servers, "user", configFile, undefined);
}

/** Fills in `key` from everything that, when changed, needs a new connection. */
export function withKey(spec: Omit<McpServerSpec, "key">): McpServerSpec {
  const identity = JSON.stringify([
    spec.scope,
    spec.file,
    spec.name,
    spec.command,
    spec.url,
    spec.env,
    spec.cwd,
    spec.enabled,
    spec.unavailable,
  ]);
  return { ...spec, key: createHash("sha256").update(identity).digest("hex").slice(0, 16) };
}

/**
 * The project's MCP file for a cwd: the nearest `.opta/mcp.yaml` at or above it, not past the
 * repository root, under the same rule as `.opta/policy.yaml` (permission/trust.ts): a file
 * another user could write, or one above the cwd in a directory that is neither a repository nor
 * trusted (`opta trust DIR`), is `ignored` — it would start any command it names.
 */
export async function findProjectMcpFile(cwd: string, home: string): Promise<ProjectFileSearch> {
  return findProjectFile(cwd, "mcp.yaml", home);
}

/** Reads `.opta/mcp.yaml`; a broken file is one problem, not an exception. */
export async function loadProjectSpecs(
  file: string,
): Promise<{ specs: McpServerSpec[]; problems: McpConfigProblem[] }> {
  const root = dirname(dirname(file));
  let parsed: McpProjectFile;
  try {
    parsed = parseProjectFile(await readFile(file, "utf8"), file);
  } catch (error) {
    return { specs: [], problems: [{ name: "(file)", scope: "project", file, error: (error as Error).message }] };
  }
  return specsFromServers(parsed.servers, "project", file, root);
}

/** Parses `.opta/mcp.yaml` text; the error names the file and the bad key. */
export function parseProjectFile(text: string, file: string): McpProjectFile {
  let raw: unknown;
  try {
    raw = YAML.parse(text) ?? {};
  } catch (error) {
    throw new Error(`${file} is not valid YAML: ${(error as Error).message}`);
  }
  const result = McpProjectFile.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new Error(`${file}: '${issue.path.join(".") || "(root)"}' ${issue.message}`);
  }
  return result.data;
}
