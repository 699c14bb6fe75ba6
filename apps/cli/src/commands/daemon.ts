import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  createLocalClient,
  ensureDaemon,
  isProcessAlive,
  readDaemonState,
  readLocalConnection,
  stopDaemon,
} from "@opta/daemon-client/node";
import type { LogLevel, LogLine } from "@opta/protocol";
import { LogLevel as LogLevelSchema } from "@opta/protocol";
import { connect, daemonEntry, optaHome } from "../connection.js";
import { CliError, UsageError } from "../output/errors.js";
import { dim, duration, green, print, red, yellow } from "../output/terminal.js";

/** `opta daemon start [--port N] [--foreground]`. */
export async function start(options: { port?: string; foreground?: boolean }): Promise<number> {
  const port = options.port === undefined ? undefined : parsePort(options.port);
  const home = optaHome();
  if (options.foreground) return runForeground(home, port);
  const result = await ensureDaemon({ home, port, entry: daemonEntry() });
  const where = `${result.connection.baseUrl} (pid ${result.pid})`;
  if (result.started) print(`Opta daemon started on ${where}`);
  else {
    print(`Opta daemon already running on ${where}`);
    if (port !== undefined && port !== 0 && port !== result.connection.state.port) {
      print(dim(`--port ${port} ignored: stop it first with \`opta daemon stop\``));
    }
  }
  return 0;
}

/** Runs the daemon attached to this terminal; Ctrl+C stops it. */
async function runForeground(home: string, port: number | undefined): Promise<number> {
  const state = await readDaemonState(home);
  if (state && isProcessAlive(state.pid)) {
    throw new CliError(`the Opta daemon is already running (pid ${state.pid}); stop it with \`opta daemon stop\``);
  }
  const args = [daemonEntry(), ...(port !== undefined ? ["--port", String(port)] : [])];
  // Its own process group, so a Ctrl+C reaches the daemon exactly once: forwarded from here.
  const child = spawn(process.execPath, args, {
    stdio: "inherit",
    detached: true,
    env: { ...process.env, OPTA_HOME: home },
  });
  const forward = (signal: NodeJS.Signals) => () => {
    if (child.exitCode === null) child.kill(signal);
  };
  process.on("SIGINT", forward("SIGINT"));
  process.on("SIGTERM", forward("SIGTERM"));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 + 2 : 1)));
  });
}

/** `opta daemon stop`. */
export async function stop(): Promise<number> {
  const result = await stopDaemon({ home: optaHome() });
  print(
    result.wasRunning
      ? `Opta daemon stopped (pid ${result.pid})`
      : result.stale
        ? `Opta daemon was not running (it had stopped without cleaning up; removed its stale state for pid ${result.pid})`
        : "Opta daemon is not running",
  );
  return 0;
}

/** `opta daemon restart`: in-process restart (same pid and port, new token), or a start. */
export async function restart(): Promise<number> {
  const home = optaHome();
  let connection: Awaited<ReturnType<typeof readLocalConnection>>;
  try {
    connection = await readLocalConnection(home);
  } catch {
    const result = await ensureDaemon({ home, entry: daemonEntry() });
    print(`Opta daemon was not running; started on ${result.connection.baseUrl} (pid ${result.pid})`);
    return 0;
  }
  const client = await createLocalClient({ home, timeoutMs: 3_000 });
  await client.restartDaemon();
  // Wait until it answers with the new token.
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const token = await client.getToken(true);
      if (token !== connection.token) {
        await client.health();
        break;
      }
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error("the Opta daemon did not come back after the restart");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  print(`Opta daemon restarted on ${connection.baseUrl} (pid ${connection.state.pid})`);
  return 0;
}

/** `opta daemon status [--json]`: exit 1 when the daemon is not running. */
export async function status(options: { json?: boolean }): Promise<number> {
  const { serviceStatus, describeService } = await import("./daemon-service.js");
  const service = serviceStatus();
  let client: Awaited<ReturnType<typeof createLocalClient>>;
  try {
    client = await createLocalClient({ home: optaHome(), timeoutMs: 5_000 });
  } catch {
    if (options.json) print(JSON.stringify({ running: false, service: await service }, null, 2));
    else {
      print("Opta daemon is not running (start it with `opta daemon start`)");
      print(`  ${"service".padEnd(9)} ${describeService(await service)}`);
    }
    return 1;
  }
  const info = await client.daemonStatus();
  if (options.json) {
    print(JSON.stringify({ running: true, ...info, service: await service }, null, 2));
    return 0;
  }
  print(`Opta daemon ${green("running")}`);
  const rows: [string, string][] = [
    ["pid", String(info.pid)],
    ["address", client.baseUrl],
    ["version", info.version],
    ["uptime", duration(info.uptime)],
    ["sessions", `${info.sessions.total} (${info.sessions.active} active)`],
    ["memory", `${(info.rss / 1024 / 1024).toFixed(1)} MB`],
  ];
  // Checked as `opta doctor` and `opta status` check them (not the daemon's cached health, which
  // may be minutes old), so the three commands say the same.
  const { providerChecks } = await import("./status.js");
  const { describeCheck } = await import("@opta/protocol");
  for (const check of await providerChecks()) {
    const text = describeCheck(check);
    rows.push(["provider", check.status === "ok" ? green(text) : check.status === "warn" ? yellow(text) : red(text)]);
  }
  rows.push(["service", describeService(await service)]);
  for (const [key, value] of rows) print(`  ${key.padEnd(9)} ${value}`);
  return 0;
}

/** `opta daemon logs [--level L] [--limit N] [--follow]`. */
export async function logs(options: { level?: string; limit?: string; follow?: boolean }): Promise<number> {
  const level = parseLevel(options.level);
  const limit = parseLimit(options.limit);
  const home = optaHome();
  const state = await readDaemonState(home);
  if (!options.follow && !(state && isProcessAlive(state.pid))) {
    // Not running: the files still tell why it stopped. (A running daemon's tail starts with the
    // lines of the processes before it, read from the same files.)
    for (const line of await readLogFiles(join(home, "daemon", "daemon.log"), level, limit)) print(line);
    return 0;
  }
  const client = await connect();
  const printed = new Set<string>();
  let lastTs = "";
  const show = (lines: LogLine[]) => {
    for (const line of lines) {
      const key = JSON.stringify(line);
      if (line.ts < lastTs || (line.ts === lastTs && printed.has(key))) continue;
      if (line.ts > lastTs) {
        lastTs = line.ts;
        printed.clear();
      }
      printed.add(key);
      print(formatLogLine(line));
    }
  };
  show((await client.logs({ level, limit })).lines);
  if (!options.follow) return 0;
  process.on("SIGINT", () => process.exit(0));
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    show((await client.logs({ level, limit: 500 })).lines);
  }
}

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
/** Rotated log files the daemon keeps (its logger's default). */
const LOG_ROTATIONS = 3;

function formatLogLine(line: LogLine): string {
  const { ts, level, scope, message, ...rest } = line;
  const color = level === "error" ? red : level === "warn" ? yellow : level === "debug" ? dim : (text: string) => text;
  const extra = Object.keys(rest).length > 0 ? ` ${dim(JSON.stringify(rest))}` : "";
  return `${dim(ts)} ${color(level.padEnd(5))} ${scope}: ${message}${extra}`;
}

/**
 * The log lines of every daemon process that used this home: `daemon.log` and its rotations
 * (`daemon.log.1` … `.3`, oldest first), filtered by level. Lines the process wrote raw (a crash)
 * count as errors.
 */
async function readLogFiles(path: string, level: LogLevel | undefined, limit: number): Promise<string[]> {
  const files: string[] = [];
  for (let index = LOG_ROTATIONS; index >= 0; index -= 1) {
    try {
      files.push(await readFile(index === 0 ? path : `${path}.${index}`, "utf8"));
    } catch {
      // that rotation does not exist (yet)
    }
  }
  const out: string[] = [];
  for (const raw of files.join("\n").split("\n")) {
    if (!raw.trim()) continue;
    let line: LogLine | undefined;
    try {
      line = JSON.parse(raw) as LogLine;
    } catch {
      line = undefined;
    }
    if (line && typeof line.level === "string" && line.level in LEVEL_ORDER) {
      if (level && LEVEL_ORDER[line.level] < LEVEL_ORDER[level]) continue;
      out.push(formatLogLine(line));
    } else if (!level || LEVEL_ORDER[level] <= LEVEL_ORDER.error) out.push(raw);
  }
  return out.slice(-limit);
}

function parseLevel(value: string | undefined): LogLevel | undefined {
  if (value === undefined) return undefined;
  const parsed = LogLevelSchema.safeParse(value);
  if (!parsed.success) throw new UsageError(`--level must be one of debug, info, warn, error; got '${value}'`);
  return parsed.data;
}

function parseLimit(value: string | undefined): number {
  if (value === undefined) return 200;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > 5000) {
    throw new UsageError(`--limit must be a whole number from 1 to 5000; got '${value}'`);
  }
  return number;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new UsageError(`--port must be a port number (0-65535); got '${value}'`);
  }
  return port;
}
