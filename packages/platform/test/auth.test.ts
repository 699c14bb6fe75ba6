/**
 * Accounts on better-auth, through the real server: its routes on the accounts host only, the
 * session cookie on the parent domain, only this domain's sites as origins, its tables migrated.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../scripts/security-family.js";
import { CLIENT_ADDRESS_HEADER } from "../src/server/app.js";
import { type RunningPlatform, startPlatform } from "../src/server.js";
import { memoryLogger, send } from "./fixtures/http.js";

const DOMAIN = "opta.localhost";
// A fresh in-memory PGlite runs initdb (15-20 s on a small machine, more when it is busy).
const FRESH_DB_TIMEOUT = 240_000;
const log = memoryLogger();
let platform: RunningPlatform;
let port: number;
let accounts: string;
let accountsOrigin: string;

const user = { email: "ada@example.com", password: "correct horse battery", name: "Ada" };

function cookieOf(setCookie: string | string[] | undefined): string {
  const first = [setCookie ?? []].flat().find((value) => value.includes("session_token="));
  return first ? first.split(";")[0]! : "";
}

beforeAll(async () => {
  platform = await startPlatform({ port: 0, domain: DOMAIN, pgliteDir: null, dataDir: null, logger: log.logger });
  port = platform.port;
  accounts = `accounts.${DOMAIN}:${port}`;
  accountsOrigin = `http://${accounts}`;
}, FRESH_DB_TIMEOUT);

afterAll(async () => {
  await platform?.close();
});

describe("accounts (better-auth)", () => {
  it("creates its tables at start, and none again on a second look", async () => {
    expect(log.lines.find((line) => line.message === "auth tables migrated")?.changes).toEqual(
      expect.arrayContaining(["create user", "create session", "create account", "create verification"]),
    );
    const { rows } = await platform.database.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    expect(rows.map((row) => row.table_name)).toEqual(
      expect.arrayContaining(["user", "session", "account", "verification", "rateLimit", "audit_log"]),
    );
  });

  it("signs up and sets a Secure, HttpOnly session cookie on the parent domain", async () => {
    const answer = await send(port, accounts, "/api/auth/sign-up/email", "POST", {
      headers: { origin: accountsOrigin },
      json: user,
    });
    expect(answer.status, answer.body).toBe(200);
    expect(JSON.parse(answer.body).user.email).toBe(user.email);
    const cookie = [answer.headers["set-cookie"] ?? []].flat().find((value) => value.includes("session_token="));
    expect(cookie).toMatch(/^__Secure-/);
    expect(cookie).toMatch(new RegExp(`; Domain=\\.?${DOMAIN.replace(".", "\\.")}(;|$)`, "i"));
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; Secure/i);
    expect(cookie).toMatch(/; SameSite=Lax/i);
    const session = await send(port, accounts, "/api/auth/get-session", "GET", {
      headers: { cookie: cookieOf(answer.headers["set-cookie"]) },
    });
    expect(JSON.parse(session.body).user.email).toBe(user.email);
  });

  it("platform-csrf: signs in from any site of this domain, and refuses another origin", async ({ task }) => {
    const from = "127.0.0.2";
    const fromAdmin = await send(port, accounts, "/api/auth/sign-in/email", "POST", {
      headers: { origin: `http://admin.${DOMAIN}:${port}` },
      json: { email: user.email, password: user.password },
      from,
    });
    expect(fromAdmin.status, fromAdmin.body).toBe(200);
    const cookie = cookieOf(fromAdmin.headers["set-cookie"]);
    expect(cookie).not.toBe("");
    const cases: SecurityCase[] = [];
    const origins = ["http://evil.example", `http://evil.${DOMAIN}:${port}`, `http://${DOMAIN}.evil.example`, "null"];
    for (const origin of origins) {
      for (const headers of [{ origin }, { origin, cookie }] as Record<string, string>[]) {
        const refused = await send(port, accounts, "/api/auth/sign-in/email", "POST", {
          headers,
          json: { email: user.email, password: user.password },
          from,
        });
        cases.push({
          attack: `sign-in from ${origin}${headers.cookie ? " with the session cookie" : ""}`,
          refused: refused.status === 403 && cookieOf(refused.headers["set-cookie"]) === "",
          detail: `${refused.status}`,
        });
      }
      const signOut = await send(port, accounts, "/api/auth/sign-out", "POST", {
        headers: { origin, cookie },
        json: {},
        from,
      });
      cases.push({ attack: `sign-out from ${origin}`, refused: signOut.status === 403, detail: `${signOut.status}` });
    }
    expect(reportFamily(task, "platform-csrf", cases).through).toEqual([]);
    // The session those refused requests carried is still signed in.
    const session = await send(port, accounts, "/api/auth/get-session", "GET", { headers: { cookie }, from });
    expect(JSON.parse(session.body).user.email).toBe(user.email);
  });

  it("platform-open-redirect: a callback URL off this domain's sites is refused", async ({ task }) => {
    const targets = [
      "http://evil.example/",
      "//evil.example/",
      "https://evil.example/x",
      `http://${DOMAIN}.evil.example/`,
      `http://evil.${DOMAIN}:${port}/`,
      "javascript:alert(1)",
      "/\\evil.example/",
      "\\\\evil.example",
    ];
    const cases: SecurityCase[] = [];
    for (const [index, callbackURL] of targets.entries()) {
      const answer = await send(port, accounts, "/api/auth/sign-in/email", "POST", {
        headers: { origin: accountsOrigin },
        json: { email: user.email, password: user.password, callbackURL },
        // One client address each: these count against sign-in's rate limit (3 per 10 s per client).
        from: `127.0.0.${20 + index}`,
      });
      const location = String(answer.headers.location ?? "");
      const url = answer.status === 200 ? String((JSON.parse(answer.body) as { url?: string }).url ?? "") : "";
      const redirected = /evil|javascript/.test(location) || /evil|javascript/.test(url);
      cases.push({
        attack: `sign-in callbackURL=${callbackURL}`,
        refused: answer.status === 403 && !redirected,
        detail: `${answer.status} ${location}${url}`,
      });
    }
    expect(reportFamily(task, "platform-open-redirect", cases).through).toEqual([]);
    // A site of this domain is a fine place to come back to.
    const own = await send(port, accounts, "/api/auth/sign-in/email", "POST", {
      headers: { origin: accountsOrigin },
      json: { email: user.email, password: user.password, callbackURL: `http://admin.${DOMAIN}:${port}/users` },
      from: "127.0.0.30",
    });
    expect(own.status, own.body).toBe(200);
  });

  it("platform-brute-force: sign-in attempts beyond the limit are refused, for that client only", async ({ task }) => {
    const attacker = "127.0.0.40";
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 6; attempt += 1) {
      const answer = await send(port, accounts, "/api/auth/sign-in/email", "POST", {
        headers: {
          origin: accountsOrigin,
          "x-forwarded-for": `10.0.0.${attempt}`,
          [CLIENT_ADDRESS_HEADER]: `10.1.0.${attempt}`,
        },
        json: { email: user.email, password: `guess number ${attempt}` },
        from: attacker,
      });
      statuses.push(answer.status);
    }
    // The right password, too, is refused while the limit holds: guessing on is pointless.
    const right = await send(port, accounts, "/api/auth/sign-in/email", "POST", {
      headers: { origin: accountsOrigin },
      json: { email: user.email, password: user.password },
      from: attacker,
    });
    statuses.push(right.status);
    const cases: SecurityCase[] = statuses.slice(3).map((status, index) => ({
      attack: `sign-in attempt ${index + 4} within the window (forged X-Forwarded-For and client-address headers)`,
      refused: status === 429,
      detail: `${status}`,
    }));
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(reportFamily(task, "platform-brute-force", cases).through).toEqual([]);
    // Another client is not locked out by it.
    const other = await send(port, accounts, "/api/auth/sign-in/email", "POST", {
      headers: { origin: accountsOrigin },
      json: { email: user.email, password: user.password },
      from: "127.0.0.41",
    });
    expect(other.status, other.body).toBe(200);
  });

  it("writes better-auth's own messages as the platform's JSON lines, with no password in any line", () => {
    // The brute-force test above made three wrong guesses that reached better-auth.
    const auth = log.lines.filter((line) => line.scope === "auth");
    expect(auth.filter((line) => line.level === "warn" && line.message === "Invalid password")).toHaveLength(3);
    const all = log.raw.join("");
    expect(all).not.toContain(user.password);
    expect(all).not.toContain("guess number");
  });

  it("answers only on the accounts host", async () => {
    const elsewhere = await send(port, `admin.${DOMAIN}:${port}`, "/api/auth/get-session");
    expect(elsewhere.status).toBe(404);
    expect(JSON.parse(elsewhere.body).error.code).toBe("not_found");
  });

  it("counts sign-in attempts in the database, where several servers share them", async () => {
    const { rows } = await platform.database.query<{ count: number }>('SELECT count(*)::int AS count FROM "rateLimit"');
    expect(rows[0]?.count).toBeGreaterThan(0);
  });
});
