/**
 * Vault sync's API on accounts (`GET|PUT /api/vault`): one encrypted vault per user. The user is
 * the session's (cookie or `Authorization: Bearer`), never a parameter, so no request can name
 * another user's row. The server only stores what it is given: ciphertext, the wrapped data key and
 * the KDF parameters; it cannot decrypt any of it. Bodies are never logged.
 */
import { VAULT_MAX_BODY_BYTES, type VaultKdf, VaultPutRequest, type VaultRecord } from "@opta/local";
import type { Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Queryable } from "../db/database.js";

/** Finds the signed-in user of a request (better-auth's session, cookie or bearer). */
export type SessionUser = (headers: Headers) => Promise<{ id: string } | null>;

interface VaultRow {
  version: number;
  ciphertext: string;
  iv: string;
  wrapped_key: string;
  kdf: VaultKdf | string;
  device: string;
  updated_at: Date | string;
}

const COLUMNS = "version, ciphertext, iv, wrapped_key, kdf, device, updated_at";

function error(c: Context, status: 400 | 401 | 404 | 413, code: string, message: string) {
  return c.json({ error: { code, message } }, status, { "Cache-Control": "no-store" });
}

function toRecord(row: VaultRow): VaultRecord {
  return {
    version: Number(row.version),
    ciphertext: row.ciphertext,
    iv: row.iv,
    wrappedKey: row.wrapped_key,
    kdf: typeof row.kdf === "string" ? (JSON.parse(row.kdf) as VaultKdf) : row.kdf,
    device: row.device,
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/** Mounts `GET /api/vault` and `PUT /api/vault` on the accounts app. */
export function mountVault(app: Hono, options: { database: Queryable; sessionUser: SessionUser }): void {
  const { database, sessionUser } = options;
  const signedOut = (c: Context) =>
    error(c, 401, "vault_signed_out", "sign in first (`opta account login`); vault sync needs a session");

  app.get("/api/vault", async (c) => {
    const user = await sessionUser(c.req.raw.headers);
    if (!user) return signedOut(c);
    const { rows } = await database.query<VaultRow>(`SELECT ${COLUMNS} FROM vault WHERE user_id = $1`, [user.id]);
    const row = rows[0];
    if (!row) return error(c, 404, "vault_not_found", "this account has no synced vault yet; push one first");
    return c.json(toRecord(row), 200, { "Cache-Control": "no-store" });
  });

  app.put(
    "/api/vault",
    bodyLimit({
      maxSize: VAULT_MAX_BODY_BYTES,
      onError: (c) => {
        // The rest of the body is never read, so this connection cannot carry another request.
        c.header("Connection", "close");
        return error(
          c,
          413,
          "vault_too_large",
          `a vault push is at most ${VAULT_MAX_BODY_BYTES} bytes; remove entries`,
        );
      },
    }),
    async (c) => {
      const user = await sessionUser(c.req.raw.headers);
      if (!user) return signedOut(c);
      let parsed: unknown;
      try {
        parsed = await c.req.json();
      } catch {
        return error(c, 400, "vault_invalid_body", "the body is not JSON");
      }
      const body = VaultPutRequest.safeParse(parsed);
      if (!body.success) {
        // Field paths only: the issue messages could quote what was sent.
        const fields = [...new Set(body.error.issues.map((issue) => issue.path.join(".") || "(body)"))].join(", ");
        return error(c, 400, "vault_invalid_body", `the vault push is not valid (${fields})`);
      }
      const put = body.data;
      const values = [user.id, put.ciphertext, put.iv, put.wrappedKey, JSON.stringify(put.kdf), put.device];
      // One statement each way, so two pushes that replace the same version cannot both win.
      const { rows } =
        put.replaces === null
          ? await database.query<VaultRow>(
              `INSERT INTO vault (user_id, version, ciphertext, iv, wrapped_key, kdf, device, updated_at)
               VALUES ($1, 1, $2, $3, $4, $5::jsonb, $6, now())
               ON CONFLICT (user_id) DO NOTHING RETURNING ${COLUMNS}`,
              values,
            )
          : await database.query<VaultRow>(
              `UPDATE vault SET version = version + 1, ciphertext = $2, iv = $3, wrapped_key = $4,
                 kdf = $5::jsonb, device = $6, updated_at = now()
               WHERE user_id = $1 AND version = $7 RETURNING ${COLUMNS}`,
              [...values, put.replaces],
            );
      const written = rows[0];
      if (written) return c.json(toRecord(written), 200, { "Cache-Control": "no-store" });
      const current = (await database.query<VaultRow>(`SELECT ${COLUMNS} FROM vault WHERE user_id = $1`, [user.id]))
        .rows[0];
      const replaced = put.replaces === null ? "none" : `version ${put.replaces}`;
      if (!current) {
        return c.json(
          {
            error: {
              code: "vault_conflict",
              message: `this push replaces ${replaced}, but the account has no vault; push with no base version`,
            },
            current: null,
          },
          409,
        );
      }
      const record = toRecord(current);
      return c.json(
        {
          error: {
            code: "vault_conflict",
            message: `this push replaces ${replaced}, but the vault is at version ${record.version} (written by ${record.device}); pull or choose a side`,
          },
          current: { version: record.version, device: record.device, updatedAt: record.updatedAt },
        },
        409,
        { "Cache-Control": "no-store" },
      );
    },
  );
}
