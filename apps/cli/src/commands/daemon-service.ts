/**
 * `opta daemon install | uninstall` and the service part of `opta daemon status`: the daemon as a
 * systemd user unit (Linux) or a launchd agent (macOS), started at login and restarted when it
 * crashes. The unit runs exactly what `opta daemon start` runs: this node, the daemon's entry
 * script, and the Opta home of this shell.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { isProcessAlive, readDaemonState, stopDaemon } from "@opta/daemon-client/node";
import { daemonEntry, optaHome } from "../connection.js";
import { CliError } from "../output/errors.js";
import { dim, print } from "../output/terminal.js";

const run = promisify(execFile);

/** The systemd unit's name. */
export const SYSTEMD_UNIT = "opta-daemon.service";
/** The launchd agent's label (its plist is `<label>.plist`). */
export const LAUNCHD_LABEL = "dev.opta.daemon";

/** Which service manager, where its file goes, and whether this process may drive the manager. */
interface ServiceTarget {
  kind: "systemd" | "launchd";
  /** The unit or plist file. */
  file: string;
  /**
   * OPTA_SERVICE_DIR names the directory (tests, packagers): the file is written there and the
   * service manager is never called, since a unit outside its search path is not what it loads.
   */
  custom: boolean;
}

function target(env: NodeJS.ProcessEnv = process.env): ServiceTarget {
  const platform = env.OPTA_SERVICE_PLATFORM ?? process.platform;
  const custom = Boolean(env.OPTA_SERVICE_DIR);
  if (platform === "linux") {
    const config = env.XDG_CONFIG_HOME || join(homedir(), ".config");
    const dir = env.OPTA_SERVICE_DIR || join(config, "systemd", "user");
    return { kind: "systemd", file: join(dir, SYSTEMD_UNIT), custom };
  }
  if (platform === "darwin") {
    const dir = env.OPTA_SERVICE_DIR || join(homedir(), "Library", "LaunchAgents");
    return { kind: "launchd", file: join(dir, `${LAUNCHD_LABEL}.plist`), custom };
  }
  throw new CliError(
    `SERVICE_UNSUPPORTED: 'opta daemon install' knows systemd (Linux) and launchd (macOS), not ${platform}; start the daemon with 'opta daemon start' from your login script instead`,
  );
}

/** What the service runs: absolute node, absolute entry script, and the environment it needs. */
function command(): { program: string; args: string[]; env: Record<string, string> } {
  const env: Record<string, string> = {};
  // The home this shell uses, so the service's daemon is the one `opta` talks to.
  if (process.env.OPTA_HOME) env.OPTA_HOME = optaHome();
  if (process.env.OPTA_DAEMON_PORT) env.OPTA_DAEMON_PORT = process.env.OPTA_DAEMON_PORT;
  return { program: process.execPath, args: [daemonEntry()], env };
}

/** A systemd word: quoted, with `\`, `"`, `%` (specifiers) and `$` (variables) escaped. */
function systemdQuote(value: string): string {
  return `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("%", "%%").replaceAll("$", "$$$$")}"`;
}

/** The systemd user unit for `command()`. */
export function systemdUnit(spec = command()): string {
  const environment = Object.entries(spec.env).map(([key, value]) => `Environment=${systemdQuote(`${key}=${value}`)}`);
  return [
    "# Written by 'opta daemon install'; remove it with 'opta daemon uninstall'.",
    "[Unit]",
    "Description=Opta daemon (local coding agent)",
    "After=network.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${[spec.program, ...spec.args].map(systemdQuote).join(" ")}`,
    ...environment,
    // A crash restarts it; `opta daemon stop` (a clean exit) does not.
    "Restart=on-failure",
    "RestartSec=2",
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ].join("\n");
}

function xml(value: string): string {
  return value.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

/** The launchd agent plist for `command()`; raw output goes to the daemon's log file. */
export function launchdPlist(spec = command(), home = optaHome()): string {
  const strings = (values: string[]) => values.map((value) => `    <string>${xml(value)}</string>`);
  const environment = Object.entries(spec.env).flatMap(([key, value]) => [
    `    <key>${xml(key)}</key>`,
    `    <string>${xml(value)}</string>`,
  ]);
  const log = join(home, "daemon", "daemon.log");
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    "<!-- Written by 'opta daemon install'; remove it with 'opta daemon uninstall'. -->",
    '<plist version="1.0">',
    "<dict>",
    "  <key>Label</key>",
    `  <string>${LAUNCHD_LABEL}</string>`,
    "  <key>ProgramArguments</key>",
    "  <array>",
    ...strings([spec.program, ...spec.args]),
    "  </array>",
    ...(environment.length ? ["  <key>EnvironmentVariables</key>", "  <dict>", ...environment, "  </dict>"] : []),
    "  <key>RunAtLoad</key>",
    "  <true/>",
    // Restarted unless it exited cleanly (`opta daemon stop`).
    "  <key>KeepAlive</key>",
    "  <dict>",
    "    <key>SuccessfulExit</key>",
    "    <false/>",
    "  </dict>",
    "  <key>StandardOutPath</key>",
    `  <string>${xml(log)}</string>`,
    "  <key>StandardErrorPath</key>",
    `  <string>${xml(log)}</string>`,
    "</dict>",
    "</plist>",
    "",
  ].join("\n");
}

/** Whether `systemctl --user` reaches a user manager (not in most containers and CI). */
async function systemctlUsable(): Promise<boolean> {
  try {
    await run("systemctl", ["--user", "show-environment"], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

async function launchctlUsable(): Promise<boolean> {
  try {
    await run("launchctl", ["print", `gui/${userInfo().uid}`], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await readFile(path);
    return true;
  } catch {
    return false;
  }
}

/** The commands that load and start the service, for when this process cannot run them. */
function startCommands(service: ServiceTarget): string[] {
  return service.kind === "systemd"
    ? ["systemctl --user daemon-reload", `systemctl --user enable --now ${SYSTEMD_UNIT}`]
    : [`launchctl bootstrap gui/$(id -u) ${service.file}`];
}

/** `opta daemon install [--no-start]`. */
export async function install(options: { start?: boolean }): Promise<number> {
  const service = target();
  const text = service.kind === "systemd" ? systemdUnit() : launchdPlist();
  const dir = join(service.file, "..");
  await mkdir(dir, { recursive: true });
  const replaced = await exists(service.file);
  await writeFile(service.file, text, { mode: 0o644 });
  print(
    `${replaced ? "Updated" : "Wrote"} the ${service.kind === "systemd" ? "systemd user unit" : "launchd agent"} ${service.file}`,
  );
  const wantStart = options.start !== false;
  const usable = !service.custom && (service.kind === "systemd" ? await systemctlUsable() : await launchctlUsable());
  if (!wantStart || !usable) {
    const why = !wantStart
      ? "not started (--no-start)"
      : service.custom
        ? "not started: OPTA_SERVICE_DIR is set, so it is not where the service manager looks"
        : service.kind === "systemd"
          ? "not started: 'systemctl --user' cannot reach a user manager here (a container or CI?)"
          : "not started: 'launchctl' cannot reach your login session";
    print(dim(why));
    print("To start it now and at every login, run:");
    for (const line of startCommands(service)) print(`  ${line}`);
    return 0;
  }
  // The service must own the daemon: one started by `opta` holds the port.
  const state = await readDaemonState(optaHome());
  if (state && isProcessAlive(state.pid)) {
    await stopDaemon({ home: optaHome() });
    print(dim(`stopped the running daemon (pid ${state.pid}) so the service can start its own`));
  }
  try {
    if (service.kind === "systemd") {
      await run("systemctl", ["--user", "daemon-reload"]);
      await run("systemctl", ["--user", "enable", "--now", SYSTEMD_UNIT]);
    } else {
      await run("launchctl", ["bootout", `gui/${userInfo().uid}/${LAUNCHD_LABEL}`]).catch(() => undefined);
      await run("launchctl", ["bootstrap", `gui/${userInfo().uid}`, service.file]);
    }
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? (error as Error).message).trim();
    throw new CliError(
      `SERVICE_START_FAILED: the service manager refused to start ${service.file}: ${stderr}; check it with 'opta daemon status', or run: ${startCommands(service).join(" && ")}`,
    );
  }
  print(`Enabled and started: the daemon now starts at login and restarts if it crashes`);
  return 0;
}

/** `opta daemon uninstall`: stops and disables the service, then removes its file. */
export async function uninstall(): Promise<number> {
  const service = target();
  if (!(await exists(service.file))) {
    print(`No Opta service is installed (${service.file} does not exist)`);
    return 0;
  }
  if (!service.custom) {
    if (service.kind === "systemd" && (await systemctlUsable())) {
      await run("systemctl", ["--user", "disable", "--now", SYSTEMD_UNIT]).catch(() => undefined);
    } else if (service.kind === "launchd" && (await launchctlUsable())) {
      await run("launchctl", ["bootout", `gui/${userInfo().uid}/${LAUNCHD_LABEL}`]).catch(() => undefined);
    }
  }
  await rm(service.file, { force: true });
  if (!service.custom && service.kind === "systemd" && (await systemctlUsable())) {
    await run("systemctl", ["--user", "daemon-reload"]).catch(() => undefined);
  }
  print(
    `Removed ${service.file}; the daemon no longer starts at login (a running one keeps running: 'opta daemon stop')`,
  );
  return 0;
}

/** The service as `opta daemon status` reports it. */
export interface ServiceStatus {
  /** systemd or launchd; undefined on a platform with neither. */
  kind?: "systemd" | "launchd";
  file?: string;
  installed: boolean;
  /** Starts at login; undefined when the manager cannot be asked. */
  enabled?: boolean;
  /** The manager says it is running; undefined when it cannot be asked. */
  running?: boolean;
  /** Why enabled/running are unknown. */
  note?: string;
}

/** Asks the service manager about the installed service (never throws). */
export async function serviceStatus(): Promise<ServiceStatus> {
  let service: ServiceTarget;
  try {
    service = target();
  } catch {
    return { installed: false, note: "no supported service manager on this platform" };
  }
  const installed = await exists(service.file);
  const base = { kind: service.kind, file: service.file, installed };
  if (!installed) return base;
  if (service.custom) return { ...base, note: "OPTA_SERVICE_DIR is set: the service manager is not asked" };
  if (service.kind === "systemd") {
    if (!(await systemctlUsable())) return { ...base, note: "systemctl --user cannot reach a user manager here" };
    const ask = async (verb: string) =>
      (
        await run("systemctl", ["--user", verb, SYSTEMD_UNIT]).catch((error: { stdout?: string }) => error)
      ).stdout?.trim();
    return {
      ...base,
      enabled: (await ask("is-enabled")) === "enabled",
      running: (await ask("is-active")) === "active",
    };
  }
  if (!(await launchctlUsable())) return { ...base, note: "launchctl cannot reach the login session" };
  try {
    const { stdout } = await run("launchctl", ["print", `gui/${userInfo().uid}/${LAUNCHD_LABEL}`]);
    return { ...base, enabled: true, running: /\bstate = running\b/.test(stdout) };
  } catch {
    return { ...base, enabled: false, running: false };
  }
}

/** One line for `opta daemon status`. */
export function describeService(status: ServiceStatus): string {
  if (!status.kind) return `none (${status.note})`;
  if (!status.installed) return `not installed (${status.kind}; 'opta daemon install' starts it at login)`;
  const state =
    status.enabled === undefined
      ? status.note
      : `${status.enabled ? "enabled" : "not enabled"}, ${status.running ? "running" : "not running"}`;
  return `${status.kind} ${status.file} (${state})`;
}
