/**
 * The operator's way in: `opta platform admin grant EMAIL` on the server's machine. PGlite allows
 * one process, so while the server runs the CLI goes through it, on a loopback route of the home
 * host authenticated by a secret in the data dir (`<data>/control-secret`, mode 0600): whoever can
 * read that file can already open the database itself. There is no default password anywhere.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Hono } from "hono";
import type { Database } from "../db/database.js";
import { CLIENT_ADDRESS_HEADER } from "../server/app.js";
import { AdminError, grantAdmin } from "./users.js";

/** The route on the home host. */
export const CONTROL_GRANT_PATH = "/api/control/admin-grant";
/** The secret's file name in the data dir. */
export const CONTROL_SECRET_FILE = "control-secret";

/** A fresh secret for this start, written to `<data>/control-secret` (none on disk for an in-memory server). */
export async function createControlSecret(dataDir: string | null): Promise<string> {
  const secret = randomBytes(32).toString("base64url");
  if (dataDir !== null) await writeFile(join(dataDir, CONTROL_SECRET_FILE), `${secret}\n`, { mode: 0o600 });
  return secret;
}

/** Reads the secret the running server wrote. */
export async function readControlSecret(dataDir: string): Promise<string> {
  return (await readFile(join(dataDir, CONTROL_SECRET_FILE), "utf8")).trim();
}

function sameSecret(given: string, secret: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function mountControl(app: Hono, database: Database, secret: string): void {
  app.post(CONTROL_GRANT_PATH, async (c) => {
    const address = c.req.header(CLIENT_ADDRESS_HEADER) ?? "";
    const given = (c.req.header("authorization") ?? "").replace(/^Bearer /, "");
    // Loopback only (the server listens there anyway), and no page may call it (no Origin).
    if (
      !/^(127\.|::1$|::ffff:127\.)/.test(address) ||
      c.req.header("origin") !== undefined ||
      !sameSecret(given, secret)
    ) {
      return c.json(
        {
          error: {
            code: "control_refused",
            message: "run this on the server's machine, with 'opta platform admin grant'",
          },
        },
        403,
      );
    }
    let body: { email?: unknown };
    try {
      body = (await c.req.json()) as { email?: unknown };
    } catch {
      body = {};
    }
    if (typeof body.email !== "string" || !body.email.includes("@")) {
      return c.json({ error: { code: "bad_email", message: "give the account's email address" } }, 400);
    }
    try {
      const user = await grantAdmin(database, body.email, address);
      return c.json({ user: { id: user.id, email: user.email, role: user.role } });
    } catch (error) {
      if (error instanceof AdminError)
        return c.json({ error: { code: error.code, message: error.message } }, error.status);
      throw error;
    }
  });
}
