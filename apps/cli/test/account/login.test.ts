/**
 * `opta account login` end to end: the built CLI against a real platform server (free port, fresh
 * PGlite), approved over HTTP with the user's session cookie as the accounts page does it. The token
 * lands in the vault and nowhere the user or a log would see it.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningPlatform, startPlatform } from "@opta/platform";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryLogger, send } from "../../../../packages/platform/test/fixtures/http.js";
import { type CliRun, runCli, startCli } from "../fixtures/run-cli.js";

const DOMAIN = "opta.localhost";
const FRESH_DB_TIMEOUT = 240_000;
const log = memoryLogger();
let platform: RunningPlatform;
let accounts: string;
let origin: string;
let cookie: string;
const homes: string[] = [];

async function freshHome(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), "opta-login-"));
  homes.push(home);
  return home;
}

function env(): Record<string, string> {
  return { OPTA_VAULT: "file", OPTA_PLATFORM_URL: "", OPTA_PLATFORM_TOKEN: "", DISPLAY: "", WAYLAND_DISPLAY: "" };
}

/** Resolves with the user code once the CLI has printed it and is polling. */
function userCodeOf(run: CliRun): Promise<string> {
  return new Promise((resolve, reject) => {
    const look = () => {
      const match = /enter the code (\S+)/.exec(run.output.stdout);
      if (match && run.output.stdout.includes("Waiting for approval")) {
        run.child.stdout.off("data", look);
        resolve(match[1]!);
      }
    };
    run.child.stdout.on("data", look);
    run.done.then((result) => reject(new Error(`the CLI ended first: ${result.stdout}${result.stderr}`)), reject);
    look();
  });
}

/** What the approval page does, with the signed-in user's cookie. */
async function decide(userCode: string, action: "approve" | "deny"): Promise<void> {
  await send(platform.port, accounts, `/api/auth/device?user_code=${encodeURIComponent(userCode)}`, "GET", {
    headers: { cookie },
  });
  const answer = await send(platform.port, accounts, `/api/auth/device/${action}`, "POST", {
    headers: { origin, cookie },
    json: { userCode },
  });
  expect(answer.status, answer.body).toBe(200);
}

beforeAll(async () => {
  platform = await startPlatform({
    port: 0,
    domain: DOMAIN,
    pgliteDir: null,
    dataDir: null,
    logger: log.logger,
    device: { interval: "0s" },
  });
  accounts = `accounts.${DOMAIN}:${platform.port}`;
  origin = `http://${accounts}`;
  const signedUp = await send(platform.port, accounts, "/api/auth/sign-up/email", "POST", {
    headers: { origin },
    json: { email: "hopper@example.com", password: "correct horse battery", name: "Grace Hopper" },
  });
  expect(signedUp.status, signedUp.body).toBe(200);
  cookie = [signedUp.headers["set-cookie"] ?? []]
    .flat()
    .find((value) => value.includes("session_token="))!
    .split(";")[0]!;
}, FRESH_DB_TIMEOUT);

afterAll(async () => {
  await platform?.close();
  for (const home of homes) await rm(home, { recursive: true, force: true });
});

describe("opta account login", () => {
  it("signs in through the approval, keeps the token in the vault only, and whoami/logout use it", async () => {
    const home = await freshHome();
    const run = startCli(["account", "login", "--platform", `http://${DOMAIN}:${platform.port}`, "--no-browser"], {
      home,
      env: env(),
    });
    run.child.stdin.end();
    const userCode = await userCodeOf(run);
    expect(run.output.stdout).toContain(`${origin}/device?user_code=${userCode}`);
    // The approval page names the machine asking (the name it sent) and the address it came from:
    // asked after the page's look-up claims the code, before approval (a redeemed code is gone).
    await send(platform.port, accounts, `/api/auth/device?user_code=${encodeURIComponent(userCode)}`, "GET", {
      headers: { cookie },
    });
    const asking = await send(platform.port, accounts, `/api/account/device-request?user_code=${userCode}`, "GET", {
      headers: { cookie },
    });
    expect(JSON.parse(asking.body)).toMatchObject({ clientId: "opta-cli", hostname: hostname(), ip: "127.0.0.1" });
    await decide(userCode, "approve");
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("Signed in to");
    expect(result.stdout).toContain("hopper@example.com");
    // The accounts site lists the token as this machine's CLI.
    const sessions = await send(platform.port, accounts, "/api/account/sessions", "GET", { headers: { cookie } });
    expect(JSON.parse(sessions.body).sessions).toContainEqual(
      expect.objectContaining({ kind: "cli", hostname: hostname() }),
    );

    const vault = JSON.parse(await readFile(join(home, "vault.json"), "utf8")) as { keys: Record<string, string> };
    const token = vault.keys.platform!;
    expect(token).toMatch(/\S{20,}/);
    const login = await readFile(join(home, "platform-login.json"), "utf8");
    expect(login).toContain(origin);

    const who = await runCli(["account", "whoami", "--json"], { home, env: env() });
    expect(who.code, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ email: "hopper@example.com", platform: origin });
    // CI: the token from the environment, in a home that has none.
    const ci = await runCli(["account", "whoami", "--platform", origin], {
      home: await freshHome(),
      env: { ...env(), OPTA_PLATFORM_TOKEN: token },
    });
    expect(ci.stdout).toContain("hopper@example.com");

    const out = await runCli(["account", "logout"], { home, env: env() });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain("the session is ended on the server");
    // Revoked on the server: the old token no longer signs in anywhere.
    const after = await send(platform.port, accounts, "/api/auth/get-session", "GET", {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(JSON.parse(after.body || "null")?.user).toBeUndefined();
    const gone = await runCli(["account", "whoami"], { home, env: env() });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("PLATFORM_NOT_SIGNED_IN");

    for (const text of [result.stdout, result.stderr, who.stdout, out.stdout, out.stderr, login, ...log.raw]) {
      expect(text).not.toContain(token);
    }
  });

  it("ends with a clear error and exit 3 when the user denies", async () => {
    const home = await freshHome();
    const run = startCli(["account", "login", "--platform", origin, "--no-browser"], { home, env: env() });
    run.child.stdin.end();
    await decide(await userCodeOf(run), "deny");
    const result = await run.done;
    expect(result.code).toBe(3);
    expect(result.stderr).toContain("denied");
    expect(result.stderr).toContain("PLATFORM_LOGIN_DENIED");
    expect(result.stderr).toContain("opta account login");
  });

  it("ends with a clear error and exit 4 when the code expires unapproved", async () => {
    const home = await freshHome();
    const run = startCli(["account", "login", "--platform", origin, "--no-browser"], { home, env: env() });
    run.child.stdin.end();
    const userCode = await userCodeOf(run);
    // Its lifetime is over (rather than waiting ten minutes).
    await platform.database.query(
      `UPDATE "deviceCode" SET "expiresAt" = now() - interval '1 hour' WHERE "userCode" = $1`,
      [userCode],
    );
    const result = await run.done;
    expect(result.code).toBe(4);
    expect(result.stderr).toContain("PLATFORM_LOGIN_EXPIRED");
    expect(result.stderr).toContain("run `opta account login` again");
  });

  it("says when no platform answers at the URL", async () => {
    const result = await runCli(["account", "login", "--platform", "http://127.0.0.1:9", "--no-browser"], {
      home: await freshHome(),
      env: env(),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("PLATFORM_UNREACHABLE");
  });
});
