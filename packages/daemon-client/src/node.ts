/**
 * @opta/daemon-client/node: Node-only helpers for a daemon on this machine: read its port and
 * token from the Opta home, start it in the background when needed, stop it.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DaemonState } from "@opta/protocol";
import { WebSocket as NodeWebSocket } from "ws";
import { DaemonClient, type DaemonClientOptions } from "./client.js";
import { DaemonConnectionError, START_HINT } from "./errors.js";
import { defaultWebSocket, type WebSocketConstructor } from "./websocket.js";

export * from "./index.js";

/**
 * The Opta home: `$OPTA_HOME`, else `$XDG_CONFIG_HOME/opta`, else `~/.config/opta`
 * (`%APPDATA%\opta` on Windows). Same rule as the daemon's.
 */
export function resolveOptaHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OPTA_HOME) return env.OPTA_HOME;
  if (process.platform === "win32" && env.APPDATA) return join(env.APPDATA, "opta");
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, "opta");
  return join(homedir(), ".config", "opta");
}

function daemonFiles(home: string) {
  const dir = join(home, "daemon");
  return { dir, state: join(dir, "state.json"), token: join(dir, "token"), log: join(dir, "daemon.log") };
}

/** What a local client needs: where the daemon listens and its current token. */
export interface LocalConnection {
  /** The Opta home it was read from. */
  home: string;
  /** `http://127.0.0.1:<port>`. */
  baseUrl: string;
  /** Bearer token read from `daemon/token`. */
  token: string;
  /** Contents of `daemon/state.json`. */
  state: DaemonState;
}

/** Reads `daemon/state.json` or returns undefined when there is none (or it is unreadable). */
export async function readDaemonState(home: string = resolveOptaHome()): Promise<DaemonState | undefined> {
  try {
    const parsed = DaemonState.safeParse(JSON.parse(await readFile(daemonFiles(home).state, "utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the daemon's current token from `daemon/token`. */
export async function readToken(home: string = resolveOptaHome()): Promise<string> {
  try {
    return (await readFile(daemonFiles(home).token, "utf8")).trim();
  } catch {
    throw new DaemonConnectionError(`No daemon token in ${daemonFiles(home).token}. ${START_HINT}`);
  }
}

/**
 * Reads the running daemon's address (state.json) and token. Throws `DaemonConnectionError` when
 * the daemon is not running.
 */
export async function readLocalConnection(home: string = resolveOptaHome()): Promise<LocalConnection> {
  const state = await readDaemonState(home);
  if (!state || !isProcessAlive(state.pid)) {
    throw new DaemonConnectionError(`The Opta daemon is not running (home ${home}). ${START_HINT}`);
  }
  return { home, baseUrl: baseUrlOf(state), token: await readToken(home), state };
}

/** Options of `createLocalClient`. */
export interface LocalClientOptions extends Partial<Omit<DaemonClientOptions, "baseUrl" | "token">> {
  /** Opta home (default: resolved from the environment). */
  home?: string;
  /** Start the daemon in the background when it is not running (default false). */
  autostart?: boolean;
  /** Path of the daemon's entry script, for autostart (default: `@opta/daemon/main`). */
  entry?: string;
}

/**
 * A client for the daemon of this machine's Opta home. Its token function re-reads the token
 * file, so the client survives a daemon restart. On Node without a global WebSocket it uses `ws`.
 */
export async function createLocalClient(options: LocalClientOptions = {}): Promise<DaemonClient> {
  const { home = resolveOptaHome(), autostart = false, entry, ...rest } = options;
  const connection = autostart ? (await ensureDaemon({ home, entry })).connection : await readLocalConnection(home);
  return new DaemonClient({
    ...rest,
    baseUrl: connection.baseUrl,
    token: () => readToken(home),
    WebSocket: rest.WebSocket ?? defaultWebSocket() ?? (NodeWebSocket as unknown as WebSocketConstructor),
  });
}

/** Options of `ensureDaemon`. */
export interface EnsureDaemonOptions {
  /** Opta home (default: resolved from the environment). */
  home?: string;
  /** Port to bind (default: `OPTA_DAEMON_PORT` or 9999; 0 picks a free port). */
  port?: number;
  /** How long to wait for the daemon to answer (default 15 000 ms). */
  timeoutMs?: number;
  /** Path of the daemon's entry script (default: `@opta/daemon/main`). */
  entry?: string;
  /** Extra environment for the spawned daemon. */
  env?: Record<string, string>;
}

/** Result of `ensureDaemon`. */
export interface EnsureDaemonResult {
  connection: LocalConnection;
  /** True when this call started the daemon; false when one was already running. */
  started: boolean;
  /** Pid of the daemon. */
  pid: number;
}

/**
 * Makes sure a daemon serves this home: reuses a live one (pid alive and /v3/health answers), else
 * spawns `node <entry>` detached with its output appended to `daemon/daemon.log` and waits for it.
 */
export async function ensureDaemon(options: EnsureDaemonOptions = {}): Promise<EnsureDaemonResult> {
  const home = options.home ?? resolveOptaHome();
  const timeoutMs = options.timeoutMs ?? 15_000;
  const running = await probe(home);
  if (running) return { connection: running, started: false, pid: running.state.pid };

  const entry = options.entry ?? resolveDaemonEntry();
  if (!existsSync(entry)) {
    throw new DaemonConnectionError(`The daemon is not built (${entry} is missing). Run \`npm run build\`.`);
  }
  const files = daemonFiles(home);
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });

  // One starter at a time: two commands run at once on a cold machine must not start two daemons.
  const lock = join(files.dir, "start.lock");
  if (!takeLock(lock, timeoutMs)) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && existsSync(lock)) {
      const connection = await probe(home);
      if (connection) return { connection, started: false, pid: connection.state.pid };
      await sleep(50);
    }
    const connection = await probe(home);
    if (connection) return { connection, started: false, pid: connection.state.pid };
    // The other starter gave up or died; try ourselves.
    if (!takeLock(lock, 0)) throw new DaemonConnectionError(`Another process is starting the Opta daemon (${lock}).`);
  }
  try {
    return await spawnDaemon(home, entry, options, timeoutMs);
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Creates the lock file; a lock older than `staleMs` is taken over. */
function takeLock(path: string, staleMs: number): boolean {
  try {
    closeSync(openSync(path, "wx", 0o600));
    return true;
  } catch {
    try {
      if (Date.now() - statSync(path).mtimeMs <= staleMs) return false;
      rmSync(path, { force: true });
      closeSync(openSync(path, "wx", 0o600));
      return true;
    } catch {
      return false;
    }
  }
}

async function spawnDaemon(
  home: string,
  entry: string,
  options: EnsureDaemonOptions,
  timeoutMs: number,
): Promise<EnsureDaemonResult> {
  const files = daemonFiles(home);
  const logFd = openSync(files.log, "a", 0o600);
  const args = [entry, ...(options.port !== undefined ? ["--port", String(options.port)] : [])];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ["ignore", logFd, logFd],
    env: { ...process.env, ...options.env, OPTA_HOME: home },
    windowsHide: true,
  });
  closeSync(logFd);
  let exit: string | undefined;
  child.once("exit", (code, signal) => {
    exit = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  });
  child.once("error", (error) => {
    exit = `could not be spawned (${error.message})`;
  });
  child.unref();

  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const connection = await probe(home);
    if (connection) {
      // Another daemon serves this home after all: ours would be a duplicate.
      if (connection.state.pid !== child.pid && !exit) child.kill("SIGTERM");
      return { connection, started: connection.state.pid === child.pid, pid: connection.state.pid };
    }
    if (exit) break;
    await sleep(50);
  }
  if (!exit && child.pid !== undefined && isProcessAlive(child.pid)) child.kill("SIGTERM");
  const last = await lastLogLine(files.log);
  throw new DaemonConnectionError(
    `The Opta daemon did not start: it ${exit ?? `did not answer within ${timeoutMs} ms`}. See ${files.log}${last ? ` (last line: ${last})` : ""}`,
  );
}

/** Options of `stopDaemon`. */
export interface StopDaemonOptions {
  home?: string;
  /** How long to wait for the process to exit (default 10 000 ms). */
  timeoutMs?: number;
}

/**
 * Stops the daemon of this home: `POST /v3/daemon/stop`, falling back to SIGTERM, then waits for the
 * process to exit. Resolves `{ wasRunning: false }` when none runs.
 */
export async function stopDaemon(
  options: StopDaemonOptions = {},
): Promise<{ wasRunning: boolean; pid?: number; stale?: boolean }> {
  const home = options.home ?? resolveOptaHome();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const state = await readDaemonState(home);
  if (!state) return { wasRunning: false };
  // A daemon that crashed leaves state.json behind, and its pid may since belong to another program:
  // never signal a process that is not an Opta daemon.
  const staleState = async () => {
    await Promise.all([
      rm(join(home, "daemon", "state.json"), { force: true }),
      rm(join(home, "daemon", "token"), { force: true }),
    ]);
    return { wasRunning: false, pid: state.pid, stale: true };
  };
  if (!isProcessAlive(state.pid) || !looksLikeDaemon(state.pid)) return staleState();
  try {
    const client = new DaemonClient({ baseUrl: baseUrlOf(state), token: () => readToken(home), timeoutMs: 3_000 });
    await client.stopDaemon();
  } catch {
    signal(state.pid, "SIGTERM");
  }
  if (await waitForExit(state.pid, timeoutMs)) return { wasRunning: true, pid: state.pid };
  signal(state.pid, "SIGTERM");
  if (await waitForExit(state.pid, 2_000)) return { wasRunning: true, pid: state.pid };
  throw new DaemonConnectionError(`The Opta daemon (pid ${state.pid}) did not stop within ${timeoutMs} ms.`);
}

/** Path of the daemon's entry script (`@opta/daemon/main`). */
export function resolveDaemonEntry(): string {
  let path: string;
  try {
    path = fileURLToPath(import.meta.resolve("@opta/daemon/main"));
  } catch {
    throw new DaemonConnectionError("Cannot find the daemon (@opta/daemon/main). Is @opta/daemon installed and built?");
  }
  if (!existsSync(path)) {
    throw new DaemonConnectionError(`The daemon is not built (${path} is missing). Run \`npm run build\`.`);
  }
  return path;
}

/**
 * Whether a live pid runs the Opta daemon, from its command line where the OS shows it (Linux /proc);
 * elsewhere the answer is yes, as before.
 */
function looksLikeDaemon(pid: number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return /daemon[\\/](dist|src)[\\/]main\.[jt]s/.test(cmdline) || cmdline.includes("@opta/daemon");
  } catch {
    return process.platform !== "linux";
  }
}

/** True when a process with this pid exists. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A live, answering daemon for this home, or undefined. */
async function probe(home: string): Promise<LocalConnection | undefined> {
  const state = await readDaemonState(home);
  if (!state || !isProcessAlive(state.pid)) return undefined;
  try {
    const token = await readToken(home);
    const client = new DaemonClient({ baseUrl: baseUrlOf(state), token, timeoutMs: 2_000 });
    await client.health();
    return { home, baseUrl: client.baseUrl, token, state };
  } catch {
    return undefined;
  }
}

function baseUrlOf(state: DaemonState): string {
  const host = state.host.includes(":") ? `[${state.host}]` : state.host;
  return `http://${host}:${state.port}`;
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isProcessAlive(pid)) return true;
    await sleep(50);
  }
  return !isProcessAlive(pid);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

async function lastLogLine(path: string): Promise<string | undefined> {
  try {
    const lines = (await readFile(path, "utf8")).trimEnd().split("\n");
    const line = lines.at(-1)?.trim();
    if (!line) return undefined;
    try {
      const record = JSON.parse(line) as { message?: unknown };
      if (typeof record.message === "string") return record.message.slice(0, 300);
    } catch {
      // not a structured line (e.g. a crash trace): show it raw
    }
    return line.slice(0, 300);
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
