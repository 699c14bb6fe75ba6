import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openPostgres } from "../src/db/postgres.js";
import { PlatformError } from "../src/errors.js";
import { startPlatform } from "../src/server.js";
import { memoryLogger } from "./fixtures/http.js";
import { closedPort } from "./fixtures/ports.js";

async function failure(promise: Promise<unknown>): Promise<PlatformError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(PlatformError);
  return error as PlatformError;
}

describe("DATABASE_URL", () => {
  it("a pool size that is not 1-200 is refused before connecting, saying what to set", async () => {
    const port = await closedPort();
    for (const value of ["0", "abc", "201", "2.5"]) {
      process.env.OPTA_PLATFORM_DB_POOL = value;
      try {
        const error = await failure(openPostgres(`postgres://opta@127.0.0.1:${port}/opta`, memoryLogger().logger));
        expect(error.code).toBe("PLATFORM_USAGE");
        expect(error.message).toContain(`OPTA_PLATFORM_DB_POOL must be a whole number from 1 to 200, not '${value}'`);
      } finally {
        delete process.env.OPTA_PLATFORM_DB_POOL;
      }
    }
  });

  it("a server that is not there is one error with a code, without the password", async () => {
    const port = await closedPort();
    const error = await failure(
      openPostgres(`postgres://opta:s3cret-pw@127.0.0.1:${port}/opta`, memoryLogger().logger),
    );
    expect(error.code).toBe("PLATFORM_DB_UNREACHABLE");
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).toMatch(/start the server or fix DATABASE_URL/);
    expect(error.message).not.toContain("s3cret-pw");
  });

  it("a value that is not a postgres URL is refused before anything connects", async () => {
    for (const value of ["not a url", "mysql://root@127.0.0.1/opta", "http://127.0.0.1:5432/opta"]) {
      const error = await failure(openPostgres(value, memoryLogger().logger));
      expect(error.code, value).toBe("PLATFORM_DB_URL_INVALID");
    }
  });

  it("startPlatform fails with that error and never falls back to the embedded database", async () => {
    const dir = await mkdtemp(join(tmpdir(), "opta-platform-dburl-"));
    try {
      const log = memoryLogger();
      const error = await failure(
        startPlatform({
          port: 0,
          domain: "opta.localhost",
          databaseUrl: `postgresql://127.0.0.1:${await closedPort()}/opta`,
          pgliteDir: join(dir, "pglite"),
          logger: log.logger,
        }),
      );
      expect(error.code).toBe("PLATFORM_DB_UNREACHABLE");
      expect(await readdir(dir)).toEqual([]);
      expect(log.lines.some((line) => line.message === "listening")).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
