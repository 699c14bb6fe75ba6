/**
 * Accounts: better-auth on the platform's database (../shared/PLATFORM.md). Its handler answers on
 * `accounts.<domain>/api/auth/*` (its default base path, so its documented routes hold), its session
 * cookie is set on the parent domain so every site sees one sign-in, and only this domain's sites
 * are trusted origins (better-auth refuses state-changing requests from any other Origin).
 */
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type BetterAuthOptions, betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { admin, bearer, deviceAuthorization } from "better-auth/plugins";
import type { Database } from "../db/database.js";
import type { Logger } from "../log.js";
import { CLIENT_ADDRESS_HEADER } from "../server/app.js";

/** Options of `createAuth`. */
export interface AuthOptions {
  database: Database;
  /** The sites' parent domain: the session cookie's Domain. */
  domain: string;
  /** The accounts site's origin (better-auth's baseURL). */
  accountsOrigin: string;
  /** Every site's origin: the only origins better-auth trusts. */
  trustedOrigins: string[];
  /** Signs cookies and tokens; every server copy on one database must share it. */
  secret: string;
  /** better-auth's own messages go here, as the platform's JSON lines (scope `auth`). */
  logger: Logger;
  /** The CLI login's device codes (RFC 8628); defaults suit people, tests shorten them. */
  device?: DeviceFlowOptions;
}

/** How long a device code lives and how often a client may poll, as better-auth's time strings ("30s", "10m"). */
export interface DeviceFlowOptions {
  expiresIn?: Duration;
  interval?: Duration;
}

/** A time string better-auth reads: "30s", "10m", "1h". */
export type Duration = `${number}${"s" | "m" | "h"}`;

/**
 * The only clients that may ask for a device code: a code is bound to its client id, and the token
 * endpoint refuses any other id, so a code leaked to another program cannot be redeemed by it.
 */
export const DEVICE_CLIENTS: Readonly<Record<string, string>> = { "opta-cli": "the Opta CLI" };

/** The better-auth instance of the platform. */
export type PlatformAuth = ReturnType<typeof createAuth>;

/** better-auth's view of the database: the pg pool, or PGlite through its Kysely dialect. */
function authDatabase(database: Database) {
  const native = database.native;
  return native.kind === "postgres" ? native.pool : { dialect: native.dialect(), type: "postgres" as const };
}

/** Builds better-auth for this platform. Nothing is sent anywhere (telemetry off). */
export function createAuth(options: AuthOptions) {
  return betterAuth(authOptions(options));
}

/** better-auth's configuration: what the handler runs and what its table migrations read. */
function authOptions(options: AuthOptions) {
  return {
    appName: "Opta",
    baseURL: options.accountsOrigin,
    secret: options.secret,
    database: authDatabase(options.database),
    emailAndPassword: { enabled: true, minPasswordLength: 10 },
    // Delete account on accounts' profile page; the password is asked again. Rows of other tables
    // that reference "user"(id) ON DELETE CASCADE (the vault) go with it.
    user: { deleteUser: { enabled: true } },
    trustedOrigins: options.trustedOrigins,
    telemetry: { enabled: false },
    plugins: [
      // `opta account login`: RFC 8628 on /api/auth/device/*; the page that approves is accounts' /device.
      deviceAuthorization({
        expiresIn: options.device?.expiresIn ?? "10m",
        interval: options.device?.interval ?? "5s",
        verificationUri: `${options.accountsOrigin}/device`,
        validateClient: (clientId) => Object.hasOwn(DEVICE_CLIENTS, clientId),
      }),
      // The CLI sends the session token the device flow handed it as `Authorization: Bearer` (the raw
      // token, as /device/token returns it; the plugin signs it as the cookie would be).
      bearer({ requireSignature: false }),
      // Roles and bans. A ban deletes every session of the user, browser cookies and CLI device
      // tokens alike (both are rows of "session"), and refuses new ones. Its own routes under
      // /api/auth/admin/* are closed (server.ts): admins act through admin.<domain>/api/admin/*,
      // which writes the audit log.
      admin({ bannedUserMessage: "This account is banned; ask the platform's administrator." }),
    ],
    logger: {
      level: "info",
      // Only the message and the names of what came with it: its extra arguments may hold request data.
      log: (level, message, ...args) =>
        options.logger.log(level, "auth", message, args.length > 0 ? { details: args.map(describe) } : {}),
    },
    // In the database, so several server processes behind one load balancer count together.
    rateLimit: { enabled: true, storage: "database" },
    advanced: {
      // The TCP peer's address, set by the platform's front door (server/app.ts), never a client's header.
      ipAddress: { ipAddressHeaders: [CLIENT_ADDRESS_HEADER] },
      crossSubDomainCookies: { enabled: true, domain: options.domain },
      // Secure and __Secure- cookies: browsers accept them over plain http on *.localhost, so the
      // production settings are the ones tests see.
      useSecureCookies: true,
    },
  } satisfies BetterAuthOptions;
}

function describe(value: unknown): string {
  return value instanceof Error ? `${value.name}: ${value.message}` : typeof value;
}

/**
 * Creates or updates better-auth's tables (user, session, account, verification, rateLimit,
 * deviceCode). Runs before the platform's own migrations, which refer to "user" (vault's foreign
 * key); the tables depend only on the plugins, not on origins or the port, so this needs no listener.
 */
export async function migrateAuth(database: Database, domain: string, logger: Logger): Promise<string[]> {
  const schemaOnly = authOptions({
    database,
    domain,
    accountsOrigin: `http://accounts.${domain}`,
    trustedOrigins: [],
    secret: "schema-only-never-signs-anything-0000",
    logger,
  });
  const { toBeCreated, toBeAdded, runMigrations } = await getMigrations(schemaOnly);
  const changes = [
    ...toBeCreated.map((table) => `create ${table.table}`),
    ...toBeAdded.map((table) => `alter ${table.table}`),
  ];
  if (changes.length > 0) {
    await runMigrations();
    logger.info("database", "auth tables migrated", { changes });
  }
  return changes;
}

/**
 * The secret: BETTER_AUTH_SECRET when set (required when several servers share one database),
 * else one generated on first start and kept in `<data>/auth-secret` (mode 0600).
 */
export async function loadAuthSecret(dataDir: string | null, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.BETTER_AUTH_SECRET) return env.BETTER_AUTH_SECRET;
  if (dataDir === null) return randomBytes(32).toString("base64url");
  const path = join(dataDir, "auth-secret");
  try {
    const stored = (await readFile(path, "utf8")).trim();
    if (stored.length >= 32) return stored;
  } catch {
    // first start
  }
  const secret = randomBytes(32).toString("base64url");
  await writeFile(path, `${secret}\n`, { mode: 0o600 });
  return secret;
}
