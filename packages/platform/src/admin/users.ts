/**
 * What admins do to users, in SQL on better-auth's tables ("user", "session"), each action in one
 * transaction with its audit row. The effects are better-auth's own (its admin plugin's ban also
 * sets these columns and deletes the sessions), done here so the record and the action commit
 * together.
 */
import type { Database, Queryable } from "../db/database.js";
import { type AuditActor, writeAudit } from "./audit.js";

/** The roles an admin may set. */
export const ROLES = ["user", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** A user as the admin site lists it. */
export interface AdminUser {
  id: string;
  name: string;
  email: string;
  role: string;
  banned: boolean;
  banReason: string | null;
  createdAt: string;
  /** Sessions that have not expired: browsers and CLI device tokens. */
  activeSessions: number;
}

/** A refusal an admin can act on; the route maps `status` to HTTP. */
export class AdminError extends Error {
  override readonly name = "AdminError";
  constructor(
    readonly code: string,
    message: string,
    readonly status: 400 | 404 = 400,
  ) {
    super(message);
  }
}

interface UserRow {
  id: string;
  name: string;
  email: string;
  role: string | null;
  banned: boolean | null;
  banReason: string | null;
  createdAt: Date | string;
  active_sessions?: string | number;
}

function toAdminUser(row: UserRow): AdminUser {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    role: row.role ?? "user",
    banned: row.banned === true,
    banReason: row.banReason,
    createdAt: new Date(row.createdAt).toISOString(),
    activeSessions: Number(row.active_sessions ?? 0),
  };
}

/** `%` and `_` in a search are letters, not wildcards. */
function likePattern(search: string): string {
  return `%${search.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}

/** Users whose email or name contains `search` (any case), newest first. */
export async function listUsers(
  db: Queryable,
  search: string,
  limit: number,
  offset: number,
): Promise<{ users: AdminUser[]; total: number }> {
  const pattern = likePattern(search);
  const where = `WHERE u.email ILIKE $1 OR u.name ILIKE $1`;
  const { rows } = await db.query<UserRow>(
    `SELECT u.id, u.name, u.email, u.role, u.banned, u."banReason", u."createdAt",
       (SELECT count(*) FROM session s WHERE s."userId" = u.id AND s."expiresAt" > now()) AS active_sessions
     FROM "user" u ${where} ORDER BY u."createdAt" DESC, u.id LIMIT $2 OFFSET $3`,
    [pattern, limit, offset],
  );
  const count = await db.query<{ total: string | number }>(`SELECT count(*) AS total FROM "user" u ${where}`, [
    pattern,
  ]);
  return { users: rows.map(toAdminUser), total: Number(count.rows[0]?.total ?? 0) };
}

async function findUser(db: Queryable, id: string): Promise<AdminUser> {
  const { rows } = await db.query<UserRow>(
    `SELECT id, name, email, role, banned, "banReason", "createdAt" FROM "user" WHERE id = $1`,
    [id],
  );
  const row = rows[0];
  if (!row) throw new AdminError("no_such_user", `no user has the id ${id}; reload the list`, 404);
  return toAdminUser(row);
}

/** Sets a user's role. An admin cannot take the role from themself (the platform would have none left to fix it). */
export function setRole(db: Database, actor: AuditActor, userId: string, role: string): Promise<AdminUser> {
  if (!(ROLES as readonly string[]).includes(role)) {
    throw new AdminError("bad_role", `a role is one of ${ROLES.join(", ")}; got '${role}'`);
  }
  if (userId === actor.id && role !== "admin") {
    throw new AdminError("cannot_demote_self", "you cannot take the admin role from yourself; ask another admin");
  }
  return db.transaction(async (tx) => {
    const before = await findUser(tx, userId);
    await tx.query(`UPDATE "user" SET role = $2, "updatedAt" = now() WHERE id = $1`, [userId, role]);
    await writeAudit(tx, actor, {
      action: "user.set-role",
      target: userId,
      detail: { email: before.email, from: before.role, to: role },
    });
    return { ...before, role };
  });
}

/** Bans a user and ends every session they have (browser cookies and CLI tokens) at once. */
export function banUser(db: Database, actor: AuditActor, userId: string, reason: string): Promise<AdminUser> {
  if (userId === actor.id) throw new AdminError("cannot_ban_self", "you cannot ban yourself");
  return db.transaction(async (tx) => {
    const before = await findUser(tx, userId);
    await tx.query(
      `UPDATE "user" SET banned = true, "banReason" = $2, "banExpires" = NULL, "updatedAt" = now() WHERE id = $1`,
      [userId, reason || null],
    );
    const ended = await tx.query(`DELETE FROM session WHERE "userId" = $1 RETURNING id`, [userId]);
    await writeAudit(tx, actor, {
      action: "user.ban",
      target: userId,
      detail: { email: before.email, reason: reason || null, sessionsEnded: ended.rows.length },
    });
    return { ...before, banned: true, banReason: reason || null, activeSessions: 0 };
  });
}

export function unbanUser(db: Database, actor: AuditActor, userId: string): Promise<AdminUser> {
  return db.transaction(async (tx) => {
    const before = await findUser(tx, userId);
    await tx.query(
      `UPDATE "user" SET banned = false, "banReason" = NULL, "banExpires" = NULL, "updatedAt" = now() WHERE id = $1`,
      [userId],
    );
    await writeAudit(tx, actor, { action: "user.unban", target: userId, detail: { email: before.email } });
    return { ...before, banned: false, banReason: null };
  });
}

/** Ends every session of a user (they sign in again; the CLI logs in again). */
export function revokeSessions(db: Database, actor: AuditActor, userId: string): Promise<{ ended: number }> {
  return db.transaction(async (tx) => {
    const before = await findUser(tx, userId);
    const ended = await tx.query(`DELETE FROM session WHERE "userId" = $1 RETURNING id`, [userId]);
    await writeAudit(tx, actor, {
      action: "user.revoke-sessions",
      target: userId,
      detail: { email: before.email, sessionsEnded: ended.rows.length },
    });
    return { ended: ended.rows.length };
  });
}

/**
 * `opta platform admin grant EMAIL`: the admin role for the user with that email (any case). The
 * audit row names the operator's machine as the actor: no admin exists yet to name.
 */
export function grantAdmin(db: Database, email: string, ip: string | null): Promise<AdminUser> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<UserRow>(
      `SELECT id, name, email, role, banned, "banReason", "createdAt" FROM "user" WHERE lower(email) = lower($1)`,
      [email.trim()],
    );
    const row = rows[0];
    if (!row) {
      throw new AdminError(
        "no_such_user",
        `no account has the email ${email}; sign up on the accounts site first, then grant again`,
        404,
      );
    }
    const before = toAdminUser(row);
    await tx.query(`UPDATE "user" SET role = 'admin', "updatedAt" = now() WHERE id = $1`, [before.id]);
    await writeAudit(
      tx,
      { id: "cli", email: "opta platform admin grant", ip, userAgent: null },
      { action: "admin.grant", target: before.id, detail: { email: before.email, from: before.role, to: "admin" } },
    );
    return { ...before, role: "admin" };
  });
}

/** The platform's figures for the admin site's front page. */
export interface PlatformFigures {
  users: number;
  admins: number;
  banned: number;
  /** Sessions that have not expired: each is a signed-in browser or CLI. */
  activeDevices: number;
  /** Of those, CLI device tokens (`opta account login`). */
  activeCliDevices: number;
  /** Users whose vault was pushed in the last 7 days; null when vault sync is not installed. */
  vaultsSyncedThisWeek: number | null;
}

export async function platformFigures(db: Queryable): Promise<PlatformFigures> {
  const { rows } = await db.query<Record<string, string | number | boolean>>(
    `SELECT
       (SELECT count(*) FROM "user") AS users,
       (SELECT count(*) FROM "user" WHERE role LIKE '%admin%') AS admins,
       (SELECT count(*) FROM "user" WHERE banned) AS banned,
       (SELECT count(*) FROM session WHERE "expiresAt" > now()) AS active,
       (SELECT count(*) FROM session WHERE "expiresAt" > now() AND "userAgent" LIKE 'opta-cli/%') AS cli,
       to_regclass('vault') IS NOT NULL AS has_vault`,
  );
  const row = rows[0] ?? {};
  let vaults: number | null = null;
  // The vault table comes with vault sync (migration 0003); a platform without it has no figure.
  if (row.has_vault === true) {
    const synced = await db.query<{ total: string | number }>(
      `SELECT count(DISTINCT user_id) AS total FROM vault WHERE updated_at > now() - interval '7 days'`,
    );
    vaults = Number(synced.rows[0]?.total ?? 0);
  }
  return {
    users: Number(row.users ?? 0),
    admins: Number(row.admins ?? 0),
    banned: Number(row.banned ?? 0),
    activeDevices: Number(row.active ?? 0),
    activeCliDevices: Number(row.cli ?? 0),
    vaultsSyncedThisWeek: vaults,
  };
}
