/**
 * `opta platform start|status|stop`: run the Opta platform server (the eight optalocal sites and
 * their APIs on one process) on this machine. The server is its own process, started from
 * @opta/platform's entry (an optional peer of the CLI); this module talks to it only through its state file and health route.
 */
import { spawn } from "node:child_process";
import type { LogLine, PlatformError } from "@opta/platform/control";
import { optaHome } from "../connection.js";
import { CliError, UsageError } from "../output/errors.js";
import { dim, duration, green, print } from "../output/terminal.js";

type StartFlags = { port?: string; domain?: string; data?: string; foreground?: boolean };

/**
 * Loads `specifier` (@opta/platform/control). The platform server is an optional peer of the CLI:
 * it brings PGlite, better-auth and the pg driver, which a CLI that only talks to the daemon does
 * not need. Missing, it is one clear error saying how to add it.
 */
export async function loadOptionalPlatform<T = typeof import("@opta/platform/control")>(
  specifier = "@opta/platform/control",
): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const name = specifier.replace(/\/control$/, "");
    if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && String(error).includes(name)) {
      throw new CliError(
        `the Opta platform server is not installed with this CLI (${name} is an optional part); install it beside opta with 'npm install -g ${name}'`,
      );
    }
    throw error;
  }
}

const control = () => loadOptionalPlatform();

/** A PlatformError keeps its code in the one line the user sees. */
function asCliError(error: unknown): unknown {
  const record = error as Partial<PlatformError>;
  if (record?.name !== "PlatformError" || typeof record.code !== "string") return error;
  return record.code === "PLATFORM_USAGE"
    ? new UsageError(`${record.message} [${record.code}]`)
    : new CliError(`${record.message} [${record.code}]`);
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535)
    throw new UsageError(`--port must be a port number (0-65535); got '${value}'`);
  return port;
}

/** `opta platform start [--port 3000] [--domain opta.localhost] [--data DIR] [--foreground]`. */
export async function start(flags: StartFlags): Promise<number> {
  const port = parsePort(flags.port);
  const { startPlatformProcess, platformStatus, platformEntry, DEFAULT_DOMAIN, validateDomainFlag } = await control();
  const home = optaHome();
  if (flags.domain !== undefined && !validateDomainFlag(flags.domain)) {
    throw new UsageError(
      `--domain must be a DNS name of two labels or more (like ${DEFAULT_DOMAIN}); got '${flags.domain}'`,
    );
  }
  if (flags.foreground) {
    const current = await platformStatus(home);
    if (current.running) {
      throw new CliError(
        `the platform server already runs (pid ${current.state.pid}); stop it with 'opta platform stop'`,
      );
    }
    return runForeground(platformEntry(), home, flags);
  }
  let announced = false;
  try {
    const result = await startPlatformProcess({
      home,
      ...(port !== undefined ? { port } : {}),
      ...(flags.domain !== undefined ? { domain: flags.domain } : {}),
      ...(flags.data !== undefined ? { data: flags.data } : {}),
      onProgress: (line: LogLine) => {
        const elapsed = typeof line.elapsedS === "number" && line.elapsedS > 0 ? ` (${line.elapsedS} s)` : "";
        if (!announced) print(dim("First start: the embedded database is being created; this takes a while once."));
        announced = true;
        print(dim(`  ${line.message}${elapsed}`));
      },
    });
    const { state, health } = result;
    if (result.started) print(`Opta platform started on ${health.sites.home} (pid ${state.pid})`);
    else {
      print(`Opta platform already running on ${health.sites.home} (pid ${state.pid})`);
      if (port !== undefined && port !== 0 && port !== state.port) {
        print(dim(`--port ${port} ignored: stop it first with 'opta platform stop'`));
      }
    }
    return 0;
  } catch (error) {
    throw asCliError(error);
  }
}

/** Runs the server attached to this terminal (its JSON log lines on stdout); Ctrl+C stops it. */
function runForeground(entry: string, home: string, flags: StartFlags): Promise<number> {
  const args = [
    entry,
    ...(flags.port !== undefined ? ["--port", flags.port] : []),
    ...(flags.domain !== undefined ? ["--domain", flags.domain] : []),
    ...(flags.data !== undefined ? ["--data", flags.data] : []),
  ];
  // Its own process group, so a Ctrl+C reaches the server once: forwarded from here.
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
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 130 : 1)));
  });
}

/** `opta platform status [--json]`: exit 1 when no server runs. */
export async function status(flags: { json?: boolean }): Promise<number> {
  const { platformStatus } = await control();
  const result = await platformStatus(optaHome());
  if (flags.json) {
    print(JSON.stringify(result, null, 2));
    return result.running ? 0 : 1;
  }
  if (!result.running) {
    print("Opta platform is not running (start it with `opta platform start`)");
    return 1;
  }
  const { state, health } = result;
  print(`Opta platform ${green("running")}`);
  const rows: [string, string][] = [
    ["pid", String(state.pid)],
    ["address", health.sites.home ?? ""],
    ["version", health.version],
    ["uptime", duration(health.uptimeS)],
    [
      "database",
      `${health.database.kind === "pglite" ? `embedded (PGlite in ${state.dataDir})` : "PostgreSQL"}, ${health.database.migrations} migration${health.database.migrations === 1 ? "" : "s"}`,
    ],
  ];
  for (const [key, value] of rows) print(`  ${key.padEnd(9)} ${value}`);
  for (const [site, origin] of Object.entries(health.sites)) print(`  ${dim(site.padEnd(9))} ${origin}`);
  return 0;
}

/** `opta platform stop`. */
export async function stop(): Promise<number> {
  const { stopPlatformProcess } = await control();
  try {
    const result = await stopPlatformProcess(optaHome());
    print(
      result.wasRunning
        ? `Opta platform stopped (pid ${result.pid})`
        : result.stale
          ? `Opta platform was not running (removed its stale state for pid ${result.pid})`
          : "Opta platform is not running",
    );
    return 0;
  } catch (error) {
    throw asCliError(error);
  }
}

/**
 * `opta platform admin grant EMAIL [--data DIR]`: gives the account with that email the admin
 * role. Run on the server's machine: through the running server (its control route and the
 * secret in its data dir), else on the database itself. There is no default admin or password.
 */
export async function adminGrant(email: string, flags: { data?: string }): Promise<number> {
  if (!email.includes("@")) throw new UsageError(`give the account's email address; got '${email}'`);
  const { grantAdminRole } = await control();
  try {
    const databaseUrl = process.env.DATABASE_URL || undefined;
    const result = await grantAdminRole({
      home: optaHome(),
      email,
      ...(flags.data !== undefined ? { data: flags.data } : {}),
      ...(databaseUrl ? { databaseUrl } : {}),
    });
    print(
      `${green("admin")}: ${result.email} is now an admin (${result.via === "server" ? `through the server on ${result.where}` : `in the database ${result.where}`})`,
    );
    print(dim("  They sign in on the admin site; the grant is in its audit log."));
    return 0;
  } catch (error) {
    throw asCliError(error);
  }
}
