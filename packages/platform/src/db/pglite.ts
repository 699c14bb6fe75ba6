import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { PGlite } from "@electric-sql/pglite";
import { PGliteDialect } from "kysely-pglite-dialect";
import { PlatformError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Database, Queryable } from "./database.js";

/** How often a first initialisation reports that it is still running. */
const PROGRESS_EVERY_MS = 2_000;

/** Whether `dir` holds an initialised PGlite database (initdb writes PG_VERSION). */
export function isInitialised(dir: string): boolean {
  return existsSync(join(dir, "PG_VERSION"));
}

/**
 * Opens the embedded database in `dir` (created when missing), or an in-memory one for `null`.
 * A first initialisation runs initdb in WebAssembly, which holds its thread for many seconds; it
 * runs in a worker thread so this thread can log a progress line every two seconds meanwhile.
 */
export async function openPglite(dir: string | null, logger: Logger): Promise<Database> {
  try {
    if (dir !== null && !isInitialised(dir)) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await initialiseInWorker(dir, logger);
    }
    const db = dir === null ? await PGlite.create() : await PGlite.create(dir);
    return wrap(db);
  } catch (error) {
    if (error instanceof PlatformError) throw error;
    throw new PlatformError(
      "PLATFORM_DB_EMBEDDED_FAILED",
      `the embedded database in ${dir ?? "memory"} could not be opened (${(error as Error).message}); ` +
        "move that folder aside to start afresh, or set DATABASE_URL",
    );
  }
}

async function initialiseInWorker(dir: string, logger: Logger): Promise<void> {
  const started = Date.now();
  logger.info("database", "initialising the embedded database (first start only; about 15-20 s)", {
    dir,
    progress: true,
    elapsedS: 0,
  });
  const ticker = setInterval(() => {
    logger.info("database", "still initialising the embedded database", {
      dir,
      progress: true,
      elapsedS: Math.round((Date.now() - started) / 1000),
    });
  }, PROGRESS_EVERY_MS);
  // The worker imports PGlite by absolute URL: an eval'd worker resolves bare names from nowhere useful.
  const source = `
    const { parentPort, workerData } = require("node:worker_threads");
    import(workerData.url)
      .then(async ({ PGlite }) => { const db = await PGlite.create(workerData.dir); await db.close(); parentPort.postMessage({ ok: true }); })
      .catch((error) => parentPort.postMessage({ ok: false, message: String(error && error.message || error) }));
  `;
  try {
    await new Promise<void>((resolve, reject) => {
      const worker = new Worker(source, {
        eval: true,
        workerData: { url: import.meta.resolve("@electric-sql/pglite"), dir },
      });
      worker.once("message", (message: { ok: boolean; message?: string }) => {
        if (message.ok) resolve();
        else reject(new Error(message.message));
      });
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`the initialising worker exited with code ${code}`)));
    });
  } finally {
    clearInterval(ticker);
  }
  logger.info("database", "embedded database initialised", {
    dir,
    progress: true,
    elapsedS: Math.round((Date.now() - started) / 1000),
  });
}

function wrap(db: PGlite): Database {
  const queryable = (target: Pick<PGlite, "query" | "exec">): Queryable => ({
    query: async <Row>(sql: string, params?: unknown[]) => ({ rows: (await target.query<Row>(sql, params)).rows }),
    exec: async (sql: string) => {
      await target.exec(sql);
    },
  });
  return {
    kind: "pglite",
    native: { kind: "pglite", dialect: () => new PGliteDialect(db) },
    ...queryable(db),
    transaction: (work) => db.transaction((tx) => work(queryable(tx))),
    close: () => db.close(),
  };
}
