/**
 * The admin API (`admin.<domain>/api/admin/*`) and the accounts app's own routes, through the real
 * server on the test PostgreSQL (OPTA_TEST_DATABASE_URL, as CI has) or else an in-memory PGlite: the role check on every admin route (admin-authz), bans that end
 * a user's cookies and CLI tokens at once (banned-token), the audit log, the figures, the grant
 * route the CLI uses, the user's own sessions and devices, the device approval page's "who asks",
 * delete account with its vault, and the single-sign-on CORS of the accounts API.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../scripts/security-family.js";
import { CONTROL_GRANT_PATH } from "../src/admin/control.js";
import { ADMIN_ROUTES } from "../src/admin/routes.js";
import { type RunningPlatform, startPlatform } from "../src/server.js";
import { memoryLogger, send } from "./fixtures/http.js";
import { type FreshDatabase, freshDatabase, testPostgresUrl } from "./fixtures/postgres.js";

const DOMAIN = "opta.localhost";
const FRESH_DB_TIMEOUT = 240_000;
const PASSWORD = "correct horse battery";
const CLI_AGENT = "opta-cli/0.1.0 (host build-box)";
const GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const log = memoryLogger();
let platform: RunningPlatform;
let port: number;
let dataDir: string;
let accounts: string;
let admin: string;
let accountsOrigin: string;
let adminOrigin: string;
let nextAddress = 30;
/** The real PostgreSQL when the tests have one (CI), else the embedded database in memory. */
let postgres: FreshDatabase | undefined;

/** Another loopback address per sign-up or sign-in: each counts against its own rate limit. */
const fresh = () => `127.0.0.${nextAddress++}`;

function cookieOf(setCookie: string | string[] | undefined): string {
  const first = [setCookie ?? []].flat().find((value) => value.includes("session_token="));
  return first ? first.split(";")[0]! : "";
}

interface Account {
  id: string;
  email: string;
  cookie: string;
}

async function signUp(email: string): Promise<Account> {
  const answer = await send(port, accounts, "/api/auth/sign-up/email", "POST", {
    headers: { origin: accountsOrigin },
    json: { email, password: PASSWORD, name: email.split("@")[0] },
    from: fresh(),
  });
  expect(answer.status, answer.body).toBe(200);
  return { id: JSON.parse(answer.body).user.id, email, cookie: cookieOf(answer.headers["set-cookie"]) };
}

function signIn(email: string) {
  return send(port, accounts, "/api/auth/sign-in/email", "POST", {
    headers: { origin: accountsOrigin },
    json: { email, password: PASSWORD },
    from: fresh(),
  });
}

/** `opta account login` as the CLI does it, approved by `cookie`'s user: the device token. */
async function deviceToken(cookie: string, hostname = "build-box"): Promise<{ token: string; userCode: string }> {
  const code = JSON.parse(
    (
      await send(port, accounts, "/api/auth/device/code", "POST", {
        headers: { "user-agent": CLI_AGENT },
        json: { client_id: "opta-cli", hostname },
        from: "127.0.0.9",
      })
    ).body,
  ) as { device_code: string; user_code: string };
  await send(port, accounts, `/api/auth/device?user_code=${code.user_code}`, "GET", { headers: { cookie } });
  const approved = await send(port, accounts, "/api/auth/device/approve", "POST", {
    headers: { origin: accountsOrigin, cookie },
    json: { userCode: code.user_code },
  });
  expect(approved.status, approved.body).toBe(200);
  const token = await send(port, accounts, "/api/auth/device/token", "POST", {
    headers: { "user-agent": CLI_AGENT },
    json: { grant_type: GRANT, device_code: code.device_code, client_id: "opta-cli" },
  });
  expect(token.status, token.body).toBe(200);
  return { token: JSON.parse(token.body).access_token as string, userCode: code.user_code };
}

/** Makes `account` an admin the way the operator does: the control route with the data dir's secret. */
async function grant(email: string, secret?: string) {
  const key = secret ?? (await readFile(join(dataDir, "control-secret"), "utf8")).trim();
  return send(port, DOMAIN, CONTROL_GRANT_PATH, "POST", {
    headers: { authorization: `Bearer ${key}` },
    json: { email },
  });
}

type Credential = { cookie: string } | { bearer: string } | Record<string, never>;

function headersFor(credential: Credential): Record<string, string> {
  if ("cookie" in credential) return { cookie: credential.cookie };
  if ("bearer" in credential) return { authorization: `Bearer ${credential.bearer}` };
  return {};
}

/** Calls one admin route (`METHOD /path/:id`) on the admin host. */
function callAdmin(route: string, userId: string, credential: Credential, json: unknown = {}) {
  const [method, path] = route.split(" ") as [string, string];
  return send(port, admin, path.replace(":id", userId), method, {
    headers: { ...headersFor(credential), ...(method === "POST" ? { origin: adminOrigin } : {}) },
    ...(method === "POST" ? { json } : {}),
  });
}

async function sessionEmail(credential: Credential): Promise<string | undefined> {
  const answer = await send(port, accounts, "/api/auth/get-session", "GET", { headers: headersFor(credential) });
  return (JSON.parse(answer.body || "null") as { user?: { email: string } } | null)?.user?.email;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "opta-admin-test-"));
  postgres = testPostgresUrl ? await freshDatabase(testPostgresUrl) : undefined;
  platform = await startPlatform({
    port: 0,
    domain: DOMAIN,
    pgliteDir: null,
    ...(postgres ? { databaseUrl: postgres.url } : {}),
    dataDir,
    logger: log.logger,
    device: { interval: "0s" },
  });
  port = platform.port;
  accounts = `accounts.${DOMAIN}:${port}`;
  admin = `admin.${DOMAIN}:${port}`;
  accountsOrigin = `http://${accounts}`;
  adminOrigin = `http://${admin}`;
}, FRESH_DB_TIMEOUT);

afterAll(async () => {
  await platform?.close();
  await postgres?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

describe("admin API", () => {
  let root: Account;
  let plain: Account;
  let plainToken: string;

  beforeAll(async () => {
    root = await signUp("root@example.com");
    plain = await signUp("plain@example.com");
    plainToken = (await deviceToken(plain.cookie)).token;
  });

  it("the grant route makes an admin only with the data dir's secret, from loopback, without an Origin", async () => {
    expect((await grant(root.email, "wrong")).status).toBe(403);
    const withOrigin = await send(port, DOMAIN, CONTROL_GRANT_PATH, "POST", {
      headers: {
        authorization: `Bearer ${(await readFile(join(dataDir, "control-secret"), "utf8")).trim()}`,
        origin: adminOrigin,
      },
      json: { email: root.email },
    });
    expect(withOrigin.status).toBe(403);
    expect((await callAdmin("GET /api/admin/me", "", { cookie: root.cookie })).status).toBe(403);
    const nobody = await grant("nobody@example.com");
    expect(nobody.status).toBe(404);
    expect(JSON.parse(nobody.body).error.code).toBe("no_such_user");
    const granted = await grant("ROOT@example.com");
    expect(granted.status, granted.body).toBe(200);
    const me = await callAdmin("GET /api/admin/me", "", { cookie: root.cookie });
    expect(me.status, me.body).toBe(200);
    expect(JSON.parse(me.body).user).toMatchObject({ email: root.email, role: "admin" });
  });

  it("admin-authz: every admin route refuses the signed-out (401) and non-admins (403), cookie or bearer", async ({
    task,
  }) => {
    const cases: SecurityCase[] = [];
    // The same routes work for an admin, so a refusal below is the role check, not a broken route.
    for (const route of ADMIN_ROUTES.filter((entry) => entry.startsWith("GET"))) {
      expect((await callAdmin(route, plain.id, { cookie: root.cookie })).status, route).toBe(200);
    }
    const who: [string, Credential, number][] = [
      ["signed out", {}, 401],
      ["a forged cookie", { cookie: "__Secure-better-auth.session_token=forged.sig" }, 401],
      ["a forged bearer", { bearer: "not-a-token" }, 401],
      ["a non-admin's cookie", { cookie: plain.cookie }, 403],
      ["a non-admin's device token (bearer)", { bearer: plainToken }, 403],
    ];
    for (const route of [...ADMIN_ROUTES, "GET /api/admin/no-such-route"]) {
      for (const [label, credential, status] of who) {
        const answer = await callAdmin(route, root.id, credential, { role: "user", reason: "x" });
        cases.push({
          attack: `${route} as ${label}`,
          refused: answer.status === status,
          detail: `HTTP ${answer.status}`,
        });
      }
    }
    // better-auth's own admin routes on accounts are closed, for admins too: no action bypasses the audit log.
    for (const path of ["/api/auth/admin/list-users", "/api/auth/admin/set-role", "/api/auth/admin/impersonate-user"]) {
      for (const [label, credential] of [
        ["a non-admin", { cookie: plain.cookie }],
        ["an admin", { cookie: root.cookie }],
      ] as const) {
        const get = path.endsWith("list-users");
        const answer = await send(port, accounts, path, get ? "GET" : "POST", {
          headers: { origin: accountsOrigin, ...headersFor(credential) },
          ...(get ? {} : { json: { userId: plain.id, role: "admin" } }),
        });
        cases.push({
          attack: `accounts ${path} as ${label}`,
          refused: answer.status === 404,
          detail: `HTTP ${answer.status}`,
        });
      }
    }
    // A user giving themself the role through the profile route.
    await send(port, accounts, "/api/auth/update-user", "POST", {
      headers: { origin: accountsOrigin, cookie: plain.cookie },
      json: { role: "admin", name: "plain" },
    });
    const after = await callAdmin("GET /api/admin/me", "", { cookie: plain.cookie });
    cases.push({
      attack: "set own role through update-user",
      refused: after.status === 403,
      detail: `HTTP ${after.status}`,
    });
    // Another site's page making an admin's browser act (CSRF): the front door refuses it.
    const csrf = await send(port, admin, `/api/admin/users/${plain.id}/ban`, "POST", {
      headers: { origin: "http://evil.example", cookie: root.cookie },
      json: {},
    });
    cases.push({
      attack: "ban from another origin with an admin's cookie",
      refused: csrf.status === 403,
      detail: `HTTP ${csrf.status}`,
    });
    // The grant route without the secret.
    for (const secret of ["", "wrong", "x".repeat(43)]) {
      const answer = await grant(plain.email, secret);
      cases.push({
        attack: `grant with secret '${secret.slice(0, 5)}'`,
        refused: answer.status === 403,
        detail: `HTTP ${answer.status}`,
      });
    }
    expect(reportFamily(task, "admin-authz", cases).through).toEqual([]);
    expect((await callAdmin("GET /api/admin/me", "", { cookie: plain.cookie })).status).toBe(403);
  });

  it("lists users with search and paging", async () => {
    for (const name of ["zed1", "zed2", "zed3"]) await signUp(`${name}@example.org`);
    const all = JSON.parse((await callAdmin("GET /api/admin/users", "", { cookie: root.cookie })).body);
    expect(all.total).toBeGreaterThanOrEqual(5);
    const page = await send(port, admin, "/api/admin/users?search=zed&limit=2&offset=0", "GET", {
      headers: { cookie: root.cookie },
    });
    const first = JSON.parse(page.body);
    expect(first.total).toBe(3);
    expect(first.users).toHaveLength(2);
    const second = JSON.parse(
      (
        await send(port, admin, "/api/admin/users?search=ZED&limit=2&offset=2", "GET", {
          headers: { cookie: root.cookie },
        })
      ).body,
    );
    expect(second.users.map((user: { email: string }) => user.email)).toHaveLength(1);
    expect([...first.users, ...second.users].map((user: { email: string }) => user.email).sort()).toEqual([
      "zed1@example.org",
      "zed2@example.org",
      "zed3@example.org",
    ]);
    // `%` is a letter in a search, not a wildcard.
    const none = JSON.parse(
      (await send(port, admin, "/api/admin/users?search=%25", "GET", { headers: { cookie: root.cookie } })).body,
    );
    expect(none.total).toBe(0);
  });

  it("sets a role, refuses an unknown one and taking it from yourself", async () => {
    const helper = await signUp("helper@example.com");
    const set = await callAdmin(
      "POST /api/admin/users/:id/role",
      helper.id,
      { cookie: root.cookie },
      { role: "admin" },
    );
    expect(set.status, set.body).toBe(200);
    expect((await callAdmin("GET /api/admin/me", "", { cookie: helper.cookie })).status).toBe(200);
    const bad = await callAdmin(
      "POST /api/admin/users/:id/role",
      helper.id,
      { cookie: root.cookie },
      { role: "owner" },
    );
    expect(JSON.parse(bad.body).error.code).toBe("bad_role");
    const self = await callAdmin("POST /api/admin/users/:id/role", root.id, { cookie: root.cookie }, { role: "user" });
    expect(JSON.parse(self.body).error.code).toBe("cannot_demote_self");
    const unknown = await callAdmin(
      "POST /api/admin/users/:id/role",
      "no-such-id",
      { cookie: root.cookie },
      { role: "user" },
    );
    expect(unknown.status).toBe(404);
    await callAdmin("POST /api/admin/users/:id/role", helper.id, { cookie: root.cookie }, { role: "user" });
    expect((await callAdmin("GET /api/admin/me", "", { cookie: helper.cookie })).status).toBe(403);
  });

  it("banned-token: a ban ends the user's cookie and device token at once, on every authenticated route", async ({
    task,
  }) => {
    const victim = await signUp("banned@example.com");
    // An admin, so that the admin API would accept their old session if the ban did not end it.
    expect((await grant(victim.email)).status).toBe(200);
    const { token } = await deviceToken(victim.cookie);
    const routes: [string, string, string][] = [
      ["get-session", accounts, "/api/auth/get-session"],
      ["own sessions", accounts, "/api/account/sessions"],
      ["admin API", admin, "/api/admin/me"],
      ["admin users", admin, "/api/admin/users"],
    ];
    const works = async (host: string, path: string, credential: Credential) => {
      const answer = await send(port, host, path, "GET", { headers: headersFor(credential) });
      return answer.status === 200 && answer.body !== "null" && !answer.body.includes('"session":null');
    };
    for (const [, host, path] of routes) {
      expect(await works(host, path, { cookie: victim.cookie }), path).toBe(true);
      expect(await works(host, path, { bearer: token }), path).toBe(true);
    }
    const banned = await callAdmin(
      "POST /api/admin/users/:id/ban",
      victim.id,
      { cookie: root.cookie },
      { reason: "abuse" },
    );
    expect(banned.status, banned.body).toBe(200);
    const cases: SecurityCase[] = [];
    for (const [label, host, path] of routes) {
      for (const [kind, credential] of [
        ["old cookie", { cookie: victim.cookie }],
        ["old device token", { bearer: token }],
      ] as const) {
        cases.push({ attack: `${label} with the ${kind}`, refused: !(await works(host, path, credential)) });
      }
    }
    const again = await signIn(victim.email);
    cases.push({
      attack: "sign in again",
      refused: again.status === 403 && !cookieOf(again.headers["set-cookie"]),
      detail: `HTTP ${again.status}`,
    });
    const { rows } = await platform.database.query(`SELECT id FROM session WHERE "userId" = $1`, [victim.id]);
    cases.push({ attack: "a session row left behind", refused: rows.length === 0, detail: `${rows.length} rows` });
    expect(reportFamily(task, "banned-token", cases).through).toEqual([]);

    const unbanned = await callAdmin("POST /api/admin/users/:id/unban", victim.id, { cookie: root.cookie });
    expect(unbanned.status).toBe(200);
    expect((await signIn(victim.email)).status).toBe(200);
    // The old ones stay dead: a ban is not undone for sessions it ended.
    expect(await sessionEmail({ bearer: token })).toBeUndefined();
    expect(
      JSON.parse((await callAdmin("POST /api/admin/users/:id/ban", root.id, { cookie: root.cookie })).body).error.code,
    ).toBe("cannot_ban_self");
  });

  it("revokes a user's sessions: they sign in again", async () => {
    const user = await signUp("revoked@example.com");
    const { token } = await deviceToken(user.cookie);
    const revoked = await callAdmin("POST /api/admin/users/:id/revoke-sessions", user.id, { cookie: root.cookie });
    expect(JSON.parse(revoked.body)).toEqual({ ended: 2 });
    expect(await sessionEmail({ cookie: user.cookie })).toBeUndefined();
    expect(await sessionEmail({ bearer: token })).toBeUndefined();
    expect((await signIn(user.email)).status).toBe(200);
  });

  it("keeps an audit log of every admin action: who, what, to whom, when, from where", async () => {
    const answer = await send(port, admin, "/api/admin/audit?limit=100", "GET", {
      headers: { cookie: root.cookie },
      from: "127.0.0.2",
    });
    const { rows, total } = JSON.parse(answer.body) as {
      total: number;
      rows: {
        action: string;
        actorEmail: string;
        ip: string;
        at: string;
        target: string;
        detail: Record<string, unknown>;
      }[];
    };
    expect(total).toBe(rows.length);
    const actions = rows.map((row) => row.action);
    for (const action of ["admin.grant", "user.set-role", "user.ban", "user.unban", "user.revoke-sessions"]) {
      expect(actions).toContain(action);
    }
    const ban = rows.find((row) => row.action === "user.ban")!;
    expect(ban).toMatchObject({
      actorEmail: "root@example.com",
      ip: "127.0.0.1",
      detail: { email: "banned@example.com", reason: "abuse" },
    });
    expect(Date.now() - Date.parse(ban.at)).toBeLessThan(10 * 60_000);
    expect(rows.find((row) => row.action === "admin.grant")).toMatchObject({ actorEmail: "opta platform admin grant" });
    // Refused actions change nothing and record nothing.
    expect(actions.filter((action) => action === "user.set-role")).toHaveLength(2);
  });

  it("reports the platform's figures, vaults synced this week among them", async () => {
    const before = JSON.parse((await callAdmin("GET /api/admin/figures", "", { cookie: root.cookie })).body);
    const { rows } = await platform.database.query<{ count: string }>(`SELECT count(*) AS count FROM "user"`);
    expect(before).toMatchObject({ users: Number(rows[0]!.count), banned: 0, vaultsSyncedThisWeek: 0 });
    expect(before.activeCliDevices).toBeGreaterThanOrEqual(1);
    expect(before.activeDevices).toBeGreaterThan(before.activeCliDevices);
    await insertVault(plain.id, "a");
    await insertVault(root.id, "b", "9 days");
    const after = JSON.parse((await callAdmin("GET /api/admin/figures", "", { cookie: root.cookie })).body);
    expect(after.vaultsSyncedThisWeek).toBe(1);
  });
});

/** A vault row as vault sync writes it (0003_vault.sql); its contents do not matter here. */
async function insertVault(userId: string, device: string, age = "0 days"): Promise<void> {
  await platform.database.query(
    `INSERT INTO vault (user_id, version, ciphertext, iv, wrapped_key, kdf, device, updated_at)
     VALUES ($1, 1, 'c', 'i', 'w', '{}'::jsonb, $2, now() - $3::interval)`,
    [userId, device, age],
  );
}

describe("accounts' own routes", () => {
  it("lists the user's sessions and CLI devices (host named, no token), and revokes one of them only", async () => {
    const user = await signUp("devices@example.com");
    const other = await signUp("other@example.com");
    const { token } = await deviceToken(user.cookie, "laptop-7");
    const list = await send(port, accounts, "/api/account/sessions", "GET", { headers: { cookie: user.cookie } });
    const { sessions } = JSON.parse(list.body) as {
      sessions: { id: string; kind: string; hostname: string | null; current: boolean }[];
    };
    expect(sessions).toHaveLength(2);
    expect(sessions.find((entry) => entry.current)?.kind).toBe("browser");
    const cli = sessions.find((entry) => entry.kind === "cli")!;
    expect(cli.hostname).toBe("build-box");
    expect(list.body).not.toContain(token);
    // Someone else's session id is no session of theirs.
    const foreign = await send(port, accounts, `/api/account/sessions/${cli.id}/revoke`, "POST", {
      headers: { origin: accountsOrigin, cookie: other.cookie },
    });
    expect(foreign.status).toBe(404);
    expect(await sessionEmail({ bearer: token })).toBe(user.email);
    const revoke = await send(port, accounts, `/api/account/sessions/${cli.id}/revoke`, "POST", {
      headers: { origin: accountsOrigin, cookie: user.cookie },
    });
    expect(revoke.status).toBe(200);
    expect(await sessionEmail({ bearer: token })).toBeUndefined();
    expect(await sessionEmail({ cookie: user.cookie })).toBe(user.email);
  });

  it("tells the approval page which host asks for a code, only to the user who claimed it", async () => {
    const user = await signUp("approver@example.com");
    const other = await signUp("nosy@example.com");
    const code = JSON.parse(
      (
        await send(port, accounts, "/api/auth/device/code", "POST", {
          headers: { "user-agent": CLI_AGENT },
          json: { client_id: "opta-cli", hostname: "ci-runner-3" },
          from: "127.0.0.77",
        })
      ).body,
    ) as { user_code: string };
    const ask = (cookie: string) =>
      send(port, accounts, `/api/account/device-request?user_code=${code.user_code}`, "GET", { headers: { cookie } });
    expect((await ask(user.cookie)).status).toBe(404);
    await send(port, accounts, `/api/auth/device?user_code=${code.user_code}`, "GET", {
      headers: { cookie: user.cookie },
    });
    const seen = await ask(user.cookie);
    expect(seen.status, seen.body).toBe(200);
    expect(JSON.parse(seen.body)).toMatchObject({ clientId: "opta-cli", hostname: "ci-runner-3", ip: "127.0.0.77" });
    await send(port, accounts, `/api/auth/device?user_code=${code.user_code}`, "GET", {
      headers: { cookie: other.cookie },
    });
    expect((await ask(other.cookie)).status).toBe(404);
    // A host name that is not one is not kept.
    const odd = JSON.parse(
      (
        await send(port, accounts, "/api/auth/device/code", "POST", {
          json: { client_id: "opta-cli", hostname: "<b>x</b>" },
        })
      ).body,
    ) as { user_code: string };
    const { rows } = await platform.database.query<{ hostname: string | null }>(
      "SELECT hostname FROM device_request WHERE user_code = $1",
      [odd.user_code],
    );
    expect(rows[0]?.hostname).toBeNull();
  });

  it("deletes an account with its vault (the password asked again)", async () => {
    const user = await signUp("leaving@example.com");
    await insertVault(user.id, "c");
    const wrong = await send(port, accounts, "/api/auth/delete-user", "POST", {
      headers: { origin: accountsOrigin, cookie: user.cookie },
      json: { password: "not the password" },
    });
    expect(wrong.status).toBe(400);
    const deleted = await send(port, accounts, "/api/auth/delete-user", "POST", {
      headers: { origin: accountsOrigin, cookie: user.cookie },
      json: { password: PASSWORD },
    });
    expect(deleted.status, deleted.body).toBe(200);
    expect((await platform.database.query(`SELECT id FROM "user" WHERE id = $1`, [user.id])).rows).toHaveLength(0);
    expect(
      (await platform.database.query("SELECT user_id FROM vault WHERE user_id = $1", [user.id])).rows,
    ).toHaveLength(0);
    expect(await sessionEmail({ cookie: user.cookie })).toBeUndefined();
  });

  it("lets this domain's sites read the session and sign out across origins (SSO), nothing else and no one else", async () => {
    const preflight = (origin: string, path: string) =>
      send(port, accounts, path, "OPTIONS", {
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
      });
    const own = await preflight(adminOrigin, "/api/auth/sign-out");
    expect(own.headers["access-control-allow-origin"]).toBe(adminOrigin);
    expect(own.headers["access-control-allow-credentials"]).toBe("true");
    expect(
      (await preflight("http://evil.example", "/api/auth/sign-out")).headers["access-control-allow-origin"],
    ).toBeUndefined();
    expect(
      (await preflight(adminOrigin, "/api/auth/list-sessions")).headers["access-control-allow-origin"],
    ).toBeUndefined();
    const user = await signUp("sso@example.com");
    const read = await send(port, accounts, "/api/auth/get-session", "GET", {
      headers: { origin: adminOrigin, cookie: user.cookie },
    });
    expect(read.headers["access-control-allow-origin"]).toBe(adminOrigin);
    const out = await send(port, accounts, "/api/auth/sign-out", "POST", {
      headers: { origin: adminOrigin, cookie: user.cookie },
      json: {},
    });
    expect(out.status).toBe(200);
    expect(await sessionEmail({ cookie: user.cookie })).toBeUndefined();
  });

  it("answers the apps' pages with their index.html", async () => {
    for (const [host, path] of [
      [accounts, "/sign-in"],
      [accounts, "/device"],
      [admin, "/users"],
    ] as const) {
      const page = await send(port, host, path);
      expect(page.status, `${host}${path}`).toBe(200);
      expect(page.headers["content-type"]).toContain("text/html");
      expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    }
  });
});
