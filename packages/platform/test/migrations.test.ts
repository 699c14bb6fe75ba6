import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateAuth } from "../src/auth/auth.js";
import type { Database } from "../src/db/database.js";
import { defaultMigrationsDir, loadMigrations, migrate } from "../src/db/migrate.js";
import { openPglite } from "../src/db/pglite.js";
import { PlatformError } from "../src/errors.js";
import { memoryLogger } from "./fixtures/http.js";

// A fresh embedded database runs initdb in WebAssembly: 15-20 s on a small machine, more when busy.
const FRESH_DB_TIMEOUT = 240_000;

let root: string;
let dataDir: string;
let db: Database;
const firstOpen = memoryLogger();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "opta-platform-migrations-"));
  dataDir = join(root, "pglite");
  db = await openPglite(dataDir, firstOpen.logger);
  // As the server does: better-auth's tables first, the platform's files refer to "user".
  await migrateAuth(db, "opta.localhost", memoryLogger().logger);
}, FRESH_DB_TIMEOUT);

afterAll(async () => {
  await db?.close();
  await rm(root, { recursive: true, force: true });
});

/** A migrations folder holding the real files plus `extra` (name → SQL). */
async function migrationsWith(name: string, extra: Record<string, string>): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir);
  for (const file of await readdir(defaultMigrationsDir()))
    await copyFile(join(defaultMigrationsDir(), file), join(dir, file));
  for (const [file, sql] of Object.entries(extra)) await writeFile(join(dir, file), sql);
  return dir;
}

async function appliedVersions(): Promise<number[]> {
  const { rows } = await db.query<{ version: number }>("SELECT version FROM platform_migrations ORDER BY version");
  return rows.map((row) => row.version);
}

describe("the embedded database's first start", () => {
  it("logs progress lines while initdb runs, and creates the database in the data dir", () => {
    const progress = firstOpen.lines.filter((line) => line.progress === true);
    expect(progress[0]?.message).toMatch(/initialising the embedded database/);
    expect(progress.at(-1)?.message).toBe("embedded database initialised");
    expect(existsSync(join(dataDir, "PG_VERSION"))).toBe(true);
  });
});

describe("migrations", () => {
  it("apply every file on a fresh database, then nothing on a second run", async () => {
    const migrations = await loadMigrations();
    expect(migrations.map((migration) => migration.name)).toContain("0001_audit_log");
    const log = memoryLogger();
    const first = await migrate(db, migrations, log.logger);
    expect(first.applied).toEqual(migrations.map((migration) => migration.name));
    expect(first.total).toBe(migrations.length);
    expect(log.lines.filter((line) => line.message === "migration applied")).toHaveLength(migrations.length);

    const second = await migrate(db, migrations, memoryLogger().logger);
    expect(second.applied).toEqual([]);
    expect(second.total).toBe(migrations.length);
    expect(await appliedVersions()).toEqual(migrations.map((migration) => migration.version));
    // The tables the files create are there and usable.
    await db.query("INSERT INTO audit_log (actor_id, actor_email, action) VALUES ($1, $2, $3)", [
      "u-1",
      "a@example.com",
      "role.set",
    ]);
    const { rows } = await db.query<{ action: string }>("SELECT action FROM audit_log");
    expect(rows).toEqual([{ action: "role.set" }]);
  });

  it(
    "stay applied once across a restart of the embedded database",
    async () => {
      await db.close();
      const reopened = memoryLogger();
      db = await openPglite(dataDir, reopened.logger);
      expect(reopened.lines.filter((line) => line.progress === true)).toEqual([]);
      const result = await migrate(db, await loadMigrations(), reopened.logger);
      expect(result.applied).toEqual([]);
      const { rows } = await db.query<{ count: number }>("SELECT count(*)::int AS count FROM audit_log");
      expect(rows[0]?.count).toBe(1);
    },
    FRESH_DB_TIMEOUT,
  );

  it("apply a new file once and only it", async () => {
    const dir = await migrationsWith("added", { "0900_note.sql": "CREATE TABLE note (id int PRIMARY KEY);" });
    const result = await migrate(db, await loadMigrations(dir), memoryLogger().logger);
    expect(result.applied).toEqual(["0900_note"]);
    expect((await migrate(db, await loadMigrations(dir), memoryLogger().logger)).applied).toEqual([]);
  });

  it("leave nothing behind when a file fails, and say which", async () => {
    const dir = await migrationsWith("broken", {
      "0901_half.sql": "CREATE TABLE half_done (id int); SELECT no_such_function();",
    });
    const error = await migrate(db, await loadMigrations(dir), memoryLogger().logger).catch((caught) => caught);
    expect(error).toBeInstanceOf(PlatformError);
    expect(error.code).toBe("PLATFORM_MIGRATION_FAILED");
    expect(error.message).toMatch(/0901_half failed/);
    const { rows } = await db.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'");
    expect(rows).toEqual([]);
    expect(await appliedVersions()).not.toContain(901);
  });

  it("refuse an applied file whose content changed", async () => {
    const dir = await migrationsWith("edited", { "0900_note.sql": "CREATE TABLE note (id int PRIMARY KEY, x int);" });
    const error = await migrate(db, await loadMigrations(dir), memoryLogger().logger).catch((caught) => caught);
    expect(error).toMatchObject({ code: "PLATFORM_MIGRATION_FAILED" });
    expect(error.message).toMatch(/0900_note was changed after it was applied/);
  });

  it("refuse a stray file or a duplicate version in the folder", async () => {
    const stray = await migrationsWith("stray", { "notes.txt": "hello" });
    await expect(loadMigrations(stray)).rejects.toMatchObject({ code: "PLATFORM_MIGRATION_FAILED" });
    const duplicate = await migrationsWith("duplicate", { "0001_again.sql": "SELECT 1;" });
    await expect(loadMigrations(duplicate)).rejects.toThrow(/two migrations .* version 0001/);
  });
});
