import type { Hono } from "hono";
import type { PlatformAuth } from "../auth/auth.js";
import { signedInUser } from "../auth/session.js";
import type { Database } from "../db/database.js";
import { findStaticFile } from "../server/static-files.js";
import { insertComponent } from "../status/components.js";
import { newId } from "../status/ids.js";
import { apiError } from "../status/routes.js";
import type { StatusThresholds } from "../status/rules.js";
import { type Clock, iso, type StatusSettings } from "../status/settings.js";
import { type ComponentSummary, summarizeComponents } from "../status/summary.js";
import { isProblem, validateLmxHost } from "./hosts.js";

/** What the lmx site's routes need. */
export interface LmxSiteOptions {
  database: Database;
  auth: PlatformAuth;
  clock: Clock;
  settings: StatusSettings;
  /** lmx.<domain>'s origin (where sign-in sends the user back). */
  origin: string;
  /** accounts.<domain>'s origin (its sign-in page). */
  accountsOrigin: string;
  /** The site's folder of files (its index.html is served to signed-in users only). */
  root: string;
}

/** At most this many hosts per user: each one is checked every interval. */
export const MAX_HOSTS_PER_USER = 20;

/** One registered host as `GET /api/hosts` lists it. */
export interface LmxHostView {
  id: string;
  name: string;
  url: string;
  /** The host's own LMX dashboard. */
  dashboardUrl: string;
  status: ComponentSummary["status"];
  lastCheck: ComponentSummary["lastCheck"];
  uptime24h: number | null;
  createdAt: string;
}

/**
 * lmx.<domain>: a signed-in user's LMX hosts. Each is a private status component (owner = the
 * user), checked like the others; every query is scoped to the session's user, so one user can
 * neither see nor delete another's (a host of someone else is "not found", as one that never was).
 */
export function mountLmxSiteRoutes(app: Hono, options: LmxSiteOptions): void {
  const { database: db, clock, settings } = options;
  const thresholds: StatusThresholds = settings;
  const signIn = (path: string) =>
    `${options.accountsOrigin}/sign-in?redirect=${encodeURIComponent(`${options.origin}${path}`)}`;

  app.get("/", async (c) => {
    const user = await signedInUser(options.auth, c.req.raw.headers);
    if (!user) return c.redirect(signIn("/"), 302);
    const file = await findStaticFile(options.root, "/index.html");
    if (!file) return c.text("Not found", 404);
    return c.body(new Uint8Array(file.body), 200, { "Content-Type": file.contentType, "Cache-Control": "no-store" });
  });

  app.get("/api/hosts", async (c) => {
    const user = await signedInUser(options.auth, c.req.raw.headers);
    if (!user)
      return c.json(
        { error: { code: "not_signed_in", message: "sign in on the accounts site first", signIn: signIn("/") } },
        401,
      );
    const components = await summarizeComponents(db, { ownerId: user.id }, thresholds, clock);
    const { rows } = await db.query<{ id: string; created_at: Date }>(
      "SELECT id, created_at FROM status_component WHERE owner_id = $1",
      [user.id],
    );
    const created = new Map(rows.map((row) => [row.id, iso(new Date(row.created_at).getTime())]));
    const hosts: LmxHostView[] = components.map((component) => ({
      id: component.id,
      name: component.name,
      url: component.baseUrl ?? "",
      dashboardUrl: `${component.baseUrl ?? ""}/dashboard`,
      status: component.status,
      lastCheck: component.lastCheck,
      uptime24h: component.uptime["24h"],
      createdAt: created.get(component.id) ?? "",
    }));
    return c.json({ user: { email: user.email }, hosts }, 200, { "Cache-Control": "no-store" });
  });

  app.post("/api/hosts", async (c) => {
    const user = await signedInUser(options.auth, c.req.raw.headers);
    if (!user) return apiError(c, 401, "not_signed_in", "sign in on the accounts site first");
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      body = undefined;
    }
    const host = validateLmxHost(body);
    if (isProblem(host)) return apiError(c, 400, "invalid_host", host.message);
    const id = newId("lmx", clock.now());
    const outcome = await db.transaction(async (tx) => {
      // The per-user lock makes the count and the duplicate check hold against two requests at once.
      await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`lmx-hosts ${user.id}`]);
      const { rows } = await tx.query<{ base_url: string }>(
        "SELECT base_url FROM status_component WHERE owner_id = $1",
        [user.id],
      );
      if (rows.length >= MAX_HOSTS_PER_USER) return "full" as const;
      if (rows.some((row) => row.base_url === host.baseUrl)) return "duplicate" as const;
      await insertComponent(
        tx,
        {
          id,
          kind: "lmx",
          name: host.name,
          ownerId: user.id,
          baseUrl: host.baseUrl,
          checkUrl: `${host.baseUrl}/health`,
          intervalS: settings.intervalS,
          timeoutMs: settings.timeoutMs,
          expectedStatus: 200,
        },
        clock,
      );
      return "added" as const;
    });
    if (outcome === "full")
      return apiError(
        c,
        409,
        "too_many_hosts",
        `you have ${MAX_HOSTS_PER_USER} hosts, the most there may be; remove one first`,
      );
    if (outcome === "duplicate") return apiError(c, 409, "duplicate_host", `${host.baseUrl} is registered already`);
    return c.json({ id, name: host.name, url: host.baseUrl, dashboardUrl: `${host.baseUrl}/dashboard` }, 201);
  });

  app.delete("/api/hosts/:id", async (c) => {
    const user = await signedInUser(options.auth, c.req.raw.headers);
    if (!user) return apiError(c, 401, "not_signed_in", "sign in on the accounts site first");
    const { rows } = await db.query(
      "DELETE FROM status_component WHERE id = $1 AND owner_id = $2 AND kind = 'lmx' RETURNING id",
      [c.req.param("id"), user.id],
    );
    return rows.length > 0 ? c.body(null, 204) : apiError(c, 404, "unknown_host", "you have no host with that id");
  });
}
