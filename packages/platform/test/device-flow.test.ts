/**
 * The CLI login's device flow (RFC 8628, better-auth's plugin) over HTTP, as `opta account login`
 * and the approval page use it: the page on accounts, approval with the user's session, the token
 * as a bearer, and the attacks on it (device-flow family).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../scripts/security-family.js";
import { type RunningPlatform, startPlatform } from "../src/server.js";
import { memoryLogger, send } from "./fixtures/http.js";

const DOMAIN = "opta.localhost";
const FRESH_DB_TIMEOUT = 240_000;
const GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const log = memoryLogger();
let platform: RunningPlatform;
let port: number;
let accounts: string;
let origin: string;

function cookieOf(setCookie: string | string[] | undefined): string {
  const first = [setCookie ?? []].flat().find((value) => value.includes("session_token="));
  return first ? first.split(";")[0]! : "";
}

/** Signs a user up (each from its own loopback address, so sign-up limits do not meet) and returns its cookie. */
async function signUp(email: string, from: string): Promise<string> {
  const answer = await send(port, accounts, "/api/auth/sign-up/email", "POST", {
    headers: { origin },
    json: { email, password: "correct horse battery", name: email.split("@")[0] },
    from,
  });
  expect(answer.status, answer.body).toBe(200);
  return cookieOf(answer.headers["set-cookie"]);
}

interface DeviceCodeAnswer {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  interval: number;
  error?: string;
}

async function deviceCode(clientId = "opta-cli") {
  const answer = await send(port, accounts, "/api/auth/device/code", "POST", { json: { client_id: clientId } });
  return { status: answer.status, body: JSON.parse(answer.body) as DeviceCodeAnswer };
}

async function poll(device_code: string, client_id = "opta-cli") {
  const answer = await send(port, accounts, "/api/auth/device/token", "POST", {
    json: { grant_type: GRANT, device_code, client_id },
  });
  return { status: answer.status, body: JSON.parse(answer.body) as Record<string, string> };
}

/** What the approval page does: look the code up while signed in (claims it), then approve or deny. */
async function decide(cookie: string, userCode: string, action: "approve" | "deny", from = origin) {
  await send(port, accounts, `/api/auth/device?user_code=${encodeURIComponent(userCode)}`, "GET", {
    headers: cookie ? { cookie } : {},
  });
  return send(port, accounts, `/api/auth/device/${action}`, "POST", {
    headers: { origin: from, ...(cookie ? { cookie } : {}) },
    json: { userCode },
  });
}

beforeAll(async () => {
  platform = await startPlatform({
    port: 0,
    domain: DOMAIN,
    pgliteDir: null,
    dataDir: null,
    logger: log.logger,
    // No minimum wait between polls, so the tests poll as fast as they like (slow_down has its own test).
    device: { interval: "0s" },
  });
  port = platform.port;
  accounts = `accounts.${DOMAIN}:${port}`;
  origin = `http://${accounts}`;
}, FRESH_DB_TIMEOUT);

afterAll(async () => {
  await platform?.close();
});

describe("device flow (opta account login)", () => {
  it("creates its table through the same start-up migrations", async () => {
    expect(log.lines.find((line) => line.message === "auth tables migrated")?.changes).toContain("create deviceCode");
  });

  it("gives a code for the accounts page, and a token that signs in as the approving user", async () => {
    const cookie = await signUp("grace@example.com", "127.0.0.11");
    const { status, body } = await deviceCode();
    expect(status).toBe(200);
    expect(body.verification_uri).toBe(`${origin}/device`);
    expect(body.verification_uri_complete).toBe(`${origin}/device?user_code=${body.user_code}`);
    expect((await poll(body.device_code)).body.error).toBe("authorization_pending");

    const page = await send(port, accounts, `/device?user_code=${body.user_code}`);
    expect(page.status).toBe(200);
    // The accounts app's page (its built index.html), its script a file of the site: the CSP stays strict.
    expect(page.body).toContain('<meta name="opta-site" content="accounts">');
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");

    const approved = await decide(cookie, body.user_code, "approve");
    expect(approved.status, approved.body).toBe(200);
    const token = await poll(body.device_code);
    expect(token.status, JSON.stringify(token.body)).toBe(200);
    expect(token.body.token_type).toBe("Bearer");
    const session = await send(port, accounts, "/api/auth/get-session", "GET", {
      headers: { authorization: `Bearer ${token.body.access_token}` },
    });
    expect(JSON.parse(session.body).user.email).toBe("grace@example.com");
  });

  it("answers access_denied to the poller once the user denies", async () => {
    const cookie = await signUp("linus@example.com", "127.0.0.12");
    const { body } = await deviceCode();
    expect((await decide(cookie, body.user_code, "deny")).status).toBe(200);
    expect((await poll(body.device_code)).body.error).toBe("access_denied");
  });

  it("device-flow: codes cannot be approved, guessed, replayed or redeemed by anyone else", async ({ task }) => {
    const alice = await signUp("alice@example.com", "127.0.0.13");
    const mallory = await signUp("mallory@example.com", "127.0.0.14");
    const cases: SecurityCase[] = [];
    const add = (attack: string, refused: boolean, detail: string) => cases.push({ attack, refused, detail });

    // Approving without a session.
    const first = (await deviceCode()).body;
    const anonymous = await send(port, accounts, "/api/auth/device/approve", "POST", {
      headers: { origin },
      json: { userCode: first.user_code },
    });
    add("approve a code without a session", anonymous.status === 401, `HTTP ${anonymous.status}`);

    // Mallory approving a code Alice's page has claimed (she saw it over Alice's shoulder).
    await send(port, accounts, `/api/auth/device?user_code=${first.user_code}`, "GET", { headers: { cookie: alice } });
    const stolen = await send(port, accounts, "/api/auth/device/approve", "POST", {
      headers: { origin, cookie: mallory },
      json: { userCode: first.user_code },
    });
    add("approve another user's claimed code", stolen.status === 403, `HTTP ${stolen.status}`);

    // A page elsewhere making Alice's browser approve (CSRF).
    const second = (await deviceCode()).body;
    const csrf = await decide(alice, second.user_code, "approve", "https://evil.example");
    add("approve from another origin", csrf.status === 403, `HTTP ${csrf.status}`);
    add(
      "a CSRF-approved code yields a token",
      (await poll(second.device_code)).body.error === "authorization_pending",
      "still pending",
    );

    // A guessed device code.
    const guessed = await poll("A".repeat(40));
    add("poll with a guessed device code", guessed.body.error === "invalid_grant", guessed.body.error ?? "");

    // Another program redeeming Alice's approved code under its own client id, then the real CLI
    // redeeming it, then anyone replaying it.
    expect(
      (
        await send(port, accounts, "/api/auth/device/approve", "POST", {
          headers: { origin, cookie: alice },
          json: { userCode: first.user_code },
        })
      ).status,
    ).toBe(200);
    const otherClient = await poll(first.device_code, "evil-cli");
    add(
      "poll with another client id",
      otherClient.status === 400 && !otherClient.body.access_token,
      otherClient.body.error ?? "",
    );
    const redeemed = await poll(first.device_code);
    expect(redeemed.body.access_token).toBeTruthy();
    const replay = await poll(first.device_code);
    add("replay a used device code", replay.status === 400 && !replay.body.access_token, replay.body.error ?? "");

    // A code for an unknown client.
    const unknown = await deviceCode("evil-cli");
    add("ask for a code as an unknown client", unknown.status === 400, String(unknown.body.error));

    expect(reportFamily(task, "device-flow", cases).through).toEqual([]);
  });

  it("says slow_down to a client polling faster than the interval", async () => {
    const { body } = await deviceCode();
    // This code's interval, an hour (the server's own is none, for the other tests).
    await platform.database.query(`UPDATE "deviceCode" SET "pollingInterval" = 3600000 WHERE "deviceCode" = $1`, [
      body.device_code,
    ]);
    expect((await poll(body.device_code)).body.error).toBe("authorization_pending");
    expect((await poll(body.device_code)).body.error).toBe("slow_down");
  });
});
