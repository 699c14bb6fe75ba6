/**
 * The accounts and admin sites end to end in headless Debian Chromium (playwright-core): a real
 * platform process started by the built `opta`, the built apps. Sign up on accounts (from the
 * admin site's redirect) → the admin site refuses a non-admin → `opta platform admin grant` →
 * the admin site lists the user → the CLI's device login approved on the accounts page, which
 * names the host asking → that device revoked from the account page → sign out on admin signs
 * out on accounts; the session cookie is seen on every site's host; a redirect off the domain is
 * not followed; change password, sign out everywhere (CLI tokens too), delete account; no CSP
 * violation anywhere.
 *
 * Skips (saying why) when /usr/bin/chromium is absent; CI installs it.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SITE_NAMES, siteHost } from "../src/sites/registry.js";
import { send } from "./fixtures/http.js";
import { closedPort } from "./fixtures/ports.js";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`[sites e2e] skipped: ${CHROMIUM} not found (apt-get install chromium)`);

const OPTA = fileURLToPath(new URL("../../../apps/cli/bin/opta.js", import.meta.url));
const SITES_ROOT = fileURLToPath(new URL("../../../apps/sites/", import.meta.url));
const DOMAIN = "opta.localhost";
const EMAIL = "lovelace@example.com";
const PASSWORD = "analytical engine 1843";
const NEW_PASSWORD = "difference engine 1822";
const run = promisify(execFile);

describe.skipIf(!hasChromium)("accounts and admin sites in Chromium", () => {
  let home: string;
  let profile: string;
  let port: number;
  let context: BrowserContext;
  let page: Page;
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  const origin = (site: (typeof SITE_NAMES)[number]) => `http://${siteHost(site, DOMAIN)}:${port}`;
  const opta = (args: string[]) =>
    run(process.execPath, [OPTA, ...args], {
      env: { ...process.env, OPTA_HOME: home, NO_COLOR: "1", DATABASE_URL: "" },
    });
  /** What the page's own origin says about the session (same-origin fetch with the cookie). */
  const sessionSeenBy = (target: Page) =>
    target.evaluate(async () => {
      const answer = await fetch("/api/auth/get-session", { credentials: "same-origin" });
      const body = (await answer.json()) as { user?: { email: string } } | null;
      return body?.user?.email ?? null;
    });

  beforeAll(async () => {
    for (const site of ["accounts", "admin"]) {
      if (!existsSync(join(SITES_ROOT, site, "dist", "index.html"))) {
        // Vitest sets NODE_ENV=test, and under it Vite bundles React's development build (twice the
        // size, over the budget the all-sites test checks).
        const build = spawnSync("npx", ["vite", "build", join(SITES_ROOT, site)], {
          encoding: "utf8",
          env: { ...process.env, NODE_ENV: "production" },
        });
        if (build.status !== 0) throw new Error(`vite build of ${site} failed: ${build.stderr}`);
      }
    }
    home = await mkdtemp(join(tmpdir(), "opta-sites-e2e-"));
    profile = join(home, "chromium-profile");
    port = await closedPort();
    await opta(["platform", "start", "--port", String(port)]);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        // *.localhost is loopback to Chromium already; the rule keeps it off ::1, where nothing listens.
        `--host-resolver-rules=MAP *.${DOMAIN} 127.0.0.1, MAP ${DOMAIN} 127.0.0.1`,
      ],
      viewport: { width: 1280, height: 860 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    context.on("console", (message) => {
      if (message.type() === "error" && /Content Security Policy/i.test(message.text()))
        cspViolations.push(message.text());
    });
    page.on("pageerror", (error) => pageErrors.push(error.message));
  }, 300_000);

  afterAll(async () => {
    await context?.close();
    if (home) {
      await opta(["platform", "stop"]).catch(() => undefined);
      await rm(home, { recursive: true, force: true });
    }
  });

  it("signs up on accounts from the admin site's redirect; the admin site refuses a non-admin", async () => {
    await page.goto(`${origin("admin")}/users`);
    await page.waitForURL(`${origin("accounts")}/sign-in?**`);
    expect(new URL(page.url()).searchParams.get("redirect")).toBe(`${origin("admin")}/users`);
    await page.getByRole("link", { name: "Sign up" }).click();
    await page.waitForURL(`${origin("accounts")}/sign-up?**`);
    await page.getByLabel("Name").fill("Ada Lovelace");
    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel(/^Password/).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign up" }).click();
    await page.waitForURL(`${origin("admin")}/users`);
    await page.getByRole("heading", { name: "Admins only" }).waitFor();
    expect(await page.getByRole("alert").textContent()).toContain(`${EMAIL} is not an admin`);
    // Nothing of the admin API answered: the refusal is the server's.
    expect(await page.getByRole("table").count()).toBe(0);
  });

  it("the session cookie is seen on every site's host", async () => {
    for (const site of SITE_NAMES) {
      const cookies = await context.cookies(origin(site));
      const session = cookies.find((cookie) => cookie.name === "__Secure-better-auth.session_token");
      expect(session, site).toBeDefined();
      expect(session).toMatchObject({ domain: `.${DOMAIN}`, httpOnly: true, secure: true, sameSite: "Lax" });
    }
  });

  it("after `opta platform admin grant`, the admin site lists the user", async () => {
    const { stdout } = await opta(["platform", "admin", "grant", EMAIL]);
    expect(stdout).toContain(`${EMAIL} is now an admin`);
    await page.reload();
    await page.getByRole("heading", { name: "Users", level: 1 }).waitFor();
    const row = page.locator(`tr[data-email="${EMAIL}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain("admin");
    await page.getByRole("link", { name: "Audit log" }).click();
    await page.locator('tr[data-action="admin.grant"]').waitFor();
    await page.getByRole("link", { name: "Overview" }).click();
    await page.locator('[data-figure="users"] .value').waitFor();
    expect(await page.locator('[data-figure="users"] .value').textContent()).toBe("1");
  });

  it("approves a CLI login on the accounts page, which names the host asking; the device is revoked from the account page", async () => {
    const code = JSON.parse(
      (
        await send(port, `accounts.${DOMAIN}:${port}`, "/api/auth/device/code", "POST", {
          headers: { "user-agent": "opta-cli/0.1.0 (host e2e-box)" },
          json: { client_id: "opta-cli", hostname: "e2e-box" },
        })
      ).body,
    ) as { device_code: string; user_code: string; verification_uri_complete: string };
    await page.goto(code.verification_uri_complete);
    const review = page.locator("#review");
    await review.waitFor();
    const text = (await review.textContent()) ?? "";
    expect(text).toContain("The Opta CLI on e2e-box (from 127.0.0.1) asks to sign in to your account");
    expect(text).toContain(EMAIL);
    await page.getByRole("button", { name: "Approve" }).click();
    await page.getByText("Approved.").waitFor();
    const token = JSON.parse(
      (
        await send(port, `accounts.${DOMAIN}:${port}`, "/api/auth/device/token", "POST", {
          headers: { "user-agent": "opta-cli/0.1.0 (host e2e-box)" },
          json: {
            grant_type: "urn:ietf:params:oauth:grant-type:device_code",
            device_code: code.device_code,
            client_id: "opta-cli",
          },
        })
      ).body,
    ).access_token as string;
    const bearerEmail = async () =>
      JSON.parse(
        (
          await send(port, `accounts.${DOMAIN}:${port}`, "/api/auth/get-session", "GET", {
            headers: { authorization: `Bearer ${token}` },
          })
        ).body || "null",
      )?.user?.email;
    expect(await bearerEmail()).toBe(EMAIL);

    await page.goto(`${origin("accounts")}/`);
    const device = page.locator('tr[data-kind="cli"]');
    await device.waitFor();
    expect(await device.textContent()).toContain("Opta CLI on e2e-box");
    await device.getByRole("button", { name: "Revoke" }).click();
    await page.getByText("Revoked: that CLI is signed out.").waitFor();
    await page.locator('tr[data-kind="cli"]').waitFor({ state: "detached" });
    expect(await bearerEmail()).toBeUndefined();

    await page.getByLabel("Name").fill("Augusta Ada King");
    await page.getByRole("button", { name: "Save name" }).click();
    await page.getByText("Saved.").waitFor();
  });

  it("signing out on the admin site signs out on accounts too", async () => {
    await page.goto(`${origin("admin")}/`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${origin("accounts")}/sign-in?**`);
    expect(await sessionSeenBy(page)).toBeNull();
    expect(await context.cookies(origin("admin"))).not.toContainEqual(
      expect.objectContaining({ name: "__Secure-better-auth.session_token" }),
    );
    const admin = await context.newPage();
    await admin.goto(`${origin("admin")}/`);
    await admin.waitForURL(`${origin("accounts")}/sign-in?**`);
    await admin.close();
  });

  it("signs in again without following a redirect off this domain's sites", async () => {
    await page.goto(`${origin("accounts")}/sign-in?redirect=${encodeURIComponent("http://evil.example/")}`);
    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Your account" }).waitFor();
    expect(new URL(page.url()).origin).toBe(origin("accounts"));
  });

  it("changes the password, then signs out everywhere: the browser and every CLI token", async () => {
    await page.getByLabel("Current password").fill(PASSWORD);
    await page.getByLabel(/^New password/).fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByText("Password changed; your other sessions are signed out.").waitFor();
    // A CLI signed in after that, approved with this browser's session.
    const cookie = (await context.cookies(origin("accounts"))).find(
      (entry) => entry.name === "__Secure-better-auth.session_token",
    )!;
    const accounts = `accounts.${DOMAIN}:${port}`;
    const code = JSON.parse(
      (await send(port, accounts, "/api/auth/device/code", "POST", { json: { client_id: "opta-cli" } })).body,
    ) as { device_code: string; user_code: string };
    const headers = { cookie: `${cookie.name}=${cookie.value}`, origin: origin("accounts") };
    await send(port, accounts, `/api/auth/device?user_code=${code.user_code}`, "GET", { headers });
    await send(port, accounts, "/api/auth/device/approve", "POST", { headers, json: { userCode: code.user_code } });
    const token = JSON.parse(
      (
        await send(port, accounts, "/api/auth/device/token", "POST", {
          json: {
            grant_type: "urn:ietf:params:oauth:grant-type:device_code",
            device_code: code.device_code,
            client_id: "opta-cli",
          },
        })
      ).body,
    ).access_token as string;
    const tokenWorks = async () =>
      (
        await send(port, accounts, "/api/auth/get-session", "GET", { headers: { authorization: `Bearer ${token}` } })
      ).body.includes(EMAIL);
    expect(await tokenWorks()).toBe(true);
    await page.getByRole("button", { name: "Sign out everywhere" }).click();
    await page.waitForURL(`${origin("accounts")}/sign-in`);
    expect(await sessionSeenBy(page)).toBeNull();
    expect(await tokenWorks()).toBe(false);
  });

  it("deletes the account, the password asked again", async () => {
    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel("Password").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Your account" }).waitFor();
    await page.getByLabel("Password, to confirm").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Delete my account" }).click();
    await page.waitForURL(`${origin("accounts")}/sign-up`);
    expect(await sessionSeenBy(page)).toBeNull();
    const signIn = await send(port, `accounts.${DOMAIN}:${port}`, "/api/auth/sign-in/email", "POST", {
      headers: { origin: origin("accounts") },
      json: { email: EMAIL, password: NEW_PASSWORD },
      from: "127.0.0.60",
    });
    expect(signIn.status).toBe(401);
  });

  it("broke no CSP rule and threw nothing", () => {
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
