import type { Risk, SandboxLevel } from "@opta/protocol";

/** What a tool run may touch and how it is cancelled. */
export interface ToolContext {
  /** The session's working directory; every path is resolved against it and confined to it. */
  cwd: string;
  /** Aborted when the user cancels the turn; long-running tools stop promptly. */
  signal: AbortSignal;
  /** Extra directories outside `cwd` that a policy grants (`roots:` in a policy file). */
  extraRoots?: readonly string[];
  /**
   * The daemon's Opta home (policies, config, token, vault). write_file and edit_file never change
   * anything under it (nor under `$OPTA_HOME` of the process environment, checked as well).
   */
  home?: string;
  /**
   * Extra environment variable names to keep from `run_command`'s child process (besides the
   * provider keys and every OPTA_* variable, which are always removed), e.g. a configured
   * provider's `apiKeyEnv`.
   */
  secretEnv?: readonly string[];
  /**
   * How `run_command` is contained: the level (default workspace-write) and the Opta home whose
   * token, vault and sessions the sandbox hides (default: `$OPTA_HOME` or ~/.config/opta).
   */
  sandbox?: { level?: SandboxLevel; home?: string };
  /** The session and turn (agent loop) the call belongs to; MCP's browser keeps one profile per turn. */
  turn?: { sessionId: string; turnId: string };
}

/** The result of one tool call; an error is a value the model can read and correct. */
export type ToolOutcome =
  | {
      ok: true;
      /** JSON-serialisable result sent back to the model. */
      result: unknown;
      /** One short human line for UIs, e.g. "142 lines" or "exit 0 · 1.2s". */
      summary: string;
    }
  | {
      ok: false;
      /** One readable sentence saying what went wrong and how to fix the call. */
      error: string;
      /** Machine-readable code, e.g. INVALID_ARGS, PATH_OUTSIDE_WORKSPACE, NO_MATCH, TIMEOUT. */
      code: string;
    };

/** A tool the model can call. */
export interface ToolDefinition {
  /** Exact name the model uses, e.g. `read_file`. */
  name: string;
  /** What the tool does, written for the model. */
  description: string;
  /** JSON Schema (object) of the arguments, sent to the model. */
  inputSchema: Record<string, unknown>;
  /** Whether the tool only reads, writes files, or executes programs. */
  kind: "read" | "write" | "execute";
  /** Risk shown next to an approval prompt. */
  risk: Risk;
  /** Runs the tool with already-validated or raw arguments; prefer `executeTool`, which never throws. */
  run(args: unknown, ctx: ToolContext): Promise<ToolOutcome>;
}
