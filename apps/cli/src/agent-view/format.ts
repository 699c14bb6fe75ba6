/** Short, one-line renderings of tool calls and outcomes, shared by `opta do`, `opta chat` and `opta sessions tools`. */
import { truncate } from "../output/terminal.js";

/** The daemon's wording for a call denied because nobody could approve it (see agent-loop.ts). */
const NON_INTERACTIVE_DENIAL = "needs approval and this run cannot ask";

/** `read_file(src/auth.ts)`, `run_command(npm test)`, `grep(/todo/ in src)`: the call as one short label. */
export function toolLabel(name: string, args: Record<string, unknown>, max = 60): string {
  return `${name}(${truncate(argsSummary(name, args), max)})`;
}

/** The argument that says the most about a call, without its name. */
export function argsSummary(name: string, args: Record<string, unknown>): string {
  const text = (key: string) => (typeof args[key] === "string" ? (args[key] as string) : undefined);
  switch (name) {
    case "run_command": {
      const cwd = text("cwd");
      return `${text("command") ?? ""}${cwd ? ` in ${cwd}` : ""}`;
    }
    case "grep":
      return `/${text("pattern") ?? ""}/${text("path") ? ` in ${text("path")}` : ""}`;
    case "search_files":
      return `${text("pattern") ?? ""}${text("path") ? ` in ${text("path")}` : ""}`;
    case "list_dir":
      return text("path") ?? ".";
    case "read_file": {
      const path = text("path") ?? "";
      const offset = typeof args.offset === "number" ? args.offset : undefined;
      return offset ? `${path}:${offset}` : path;
    }
    default: {
      if (text("path") !== undefined) return text("path")!;
      if (typeof args.raw === "string") return args.raw; // arguments that were not a JSON object
      const first = Object.values(args).find((value) => typeof value === "string") as string | undefined;
      if (first !== undefined && Object.keys(args).length === 1) return first;
      const json = JSON.stringify(args);
      return json === "{}" ? "" : json;
    }
  }
}

/** "83ms", "1.2s", "2m 5s". */
export function elapsed(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
}

/** The first non-empty line of a message. */
export function firstLine(text: string): string {
  return (
    text
      .split("\n")
      .map((line) => line.trim())
      .find(Boolean) ?? ""
  );
}

/** True for a `tool.result` error saying the call was denied because no one could be asked. */
export function isNonInteractiveDenial(error: string | undefined): boolean {
  return error?.includes(NON_INTERACTIVE_DENIAL) ?? false;
}

/** The policy YAML the daemon put after a non-interactive denial (the lines after the first). */
export function policyLines(error: string): string[] {
  return error
    .split("\n")
    .slice(1)
    .map((line) => line.trimEnd())
    .filter(Boolean);
}

/** The outcome part of a tool line: "142 lines 83ms" (the time is left out when the summary has one). */
export function outcomeText(result: { ok: boolean; summary?: string; error?: string; elapsedMs: number }): string {
  if (!result.ok) return firstLine(result.error ?? "failed");
  const summary = result.summary ?? "ok";
  return /\d(ms|s)$/.test(summary) ? summary : `${summary} ${elapsed(result.elapsedMs)}`;
}

/** A run_command result whose command exited non-zero (the call itself succeeded). */
export function commandFailed(result: unknown): boolean {
  if (typeof result !== "object" || result === null) return false;
  const { exitCode, signal } = result as { exitCode?: unknown; signal?: unknown };
  return (typeof exitCode === "number" && exitCode !== 0) || (typeof signal === "string" && signal !== "");
}

/** How a hook run reads on one line, and whether a user must see it. */
export interface HookSummary {
  text: string;
  tone: "ok" | "warn" | "error";
  /**
   * A denial, a failure, a kill or a turn_end run: worth a line. A pre_tool/post_tool hook that
   * passed is not (one per call would bury the turn); `opta sessions show` lists every run.
   */
  notable: boolean;
}

/** `hook pre_tool ./check.sh denied run_command: use npm run build`, `hook turn_end notify ✓ 40ms`. */
export function hookSummary(event: {
  hook: string;
  command: string;
  tool?: string;
  exitCode: number | null;
  signal?: string;
  timedOut?: boolean;
  error?: string;
  decision?: "allow" | "deny";
  reason?: string;
  elapsedMs: number;
  stderr: string;
  sandbox: string;
}): HookSummary {
  const head = `hook ${event.hook} ${truncate(firstLine(event.command), 40)}`;
  const unsandboxed = event.sandbox === "unavailable" ? " (unsandboxed)" : "";
  if (event.decision === "deny") {
    const reason = firstLine(event.reason ?? "");
    return {
      text: `${head} denied ${event.tool ?? "the call"}${reason ? `: ${reason}` : ""}`,
      tone: "warn",
      notable: true,
    };
  }
  const failure = event.timedOut
    ? `timed out after ${elapsed(event.elapsedMs)}, killed`
    : event.error
      ? `could not run: ${firstLine(event.error)}`
      : event.exitCode === null
        ? `killed${event.signal ? ` by ${event.signal}` : ""}`
        : event.exitCode !== 0
          ? `exit ${event.exitCode}${firstLine(event.stderr) ? `: ${truncate(firstLine(event.stderr), 80)}` : ""}`
          : undefined;
  if (failure) return { text: `${head} ${failure}${unsandboxed}`, tone: "error", notable: true };
  return {
    text: `${head} ✓ ${elapsed(event.elapsedMs)}${unsandboxed}`,
    tone: "ok",
    notable: event.hook === "turn_end",
  };
}
