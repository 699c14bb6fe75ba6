#!/usr/bin/env node
/**
 * The platform server process: `node main.js [--port 3000] [--domain opta.localhost] [--data DIR]`.
 * Reads OPTA_HOME (its state file and default data dir), DATABASE_URL (PostgreSQL; without it
 * the embedded PGlite in `<data>/pglite`) and OPTA_RELEASE_DIR (what init.<domain> serves). Logs JSON lines to stdout. Exits 0 after SIGTERM or
 * SIGINT, 1 when it cannot start (one JSON error line with a code, and one `error:` line on stderr),
 * 2 for a bad flag.
 */
import { mkdir } from "node:fs/promises";
import { resolveOptaHome } from "@opta/local";
import { parseArgs } from "./args.js";
import { pgliteDir, platformPaths } from "./control/paths.js";
import { isProcessAlive, looksLikePlatform } from "./control/process.js";
import { clearPlatformState, readPlatformState, writePlatformState } from "./control/state.js";
import { PlatformError } from "./errors.js";
import { createLogger } from "./log.js";
import { startPlatform } from "./server.js";
import { statusSettingsFromEnv } from "./status/settings.js";
import { PLATFORM_VERSION } from "./version.js";

async function main(): Promise<number> {
  const logger = createLogger();
  let home = "";
  try {
    const args = parseArgs(process.argv.slice(2));
    home = resolveOptaHome();
    const paths = platformPaths(home);
    await mkdir(paths.dir, { recursive: true, mode: 0o700 });
    const existing = await readPlatformState(home);
    // A pid from a crashed server's state may since belong to another program: that is no server.
    if (existing && existing.pid !== process.pid && isProcessAlive(existing.pid) && looksLikePlatform(existing.pid)) {
      throw new PlatformError(
        "PLATFORM_ALREADY_RUNNING",
        `a platform server already runs for ${home} (pid ${existing.pid}, port ${existing.port}); stop it with 'opta platform stop'`,
      );
    }
    const dataDir = args.data ?? paths.data;
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const databaseUrl = process.env.DATABASE_URL || undefined;
    const releaseDir = process.env.OPTA_RELEASE_DIR || undefined;
    const status = statusSettingsFromEnv(process.env);
    if ("error" in status) throw new PlatformError("PLATFORM_USAGE", status.error);
    const platform = await startPlatform({
      port: args.port,
      domain: args.domain,
      pgliteDir: pgliteDir(dataDir),
      dataDir,
      logger,
      ...(databaseUrl ? { databaseUrl } : {}),
      ...(releaseDir ? { releaseDir } : {}),
      status: { settings: status.settings },
    });
    await writePlatformState(home, {
      pid: process.pid,
      port: platform.port,
      domain: args.domain,
      dataDir,
      database: platform.database.kind,
      startedAt: new Date().toISOString(),
      version: PLATFORM_VERSION,
    });
    const stop = async (signal: string) => {
      logger.info("platform", "stopping", { signal });
      await clearPlatformState(home, process.pid);
      await platform.close();
      logger.info("platform", "stopped");
      process.exit(0);
    };
    process.once("SIGTERM", () => void stop("SIGTERM"));
    process.once("SIGINT", () => void stop("SIGINT"));
    return -1;
  } catch (error) {
    const known = error instanceof PlatformError;
    logger.error("platform", known ? error.message : `the platform server failed: ${(error as Error).message}`, {
      code: known ? error.code : "PLATFORM_START_FAILED",
      ...(known ? {} : { stack: (error as Error).stack }),
    });
    process.stderr.write(`error: ${known ? `${error.message} [${error.code}]` : String(error)}\n`);
    return known && error.code === "PLATFORM_USAGE" ? 2 : 1;
  }
}

const code = await main();
// -1: serving; the signal handlers end the process.
if (code >= 0) process.exit(code);
