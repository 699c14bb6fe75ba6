import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RUN_OUTPUT_HEAD_BYTES, RUN_OUTPUT_TAIL_BYTES } from "../../src/tool/index.js";
import { fail, makeWorkspace, ok, type Workspace } from "./workspace.js";

let ws: Workspace;
beforeEach(async () => {
  ws = await makeWorkspace();
});
afterEach(() => ws.cleanup());

/** A process counts as gone when it does not exist or is a zombie nobody reaped yet. */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (stat === undefined) {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  return state !== "Z" && state !== "X";
}

async function waitForFile(path: string, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(path, "utf8").catch(() => "");
    if (text.trim().split("\n").length >= 2 || (text.trim() !== "" && !path.endsWith("pids"))) return text;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * These tests look at host processes (pids written by the shell, a signal seen by node): run them
 * unsandboxed. Inside the sandbox pids belong to its own namespace and bwrap reports a signal as
 * exit 128+N; test/sandbox covers the sandboxed equivalents.
 */
const HOST = { sandbox: { level: "off" as const } };

const SPAWN_TREE = "sleep 30 & echo $! > pids; sh -c 'echo $$ >> pids; sleep 30'";

describe("run_command", () => {
  it("reports stdout, stderr, exit code and a summary", async () => {
    const { result, summary } = ok(await ws.call("run_command", { command: "echo out; echo err >&2; exit 3" }));
    expect(result).toMatchObject({ exitCode: 3, signal: null, stdout: "out\n", stderr: "err\n", cwd: "." });
    expect(["workspace-write", "unavailable"]).toContain(result.sandbox);
    expect(summary).toMatch(/^exit 3 · \d+\.\ds$/);
    const zero = ok(await ws.call("run_command", { command: "true" }));
    expect(zero.result.exitCode).toBe(0);
  });

  it("keeps provider keys, OPTA_* variables and ctx.secretEnv out of the command's environment", async () => {
    const names = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPTA_LMX_API_KEY", "OPTA_TEST_INTERNAL", "MY_VAULT_TOKEN"];
    const saved = names.map((name) => [name, process.env[name]] as const);
    for (const name of names) process.env[name] = `value-of-${name}`;
    try {
      const { result } = ok(await ws.call("run_command", { command: "env" }, { secretEnv: ["MY_VAULT_TOKEN"] }));
      const stdout = result.stdout as string;
      for (const name of names) {
        expect(stdout, name).not.toContain(name);
        expect(stdout, name).not.toContain(`value-of-${name}`);
      }
      expect(stdout).toMatch(/^PATH=/m);
      expect(stdout).toContain(`HOME=${process.env.HOME}`);
      expect(stdout).toContain("GIT_PAGER=cat");
      // Without secretEnv, only the built-in names are hidden.
      const plain = ok(await ws.call("run_command", { command: "echo $MY_VAULT_TOKEN $OPENAI_API_KEY" }));
      expect(plain.result.stdout).toBe("value-of-MY_VAULT_TOKEN\n");
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it("reports a terminating signal", async () => {
    const { result, summary } = ok(await ws.call("run_command", { command: "kill -KILL $$" }, HOST));
    expect(result).toMatchObject({ exitCode: null, signal: "SIGKILL" });
    expect(summary).toMatch(/^killed by SIGKILL/);
  });

  it("runs in a cwd inside the workspace and refuses a missing one", async () => {
    await ws.write("sub/file.txt", "");
    const { result } = ok(await ws.call("run_command", { command: "pwd; ls", cwd: "sub" }));
    expect(result.stdout).toBe(`${join(ws.cwd, "sub")}\nfile.txt\n`);
    expect(result.cwd).toBe("sub");
    expect(fail(await ws.call("run_command", { command: "pwd", cwd: "nope" })).code).toBe("NOT_FOUND");
  });

  it("caps output, keeping the head and the tail with a note", async () => {
    const total = 300_000;
    const { result } = ok(
      await ws.call("run_command", {
        command: `printf 'START'; head -c ${total} /dev/zero | tr '\\0' a; printf 'END'`,
      }),
    );
    const stdout = result.stdout as string;
    expect(stdout.startsWith("START")).toBe(true);
    expect(stdout.endsWith("END")).toBe(true);
    expect(stdout).toContain("bytes of output truncated");
    expect(stdout.length).toBeLessThan(RUN_OUTPUT_HEAD_BYTES + RUN_OUTPUT_TAIL_BYTES + 100);
    expect(result.truncated).toEqual({ stdoutBytes: total + 8, stderrBytes: 0 });
  });

  it("kills the whole process group on timeout", async () => {
    const started = Date.now();
    const outcome = await ws.call("run_command", { command: `echo begun; ${SPAWN_TREE}`, timeout_seconds: 0.5 }, HOST);
    const failure = fail(outcome);
    expect(failure.code).toBe("TIMEOUT");
    expect(failure.error).toContain("begun");
    expect(Date.now() - started).toBeLessThan(3000);
    const pids = (await readFile(join(ws.cwd, "pids"), "utf8")).trim().split("\n").map(Number);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(await alive(pid), `pid ${pid}`).toBe(false);
  });

  it("kills the whole process group within 500 ms of an abort, also when SIGTERM is ignored", async () => {
    for (const command of [SPAWN_TREE, `trap '' TERM; ${SPAWN_TREE}`]) {
      const controller = new AbortController();
      const running = ws.call("run_command", { command }, { ...HOST, signal: controller.signal });
      const pids = (await waitForFile(join(ws.cwd, "pids"))).trim().split("\n").map(Number);
      expect(pids).toHaveLength(2);
      const abortedAt = Date.now();
      controller.abort();
      const failure = fail(await running);
      const tookMs = Date.now() - abortedAt;
      expect(failure.code).toBe("ABORTED");
      for (const pid of pids) expect(await alive(pid), `pid ${pid} after ${command}`).toBe(false);
      // 500 ms to SIGKILL after an ignored SIGTERM; the bound is generous for a loaded machine and
      // still fails a kill that never comes (the tree would run until the test times out).
      expect(tookMs).toBeLessThan(5000);
      await rm(join(ws.cwd, "pids"));
    }
  });

  it("returns when the shell exits even if a background process holds the output open", async () => {
    const started = Date.now();
    const { result } = ok(await ws.call("run_command", { command: "sleep 20 & echo $! > bg.pid; echo done" }, HOST));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(result.stdout).toBe("done\n");
    expect(result.note).toContain("background");
    const pid = Number(await readFile(join(ws.cwd, "bg.pid"), "utf8"));
    expect(await alive(pid)).toBe(true); // left running on purpose (a dev server, say)
    process.kill(pid, "SIGKILL");
  });
});
