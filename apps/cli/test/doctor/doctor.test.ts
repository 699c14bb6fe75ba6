import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import YAML from "yaml";
import { type DaemonProcess, spawnDaemon } from "../../../../packages/daemon/test/fixtures/daemon-harness.js";
import {
  type ScriptedAnthropicServer,
  startScriptedAnthropicServer,
} from "../../../../packages/daemon/test/fixtures/scripted-anthropic-server.js";
import {
  type ScriptedServer,
  startScriptedServer,
} from "../../../../packages/daemon/test/fixtures/scripted-openai-server.js";
import { type CliResult, runCli } from "../fixtures/run-cli.js";

// Each test runs `opta doctor` (a Node process, and for some a daemon) two or three times: on a
// busy 2-core machine one run can take 15 s, so the default 30 s would time out work that is fine.
vi.setConfig({ testTimeout: 120_000 });

const KEY = "sk-ant-api03-doctor-test-key-3f2a";

interface Check {
  id: string;
  status: "ok" | "warn" | "fail";
  detail: string;
  fix?: string;
  problems?: string[];
  latencyMs?: number;
}
interface Report {
  ok: boolean;
  checks: Check[];
}

let root: string;
let project: string;
let lmx: ScriptedServer;
let anthropic: ScriptedAnthropicServer;
let deadHost: string;
let daemon: DaemonProcess | undefined;

/** The built `opta` command. */
function opta(home: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, {
    home,
    cwd: project,
    // OPTA_BROWSER: a known executable, so the browser check does not depend on this machine's Chromium.
    env: { OPTA_VAULT: "file", OPTA_LMX_HOST: lmx.host, OPTA_BROWSER: process.execPath, ...env },
  });
}

/** A home set up as a user would: config with a provider, its key in the vault, a user policy. */
async function makeHome(
  name: string,
  options: { config?: Record<string, unknown>; key?: string | null; policy?: string } = {},
): Promise<string> {
  const home = join(root, name);
  await mkdir(join(home, "policies"), { recursive: true, mode: 0o700 });
  await chmod(home, 0o700);
  const config = options.config ?? { providers: { anthropic: { type: "anthropic", baseUrl: anthropic.url } } };
  await writeFile(join(home, "config.yaml"), YAML.stringify(config), { mode: 0o600 });
  if (options.key !== null) {
    await writeFile(join(home, "vault.json"), JSON.stringify({ version: 1, keys: { anthropic: options.key ?? KEY } }), {
      mode: 0o600,
    });
  }
  await writeFile(join(home, "policies", "team.yaml"), options.policy ?? "allow:\n  - run_command(npm test)\n");
  return home;
}

async function doctor(home: string, env: Record<string, string> = {}, args: string[] = []) {
  const result = await opta(home, ["doctor", "--json", ...args], env);
  const report = JSON.parse(result.stdout) as Report;
  const byId = Object.fromEntries(report.checks.map((check) => [check.id, check]));
  return { code: result.code, report, byId, stderr: result.stderr };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "opta-doctor-"));
  project = join(root, "project");
  await mkdir(join(project, ".git"), { recursive: true });
  lmx = await startScriptedServer({ models: ["m1", "m2"] });
  anthropic = await startScriptedAnthropicServer({ models: ["claude-scripted"], apiKey: KEY });
  deadHost = `127.0.0.1:${await closedPort()}`;
});
afterAll(async () => {
  await daemon?.stop();
  await Promise.all([lmx?.close(), anthropic?.close()]);
  await rm(root, { recursive: true, force: true });
});

describe("opta doctor", () => {
  it("passes a healthy setup (the file vault is only a warning) and prints each check", async () => {
    const home = await makeHome("healthy");
    // The running daemon answers `opta doctor`, with its own environment: give it the CLI's.
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: lmx.host, OPTA_VAULT: "file", OPTA_BROWSER: process.execPath });
    const { code, report, byId } = await doctor(home);
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.checks.map((check) => check.id)).toEqual([
      "daemon",
      "lmx",
      "provider:anthropic",
      "vault",
      "config",
      "policy",
      "hooks",
      "sandbox",
      "home",
      "browser",
    ]);
    expect(byId.daemon).toMatchObject({ status: "ok" });
    expect(byId.daemon?.latencyMs).toBeGreaterThan(0);
    expect(byId.lmx).toMatchObject({ status: "ok" });
    expect(byId.lmx?.detail).toContain("models: m1, m2");
    expect(byId["provider:anthropic"]).toMatchObject({ status: "ok" });
    expect(byId["provider:anthropic"]?.detail).toContain("sk-ant-••••3f2a");
    expect(byId.vault).toMatchObject({ status: "warn" });
    expect(byId.vault?.fix).toContain("Secret Service");
    expect(byId.policy?.detail).toContain("team.yaml");
    expect(byId.browser).toMatchObject({ status: "ok" });
    expect(byId.browser?.detail).toContain(process.execPath);
    expect(byId.home).toMatchObject({ status: "ok" });
    // The sandbox check is ok where bubblewrap works (CI installs it), else a warning.
    const sandboxOk = byId.sandbox?.status === "ok";
    if (!sandboxOk) expect(byId.sandbox?.detail).toContain("commands run unsandboxed");

    const text = await opta(home, ["doctor"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/✓ ok\s+daemon\s+running on http:\/\/127\.0\.0\.1:\d+/);
    expect(text.stdout).toMatch(/! warning\s+key vault/);
    expect(text.stdout).toContain("fix: on Linux, install and unlock a Secret Service keyring");
    expect(text.stdout).toContain(sandboxOk ? "9 ok · 1 warning · 0 failed" : "8 ok · 2 warnings · 0 failed");
    expect(text.stdout + text.stderr).not.toContain(KEY);
    await daemon.stop();
    daemon = undefined;
  });

  it("fails a daemon whose state names a process that is gone", async () => {
    const home = await makeHome("stale-daemon");
    const exited = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => exited.on("exit", resolve));
    await mkdir(join(home, "daemon"), { recursive: true, mode: 0o700 });
    const port = Number(deadHost.split(":")[1]);
    const state = { pid: exited.pid, port, host: "127.0.0.1", startedAt: new Date().toISOString(), version: "0" };
    await writeFile(join(home, "daemon", "state.json"), JSON.stringify(state));
    await writeFile(join(home, "daemon", "token"), "token\n", { mode: 0o600 });
    const { code, byId } = await doctor(home);
    expect(code).toBe(1);
    expect(byId.daemon).toMatchObject({ status: "fail" });
    expect(byId.daemon?.detail).toContain("not running");
    expect(byId.daemon?.fix).toContain("opta daemon start");
  });

  it("agrees with opta status about LMX, in the same words: a dead host fails both, a live one passes both", async () => {
    const home = await makeHome("status-agrees", { config: {} });
    // A daemon that saw LMX answer, then LMX went away: its cached health still says healthy.
    const gone = await startScriptedServer({ models: ["soon-gone"] });
    const running = await spawnDaemon(home, { OPTA_LMX_HOST: gone.host, OPTA_VAULT: "file" });
    try {
      const models = await fetch(`${running.url}/v3/models`, { headers: { authorization: `Bearer ${running.token}` } });
      expect(models.status).toBe(200);
      await gone.close();
      const env = { OPTA_LMX_HOST: gone.host };
      const status = await opta(home, ["status"], env);
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/^daemon up · /);
      expect(status.stdout).toMatch(
        / · LMX failed: http:\/\/127\.0\.0\.1:\d+\/v1 \(OPTA_LMX_HOST\) is not reachable: .*ECONNREFUSED/,
      );
      expect(status.stdout).not.toMatch(/healthy|LMX ok/);
      const text = await opta(home, ["doctor"], env);
      expect(text.stdout).toMatch(/✗ failed\s+LMX\s+http:\/\/127\.0\.0\.1:\d+\/v1 \(OPTA_LMX_HOST\) is not reachable/);
      const daemonStatus = await opta(home, ["daemon", "status"], env);
      expect(daemonStatus.stdout).toMatch(/provider\s+LMX failed: /);
    } finally {
      await running.stop();
    }

    // No daemon: status still says what the doctor says.
    const dead = await opta(home, ["status"], { OPTA_LMX_HOST: deadHost });
    expect(dead.stdout).toMatch(/^daemon down · start it with `opta daemon start` · LMX failed: .*ECONNREFUSED/);
    const live = await opta(home, ["status"], { OPTA_LMX_HOST: lmx.host });
    expect(live.stdout).toMatch(/ · LMX ok \(\d+ ms\)/);
    const liveDoctor = await opta(home, ["doctor"], { OPTA_LMX_HOST: lmx.host });
    expect(liveDoctor.stdout).toMatch(/✓ ok\s+LMX\s+/);
  });

  it("fails LMX when it is down and nothing else answers; warns when another provider does", async () => {
    const alone = await doctor(await makeHome("lmx-alone", { config: {} }), { OPTA_LMX_HOST: deadHost });
    expect(alone.code).toBe(1);
    expect(alone.byId.lmx).toMatchObject({ status: "fail" });
    expect(alone.byId.lmx?.detail).toContain("ECONNREFUSED");
    expect(alone.byId.lmx?.fix).toContain("opta lmx start");
    const covered = await doctor(await makeHome("lmx-covered"), { OPTA_LMX_HOST: deadHost });
    expect(covered.code).toBe(0);
    expect(covered.byId.lmx).toMatchObject({ status: "warn" });
    expect(covered.byId.lmx?.detail).toContain("fall back");
  });

  it("fails a provider without a key, with a rejected key, or unreachable", async () => {
    const missing = await doctor(await makeHome("no-key", { key: null }));
    expect(missing.code).toBe(1);
    expect(missing.byId["provider:anthropic"]).toMatchObject({
      status: "fail",
      fix: "add one with 'opta account add anthropic'",
    });
    const rejected = await doctor(await makeHome("bad-key", { key: "sk-ant-api03-not-the-right-one-0000" }));
    expect(rejected.code).toBe(1);
    expect(rejected.byId["provider:anthropic"]?.detail).toContain("401");
    expect(rejected.byId["provider:anthropic"]?.fix).toContain("opta account rotate anthropic");
    const unreachable = await doctor(
      await makeHome("unreachable", {
        config: { providers: { anthropic: { type: "anthropic", baseUrl: `http://${deadHost}/v1` } } },
      }),
    );
    expect(unreachable.code).toBe(1);
    expect(unreachable.byId["provider:anthropic"]).toMatchObject({ status: "fail" });
    expect(unreachable.byId["provider:anthropic"]?.detail).toContain("ECONNREFUSED");
  });

  it("fails an invalid config file and still runs the other checks", async () => {
    const home = await makeHome("bad-config");
    await writeFile(join(home, "config.yaml"), "max-steps: lots\n");
    const { code, byId, report } = await doctor(home);
    expect(code).toBe(1);
    expect(byId.config).toMatchObject({ status: "fail" });
    expect(byId.config?.detail).toContain("max-steps");
    expect(report.checks).toHaveLength(9);
  });

  it("fails an invalid policy file naming the line; --policy checks only policies", async () => {
    const home = await makeHome("bad-policy", { policy: "allow:\n  - read_file\n  - run_comand(npm test)\n" });
    const full = await doctor(home);
    expect(full.code).toBe(1);
    expect(full.byId.policy).toMatchObject({ status: "fail" });
    expect(full.byId.policy?.problems?.[0]).toMatch(/team\.yaml:3: .*run_comand/);
    const only = await doctor(home, {}, ["--policy"]);
    expect(only.code).toBe(1);
    expect(only.report.checks.map((check) => check.id)).toEqual(["policy"]);
    const text = await opta(home, ["doctor", "--policy"]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/team\.yaml:3: /);
    const fine = await opta(await makeHome("good-policy"), ["doctor", "--policy"]);
    expect(fine.code).toBe(0);
  });

  it("fails a token or vault that others can read", async () => {
    const home = await makeHome("loose");
    await mkdir(join(home, "daemon"), { recursive: true, mode: 0o700 });
    await writeFile(join(home, "daemon", "token"), "token\n", { mode: 0o644 });
    await chmod(join(home, "daemon", "token"), 0o644);
    await chmod(join(home, "vault.json"), 0o644);
    const { code, byId } = await doctor(home);
    expect(code).toBe(1);
    expect(byId.home).toMatchObject({ status: "fail" });
    expect(byId.home?.detail).toContain("token");
    expect(byId.home?.detail).toContain("644");
    expect(byId.vault).toMatchObject({ status: "fail", fix: `chmod 600 ${join(home, "vault.json")}` });
  });

  it("fails the browser check only when browser tools are on and no browser is found", async () => {
    const off = await doctor(await makeHome("no-browser"), { OPTA_BROWSER: "/nonexistent/chromium" });
    expect(off.byId.browser).toMatchObject({ status: "warn" });
    expect(off.byId.browser?.fix).toContain("OPTA_BROWSER");
    const on = await doctor(await makeHome("browser-on", { config: { mcp: { peekaboo: true } } }), {
      OPTA_BROWSER: "/nonexistent/chromium",
    });
    expect(on.code).toBe(1);
    expect(on.byId.browser).toMatchObject({ status: "fail" });
  });

  it("asks a keyed LMX with the key a turn would send, for its models and its loaded models", async () => {
    const LMX_KEY = "c0ffee7a1b2c3d4e5f60718293a4b5c6d7e8f90112233445";
    const seen: Array<{ path: string; key: string | undefined }> = [];
    // An LMX started with --api-key: every route but /health wants the bearer key.
    const keyed = createHttpServer((request, response) => {
      const header = request.headers.authorization;
      const key = header?.startsWith("Bearer ") ? header.slice(7) : undefined;
      seen.push({ path: request.url ?? "", key });
      response.setHeader("content-type", "application/json");
      if (key !== LMX_KEY) {
        response.writeHead(401).end(JSON.stringify({ error: { message: "invalid API key", code: "invalid_api_key" } }));
      } else if (request.url === "/v1/models") {
        response.end(JSON.stringify({ object: "list", data: [{ id: "keyed-model", object: "model" }] }));
      } else if (request.url === "/api/v1/models") {
        response.end(JSON.stringify({ models: [{ id: "keyed-model", state: "loaded" }] }));
      } else response.writeHead(404).end("{}");
    });
    await new Promise<void>((resolve) => keyed.listen(0, "127.0.0.1", resolve));
    const host = `127.0.0.1:${(keyed.address() as { port: number }).port}`;
    try {
      const home = await makeHome("keyed-lmx", { config: {}, key: null });
      const fromEnv = await doctor(home, { OPTA_LMX_HOST: host, OPTA_LMX_API_KEY: LMX_KEY });
      expect(fromEnv.byId.lmx).toMatchObject({ status: "ok" });
      expect(fromEnv.byId.lmx?.detail).toContain("models: keyed-model · loaded: keyed-model");
      expect(seen.map((each) => each.path)).toEqual(expect.arrayContaining(["/v1/models", "/api/v1/models"]));
      expect(seen.every((each) => each.key === LMX_KEY)).toBe(true);

      const missing = await doctor(home, { OPTA_LMX_HOST: host });
      expect(missing.code).toBe(1);
      expect(missing.byId.lmx).toMatchObject({ status: "fail" });
      expect(missing.byId.lmx?.detail).toContain("401");
      expect(missing.byId.lmx?.fix).toContain("opta account add lmx");

      await writeFile(join(home, "vault.json"), JSON.stringify({ version: 1, keys: { lmx: LMX_KEY } }), {
        mode: 0o600,
      });
      seen.length = 0;
      const fromVault = await opta(home, ["doctor"], { OPTA_LMX_HOST: host });
      expect(fromVault.stdout).toMatch(/✓ ok\s+LMX\s+.*loaded: keyed-model/);
      expect(seen.map((each) => each.path)).toContain("/api/v1/models");
      expect(seen.every((each) => each.key === LMX_KEY)).toBe(true);
      expect(fromVault.stdout + fromVault.stderr).not.toContain(LMX_KEY);
    } finally {
      await new Promise<void>((resolve) => keyed.close(() => resolve()));
    }
  });

  it("asks the running daemon (its environment is the one turns use), and checks locally when none runs", async () => {
    const home = await makeHome("daemon-view");
    // The daemon reaches the live LMX; this shell's OPTA_LMX_HOST points at nothing.
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: lmx.host, OPTA_VAULT: "file" });
    const viaDaemon = await opta(home, ["doctor", "--json"], { OPTA_LMX_HOST: deadHost });
    const report = JSON.parse(viaDaemon.stdout) as Report & { checkedBy?: string };
    expect(report.checkedBy).toBe("daemon");
    expect(report.checks.find((check) => check.id === "lmx")).toMatchObject({ status: "ok" });
    expect(report.checks.find((check) => check.id === "lmx")?.detail).toContain(lmx.host);
    expect(report.checks.find((check) => check.id === "daemon")?.detail).toContain(`pid ${daemon.child.pid}`);
    const text = await opta(home, ["doctor"], { OPTA_LMX_HOST: deadHost });
    expect(text.stdout).toContain("checked by the running daemon");
    await daemon.stop();
    daemon = undefined;

    const local = await opta(home, ["doctor", "--json"], { OPTA_LMX_HOST: deadHost });
    const localReport = JSON.parse(local.stdout) as Report & { checkedBy?: string };
    expect(localReport.checkedBy).toBe("local");
    expect(localReport.checks.find((check) => check.id === "daemon")).toMatchObject({ status: "warn" });
    // Another provider answers, so an unreachable LMX is a warning here; what matters is whose LMX it is.
    expect(localReport.checks.find((check) => check.id === "lmx")).toMatchObject({ status: "warn" });
    expect(localReport.checks.find((check) => check.id === "lmx")?.detail).toContain(deadHost);
  });
});
