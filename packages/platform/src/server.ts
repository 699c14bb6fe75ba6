import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import type { Hono } from "hono";
import { mountAccounts } from "./accounts/routes.js";
import { createControlSecret, mountControl } from "./admin/control.js";
import { mountAdminApi } from "./admin/routes.js";
import { createAuth, type DeviceFlowOptions, loadAuthSecret, migrateAuth, type PlatformAuth } from "./auth/auth.js";
import { signedInUser } from "./auth/session.js";
import type { Database } from "./db/database.js";
import { loadMigrations, migrate } from "./db/migrate.js";
import { openPglite } from "./db/pglite.js";
import { openPostgres } from "./db/postgres.js";
import { PLATFORM_HOST } from "./defaults.js";
import { PlatformError } from "./errors.js";
import { mountInitRoutes } from "./init/routes.js";
import { defaultReleaseDir } from "./init/scripts.js";
import { mountLmxSiteRoutes } from "./lmx-site/routes.js";
import type { Logger } from "./log.js";
import { createPlatformApp } from "./server/app.js";
import { mountAppPages } from "./server/pages.js";
import { siteOrigin, siteOrigins } from "./server/security-headers.js";
import { defaultSitesRoot, siteAssetDir } from "./sites/assets.js";
import { siteHost } from "./sites/registry.js";
import { type PlatformStatus, type StatusOptions, startStatus } from "./status/index.js";
import { mountStatusRoutes } from "./status/routes.js";
import { mountVault, type SessionUser } from "./vault/routes.js";
import { PLATFORM_VERSION } from "./version.js";

/** Options of `startPlatform`. */
export interface PlatformOptions {
  /** Port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** The sites' parent domain (validated by the caller: two labels at least). */
  domain: string;
  /** postgres:// URL; without one the embedded database is used. */
  databaseUrl?: string;
  /** Where the embedded database lives; `null` keeps it in memory (tests). Ignored with databaseUrl. */
  pgliteDir: string | null;
  /** The data dir, where the generated auth secret is kept; `null` keeps it in memory (tests). */
  dataDir?: string | null;
  logger: Logger;
  /** apps/sites/ (default: this checkout's). */
  sitesRoot?: string;
  /**
   * The release init.<domain> serves under /packages/ (scripts/pack-release.mjs's output; default:
   * this checkout's release/); `null` serves none.
   */
  releaseDir?: string | null;
  /** Migration files (default: packages/platform/migrations/). */
  migrationsDir?: string;
  /** Device-code lifetime and polling interval of `opta account login` (default 10 min, 5 s). */
  device?: DeviceFlowOptions;
  /** The status checks: thresholds, retention, and (tests) a clock and no timer. */
  status?: StatusOptions;
}

/** A running platform server. */
export interface RunningPlatform {
  /** The port it listens on. */
  port: number;
  database: Database;
  /** The status checks (`status.monitor.tick()` runs the due ones now). */
  status: PlatformStatus;
  /** Stops accepting, waits for open requests, closes the database. */
  close(): Promise<void>;
}

/**
 * Opens the database, creates better-auth's tables, applies the platform's migrations, listens, then
 * sets up accounts (better-auth) and the sites. Any failure closes what was opened.
 */
export async function startPlatform(options: PlatformOptions): Promise<RunningPlatform> {
  const { logger } = options;
  const started = Date.now();
  const migrations = await loadMigrations(options.migrationsDir);
  const database = options.databaseUrl
    ? await openPostgres(options.databaseUrl, logger)
    : await openPglite(options.pgliteDir, logger);
  try {
    // better-auth's tables first: the platform's migrations refer to "user" (the vault's foreign key).
    await migrateAuth(database, options.domain, logger);
    const result = await migrate(database, migrations, logger);
    logger.info("database", "database ready", {
      kind: database.kind,
      migrations: result.total,
      appliedNow: result.applied,
    });
    let status: PlatformStatus | undefined;
    // Listen first, then build the app: with --port 0 the sites' origins (CSP, trusted origins) need the real port.
    const listener = await listen(options.port);
    try {
      const address = { scheme: "http" as const, domain: options.domain, port: listener.port };
      const auth = createAuth({
        database,
        domain: options.domain,
        accountsOrigin: siteOrigin(address, siteHost("accounts", options.domain)),
        trustedOrigins: siteOrigins(address),
        secret: await loadAuthSecret(options.dataDir ?? null),
        logger,
        device: options.device,
      });
      const controlSecret = await createControlSecret(options.dataDir ?? null);
      const sitesRoot = options.sitesRoot ?? defaultSitesRoot();
      const trusted = siteOrigins(address);
      const releaseDir = options.releaseDir === undefined ? defaultReleaseDir() : (options.releaseDir ?? undefined);
      status = await startStatus(options.status, {
        database,
        logger,
        domain: options.domain,
        port: listener.port,
        auth,
      });
      const checks = status;
      listener.serve(
        createPlatformApp({
          address,
          sitesRoot,
          logger,
          health: () => ({
            version: PLATFORM_VERSION,
            pid: process.pid,
            uptimeS: Math.round((Date.now() - started) / 1000),
            database: { kind: database.kind, migrations: result.total },
          }),
          routes: {
            home: (app) => mountControl(app, database, controlSecret),
            accounts: (app) => {
              mountAccounts(app, { auth, database, trusted, assetDir: siteAssetDir(sitesRoot, "accounts"), logger });
              mountVault(app, { database, sessionUser: sessionUserOf(auth) });
            },
            admin: (app) => {
              mountAdminApi(app, auth, database);
              mountAppPages(app, siteAssetDir(sitesRoot, "admin"), ADMIN_PAGES);
            },
            status: (app) =>
              mountStatusRoutes(app, {
                database,
                auth,
                cache: checks.cache,
                clock: checks.clock,
                settings: checks.settings,
                origin: siteOrigin(address, siteHost("status", options.domain)),
              }),
            init: (app) =>
              mountInitRoutes(app, { origin: siteOrigin(address, siteHost("init", options.domain)), releaseDir }),
            lmx: (app) =>
              mountLmxSiteRoutes(app, {
                database,
                auth,
                clock: checks.clock,
                settings: checks.settings,
                origin: siteOrigin(address, siteHost("lmx", options.domain)),
                accountsOrigin: siteOrigin(address, siteHost("accounts", options.domain)),
                root: siteAssetDir(sitesRoot, "lmx"),
              }),
          },
        }),
      );
    } catch (error) {
      await status?.monitor.stop();
      await listener.close();
      throw error;
    }
    logger.info("platform", "listening", {
      host: PLATFORM_HOST,
      port: listener.port,
      domain: options.domain,
      version: PLATFORM_VERSION,
    });
    const running = status;
    return {
      port: listener.port,
      database,
      status: running,
      close: async () => {
        await running.monitor.stop();
        await listener.close();
        await database.close();
      },
    };
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
}

/** The admin app's pages (one index.html; the app picks the view from the path). */
const ADMIN_PAGES = ["/", "/users", "/audit"];

/** Vault sync's view of the signed-in user: only who it is (a banned user counts as signed out). */
function sessionUserOf(auth: PlatformAuth): SessionUser {
  return async (headers) => {
    const user = await signedInUser(auth, headers);
    return user ? { id: user.id } : null;
  };
}

/** Binds the port on loopback; requests get 503 until `serve` hands over the app. */
async function listen(port: number) {
  let app: Hono | undefined;
  const server = createAdaptorServer({
    // env carries node's request (its socket address is the client's address).
    fetch: (request: Request, env: unknown) =>
      app ? app.fetch(request, env) : new Response("starting", { status: 503 }),
    hostname: PLATFORM_HOST,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "EADDRINUSE"
          ? new PlatformError(
              "PLATFORM_PORT_IN_USE",
              `port ${port} on ${PLATFORM_HOST} is in use; stop what holds it or pass --port`,
            )
          : error,
      );
    });
    server.listen(port, PLATFORM_HOST, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    serve: (ready: Hono) => {
      app = ready;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
