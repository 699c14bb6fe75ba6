import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PlatformError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Database } from "./database.js";

/** One versioned migration file, `NNNN_name.sql`. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** sha256 of the file, recorded when applied, so an edited applied file is caught. */
  checksum: string;
}

/** What one run of `migrate` did. */
export interface MigrationResult {
  /** Names (`0001_audit_log`) applied by this run, in order. */
  applied: string[];
  /** How many migrations the database has now. */
  total: number;
}

const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;
/** Arbitrary constant key for pg_advisory_xact_lock: several servers starting at once migrate one at a time. */
const LOCK_KEY = 7_461_002;

/** packages/platform/migrations/ (this file is at the same depth in src/ and dist/). */
export function defaultMigrationsDir(): string {
  return fileURLToPath(new URL("../../migrations/", import.meta.url));
}

/** Reads the migration files of `dir`, ordered by version; any other file there is a mistake. */
export async function loadMigrations(dir: string = defaultMigrationsDir()): Promise<Migration[]> {
  const migrations: Migration[] = [];
  for (const file of (await readdir(dir)).sort()) {
    const match = FILE_NAME.exec(file);
    if (!match) {
      throw new PlatformError("PLATFORM_MIGRATION_FAILED", `${join(dir, file)} is not a migration (NNNN_name.sql)`);
    }
    const sql = await readFile(join(dir, file), "utf8");
    const version = Number(match[1]);
    if (migrations.some((migration) => migration.version === version)) {
      throw new PlatformError("PLATFORM_MIGRATION_FAILED", `two migrations in ${dir} have version ${match[1]}`);
    }
    migrations.push({
      version,
      name: `${match[1]}_${match[2]}`,
      sql,
      checksum: createHash("sha256").update(sql).digest("hex"),
    });
  }
  return migrations;
}

/**
 * Applies the migrations the database does not have yet, each in its own transaction with its
 * row in `platform_migrations`, so a run is idempotent and a failed file leaves nothing half done.
 * An applied file whose content changed since is refused: the database no longer matches it.
 */
export async function migrate(db: Database, migrations: Migration[], logger: Logger): Promise<MigrationResult> {
  await db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS platform_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      checksum   text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  });
  const applied: string[] = [];
  for (const migration of migrations) {
    const done = await db.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
      const { rows } = await tx.query<{ checksum: string }>(
        "SELECT checksum FROM platform_migrations WHERE version = $1",
        [migration.version],
      );
      const existing = rows[0];
      if (existing) {
        if (existing.checksum !== migration.checksum) {
          throw new PlatformError(
            "PLATFORM_MIGRATION_FAILED",
            `migration ${migration.name} was changed after it was applied to this database; ` +
              "restore the file and add the change as a new migration",
          );
        }
        return false;
      }
      try {
        await tx.exec(migration.sql);
      } catch (error) {
        throw new PlatformError(
          "PLATFORM_MIGRATION_FAILED",
          `migration ${migration.name} failed: ${(error as Error).message}`,
        );
      }
      await tx.query("INSERT INTO platform_migrations (version, name, checksum) VALUES ($1, $2, $3)", [
        migration.version,
        migration.name,
        migration.checksum,
      ]);
      return true;
    });
    if (done) {
      applied.push(migration.name);
      logger.info("database", "migration applied", { migration: migration.name });
    }
  }
  const { rows } = await db.query<{ count: number | string }>("SELECT count(*)::int AS count FROM platform_migrations");
  const total = Number(rows[0]?.count ?? 0);
  const known = new Set(migrations.map((migration) => migration.version));
  const { rows: recorded } = await db.query<{ version: number; name: string }>(
    "SELECT version, name FROM platform_migrations ORDER BY version",
  );
  for (const row of recorded) {
    if (!known.has(row.version)) {
      logger.warn("database", "the database has a migration this server does not know (a newer server ran here)", {
        migration: row.name,
      });
    }
  }
  return { applied, total };
}
