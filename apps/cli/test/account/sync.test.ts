/**
 * Vault sync end to end: the built CLI on two Opta homes (two "devices") against a real platform
 * server, signed in with `opta account login`, each login approved on the accounts site's /device
 * page in headless Chromium (over HTTP with the user's session, as that page does it, only where
 * /usr/bin/chromium or the built accounts app is missing). A push from one and a pull into the other give the same keys, two pushes
 * at once give one 409, and afterwards neither the database (every table, as text) nor the server's
 * log holds a key, the passphrase, the data key or the plaintext vault. On the embedded PGlite, and
 * on PostgreSQL too when OPTA_TEST_DATABASE_URL is set.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningPlatform, startPlatform } from "@opta/platform";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryLogger, send } from "../../../../packages/platform/test/fixtures/http.js";
import {
  type FreshDatabase,
  freshDatabase,
  testPostgresUrl,
} from "../../../../packages/platform/test/fixtures/postgres.js";
import { CLI_BIN, type CliRun, runCli, startCli } from "../fixtures/run-cli.js";
import { hasTmux, startPane } from "../fixtures/tmux.js";

const DOMAIN = "opta.localhost";
const CHROMIUM = "/usr/bin/chromium";
const ACCOUNTS_APP = fileURLToPath(new URL("../../../sites/accounts/dist/index.html", import.meta.url));
const inBrowser = existsSync(CHROMIUM) && existsSync(ACCOUNTS_APP);
if (!inBrowser) console.warn("[sync e2e] logins approved over HTTP: no /usr/bin/chromium or no built accounts app");
const FRESH_DB_TIMEOUT = 240_000;
const PASSPHRASE = "tangerine submarine orchestra 42";
const KEYS = {
  anthropic: `sk-ant-api03-${randomBytes(24).toString("base64url")}`,
  openai: `sk-proj-${randomBytes(24).toString("hex")}`,
  groq: `gsk_${randomBytes(20).toString("hex")}`,
  mistral: randomBytes(16).toString("hex"),
};

const backends = [
  { name: "the embedded PGlite", postgres: false },
  { name: "PostgreSQL", postgres: true },
];

describe.each(backends)("opta account sync on $name", ({ postgres }) => {
  const log = memoryLogger();
  let platform: RunningPlatform;
  let fresh: FreshDatabase | undefined;
  let accounts: string;
  let origin: string;
  let cookie: string;
  const homes: string[] = [];
  const outputs: string[] = [];

  const device = (name: string) => ({
    OPTA_VAULT: "file",
    OPTA_PLATFORM_URL: "",
    OPTA_PLATFORM_TOKEN: "",
    OPTA_VAULT_PASSPHRASE: PASSPHRASE,
    OPTA_DEVICE_NAME: name,
    DISPLAY: "",
    WAYLAND_DISPLAY: "",
  });

  async function opta(home: string, args: string[], env: Record<string, string>, input?: string) {
    const result = await runCli(args, { home, env, ...(input === undefined ? {} : { input }) });
    outputs.push(result.stdout, result.stderr);
    return result;
  }

  async function vaultKeys(home: string): Promise<Record<string, string>> {
    return (JSON.parse(await readFile(join(home, "vault.json"), "utf8")) as { keys: Record<string, string> }).keys;
  }

  function synced(keys: Record<string, string>): Record<string, string> {
    const { platform: _token, "platform-sync-key": _key, ...rest } = keys;
    return rest;
  }

  /** `opta account login` in a new home, approved as the signed-up user; returns the home and the login's output. */
  async function signedInDevice(name: string): Promise<{ home: string; stdout: string }> {
    const home = await mkdtemp(join(tmpdir(), `opta-sync-${name}-`));
    homes.push(home);
    const run = startCli(["account", "login", "--platform", origin, "--no-browser"], { home, env: device(name) });
    run.child.stdin.end();
    const userCode = await userCodeOf(run);
    if (browser) await approveInBrowser(browser, userCode);
    else {
      await send(platform.port, accounts, `/api/auth/device?user_code=${encodeURIComponent(userCode)}`, "GET", {
        headers: { cookie },
      });
      const approved = await send(platform.port, accounts, "/api/auth/device/approve", "POST", {
        headers: { origin, cookie },
        json: { userCode },
      });
      expect(approved.status, approved.body).toBe(200);
    }
    const result = await run.done;
    outputs.push(result.stdout, result.stderr);
    expect(result.code, result.stderr).toBe(0);
    return { home, stdout: result.stdout };
  }

  /** The user, signed in (their session cookie), approves the code on the accounts site's page. */
  async function approveInBrowser(browser: Browser, userCode: string): Promise<void> {
    const context = await browser.newContext();
    try {
      const [name, ...value] = cookie.split("=");
      await context.addCookies([
        {
          name: name!,
          value: value.join("="),
          domain: `.${DOMAIN}`,
          path: "/",
          secure: true,
          httpOnly: true,
          sameSite: "Lax",
        },
      ]);
      const page = await context.newPage();
      await page.goto(`${origin}/device?user_code=${encodeURIComponent(userCode)}`);
      const review = page.locator("#review");
      await review.waitFor();
      expect(await review.textContent()).toContain("The Opta CLI on");
      await page.getByRole("button", { name: "Approve" }).click();
      await page.getByText("Approved.").waitFor();
    } finally {
      await context.close();
    }
  }

  let browser: Browser | undefined;

  beforeAll(async () => {
    if (postgres && !testPostgresUrl) return;
    if (inBrowser) {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--no-first-run",
          `--host-resolver-rules=MAP *.${DOMAIN} 127.0.0.1, MAP ${DOMAIN} 127.0.0.1`,
        ],
      });
    }
    fresh = postgres ? await freshDatabase(testPostgresUrl ?? "") : undefined;
    platform = await startPlatform({
      port: 0,
      domain: DOMAIN,
      pgliteDir: null,
      dataDir: null,
      logger: log.logger,
      device: { interval: "0s" },
      ...(fresh ? { databaseUrl: fresh.url } : {}),
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
    await browser?.close();
    await platform?.close();
    await fresh?.drop();
    for (const home of homes) await rm(home, { recursive: true, force: true });
  });

  it.runIf(!postgres || testPostgresUrl)(
    "pushes from one device, pulls into another, refuses a concurrent push, and leaks nothing to the server",
    async () => {
      // Device 1: signs in (no synced vault yet: a hint to push), stores two keys, pushes.
      const laptop = await signedInDevice("laptop");
      expect(laptop.stdout).toContain("opta account sync push");
      for (const name of ["anthropic", "openai"] as const) {
        const added = await opta(laptop.home, ["account", "add", name], device("laptop"), `${KEYS[name]}\n`);
        expect(added.code, added.stderr).toBe(0);
      }
      const first = await opta(laptop.home, ["account", "sync", "push"], device("laptop"));
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toContain("Pushed 2 entries (anthropic, openai) as version 1 (the first)");

      // Device 2: its login offers the pull (a hint without a terminal).
      const desktop = await signedInDevice("desktop");
      expect(desktop.stdout).toContain("This account has a synced vault (version 1, from laptop)");
      expect(desktop.stdout).toContain("opta account sync pull");
      const desktopToken = (await vaultKeys(desktop.home)).platform;

      // A wrong passphrase says so and changes nothing.
      const before = await readFile(join(desktop.home, "vault.json"), "utf8");
      const wrong = await opta(desktop.home, ["account", "sync", "pull"], {
        ...device("desktop"),
        OPTA_VAULT_PASSPHRASE: "not the passphrase at all",
      });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain("VAULT_PASSPHRASE_WRONG");
      expect(await readFile(join(desktop.home, "vault.json"), "utf8")).toBe(before);

      const pulled = await opta(desktop.home, ["account", "sync", "pull"], device("desktop"));
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(pulled.stdout).toContain("Pulled version 1 (pushed by laptop");
      expect(pulled.stdout).toMatch(/added +anthropic +sk-ant-••••/);
      expect(pulled.stdout).toMatch(/added +openai +sk-proj-••••/);
      expect(synced(await vaultKeys(desktop.home))).toEqual({ anthropic: KEYS.anthropic, openai: KEYS.openai });
      // Each device keeps its own platform token: the pull never carries one.
      expect((await vaultKeys(desktop.home)).platform).toBe(desktopToken);
      expect(desktopToken).not.toBe((await vaultKeys(laptop.home)).platform);
      // Unlocked once: later commands need no passphrase.
      const status = await opta(desktop.home, ["account", "sync", "status"], {
        ...device("desktop"),
        OPTA_VAULT_PASSPHRASE: "",
      });
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toContain("last synced version 1");
      expect(status.stdout).toContain("Entries: 2 the same");
      const json = await opta(desktop.home, ["account", "sync", "status", "--json"], device("desktop"));
      expect(JSON.parse(json.stdout)).toMatchObject({
        email: "hopper@example.com",
        remote: { version: 1, device: "laptop" },
        local: { version: 1, device: "desktop", entries: ["anthropic", "openai"] },
        unlocked: true,
        diff: { same: ["anthropic", "openai"], added: [], changed: [], missing: [] },
      });

      // Both devices change something and push at once: one wins, the other is told and overwrites nothing.
      await opta(laptop.home, ["account", "add", "groq"], device("laptop"), `${KEYS.groq}\n`);
      await opta(desktop.home, ["account", "add", "mistral"], device("desktop"), `${KEYS.mistral}\n`);
      const [fromLaptop, fromDesktop] = await Promise.all([
        opta(laptop.home, ["account", "sync", "push"], device("laptop")),
        opta(desktop.home, ["account", "sync", "push"], device("desktop")),
      ]);
      expect([fromLaptop.code, fromDesktop.code].sort()).toEqual([0, 5]);
      const [winner, loser, loserResult, winnerName] =
        fromLaptop.code === 0 ? [laptop, desktop, fromDesktop, "laptop"] : [desktop, laptop, fromLaptop, "desktop"];
      const loserName = winnerName === "laptop" ? "desktop" : "laptop";
      expect(loserResult.stderr).toContain("VAULT_SYNC_CONFLICT");
      expect(loserResult.stderr).toContain(`remote: version 2, pushed by ${winnerName} at `);
      expect(loserResult.stderr).toContain("last synced version 1");
      expect(loserResult.stderr).toMatch(/anthropic +sk-ant-••••\S* +sk-ant-••••\S* +same/);
      expect(loserResult.stderr).toContain("--keep-local");
      for (const value of Object.values(KEYS)) expect(loserResult.stderr).not.toContain(value);

      // The loser takes the remote side (merged in, reported), then pushes the union as version 3.
      const taken = await opta(loser.home, ["account", "sync", "push", "--take-remote"], device(loserName));
      expect(taken.code, taken.stderr).toBe(0);
      expect(taken.stdout).toContain("Pulled version 2");
      const union = await opta(loser.home, ["account", "sync", "push"], device(loserName));
      expect(union.code, union.stderr).toBe(0);
      expect(union.stdout).toContain("as version 3 (replaces 2)");
      const back = await opta(winner.home, ["account", "sync", "pull"], device(winnerName));
      expect(back.code, back.stderr).toBe(0);
      expect(synced(await vaultKeys(laptop.home))).toEqual(KEYS);
      expect(synced(await vaultKeys(desktop.home))).toEqual(KEYS);

      // --keep-local over a newer version: the pushing device's entries win, by choice.
      await opta(winner.home, ["account", "remove", "mistral"], device(winnerName));
      await opta(winner.home, ["account", "sync", "push"], device(winnerName));
      const kept = await opta(loser.home, ["account", "sync", "push", "--keep-local"], {
        ...device(loserName),
        // Nothing changed on the loser since version 3: it still has mistral, so this is a real choice.
      });
      expect(kept.code, kept.stderr).toBe(0);
      expect(kept.stdout).toContain("as version 5 (replaces 4)");

      // What the server holds: every table as text, and every log line.
      const { rows: tables } = await platform.database.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
      );
      expect(tables.map((table) => table.table_name)).toContain("vault");
      let dump = "";
      for (const { table_name } of tables) {
        const { rows } = await platform.database.query(`SELECT * FROM "${table_name}"`);
        dump += `${table_name}\n${JSON.stringify(rows)}\n`;
      }
      // The device that wrote the last version is on record (in the clear: it is no secret).
      expect(dump).toContain(`"device":"${loserName}"`);
      const dataKey = JSON.parse((await vaultKeys(laptop.home))["platform-sync-key"]!).dataKey as string;
      const secrets = [...Object.values(KEYS), PASSPHRASE, dataKey, Buffer.from(dataKey, "base64").toString("hex")];
      const serverText = [dump, ...log.raw].join("\n");
      for (const secret of secrets) expect(serverText).not.toContain(secret);
      for (const plaintext of ['"entries"', "anthropic", "sk-ant-", "mistral"])
        expect(serverText).not.toContain(plaintext);
      // Nor does anything the CLI printed hold a key, the passphrase or the data key.
      for (const secret of secrets) for (const text of outputs) expect(text).not.toContain(secret);
    },
    240_000,
  );

  // The terminal prompts do not depend on the database: declared once, on PGlite.
  if (!postgres)
    it.runIf(hasTmux)(
      "on a terminal: login offers the pull, the passphrase is typed hidden, and a conflict asks which side to keep",
      async () => {
        const home = await mkdtemp(join(tmpdir(), "opta-sync-tablet-"));
        homes.push(home);
        const env = { ...device("tablet"), OPTA_VAULT_PASSPHRASE: "", OPTA_HOME: home, NO_COLOR: "1" };
        const login = startPane({
          dir: home,
          script: CLI_BIN,
          args: ["account", "login", "--platform", origin, "--no-browser"],
          env,
        });
        try {
          const screen = await login.waitFor((text) => /enter the code \S+/.test(text), "the user code");
          const userCode = /enter the code (\S+)/.exec(screen)![1]!;
          await send(platform.port, accounts, `/api/auth/device?user_code=${encodeURIComponent(userCode)}`, "GET", {
            headers: { cookie },
          });
          await send(platform.port, accounts, "/api/auth/device/approve", "POST", {
            headers: { origin, cookie },
            json: { userCode },
          });
          await login.waitFor((text) => text.includes("Pull it now? [Y/n]"), "the offered pull");
          login.keys("Enter");
          await login.waitFor(
            (text) => text.includes("Vault passphrase for hopper@example.com:"),
            "the passphrase prompt",
          );
          login.keys(PASSPHRASE, "Enter");
          const pulled = await login.waitFor((text) => /Pulled version \d+/.test(text), "the pull", 60_000);
          expect(pulled).not.toContain(PASSPHRASE);
        } finally {
          login.kill();
        }
        expect(Object.keys(synced(await vaultKeys(home))).length).toBeGreaterThan(0);

        // Another device pushes; this one has a change of its own: the push asks which side to keep.
        const other = homes[0]!;
        await opta(other, ["account", "add", "cohere"], device("laptop"), `co-${randomBytes(12).toString("hex")}\n`);
        expect((await opta(other, ["account", "sync", "push", "--keep-local"], device("laptop"))).code).toBe(0);
        await opta(home, ["account", "add", "deepseek"], device("tablet"), `ds-${randomBytes(12).toString("hex")}\n`);
        const push = startPane({ dir: home, script: CLI_BIN, args: ["account", "sync", "push"], env });
        try {
          const asked = await push.waitFor((text) => text.includes("[c] cancel:"), "the conflict question", 60_000);
          expect(asked).toMatch(/cohere +— +co-••••\S* +only remote/);
          expect(asked).toMatch(/deepseek +ds-••••\S* +— +only here/);
          push.keys("r", "Enter");
          await push.waitFor((text) => /added +cohere/.test(text), "the merge", 60_000);
        } finally {
          push.kill();
        }
        expect(Object.keys(await vaultKeys(home))).toEqual(expect.arrayContaining(["cohere", "deepseek"]));
      },
      240_000,
    );
});

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
