/** The Opta platform server as a library: start it in-process, or build its fetch handler. */
export { parseArgs } from "./args.js";
export type { Database, Queryable } from "./db/database.js";
export { loadMigrations, type Migration, type MigrationResult, migrate } from "./db/migrate.js";
export { openPglite } from "./db/pglite.js";
export { openPostgres } from "./db/postgres.js";
export { DEFAULT_DOMAIN, DEFAULT_PORT, PLATFORM_HOST } from "./defaults.js";
export { PlatformError, type PlatformErrorCode } from "./errors.js";
export { createLogger, type Logger, type LogLevel, type LogLine } from "./log.js";
export { createPlatformApp, type HealthReport, type PlatformAppOptions, type SiteRoutes } from "./server/app.js";
export { contentSecurityPolicy, type PublicAddress, siteOrigin } from "./server/security-headers.js";
export { type PlatformOptions, type RunningPlatform, startPlatform } from "./server.js";
export { defaultSitesRoot, siteAssetDir } from "./sites/assets.js";
export {
  SITE_NAMES,
  SITES,
  type Site,
  type SiteName,
  siteForHost,
  siteHost,
  validateDomain,
} from "./sites/registry.js";
