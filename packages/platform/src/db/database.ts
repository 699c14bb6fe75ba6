import type { Dialect } from "kysely";
import type pg from "pg";

/** The few operations the platform needs from a database, the same on PostgreSQL and PGlite. */
export interface Queryable {
  /** One statement with `$1…` parameters. */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: Row[] }>;
  /** One or more statements without parameters (a migration file). */
  exec(sql: string): Promise<void>;
}

/** The driver under a Database, for libraries that bring their own query layer (better-auth). */
export type NativeDatabase = { kind: "postgres"; pool: pg.Pool } | { kind: "pglite"; dialect: () => Dialect };

/** An open database: PostgreSQL at DATABASE_URL or the embedded PGlite. */
export interface Database extends Queryable {
  /** Which engine this is (reported by status and health). */
  readonly kind: "pglite" | "postgres";
  /** The driver itself. */
  readonly native: NativeDatabase;
  /** Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
