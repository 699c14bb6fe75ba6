#!/usr/bin/env node
/**
 * The `opta` command. Only commander and this file load at start-up; each command's module (and
 * the SDK, zod, yaml…) is imported inside its action so `opta --version` stays fast.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { reportError } from "./output/errors.js";

type Action = (...args: never[]) => Promise<number>;

/** Wraps a lazily imported command function as a commander action that records its exit code. */
function lazy<Module>(load: () => Promise<Module>, pick: (module: Module) => Action) {
  return async (...args: unknown[]) => {
    const action = pick(await load()) as (...args: unknown[]) => Promise<number>;
    // commander passes (…arguments, options, command); our functions take (…arguments, options).
    process.exitCode = await action(...args.slice(0, -1));
  };
}

/**
 * Like `lazy`, for a command module that another workstream adds: a variable specifier keeps this
 * file compiling before the module exists, and a missing module is reported as one readable line.
 */
function lazyModule(path: string, exportName: string) {
  return lazy(
    async () => {
      try {
        return (await import(path)) as Record<string, Action>;
      } catch (error) {
        if ((error as { code?: unknown }).code === "ERR_MODULE_NOT_FOUND" && String(error).includes(path.slice(2))) {
          throw new Error(
            `this build of opta has no '${path.replace("./commands/", "").replace(".js", "")}' command yet`,
          );
        }
        throw error;
      }
    },
    (module) => {
      const action = module[exportName];
      if (!action) throw new Error(`command module ${path} has no ${exportName}()`);
      return action;
    },
  );
}

const daemon = () => import("./commands/daemon.js");
const sessions = () => import("./commands/sessions.js");
const sessionsRewind = () => import("./commands/sessions-rewind.js");
const config = () => import("./commands/config.js");
const platform = () => import("./commands/platform.js");

function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command("opta")
    .description("Opta Local: a local-first coding agent. The daemon owns sessions; this command talks to it.")
    .version(readVersion(), "-v, --version", "print the version")
    .showSuggestionAfterError()
    // One line per error: commander puts "(Did you mean …?)" on a line of its own.
    .configureOutput({ outputError: (text, write) => write(`${text.trimEnd().replace(/\s*\n\s*/g, " ")}\n`) })
    .exitOverride();

  const daemonCommand = program.command("daemon").description("start, stop and inspect the Opta daemon");
  daemonCommand
    .command("start")
    .description("start the daemon in the background (or attached with --foreground)")
    .option("--port <n>", "port to listen on (default 9999 or $OPTA_DAEMON_PORT; 0 picks a free one)")
    .option("--foreground", "run attached to this terminal; Ctrl+C stops it")
    .action(lazy(daemon, (m) => m.start));
  daemonCommand
    .command("stop")
    .description("stop the daemon")
    .action(lazy(daemon, (m) => m.stop));
  daemonCommand
    .command("restart")
    .description("restart the daemon in place (same port, new token; clients reconnect)")
    .action(lazy(daemon, (m) => m.restart));
  daemonCommand
    .command("status")
    .description("show pid, address, uptime, sessions, provider health and the service (exit 1 if not running)")
    .option("--json", "print JSON")
    .action(lazy(daemon, (m) => m.status));
  daemonCommand
    .command("install")
    .description("run the daemon as a service: a systemd user unit (Linux) or launchd agent (macOS), started at login")
    .option("--no-start", "only write the unit file; do not enable or start it")
    .action(
      lazy(
        () => import("./commands/daemon-service.js"),
        (m) => m.install,
      ),
    );
  daemonCommand
    .command("uninstall")
    .description("stop and disable the service and remove its unit file")
    .action(
      lazy(
        () => import("./commands/daemon-service.js"),
        (m) => m.uninstall,
      ),
    );
  daemonCommand
    .command("logs")
    .description("print recent daemon log lines")
    .option("--level <level>", "minimum level: debug, info, warn, error")
    .option("--limit <n>", "how many lines (default 200)")
    .option("-f, --follow", "keep printing new lines")
    .action(lazy(daemon, (m) => m.logs));

  program
    .command("chat")
    .description("chat with a model in this terminal (one line is one turn; works with piped input)")
    .option("--session <id>", "continue an existing session")
    .option("--model <model>", "model for new turns")
    .action(
      lazy(
        () => import("./commands/chat.js"),
        (m) => m.chat,
      ),
    );

  const sessionsCommand = program
    .command("sessions")
    .description("list, show, export, rename, delete, prune, rewind and fork sessions");
  sessionsCommand
    .command("list")
    .description("sessions, newest first")
    .option("-q, --query <text>", "filter by title or id")
    .option("--limit <n>", "at most this many (default 100)")
    .option("--json", "print JSON")
    .action(lazy(sessions, (m) => m.list));
  sessionsCommand
    .command("show")
    .description("a session's details and transcript")
    .argument("<id>", "session id")
    .option("--json", "print the session and its events as JSON")
    .option("--system", "print the system prompt its next turn sends (what the last one used, rebuilt now)")
    .action(lazy(sessions, (m) => m.show));
  sessionsCommand
    .command("export")
    .description("export a session as Markdown or JSON")
    .argument("<id>", "session id")
    .option("--format <format>", "md or json (default md)")
    .option("-o, --output <file>", "write to a file instead of stdout")
    .action(lazy(sessions, (m) => m.exportSession));
  sessionsCommand
    .command("rename")
    .description("give a session a title (recorded as an event)")
    .argument("<id>", "session id")
    .argument("<title>", "the new title")
    .option("--json", "print the session as JSON")
    .action(lazy(sessions, (m) => m.rename));
  sessionsCommand
    .command("delete")
    .description("delete a session: archived gzipped under the sessions folder's archive/, unless --purge")
    .argument("<id>", "session id")
    .option("--purge", "destroy it instead of archiving it")
    .option("--json", "print JSON")
    .action(lazy(sessions, (m) => m.remove));
  sessionsCommand
    .command("prune")
    .description("archive sessions not updated for a while (never a running or pinned one)")
    .option("--older-than <age>", "age such as 30d, 12h, 2w (default 30d)")
    .option("--dry-run", "list what would be pruned; change nothing")
    .option("--purge", "destroy them instead of archiving them")
    .option("--json", "print JSON")
    .action(lazy(sessions, (m) => m.prune));
  sessionsCommand
    .command("rewind")
    .description("undo turns: put the files back and/or take the turns out of the conversation")
    .argument("<id>", "session id")
    .requiredOption("--to <turn>", "rewind to just before this turn (its number, or its id)")
    .option("--files", "put the workspace files back only")
    .option("--conversation", "take the turns out of the conversation only")
    .option("--both", "both (the default)")
    .option("--force", "overwrite files changed outside the agent since it wrote them")
    .option("--json", "print JSON")
    .action(lazy(sessionsRewind, (m) => m.rewind));
  sessionsCommand
    .command("fork")
    .description("start a new session with this one's history up to a turn")
    .argument("<id>", "session id")
    .option("--at <turn>", "copy history up to and including this turn (default: all)")
    .option("--title <title>", "title of the new session")
    .option("--json", "print the new session as JSON")
    .action(lazy(sessionsRewind, (m) => m.fork));

  program
    .command("status")
    .description("one line: daemon up or down, address, sessions, provider health")
    .action(
      lazy(
        () => import("./commands/status.js"),
        (m) => m.status,
      ),
    );

  const configCommand = program.command("config").description("read and change config.yaml in the Opta home");
  configCommand
    .command("get")
    .description("print one value (dotted keys: lmx.host)")
    .argument("<key>")
    .action(lazy(config, (m) => m.get));
  configCommand
    .command("set")
    .description("set one value (true/false and numbers are typed; JSON for lists and maps)")
    .argument("<key>")
    .argument("<value>")
    .action(lazy(config, (m) => m.set));
  configCommand
    .command("unset")
    .description("remove one value")
    .argument("<key>")
    .action(lazy(config, (m) => m.unset));
  configCommand
    .command("list")
    .description("every value, with defaults")
    .option("--json", "print JSON")
    .action(lazy(config, (m) => m.list));

  program
    .command("do")
    .description("run a task with the agent loop in the current directory (tools, permission gate)")
    .argument("[task...]", "what to do (none with --resume)")
    .option("--max-steps <n>", "stop after this many model steps (default: config max-steps, 20)")
    .option("--session <id>", "continue an existing session (its full history)")
    .option("--resume", "continue the session's paused turn (first Ctrl+C pauses; needs --session)")
    .option("--model <model>", "model for this task")
    .option("--permission <level>", "safe, standard or unrestricted")
    .option("--sandbox <level>", "sandbox of the commands: workspace-write (default), read-only, network or off")
    .option("--watch", "send a desktop notification (or ring the bell) when done")
    .action(lazyModule("./commands/do.js", "run"));

  sessionsCommand
    .command("tools")
    .description("every tool call of a session with its decision and outcome")
    .argument("<id>", "session id")
    .option("--json", "print JSON")
    .action(lazyModule("./commands/sessions-tools.js", "tools"));

  program
    .command("tui")
    .description("full-screen terminal interface for one session")
    .option("--session <id>", "resume a session with its full history")
    .option("--model <model>", "model for new turns")
    .action(lazyModule("./commands/tui.js", "tui"));

  const appCommand = program
    .command("app")
    .description("open Code Desktop in the browser, already authenticated")
    .option("--print-url", "print the URL instead of opening a browser")
    .action(lazyModule("./commands/app.js", "app"));
  appCommand
    .command("grants")
    .description("signed-in Code Desktop windows (they reconnect by themselves after a restart)")
    .option("--json", "print JSON")
    .action(lazyModule("./commands/app-grants.js", "grants"));
  appCommand
    .command("revoke")
    .description("sign Code Desktop windows out (the token rotates too)")
    .argument("[id]", "grant id from 'opta app grants'")
    .option("--all", "every signed-in window")
    .action(lazyModule("./commands/app-grants.js", "revoke"));

  program
    .command("doctor")
    .description("check the daemon, LMX, providers, keys, config, policies and the Opta home")
    .option("--policy", "only validate policy files, naming the line that is wrong")
    .option("--json", "print JSON for scripts")
    .action(lazyModule("./commands/doctor.js", "doctor"));

  program
    .command("trust")
    .description("let DIR's .opta/policy.yaml govern sessions below it (it is not a repository root)")
    .argument("[dir]", "directory to trust")
    .option("--list", "list trusted directories (the default without DIR)")
    .option("--remove <dir>", "stop trusting a directory")
    .option("--json", "print the list as JSON")
    .action(lazyModule("./commands/trust.js", "trust"));

  configCommand
    .command("add-provider")
    .description("add (or replace) a provider: an OpenAI-compatible server, Anthropic or OpenAI")
    .argument("<name>", "name to refer to it by (models as <name>/<model>)")
    .requiredOption("--type <type>", "openai-compatible, anthropic or openai")
    .option("--base-url <url>", "API base URL (required for openai-compatible)")
    .option("--models <ids>", "comma-separated model ids it serves (else listed from the provider)")
    .action(lazyModule("./commands/config-provider.js", "addProvider"));

  const platformCommand = program
    .command("platform")
    .description("run the Opta platform server: the optalocal sites and their APIs on this machine");
  platformCommand
    .command("start")
    .description("start the platform server in the background (or attached with --foreground)")
    .option("--port <port>", "port on 127.0.0.1 (default 3000; 0 picks a free one)")
    .option("--domain <domain>", "the sites' parent domain (default opta.localhost)")
    .option("--data <dir>", "data dir for the embedded database (default: platform/data in the Opta home)")
    .option("--foreground", "stay attached: JSON log lines on stdout, Ctrl+C stops")
    .action(lazy(platform, (m) => m.start));
  platformCommand
    .command("status")
    .description("pid, address, database and sites of the running platform server")
    .option("--json", "print JSON")
    .action(lazy(platform, (m) => m.status));
  platformCommand
    .command("stop")
    .description("stop the platform server")
    .action(lazy(platform, (m) => m.stop));
  platformCommand
    .command("admin")
    .description("platform administrators")
    .command("grant")
    .description("give an account the admin role (run on the server's machine; through the server when it runs)")
    .argument("<email>", "the account's email address")
    .option("--data <dir>", "the data dir, when no server runs (default: platform/data in the Opta home)")
    .action(lazy(platform, (m) => m.adminGrant));

  const accountCommand = program
    .command("account")
    .description("API keys in the OS keychain (or the file vault); platform login");
  accountCommand
    .command("add")
    .description("store a provider's API key (typed hidden, or piped on stdin)")
    .argument("<provider>")
    .action(lazyModule("./commands/account.js", "add"));
  accountCommand
    .command("list")
    .description("stored keys, masked")
    .option("--json", "print JSON")
    .action(lazyModule("./commands/account.js", "list"));
  accountCommand
    .command("remove")
    .description("delete a provider's key")
    .argument("<provider>")
    .action(lazyModule("./commands/account.js", "remove"));
  accountCommand
    .command("rotate")
    .description("replace a provider's key without interrupting running turns")
    .argument("<provider>")
    .action(lazyModule("./commands/account.js", "rotate"));
  accountCommand
    .command("login")
    .description("sign in to the Opta platform through the browser (a code to approve; works over SSH)")
    .option(
      "--platform <url>",
      "the platform's address (default $OPTA_PLATFORM_URL, the last login's, or http://opta.localhost:3000)",
    )
    .option("--no-browser", "only print the URL and code")
    .action(lazyModule("./commands/platform-login.js", "login"));
  accountCommand
    .command("whoami")
    .description("the user the stored platform token (or OPTA_PLATFORM_TOKEN) signs in as")
    .option("--platform <url>", "the platform's address")
    .option("--json", "print JSON")
    .action(lazyModule("./commands/platform-login.js", "whoami"));
  accountCommand
    .command("logout")
    .description("end the platform session on the server and remove its token here")
    .option("--platform <url>", "the platform's address")
    .action(lazyModule("./commands/platform-login.js", "logout"));

  const syncCommand = accountCommand
    .command("sync")
    .description("sync the vault's keys across devices through the platform, end-to-end encrypted");
  syncCommand
    .command("push")
    .description("encrypt this device's entries and send them (names the version it replaces)")
    .option("--platform <url>", "the platform's address")
    .option("--keep-local", "on a conflict, replace the synced vault with this device's entries")
    .option("--take-remote", "on a conflict, merge the synced vault into this device instead")
    .action(lazyModule("./commands/platform-sync.js", "push"));
  syncCommand
    .command("pull")
    .description("merge the synced vault into this device's vault and say what changed (masked)")
    .option("--platform <url>", "the platform's address")
    .action(lazyModule("./commands/platform-sync.js", "pull"));
  syncCommand
    .command("status")
    .description("the synced version, this device's, and which entries differ")
    .option("--platform <url>", "the platform's address")
    .option("--json", "print JSON")
    .action(lazyModule("./commands/platform-sync.js", "status"));

  const mcpCommand = program.command("mcp").description("MCP servers whose tools the model can use");
  mcpCommand
    .command("list")
    .description("configured servers with status and tool count")
    .option("--json", "print JSON")
    .action(lazyModule("./commands/mcp.js", "list"));
  mcpCommand
    .command("add")
    .description("add a server: `opta mcp add NAME -- COMMAND ARGS…` (stdio) or `opta mcp add NAME --url URL`")
    .argument("<name>")
    .argument("[command...]", "command and arguments of a stdio server (after --)")
    .option("--url <url>", "streamable HTTP endpoint")
    .option("--env <pairs...>", "KEY=VALUE environment for a stdio server")
    .option("--project", "write to .opta/mcp.yaml in this directory instead of the user config")
    .action(lazyModule("./commands/mcp.js", "add"));
  mcpCommand
    .command("test")
    .description("connect and list tools, calling none")
    .argument("<name>")
    .action(lazyModule("./commands/mcp.js", "test"));
  mcpCommand
    .command("remove")
    .description("remove a server")
    .argument("<name>")
    .option("--project", "remove it from .opta/mcp.yaml in this directory")
    .action(lazyModule("./commands/mcp.js", "remove"));

  return program;
}

/** The lmx commands live in another module; load it only when it can matter (lmx or help). */
async function registerOptional(program: Command, argv: string[]): Promise<void> {
  const first = argv.find((arg) => !arg.startsWith("-"));
  const wantsHelp = argv.length === 0 || first === "help" || argv.includes("--help") || argv.includes("-h");
  if (first !== "lmx" && !wantsHelp) return;
  // A variable specifier: this file compiles whether or not commands/lmx.ts exists yet.
  const lmxModule = "./commands/lmx.js";
  try {
    const module = (await import(lmxModule)) as { registerLmxCommands?: (program: Command) => void };
    module.registerLmxCommands?.(program);
  } catch (error) {
    if ((error as { code?: unknown }).code !== "ERR_MODULE_NOT_FOUND") throw error;
  }
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await registerOptional(program, argv);
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed its one-line message (or the help/version text).
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return 0;
      if (error.code === "commander.help") return 1; // a command group without a subcommand
      return 2;
    }
    return reportError(error);
  }
}

const code = await main(process.argv.slice(2));
// Commands close what they open; exiting here also ends idle keep-alive sockets and timers.
process.exit(code);
