import { type ChildProcess, spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import { resolveOptaHome } from "@opta/local";
import type { SandboxLevel } from "@opta/protocol";
import { z } from "zod";
import {
  DEFAULT_SANDBOX_LEVEL,
  detectSandbox,
  planSandbox,
  SandboxPlanError,
  type WrappedCommand,
  wrapCommand,
} from "../sandbox/index.js";
import { defineTool } from "./define.js";
import { ToolError, toToolError } from "./errors.js";
import { displayPath, resolveInWorkspace, workspaceRoots } from "./path.js";
import type { ToolContext } from "./types.js";

/** Default timeout of a command, and the longest the model may ask for (seconds). */
export const RUN_DEFAULT_TIMEOUT_SECONDS = 120;
export const RUN_MAX_TIMEOUT_SECONDS = 1800;
/** Bytes kept of each of stdout and stderr: the first HEAD bytes and the last TAIL bytes. */
export const RUN_OUTPUT_HEAD_BYTES = 16 * 1024;
export const RUN_OUTPUT_TAIL_BYTES = 48 * 1024;
/** After SIGTERM the process group gets this long before SIGKILL. */
export const RUN_KILL_GRACE_MS = 200;
/** After the shell exits, how long background processes may keep stdout/stderr open before we stop reading. */
export const RUN_PIPE_GRACE_MS = 250;

/** Provider keys removed from the command's environment (with every OPTA_* variable and ctx.secretEnv). */
export const RUN_SECRET_ENV: readonly string[] = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPTA_LMX_API_KEY"];

/**
 * The environment a command runs with: the daemon's own, without provider keys, Opta's internal
 * variables (`OPTA_*`) and the names in `secretEnv`, so that `env` or a build script cannot print
 * them into the session log and back to the model. Pagers and git prompts are disabled.
 */
export function commandEnvironment(
  base: NodeJS.ProcessEnv = process.env,
  secretEnv: readonly string[] = [],
): NodeJS.ProcessEnv {
  const hidden = new Set([...RUN_SECRET_ENV, ...secretEnv]);
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (value === undefined || hidden.has(name) || name.startsWith("OPTA_")) continue;
    env[name] = value;
  }
  return { ...env, PAGER: "cat", GIT_PAGER: "cat", GIT_TERMINAL_PROMPT: "0" };
}

const RunCommandArgs = z.object({
  command: z.string().min(1).describe("Shell command, run with /bin/sh -c. Pipes, && and redirections work."),
  cwd: z
    .string()
    .min(1)
    .optional()
    .describe("Directory to run in, relative to the working directory (default: the working directory)."),
  timeout_seconds: z
    .number()
    .positive()
    .max(RUN_MAX_TIMEOUT_SECONDS)
    .default(RUN_DEFAULT_TIMEOUT_SECONDS)
    .describe(`Kill the command after this many seconds (default ${RUN_DEFAULT_TIMEOUT_SECONDS}).`),
});

/** Keeps the head and the tail of a stream, counting what was dropped in between. */
export class HeadTailBuffer {
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  /** Every byte received. */
  total = 0;

  constructor(
    private readonly headLimit: number,
    private readonly tailLimit: number,
  ) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.headBytes < this.headLimit) {
      const take = Math.min(chunk.length, this.headLimit - this.headBytes);
      this.head.push(chunk.subarray(0, take));
      this.headBytes += take;
      chunk = chunk.subarray(take);
      if (chunk.length === 0) return;
    }
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    while (this.tail.length > 0 && this.tailBytes - (this.tail[0]?.length ?? 0) >= this.tailLimit) {
      this.tailBytes -= this.tail.shift()?.length ?? 0;
    }
  }

  /** Bytes dropped from the middle. */
  get dropped(): number {
    return Math.max(0, this.total - this.headLimit - this.tailLimit);
  }

  toString(): string {
    const head = Buffer.concat(this.head).toString("utf8");
    let tail = Buffer.concat(this.tail);
    const dropped = this.dropped;
    if (dropped === 0) return head + tail.toString("utf8");
    tail = tail.subarray(tail.length - this.tailLimit);
    return `${head}\n[… ${dropped} bytes of output truncated …]\n${tail.toString("utf8")}`;
  }
}

/** Signals the whole process group; a group that is already gone is fine. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

function formatElapsed(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
}

/** How a command ran: its sandbox level, or `unavailable` when no sandbox works here and it ran unsandboxed. */
export type CommandContainment = SandboxLevel | "unavailable";

/**
 * The program that runs `/bin/sh -c command`: the shell itself when the level is off or no
 * sandbox works on this machine (the gate has asked the user then), else the sandbox around it.
 * Hooks (hook/run.ts) start their commands through it too, so they are contained the same way.
 */
export async function commandLauncher(
  command: string,
  cwd: string,
  roots: readonly string[],
  ctx: ToolContext,
): Promise<WrappedCommand & { containment: CommandContainment }> {
  const env = commandEnvironment(process.env, ctx.secretEnv);
  const level = ctx.sandbox?.level ?? DEFAULT_SANDBOX_LEVEL;
  const plain = { file: "/bin/sh", args: ["-c", command], env };
  if (level === "off") return { ...plain, containment: "off" };
  const support = await detectSandbox();
  if (!support.available) return { ...plain, containment: "unavailable" };
  try {
    const plan = await planSandbox({ level, cwd, roots, home: ctx.sandbox?.home ?? resolveOptaHome() });
    return { ...(await wrapCommand(command, plan, support, env)), containment: level };
  } catch (error) {
    if (error instanceof SandboxPlanError) throw new ToolError("SANDBOX_FAILED", error.message);
    throw error;
  }
}

/**
 * bwrap reports its own setup failures (a mount it cannot make) as exit 1 with `bwrap: …` on
 * stderr, before the command ever ran.
 */
export function sandboxSetupFailure(exitCode: number | null, stderr: string): string | undefined {
  if (exitCode !== 1 || !stderr.startsWith("bwrap: ")) return undefined;
  return stderr.split("\n")[0];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export const runCommandTool = defineTool({
  name: "run_command",
  description:
    "Run a shell command (/bin/sh -c) in the working directory and return its exit code, stdout and stderr. " +
    `Output is capped (first ${RUN_OUTPUT_HEAD_BYTES / 1024} KiB and last ${RUN_OUTPUT_TAIL_BYTES / 1024} KiB of each stream). ` +
    `The command and everything it started are killed after timeout_seconds (default ${RUN_DEFAULT_TIMEOUT_SECONDS}). ` +
    "stdin is closed, so interactive programs will not wait for input. " +
    "Commands run in a sandbox (result field `sandbox`): by default only the working directory and /tmp are writable, " +
    ".opta/ is read-only, there is no network, and background processes end when the command returns.",
  kind: "execute",
  risk: "execute",
  schema: RunCommandArgs,
  async execute(args, ctx) {
    const roots = await workspaceRoots(ctx);
    const cwd = await resolveInWorkspace(args.cwd ?? ".", ctx);
    const info = await stat(cwd).catch((error) => {
      throw toToolError(error, args.cwd ?? ".");
    });
    if (!info.isDirectory()) throw new ToolError("NOT_A_DIRECTORY", `cwd "${args.cwd}" is not a directory`);

    if (ctx.signal.aborted) throw new ToolError("ABORTED", "cancelled before it started");
    const started = performance.now();
    const stdout = new HeadTailBuffer(RUN_OUTPUT_HEAD_BYTES, RUN_OUTPUT_TAIL_BYTES);
    const stderr = new HeadTailBuffer(RUN_OUTPUT_HEAD_BYTES, RUN_OUTPUT_TAIL_BYTES);
    const launcher = await commandLauncher(args.command, cwd, roots, ctx);
    // Detached: its own process group, so the whole tree can be killed at once. In the sandbox the
    // group leader is bwrap; killing it kills the sandbox's PID 1 (--die-with-parent) and with it
    // every process in the sandbox's PID namespace.
    const child = spawn(launcher.file, launcher.args, {
      cwd,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: launcher.env,
    });
    child.stdout?.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));

    let stopReason: "timeout" | "aborted" | undefined;
    let killed: Promise<void> = Promise.resolve();
    const terminate = (reason: "timeout" | "aborted") => {
      if (stopReason) return;
      stopReason = reason;
      killGroup(child, "SIGTERM");
      killed = sleep(RUN_KILL_GRACE_MS).then(() => killGroup(child, "SIGKILL"));
    };
    const onAbort = () => terminate("aborted");
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => terminate("timeout"), args.timeout_seconds * 1000);

    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    let exit: { code: number | null; signal: NodeJS.Signals | null };
    try {
      exit = await new Promise((resolve, reject) => {
        child.once("error", reject);
        child.once("exit", (code, signal) => resolve({ code, signal }));
      });
    } catch (error) {
      throw new ToolError("SPAWN_FAILED", `could not start ${launcher.file}: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
      ctx.signal.removeEventListener("abort", onAbort);
    }
    await killed;
    // Background processes may still hold the pipes; read a little longer, then stop listening.
    const lingering = await Promise.race([closed.then(() => false), sleep(RUN_PIPE_GRACE_MS).then(() => true)]);
    if (lingering) {
      child.stdout?.destroy();
      child.stderr?.destroy();
    }
    const elapsedMs = Math.round(performance.now() - started);

    const output = () => {
      const parts: string[] = [];
      if (stdout.total > 0) parts.push(`stdout:\n${stdout.toString()}`);
      if (stderr.total > 0) parts.push(`stderr:\n${stderr.toString()}`);
      return parts.length > 0 ? `\n${parts.join("\n")}` : " (no output)";
    };
    if (stopReason === "timeout") {
      throw new ToolError(
        "TIMEOUT",
        `command timed out after ${args.timeout_seconds}s; it and every process it started were killed. Output so far:${output()}`,
      );
    }
    if (stopReason === "aborted") {
      throw new ToolError("ABORTED", `command cancelled by the user after ${formatElapsed(elapsedMs)} and killed`);
    }

    const sandboxed = launcher.containment !== "off" && launcher.containment !== "unavailable";
    const setupFailure = sandboxed ? sandboxSetupFailure(exit.code, stderr.toString()) : undefined;
    if (setupFailure) {
      throw new ToolError(
        "SANDBOX_FAILED",
        `the sandbox could not start, so the command did not run (${setupFailure}); run 'opta doctor' to check the sandbox`,
      );
    }

    const result: Record<string, unknown> = {
      command: args.command,
      cwd: displayPath(cwd, roots),
      exitCode: exit.code,
      signal: exit.signal,
      stdout: stdout.toString(),
      stderr: stderr.toString(),
      elapsedMs,
      sandbox: launcher.containment,
    };
    if (stdout.dropped > 0 || stderr.dropped > 0) {
      result.truncated = { stdoutBytes: stdout.total, stderrBytes: stderr.total };
    }
    if (lingering) {
      result.note = "background processes are still running and holding the output; later output is not captured";
    }
    const status = exit.signal ? `killed by ${exit.signal}` : `exit ${exit.code}`;
    return { result, summary: `${status} · ${formatElapsed(elapsedMs)}` };
  },
});
