/**
 * The admin audit log (table audit_log, migration 0001): one row per admin action, written in the
 * same transaction as the action itself, so no action happens without its record.
 */
import type { Queryable } from "../db/database.js";

/** Who acted and from where (the front door's client address, the browser's User-Agent). */
export interface AuditActor {
  id: string;
  email: string;
  ip: string | null;
  userAgent: string | null;
}

/** One admin action: `user.ban`, `user.unban`, `user.set-role`, `user.revoke-sessions`, `admin.grant`. */
export interface AuditEntry {
  action: string;
  /** The user acted on (id), when there is one. */
  target: string | null;
  detail: Record<string, unknown>;
}

/** A row as the admin API lists it. */
export interface AuditRow {
  id: string;
  at: string;
  actorId: string;
  actorEmail: string;
  action: string;
  target: string | null;
  ip: string | null;
  userAgent: string | null;
  detail: Record<string, unknown>;
}

export async function writeAudit(db: Queryable, actor: AuditActor, entry: AuditEntry): Promise<void> {
  await db.query(
    "INSERT INTO audit_log (actor_id, actor_email, action, target, ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [actor.id, actor.email, entry.action, entry.target, actor.ip, actor.userAgent, JSON.stringify(entry.detail)],
  );
}

/** Newest first. */
export async function listAudit(
  db: Queryable,
  limit: number,
  offset: number,
): Promise<{ rows: AuditRow[]; total: number }> {
  const { rows } = await db.query<{
    id: string;
    at: Date | string;
    actor_id: string;
    actor_email: string;
    action: string;
    target: string | null;
    ip: string | null;
    user_agent: string | null;
    detail: Record<string, unknown> | string;
  }>(
    "SELECT id, at, actor_id, actor_email, action, target, ip, user_agent, detail FROM audit_log ORDER BY at DESC, id DESC LIMIT $1 OFFSET $2",
    [limit, offset],
  );
  const count = await db.query<{ total: string | number }>("SELECT count(*) AS total FROM audit_log");
  return {
    total: Number(count.rows[0]?.total ?? 0),
    rows: rows.map((row) => ({
      id: String(row.id),
      at: new Date(row.at).toISOString(),
      actorId: row.actor_id,
      actorEmail: row.actor_email,
      action: row.action,
      target: row.target,
      ip: row.ip,
      userAgent: row.user_agent,
      detail: typeof row.detail === "string" ? (JSON.parse(row.detail) as Record<string, unknown>) : row.detail,
    })),
  };
}
