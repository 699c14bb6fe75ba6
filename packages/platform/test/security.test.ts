/**
 * Attack families the platform's front door refuses, replayed against the real server and
 * counted by the security reporter: reading one site (or anything) through a host that names no
 * site or through the path, and state-changing requests from pages of another origin.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../scripts/security-family.js";
import { ACCOUNTS_STATE_CHANGING } from "../src/accounts/routes.js";
import { CONTROL_GRANT_PATH } from "../src/admin/control.js";
import { ADMIN_ROUTES } from "../src/admin/routes.js";
import { createPlatformApp } from "../src/server/app.js";
import { defaultSitesRoot } from "../src/sites/assets.js";
import { SITE_NAMES, siteHost } from "../src/sites/registry.js";
import { listen, memoryLogger, send } from "./fixtures/http.js";

const DOMAIN = "opta.localhost";
let server: Awaited<ReturnType<typeof listen>>;
let port: number;

beforeAll(async () => {
  server = await listen((port) =>
    createPlatformApp({
      address: { scheme: "http", domain: DOMAIN, port },
      sitesRoot: defaultSitesRoot(),
      logger: memoryLogger().logger,
      health: () => ({ version: "test", pid: process.pid, uptimeS: 0, database: { kind: "pglite", migrations: 1 } }),
    }),
  );
  port = server.port;
});

afterAll(async () => {
  await server.close();
});

/** Whether an answer carries any site's page or the health report. */
const leaks = (body: string) => /opta-site|"ok":true/.test(body);

describe("security", () => {
  it("platform-host-isolation: no host or path outside a site reaches a site's content", async ({ task }) => {
    const cases: SecurityCase[] = [];
    const hosts = [
      `evil.${DOMAIN}`,
      `home.${DOMAIN}`,
      `x.admin.${DOMAIN}`,
      `admin.${DOMAIN}.evil.example`,
      `admin${DOMAIN}`,
      `${DOMAIN}.evil.example`,
      "localhost",
      `127.0.0.1:${port}`,
      "[::1]",
      `admin.${DOMAIN}:99999`,
      "",
    ];
    for (const host of hosts) {
      for (const path of ["/", "/index.html", "/api/health"]) {
        const answer = await send(port, host, path);
        cases.push({
          attack: `Host: ${host || "(empty)"} ${path}`,
          refused: [400, 404].includes(answer.status) && !leaks(answer.body),
          detail: `${answer.status}`,
        });
      }
    }
    const paths = [
      "/../home/public/index.html",
      "/%2e%2e/home/public/index.html",
      "/..%2f..%2fhome%2fpublic%2findex.html",
      "/%2e%2e%2f%2e%2e%2fhome/public/index.html",
      "/..\\home\\public\\index.html",
      "/%00/index.html",
      "/../../packages/platform/package.json",
      "/%2e%2e/%2e%2e/%2e%2e/package.json",
    ];
    for (const path of paths) {
      const answer = await send(port, `admin.${DOMAIN}`, path);
      cases.push({
        attack: `admin ${path}`,
        refused: answer.status >= 400 && !answer.body.includes('content="home"') && !answer.body.includes('"name"'),
        detail: `${answer.status}`,
      });
    }
    expect(reportFamily(task, "platform-host-isolation", cases).through).toEqual([]);
  });

  it("platform-csrf: a state-changing request from another origin is refused on every site", async ({ task }) => {
    const cases: SecurityCase[] = [];
    const origins = [
      "http://evil.example",
      "null",
      `http://evil.${DOMAIN}:${port}`,
      `http://admin.${DOMAIN}.evil.example`,
    ];
    for (const site of SITE_NAMES) {
      for (const origin of origins) {
        for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
          const answer = await send(port, siteHost(site, DOMAIN), "/api/x", method, { headers: { origin } });
          cases.push({
            attack: `${method} ${site} from ${origin}`,
            refused: answer.status === 403,
            detail: `${answer.status}`,
          });
        }
      }
    }
    // Each state-changing route of the accounts and admin sites (and the operator's grant route) by name.
    const routes: [string, string][] = [
      ...ADMIN_ROUTES.filter((route) => route.startsWith("POST ")).map(
        (route) => ["admin", route.slice(5).replace(":id", "u1")] as [string, string],
      ),
      ...ACCOUNTS_STATE_CHANGING.map((path) => ["accounts", path.replace(":id", "s1")] as [string, string]),
      ["home", CONTROL_GRANT_PATH],
    ];
    for (const [site, path] of routes) {
      for (const origin of origins) {
        const answer = await send(port, siteHost(site as (typeof SITE_NAMES)[number], DOMAIN), path, "POST", {
          headers: { origin },
          json: {},
        });
        cases.push({
          attack: `POST ${site}${path} from ${origin}`,
          refused: answer.status === 403,
          detail: `${answer.status}`,
        });
      }
    }
    expect(reportFamily(task, "platform-csrf", cases).through).toEqual([]);
  });
});
