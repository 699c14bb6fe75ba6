/**
 * Accounts on better-auth, through the real server: its routes on the accounts host only, the
 * session cookie on the parent domain, only this domain's sites as origins, its tables migrated.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

  it("signs in from any site of this domain, and refuses another origin", async () => {
    const fromAdmin = await send(port, accounts, "/api/auth/sign-in/email", "POST", {
      headers: { origin: `http://admin.${DOMAIN}:${port}` },
      json: { email: user.email, password: user.password },
    });
    expect(fromAdmin.status, fromAdmin.body).toBe(200);
    expect(cookieOf(fromAdmin.headers["set-cookie"])).not.toBe("");
    const cookie = cookieOf(fromAdmin.headers["set-cookie"]);
    const origins = ["http://evil.example", `http://evil.${DOMAIN}:${port}`, `http://${DOMAIN}.evil.example`, "null"];
    for (const origin of origins) {
      for (const headers of [{ origin }, { origin, cookie }] as Record<string, string>[]) {
        const refused = await send(port, accounts, "/api/auth/sign-in/email", "POST", {
          headers,
          json: { email: user.email, password: user.password },
        });
        expect(refused.status, origin).toBe(403);
        expect(cookieOf(refused.headers["set-cookie"]), origin).toBe("");
      }
      const signOut = await send(port, accounts, "/api/auth/sign-out", "POST", {
        headers: { origin, cookie },
        json: {},
      });
      expect(signOut.status, origin).toBe(403);
    }
    // The session those refused requests carried is still signed in.
    const session = await send(port, accounts, "/api/auth/get-session", "GET", { headers: { cookie } });
    expect(JSON.parse(session.body).user.email).toBe(user.email);
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
