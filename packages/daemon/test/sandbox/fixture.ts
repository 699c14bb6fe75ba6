import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { SandboxLevel } from "@opta/protocol";
import { detectSandbox, type SandboxSupport } from "../../src/sandbox/index.js";
import { executeTool, getBuiltinTool, type ToolContext, type ToolOutcome } from "../../src/tool/index.js";

/** What this machine offers; the bwrap tests are skipped without it, and a visible test says so. */
export const support: SandboxSupport = await detectSandbox();
export const hasBwrap = support.available && support.kind === "bwrap";

/**
 * A workspace, a directory beside it and an Opta home with a token and a vault. Under /var/tmp by
 * default: a sibling under /tmp would only be hidden by the sandbox's private /tmp, and the tests
 * want to see the read-only host file system refuse the write.
 */
export interface SandboxWorkspace {
  root: string;
  cwd: string;
  outside: string;
  home: string;
  run(
    command: string,
    level?: SandboxLevel,
    extra?: Partial<ToolContext>,
    timeoutSeconds?: number,
  ): Promise<CommandRun>;
  cleanup(): Promise<void>;
}

/** One command's outcome, flattened for assertions. */
export interface CommandRun {
  ok: boolean;
  code?: string;
  exitCode?: number | null;
  stdout: string;
  stderr: string;
  sandbox?: string;
  /** stdout, stderr and any error text together: what the model would read. */
  text: string;
  outcome: ToolOutcome;
}

export const TOKEN = "daemon-token-4f1c9a0e7b";
export const VAULT_KEY = "sk-ant-vault-0d8e2b1c";

export async function sandboxWorkspace(base = "/var/tmp", options: { homeInside?: boolean } = {}) {
  const root = await realpath(await mkdtemp(join(base, "opta-sandbox-")));
  const cwd = join(root, "ws");
  const outside = join(root, "outside");
  const home = options.homeInside ? join(cwd, ".opta-home") : join(root, "home");
  await mkdir(cwd);
  await mkdir(outside);
  await mkdir(join(home, "daemon"), { recursive: true });
  await mkdir(join(home, "policies"));
  await writeFile(join(home, "daemon", "token"), `${TOKEN}\n`, { mode: 0o600 });
  await writeFile(join(home, "vault.json"), JSON.stringify({ version: 1, keys: { anthropic: VAULT_KEY } }), {
    mode: 0o600,
  });
  const tool = getBuiltinTool("run_command");
  if (!tool) throw new Error("no run_command");
  const workspace: SandboxWorkspace = {
    root,
    cwd,
    outside,
    home,
    async run(command, level = "workspace-write", extra = {}, timeoutSeconds = 30) {
      const outcome = await executeTool(
        tool,
        { command, timeout_seconds: timeoutSeconds },
        { cwd, signal: new AbortController().signal, sandbox: { level, home }, ...extra },
      );
      return flatten(outcome);
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
  return workspace;
}

const BUILT_TOOLS = new URL("../../dist/tool/index.js", import.meta.url).href;

/**
 * Runs commands through run_command in a fresh node process started with `env`, as the daemon
 * is: /proc/PID/environ shows a process's environment as it was at exec, so only a process
 * started with the secrets shows what the issue's `/proc/$PPID/environ` attack reads. `{DAEMON_PID}`
 * in a command becomes that process's pid. Uses the built daemon (dist/), like the daemon harness.
 */
export function runInChild(
  workspace: SandboxWorkspace,
  commands: readonly string[],
  level: SandboxLevel,
  env: Record<string, string>,
): Promise<CommandRun[]> {
  const script = `
    const { executeTool, getBuiltinTool } = await import(${JSON.stringify(BUILT_TOOLS)});
    const [cwd, home, level, commands] = JSON.parse(process.argv[1]);
    const outcomes = [];
    for (const command of commands) {
      outcomes.push(await executeTool(getBuiltinTool("run_command"),
        { command: command.replaceAll("{DAEMON_PID}", String(process.pid)) },
        { cwd, signal: new AbortController().signal, sandbox: { level, home } }));
    }
    process.stdout.write(JSON.stringify(outcomes));`;
  const argument = JSON.stringify([workspace.cwd, workspace.home, level, commands]);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--input-type=module", "-e", script, argument],
      { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`child failed: ${error.message}\n${stderr}`));
        resolve((JSON.parse(stdout) as ToolOutcome[]).map(flatten));
      },
    );
  });
}

function flatten(outcome: ToolOutcome): CommandRun {
  if (!outcome.ok) return { ok: false, code: outcome.code, stdout: "", stderr: "", text: outcome.error, outcome };
  const result = outcome.result as Record<string, unknown>;
  const stdout = String(result.stdout ?? "");
  const stderr = String(result.stderr ?? "");
  return {
    ok: true,
    exitCode: result.exitCode as number | null,
    stdout,
    stderr,
    sandbox: String(result.sandbox),
    text: `${stdout}\n${stderr}`,
    outcome,
  };
}

export async function readOrMissing(path: string): Promise<string | undefined> {
  return readFile(path, "utf8").catch(() => undefined);
}

/**
 * Whether `text` carries `secret` raw, hex-encoded or base64-encoded at any alignment (the issue's
 * `base64 -w0 /proc/$PPID/environ` leak is a base64 run whose alignment depends on what precedes
 * the secret).
 */
export function leaks(text: string, secret: string): boolean {
  if (text.includes(secret)) return true;
  const hex = Buffer.from(secret).toString("hex");
  if (
    text
      .toLowerCase()
      .replace(/[^0-9a-f]/g, "")
      .includes(hex)
  )
    return true;
  for (const run of text.match(/[A-Za-z0-9+/=]{8,}/g) ?? []) {
    for (let skip = 0; skip < 4; skip += 1) {
      const part = run.slice(skip);
      const usable = part.slice(0, part.length - (part.length % 4));
      if (Buffer.from(usable, "base64").toString("latin1").includes(secret)) return true;
    }
  }
  return false;
}

/** Host pids whose command line is exactly `argv` (how a test finds the sandbox's processes from outside). */
export async function hostPids(argv: readonly string[]): Promise<number[]> {
  const wanted = `${argv.join("\0")}\0`;
  const found: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (cmdline === wanted) found.push(Number(name));
  }
  return found;
}

/** A process counts as gone when it does not exist or is a zombie nobody reaped yet. */
export async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (stat === undefined) return false;
  const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  return state !== "Z" && state !== "X";
}

/** Polls until `check` returns a value; used to wait for an event (processes appearing), not for time to pass. */
export async function until<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
