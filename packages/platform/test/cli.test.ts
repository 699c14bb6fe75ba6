/**
 * `opta platform start|status|stop` end to end: the built `opta` launcher, a temporary Opta home,
 * a real server process on a free loopback port with a fresh embedded database.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isProcessAlive } from "../src/control/process.js";
import { loadMigrations } from "../src/db/migrate.js";
import { send } from "./fixtures/http.js";
import { closedPort } from "./fixtures/ports.js";

/** How many migration files there are (each workstream adds its own). */
const MIGRATIONS = (await loadMigrations()).length;
const OPTA = fileURLToPath(new URL("../../../apps/cli/bin/opta.js", import.meta.url));
// The first start creates the embedded database (initdb in WebAssembly): 15-20 s, more on a busy machine.
const FIRST_START_TIMEOUT = 300_000;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let home: string;

function opta(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [OPTA, ...args], {
      env: { ...process.env, OPTA_HOME: home, NO_COLOR: "1", DATABASE_URL: "", ...env },
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

/** A failure as the CLI reports one: the exit code and exactly one `error: …` line, no stack. */
function expectOneLineError(result: Result, code: number, message: RegExp): void {
  expect(result.code, result.stderr).toBe(code);
  const lines = result.stderr.trimEnd().split("\n");
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(message);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "opta-platform-cli-"));
});

afterAll(async () => {
  // Never leave a server behind, even when a test failed half-way.
  await opta(["platform", "stop"]);
  await rm(home, { recursive: true, force: true });
});

describe("opta platform", () => {
  let port: number;
  let pid: number;
  let sessionCookie: string;

  it(
    "start runs the server in the background, shows the first-start progress, and serves every site",
    async () => {
      port = await closedPort();
      // OPTA_RELEASE_DIR: the release init.<domain> serves under /packages/ (docs/platform.md "Install").
      const release = join(home, "release");
      await mkdir(release);
      await writeFile(join(release, "manifest.json"), '{"schema":1,"marker":"cli-test"}');
      const result = await opta(["platform", "start", "--port", String(port)], { OPTA_RELEASE_DIR: release });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/initialising the embedded database/);
      expect(result.stdout).toMatch(/embedded database initialised/);
      expect(result.stdout).toContain(`Opta platform started on http://opta.localhost:${port}`);
      const state = JSON.parse(await readFile(join(home, "platform", "state.json"), "utf8"));
      expect(state).toMatchObject({ port, domain: "opta.localhost", database: "pglite" });
      pid = state.pid;
      expect(isProcessAlive(pid)).toBe(true);
      expect(existsSync(join(home, "platform", "data", "pglite", "PG_VERSION"))).toBe(true);
      const admin = await send(port, `admin.opta.localhost:${port}`);
      expect(admin.status).toBe(200);
      expect(admin.body).toContain('<meta name="opta-site" content="admin">');
      expect(admin.headers["content-security-policy"]).toContain("default-src 'none'");
      expect((await send(port, "elsewhere.example")).status).toBe(404);
      const manifest = await send(port, `init.opta.localhost:${port}`, "/packages/manifest.json");
      expect(manifest.body).toContain('"marker":"cli-test"');
      // Its log is JSON lines, the request just made among them.
      const log = (await readFile(join(home, "platform", "platform.log"), "utf8")).trim().split("\n");
      const lines = log.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
      expect(
        lines.some((line) => line.scope === "http" && line.host === "elsewhere.example" && line.status === 404),
      ).toBe(true);
      expect(lines.some((line) => line.message === "migration applied" && line.migration === "0001_audit_log")).toBe(
        true,
      );
      // An account made now must survive a restart (database and auth secret both in the data dir).
      const signUp = await send(port, `accounts.opta.localhost:${port}`, "/api/auth/sign-up/email", "POST", {
        headers: { origin: `http://accounts.opta.localhost:${port}` },
        json: { email: "grace@example.com", password: "a long enough password", name: "Grace" },
      });
      expect(signUp.status, signUp.body).toBe(200);
      sessionCookie = [signUp.headers["set-cookie"] ?? []].flat()[0]!.split(";")[0]!;
      expect((await stat(join(home, "platform", "data", "auth-secret"))).mode & 0o777).toBe(0o600);
    },
    FIRST_START_TIMEOUT,
  );

  it("status reports the running server, in words and as JSON", async () => {
    const words = await opta(["platform", "status"]);
    expect(words.code, words.stderr).toBe(0);
    expect(words.stdout).toMatch(/Opta platform running/);
    expect(words.stdout).toContain(`pid       ${pid}`);
    expect(words.stdout).toMatch(new RegExp(`database\\s+embedded \\(PGlite in .*\\), ${MIGRATIONS} migrations?`));
    expect(words.stdout).toContain(`http://accounts.opta.localhost:${port}`);
    const json = await opta(["platform", "status", "--json"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      running: true,
      state: { pid, port },
      health: { ok: true, database: { kind: "pglite", migrations: MIGRATIONS } },
    });
  });

  it("a second start reuses the running server", async () => {
    const again = await opta(["platform", "start", "--port", String(port)]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`Opta platform already running on http://opta.localhost:${port} (pid ${pid})`);
  });

  it("stop ends the process and removes its state; status then says it is not running", async () => {
    const stop = await opta(["platform", "stop"]);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toContain(`Opta platform stopped (pid ${pid})`);
    expect(isProcessAlive(pid)).toBe(false);
    expect(existsSync(join(home, "platform", "state.json"))).toBe(false);
    const status = await opta(["platform", "status"]);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/not running/);
    expect((await opta(["platform", "stop"])).stdout).toMatch(/not running/);
  });

  it(
    "a restart reopens the same database without initialising it or re-applying migrations",
    async () => {
      port = await closedPort();
      const result = await opta(["platform", "start", "--port", String(port)]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).not.toMatch(/initialising/);
      const log = await readFile(join(home, "platform", "platform.log"), "utf8");
      // Each file once, at the first start; none at this one.
      expect(log.match(/"migration applied"/g)).toHaveLength(MIGRATIONS);
      expect(log.match(/"auth tables migrated"/g)).toHaveLength(1);
      const session = await send(port, `accounts.opta.localhost:${port}`, "/api/auth/get-session", "GET", {
        headers: { cookie: sessionCookie },
      });
      expect(JSON.parse(session.body)?.user?.email).toBe("grace@example.com");
      expect((await opta(["platform", "stop"])).code).toBe(0);
    },
    FIRST_START_TIMEOUT,
  );

  it(
    "start --foreground stays attached with JSON log lines, and Ctrl+C stops it cleanly",
    async () => {
      port = await closedPort();
      const child = spawn(process.execPath, [OPTA, "platform", "start", "--foreground", "--port", String(port)], {
        env: { ...process.env, OPTA_HOME: home, NO_COLOR: "1", DATABASE_URL: "" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (chunk) => {
          stdout += chunk;
          if (stdout.includes('"message":"listening"')) resolve();
        });
        child.on("close", () => reject(new Error(`exited before listening: ${stdout}`)));
      });
      const lines = stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { scope: string; message: string });
      expect(lines.at(-1)).toMatchObject({ scope: "platform", message: "listening" });
      expect((await send(port, `help.opta.localhost:${port}`)).body).toContain('content="help"');
      // Ctrl+C in a terminal reaches the CLI's process group: the CLI forwards it to the server.
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(stdout).toContain('"message":"stopped"');
      expect(existsSync(join(home, "platform", "state.json"))).toBe(false);
    },
    FIRST_START_TIMEOUT,
  );

  it("an unreachable DATABASE_URL is one error line with its code, and no server is left", async () => {
    const result = await opta(["platform", "start", "--port", String(await closedPort())], {
      DATABASE_URL: `postgres://opta:pw-not-shown@127.0.0.1:${await closedPort()}/opta`,
    });
    expectOneLineError(result, 1, /cannot reach PostgreSQL at .*\[PLATFORM_DB_UNREACHABLE\]/);
    expect(result.stderr).not.toContain("pw-not-shown");
    expect(existsSync(join(home, "platform", "state.json"))).toBe(false);
  });

  it("bad flags are one line and exit code 2", async () => {
    expectOneLineError(await opta(["platform", "start", "--port", "70000"]), 2, /--port must be a port number/);
    expectOneLineError(await opta(["platform", "start", "--domain", "localhost"]), 2, /two labels or more/);
  });
});
