/**
 * lmx.<domain>: a signed-in user's LMX hosts (register, list with the checks' health, remove),
 * checked only by the status checks, private to their owner (lmx-host-isolation) and safe from
 * other origins (lmx-csrf); signed out, the site sends the user to accounts' sign-in.
 */
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../scripts/security-family.js";
import { isAllowedRedirect } from "../src/auth/redirects.js";
import { MAX_HOSTS_PER_USER } from "../src/lmx-site/routes.js";
import { siteOrigins } from "../src/server/security-headers.js";
import { send } from "./fixtures/http.js";
import { DOMAIN, START_TIMEOUT, type StatusPlatform, signUp, startStatusPlatform } from "./fixtures/status.js";

const CHROMIUM = "/usr/bin/chromium";
let server: StatusPlatform;
let alice: string;
let bob: string;
/** A stand-in LMX: answers /health and records every path it is asked for. */
let fakeLmx: Server;
let fakeUrl: string;
const asked: string[] = [];

interface HostView {
  id: string;
  name: string;
  url: string;
  dashboardUrl: string;
  status: string;
  lastCheck: { ok: boolean; httpStatus: number | null } | null;
  uptime24h: number | null;
}

beforeAll(async () => {
  fakeLmx = createServer((request, response) => {
    asked.push(request.url ?? "");
    response
      .writeHead(request.url === "/health" ? 200 : 404, { "content-type": "application/json" })
      .end('{"status":"ok"}');
  });
  await new Promise<void>((resolve) => fakeLmx.listen(0, "127.0.0.1", () => resolve()));
  fakeUrl = `http://127.0.0.1:${(fakeLmx.address() as AddressInfo).port}`;
  server = await startStatusPlatform();
  alice = await signUp(server, "alice@example.com", "127.0.0.41");
  bob = await signUp(server, "bob@example.com", "127.0.0.42");
}, START_TIMEOUT);

afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => fakeLmx?.close(resolve));
});

function lmx(method: string, path: string, cookie: string, json?: unknown, origin = server.origin("lmx")) {
  return send(server.port, server.host("lmx"), path, method, {
    headers: { origin, ...(cookie ? { cookie } : {}) },
    ...(json === undefined ? {} : { json }),
  });
}

async function hosts(cookie: string): Promise<HostView[]> {
  const answer = await lmx("GET", "/api/hosts", cookie);
  expect(answer.status, answer.body).toBe(200);
  return (JSON.parse(answer.body) as { hosts: HostView[] }).hosts;
}

async function add(cookie: string, name: string, url: string): Promise<string> {
  const answer = await lmx("POST", "/api/hosts", cookie, { name, url });
  expect(answer.status, answer.body).toBe(201);
  return (JSON.parse(answer.body) as { id: string }).id;
}

describe("lmx site", () => {
  it("sends a signed-out visitor to accounts' sign-in, with a way back here only", async () => {
    const page = await send(server.port, server.host("lmx"), "/");
    expect(page.status).toBe(302);
    const location = new URL(page.headers.location as string);
    expect(location.origin).toBe(server.origin("accounts"));
    expect(location.pathname).toBe("/sign-in");
    const back = location.searchParams.get("redirect")!;
    expect(back).toBe(`${server.origin("lmx")}/`);
    expect(isAllowedRedirect(back, siteOrigins({ scheme: "http", domain: DOMAIN, port: server.port }))).toBe(true);
    const api = await lmx("GET", "/api/hosts", "");
    expect(api.status).toBe(401);
    expect(JSON.parse(api.body).error).toMatchObject({ code: "not_signed_in", signIn: location.href });
    expect((await send(server.port, server.host("lmx"), "/", "GET", { headers: { cookie: alice } })).status).toBe(200);
  });

  it("refuses hosts that are not plain http(s) URLs, and names the field", async () => {
    const bad: [unknown, string][] = [
      [{ name: "x", url: "ftp://192.168.1.20/" }, "http or https"],
      [{ name: "x", url: "javascript:alert(1)" }, "http or https"],
      [{ name: "x", url: "file:///etc/passwd" }, "http or https"],
      [{ name: "x", url: "http://admin:secret@192.168.1.20:1234" }, "user name or password"],
      [{ name: "x", url: "http://192.168.1.20:1234/?next=evil" }, "query"],
      [{ name: "x", url: "not a url" }, "not a URL"],
      [{ name: "", url: "http://192.168.1.20:1234" }, "name must be"],
      [{ name: "a".repeat(65), url: "http://192.168.1.20:1234" }, "name must be"],
      [{ name: "bell\u0007", url: "http://192.168.1.20:1234" }, "name must be"],
      [{ url: "http://192.168.1.20:1234" }, "name must be"],
    ];
    for (const [body, message] of bad) {
      const answer = await lmx("POST", "/api/hosts", alice, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(JSON.parse(answer.body).error.code).toBe("invalid_host");
      expect(JSON.parse(answer.body).error.message).toContain(message);
    }
    expect(await hosts(alice)).toEqual([]);
  });

  it("lists a host with the health its checks saw and a link to its dashboard; only the checks contact it", async () => {
    const id = await add(alice, "Desk GPU", `${fakeUrl}/`);
    // A LAN address is accepted (never contacted in this test: it is removed before any check).
    const lan = await add(alice, "Office box", "http://192.168.1.20:1234");
    expect((await lmx("DELETE", `/api/hosts/${lan}`, alice)).status).toBe(204);
    expect(asked).toEqual([]);
    const before = (await hosts(alice)).find((host) => host.id === id)!;
    expect(before).toMatchObject({
      url: fakeUrl,
      dashboardUrl: `${fakeUrl}/dashboard`,
      status: "operational",
      lastCheck: null,
    });
    await server.platform.status.monitor.tick();
    expect(asked).toEqual(["/health"]);
    expect((await hosts(alice)).find((host) => host.id === id)).toMatchObject({
      status: "operational",
      lastCheck: { ok: true, httpStatus: 200 },
      uptime24h: 1,
    });
    const duplicate = await lmx("POST", "/api/hosts", alice, { name: "Again", url: fakeUrl });
    expect(duplicate.status).toBe(409);
    expect(JSON.parse(duplicate.body).error.code).toBe("duplicate_host");
    // A user's host is theirs: it is not on the public status page.
    const summary = await send(server.port, server.host("status"), "/summary.json");
    expect(summary.body).not.toContain(id);
    expect(summary.body).not.toContain("Desk GPU");
  });

  it("shows the hosts in the page, signed in through the shared cookie", async ({ skip }) => {
    if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} not found`);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu"],
    });
    try {
      const context = await browser.newContext();
      const [name, value] = alice.split("=") as [string, string];
      // A leading dot: the cookie reaches every site, as the one better-auth sets on Domain=<domain>.
      await context.addCookies([
        { name, value, domain: `.${DOMAIN}`, path: "/", secure: true, httpOnly: true, sameSite: "Lax" },
      ]);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text());
      });
      await page.goto(`${server.origin("lmx")}/`);
      const host = page.locator("[data-host]");
      await host.first().waitFor({ timeout: 15_000 });
      expect(await host.count()).toBe(1);
      expect(await host.first().getAttribute("data-status")).toBe("operational");
      expect(await host.locator("a.dashboard").getAttribute("href")).toBe(`${fakeUrl}/dashboard`);
      expect(await page.locator("#who").textContent()).toBe("Signed in as alice@example.com");
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it(`holds at most ${MAX_HOSTS_PER_USER} hosts per user`, async () => {
    const existing = (await hosts(bob)).length;
    const ids: string[] = [];
    for (let index = existing; index < MAX_HOSTS_PER_USER; index += 1)
      ids.push(await add(bob, `h${index}`, `http://10.0.0.${index + 1}:1234`));
    const full = await lmx("POST", "/api/hosts", bob, { name: "one more", url: "http://10.0.1.1:1234" });
    expect(full.status).toBe(409);
    expect(JSON.parse(full.body).error.code).toBe("too_many_hosts");
    for (const id of ids) expect((await lmx("DELETE", `/api/hosts/${id}`, bob)).status).toBe(204);
  });

  it("lmx-host-isolation: one user can neither see nor remove another's hosts", async ({ task }) => {
    const aliceHost = (await hosts(alice))[0]!;
    const bobHost = await add(bob, "Bob's box", "http://10.1.2.3:1234");
    const cases: SecurityCase[] = [];
    const bobSees = JSON.stringify(await hosts(bob));
    cases.push({
      attack: "list another user's hosts",
      refused: !bobSees.includes(aliceHost.id) && !bobSees.includes(fakeUrl),
    });
    for (const id of [aliceHost.id, encodeURIComponent(aliceHost.id), `${aliceHost.id}' OR '1'='1`, "%25", "*"]) {
      const answer = await lmx("DELETE", `/api/hosts/${encodeURIComponent(id)}`, bob);
      cases.push({
        attack: `delete ${id} as another user`,
        refused: answer.status === 404,
        detail: `${answer.status}`,
      });
    }
    const viaAdmin = await send(server.port, server.host("status"), `/api/admin/components/${aliceHost.id}`, "DELETE", {
      headers: { origin: server.origin("status"), cookie: bob },
    });
    cases.push({
      attack: "delete it through the status admin route",
      refused: viaAdmin.status === 403,
      detail: `${viaAdmin.status}`,
    });
    const signedOut = await lmx("DELETE", `/api/hosts/${aliceHost.id}`, "");
    cases.push({ attack: "delete it signed out", refused: signedOut.status === 401, detail: `${signedOut.status}` });
    const forged = await lmx("GET", "/api/hosts", "__Secure-better-auth.session_token=forged.value");
    cases.push({
      attack: "list with a forged session cookie",
      refused: forged.status === 401,
      detail: `${forged.status}`,
    });
    const feed = await send(server.port, server.host("status"), "/feed.atom");
    const summary = await send(server.port, server.host("status"), "/summary.json");
    cases.push({
      attack: "read private hosts from the public status feed or summary",
      refused: ![feed.body, summary.body].some((body) => body.includes(aliceHost.id) || body.includes(bobHost)),
    });
    // Still there for Alice; and the owner herself can remove her own (the route works).
    cases.push({
      attack: "the attempts removed Alice's host",
      refused: (await hosts(alice)).some((host) => host.id === aliceHost.id),
    });
    expect((await lmx("DELETE", `/api/hosts/${bobHost}`, bob)).status).toBe(204);
    expect(reportFamily(task, "lmx-host-isolation", cases).through).toEqual([]);
  });

  it("lmx-csrf: a page elsewhere cannot add or remove a signed-in user's hosts", async ({ task }) => {
    const aliceHost = (await hosts(alice))[0]!;
    const cases: SecurityCase[] = [];
    for (const origin of [
      "http://evil.example",
      "null",
      `http://evil.${DOMAIN}:${server.port}`,
      `http://lmx.${DOMAIN}.evil.example`,
    ]) {
      const added = await lmx("POST", "/api/hosts", alice, { name: "CSRF", url: "http://10.9.9.9:1234" }, origin);
      cases.push({
        attack: `POST /api/hosts from ${origin}`,
        refused: added.status === 403,
        detail: `${added.status}`,
      });
      const removed = await lmx("DELETE", `/api/hosts/${aliceHost.id}`, alice, undefined, origin);
      cases.push({
        attack: `DELETE /api/hosts/:id from ${origin}`,
        refused: removed.status === 403,
        detail: `${removed.status}`,
      });
    }
    const after = await hosts(alice);
    cases.push({
      attack: "the hosts changed",
      refused: after.length === 1 && after[0]!.id === aliceHost.id,
    });
    expect(reportFamily(task, "lmx-csrf", cases).through).toEqual([]);
  });

  it("forgets a deleted account's hosts at the next clean-up", async () => {
    const carol = await signUp(server, "carol@example.com", "127.0.0.43");
    const id = await add(carol, "Carol's", "http://10.3.3.3:1234");
    await server.platform.database.query(`DELETE FROM "user" WHERE email = 'carol@example.com'`);
    server.clock.advance(3_600_000);
    await server.platform.status.monitor.tick();
    const { rows } = await server.platform.database.query("SELECT 1 FROM status_component WHERE id = $1", [id]);
    expect(rows).toEqual([]);
  });
});
