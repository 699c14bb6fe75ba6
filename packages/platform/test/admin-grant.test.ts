/**
 * `opta platform admin grant EMAIL` end to end: the built `opta`, a temporary Opta home, a real
 * server process. Through the running server (its control route), on the embedded database when
 * none runs, and the errors a user can act on: no such user, no database yet, a server that runs
 * but does not answer.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPlatformState } from "../src/control/state.js";
import { send } from "./fixtures/http.js";
import { closedPort } from "./fixtures/ports.js";

const OPTA = fileURLToPath(new URL("../../../apps/cli/bin/opta.js", import.meta.url));
const FIRST_START_TIMEOUT = 300_000;
const PASSWORD = "a long enough password";

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let home: string;

function opta(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [OPTA, ...args], {
      env: { ...process.env, OPTA_HOME: home, NO_COLOR: "1", DATABASE_URL: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function expectOneLineError(result: Result, code: RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trimEnd().split("\n");
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(code);
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "opta-admin-grant-"));
});

afterAll(async () => {
  const state = await readPlatformState(home);
  if (state) process.kill(state.pid, "SIGCONT");
  await opta(["platform", "stop"]);
  await rm(home, { recursive: true, force: true });
});

describe("opta platform admin grant", () => {
  let port: number;
  const cookies: Record<string, string> = {};

  const signUp = async (email: string, from: string) => {
    const answer = await send(port, `accounts.opta.localhost:${port}`, "/api/auth/sign-up/email", "POST", {
      headers: { origin: `http://accounts.opta.localhost:${port}` },
      json: { email, password: PASSWORD, name: email.split("@")[0] },
      from,
    });
    expect(answer.status, answer.body).toBe(200);
    const cookie = [answer.headers["set-cookie"] ?? []].flat().find((value) => value.includes("session_token="));
    cookies[email] = cookie?.split(";")[0] ?? "";
  };
  const adminStatus = async (email: string) =>
    (await send(port, `admin.opta.localhost:${port}`, "/api/admin/me", "GET", { headers: { cookie: cookies[email]! } }))
      .status;

  it("says there is no account before the platform ever ran", async () => {
    expectOneLineError(
      await opta(["platform", "admin", "grant", "ada@example.com"]),
      /no platform database.*\[PLATFORM_NO_SUCH_USER\]/,
    );
  });

  it(
    "grants through the running server, and names an unknown email",
    async () => {
      port = await closedPort();
      expect((await opta(["platform", "start", "--port", String(port)])).code).toBe(0);
      await signUp("ada@example.com", "127.0.0.41");
      await signUp("bob@example.com", "127.0.0.42");
      expect(await adminStatus("ada@example.com")).toBe(403);
      expectOneLineError(
        await opta(["platform", "admin", "grant", "nobody@example.com"]),
        /nobody@example\.com.*\[PLATFORM_NO_SUCH_USER\]/,
      );
      const granted = await opta(["platform", "admin", "grant", "Ada@Example.com"]);
      expect(granted.code, granted.stderr).toBe(0);
      expect(granted.stdout).toContain(
        `ada@example.com is now an admin (through the server on http://opta.localhost:${port})`,
      );
      expect(await adminStatus("ada@example.com")).toBe(200);
      expect(await adminStatus("bob@example.com")).toBe(403);
    },
    FIRST_START_TIMEOUT,
  );

  it("refuses to open the database under a server that runs but does not answer", async () => {
    const state = (await readPlatformState(home))!;
    process.kill(state.pid, "SIGSTOP");
    try {
      expectOneLineError(
        await opta(["platform", "admin", "grant", "bob@example.com"]),
        /does not answer.*\[PLATFORM_SERVER_UNREACHABLE\]/,
      );
    } finally {
      process.kill(state.pid, "SIGCONT");
    }
    expect(await adminStatus("bob@example.com")).toBe(403);
  });

  it(
    "grants on the embedded database when no server runs; the role holds after a start",
    async () => {
      expect((await opta(["platform", "stop"])).code).toBe(0);
      const granted = await opta(["platform", "admin", "grant", "bob@example.com"]);
      expect(granted.code, granted.stderr).toBe(0);
      expect(granted.stdout).toMatch(/bob@example\.com is now an admin \(in the database .*pglite\)/);
      expectOneLineError(
        await opta(["platform", "admin", "grant", "carol@example.com"]),
        /carol@example\.com.*\[PLATFORM_NO_SUCH_USER\]/,
      );
      expect((await opta(["platform", "start", "--port", String(port)])).code).toBe(0);
      expect(await adminStatus("bob@example.com")).toBe(200);
      const audit = await send(port, `admin.opta.localhost:${port}`, "/api/admin/audit", "GET", {
        headers: { cookie: cookies["bob@example.com"]! },
      });
      const grants = (JSON.parse(audit.body).rows as { action: string; detail: { email: string } }[]).filter(
        (row) => row.action === "admin.grant",
      );
      expect(grants.map((row) => row.detail.email).sort()).toEqual(["ada@example.com", "bob@example.com"]);
    },
    FIRST_START_TIMEOUT,
  );
});
