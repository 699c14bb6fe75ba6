/**
 * The admin API, `admin.<domain>/api/admin/*`, for the admin site. Every route, unknown paths
 * included, first passes one guard: 401 `signed_out` without a working session (cookie or bearer
 * token; a banned user has none), 403 `not_admin` without the admin role. The UI's checks are
 * only for show; these are the ones that hold.
 */
import type { Context, Hono } from "hono";
import type { PlatformAuth } from "../auth/auth.js";
import { currentSession, isAdmin, type SignedIn } from "../auth/session.js";
import type { Database } from "../db/database.js";
import { CLIENT_ADDRESS_HEADER } from "../server/app.js";
import { listAudit } from "./audit.js";
import { AdminError, banUser, listUsers, platformFigures, revokeSessions, setRole, unbanUser } from "./users.js";

/** Every admin route, as `METHOD path` (tests walk it: each must refuse the signed-out and non-admins). */
export const ADMIN_ROUTES = [
  "GET /api/admin/me",
  "GET /api/admin/users",
  "POST /api/admin/users/:id/role",
  "POST /api/admin/users/:id/ban",
  "POST /api/admin/users/:id/unban",
  "POST /api/admin/users/:id/revoke-sessions",
  "GET /api/admin/audit",
  "GET /api/admin/figures",
] as const;

const PAGE_MAX = 100;

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/** `limit`/`offset` from the query: whole numbers, limit 1-100 (20 when absent). */
function paging(c: Context): { limit: number; offset: number } {
  const limit = Number.parseInt(c.req.query("limit") ?? "20", 10);
  const offset = Number.parseInt(c.req.query("offset") ?? "0", 10);
  return {
    limit: Number.isFinite(limit) ? Math.min(Math.max(limit, 1), PAGE_MAX) : 20,
    offset: Number.isFinite(offset) ? Math.max(offset, 0) : 0,
  };
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  try {
    const body = (await c.req.json()) as unknown;
    return body && typeof body === "object" ? (body as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Mounts the admin API on the admin site's app. */
export function mountAdminApi(app: Hono, auth: PlatformAuth, db: Database): void {
  const admins = new WeakMap<Request, SignedIn>();
  app.use("/api/admin/*", async (c, next) => {
    const signedIn = await currentSession(auth, c.req.raw.headers);
    if (!signedIn) {
      return c.json(
        errorBody(
          "signed_out",
          "sign in on the accounts site first (an admin's account); the session is missing or ended",
        ),
        401,
      );
    }
    if (!isAdmin(signedIn.user)) {
      return c.json(
        errorBody(
          "not_admin",
          `${signedIn.user.email} is not an admin; an admin can grant the role, or the operator with 'opta platform admin grant EMAIL'`,
        ),
        403,
      );
    }
    admins.set(c.req.raw, signedIn);
    c.header("Cache-Control", "no-store");
    await next();
  });

  const actor = (c: Context) => {
    const signedIn = admins.get(c.req.raw);
    if (!signedIn) throw new Error("admin route reached without the guard");
    return {
      id: signedIn.user.id,
      email: signedIn.user.email,
      ip: c.req.header(CLIENT_ADDRESS_HEADER) ?? null,
      userAgent: c.req.header("user-agent") ?? null,
    };
  };
  const act = async (c: Context, work: () => Promise<unknown>) => {
    try {
      return c.json(await work());
    } catch (error) {
      if (error instanceof AdminError) return c.json(errorBody(error.code, error.message), error.status);
      throw error;
    }
  };

  app.get("/api/admin/me", (c) => {
    const { user } = admins.get(c.req.raw) as SignedIn;
    return c.json({ user: { id: user.id, email: user.email, name: user.name, role: user.role } });
  });
  app.get("/api/admin/users", async (c) => {
    const { limit, offset } = paging(c);
    const search = (c.req.query("search") ?? "").slice(0, 200);
    return c.json({ ...(await listUsers(db, search, limit, offset)), limit, offset });
  });
  app.post("/api/admin/users/:id/role", async (c) => {
    const body = await jsonBody(c);
    return act(c, () => setRole(db, actor(c), c.req.param("id"), String(body.role ?? "")));
  });
  app.post("/api/admin/users/:id/ban", async (c) => {
    const body = await jsonBody(c);
    const reason = typeof body.reason === "string" ? body.reason.slice(0, 500) : "";
    return act(c, () => banUser(db, actor(c), c.req.param("id"), reason));
  });
  app.post("/api/admin/users/:id/unban", (c) => act(c, () => unbanUser(db, actor(c), c.req.param("id"))));
  app.post("/api/admin/users/:id/revoke-sessions", (c) =>
    act(c, () => revokeSessions(db, actor(c), c.req.param("id"))),
  );
  app.get("/api/admin/audit", async (c) => {
    const { limit, offset } = paging(c);
    return c.json({ ...(await listAudit(db, limit, offset)), limit, offset });
  });
  app.get("/api/admin/figures", async (c) => c.json(await platformFigures(db)));
}
