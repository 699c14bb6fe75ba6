import pg from "pg";
import { PlatformError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Database, Queryable } from "./database.js";

/** How long a first connection may take before the server counts as unreachable. */
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * How long a request may wait for a free pooled connection (pg's connectionTimeoutMillis covers
 * both that wait and a new connection). Under a burst of sign-ins (each ~0.25 s of CPU for the
 * password hash while it holds a connection) 5 s was too short: 50 users at once on 2 cores got
 * 500s from the pool. A request now waits its turn; only a server that stays away fails it.
 */
const POOL_WAIT_MS = 30_000;
/** Connections per server process; `OPTA_PLATFORM_DB_POOL` changes it (1–200). */
const POOL_SIZE = 10;

/** DATABASE_URL without its password, for messages and logs. */
export function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = "***";
  return copy.href;
}

/**
 * Opens a pool on DATABASE_URL and proves it works with one query, so a wrong URL, a server that
 * is down or refused credentials fail here, at start, as one PlatformError with a code.
 */
export async function openPostgres(databaseUrl: string, logger: Logger): Promise<Database> {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new PlatformError(
      "PLATFORM_DB_URL_INVALID",
      "DATABASE_URL is not a URL; set it to postgres://USER:PASSWORD@HOST:PORT/DATABASE, or unset it to use the embedded database",
    );
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new PlatformError(
      "PLATFORM_DB_URL_INVALID",
      `DATABASE_URL must start with postgres:// or postgresql://, not ${url.protocol}//; unset it to use the embedded database`,
    );
  }
  const shown = redactUrl(url);
  const size = poolSize();
  // The first connection decides, quickly, whether the server is there at all.
  const probe = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  try {
    await probe.connect();
    await probe.query("SELECT 1");
  } catch (error) {
    throw connectError(error, shown);
  } finally {
    await probe.end().catch(() => undefined);
  }
  const pool = new pg.Pool({ connectionString: databaseUrl, connectionTimeoutMillis: POOL_WAIT_MS, max: size });
  // An idle connection dropped by the server must not crash the process; the next query reconnects.
  pool.on("error", (error) => logger.warn("database", "idle PostgreSQL connection failed", { error: error.message }));
  const wrap = (client: pg.Pool | pg.PoolClient): Queryable => ({
    query: async <Row>(sql: string, params?: unknown[]) => {
      const result = await client.query(sql, params);
      return { rows: result.rows as Row[] };
    },
    exec: async (sql: string) => {
      await client.query(sql);
    },
  });
  return {
    kind: "postgres",
    native: { kind: "postgres", pool },
    ...wrap(pool),
    transaction: async <T>(work: (tx: Queryable) => Promise<T>) => {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const result = await work(wrap(client));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/** Maps a connection failure to the one error a user can act on. */
function connectError(error: unknown, shown: string): PlatformError {
  const record = error as { code?: string; message?: string };
  const code = record.code ?? "";
  const detail = record.message ?? String(error);
  if (["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT"].includes(code)) {
    return new PlatformError(
      "PLATFORM_DB_UNREACHABLE",
      `cannot reach PostgreSQL at ${shown} (${code}); start the server or fix DATABASE_URL's host and port`,
    );
  }
  if (/timeout/i.test(detail)) {
    return new PlatformError(
      "PLATFORM_DB_UNREACHABLE",
      `PostgreSQL at ${shown} did not answer within ${CONNECT_TIMEOUT_MS / 1000} s; check DATABASE_URL's host and port`,
    );
  }
  if (code === "28P01" || code === "28000") {
    return new PlatformError(
      "PLATFORM_DB_AUTH_FAILED",
      `PostgreSQL at ${shown} refused the user or password (${code}); fix them in DATABASE_URL`,
    );
  }
  if (code === "3D000") {
    return new PlatformError(
      "PLATFORM_DB_NOT_FOUND",
      `PostgreSQL at ${shown} has no such database (${code}); create it (createdb) or fix DATABASE_URL`,
    );
  }
  return new PlatformError("PLATFORM_DB_FAILED", `PostgreSQL at ${shown} refused the connection: ${detail}`);
}

function poolSize(env: NodeJS.ProcessEnv = process.env): number {
  const value = env.OPTA_PLATFORM_DB_POOL;
  if (value === undefined || value === "") return POOL_SIZE;
  const size = Number(value);
  if (!Number.isInteger(size) || size < 1 || size > 200) {
    throw new PlatformError(
      "PLATFORM_USAGE",
      `OPTA_PLATFORM_DB_POOL must be a whole number from 1 to 200, not '${value}'`,
    );
  }
  return size;
}
