import type { HttpBindings } from "@hono/node-server";
import { Hono } from "hono";
import type { Logger } from "../log.js";
import { siteAssetDir } from "../sites/assets.js";
import { SITES, type SiteName, siteForHost, siteHost } from "../sites/registry.js";
import { originAllowed, type PublicAddress, securityHeaders, siteOrigin, siteOrigins } from "./security-headers.js";
import { findStaticFile } from "./static-files.js";

/** What `GET /api/health` on the home host reports. */
export interface HealthReport {
  ok: true;
  version: string;
  pid: number;
  uptimeS: number;
  domain: string;
  sites: Record<SiteName, string>;
  database: { kind: "pglite" | "postgres"; migrations: number };
}

/** Adds a site's API routes to its app (mounted before its static files). */
export type SiteRoutes = (app: Hono) => void;

/** Options of `createPlatformApp`. */
export interface PlatformAppOptions {
  /** Where browsers reach the sites (domain and port of their origins). */
  address: PublicAddress;
  /** apps/sites/ (each site's files under `<site>/dist` or `<site>/public`). */
  sitesRoot: string;
  logger: Logger;
  /** Facts for the health report that the app does not own. */
  health: () => Omit<HealthReport, "ok" | "sites" | "domain">;
  /** Extra API routes per site (later issues mount accounts, admin… here). */
  routes?: Partial<Record<SiteName, SiteRoutes>>;
}

/** The JSON error body every API answers with, as the daemon's: `{ error: { code, message } }`. */
function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/**
 * The whole platform as one fetch handler: the Host header picks the site and only that site's
 * app sees the request; a host that names no site gets 404 and nothing of any site.
 */
export function createPlatformApp(options: PlatformAppOptions): Hono {
  const { address, logger } = options;
  const accountsOrigin = siteOrigin(address, siteHost("accounts", address.domain));
  const trusted = siteOrigins(address);
  const sites = new Map<SiteName, Hono>();
  for (const site of SITES) sites.set(site.name, createSiteApp(site.name, options, accountsOrigin));

  const app = new Hono();
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    logger.info("http", "request", {
      host: c.req.header("host") ?? null,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
    });
  });
  app.all("*", (c) => {
    const site = siteForHost(c.req.header("host"), address.domain);
    const siteApp = site ? sites.get(site) : undefined;
    if (!siteApp) {
      return c.json(
        errorBody("unknown_host", `no Opta site answers on this host; the sites are *.${address.domain}`),
        404,
        {
          "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
          "X-Content-Type-Options": "nosniff",
        },
      );
    }
    if (!originAllowed(c.req.method, c.req.header("origin"), trusted)) {
      return c.json(
        errorBody(
          "origin_refused",
          `a ${c.req.method} from another origin is refused; only this domain's sites may make it`,
        ),
        403,
        {
          "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
          "X-Content-Type-Options": "nosniff",
        },
      );
    }
    return siteApp.fetch(withClientAddress(c.req.raw, c.env), c.env);
  });
  app.onError((error, c) => {
    logger.error("http", "unhandled error", { path: c.req.path, error: error.message, stack: error.stack });
    return c.json(errorBody("internal", "the platform server failed on this request; see its log"), 500);
  });
  return app;
}

/**
 * The header that carries the client's address to the sites (better-auth keys its rate limits on
 * it). Set here from the TCP peer, replacing whatever the client sent, so no one picks their own
 * rate-limit bucket by sending the header (or X-Forwarded-For, which is not read).
 */
export const CLIENT_ADDRESS_HEADER = "x-opta-client-address";

function withClientAddress(request: Request, env: unknown): Request {
  const address = (env as Partial<HttpBindings> | undefined)?.incoming?.socket?.remoteAddress ?? "unknown";
  const headers = new Headers(request.headers);
  headers.set(CLIENT_ADDRESS_HEADER, address);
  return new Request(request, { headers });
}

/** One site: its security headers on every answer, its API routes, then its static files. */
function createSiteApp(site: SiteName, options: PlatformAppOptions, accountsOrigin: string): Hono {
  const headers = securityHeaders(site, accountsOrigin);
  const app = new Hono();
  app.use(async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  });
  if (site === "home") {
    app.get("/api/health", (c) => {
      const sites = Object.fromEntries(
        SITES.map((entry) => [entry.name, siteOrigin(options.address, siteHost(entry.name, options.address.domain))]),
      ) as Record<SiteName, string>;
      const report: HealthReport = { ok: true, domain: options.address.domain, sites, ...options.health() };
      return c.json(report);
    });
  }
  options.routes?.[site]?.(app);
  app.all("/api/*", (c) => c.json(errorBody("not_found", `no such API route on ${site}: ${c.req.path}`), 404));
  const root = siteAssetDir(options.sitesRoot, site);
  app.on(["GET", "HEAD"], "*", async (c) => {
    const file = await findStaticFile(root, c.req.path);
    if (!file) return c.text("Not found", 404);
    const type = { "Content-Type": file.contentType };
    return c.req.method === "HEAD" ? c.body(null, 200, type) : c.body(new Uint8Array(file.body), 200, type);
  });
  app.all("*", (c) => c.text("Method not allowed", 405, { Allow: "GET, HEAD" }));
  return app;
}
