/**
 * The accounts site's server side: better-auth's handler on /api/auth/* (behind the open-redirect
 * check, with its admin routes closed and CORS for the other sites' single sign-on), the record
 * of who asked for each device code, the user's own sessions and devices, and the app's pages.
 */
import type { Context, Hono } from "hono";
import { cors } from "hono/cors";
import type { PlatformAuth } from "../auth/auth.js";
import { offSiteRedirect } from "../auth/redirects.js";
import { currentSession } from "../auth/session.js";
import type { Database } from "../db/database.js";
import type { Logger } from "../log.js";
import { CLIENT_ADDRESS_HEADER } from "../server/app.js";
import { mountAppPages } from "../server/pages.js";

/** The pages of the accounts app (one index.html; the app picks the view from the path). */
export const ACCOUNTS_PAGES = ["/", "/sign-in", "/sign-up", "/sign-out", "/device", "/security", "/danger"];

/**
 * The accounts site's state-changing routes, as the app uses them (better-auth's and the
 * platform's own); the CSRF test replays each from other origins.
 */
export const ACCOUNTS_STATE_CHANGING = [
  "/api/auth/sign-up/email",
  "/api/auth/sign-in/email",
  "/api/auth/sign-out",
  "/api/auth/revoke-sessions",
  "/api/auth/update-user",
  "/api/auth/change-password",
  "/api/auth/delete-user",
  "/api/auth/device/approve",
  "/api/auth/device/deny",
  "/api/account/sessions/:id/revoke",
] as const;

/**
 * The auth routes other sites call with the user's cookie (`credentials: "include"`): reading the
 * session and signing out. Nothing else of the auth API is open to another origin.
 */
const SSO_PATHS = new Set(["/api/auth/get-session", "/api/auth/sign-out"]);

/** How long a device request's record is kept (the codes themselves live 10 minutes). */
const DEVICE_REQUEST_DAYS = 1;

export interface AccountsOptions {
  auth: PlatformAuth;
  database: Database;
  /** This domain's site origins: the only ones trusted for redirects and CORS. */
  trusted: readonly string[];
  /** The accounts site's asset folder (dist/ once built, else public/). */
  assetDir: string;
  logger: Logger;
}

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

export function mountAccounts(app: Hono, options: AccountsOptions): void {
  const { auth, database, trusted } = options;
  const sso = cors({
    origin: (origin) => (trusted.includes(origin) ? origin : null),
    credentials: true,
    allowMethods: ["GET", "POST"],
    allowHeaders: ["content-type"],
    maxAge: 600,
  });
  app.use("/api/auth/*", async (c, next) => (SSO_PATHS.has(c.req.path) ? sso(c, next) : next()));

  app.all("/api/auth/admin/*", (c) =>
    c.json(
      errorBody(
        "use_admin_api",
        "admin actions go through the admin site's API (admin.<domain>/api/admin/*), which keeps the audit log",
      ),
      404,
    ),
  );
  app.post("/api/auth/device/code", async (c) => {
    const refused = await redirectRefused(c, trusted);
    if (refused) return refused;
    const hostname = await requestedHostname(c.req.raw);
    const answer = await auth.handler(c.req.raw);
    if (answer.status === 200) await recordDeviceRequest(c, database, answer, hostname, options.logger);
    return answer;
  });
  app.on(["GET", "POST"], "/api/auth/*", async (c) => (await redirectRefused(c, trusted)) ?? auth.handler(c.req.raw));

  mountOwnSessions(app, auth, database);
  mountAppPages(app, options.assetDir, ACCOUNTS_PAGES);
}

async function redirectRefused(c: Context, trusted: readonly string[]): Promise<Response | undefined> {
  const target = await offSiteRedirect(c.req.raw, trusted);
  if (target === undefined) return undefined;
  return c.json(errorBody("redirect_refused", "a redirect may only go to a page of this domain's sites"), 403);
}

/**
 * The host name the CLI says it runs on (`hostname`, JSON or form body). A name, not a claim to
 * trust: the page shows it beside the address the request really came from.
 */
async function requestedHostname(request: Request): Promise<string | null> {
  const type = request.headers.get("content-type") ?? "";
  let value: unknown;
  try {
    if (type.includes("json")) value = ((await request.clone().json()) as Record<string, unknown> | null)?.hostname;
    else if (type.includes("form")) value = (await request.clone().formData()).get("hostname");
  } catch {
    return null;
  }
  return typeof value === "string" && /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(value) ? value : null;
}

async function recordDeviceRequest(
  c: Context,
  database: Database,
  answer: Response,
  hostname: string | null,
  logger: Logger,
): Promise<void> {
  try {
    const body = (await answer.clone().json()) as { user_code?: string };
    if (!body.user_code) return;
    const clientId = (await clientIdOf(c.req.raw)) ?? "unknown";
    await database.query(`DELETE FROM device_request WHERE created_at < now() - interval '${DEVICE_REQUEST_DAYS} day'`);
    await database.query(
      "INSERT INTO device_request (user_code, client_id, hostname, ip, user_agent) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_code) DO NOTHING",
      [
        body.user_code,
        clientId,
        hostname,
        c.req.header(CLIENT_ADDRESS_HEADER) ?? null,
        c.req.header("user-agent") ?? null,
      ],
    );
  } catch (error) {
    // The login still works without the record; the page then says the host is not known.
    logger.warn("accounts", "device request not recorded", { error: (error as Error).message });
  }
}

async function clientIdOf(request: Request): Promise<string | undefined> {
  const type = request.headers.get("content-type") ?? "";
  try {
    const value = type.includes("json")
      ? ((await request.clone().json()) as Record<string, unknown>).client_id
      : (await request.clone().formData()).get("client_id");
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

/** One of the user's sessions as the accounts app lists it (never its token). */
export interface OwnSession {
  id: string;
  /** `cli` for a device token of `opta account login`, else `browser`. */
  kind: "cli" | "browser";
  /** The CLI's host name, from its User-Agent (`opta-cli/VERSION (host NAME)`). */
  hostname: string | null;
  ip: string | null;
  userAgent: string | null;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  /** The session this request came with. */
  current: boolean;
}

/** The CLI's User-Agent: `opta-cli/0.1.0 (host build-box)`. */
const CLI_AGENT = /^opta-cli\/\S+(?: \(host ([^)]+)\))?/;

function mountOwnSessions(app: Hono, auth: PlatformAuth, database: Database): void {
  app.use("/api/account/*", async (c, next) => {
    c.header("Cache-Control", "no-store");
    await next();
  });
  app.get("/api/account/sessions", async (c) => {
    const signedIn = await currentSession(auth, c.req.raw.headers);
    if (!signedIn) return c.json(errorBody("signed_out", "sign in first"), 401);
    const { rows } = await database.query<{
      id: string;
      ipAddress: string | null;
      userAgent: string | null;
      createdAt: Date | string;
      updatedAt: Date | string;
      expiresAt: Date | string;
    }>(
      `SELECT id, "ipAddress", "userAgent", "createdAt", "updatedAt", "expiresAt" FROM session
       WHERE "userId" = $1 AND "expiresAt" > now() ORDER BY "updatedAt" DESC`,
      [signedIn.user.id],
    );
    const sessions: OwnSession[] = rows.map((row) => {
      const cli = CLI_AGENT.exec(row.userAgent ?? "");
      return {
        id: row.id,
        kind: cli ? "cli" : "browser",
        hostname: cli?.[1] ?? null,
        ip: row.ipAddress,
        userAgent: row.userAgent,
        createdAt: new Date(row.createdAt).toISOString(),
        lastSeenAt: new Date(row.updatedAt).toISOString(),
        expiresAt: new Date(row.expiresAt).toISOString(),
        current: row.id === signedIn.session.id,
      };
    });
    return c.json({ sessions });
  });
  app.post("/api/account/sessions/:id/revoke", async (c) => {
    const signedIn = await currentSession(auth, c.req.raw.headers);
    if (!signedIn) return c.json(errorBody("signed_out", "sign in first"), 401);
    // Only the user's own: another user's session id is "no such session", and nothing happens.
    const { rows } = await database.query(`DELETE FROM session WHERE id = $1 AND "userId" = $2 RETURNING id`, [
      c.req.param("id"),
      signedIn.user.id,
    ]);
    if (rows.length === 0)
      return c.json(errorBody("no_such_session", "no such session of yours; reload the list"), 404);
    return c.json({ revoked: c.req.param("id") });
  });
  app.get("/api/account/device-request", async (c) => {
    const signedIn = await currentSession(auth, c.req.raw.headers);
    if (!signedIn) return c.json(errorBody("signed_out", "sign in first"), 401);
    const userCode = (c.req.query("user_code") ?? "").trim().toUpperCase();
    // Only for a code this user's page has claimed (GET /api/auth/device binds it), so no one
    // learns where another user's login came from.
    const { rows } = await database.query<{
      client_id: string;
      hostname: string | null;
      ip: string | null;
      created_at: Date | string;
    }>(
      `SELECT r.client_id, r.hostname, r.ip, r.created_at FROM device_request r
       JOIN "deviceCode" d ON d."userCode" = r.user_code
       WHERE r.user_code = $1 AND d."userId" = $2`,
      [userCode, signedIn.user.id],
    );
    const row = rows[0];
    if (!row)
      return c.json(
        errorBody("no_such_request", "no such code claimed by you; open the link the terminal printed"),
        404,
      );
    return c.json({
      clientId: row.client_id,
      hostname: row.hostname,
      ip: row.ip,
      requestedAt: new Date(row.created_at).toISOString(),
    });
  });
}
