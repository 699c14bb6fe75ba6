import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPlatformApp } from "../src/server/app.js";
import { defaultSitesRoot } from "../src/sites/assets.js";
import { SITE_NAMES, siteHost } from "../src/sites/registry.js";
import { listen, memoryLogger, send } from "./fixtures/http.js";

const DOMAIN = "opta.localhost";
const log = memoryLogger();
let server: Awaited<ReturnType<typeof listen>>;
let port: number;

/** The marker every placeholder page carries: which site's content a body is. */
const siteMarker = (site: string) => `<meta name="opta-site" content="${site}">`;

beforeAll(async () => {
  server = await listen((port) =>
    createPlatformApp({
      address: { scheme: "http", domain: DOMAIN, port },
      sitesRoot: defaultSitesRoot(),
      logger: log.logger,
      health: () => ({ version: "test", pid: process.pid, uptimeS: 0, database: { kind: "pglite", migrations: 1 } }),
    }),
  );
  port = server.port;
});

afterAll(async () => {
  await server.close();
});

describe("Host routing", () => {
  it.each(SITE_NAMES)("serves %s's own page on its host, and only there", async (site) => {
    const answer = await send(port, `${siteHost(site, DOMAIN)}:${port}`);
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toMatch(/^text\/html/);
    expect(answer.body).toContain(siteMarker(site));
    for (const other of SITE_NAMES) if (other !== site) expect(answer.body).not.toContain(siteMarker(other));
  });

  it("ignores the port and the case of the Host header, and a trailing dot", async () => {
    for (const host of ["ADMIN.Opta.LocalHost", "admin.opta.localhost:8443", "Admin.OPTA.localhost.:3000"]) {
      const answer = await send(port, host);
      expect(answer.status, host).toBe(200);
      expect(answer.body, host).toContain(siteMarker("admin"));
    }
    expect((await send(port, "OPTA.LOCALHOST")).body).toContain(siteMarker("home"));
  });

  it("answers 404 with no site's content for any host that names no site", async () => {
    const hosts = [
      "evil.opta.localhost",
      "home.opta.localhost",
      "x.admin.opta.localhost",
      "admin.opta.localhost.evil.example",
      "adminopta.localhost",
      "localhost",
      `127.0.0.1:${port}`,
      "[::1]:3000",
    ];
    for (const host of hosts) {
      for (const path of ["/", "/index.html", "/api/health"]) {
        const answer = await send(port, host, path);
        expect(answer.status, `${host}${path}`).toBe(404);
        expect(answer.body, host).not.toMatch(/opta-site|"ok"/);
        expect(JSON.parse(answer.body).error.code).toBe("unknown_host");
      }
    }
    // A malformed or empty Host may be refused by Node's parser before routing (400): still no site.
    for (const host of ["opta.localhost:notaport", "", "admin.opta.localhost:99999"]) {
      const answer = await send(port, host);
      expect([400, 404], host).toContain(answer.status);
      expect(answer.body, host).not.toMatch(/opta-site/);
    }
  });

  it("never serves another site's files through the path (.., encoded .., a symlink out)", async () => {
    const attempts = [
      "/../home/public/index.html",
      "/%2e%2e/home/public/index.html",
      "/..%2f..%2fhome%2fpublic%2findex.html",
      "/%2e%2e%2f%2e%2e%2fhome/public/index.html",
      "/..\\home\\public\\index.html",
    ];
    for (const path of attempts) {
      const answer = await send(port, "admin.opta.localhost", path);
      expect(answer.body, path).not.toContain(siteMarker("home"));
      expect([400, 404], path).toContain(answer.status);
    }
  });

  it("refuses a symlink that leads out of a site's folder", async () => {
    const root = await mkdtemp(join(tmpdir(), "opta-sites-"));
    try {
      const { mkdir, writeFile } = await import("node:fs/promises");
      await mkdir(join(root, "admin", "public"), { recursive: true });
      await mkdir(join(root, "home", "public"), { recursive: true });
      await writeFile(join(root, "home", "public", "secret.html"), "home-only");
      await symlink(join(root, "home", "public", "secret.html"), join(root, "admin", "public", "leak.html"));
      const other = await listen((port) =>
        createPlatformApp({
          address: { scheme: "http", domain: DOMAIN, port },
          sitesRoot: root,
          logger: memoryLogger().logger,
          health: () => ({ version: "t", pid: 1, uptimeS: 0, database: { kind: "pglite", migrations: 0 } }),
        }),
      );
      try {
        const leak = await send(other.port, "admin.opta.localhost", "/leak.html");
        expect(leak.status).toBe(404);
        expect(leak.body).not.toContain("home-only");
        expect((await send(other.port, "opta.localhost", "/secret.html")).body).toBe("home-only");
      } finally {
        await other.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("answers the health route on the home host only, and unknown API routes with a JSON 404", async () => {
    const health = await send(port, DOMAIN, "/api/health");
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({
      ok: true,
      domain: DOMAIN,
      sites: { admin: `http://admin.${DOMAIN}:${port}` },
    });
    const elsewhere = await send(port, `admin.${DOMAIN}`, "/api/health");
    expect(elsewhere.status).toBe(404);
    expect(JSON.parse(elsewhere.body).error.code).toBe("not_found");
  });

  it("refuses state-changing methods on static pages", async () => {
    const answer = await send(port, `status.${DOMAIN}`, "/", "POST");
    expect(answer.status).toBe(405);
  });

  it("refuses a state-changing request from another origin on every site, before any route", async () => {
    for (const site of SITE_NAMES) {
      for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
        for (const origin of ["http://evil.example", "null", `http://evil.${DOMAIN}:${port}`]) {
          const answer = await send(port, siteHost(site, DOMAIN), "/api/anything", method, { headers: { origin } });
          expect(answer.status, `${method} ${site} from ${origin}`).toBe(403);
          expect(JSON.parse(answer.body).error.code).toBe("origin_refused");
        }
      }
      // This domain's own sites may: the route answers (here: no such route).
      const own = await send(port, siteHost(site, DOMAIN), "/api/anything", "POST", {
        headers: { origin: `http://admin.${DOMAIN}:${port}` },
      });
      expect(own.status).toBe(404);
    }
  });
});

describe("Content-Security-Policy", () => {
  it.each(SITE_NAMES)("%s sends a strict CSP on pages and on errors", async (site) => {
    for (const path of ["/", "/missing.html", "/api/nothing"]) {
      const answer = await send(port, siteHost(site, DOMAIN), path);
      const csp = String(answer.headers["content-security-policy"]);
      expect(csp, path).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("base-uri 'none'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
      expect(answer.headers["x-content-type-options"]).toBe("nosniff");
      const accountsOrigin = `http://accounts.${DOMAIN}:${port}`;
      if (site === "accounts") expect(csp).toContain("connect-src 'self';");
      else expect(csp).toContain(`connect-src 'self' ${accountsOrigin};`);
    }
  });

  it("an unknown host's 404 also forbids everything", async () => {
    const csp = String((await send(port, "nobody.example")).headers["content-security-policy"]);
    expect(csp).toContain("default-src 'none'");
  });
});

describe("structured logs", () => {
  it("writes one JSON line per request with host, method, path and status", async () => {
    await send(port, `learn.${DOMAIN}`, "/log-probe");
    const line = log.lines.find((entry) => entry.path === "/log-probe");
    expect(line).toMatchObject({
      level: "info",
      scope: "http",
      message: "request",
      host: `learn.${DOMAIN}`,
      method: "GET",
      status: 404,
    });
    expect(typeof line?.ts).toBe("string");
    for (const raw of log.raw) expect(raw.endsWith("\n") && !raw.slice(0, -1).includes("\n")).toBe(true);
  });
});
