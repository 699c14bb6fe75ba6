import {
  HookDecision,
  type HookEventName,
  type HookInput,
  type SandboxLevel,
  type SessionEventInput,
} from "@opta/protocol";
import type { Logger } from "../log/logger.js";
import { loadPolicies } from "../permission/index.js";
import { DEFAULT_SANDBOX_LEVEL } from "../sandbox/index.js";
import type { ToolOutcome } from "../tool/types.js";
import { redactValue } from "../vault/mask.js";
import { type HookSet, type LoadedHook, loadHooks } from "./config.js";
import { type HookRun, runHook } from "./run.js";

export { HOOKS_FILE_NAME, type HookSet, type LoadedHook, loadHooks, parseHooksText } from "./config.js";
export { HOOK_OUTPUT_HEAD_BYTES, HOOK_OUTPUT_TAIL_BYTES, type HookRun, runHook } from "./run.js";

/** The longest reason from a hook that the model reads, characters. */
const MAX_REASON_CHARS = 2000;

/** A tool call as the hooks see it: the arguments with secrets masked, as the session log has them. */
export interface HookCall {
  callId: string;
  name: string;
  shownArgs: Record<string, unknown>;
}

/** Why a pre_tool hook refused a call: the tool error the model reads. */
export interface HookDenial {
  code: "HOOK_DENIED" | "ABORTED";
  error: string;
}

/** How a turn ended, for turn_end hooks. */
export interface TurnEnding {
  outcome: "done" | "error" | "cancelled";
  stopReason?: string;
  steps: number;
  toolCalls: number;
}

/** What the hooks of one turn need from the agent loop. */
export interface TurnHooksOptions {
  home: string;
  sessionId: string;
  turnId: string;
  cwd: string;
  /** The turn's own sandbox level (beats the policy's), if it set one. */
  sandbox?: SandboxLevel;
  /** Records an event in the session log. */
  append: (event: SessionEventInput) => void;
  /** Masks known secrets in what a hook printed, as in tool results. */
  redact: (text: string) => string;
  logger?: Logger;
}

/**
 * The hooks of one turn, loaded when it starts: `pre_tool` before each call the permission gate did
 * not deny (before any approval prompt), `post_tool` after each call that ran, `turn_end` once the
 * turn is over. Every run is a `hook.ran` event; a file that is not used is a `hook.skipped` event.
 */
export class TurnHooks {
  private placement?: { level: SandboxLevel; extraRoots: readonly string[] };

  private constructor(
    private readonly set: HookSet,
    private readonly options: TurnHooksOptions,
  ) {}

  /** Loads the user and project hooks for the session's cwd and records the files that were skipped. */
  static async load(options: TurnHooksOptions): Promise<TurnHooks> {
    const set = await loadHooks({ home: options.home, cwd: options.cwd });
    for (const skipped of set.skipped) {
      options.append({
        event: "hook.skipped",
        turnId: options.turnId,
        ...skipped,
        reason: options.redact(skipped.reason),
      });
      options.logger?.warn("session", `Hooks skipped: ${skipped.reason}`, { file: skipped.file });
    }
    return new TurnHooks(set, options);
  }

  /** Whether any hook is configured for this event. */
  has(event: HookEventName): boolean {
    return this.set.hooks.some((hook) => hook.event === event);
  }

  /** Where hooks run: the turn's sandbox level and the policy's extra roots, once the loop has loaded its policies. */
  place(level: SandboxLevel, extraRoots: readonly string[]): void {
    this.placement = { level, extraRoots };
  }

  /**
   * Runs the pre_tool hooks that match the call, in order, until one denies. A hook allows only
   * by exiting 0 without printing a deny decision: exit 2 (stderr is the reason), any other exit,
   * a timeout or a hook that cannot start denies, so a broken guard never lets a call through.
   */
  async preTool(call: HookCall, signal: AbortSignal): Promise<HookDenial | undefined> {
    for (const hook of this.matching("pre_tool", call.name)) {
      const input = this.input("pre_tool", { tool: call.name, callId: call.callId, args: call.shownArgs });
      const run = await this.run(hook, input, signal);
      const verdict = preToolVerdict(hook, run);
      this.record(hook, run, call, verdict);
      if (run.aborted) return { code: "ABORTED", error: "cancelled before it ran (while its pre_tool hook ran)" };
      if (verdict.decision === "deny") return { code: "HOOK_DENIED", error: this.options.redact(verdict.reason) };
    }
    return undefined;
  }

  /** Runs the post_tool hooks that match the call, with its (masked) outcome on stdin; they cannot change it. */
  async postTool(call: HookCall, outcome: ToolOutcome, signal: AbortSignal): Promise<void> {
    // A cancelled turn runs no more hooks for its calls (turn_end still runs).
    if (signal.aborted) return;
    const result = outcome.ok
      ? { ok: true, result: redactValue(outcome.result, this.options.redact) }
      : { ok: false, error: this.options.redact(outcome.error), code: outcome.code };
    for (const hook of this.matching("post_tool", call.name)) {
      const input = this.input("post_tool", { tool: call.name, callId: call.callId, args: call.shownArgs, result });
      this.record(hook, await this.run(hook, input, signal), call);
    }
  }

  /**
   * Runs the turn_end hooks. They run after the turn's end is recorded; `signal` is the turn's
   * (a `stop` while they run kills them), or none when the turn was cancelled already.
   */
  async turnEnd(ending: TurnEnding, signal: AbortSignal | undefined): Promise<void> {
    for (const hook of this.matching("turn_end")) {
      const input = this.input("turn_end", {
        outcome: ending.outcome,
        ...(ending.stopReason === undefined ? {} : { stopReason: ending.stopReason }),
        steps: ending.steps,
        toolCalls: ending.toolCalls,
      });
      this.record(hook, await this.run(hook, input, signal));
    }
  }

  private matching(event: HookEventName, tool?: string): LoadedHook[] {
    return this.set.hooks.filter((hook) => hook.event === event && (tool === undefined || hook.matches(tool)));
  }

  private input(event: HookEventName, fields: Partial<HookInput>): HookInput {
    const { sessionId, turnId, cwd } = this.options;
    return { event, sessionId, turnId, cwd, ...fields };
  }

  private async run(hook: LoadedHook, input: HookInput, signal: AbortSignal | undefined): Promise<HookRun> {
    const placement = this.placement ?? (await this.loadPlacement());
    return runHook(hook, input, {
      cwd: this.options.cwd,
      home: this.options.home,
      level: placement.level,
      extraRoots: placement.extraRoots,
      ...(signal ? { signal } : {}),
    });
  }

  /** The turn failed before the loop loaded its policies (no model, say): the hooks still run where commands would. */
  private async loadPlacement() {
    const policies = await loadPolicies({ home: this.options.home, cwd: this.options.cwd });
    this.place(this.options.sandbox ?? policies.sandbox?.level ?? DEFAULT_SANDBOX_LEVEL, policies.extraRoots);
    return this.placement!;
  }

  private record(hook: LoadedHook, run: HookRun, call?: HookCall, verdict?: Verdict): void {
    const { redact, turnId } = this.options;
    this.options.append({
      event: "hook.ran",
      turnId,
      hook: hook.event,
      scope: hook.scope,
      source: hook.source,
      command: redact(hook.command),
      ...(call ? { callId: call.callId, tool: call.name } : {}),
      exitCode: run.exitCode,
      ...(run.signal ? { signal: run.signal } : {}),
      stdout: redact(run.stdout),
      stderr: redact(run.stderr),
      elapsedMs: run.elapsedMs,
      ...(run.timedOut ? { timedOut: true } : {}),
      ...(run.error ? { error: redact(run.error) } : {}),
      sandbox: run.sandbox,
      ...(verdict ? { decision: verdict.decision } : {}),
      ...(verdict?.decision === "deny" ? { reason: redact(verdict.reason) } : {}),
    });
    if (run.timedOut || run.error) {
      this.options.logger?.warn(
        "session",
        `Hook ${hook.source} ${run.timedOut ? `timed out after ${hook.timeoutMs / 1000}s` : `could not run: ${run.error}`}`,
      );
    }
  }
}

type Verdict = { decision: "allow" } | { decision: "deny"; reason: string };

/** What a pre_tool hook's run decides (see TurnHooks.preTool for the protocol). */
function preToolVerdict(hook: LoadedHook, run: HookRun): Verdict {
  const where = `the pre_tool hook ${hook.source} (\`${hook.command}\`)`;
  const file = hook.source.slice(0, hook.source.lastIndexOf(": "));
  if (run.aborted) return { decision: "deny", reason: "the turn was cancelled while the hook ran" };
  if (run.timedOut) {
    return {
      decision: "deny",
      reason: `refused: ${where} did not finish within ${hook.timeoutMs / 1000}s and was killed, and a pre_tool hook that does not answer denies. Ask the user to make the hook faster or raise its timeout in ${file}`,
    };
  }
  if (run.error) {
    return {
      decision: "deny",
      reason: `refused: ${where} could not run (${run.error}), and a pre_tool hook that cannot run denies. Ask the user to fix the hook in ${file} (or run 'opta doctor')`,
    };
  }
  if (run.exitCode === 2) {
    const said = cap(run.stderr.trim() || run.stdout.trim());
    return { decision: "deny", reason: `denied by ${where}: ${said || "it exited with code 2 and gave no reason"}` };
  }
  if (run.exitCode !== 0) {
    const said = cap(run.stderr.trim().split("\n").at(-1) ?? "");
    return {
      decision: "deny",
      reason: `refused: ${where} failed (${run.signal ? `killed by ${run.signal}` : `exit ${run.exitCode}`}${said ? `: ${said}` : ""}), and a pre_tool hook that fails denies. Ask the user to fix the hook in ${file}`,
    };
  }
  const decision = parseDecision(run.stdout);
  if (decision?.decision === "deny") {
    return { decision: "deny", reason: `denied by ${where}: ${cap(decision.reason?.trim() || "no reason given")}` };
  }
  return { decision: "allow" };
}

/** A `{"decision": …}` object printed on stdout, if that is what stdout holds. */
function parseDecision(stdout: string): HookDecision | undefined {
  const text = stdout.trim();
  if (!text.startsWith("{")) return undefined;
  try {
    const parsed = HookDecision.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function cap(text: string): string {
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS)}…` : text;
}
