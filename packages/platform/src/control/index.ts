/**
 * Starting, stopping and inspecting the platform server from another process (the CLI). Only
 * node:* modules load here, never the server, its framework or its database drivers.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { request } from "node:http";
import { fileURLToPath } from "node:url";
import { PLATFORM_HOST } from "../defaults.js";
import { PlatformError } from "../errors.js";
import type { LogLine } from "../log.js";
import { platformPaths } from "./paths.js";
import { isProcessAlive, looksLikePlatform } from "./process.js";
import { clearPlatformState, type PlatformState, readPlatformState } from "./state.js";

export { DEFAULT_DOMAIN, DEFAULT_PORT, PLATFORM_HOST } from "../defaults.js";
export { PlatformError, type PlatformErrorCode } from "../errors.js";
export type { LogLine } from "../log.js";
/** Whether a --domain value is acceptable (a DNS name of two labels or more). */
export { validateDomain as validateDomainFlag } from "../sites/registry.js";
export { pgliteDir, platformPaths } from "./paths.js";
export { isProcessAlive } from "./process.js";
export { type PlatformState, readPlatformState } from "./state.js";

/** What `GET /api/health` on the home host answers (see server/app.ts). */
export interface PlatformHealth {
  ok: boolean;
  version: string;
  pid: number;
  uptimeS: number;
  domain: string;
  sites: Record<string, string>;
  database: { kind: "pglite" | "postgres"; migrations: number };
}

/** Path of the server's entry script (`@opta/platform/main`, i.e. dist/main.js). */
export function platformEntry(): string {
  return fileURLToPath(new URL("../main.js", import.meta.url));
}

/** Asks a server for its health on the home host; undefined when nothing healthy answers. */
export function probeHealth(port: number, domain: string, timeoutMs = 3_000): Promise<PlatformHealth | undefined> {
  return new Promise((resolve) => {
    const req = request(
      { host: PLATFORM_HOST, port, path: "/api/health", headers: { host: `${domain}:${port}` }, timeout: timeoutMs },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => {
          try {
            const health = JSON.parse(body) as PlatformHealth;
            resolve(res.statusCode === 200 && health.ok ? health : undefined);
          } catch {
            resolve(undefined);
          }
        });
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

/** The running server of a home: its state and health, or `running: false`. */
export async function platformStatus(
  home: string,
): Promise<
  { running: true; state: PlatformState; health: PlatformHealth } | { running: false; state?: PlatformState }
> {
  const state = await readPlatformState(home);
  if (!state || !isProcessAlive(state.pid)) return state ? { running: false, state } : { running: false };
  const health = await probeHealth(state.port, state.domain);
  return health && health.pid === state.pid ? { running: true, state, health } : { running: false, state };
}

/** Options of `startPlatformProcess`. */
export interface StartOptions {
  home: string;
  port?: number;
  domain?: string;
  data?: string;
  /** Extra environment (DATABASE_URL…) over this process's own. */
  env?: Record<string, string>;
  /** Entry script (default: this package's dist/main.js). */
  entry?: string;
  /** How long to wait for it to answer; a first embedded-database start takes 15-20 s alone. */
  timeoutMs?: number;
  /** Called with each log line the new server writes that is marked `progress` (database initialisation). */
  onProgress?: (line: LogLine) => void;
}

/**
 * Starts the server in the background (detached, output appended to `platform/platform.log`) and
 * waits until it answers, or reuses the one already running. A server that exits before it
 * answers is reported by its own error line and code (a bad DATABASE_URL, a port in use…).
 */
export async function startPlatformProcess(
  options: StartOptions,
): Promise<{ started: boolean; state: PlatformState; health: PlatformHealth }> {
  const current = await platformStatus(options.home);
  if (current.running) return { started: false, state: current.state, health: current.health };
  const entry = options.entry ?? platformEntry();
  if (!existsSync(entry)) {
    throw new PlatformError(
      "PLATFORM_START_FAILED",
      `the platform server is not built (${entry} is missing); run 'npm run build'`,
    );
  }
  const paths = platformPaths(options.home);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const logFd = openSync(paths.log, "a", 0o600);
  const offset = statSync(paths.log).size;
  const args = [
    entry,
    ...(options.port !== undefined ? ["--port", String(options.port)] : []),
    ...(options.domain !== undefined ? ["--domain", options.domain] : []),
    ...(options.data !== undefined ? ["--data", options.data] : []),
  ];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ["ignore", logFd, logFd],
    env: { ...process.env, ...options.env, OPTA_HOME: options.home },
    windowsHide: true,
  });
  closeSync(logFd);
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  child.once("error", () => {
    exited = true;
  });
  child.unref();

  const reader = new LogFollower(paths.log, offset);
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  try {
    while (Date.now() < deadline) {
      for (const line of await reader.next()) if (line.progress === true) options.onProgress?.(line);
      const state = await readPlatformState(options.home);
      if (state && state.pid === child.pid) {
        const health = await probeHealth(state.port, state.domain);
        if (health) return { started: true, state, health };
      }
      if (exited) {
        await reader.next();
        const failure = reader.lastError();
        throw new PlatformError(
          (failure?.code as PlatformError["code"] | undefined) ?? "PLATFORM_START_FAILED",
          failure ? failure.message : `the platform server exited before it answered; see ${paths.log}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    if (!exited && child.pid !== undefined) child.kill("SIGTERM");
    throw error;
  }
  if (child.pid !== undefined) child.kill("SIGTERM");
  throw new PlatformError("PLATFORM_START_FAILED", `the platform server did not answer in time; see ${paths.log}`);
}

/** Reads the JSON lines appended to a log file since an offset. */
class LogFollower {
  private buffer = "";
  private lastErrorLine: LogLine | undefined;
  constructor(
    private readonly path: string,
    private offset: number,
  ) {}

  async next(): Promise<LogLine[]> {
    const handle = await open(this.path, "r");
    try {
      const { size } = await handle.stat();
      if (size <= this.offset) return [];
      const chunk = Buffer.alloc(size - this.offset);
      await handle.read(chunk, 0, chunk.length, this.offset);
      this.offset = size;
      this.buffer += chunk.toString("utf8");
    } finally {
      await handle.close();
    }
    const lines = this.buffer.split("\n");
    this.buffer = lines.pop() ?? "";
    const parsed: LogLine[] = [];
    for (const raw of lines) {
      try {
        const line = JSON.parse(raw) as LogLine;
        if (typeof line.level !== "string") continue;
        if (line.level === "error") this.lastErrorLine = line;
        parsed.push(line);
      } catch {
        // a raw line (the stderr copy of an error): the JSON line before it says the same
      }
    }
    return parsed;
  }

  lastError(): LogLine | undefined {
    return this.lastErrorLine;
  }
}

/**
 * Stops the server of a home with SIGTERM and waits for it to exit. A state file whose pid is gone,
 * or now belongs to another program, is removed without signalling anything.
 */
export async function stopPlatformProcess(
  home: string,
  timeoutMs = 15_000,
): Promise<{ wasRunning: boolean; pid?: number; stale?: boolean }> {
  const state = await readPlatformState(home);
  if (!state) return { wasRunning: false };
  if (!isProcessAlive(state.pid) || !looksLikePlatform(state.pid)) {
    await clearPlatformState(home, state.pid);
    return { wasRunning: false, pid: state.pid, stale: true };
  }
  process.kill(state.pid, "SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isProcessAlive(state.pid)) {
      await clearPlatformState(home, state.pid);
      return { wasRunning: true, pid: state.pid };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new PlatformError(
    "PLATFORM_STOP_FAILED",
    `the platform server (pid ${state.pid}) did not stop within ${timeoutMs / 1000} s`,
  );
}

export { type GrantOptions, type GrantResult, grantAdminRole } from "./admin-grant.js";
