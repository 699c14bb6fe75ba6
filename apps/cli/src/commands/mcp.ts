import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { loadConfig, optaPaths, saveConfig } from "@opta/local";
import { MCP_SERVER_NAME, McpProjectFile, type McpServerConfig } from "@opta/protocol";
import YAML from "yaml";
import { connect, optaHome } from "../connection.js";
import { CliError, UsageError } from "../output/errors.js";
import { dim, green, print, red, table, truncate, yellow } from "../output/terminal.js";

const userConfigPath = () => optaPaths(optaHome()).config;
const projectFilePath = () => join(process.cwd(), ".opta", "mcp.yaml");

/** `opta mcp list [--json]`: user servers plus this directory's project servers, with status and tool count. */
export async function list(options: { json?: boolean } = {}): Promise<number> {
  const client = await connect();
  const { servers } = await client.mcpServers({ cwd: process.cwd() });
  if (options.json) {
    print(JSON.stringify(servers, null, 2));
    return 0;
  }
  if (servers.length === 0) {
    print("No MCP servers. Add one with `opta mcp add NAME -- COMMAND ARGS…` or `opta mcp add NAME --url URL`.");
    return 0;
  }
  const paint = (status: string) =>
    status === "ready"
      ? green(status)
      : status === "error"
        ? red(status)
        : status === "starting"
          ? yellow(status)
          : dim(status);
  table(
    ["NAME", "SCOPE", "STATUS", "TOOLS", "TARGET"],
    servers.map((server) => [
      server.name,
      server.scope,
      paint(server.status),
      server.status === "ready" ? String(server.toolCount) : "-",
      truncate(server.target, 60),
    ]),
  );
  for (const server of servers.filter((each) => each.error)) {
    const retry = server.nextRetryAt ? ` (retrying, ${server.restarts} restarts so far)` : "";
    print(dim(`${server.name}: ${server.error}${retry}`));
  }
  return 0;
}

/**
 * `opta mcp add NAME -- COMMAND ARGS…` (stdio) or `opta mcp add NAME --url URL` (streamable HTTP).
 * Writes config.yaml (or `.opta/mcp.yaml` with --project); the daemon picks it up by itself.
 */
export async function add(
  name: string,
  command: string[] = [],
  options: { url?: string; env?: string[]; project?: boolean } = {},
): Promise<number> {
  checkName(name);
  if (command.length > 0 && options.url) throw new UsageError("give either a command (after --) or --url, not both");
  if (command.length === 0 && !options.url) {
    throw new UsageError(
      "say how to reach the server: `opta mcp add NAME -- COMMAND ARGS…` or `opta mcp add NAME --url URL`",
    );
  }
  if (options.url && !/^https?:\/\/[^/]/.test(options.url)) {
    throw new UsageError(`--url must be an http:// or https:// URL, got '${options.url}'`);
  }
  if (options.env && options.url) throw new UsageError("--env only applies to a stdio server (a command)");
  const entry: McpServerConfig = options.url ? { url: options.url } : { command };
  if (options.env?.length) entry.env = parseEnv(options.env);

  let file: string;
  if (options.project) {
    file = projectFilePath();
    const document = await readProjectDocument(file);
    if (document.hasIn(["servers", name])) throw exists(name, file, true);
    document.setIn(["servers", name], entry);
    await writeProjectDocument(file, document);
  } else {
    file = userConfigPath();
    const config = await loadConfig(file);
    if (config.mcp?.servers?.[name]) throw exists(name, file, false);
    await saveConfig(file, { ...config, mcp: { ...config.mcp, servers: { ...config.mcp?.servers, [name]: entry } } });
  }
  const what = options.url ? `streamable HTTP server ${options.url}` : `stdio server \`${command.join(" ")}\``;
  print(`Added ${name}: ${what} ${dim(`(${file})`)}`);
  print(
    dim(
      `Its tools appear as ${name}__<tool> and ask before running unless a policy allows them. Check it with \`opta mcp test ${name}\`.`,
    ),
  );
  return 0;
}

/** `opta mcp test NAME`: the daemon connects afresh and lists the tools, calling none. Exit 1 when it cannot connect. */
export async function test(name: string): Promise<number> {
  const client = await connect();
  const result = await client.testMcpServer(name, { cwd: process.cwd() });
  if (!result.ok) {
    print(`${red("✗")} ${name}: ${result.error ?? "could not connect"} ${dim(`(${result.elapsedMs} ms)`)}`);
    return 1;
  }
  print(
    `${green("✓")} ${name}${result.server ? ` (${result.server})` : ""} · ${result.tools.length} tool${result.tools.length === 1 ? "" : "s"} · ${result.elapsedMs} ms`,
  );
  for (const tool of result.tools) {
    print(`  ${tool.exposedAs}${tool.description ? dim(`  ${truncate(tool.description, 80)}`) : ""}`);
  }
  return 0;
}

/** `opta mcp remove NAME [--project]`. */
export async function remove(name: string, options: { project?: boolean } = {}): Promise<number> {
  if (options.project) {
    const file = projectFilePath();
    const document = await readProjectDocument(file);
    if (!document.hasIn(["servers", name])) throw new CliError(`no MCP server '${name}' in ${file}`);
    document.deleteIn(["servers", name]);
    await writeProjectDocument(file, document);
    print(`Removed ${name} ${dim(`(${file})`)}`);
    return 0;
  }
  const file = userConfigPath();
  const config = await loadConfig(file);
  if (!config.mcp?.servers?.[name]) {
    const inProject = (await readProjectDocument(projectFilePath()).catch(() => undefined))?.hasIn(["servers", name]);
    throw new CliError(
      inProject
        ? `'${name}' is a project server (${projectFilePath()}); remove it with \`opta mcp remove ${name} --project\``
        : `no MCP server '${name}' in ${file} (see \`opta mcp list\`)`,
    );
  }
  const { [name]: _removed, ...servers } = config.mcp.servers;
  await saveConfig(file, { ...config, mcp: { ...config.mcp, servers } });
  print(`Removed ${name} ${dim(`(${file})`)}`);
  return 0;
}

function checkName(name: string): void {
  if (name === "peekaboo") {
    throw new UsageError(
      "'peekaboo' is the built-in browser server; switch it on with `opta config set mcp.peekaboo true`",
    );
  }
  if (!MCP_SERVER_NAME.test(name)) {
    throw new UsageError(
      `'${name}' is not a valid server name: use letters, digits, - and _ (not __), at most 40 characters`,
    );
  }
}

function parseEnv(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const index = pair.indexOf("=");
    if (index <= 0) throw new UsageError(`--env takes KEY=VALUE pairs, got '${pair}'`);
    env[pair.slice(0, index)] = pair.slice(index + 1);
  }
  return env;
}

function exists(name: string, file: string, project: boolean): CliError {
  return new CliError(
    `an MCP server named '${name}' already exists in ${file}; remove it first with \`opta mcp remove ${name}${project ? " --project" : ""}\``,
  );
}

/** `.opta/mcp.yaml` as a YAML document, so comments and order survive an edit. */
async function readProjectDocument(file: string): Promise<YAML.Document> {
  let text = "";
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const document: YAML.Document = YAML.parseDocument(text);
  if (document.errors.length > 0) throw new CliError(`${file} is not valid YAML: ${document.errors[0]!.message}`);
  return document.contents === null ? new YAML.Document({}) : document;
}

async function writeProjectDocument(file: string, document: YAML.Document): Promise<void> {
  const checked = McpProjectFile.safeParse(document.toJS() ?? {});
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new CliError(`${file}: '${issue.path.join(".") || "(root)"}' ${issue.message}`);
  }
  await mkdir(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, document.toString());
  await rename(temp, file);
}
