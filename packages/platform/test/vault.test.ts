/**
 * Vault sync's server side through the real server (`accounts.<domain>/api/vault`): the session
 * picks the row, pushes name the version they replace (409 otherwise), bodies are checked and
 * limited, nothing of a body reaches the log, and the vault-isolation attack family.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../scripts/security-family.js";
import { type RunningPlatform, startPlatform } from "../src/server.js";
import { type Answer, memoryLogger, send } from "./fixtures/http.js";

const DOMAIN = "opta.localhost";
const FRESH_DB_TIMEOUT = 240_000;
const log = memoryLogger();
let platform: RunningPlatform;
let port: number;
let accounts: string;
let origin: string;
let nextAddress = 20;

interface Account {
  id: string;
  cookie: string;
  token: string;
}

/** Signs a user up from a loopback address of its own (sign-up limits are per client address). */
async function signUp(email: string): Promise<Account> {
  const answer = await send(port, accounts, "/api/auth/sign-up/email", "POST", {
    headers: { origin },
    json: { email, password: "correct horse battery", name: email.split("@")[0] },
    from: `127.0.0.${nextAddress++}`,
  });
  expect(answer.status, answer.body).toBe(200);
  const cookie = [answer.headers["set-cookie"] ?? []]
    .flat()
    .find((value) => value.includes("session_token="))!
    .split(";")[0]!;
  return { id: JSON.parse(answer.body).user.id, cookie, token: String(answer.headers["set-auth-token"]) };
}

/** A push body whose fields look like the CLI's (the server never reads inside them). */
function push(replaces: number | null, extra: Record<string, unknown> = {}) {
  return {
    ciphertext: randomBytes(96).toString("base64"),
    iv: randomBytes(12).toString("base64"),
    wrappedKey: randomBytes(60).toString("base64"),
    kdf: { algorithm: "scrypt", N: 2 ** 17, r: 8, p: 1, salt: randomBytes(16).toString("base64") },
    device: "laptop",
    replaces,
    ...extra,
  };
}

function vault(
  method: "GET" | "PUT",
  credentials: { bearer?: string; cookie?: string },
  options: { json?: unknown; path?: string; host?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (credentials.bearer) headers.authorization = `Bearer ${credentials.bearer}`;
  if (credentials.cookie) headers.cookie = credentials.cookie;
  return send(port, options.host ?? accounts, options.path ?? "/api/vault", method, {
    headers,
    ...(options.json === undefined ? {} : { json: options.json }),
  });
}

async function storedRow(userId: string) {
  const { rows } = await platform.database.query("SELECT * FROM vault WHERE user_id = $1", [userId]);
  return JSON.stringify(rows[0] ?? null);
}

beforeAll(async () => {
  platform = await startPlatform({ port: 0, domain: DOMAIN, pgliteDir: null, dataDir: null, logger: log.logger });
  port = platform.port;
  accounts = `accounts.${DOMAIN}:${port}`;
  origin = `http://${accounts}`;
}, FRESH_DB_TIMEOUT);

afterAll(async () => {
  await platform?.close();
});

describe("vault sync API", () => {
  it("creates the vault table after better-auth's, with its foreign key to user", async () => {
    const migrated = log.lines.findIndex((line) => line.message === "auth tables migrated");
    const applied = log.lines.findIndex(
      (line) => line.message === "migration applied" && line.migration === "0003_vault",
    );
    expect(migrated).toBeGreaterThanOrEqual(0);
    expect(applied).toBeGreaterThan(migrated);
    const { rows } = await platform.database.query<{ confdeltype: string }>(
      "SELECT confdeltype FROM pg_constraint WHERE conrelid = 'vault'::regclass AND contype = 'f'",
    );
    expect(rows).toEqual([{ confdeltype: "c" }]);
  });

  it("stores a first push as version 1, then only a push that names the current version", async () => {
    const ada = await signUp("ada@example.com");
    expect((await vault("GET", { bearer: ada.token })).status).toBe(404);
    const first = push(null);
    const created = await vault("PUT", { bearer: ada.token }, { json: first });
    expect(created.status, created.body).toBe(200);
    expect(JSON.parse(created.body)).toMatchObject({ version: 1, device: "laptop", ciphertext: first.ciphertext });
    // The cookie reaches the same row as the bearer token.
    const read = JSON.parse((await vault("GET", { cookie: ada.cookie })).body);
    expect(read).toMatchObject({ version: 1, wrappedKey: first.wrappedKey, kdf: first.kdf });
    expect(Date.parse(read.updatedAt)).not.toBeNaN();

    const second = await vault("PUT", { bearer: ada.token }, { json: push(1, { device: "desktop" }) });
    expect(JSON.parse(second.body).version).toBe(2);
    // Another device still on version 1, and one that never pulled: both 409, told what is there.
    for (const stale of [1, null]) {
      const conflict = await vault("PUT", { bearer: ada.token }, { json: push(stale, { device: "phone" }) });
      expect(conflict.status).toBe(409);
      const body = JSON.parse(conflict.body);
      expect(body.error.code).toBe("vault_conflict");
      expect(body.current).toMatchObject({ version: 2, device: "desktop" });
      expect(body.current.updatedAt).toBe(JSON.parse(second.body).updatedAt);
    }
    expect(JSON.parse((await vault("GET", { bearer: ada.token })).body).device).toBe("desktop");
  });

  it("lets exactly one of two pushes replacing the same version win", async () => {
    const bob = await signUp("bob@example.com");
    await vault("PUT", { bearer: bob.token }, { json: push(null) });
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        vault("PUT", { bearer: bob.token }, { json: push(1, { device: `d${index}` }) }),
      ),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409, 409, 409, 409, 409]);
  });

  it("refuses a body that is not a vault push, or too large, and never echoes or logs it", async () => {
    const cleo = await signUp("cleo@example.com");
    const secret = "sk-ant-THIS-IS-NOT-BASE64-0123456789";
    const cases = [
      { json: { ...push(null), ciphertext: secret }, field: "ciphertext" },
      { json: { ...push(null), kdf: { algorithm: "pbkdf2", salt: "AA==" } }, field: "kdf" },
      { json: { ...push(null), kdf: { ...push(null).kdf, N: 1000 } }, field: "kdf.N" },
      { json: { ...push(null), replaces: "1" }, field: "replaces" },
      { json: { ...push(null), extra: secret }, field: "(body)" },
    ];
    for (const entry of cases) {
      const answer = await vault("PUT", { bearer: cleo.token }, { json: entry.json });
      expect(answer.status, answer.body).toBe(400);
      expect(JSON.parse(answer.body).error.code).toBe("vault_invalid_body");
      expect(answer.body).toContain(entry.field);
      expect(answer.body).not.toContain(secret);
    }
    const large = await vault(
      "PUT",
      { bearer: cleo.token },
      { json: push(null, { ciphertext: "A".repeat(1_100_000) }) },
    );
    expect(large.status).toBe(413);
    expect(JSON.parse(large.body).error.code).toBe("vault_too_large");
    expect(await storedRow(cleo.id)).toBe("null");
    for (const line of log.raw) expect(line).not.toContain(secret);
  });

  it("goes with the account: deleting the user deletes the vault", async () => {
    const dora = await signUp("dora@example.com");
    await vault("PUT", { bearer: dora.token }, { json: push(null) });
    await platform.database.query('DELETE FROM "user" WHERE id = $1', [dora.id]);
    expect(await storedRow(dora.id)).toBe("null");
  });

  it("vault-isolation: no one reads, writes or replaces another user's vault", async ({ task }) => {
    const alice = await signUp("alice@example.com");
    const mallory = await signUp("mallory@example.com");
    const pushed = push(null);
    expect((await vault("PUT", { bearer: alice.token }, { json: pushed })).status).toBe(200);
    const aliceRow = await storedRow(alice.id);
    // The check below is real: Alice herself does read her ciphertext.
    expect((await vault("GET", { bearer: alice.token })).body).toContain(pushed.ciphertext);

    const cases: SecurityCase[] = [];
    const leaked = (answer: Answer) =>
      answer.body.includes(pushed.ciphertext) || answer.body.includes(pushed.wrappedKey);
    const read = async (attack: string, answer: Promise<Answer>) => {
      const result = await answer;
      cases.push({ attack, refused: !leaked(result), detail: `HTTP ${result.status}` });
    };
    const write = async (attack: string, answer: Promise<Answer>) => {
      const result = await answer;
      const untouched = (await storedRow(alice.id)) === aliceRow;
      cases.push({ attack, refused: untouched && !leaked(result), detail: `HTTP ${result.status}` });
    };
    const asMallory = { bearer: mallory.token };
    const id = encodeURIComponent(alice.id);

    for (const query of [`user_id=${id}`, `userId=${id}`, `user=${id}`, `id=${id}`]) {
      await read(`GET /api/vault?${query}`, vault("GET", asMallory, { path: `/api/vault?${query}` }));
    }
    await read("GET /api/vault/<alice>", vault("GET", asMallory, { path: `/api/vault/${id}` }));
    await read(
      "GET /api/vault/../vault?user_id",
      vault("GET", asMallory, { path: `/api/vault/..%2Fvault?user_id=${id}` }),
    );
    await read("GET with X-User-Id: alice", vault("GET", asMallory, { headers: { "x-user-id": alice.id } }));
    await read("GET /api/vault on the admin host", vault("GET", asMallory, { host: `admin.${DOMAIN}:${port}` }));
    await read("GET /api/auth/vault", vault("GET", asMallory, { path: "/api/auth/vault" }));

    await write("PUT with userId: alice in the body", vault("PUT", asMallory, { json: push(1, { userId: alice.id }) }));
    await write(
      "PUT with user_id: alice in the body",
      vault("PUT", asMallory, { json: push(1, { user_id: alice.id }) }),
    );
    await write("PUT replacing alice's version", vault("PUT", asMallory, { json: push(1) }));
    await write("PUT ?user_id=alice", vault("PUT", asMallory, { path: `/api/vault?user_id=${id}`, json: push(1) }));
    await write("PUT /api/vault/<alice>", vault("PUT", asMallory, { path: `/api/vault/${id}`, json: push(1) }));
    await write("PUT as a new vault (replaces null)", vault("PUT", asMallory, { json: push(null) }));
    await write("PUT again over mallory's own version 1", vault("PUT", asMallory, { json: push(1) }));
    await write(
      "PUT with alice's cookie from another origin",
      vault("PUT", { cookie: alice.cookie }, { json: push(1), headers: { origin: "https://evil.example" } }),
    );

    // Signed out, forged, and revoked credentials.
    await read("GET signed out", vault("GET", {}));
    await write("PUT signed out", vault("PUT", {}, { json: push(1) }));
    await read("GET with a guessed bearer token", vault("GET", { bearer: randomBytes(24).toString("base64url") }));
    await read("GET with alice's id as the bearer token", vault("GET", { bearer: alice.id }));
    await read(
      "GET with a forged session cookie",
      vault("GET", { cookie: `__Secure-better-auth.session_token=${alice.id}.forged` }),
    );
    const revoked = await signInAgain(alice);
    const out = await send(port, accounts, "/api/auth/sign-out", "POST", {
      headers: { authorization: `Bearer ${revoked}`, origin },
      json: {},
    });
    expect(out.status, out.body).toBe(200);
    await read("GET with a revoked token", vault("GET", { bearer: revoked }));
    await write("PUT with a revoked token", vault("PUT", { bearer: revoked }, { json: push(1) }));

    const result = reportFamily(task, "vault-isolation", cases);
    expect(result.through).toEqual([]);
    expect(result.tried).toBeGreaterThanOrEqual(20);
  });
});

/** A second session for the same user (a token that can be revoked without ending the first). */
async function signInAgain(account: Account): Promise<string> {
  const { rows } = await platform.database.query<{ email: string }>('SELECT email FROM "user" WHERE id = $1', [
    account.id,
  ]);
  const answer = await send(port, accounts, "/api/auth/sign-in/email", "POST", {
    headers: { origin },
    json: { email: rows[0]!.email, password: "correct horse battery" },
    from: `127.0.0.${nextAddress++}`,
  });
  expect(answer.status, answer.body).toBe(200);
  return String(answer.headers["set-auth-token"]);
}
