/**
 * The same server on a real PostgreSQL: set OPTA_TEST_DATABASE_URL to a server whose role may
 * create databases (the one .ci/run starts); this file works in a database of its own. Skipped
 * without it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateAuth } from "../src/auth/auth.js";
import type { Database } from "../src/db/database.js";
import { loadMigrations, migrate } from "../src/db/migrate.js";
import { openPostgres } from "../src/db/postgres.js";
import { type RunningPlatform, startPlatform } from "../src/server.js";
import { memoryLogger, send } from "./fixtures/http.js";
import { type FreshDatabase, freshDatabase, testPostgresUrl } from "./fixtures/postgres.js";

describe.runIf(testPostgresUrl)("on PostgreSQL (OPTA_TEST_DATABASE_URL)", () => {
  let databaseUrl = "";
  let fresh: FreshDatabase;
  let admin: Database;

  beforeAll(async () => {
    fresh = await freshDatabase(testPostgresUrl ?? "");
    databaseUrl = fresh.url;
    admin = await openPostgres(databaseUrl, memoryLogger().logger);
    // As the server does: better-auth's tables first, the platform's files refer to "user".
    await migrateAuth(admin, "opta.localhost", memoryLogger().logger);
  });

  afterAll(async () => {
    await admin?.close();
    await fresh?.drop();
  });

  it("two servers migrating at once apply each file once", async () => {
    const [first, second] = await Promise.all([
      openPostgres(databaseUrl, memoryLogger().logger),
      openPostgres(databaseUrl, memoryLogger().logger),
    ]);
    try {
      const migrations = await loadMigrations();
      const results = await Promise.all([first, second].map((db) => migrate(db, migrations, memoryLogger().logger)));
      expect([...results[0]!.applied, ...results[1]!.applied].sort()).toEqual(migrations.map((m) => m.name).sort());
      expect(results.map((result) => result.total)).toEqual([migrations.length, migrations.length]);
      const { rows } = await admin.query<{ count: number }>("SELECT count(*)::int AS count FROM platform_migrations");
      expect(rows[0]?.count).toBe(migrations.length);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it("a wrong password and a missing database are one error each, with their codes", async () => {
    const wrongPassword = new URL(databaseUrl);
    wrongPassword.password = "not-the-password";
    await expect(openPostgres(wrongPassword.href, memoryLogger().logger)).rejects.toMatchObject({
      code: "PLATFORM_DB_AUTH_FAILED",
    });
    const missing = new URL(databaseUrl);
    missing.pathname = "/opta_no_such_database";
    await expect(openPostgres(missing.href, memoryLogger().logger)).rejects.toMatchObject({
      code: "PLATFORM_DB_NOT_FOUND",
    });
  });

  describe("the server", () => {
    let platform: RunningPlatform;
    beforeAll(async () => {
      platform = await startPlatform({
        port: 0,
        domain: "opta.localhost",
        databaseUrl,
        pgliteDir: null,
        logger: memoryLogger().logger,
      });
    });
    afterAll(async () => {
      await platform?.close();
    });

    it("creates the auth tables and signs a user up and in", async () => {
      expect(platform.database.kind).toBe("postgres");
      const accounts = `accounts.opta.localhost:${platform.port}`;
      const origin = { origin: `http://${accounts}` };
      const account = { email: "pg@example.com", password: "a long enough password", name: "Pg" };
      const signUp = await send(platform.port, accounts, "/api/auth/sign-up/email", "POST", {
        headers: origin,
        json: account,
      });
      expect(signUp.status, signUp.body).toBe(200);
      const signIn = await send(platform.port, accounts, "/api/auth/sign-in/email", "POST", {
        headers: origin,
        json: { email: account.email, password: account.password },
        from: "127.0.0.3",
      });
      expect(signIn.status, signIn.body).toBe(200);
      const { rows } = await admin.query<{ email: string }>('SELECT email FROM "user"');
      expect(rows).toEqual([{ email: account.email }]);
      const limits = await admin.query<{ count: number }>('SELECT count(*)::int AS count FROM "rateLimit"');
      expect(limits.rows[0]?.count).toBeGreaterThan(0);
    });
  });
});
