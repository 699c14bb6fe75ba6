import type { PlatformAuth } from "../auth/auth.js";
import type { Queryable } from "../db/database.js";

/** The signed-in user of a request (cookie on the parent domain, or a bearer token). */
export interface SessionUser {
  id: string;
  email: string;
  /** The role the session carries (the admin plugin's field), or null when it carries none. */
  role: string | null;
}

/** Reads the session of a request through better-auth; null when signed out. */
export async function sessionUser(auth: PlatformAuth, headers: Headers): Promise<SessionUser | null> {
  const session = await auth.api.getSession({ headers });
  if (!session) return null;
  const user = session.user as typeof session.user & { role?: string | null };
  return { id: user.id, email: user.email, role: user.role ?? null };
}

/**
 * The user's role when the session does not carry one: better-auth's admin plugin adds `role` to
 * the user (and so to the session); until it is installed the column may exist without the session
 * reporting it, or not exist at all (then no one is an admin).
 */
async function roleColumn(db: Queryable, userId: string): Promise<string | null> {
  try {
    const { rows } = await db.query<{ role: string | null }>('SELECT role FROM "user" WHERE id = $1', [userId]);
    return rows[0]?.role ?? null;
  } catch {
    return null;
  }
}

/** Whether the user has the admin role (the admin plugin stores several roles comma-separated). */
export async function isAdmin(user: SessionUser, db: Queryable): Promise<boolean> {
  const role = user.role ?? (await roleColumn(db, user.id));
  return (role ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .includes("admin");
}
