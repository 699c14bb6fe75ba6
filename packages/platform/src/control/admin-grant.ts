/**
 * `opta platform admin grant EMAIL`, the CLI's side. The embedded database allows one process, so
 * while the server runs the grant goes through it (the home host's control route, authenticated by
 * the secret it wrote to `<data>/control-secret`); when none runs, the database is opened here.
 * The database modules load only on that second path, so the rest of control stays node:* only.
 */
import { readFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { PLATFORM_HOST } from "../defaults.js";
import { PlatformError } from "../errors.js";
import { platformStatus } from "./index.js";
import { pgliteDir, platformPaths } from "./paths.js";
import { isProcessAlive, looksLikePlatform } from "./process.js";
import { readPlatformState } from "./state.js";

/** What a grant did. */
export interface GrantResult {
  email: string;
  /** `server`: through the running server; `database`: the database opened directly. */
  via: "server" | "database";
  /** Where: the server's address, or the database. */
  where: string;
}

export interface GrantOptions {
  home: string;
  email: string;
  /** The data dir when no server runs (default: the home's). */
  data?: string;
  /** DATABASE_URL, when the platform runs on PostgreSQL. */
  databaseUrl?: string;
}

export async function grantAdminRole(options: GrantOptions): Promise<GrantResult> {
  const status = await platformStatus(options.home);
  if (status.running)
    return grantThroughServer(status.state.port, status.state.domain, status.state.dataDir, options.email);
  const state = await readPlatformState(options.home);
  // A live server that does not answer still holds the embedded database: opening it here could corrupt it.
  if (state && isProcessAlive(state.pid) && looksLikePlatform(state.pid)) {
    throw new PlatformError(
      "PLATFORM_SERVER_UNREACHABLE",
      `the platform server (pid ${state.pid}) runs but does not answer on port ${state.port}; wait for it to finish starting, or stop it ('opta platform stop') and grant again`,
    );
  }
  return grantInDatabase(options);
}

function grantThroughServer(port: number, domain: string, dataDir: string, email: string): Promise<GrantResult> {
  return readFile(join(dataDir, "control-secret"), "utf8").then(
    (secret) =>
      new Promise<GrantResult>((resolve, reject) => {
        const body = JSON.stringify({ email });
        const req = request(
          {
            host: PLATFORM_HOST,
            port,
            path: "/api/control/admin-grant",
            method: "POST",
            timeout: 15_000,
            headers: {
              host: `${domain}:${port}`,
              "content-type": "application/json",
              authorization: `Bearer ${secret.trim()}`,
            },
          },
          (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (chunk) => {
              text += chunk;
            });
            res.on("end", () => {
              let parsed: { user?: { email: string }; error?: { code: string; message: string } } = {};
              try {
                parsed = JSON.parse(text);
              } catch {
                // not JSON: reported below as a failure
              }
              if (res.statusCode === 200 && parsed.user) {
                resolve({ email: parsed.user.email, via: "server", where: `http://${domain}:${port}` });
              } else if (parsed.error?.code === "no_such_user") {
                reject(new PlatformError("PLATFORM_NO_SUCH_USER", parsed.error.message));
              } else {
                reject(
                  new PlatformError(
                    "PLATFORM_SERVER_UNREACHABLE",
                    `the platform server refused the grant (HTTP ${res.statusCode}: ${parsed.error?.message ?? text.slice(0, 200)})`,
                  ),
                );
              }
            });
          },
        );
        req.on("timeout", () => req.destroy(new Error("no answer within 15 s")));
        req.on("error", (error) =>
          reject(
            new PlatformError(
              "PLATFORM_SERVER_UNREACHABLE",
              `cannot reach the platform server on port ${port} (${error.message}); check 'opta platform status'`,
            ),
          ),
        );
        req.end(body);
      }),
    () => {
      throw new PlatformError(
        "PLATFORM_SERVER_UNREACHABLE",
        `cannot read the running server's control secret in ${dataDir}; run this as the user that started the server`,
      );
    },
  );
}

async function grantInDatabase(options: GrantOptions): Promise<GrantResult> {
  const { createLogger } = await import("../log.js");
  const { grantAdmin, AdminError } = await import("../admin/users.js");
  const quiet = createLogger(() => undefined);
  let database: import("../db/database.js").Database;
  let where: string;
  if (options.databaseUrl) {
    const { openPostgres, redactUrl } = await import("../db/postgres.js");
    database = await openPostgres(options.databaseUrl, quiet);
    where = redactUrl(new URL(options.databaseUrl));
  } else {
    const { isInitialised, openPglite } = await import("../db/pglite.js");
    const dir = pgliteDir(options.data ?? platformPaths(options.home).data);
    if (!isInitialised(dir)) {
      throw new PlatformError(
        "PLATFORM_NO_SUCH_USER",
        `there is no platform database in ${dir} yet, so no account; start the server ('opta platform start'), sign up on the accounts site, then grant`,
      );
    }
    database = await openPglite(dir, quiet);
    where = dir;
  }
  try {
    const { rows } = await database.query<{ exists: boolean }>(`SELECT to_regclass('"user"') IS NOT NULL AS exists`);
    if (!rows[0]?.exists) {
      throw new PlatformError(
        "PLATFORM_NO_SUCH_USER",
        `the database at ${where} has no accounts yet; start the server, sign up on the accounts site, then grant`,
      );
    }
    const user = await grantAdmin(database, options.email, null);
    return { email: user.email, via: "database", where };
  } catch (error) {
    if (error instanceof AdminError) throw new PlatformError("PLATFORM_NO_SUCH_USER", error.message);
    if ((error as { code?: string }).code === "42703") {
      throw new PlatformError(
        "PLATFORM_DB_OUTDATED",
        `the database at ${where} predates admin roles; start the server once ('opta platform start') to update it, then grant`,
      );
    }
    throw error;
  } finally {
    await database.close();
  }
}
