/**
 * The signed-in user of a request, for the platform's own routes (accounts' /api/account/*, the
 * admin API): better-auth's session from the cookie or, through its bearer plugin, from
 * `Authorization: Bearer` (the CLI's device token). A banned user counts as signed out even if a
 * session row were somehow left behind, so a ban ends access on every route at once.
 */
import type { PlatformAuth } from "./auth.js";

/** The user fields the platform's routes read. */
export interface SessionUser {
  id: string;
  email: string;
  name: string;
  /** Comma-separated roles (better-auth's admin plugin): "user", "admin". */
  role?: string | null;
  banned?: boolean | null;
}

/** One signed-in request: who, and which session (cookie or device token) it came with. */
export interface SignedIn {
  user: SessionUser;
  session: { id: string; userId: string };
}

/** The request's session, or null when it has none that works. */
export async function currentSession(auth: PlatformAuth, headers: Headers): Promise<SignedIn | null> {
  const found = (await auth.api.getSession({ headers }).catch(() => null)) as SignedIn | null;
  if (!found?.user || found.user.banned) return null;
  return found;
}

/** The request's signed-in user, or null: `currentSession` for routes that need only who it is. */
export async function signedInUser(auth: PlatformAuth, headers: Headers): Promise<SessionUser | null> {
  return (await currentSession(auth, headers))?.user ?? null;
}

/** Whether a user holds the admin role. */
export function isAdmin(user: SessionUser): boolean {
  return (user.role ?? "")
    .split(",")
    .map((role) => role.trim())
    .includes("admin");
}
