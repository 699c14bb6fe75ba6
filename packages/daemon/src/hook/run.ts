import { spawn } from "node:child_process";
import type { HookInput, SandboxLevel } from "@opta/protocol";
import { workspaceRoots } from "../tool/path.js";
import {
  type CommandContainment,
  commandLauncher,
  HeadTailBuffer,
  killGroup,
  RUN_KILL_GRACE_MS,
  RUN_PIPE_GRACE_MS,
  sandboxSetupFailure,
} from "../tool/run-command.js";
import type { ToolContext } from "../tool/types.js";
import type { LoadedHook } from "./config.js";

/** Bytes kept of each of a hook's stdout and stderr: the first and the last this many. */
export const HOOK_OUTPUT_HEAD_BYTES = 4 * 1024;
export const HOOK_OUTPUT_TAIL_BYTES = 4 * 1024;

/** Where and how one hook runs: the session's cwd, roots and sandbox, as its run_command calls would. */
export interface HookRunOptions {
  cwd: string;
  /** Directories a policy grants besides the cwd (writable in the sandbox, as for run_command). */
  extraRoots: readonly string[];
  /** The Opta home, hidden from the hook by the sandbox. */
  home: string;
  /** The turn's sandbox level for commands. */
  level: SandboxLevel;
  /** Aborted when the turn is cancelled: the hook is killed. */
  signal?: AbortSignal;
  /** Extra environment names to keep from the hook (as ToolContext.secretEnv). */
  secretEnv?: readonly string[];
}

/** How one hook ended. Output is raw here; the caller masks it before recording it. */
export interface HookRun {
  exitCode: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
  elapsedMs: number;
  /** Killed at its timeout. */
  timedOut: boolean;
  /** Killed because the turn was cancelled. */
  aborted: boolean;
  /** It never ran: why (sandbox failed to start, spawn failed). */
  error?: string;
  sandbox: CommandContainment;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs one hook: `/bin/sh -c COMMAND` through run_command's launcher (the same sandbox, the same
 * clean environment without provider keys or OPTA_* variables), with `input` as one JSON line on
 * stdin. At its timeout (or on cancel) the hook and every process it started are killed, as
 * run_command's are. Never throws.
 */
export async function runHook(hook: LoadedHook, input: HookInput, options: HookRunOptions): Promise<HookRun> {
  const started = performance.now();
  const stdout = new HeadTailBuffer(HOOK_OUTPUT_HEAD_BYTES, HOOK_OUTPUT_TAIL_BYTES);
  const stderr = new HeadTailBuffer(HOOK_OUTPUT_HEAD_BYTES, HOOK_OUTPUT_TAIL_BYTES);
  const ctx: ToolContext = {
    cwd: options.cwd,
    signal: options.signal ?? new AbortController().signal,
    extraRoots: options.extraRoots,
    home: options.home,
    sandbox: { level: options.level, home: options.home },
    ...(options.secretEnv ? { secretEnv: options.secretEnv } : {}),
  };
  const failed = (error: string, sandbox: CommandContainment): HookRun => ({
    exitCode: null,
    stdout: "",
    stderr: "",
    elapsedMs: Math.round(performance.now() - started),
    timedOut: false,
    aborted: false,
    error,
    sandbox,
  });
  const requested: CommandContainment = options.level;
  if (ctx.signal.aborted) return { ...failed("the turn was cancelled before it ran", requested), aborted: true };
  let launcher: Awaited<ReturnType<typeof commandLauncher>>;
  try {
    launcher = await commandLauncher(hook.command, options.cwd, await workspaceRoots(ctx), ctx);
  } catch (error) {
    return failed(`the sandbox could not be set up: ${(error as Error).message}`, requested);
  }
  // Set after the clean environment is made (it drops every OPTA_* variable the daemon has).
  const env = { ...launcher.env, OPTA_HOOK_EVENT: input.event, OPTA_PROJECT_DIR: hook.projectRoot ?? options.cwd };
  const child = spawn(launcher.file, launcher.args, {
    cwd: options.cwd,
    detached: true,
    stdio: ["pipe", "pipe", "pipe"],
    env,
  });
  child.stdout?.on("data", (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
  // A hook that does not read its input closes the pipe early: that is its right, not an error.
  child.stdin?.on("error", () => {});
  child.stdin?.end(`${JSON.stringify(input)}\n`);

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
  const timer = setTimeout(() => terminate("timeout"), hook.timeoutMs);
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    exit = await new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code, signal) => resolve({ code, signal }));
    });
  } catch (error) {
    return failed(`could not start ${launcher.file}: ${(error as Error).message}`, launcher.containment);
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener("abort", onAbort);
  }
  await killed;
  // Background processes may still hold the pipes (an unsandboxed hook); stop reading after a moment.
  const lingering = await Promise.race([closed.then(() => false), sleep(RUN_PIPE_GRACE_MS).then(() => true)]);
  if (lingering) {
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
  const run: HookRun = {
    exitCode: stopReason ? null : exit.code,
    ...(exit.signal ? { signal: exit.signal } : {}),
    stdout: stdout.toString(),
    stderr: stderr.toString(),
    elapsedMs: Math.round(performance.now() - started),
    timedOut: stopReason === "timeout",
    aborted: stopReason === "aborted",
    sandbox: launcher.containment,
  };
  const sandboxed = launcher.containment !== "off" && launcher.containment !== "unavailable";
  const setupFailure = sandboxed && !stopReason ? sandboxSetupFailure(exit.code, run.stderr) : undefined;
  if (setupFailure) return { ...run, exitCode: null, error: `the sandbox could not start (${setupFailure})` };
  return run;
}
