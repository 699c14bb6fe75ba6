import type { Context, Hono } from "hono";
import type { PlatformAuth } from "../auth/auth.js";
import { isAdmin, type SessionUser, signedInUser } from "../auth/session.js";
import type { Database, Queryable } from "../db/database.js";
import { isProblem, validateLmxHost } from "../lmx-site/hosts.js";
import { CLIENT_ADDRESS_HEADER } from "../server/app.js";
import { insertComponent } from "./components.js";
import { incidentFeed } from "./feed.js";
import { newId } from "./ids.js";
import { type Clock, iso, type StatusSettings } from "./settings.js";
import type { SummaryCache } from "./summary.js";

/** What the status site's routes need. */
export interface StatusRoutesOptions {
  database: Database;
  auth: PlatformAuth;
  cache: SummaryCache;
  clock: Clock;
  settings: StatusSettings;
  /** status.<domain>'s origin, for the feed's links. */
  origin: string;
}

const INCIDENT_STATUSES = ["investigating", "identified", "monitoring", "resolved"] as const;
type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

/** The JSON error every route answers with. */
export function apiError(c: Context, status: 400 | 401 | 403 | 404 | 409 | 503, code: string, message: string) {
  return c.json({ error: { code, message } }, status);
}

/**
 * status.<domain>: `GET /summary.json` and `GET /feed.atom` for everyone (both work from the last
 * known state while the database is down), and `/api/admin/*` for admins: post and edit incidents
 * and their updates, maintenance windows, public LMX hosts. Every admin action is in the audit log.
 */
export function mountStatusRoutes(app: Hono, options: StatusRoutesOptions): void {
  const { cache } = options;
  app.get("/summary.json", async (c) => {
    const summary = await cache.get();
    if (!summary) {
      return apiError(c, 503, "status_unavailable", "the status database cannot be read yet; try again in a minute");
    }
    return c.json(summary, 200, { "Cache-Control": "no-store" });
  });
  app.get("/feed.atom", async (c) => {
    const summary = await cache.get();
    if (!summary)
      return apiError(c, 503, "status_unavailable", "the status database cannot be read yet; try again in a minute");
    return c.body(incidentFeed(summary, options.origin), 200, {
      "Content-Type": "application/atom+xml; charset=utf-8",
      "Cache-Control": "no-store",
    });
  });
  mountAdminRoutes(app, options);
}

type AdminContext = Context<{ Variables: { admin: SessionUser } }>;

function mountAdminRoutes(app: Hono, options: StatusRoutesOptions): void {
  const { database: db, clock } = options;
  const admin = app as unknown as Hono<{ Variables: { admin: SessionUser } }>;
  admin.use("/api/admin/*", async (c, next) => {
    const user = await signedInUser(options.auth, c.req.raw.headers);
    if (!user) return apiError(c, 401, "not_signed_in", "sign in on the accounts site with an admin account first");
    if (!isAdmin(user))
      return apiError(c, 403, "not_admin", "this needs the admin role; an admin can grant it on the admin site");
    c.set("admin", user);
    await next();
  });

  admin.post("/api/admin/incidents", async (c) => {
    const body = await jsonBody(c);
    const title = text(body.title, 200);
    const update = text(body.body, 5_000);
    const status = body.status === undefined ? "investigating" : incidentStatus(body.status);
    const impact = body.impact === undefined ? "minor" : body.impact;
    if (!title || !update || !status || (impact !== "minor" && impact !== "major")) {
      return apiError(
        c,
        400,
        "invalid_incident",
        "give title (≤ 200 characters), body (≤ 5000), and optionally status (investigating, identified, monitoring, resolved), impact (minor, major), componentId",
      );
    }
    const componentId = body.componentId === undefined || body.componentId === null ? null : String(body.componentId);
    if (componentId !== null && !(await publicComponent(db, componentId))) {
      return apiError(c, 404, "unknown_component", `no component ${componentId} on the status page`);
    }
    const now = iso(clock.now());
    const id = newId("inc", clock.now());
    await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO status_incident (id, component_id, title, status, impact, automatic, created_at, updated_at, resolved_at)
         VALUES ($1, $2, $3, $4, $5, false, $6::timestamptz, $6::timestamptz, $7::timestamptz)`,
        [id, componentId, title, status, impact, now, status === "resolved" ? now : null],
      );
      await addUpdate(tx, id, status, update, c.get("admin"), now);
      await audit(tx, c, "status.incident.create", id, { title, status, impact, componentId });
    });
    return c.json({ id }, 201);
  });

  admin.patch("/api/admin/incidents/:id", async (c) => {
    const body = await jsonBody(c);
    const title = body.title === undefined ? undefined : text(body.title, 200);
    const impact = body.impact;
    if (
      title === "" ||
      (impact !== undefined && impact !== "minor" && impact !== "major") ||
      (title === undefined && impact === undefined)
    ) {
      return apiError(c, 400, "invalid_incident", "give title (≤ 200 characters) and/or impact (minor, major)");
    }
    const id = c.req.param("id");
    const changed = await db.transaction(async (tx) => {
      const { rows } = await tx.query(
        `UPDATE status_incident SET title = COALESCE($2, title), impact = COALESCE($3, impact), updated_at = $4::timestamptz WHERE id = $1 RETURNING id`,
        [id, title ?? null, impact ?? null, iso(clock.now())],
      );
      if (rows.length > 0) await audit(tx, c, "status.incident.edit", id, { title, impact });
      return rows.length > 0;
    });
    return changed ? c.json({ id }) : apiError(c, 404, "unknown_incident", `no incident ${id}`);
  });

  admin.post("/api/admin/incidents/:id/updates", async (c) => {
    const body = await jsonBody(c);
    const status = incidentStatus(body.status);
    const update = text(body.body, 5_000);
    if (!status || !update) {
      return apiError(
        c,
        400,
        "invalid_update",
        "give status (investigating, identified, monitoring, resolved) and body (≤ 5000 characters)",
      );
    }
    const id = c.req.param("id");
    const now = iso(clock.now());
    const found = await db.transaction(async (tx) => {
      const { rows } = await tx.query(
        `UPDATE status_incident SET status = $2, updated_at = $3::timestamptz,
           resolved_at = CASE WHEN $2 = 'resolved' THEN COALESCE(resolved_at, $3::timestamptz) ELSE NULL END
         WHERE id = $1 RETURNING id`,
        [id, status, now],
      );
      if (rows.length === 0) return false;
      await addUpdate(tx, id, status, update, c.get("admin"), now);
      await audit(tx, c, "status.incident.update", id, { status });
      return true;
    });
    return found ? c.json({ id, status }, 201) : apiError(c, 404, "unknown_incident", `no incident ${id}`);
  });

  admin.patch("/api/admin/incidents/:id/updates/:update", async (c) => {
    const body = await jsonBody(c);
    const update = text(body.body, 5_000);
    if (!update) return apiError(c, 400, "invalid_update", "give body (≤ 5000 characters)");
    const { id, update: updateId } = c.req.param();
    const found = await db.transaction(async (tx) => {
      const { rows } = await tx.query(
        "UPDATE status_incident_update SET body = $3 WHERE incident_id = $1 AND id::text = $2 RETURNING id",
        [id, updateId, update],
      );
      if (rows.length > 0) await audit(tx, c, "status.incident.update.edit", id, { update: updateId });
      return rows.length > 0;
    });
    return found ? c.json({ id }) : apiError(c, 404, "unknown_update", `incident ${id} has no update ${updateId}`);
  });

  admin.post("/api/admin/maintenance", async (c) => {
    const body = await jsonBody(c);
    const title = text(body.title, 200);
    const startsAt = Date.parse(String(body.startsAt));
    const endsAt = Date.parse(String(body.endsAt));
    const componentIds = body.componentIds === undefined ? [] : body.componentIds;
    if (
      !title ||
      !Number.isFinite(startsAt) ||
      !Number.isFinite(endsAt) ||
      endsAt <= startsAt ||
      !Array.isArray(componentIds) ||
      !componentIds.every((id) => typeof id === "string")
    ) {
      return apiError(
        c,
        400,
        "invalid_maintenance",
        "give title, startsAt and endsAt (ISO times, end after start), and optionally componentIds (none: every component)",
      );
    }
    for (const componentId of componentIds as string[]) {
      if (!(await publicComponent(db, componentId)))
        return apiError(c, 404, "unknown_component", `no component ${componentId} on the status page`);
    }
    const id = newId("mnt", clock.now());
    await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO status_maintenance (id, title, component_ids, starts_at, ends_at, created_by, created_at)
         VALUES ($1, $2, $3::text[], $4::timestamptz, $5::timestamptz, $6, $7::timestamptz)`,
        [id, title, componentIds, iso(startsAt), iso(endsAt), c.get("admin").email, iso(clock.now())],
      );
      await audit(tx, c, "status.maintenance.create", id, {
        title,
        startsAt: iso(startsAt),
        endsAt: iso(endsAt),
        componentIds,
      });
    });
    return c.json({ id }, 201);
  });

  admin.delete("/api/admin/maintenance/:id", async (c) => {
    const id = c.req.param("id");
    const found = await db.transaction(async (tx) => {
      const { rows } = await tx.query("DELETE FROM status_maintenance WHERE id = $1 RETURNING id", [id]);
      if (rows.length > 0) await audit(tx, c, "status.maintenance.delete", id, {});
      return rows.length > 0;
    });
    return found ? c.body(null, 204) : apiError(c, 404, "unknown_maintenance", `no maintenance window ${id}`);
  });

  admin.post("/api/admin/components", async (c) => {
    const body = await jsonBody(c);
    const host = validateLmxHost(body);
    if (isProblem(host)) return apiError(c, 400, "invalid_host", host.message);
    const check = checkSettings(body, options.settings);
    if (typeof check === "string") return apiError(c, 400, "invalid_host", check);
    const id = newId("lmx", clock.now());
    await db.transaction(async (tx) => {
      await insertComponent(
        tx,
        {
          id,
          kind: "lmx",
          name: host.name,
          ownerId: null,
          baseUrl: host.baseUrl,
          checkUrl: `${host.baseUrl}/health`,
          ...check,
        },
        clock,
      );
      await audit(tx, c, "status.component.create", id, { name: host.name, url: host.baseUrl });
    });
    return c.json({ id, name: host.name, url: host.baseUrl }, 201);
  });

  admin.delete("/api/admin/components/:id", async (c) => {
    const id = c.req.param("id");
    const found = await db.transaction(async (tx) => {
      const { rows } = await tx.query(
        "DELETE FROM status_component WHERE id = $1 AND kind = 'lmx' AND owner_id IS NULL RETURNING id",
        [id],
      );
      if (rows.length > 0) await audit(tx, c, "status.component.delete", id, {});
      return rows.length > 0;
    });
    return found ? c.body(null, 204) : apiError(c, 404, "unknown_component", `no registered public LMX host ${id}`);
  });
}

/** A check's interval, timeout and expected status from a body, within bounds, else what is wrong. */
export function checkSettings(
  body: Record<string, unknown>,
  settings: StatusSettings,
): { intervalS: number; timeoutMs: number; expectedStatus: number } | string {
  const intervalS = body.intervalS === undefined ? settings.intervalS : Number(body.intervalS);
  const timeoutMs = body.timeoutMs === undefined ? settings.timeoutMs : Number(body.timeoutMs);
  const expectedStatus = body.expectedStatus === undefined ? 200 : Number(body.expectedStatus);
  if (!Number.isInteger(intervalS) || intervalS < 10 || intervalS > 86_400)
    return "intervalS must be a whole number of seconds from 10 to 86400";
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000 || timeoutMs >= intervalS * 1000) {
    return "timeoutMs must be from 100 to 60000 and shorter than the interval";
  }
  if (!Number.isInteger(expectedStatus) || expectedStatus < 100 || expectedStatus > 599)
    return "expectedStatus must be an HTTP status (100–599)";
  return { intervalS, timeoutMs, expectedStatus };
}

async function publicComponent(db: Queryable, id: string): Promise<boolean> {
  const { rows } = await db.query("SELECT 1 FROM status_component WHERE id = $1 AND owner_id IS NULL", [id]);
  return rows.length > 0;
}

function addUpdate(
  tx: Queryable,
  incidentId: string,
  status: IncidentStatus,
  body: string,
  author: SessionUser,
  at: string,
) {
  return tx.query(
    "INSERT INTO status_incident_update (incident_id, at, status, body, author) VALUES ($1, $2::timestamptz, $3, $4, $5)",
    [incidentId, at, status, body, author.email],
  );
}

/** One row of the admin audit log (migration 0001) per admin action, in the action's transaction. */
function audit(tx: Queryable, c: AdminContext, action: string, target: string, detail: Record<string, unknown>) {
  const user = c.get("admin");
  return tx.query(
    "INSERT INTO audit_log (actor_id, actor_email, action, target, ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
    [
      user.id,
      user.email,
      action,
      target,
      c.req.header(CLIENT_ADDRESS_HEADER) ?? null,
      c.req.header("user-agent") ?? null,
      JSON.stringify(detail),
    ],
  );
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  try {
    const body = await c.req.json();
    return body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function text(value: unknown, max: number): string | undefined {
  if (typeof value !== "string") return undefined;
  const trimmed = value.trim();
  return trimmed.length > 0 && trimmed.length <= max ? trimmed : "";
}

function incidentStatus(value: unknown): IncidentStatus | undefined {
  return INCIDENT_STATUSES.includes(value as IncidentStatus) ? (value as IncidentStatus) : undefined;
}
