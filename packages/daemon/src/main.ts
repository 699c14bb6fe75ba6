#!/usr/bin/env node
/**
 * The daemon process: `node main.js [--port N] [--host 127.0.0.1|::1] [--dev]`. Reads OPTA_HOME,
 * OPTA_DAEMON_PORT and OPTA_DEV (1 = dev mode, as `--dev`: the Vite dev server may call it). Exits 0 after a clean stop (signal or API), 1 when it cannot start.
 *
 * `node main.js doctor [--policy] [--cwd DIR]` runs `opta doctor`'s checks once, without serving,
 * and prints the report as JSON: what the CLI runs when no daemon answers `GET /v3/doctor`.
 */
import { resolveOptaHome } from "@opta/local";
import { Daemon, DEFAULT_PORT } from "./daemon.js";

function parsePort(value: string | undefined, from: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${from} must be a port number from 0 to 65535, not '${value}'`);
  }
  return port;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const index = args.indexOf(name);
    return index === -1 ? undefined : args[index + 1];
  };
  if (args[0] === "doctor") {
    const { runDoctor } = await import("./doctor/index.js");
    const report = await runDoctor({
      home: resolveOptaHome(),
      cwd: flag("--cwd") ?? process.cwd(),
      policyOnly: args.includes("--policy"),
      checkedBy: "local",
    });
    // Exit once the report is written: a check may leave a socket or an mDNS browser behind.
    process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
    return;
  }
  const host = flag("--host") ?? "127.0.0.1";
  if (host !== "127.0.0.1" && host !== "::1") {
    throw new Error(`the daemon only listens on loopback: --host must be 127.0.0.1 or ::1, not '${host}'`);
  }
  const port =
    parsePort(flag("--port"), "--port") ?? parsePort(process.env.OPTA_DAEMON_PORT, "OPTA_DAEMON_PORT") ?? DEFAULT_PORT;
  const daemon = await Daemon.start({
    home: resolveOptaHome(),
    port,
    host,
    ...(args.includes("--dev") ? { dev: true } : {}),
  });
  // Only for a person watching (foreground); in the background stdout goes to daemon.log, which holds JSON lines.
  if (process.stdout.isTTY) process.stdout.write(`opta daemon listening on ${daemon.url} (pid ${process.pid})\n`);

  const shutdown = (signal: string) => {
    void daemon.stop(`received ${signal}`);
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
  process.on("uncaughtException", (error) => {
    daemon.logger.error("daemon", `Uncaught exception: ${error.message}`, { stack: error.stack });
  });
  process.on("unhandledRejection", (reason) => {
    daemon.logger.error("daemon", `Unhandled rejection: ${String((reason as Error)?.message ?? reason)}`);
  });
  await daemon.stopped;
  process.exit(0);
}

main().catch((error: Error) => {
  process.stderr.write(`opta daemon: ${error.message}\n`);
  process.exit(1);
});
